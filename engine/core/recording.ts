/**
 * Recorded steps: a fixed-shape step (a training step, a frozen-trunk forward) recorded once as its
 * list of dispatches and copies, then replayed with one command encoder and one submit per step.
 *
 * `record(fn)` runs `fn` as usual (its work is encoded and runs as it would eagerly) and meanwhile keeps
 * every dispatch's pipeline, bindings and uniform values and every copy. The recording then holds one
 * bind group per dispatch, made once, and one uniform buffer with every dispatch's uniforms. A replay
 * re-runs the step's live functions (live.ts: learning rate, step counts, seeds), repacks the uniforms
 * that read them, writes that range and encodes setPipeline/setBindGroup/dispatch per entry: no
 * autograd, no tensors, no pipeline lookups.
 *
 * Buffers: every buffer a recorded dispatch binds is pinned in the pool (pool.ts) for the recording's
 * life, so the step's intermediates are never handed to anything else while its bind groups name them;
 * `dispose()` gives them back. Inputs are tensors made before recording and passed into `fn`: write a
 * new batch into them (`assign`, `runtime().write`) before each replay. The tensors `fn` returns are
 * the outputs; `outputs` holds them, rewritten by each replay.
 *
 * What cannot be replayed is refused, with the reason, and `fn` still runs eagerly to its end: a host
 * write or readback inside the step (per-step data must come through an input), a tensor made in the
 * step that outlives it without being returned (state made on first use, such as optimizer moments,
 * or gradients not zeroed: the next replay would start from the recorded step's state, not its own),
 * and a tensor the step reads but did not make and frees (state replaced rather than updated in place).
 * Host state that uniforms read and that changes between steps must come through `live()`; a plain
 * number is replayed as recorded.
 */
import { runtime, packUniform, type Runtime, type DispatchSink, type Params, type UniformLayout } from './runtime.ts';
import { Tensor, keep, collect } from './tensor.ts';
import { Live, collectLive } from './live.ts';
import { ThawError } from './errors.ts';

interface Dispatch { copy: null; name: string; pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; storage: GPUBindGroupEntry[]; uniform: { binding: number; offset: number; size: number } | null; x: number; y: number; z: number }
interface Copy { copy: { src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number } }
interface Patch { offset: number; layout: UniformLayout; params: Params; key: string }

function isLive(p: Params): boolean {
  if (p instanceof Live) return true;
  for (const k in p) if (p[k] instanceof Live) return true;
  return false;
}

/** Collects a step's dispatches and copies while it runs (the runtime's recorder). */
class Capture implements DispatchSink {
  refused = '';
  readonly ops: (Dispatch | Copy)[] = [];
  readonly lives: Live<unknown>[] = [];
  readonly patches: Patch[] = [];
  host = new ArrayBuffer(64 * 1024);
  bytes = 0;
  constructor(readonly align: number) {}

  refuse(reason: string): void { this.refused ||= reason; }

  dispatch(name: string, key: string, pipeline: GPUComputePipeline, layout: GPUBindGroupLayout, storage: GPUBindGroupEntry[],
    uniform: UniformLayout | null, params: Params, g: [number, number, number]): void {
    if (this.refused) return;
    let u: Dispatch['uniform'] = null;
    if (uniform) {
      const offset = this.bytes, slot = Math.ceil(uniform.size / this.align) * this.align;
      if (offset + slot > this.host.byteLength) {
        const bigger = new ArrayBuffer(2 * (offset + slot));
        new Uint8Array(bigger).set(new Uint8Array(this.host));
        this.host = bigger;
      }
      packUniform(new DataView(this.host), offset, uniform, params, key);
      this.bytes += slot;
      u = { binding: uniform.binding, offset, size: uniform.size };
      if (isLive(params)) {
        const lives = params instanceof Live ? [params] : Object.values(params).filter((v): v is Live<number> => v instanceof Live);
        if (lives.some((l) => l.owner !== this)) return this.refuse(`kernel ${key} reads a live value made before the recording began`);
        this.patches.push({ offset, layout: uniform, params, key });
      }
    }
    this.ops.push({ copy: null, name, pipeline, layout, storage, uniform: u, x: g[0], y: g[1], z: g[2] });
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (!this.refused) this.ops.push({ copy: { src, srcOffset, dst, dstOffset, bytes } });
  }
}

