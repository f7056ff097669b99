/**
 * A buffer pool that reuses GPU storage buffers by size class.
 *
 * Why deferred release: a buffer freed while an unsubmitted command encoder still reads it must not be
 * handed out again before that encoder is submitted, because `queue.writeBuffer` into the reused buffer
 * would run *before* the pending commands on the queue timeline. Freed buffers therefore wait in
 * `pending` until the runtime submits, then join the free lists.
 *
 * Free buffers are handed out lowest creation number first, so a step that repeats gets the same
 * buffers in the same places every time (the runtime's bind groups over them are then reused).
 *
 * Pinned buffers (a recorded step's, recording.ts, whose bind groups name them) leave circulation:
 * released while pinned, a buffer is held until its last pin goes, and only then becomes reusable.
 */
import { LimitError } from './errors.ts';

const USAGE_STORAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST

/** Rounds a byte size up to its size class: powers of two below 1 MiB, then 1/8 steps of the power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 1 << (32 - Math.clz32(b - 1));
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

/** Live and pooled buffer counts, for leak tests and `memory()`. */
export interface PoolStats {
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
  peakBytes: number;
  created: number;
  /** Released buffers kept out of circulation by a recording that binds them. */
  heldBuffers: number;
}

export class BufferPool {
  /** Free buffers by size class: their creation numbers, highest first (pop() gives the lowest). */
  private free = new Map<number, number[]>();
  private ids = new Map<GPUBuffer, number>();
  private byId: GPUBuffer[] = [];
  /** Each buffer's size by creation number (GPUBuffer.size is a native call under Dawn). */
  private sizes: number[] = [];
  /** Released buffers waiting for the next submit, by creation number. */
  private pending: number[] = [];
  /** Whether each buffer is handed out, by creation number (a Set of buffers rehashed as a step's live count swings). */
  private live: boolean[] = [];
  private liveCount = 0;
  private stats = { liveBytes: 0, pooledBytes: 0, peakBytes: 0, created: 0 };
  private pins = new Map<GPUBuffer, number>();
  private held = new Set<GPUBuffer>();

  /** @internal While set, every buffer handed out and released lands in these sets (recording.ts). */
  watch: { acquired: Set<GPUBuffer>; released: Set<GPUBuffer> } | null = null;

  /** Called before pooled buffers are destroyed (the runtime drops the bind groups that name them). */
  onDestroy: (() => void) | null = null;

  /** Test hook: called with every buffer handed out (tests poison it with NaNs). */
  onAcquire: ((buf: GPUBuffer, bytes: number) => void) | null = null;

  constructor(private device: GPUDevice, private maxBufferSize: number, private maxBinding: number) {}

  /**
   * A buffer of at least `bytes`, possibly reused. `what` names the tensor for limit errors: a name,
   * or its shape (and `suffix`), made into a name only then.
   */
  acquire(bytes: number, what: string | readonly number[] = 'tensor', suffix = ''): GPUBuffer {
    const size = sizeClass(bytes);
    if (bytes > this.maxBinding || size > this.maxBufferSize) {
      throw new LimitError(`${typeof what === 'string' ? what : `tensor [${what.join(', ')}]${suffix}`} needs ${bytes} bytes, over this adapter's limit ` +
        `(maxStorageBufferBindingSize ${this.maxBinding}, maxBufferSize ${this.maxBufferSize}); use a smaller batch or input size`);
    }
    const id = this.free.get(size)?.pop();
    let buf: GPUBuffer;
    if (id !== undefined) {
      buf = this.byId[id];
      this.stats.pooledBytes -= size;
      this.live[id] = true;
    } else {
      buf = this.device.createBuffer({ size, usage: USAGE_STORAGE });
      this.ids.set(buf, this.byId.length);
      this.byId.push(buf);
      this.sizes.push(size);
      this.live.push(true);
      this.stats.created++;
    }
    this.liveCount++;
    this.watch?.acquired.add(buf);
    this.stats.liveBytes += size;
    this.onAcquire?.(buf, bytes);
    if (this.stats.liveBytes > this.stats.peakBytes) this.stats.peakBytes = this.stats.liveBytes;
    return buf;
  }

