/**
 * CPU reference of the dropout keep mask (the WGSL's hash in u32 arithmetic): the test oracle.
 * Tests and benchmarks import them from here; the library does not, and no entry point exports
 * them.
 */

const pcg = (v: number): number => {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
};

/** CPU reference of the keep mask (1 kept, 0 dropped) for `n` elements: the same hash in u32 arithmetic. */
export function dropoutMaskRef(n: number, p: number, seed: number): Uint8Array {
  const m = new Uint8Array(n), hs = pcg(seed >>> 0);
  for (let i = 0; i < n; i++) m[i] = ((pcg(pcg(i) ^ hs) >>> 8) / 16777216 >= p) ? 1 : 0;
  return m;
}