/** A recorded step: `replay()` runs it again with one submit; `dispose()` frees what it holds. */
export class Recording {
  /** The tensors the recorded step returned (views the recording owns), rewritten by every replay. */
  readonly outputs: Tensor[];
  /** Dispatches per replay. */
  readonly dispatches: number;
  /**
   * @internal Per dispatch, its pipeline as an index among the step's distinct pipelines in order of
   * first use: bench/dispatch.ts's floor issues the same pattern with Dawn alone.
   */
  readonly pipelineOrder: number[] = [];
  /** Per entry: a dispatch's pipeline where it must be set (null where the pass has it already), bind group and workgroups, or a copy. */
  private readonly entries: { pipeline: GPUComputePipeline | null; bindGroup: GPUBindGroup | null; x: number; y: number; z: number; copy: Copy['copy'] | null }[];
  private readonly uniformGpu: GPUBuffer | null;
  private readonly view: DataView;
  private readonly dirty: [number, number];
  /** Dispatches per kernel name in one replay, and replays not yet added to the runtime's counts. */
  private readonly counted = { counts: new Map<string, number>(), replays: 0 };
  private disposed = false;

  /** @internal Made by record(). */
  constructor(private readonly rt: Runtime, private readonly cap: Capture, outputs: Tensor[], private readonly pinned: GPUBuffer[]) {
    const device = rt.device;
    this.outputs = outputs;
    this.view = new DataView(cap.host);
    this.uniformGpu = cap.bytes ? device.createBuffer({ size: cap.bytes, usage: 0x40 | 0x8, label: 'recorded uniforms' }) : null; // UNIFORM | COPY_DST
    if (this.uniformGpu) device.queue.writeBuffer(this.uniformGpu, 0, cap.host, 0, cap.bytes);
    let lo = Infinity, hi = 0;
    for (const p of cap.patches) { lo = Math.min(lo, p.offset); hi = Math.max(hi, p.offset + p.layout.size); }
    this.dirty = [lo === Infinity ? 0 : lo, Math.ceil(hi / 4) * 4];
    let n = 0, last: GPUComputePipeline | null = null;
    const counts = this.counted.counts, index = new Map<GPUComputePipeline, number>();
    this.entries = cap.ops.map((op) => {
      if (op.copy) { last = null; return { pipeline: null, bindGroup: null, x: 0, y: 0, z: 0, copy: op.copy }; }
      n++;
      if (!index.has(op.pipeline)) index.set(op.pipeline, index.size);
      this.pipelineOrder.push(index.get(op.pipeline)!);
      counts.set(op.name, (counts.get(op.name) ?? 0) + 1);
      const entries = op.storage.slice();
      if (op.uniform) entries.push({ binding: op.uniform.binding, resource: { buffer: this.uniformGpu!, offset: op.uniform.offset, size: op.uniform.size } });
      const pipeline = op.pipeline === last ? null : (last = op.pipeline);
      return { pipeline, bindGroup: device.createBindGroup({ layout: op.layout, entries }), x: op.x, y: op.y, z: op.z, copy: null };
    });
    this.dispatches = n;
  }

  /**
   * Runs the recorded step again: its live values re-evaluated (advancing the host state they read,
   * as an eager step would), its changed uniforms written, every dispatch and copy encoded into one
   * command buffer and submitted. Work encoded before it is submitted first.
   */
  replay(): void {
    if (this.disposed) throw new ThawError('disposed', 'this recording was disposed and cannot be replayed');
    const rt = this.rt;
    if (rt.recorder) throw new ThawError('recording', 'a recording cannot be replayed while another step is being recorded');
    if (rt.gpu.lost) throw rt.gpu.lost;
    rt.flush();
    const cap = this.cap;
    for (const l of cap.lives) l.value = l.fn();
    if (cap.patches.length) {
      for (const p of cap.patches) packUniform(this.view, p.offset, p.layout, p.params, p.key);
      const [lo, hi] = this.dirty;
      rt.device.queue.writeBuffer(this.uniformGpu!, lo, cap.host, lo, hi - lo);
    }
    const enc = rt.device.createCommandEncoder();
    this.encode(enc);
    rt.device.queue.submit([enc.finish()]);
    rt.dispatches += this.dispatches;
    rt.countReplay(this.counted);
  }

