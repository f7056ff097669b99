/**
 * Kernel dispatch: a pipeline cache keyed by shader key, bind-group layouts reflected from the WGSL
 * (wgsl_reflect), uniforms packed by the reflected struct layout, and command batching (many
 * dispatches per compute pass and submit).
 *
 * Host cost per dispatch: every dispatch's uniforms are packed into one host staging area and reach the
 * GPU in one `writeBuffer` per submit, each dispatch binding its slice of one uniform buffer. The
 * uniform buffer is rewritten for every submit: `writeBuffer` and `submit` are ordered on the queue
 * timeline, so the previous submit's commands have read it by then. Bind groups are cached by kernel,
 * storage buffers and uniform offset (createBindGroup was most of a tiny op's host time under Dawn):
 * the pool hands out buffers in a fixed order and each submit's uniform slots start at 0, so a step
 * that repeats binds what it bound before. (Dynamic offsets would need fewer bind groups, but lavapipe
 * then ran each dispatch over three times as long.) A pass sets a pipeline or bind group only when it
 * changes.
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { type Gpu, checkGpu, getGpu } from './device.ts';
import { BufferPool } from './pool.ts';
import { DeviceError, LimitError, ThawError } from './errors.ts';
import { Profiler, type ProfileReport } from './profiler.ts';
import { type Tuning, type TuningName, type TuningPatch, TUNINGS, tuningName, activeTuning, underTuning, mergeTuning } from './tuning.ts';
import { Live } from './live.ts';

/** Something bindable as a storage buffer: a raw GPUBuffer or anything carrying one (a Tensor). */
export type Bindable = GPUBuffer | { readonly buffer: GPUBuffer };

/** A uniform struct member: its name, byte offset, scalar type (0 f32, 1 i32, 2 u32) and lanes. */
interface UniformField { name: string; offset: number; type: 0 | 1 | 2; count: number; pad: boolean }
/** A kernel's uniform struct as reflected from its WGSL: its binding, size and fields. */
export interface UniformLayout { binding: number; size: number; fields: UniformField[] }
/** One uniform field's value; a live one (live.ts) is re-read at every replay of a recorded step. */
export type Uniform = number | number[] | Live<number>;
/** A dispatch's uniform values by field name, or all of them as one live record. */
export type Params = Record<string, Uniform> | Live<Record<string, number | number[]>>;

/** @internal Receives every dispatch and copy while a step is recorded (recording.ts). */
export interface DispatchSink {
  dispatch(name: string, key: string, pipeline: GPUComputePipeline, layout: GPUBindGroupLayout, storage: GPUBindGroupEntry[],
    uniform: UniformLayout | null, params: Params, groups: [number, number, number]): void;
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void;
  /** What the step did that a recording cannot replay (a host write or readback). */
  refuse(reason: string): void;
}

/** Packs `params` at `base` of `view` by the reflected layout `u` (live values at their current value). */
export function packUniform(view: DataView, base: number, u: UniformLayout, params: Params, key: string): void {
  const values = params instanceof Live ? params.value : params;
  const fields = u.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    let v = values[f.name];
    if (v === undefined) {
      if (f.pad) continue;
      throw new ThawError('kernel', `kernel ${key}: uniform field '${f.name}' was not given`);
    }
    if (v instanceof Live) v = v.value;
    const o = base + f.offset, type = f.type;
    for (let j = 0; j < f.count; j++) {
      const x = (typeof v === 'number' ? (j === 0 ? v : 0) : v[j]) ?? 0;
      if (type === 0) view.setFloat32(o + 4 * j, x, true);
      else if (type === 1) view.setInt32(o + 4 * j, x, true);
      else view.setUint32(o + 4 * j, x >>> 0, true);
    }
  }
}
interface Compiled {
  /** The kernel name (the key before its first ':'), for dispatch counts and profiles. */
  name: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Binding index by WGSL variable name, for storage bindings. */
  storage: { name: string; binding: number }[];
  uniform: (UniformLayout & { name: string; slot: number }) | null;
  workgroupSize: [number, number, number];
  /** Bind groups made for it (Runtime.bindGroup). */
  groups: GroupTrie;
  /** The bind group last used at each uniform slot (by offset / alignment), with its storage buffers: Runtime.bindGroup's first look. */
  lastAt: { bufs: GPUBuffer[]; group: GPUBindGroup }[];
  /** Dispatches not yet added to Runtime.dispatchByName. */
  uncounted: number;
  /** Kept only under THAW_CHECK_KERNELS=1: the kernel's fingerprint (or code), to compare each later use's with. */
  check?: string;
}

