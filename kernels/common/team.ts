/** Teams of invocations per row (kernels/common/team.wgsl), shared by softmax, cross-entropy and layer norm. */
import { grid } from '../../engine/core/runtime.ts';

/** Invocations per workgroup of a team kernel. */
export const WG = 256;

/** Invocations per row: a power of two, about a quarter of the row length, at most one workgroup. */
export function teamFor(len: number): number {
  let t = 1;
  while (t < WG && t * 4 < len) t *= 2;
  return t;
}

/** The workgroup grid of `rows` rows handled by teams of `team`. */
export function teamGroups(rows: number, team: number): [number, number] {
  return grid(Math.ceil(rows / (WG / team)));
}
