/**
 * Training-safety checks: find NaN/Inf in gradients or parameters on the GPU and name the first bad
 * one. Each tensor gets one reduction dispatch that ORs its non-finite kinds and takes the minimum bad
 * index into its slot of one small shared buffer; the host reads that buffer back once per check, so
 * the cost is one readback (one GPU sync) per check, not one per tensor.
 *
 * The test is on the bits (exponent all ones), not `x != x`, which a compiler may fold away under
 * fast-math assumptions.
 */
import finiteSrc from './finite.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ThawError } from '../../engine/core/errors.ts';

/** Which side of a parameter a check reads. */
export type FiniteWhat = 'grad' | 'value';

/** The first non-finite tensor a check found. */
export interface NonFiniteReport {
  step: number;
  /** The tensor's name as given (a parameter's state_dict key). */
  name: string;
  what: FiniteWhat;
  /** 'NaN', 'Inf' or 'NaN and Inf' within that tensor. */
  kind: string;
  /** Flat index of the first non-finite element in that tensor. */
  index: number;
  /** Every tensor with a non-finite value, as `name (what)`, in check order. */
  bad: string[];
  /** The epoch of `step`, when a training loop reports it. */
  epoch?: number;
}

/** "step 3 (epoch 1): value of 'fc.weight' has NaN (first at element 7); 2 tensors are affected: …", without advice. */
export function describeNonFinite(r: NonFiniteReport): string {
  const more = r.bad.length > 1 ? `; ${r.bad.length} tensors are affected: ${r.bad.slice(0, 6).join(', ')}${r.bad.length > 6 ? ` and ${r.bad.length - 6} more` : ''}` : '';
  const what = r.name === 'loss' && r.what === 'value' ? `the loss is ${r.kind}`
    : `${r.what === 'grad' ? 'gradient of' : 'value of'} '${r.name}' has ${r.kind} (first at element ${r.index})`;
  return `step ${r.step}${r.epoch !== undefined ? ` (epoch ${r.epoch})` : ''}: ${what}${more}`;
}

/** A NaN or Inf was found; the message names the step, the tensor and whether it was the gradient or the value. */
export class NonFiniteError extends ThawError {
  /** `hint` replaces the default advice at the end of the message (a training loop names its learning rate). */
  constructor(readonly report: NonFiniteReport, hint = 'Lower the learning rate, clip gradients (clipNorm) or check the input data.') {
    super('non-finite', `${describeNonFinite(report)}. ${hint}`);
  }
}

const CHUNK = 256 * 16; // elements per workgroup: 256 invocations x 16 each


interface Entry { name: string; what: FiniteWhat; t: Tensor }

function entriesOf(named: [string, Tensor][], what: FiniteWhat | 'both'): Entry[] {
  const entries: Entry[] = [];
  for (const w of what === 'both' ? (['grad', 'value'] as const) : [what]) {
    for (const [name, p] of named) {
      const t = w === 'grad' ? p.grad : p;
      if (t && t.dtype === 'f32' && t.size > 0) entries.push({ name, what: w, t });
    }
  }
  return entries;
}

function encodeChecks(entries: Entry[], flags: Tensor, start: number): void {
  const rt = runtime();
  entries.forEach((e, slot) => {
    const [gx, gy] = grid(Math.ceil(e.t.size / CHUNK));
    rt.run(wgsl('safety_finite', finiteSrc), { x: e.t, flags }, { n: e.t.size, slot: slot + start / 2, groupsX: gx }, [gx, gy]);
  });
}

function decode(entries: Entry[], out: Uint32Array, step: number): NonFiniteReport | null {
  const bad: number[] = [];
  for (let i = 0; i < entries.length; i++) if (out[2 * i]) bad.push(i);
  if (!bad.length) return null;
  const i = bad[0], k = out[2 * i];
  return {
    step, name: entries[i].name, what: entries[i].what,
    kind: k === 3 ? 'NaN and Inf' : k === 1 ? 'NaN' : 'Inf',
    index: out[2 * i + 1],
    bad: bad.map((j) => `${entries[j].name} (${entries[j].what})`),
  };
}

/** A finite check encoded on the GPU but not yet read: `read()` is its one readback. */
export interface PendingFiniteCheck {
  /**
   * Reads the flags (and the carried values) back in one readback and frees the buffer. `report` is
   * the first non-finite tensor in the order given, or null; `carried` holds the `carry` tensor's values.
   */
  read(step: number): Promise<{ report: NonFiniteReport | null; carried: Float32Array }>;
  /** Frees the buffer without reading it. */
  dispose(): void;
}

/**
 * Encodes a NaN/Inf check of `named` (one reduction dispatch per tensor, one small write, no
 * readback) into a fresh small buffer, and copies the few values of `carry` (e.g. a step's loss) into
 * the same buffer, so a training loop that reads its loss anyway learns whether the step was finite
 * from that one readback. Tensors are checked as they are when the encoded work runs: encode right
 * after the update.
 */
export function encodeFiniteCheck(named: [string, Tensor][], what: FiniteWhat | 'both' = 'value', carry?: Tensor): PendingFiniteCheck {
  const entries = entriesOf(named, what);
  const rt = runtime();
  // The carried words first, padded to an even count so each slot's pair stays 8-byte aligned.
  const carryWords = carry ? carry.size + (carry.size & 1) : 0;
  const words = carryWords + 2 * entries.length;
  const buf = Tensor.alloc([Math.max(words, 1)], 'i32', 'finite-check flags');
  if (entries.length) {
    // Each slot starts as [no kind, no index]. The write submits the work encoded so far first (the
    // step being checked), so the checks below see its results.
    const init = new Uint32Array(2 * entries.length);
    for (let i = 1; i < init.length; i += 2) init[i] = 0xffffffff;
    rt.write(buf.buffer, init, 4 * carryWords);
    encodeChecks(entries, buf, carryWords);
  }
  if (carry && carry.size) rt.copy(carry.buffer, 0, buf.buffer, 0, carry.size * 4);
  let done = false;
  return {
    async read(step) {
      if (done) throw new ThawError('disposed', 'this finite check was already read or disposed');
      try {
        const bytes = await rt.read(buf.buffer, 4 * words);
        const carried = new Float32Array(bytes, 0, carry?.size ?? 0).slice();
        return { report: decode(entries, new Uint32Array(bytes, 4 * carryWords), step), carried };
      } finally {
        done = true;
        buf.dispose();
      }
    },
    dispose() { if (!done) { done = true; buf.dispose(); } },
  };
}

/**
 * Checks tensors for NaN/Inf with one GPU reduction per tensor and a single readback; returns the first
 * bad one (in `named` order, gradients before values for 'both') or null. With 'grad', each tensor's
 * `.grad` is checked (tensors without one are skipped); with 'value', the tensors themselves.
 */
export async function findNonFinite(named: [string, Tensor][], step: number, what: FiniteWhat | 'both' = 'grad'): Promise<NonFiniteReport | null> {
  if (!entriesOf(named, what).length) return null;
  return (await encodeFiniteCheck(named, what).read(step)).report;
}

/**
 * Throws a NonFiniteError naming `step`, the first tensor with a NaN or Inf and whether its gradient or
 * its value was bad. Pass `model.trainableParameters()` after backward with 'grad', or after the
 * optimizer step with 'value'. Costs one dispatch per tensor and one readback.
 */
export async function checkFinite(named: [string, Tensor][], step: number, what: FiniteWhat | 'both' = 'grad'): Promise<void> {
  const r = await findNonFinite(named, step, what);
  if (r) throw new NonFiniteError(r);
}