/** A kernel: WGSL source (built lazily) under a unique cache key; build one with wgsl() (wgsl.ts). */
export interface Kernel {
  key: string;
  code: () => string;
  entry?: string;
  /**
   * What the code depends on beyond what the key names, as a string far cheaper to build than the
   * code: equal keys and equal fingerprints mean equal code. THAW_CHECK_KERNELS=1 compares it at
   * each use (the code itself where a kernel has none).
   */
  fingerprint?: () => string;
}

const FLUSH_EVERY = 128;
/** Cached bind groups kept at most (all are dropped when there would be more). */
const MAX_BIND_GROUPS = 8192;

/** Bind groups by each storage buffer in binding order, then by uniform offset. */
type GroupTrie = Map<GPUBuffer | number, GroupTrie | GPUBindGroup>;

/** What THAW_CHECK_KERNELS=1 compares between uses of a cached kernel: its fingerprint, or its code where it has none. */
const checkOf = (k: Kernel): string => (k.fingerprint ? k.fingerprint() : k.code());

/** The storage entries of a bind group of `c` over `bufs`, in binding order. */
function storageEntries(c: Compiled, bufs: GPUBuffer[]): GPUBindGroupEntry[] {
  const entries: GPUBindGroupEntry[] = [];
  for (let i = 0; i < c.storage.length; i++) entries.push({ binding: c.storage[i].binding, resource: { buffer: bufs[i] } });
  return entries;
}

export class Runtime {
  readonly pool: BufferPool;
  private cache = new Map<string, Compiled>();
  /** Pipelines being created asynchronously (compileOnly), by key. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Inside compileOnly(): run() compiles and does not dispatch. */
  private compiling = false;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private queued = 0;
  /**
   * The dispatches run() has batched and not yet encoded (encodeBatch): `batched` of them, each a
   * pipeline, a bind group and three workgroup counts.
   */
  private readonly batchPipelines: GPUComputePipeline[] = [];
  private readonly batchGroups: GPUBindGroup[] = [];
  private readonly batchCounts: number[] = [];
  private batched = 0;
  /** What the open pass has set: a dispatch with the same pipeline or bind group does not set it again. */
  private passPipeline: GPUComputePipeline | null = null;
  private passGroup: GPUBindGroup | null = null;
  /** Bind groups cached over all kernels. */
  private groupCount = 0;
  /** run()'s storage buffers, in binding order (reused). */
  private readonly bound: GPUBuffer[] = [];
  private readonly maxWorkgroups: number;
  /** This submit's uniforms, host side; `uniformBytes` of them are used. */
  private readonly uniformHost: ArrayBuffer;
  private readonly uniformView: DataView;
  private uniformBytes = 0;
  /** The GPU copy of `uniformHost`, written once per submit; each dispatch binds its slot. */
  private readonly uniformGpu: GPUBuffer;
  private readonly uniformAlign: number;
  /** Number of compute dispatches issued so far (benchmarks and freeze-depth reports read it). */
  dispatches = 0;
  /**
   * Dispatches issued before they are encoded and submitted (so the GPU starts on them while the
   * host issues the rest). bench/dispatch.ts raises it to time the host's work alone: on a software
   * adapter the submitted work runs on the same cores.
   */
  flushEvery = FLUSH_EVERY;
  /** Milliseconds spent creating pipelines (shader compilation: large on a cold driver cache). */
  compileMs = 0;
  /** Every pipeline created, in order, with its creation time in ms. */
  readonly compiled: { key: string; ms: number }[] = [];
  /**
   * When set (init() sets it under THAW_PIPELINE_LOG=file in Node), each kernel's first dispatch is
   * submitted alone and reported with its pipeline's creation ms and the ms its first dispatch took
   * on the queue, where software drivers (lavapipe) may compile the machine code.
   */
  pipelineLog: ((key: string, createMs: number, firstRunMs: number) => void) | null = null;
  private readonly byName = new Map<string, number>();
  /** Kernels dispatched since `byName` was last brought up to date, each with its `uncounted` dispatches. */
  private readonly uncounted: Compiled[] = [];
  /** Recorded steps replayed since `byName` was last brought up to date: each one's dispatches per replay, and its replays. */
  private readonly uncountedReplays: { counts: Map<string, number>; replays: number }[] = [];
  /** Dispatch counts per kernel name. */
  get dispatchByName(): Map<string, number> {
    if (this.uncounted.length) {
      for (const c of this.uncounted) {
        this.byName.set(c.name, (this.byName.get(c.name) ?? 0) + c.uncounted);
        c.uncounted = 0;
      }
      this.uncounted.length = 0;
    }
    if (this.uncountedReplays.length) {
      for (const r of this.uncountedReplays) {
        for (const [name, k] of r.counts) this.byName.set(name, (this.byName.get(name) ?? 0) + k * r.replays);
        r.replays = 0;
      }
      this.uncountedReplays.length = 0;
    }
    return this.byName;
  }