  /**
   * @internal Encodes the recorded dispatches and copies into `enc` as they stand (no live values
   * re-read, no uniforms written): replay()'s encoding, which bench/dispatch.ts also times alone.
   */
  encode(enc: GPUCommandEncoder): void {
    let pass: GPUComputePassEncoder | null = null;
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.copy) {
        if (pass) { pass.end(); pass = null; }
        enc.copyBufferToBuffer(e.copy.src, e.copy.srcOffset, e.copy.dst, e.copy.dstOffset, e.copy.bytes);
      } else {
        if (!pass) pass = enc.beginComputePass();
        if (e.pipeline) pass.setPipeline(e.pipeline);
        pass.setBindGroup(0, e.bindGroup);
        pass.dispatchWorkgroups(e.x, e.y, e.z);
      }
    }
    if (pass) pass.end();
  }

  /** Frees the outputs, the uniform buffer and every pinned buffer (they return to the pool). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.outputs) t.dispose();
    for (const b of this.pinned) this.rt.pool.unpin(b);
    this.uniformGpu?.destroy();
  }
}

/** What `record` gives: `fn`'s result, and the recording or (null) the reason it could not be made. */
export interface Recorded<T> { result: T; recording: Recording | null; reason: string }

/**
 * Runs the synchronous step `fn` (eagerly, as usual) and records it for replay; see the file comment
 * for what can be recorded. The tensors `fn` returns become the recording's outputs.
 */
export function record<T>(fn: () => T): Recorded<T> {
  const rt = runtime();
  if (rt.recorder) throw new ThawError('recording', 'record(): a step is already being recorded; recordings do not nest');
  const cap = new Capture(rt.device.limits.minUniformBufferOffsetAlignment);
  const watch = { acquired: new Set<GPUBuffer>(), released: new Set<GPUBuffer>() };
  rt.recorder = cap;
  rt.pool.watch = watch;
  collectLive(cap, cap.lives);
  let result: T;
  try {
    result = fn();
  } finally {
    rt.recorder = null;
    rt.pool.watch = null;
    collectLive(null, null);
  }
  if (result instanceof Promise) cap.refuse('the step is asynchronous (it returned a promise)');
  const returned: Tensor[] = [];
  collect(result, returned);
  const out = new Set(returned.map((t) => t.buffer));
  const bound = new Set<GPUBuffer>(out);
  for (const op of cap.ops) {
    if (op.copy) { bound.add(op.copy.src); bound.add(op.copy.dst); continue; }
    for (const e of op.storage) bound.add((e.resource as GPUBufferBinding).buffer);
  }
  if (!cap.refused && cap.ops.length === 0) cap.refuse('the step issued no GPU work');
  if (!cap.refused) {
    const left = [...watch.acquired].filter((b) => rt.pool.isLive(b) && !out.has(b)).length;
    if (left) cap.refuse(`it leaves ${left} tensor(s) it made alive without returning them (state made on first use, such as optimizer moments, or gradients not zeroed); record a later step, or free or return them`);
  }
  if (!cap.refused) {
    const freed = [...bound].filter((b) => watch.released.has(b) && !watch.acquired.has(b)).length;
    if (freed) cap.refuse(`it frees ${freed} tensor(s) it reads but did not make (state replaced rather than updated in place, or an input freed)`);
  }
  if (cap.refused) return { result: result!, recording: null, reason: cap.refused };
  const pinned = [...bound];
  for (const b of pinned) rt.pool.pin(b);
  const outputs = returned.map((t) => keep(t.unrecordedView()));
  return { result: result!, recording: new Recording(rt, cap, outputs, pinned), reason: '' };
}
