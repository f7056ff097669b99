/**
 * float64 CPU references of gather and its gradient: the test oracles. Tests and benchmarks import
 * them from here; the library does not, and no entry point exports them.
 */

/** float64 reference of gather with clamping (test oracle). */
export function gatherRef(table: ArrayLike<number>, V: number, D: number, indices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(indices.length * D);
  for (let m = 0; m < indices.length; m++) {
    const v = Math.min(Math.max(indices[m], 0), V - 1);
    for (let d = 0; d < D; d++) out[m * D + d] = table[v * D + d];
  }
  return out;
}

/** float64 reference of gather's gradient: rows of g summed into their (clamped) table rows, none into paddingIdx. */
export function gatherGradRef(g: ArrayLike<number>, V: number, D: number, indices: ArrayLike<number>, paddingIdx = -1): Float64Array {
  const out = new Float64Array(V * D);
  for (let m = 0; m < indices.length; m++) {
    const v = Math.min(Math.max(indices[m], 0), V - 1);
    if (v === paddingIdx) continue;
    for (let d = 0; d < D; d++) out[v * D + d] += g[m * D + d];
  }
  return out;
}