  /** @internal Counts one more replay of a recorded step (recording.ts) in dispatchByName, when it is next read. */
  countReplay(r: { counts: Map<string, number>; replays: number }): void {
    if (r.replays++ === 0) this.uncountedReplays.push(r);
  }
  readonly debug: boolean;
  /** THAW_CHECK_KERNELS=1: compare each use of a cached kernel with its first (Kernel.fingerprint) and fail if its key hides a difference. */
  readonly checkKernels: boolean;
  private profiler: Profiler | null = null;
  /** Which table this adapter got (tuning.ts): by its kind, or THAW_TUNING. */
  readonly tuningName: TuningName;
  /** The adapter's tuning table, deep-frozen. */
  readonly adapterTuning: Tuning;
  /**
   * The fixed subgroup size when the device has the 'subgroups' feature and the adapter reports a
   * single size (kernels that need a workgroup to be exactly one subgroup), else 0.
   */
  readonly subgroupSize: number;

  constructor(readonly gpu: Gpu) {
    this.tuningName = tuningName(gpu.info, typeof process !== 'undefined' ? process.env?.THAW_TUNING || undefined : undefined);
    this.adapterTuning = TUNINGS[this.tuningName];
    const L = gpu.device.limits;
    this.pool = new BufferPool(gpu.device, L.maxBufferSize, L.maxStorageBufferBindingSize);
    this.debug = typeof process !== 'undefined' && process.env?.THAW_DEBUG === '1';
    this.checkKernels = typeof process !== 'undefined' && process.env?.THAW_CHECK_KERNELS === '1';
    this.uniformAlign = L.minUniformBufferOffsetAlignment;
    this.maxWorkgroups = L.maxComputeWorkgroupsPerDimension;
    const info = (gpu.adapter as any).info ?? {};
    const lo = Number(info.subgroupMinSize ?? 0), hi = Number(info.subgroupMaxSize ?? 0);
    this.subgroupSize = gpu.device.features.has('subgroups' as GPUFeatureName) && lo > 0 && lo === hi ? lo : 0;
    this.pool.onDestroy = () => this.forgetBindGroups();
    this.uniformHost = new ArrayBuffer(Math.max(64 * 1024, FLUSH_EVERY * 2 * this.uniformAlign));
    this.uniformView = new DataView(this.uniformHost);
    this.uniformGpu = gpu.device.createBuffer({ size: this.uniformHost.byteLength, usage: 0x40 | 0x8, label: 'uniforms' }); // UNIFORM | COPY_DST
  }

  /** The WebGPU device every kernel runs on. */
  get device(): GPUDevice { return this.gpu.device; }

  /**
   * The kernel tuning in effect (frozen): the adapter's table, or inside an op called with a `tuning`
   * option (or withTuning()), that patch merged over it. Kernels read their family here.
   */
  get tuning(): Tuning { return activeTuning() ?? this.adapterTuning; }

