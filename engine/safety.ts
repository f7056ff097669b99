/**
 * Training-safety checks: find NaN/Inf in gradients or parameters on the GPU and name the first bad
 * one. Each tensor gets one reduction dispatch that ORs its non-finite kinds and takes the minimum bad
 * index into its slot of one small shared buffer; the host reads that buffer back once per check, so
 * the cost is one readback (one GPU sync) per check, not one per tensor.
 *
 * The test is on the bits (exponent all ones), not `x != x`, which a compiler may fold away under
 * fast-math assumptions.
 */
import { Tensor } from './tensor.ts';
import { runtime, grid } from './runtime.ts';
import { ThawError } from './errors.ts';

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
}

/** A NaN or Inf was found; the message names the step, the tensor and whether it was the gradient or the value. */
export class NonFiniteError extends ThawError {
  constructor(readonly report: NonFiniteReport) {
    const r = report;
    const more = r.bad.length > 1 ? `; ${r.bad.length} tensors are affected: ${r.bad.slice(0, 6).join(', ')}${r.bad.length > 6 ? ', …' : ''}` : '';
    super('non-finite', `step ${r.step}: ${r.what === 'grad' ? 'gradient of' : 'value of'} '${r.name}' has ${r.kind} ` +
      `(first at element ${r.index})${more}. Lower the learning rate, clip gradients (clipNorm) or check the input data.`);
  }
}

const CHUNK = 256 * 16; // elements per workgroup: 256 invocations x 16 each

// x: (n) the tensor's f32 bits; flags: (2 * slots) per slot [kind bits (1 NaN, 2 Inf), first bad index]
const FINITE_WGSL = /* wgsl */ `
struct Params { n: u32, slot: u32, groupsX: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> flags: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> wkind: atomic<u32>;
var<workgroup> wfirst: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&wkind, 0u); atomicStore(&wfirst, 0xffffffffu); }
  workgroupBarrier();
  let base = (wid.x + wid.y * params.groupsX) * 4096u;
  var kind = 0u;
  var first = 0xffffffffu;
  for (var j = 0u; j < 16u; j++) {
    let i = base + j * 256u + lid;
    if (i < params.n) {
      let b = x[i];
      if ((b & 0x7f800000u) == 0x7f800000u) {
        kind = kind | select(2u, 1u, (b & 0x007fffffu) != 0u);
        first = min(first, i);
      }
    }
  }
  if (kind != 0u) { atomicOr(&wkind, kind); atomicMin(&wfirst, first); }
  workgroupBarrier();
  if (lid == 0u) {
    let k = atomicLoad(&wkind);
    if (k != 0u) {
      atomicOr(&flags[2u * params.slot], k);
      atomicMin(&flags[2u * params.slot + 1u], atomicLoad(&wfirst));
    }
  }
}`;

interface Entry { name: string; what: FiniteWhat; t: Tensor }

/**
 * Checks tensors for NaN/Inf with one GPU reduction per tensor and a single readback; returns the first
 * bad one (in `named` order, gradients before values for 'both') or null. With 'grad', each tensor's
 * `.grad` is checked (tensors without one are skipped); with 'value', the tensors themselves.
 */
export async function findNonFinite(named: [string, Tensor][], step: number, what: FiniteWhat | 'both' = 'grad'): Promise<NonFiniteReport | null> {
  const entries: Entry[] = [];
  for (const w of what === 'both' ? (['grad', 'value'] as const) : [what]) {
    for (const [name, p] of named) {
      const t = w === 'grad' ? p.grad : p;
      if (t && t.dtype === 'f32' && t.size > 0) entries.push({ name, what: w, t });
    }
  }
  if (!entries.length) return null;
  const rt = runtime();
  const flags = Tensor.alloc([2 * entries.length], 'i32', 'finite-check flags'); // (slots, 2)
  try {
    const init = new Uint32Array(2 * entries.length);
    for (let i = 1; i < init.length; i += 2) init[i] = 0xffffffff;
    rt.write(flags.buffer, init);
    entries.forEach((e, slot) => {
      const [gx, gy] = grid(Math.ceil(e.t.size / CHUNK));
      rt.run({ key: 'safety_finite', code: () => FINITE_WGSL }, { x: e.t, flags }, { n: e.t.size, slot, groupsX: gx }, [gx, gy]);
    });
    const out = new Uint32Array(await rt.read(flags.buffer, 8 * entries.length));
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
  } finally {
    flags.dispose();
  }
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