  /** Returns a buffer; it becomes reusable after the next submit. */
  release(buf: GPUBuffer): void {
    const id = this.ids.get(buf);
    if (id === undefined || !this.live[id]) return;
    this.live[id] = false;
    this.liveCount--;
    this.stats.liveBytes -= this.sizes[id];
    this.watch?.released.add(buf);
    if (this.pins.has(buf)) this.held.add(buf);
    else this.pending.push(id);
  }

  /** Whether `buf` is handed out and not released. */
  isLive(buf: GPUBuffer): boolean {
    const id = this.ids.get(buf);
    return id !== undefined && this.live[id];
  }

  /**
   * Keeps `buf` out of circulation until as many `unpin` calls: one already released (waiting or
   * free) is taken back and held, one released later is held instead of reused.
   */
  pin(buf: GPUBuffer): void {
    const n = this.pins.get(buf) ?? 0;
    this.pins.set(buf, n + 1);
    const id = this.ids.get(buf)!;
    if (n > 0 || this.live[id] || this.held.has(buf)) return;
    const i = this.pending.indexOf(id);
    if (i >= 0) { this.pending.splice(i, 1); this.held.add(buf); return; }
    const size = this.sizes[id], list = this.free.get(size), j = list ? list.indexOf(id) : -1;
    if (j >= 0) { list!.splice(j, 1); this.stats.pooledBytes -= size; this.held.add(buf); }
  }

  /** Drops one pin; a held buffer whose last pin goes becomes reusable after the next submit. */
  unpin(buf: GPUBuffer): void {
    const n = this.pins.get(buf);
    if (n === undefined) return;
    if (n > 1) { this.pins.set(buf, n - 1); return; }
    this.pins.delete(buf);
    if (this.held.delete(buf)) this.pending.push(this.ids.get(buf)!);
  }

  /** Called by the runtime right after a queue submit. */
  afterSubmit(): void {
    const pending = this.pending;
    for (let i = 0; i < pending.length; i++) {
      const id = pending[i], size = this.sizes[id];
      let list = this.free.get(size);
      if (!list) this.free.set(size, (list = []));
      // Into its place, highest first: moved past the lower ones at the end (no sort, no callback).
      let j = list.length;
      list.push(id);
      while (j > 0 && list[j - 1] < id) { list[j] = list[j - 1]; j--; }
      list[j] = id;
      this.stats.pooledBytes += size;
    }
    pending.length = 0;
  }

  /** Destroys every pooled (not live) buffer. */
  trim(): void {
    this.onDestroy?.();
    for (const list of this.free.values()) {
      for (const id of list) {
        const b = this.byId[id];
        b.destroy();
        this.ids.delete(b);
        delete this.byId[id];
      }
    }
    this.free.clear();
    this.stats.pooledBytes = 0;
  }

  /** Starts the peak over from the live bytes now; returns the peak it replaces. */
  resetPeak(): number {
    const old = this.stats.peakBytes;
    this.stats.peakBytes = this.stats.liveBytes;
    return old;
  }

  /**
   * Runs `fn` and returns its result with the peak of live bytes during it; the pool's own peak then
   * counts that span as before (a measured span does not hide an earlier peak).
   */
  async measurePeak<T>(fn: () => Promise<T>): Promise<{ result: T; peakBytes: number }> {
    const old = this.resetPeak();
    try {
      const result = await fn();
      return { result, peakBytes: this.stats.peakBytes };
    } finally {
      this.stats.peakBytes = Math.max(old, this.stats.peakBytes);
    }
  }

  getStats(): PoolStats {
    let pooledBuffers = 0;
    for (const l of this.free.values()) pooledBuffers += l.length;
    return {
      liveBuffers: this.liveCount, liveBytes: this.stats.liveBytes,
      pooledBuffers: pooledBuffers + this.pending.length, pooledBytes: this.stats.pooledBytes,
      peakBytes: this.stats.peakBytes, created: this.stats.created, heldBuffers: this.held.size,
    };
  }
}