  private compile(k: Kernel): Compiled {
    const c = this.cached(k);
    if (c) return c;
    const t0 = performance.now();
    const p = this.prepare(k);
    return this.store(k, p, this.device.createComputePipeline(p.descriptor), t0);
  }

  /** The cached pipeline of `k` (checking its code under THAW_CHECK_KERNELS=1), or undefined. */
  private cached(k: Kernel): Compiled | undefined {
    const c = this.cache.get(k.key);
    if (c && c.check !== undefined && checkOf(k) !== c.check) {
      throw new ThawError('kernel', `kernel ${k.key}: two different WGSL codes share this key; a value that shapes the code is missing from its defines`);
    }
    return c;
  }

  /** Builds `k`'s code, reflects its bindings and workgroup size, and describes its pipeline. */
  private prepare(k: Kernel): Omit<Compiled, 'pipeline'> & { descriptor: GPUComputePipelineDescriptor } {
    const code = k.code();
    if (/^enable f16;/m.test(code)) requireF16(`the f16 build of kernel ${k.key.split(':')[0]}`);
    let reflect: WgslReflect;
    try {
      reflect = new WgslReflect(code);
    } catch (e) {
      throw new ThawError('kernel', `kernel ${k.key}: its WGSL does not parse: ${(e as Error)?.message ?? String(e)}`);
    }
    const entry = k.entry ?? 'main';
    const fn = reflect.entry.compute.find((e: any) => e.name === entry);
    if (!fn) throw new ThawError('kernel', `kernel ${k.key}: no @compute entry '${entry}'`);
    const entries: GPUBindGroupLayoutEntry[] = [];
    const storage: Compiled['storage'] = [];
    let uniform: Compiled['uniform'] = null;
    for (const group of reflect.getBindGroups()) for (const b of group ?? []) {
      if (!b) continue;
      if (b.group !== 0) throw new ThawError('kernel', `kernel ${k.key}: only @group(0) is supported`);
      if (b.resourceType === 0) {
        const fields: UniformField[] = [];
        for (const m of (b.type as any).members ?? []) {
          const tname: string = m.type.name;
          const count = tname.startsWith('vec') ? Number(tname[3]) : 1;
          const base = tname.startsWith('vec') ? ((m.type as any).format?.name ?? 'f32') : tname;
          fields.push({ name: m.name, offset: m.offset, type: base === 'f32' ? 0 : base === 'i32' ? 1 : 2, count, pad: m.name.startsWith('_pad') });
        }
        const size = Math.max(16, b.type.size);
        uniform = { name: b.name, binding: b.binding, size, slot: Math.ceil(size / this.uniformAlign) * this.uniformAlign, fields };
        entries.push({ binding: b.binding, visibility: 4, buffer: { type: 'uniform' } });
      } else {
        storage.push({ name: b.name, binding: b.binding });
        entries.push({ binding: b.binding, visibility: 4, buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' } });
      }
    }
    const device = this.device;
    const layout = device.createBindGroupLayout({ entries, label: k.key });
    const descriptor: GPUComputePipelineDescriptor = {
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ code, label: k.key }), entryPoint: entry },
      label: k.key,
    };
    const ws = fn.workgroupSize as any;
    const workgroupSize: [number, number, number] = [Number(ws?.[0] ?? 1), Number(ws?.[1] ?? 1), Number(ws?.[2] ?? 1)];
    return { name: k.key.split(':')[0], layout, storage, uniform, workgroupSize, groups: new Map(), lastAt: [], uncounted: 0, check: this.checkKernels ? checkOf(k) : undefined, descriptor };
  }

  /** Caches a created pipeline and counts the milliseconds since `t0`. */
  private store(k: Kernel, p: ReturnType<Runtime['prepare']>, pipeline: GPUComputePipeline, t0: number): Compiled {
    const { descriptor: _, ...rest } = p;
    const c: Compiled = { ...rest, pipeline };
    this.cache.set(k.key, c);
    const ms = performance.now() - t0;
    this.compileMs += ms;
    this.compiled.push({ key: k.key, ms });
    return c;
  }

  /** Starts creating `k`'s pipeline with createComputePipelineAsync, unless it is cached or under way. */
  private compileAsync(k: Kernel): void {
    if (this.cached(k) || this.pending.has(k.key)) return;
    const t0 = performance.now();
    const p = this.prepare(k);
    this.pending.set(k.key, this.device.createComputePipelineAsync(p.descriptor).then(
      (pipeline) => { if (!this.cache.has(k.key)) this.store(k, p, pipeline, t0); },
      (e) => { throw new ThawError('kernel', `kernel ${k.key}: creating its pipeline failed: ${(e as Error)?.message ?? String(e)}`); },
    ).finally(() => this.pending.delete(k.key)));
  }

  /**
   * Runs `fn` without dispatching anything: each kernel it would run is compiled instead, with
   * createComputePipelineAsync (all in flight at once), and cached; then each new pipeline is
   * dispatched once with zero workgroups, which is where software drivers (lavapipe) compile its
   * machine code. Resolves with the number of pipelines created. Buffers `fn` writes keep their
   * contents and what it reads back is meaningless: only the kernels it picks (from shapes and
   * options) count. warmupPipelines() runs a model's steps through it.
   */
  async compileOnly(fn: () => unknown): Promise<number> {
    if (this.compiling) throw new ThawError('kernel', 'compileOnly() is already running; it does not nest');
    this.flush();
    const n0 = this.compiled.length;
    this.compiling = true;
    try {
      await fn();
    } finally {
      this.compiling = false;
      // Every compile is awaited (and its error reported) however fn ended.
      const results = await Promise.allSettled([...this.pending.values()]);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
    const made = this.compiled.slice(n0), fresh = made.map(({ key }) => this.cache.get(key)!);
    if (fresh.length) {
      // Zero workgroups read and write nothing, so any buffers of the bound types' minimum size will do.
      const scratch = Array.from({ length: Math.max(0, ...fresh.map((c) => c.storage.length)) },
        () => this.device.createBuffer({ size: 256, usage: 0x80 })); // STORAGE
      // Counts read from a zeroed buffer: a direct zero-workgroup dispatch draws a warning from Dawn.
      const counts = this.device.createBuffer({ size: 16, usage: 0x100 }); // INDIRECT
      this.flush();
      // With the pipeline log, each pipeline's dispatch is its own submit, timed (the driver's compile).
      const log = this.pipelineLog, batches = log ? fresh.map((c) => [c]) : [fresh];
      for (const [i, batch] of batches.entries()) {
        const t0 = performance.now();
        this.encoder = this.device.createCommandEncoder();
        const pass = this.encoder.beginComputePass();
        for (const c of batch) {
          const entries: GPUBindGroupEntry[] = c.storage.map((b, i) => ({ binding: b.binding, resource: { buffer: scratch[i] } }));
          if (c.uniform) entries.push({ binding: c.uniform.binding, resource: { buffer: this.uniformGpu, offset: 0, size: c.uniform.size } });
          pass.setPipeline(c.pipeline);
          pass.setBindGroup(0, this.device.createBindGroup({ layout: c.layout, entries }));
          pass.dispatchWorkgroupsIndirect(counts, 0);
        }
        pass.end();
        await this.sync();
        if (log) log(made[i].key, made[i].ms, performance.now() - t0);
      }
      for (const b of [...scratch, counts]) b.destroy();
    }
    return fresh.length;
  }

  /** Starts timing every dispatch (see profiler.ts); one profile at a time. */
  startProfile(): Profiler {
    if (this.profiler) throw new ThawError('profile', 'a profile is already running');
    this.flush();
    this.profiler = new Profiler(this.device, FLUSH_EVERY);
    return this.profiler;
  }

  /** Stops timing (flushing what is encoded); the profiler's report() then has every dispatch. */
  stopProfile(): void {
    this.flush();
    this.profiler = null;
  }

  /** Number of compiled pipelines (pipeline-cache tests read it). */
  get pipelines(): number { return this.cache.size; }

  /** Packs `params` into this submit's uniform area by the reflected layout; returns its offset. */
  private packSlot(c: NonNullable<Compiled['uniform']>, params: Params, key: string): number {
    const base = this.uniformBytes;
    packUniform(this.uniformView, base, c, params, key);
    this.uniformBytes += c.slot;
    return base;
  }

  /**
   * @internal While set, every dispatch and copy is also handed to it (a step being recorded,
   * recording.ts), and host writes and readbacks are reported to it as what it cannot replay.
   */
  recorder: DispatchSink | null = null;

  /**
   * Issues one dispatch (batched: encoded with the others at the next submit or copy, encodeBatch).
   * `bindings` are keyed by the WGSL variable names; `params` fill the uniform
   * struct by field name (live values, live.ts, for host state that changes between steps); `groups`
   * is the workgroup count per dimension.
   */
  run(k: Kernel, bindings: Record<string, Bindable>, params: Params, groups: [number, number?, number?]): void {
    if (this.gpu.lost) throw this.gpu.lost;
    if (this.compiling) { this.compileAsync(k); return; }
    const before = this.pipelineLog && !this.cache.has(k.key) ? this.queueIdle() : null;
    const c = this.compile(k);
    const gx = groups[0], gy = groups[1] ?? 1, gz = groups[2] ?? 1, maxG = this.maxWorkgroups;
    if (gx > maxG || gy > maxG || gz > maxG) throw new LimitError(`kernel ${k.key}: ${gx}x${gy}x${gz} workgroups exceeds maxComputeWorkgroupsPerDimension ${maxG}`);
    if (gx === 0 || gy === 0 || gz === 0) return;
    const bufs = this.bound;
    const ns = c.storage.length;
    for (let i = 0; i < ns; i++) {
      const b = bindings[c.storage[i].name];
      if (!b) throw new ThawError('kernel', `kernel ${k.key}: binding '${c.storage[i].name}' was not given`);
      bufs[i] = 'buffer' in b ? b.buffer : b;
    }
    if (this.recorder) this.recorder.dispatch(c.name, k.key, c.pipeline, c.layout, storageEntries(c, bufs), c.uniform, params, [gx, gy, gz]);
    if (this.debug) this.device.pushErrorScope('validation');
    const name = c.name;
    if (c.uniform && this.uniformBytes + c.uniform.slot > this.uniformHost.byteLength) this.flush();
    let tw: GPUComputePassTimestampWrites | null = null;
    if (this.profiler) {
      tw = this.profiler.next(name);
      if (!tw) { this.flush(); tw = this.profiler.next(name)!; }
    }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    // Packed after every flush this dispatch can cause, so its uniforms go out with its own submit.
    const offset = c.uniform ? this.packSlot(c.uniform, params, k.key) : 0;
    const group = this.bindGroup(c, bufs, offset);
    if (tw) {
      // Its own pass, so its begin/end timestamps bracket only this dispatch.
      this.endPass();
      const pass = this.encoder.beginComputePass({ timestampWrites: tw });
      pass.setPipeline(c.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(gx, gy, gz);
      pass.end();
    } else {
      const n = this.batched++;
      this.batchPipelines[n] = c.pipeline;
      this.batchGroups[n] = group;
      this.batchCounts[3 * n] = gx; this.batchCounts[3 * n + 1] = gy; this.batchCounts[3 * n + 2] = gz;
    }
    this.dispatches++;
    if (c.uncounted++ === 0) this.uncounted.push(c);
    if (before) {
      const t = performance.now(), createMs = this.compiled[this.compiled.length - 1].ms, log = this.pipelineLog!;
      Promise.all([before, this.queueIdle()]).then(([a, b]) => log(k.key, createMs, b - Math.max(a, t)), () => {});
    }
    if (this.debug) {
      this.flush();
      const key = k.key;
      this.device.popErrorScope().then((e) => { if (e) this.gpu.errors.push(`in kernel ${key}: ${e.message}`); });
    } else if (++this.queued >= this.flushEvery) this.flush();
  }

  /**
   * Encodes the dispatches run() batched into the open compute pass (opening one), back to back.
   * Dawn's calls cost about half as much in one loop as one at a time between the other host work of
   * an eager step (bench/dispatch.ts: a replayed step encodes in 2-3 µs per dispatch; called from each
   * run() the same three calls took 5-6 µs), where the CPU caches have gone cold.
   */
  private encodeBatch(): void {
    const n = this.batched;
    if (n === 0) return;
    let pass = this.pass;
    if (!pass) { pass = this.pass = this.encoder!.beginComputePass(); this.passPipeline = null; this.passGroup = null; }
    const pipelines = this.batchPipelines, groups = this.batchGroups, counts = this.batchCounts;
    for (let i = 0; i < n; i++) {
      if (pipelines[i] !== this.passPipeline) pass.setPipeline((this.passPipeline = pipelines[i]));
      if (groups[i] !== this.passGroup) pass.setBindGroup(0, (this.passGroup = groups[i]));
      pass.dispatchWorkgroups(counts[3 * i], counts[3 * i + 1], counts[3 * i + 2]);
    }
    this.batched = 0;
  }

  /** Encodes the batched dispatches and ends the open compute pass: before a copy, a profiled dispatch's own pass, or a submit. */
  private endPass(): void {
    this.encodeBatch();
    if (this.pass) { this.pass.end(); this.pass = null; }
  }

  /**
   * The bind group of `c` over the storage buffers `bufs` (in binding order) and the uniform slot at
   * `offset`, made once and then reused: a step that repeats binds the same buffers at the same slots.
   * It looks first at the group last used at that slot (one array read and a compare: a step that
   * repeats finds it there), then walks the cache (a map per buffer, each step a likely CPU cache
   * miss when the rest of an eager step runs between two dispatches).
   */
  private bindGroup(c: Compiled, bufs: GPUBuffer[], offset: number): GPUBindGroup {
    const ns = c.storage.length, slot = offset / this.uniformAlign;
    let last = c.lastAt[slot];
    if (last) {
      let i = 0;
      while (i < ns && last.bufs[i] === bufs[i]) i++;
      if (i === ns) return last.group;
    }
    const group = this.findBindGroup(c, bufs, offset);
    if (!last) c.lastAt[slot] = last = { bufs: bufs.slice(0, ns), group };
    else { for (let i = 0; i < ns; i++) last.bufs[i] = bufs[i]; last.group = group; }
    return group;
  }

  /** The bind group of `c` over `bufs` and the uniform slot at `offset` from the cache, made when missing. */
  private findBindGroup(c: Compiled, bufs: GPUBuffer[], offset: number): GPUBindGroup {
    let node = c.groups;
    for (let i = 0; i < c.storage.length; i++) {
      let next = node.get(bufs[i]) as GroupTrie | undefined;
      if (!next) node.set(bufs[i], (next = new Map()));
      node = next;
    }
    let group = node.get(offset) as GPUBindGroup | undefined;
    if (!group) {
      if (this.groupCount >= MAX_BIND_GROUPS) this.forgetBindGroups();
      const entries = storageEntries(c, bufs);
      if (c.uniform) entries.push({ binding: c.uniform.binding, resource: { buffer: this.uniformGpu, offset, size: c.uniform.size } });
      group = this.device.createBindGroup({ layout: c.layout, entries });
      node.set(offset, group);
      this.groupCount++;
    }
    return group;
  }

  /** Drops every cached bind group (they name buffers the pool may destroy). */
  private forgetBindGroups(): void {
    for (const c of this.cache.values()) { c.groups = new Map(); c.lastAt = []; }
    this.groupCount = 0;
    this.passGroup = null;
  }

  /** Submits what is encoded; resolves with the time the queue has done it. */
  private queueIdle(): Promise<number> {
    this.flush();
    return this.device.queue.onSubmittedWorkDone().then(() => performance.now());
  }

  /** Encodes a buffer-to-buffer copy. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.recorder?.copy(src, srcOffset, dst, dstOffset, bytes);
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    this.endPass();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything encoded so far. */
  flush(): void {
    this.endPass();
    if (this.uniformBytes) {
      this.device.queue.writeBuffer(this.uniformGpu, 0, this.uniformHost, 0, this.uniformBytes);
      this.uniformBytes = 0;
    }
    if (this.encoder) {
      const afterSubmit = this.profiler?.resolve(this.encoder);
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      afterSubmit?.();
    }
    this.queued = 0;
    this.pool.afterSubmit();
  }

  /** Writes host data into a buffer (flushes first, so pending commands see the old contents). */
  write(buf: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.recorder?.refuse(`it writes host data into a GPU buffer (${data.byteLength} bytes); per-step data must be an input written before each replay`);
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(buf, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Reads `bytes` from a buffer back to the host. */
  async read(buf: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.recorder?.refuse('it reads a GPU buffer back to the host');
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, size), usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
    this.copy(buf, offset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(1);
    } catch (e) {
      checkGpu(this.gpu);
      throw new DeviceError('readback', `reading a GPU buffer back failed: ${(e as Error).message}`);
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    checkGpu(this.gpu);
    return out;
  }

  /** Resolves when all submitted work has finished on the GPU. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    checkGpu(this.gpu);
  }
}

let rt: Runtime | null = null;

/** The runtime for the shared device, creating the device on first call. */
export async function init(): Promise<Runtime> {
  const g = await getGpu();
  if (!rt || rt.gpu !== g) {
    rt = new Runtime(g);
    const file = typeof process !== 'undefined' ? process.env?.THAW_PIPELINE_LOG : undefined;
    if (file && process.versions?.node) {
      // One line per pipeline: "pid createMs firstRunMs key", appended (several processes may share the file).
      const fs = await import('node:fs');
      rt.pipelineLog = (key, createMs, firstRunMs) => fs.appendFileSync(file, `${process.pid} ${createMs.toFixed(1)} ${firstRunMs.toFixed(1)} ${key}\n`);
    }
  }
  return rt;
}

/**
 * Runs `fn` with `patch` merged over the tuning in effect (runtime().tuning), for the ops it calls and
 * their backward passes; ops' `tuning` options come here. No patch: just `fn()`.
 */
export function withTuning<T>(patch: TuningPatch | undefined, fn: () => T): T {
  if (!patch) return fn();
  return underTuning(mergeTuning(runtime().tuning, patch), fn);
}

/** The runtime, which `init()` must have created. */
export function runtime(): Runtime {
  if (!rt) throw new ThawError('not-initialized', 'thaw is not initialized: `await init()` before using tensors');
  if (rt.gpu.lost) throw rt.gpu.lost;
  return rt;
}

/** Runs `fn` with every dispatch timed on the GPU; returns the per-kernel totals. */
export async function profile(fn: () => Promise<void> | void, rt: Runtime = runtime()): Promise<ProfileReport> {
  const p = rt.startProfile();
  try {
    await fn();
    await rt.sync();
  } finally {
    rt.stopProfile();
  }
  return p.report();
}

/** Drops the runtime after device loss (pair with resetGpu()). */
export function resetRuntime(): void { rt = null; }

/** Throws, naming the feature, unless the device can run f16 kernels (WebGPU's 'shader-f16'). */
export function requireF16(what = 'an f16 tensor'): void {
  const g = runtime().gpu;
  if (g.device.features.has('shader-f16')) return;
  const name = g.info.description || g.info.device || g.info.kind;
  throw new DeviceError('no-shader-f16', `${what} needs the WebGPU feature 'shader-f16', which this adapter (${g.info.kind}${name && name !== g.info.kind ? `: ${name}` : ''}) does not offer; use f32 (precision 'f32'), or an adapter with shader-f16 (THAW_ADAPTER=lavapipe)`);
}


/**
 * Workgroups of 64 for n invocations of a 1-D kernel, split over x and y as `grid` does; a kernel
 * recovers its index as gid.x + gid.y * stride.
 */
export function launch1d(n: number): { groups: [number, number]; stride: number } {
  const [x, y] = grid(Math.ceil(n / 64));
  return { groups: [x, y], stride: x * 64 };
}

/** Splits a 1-D workgroup count over x and y when it exceeds the per-dimension limit. */
export function grid(workgroups: number): [number, number] {
  const max = 65535;
  if (workgroups <= max) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / max);
  return [Math.ceil(workgroups / y), y];
}
