/**
 * Per-kernel GPU time from timestamp queries. While a profile is open, the runtime gives every
 * dispatch its own compute pass whose begin and end write a timestamp; at each submit the queries
 * are resolved and read back, and times add up per kernel name (the shader key before its first
 * ':'). Costs a pass per dispatch, so use it to find what is slow, not to time a whole run.
 *
 *   const report = await profile(async () => { await trainStep(); });
 *   console.log(formatProfile(report));
 */
import { ThawError } from './errors.ts';

/** One kernel's line of a profile. */
export interface ProfileRow { kernel: string; calls: number; ms: number }

/** What a profile measured: rows by total time (largest first) and the sum. */
export interface ProfileReport { rows: ProfileRow[]; totalMs: number; dispatches: number }

/** Collects timestamp pairs for one submit's dispatches; the runtime owns one while profiling. */
export class Profiler {
  private names: string[] = [];
  private querySet: GPUQuerySet | null = null;
  private pending: Promise<void>[] = [];
  private readonly totals = new Map<string, { calls: number; ns: number }>();

  constructor(private readonly device: GPUDevice, readonly capacity: number) {
    if (!device.features.has('timestamp-query')) {
      throw new ThawError('profile', 'profiling needs the adapter\'s timestamp-query feature, which this adapter does not offer');
    }
  }

  /** The timestampWrites for the next dispatch's pass, or null when this submit's queries are full. */
  next(kernel: string): GPUComputePassTimestampWrites | null {
    if (this.names.length >= this.capacity) return null;
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: 2 * this.capacity });
    const i = this.names.length;
    this.names.push(kernel);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Encodes the resolve of this submit's queries into `encoder` and schedules their readback. */
  resolve(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.names.length;
    if (!n || !this.querySet) return null;
    const qs = this.querySet, names = this.names;
    this.querySet = null;
    this.names = [];
    const bytes = 16 * n;
    const resolved = this.device.createBuffer({ size: bytes, usage: 0x200 | 0x4 /* QUERY_RESOLVE | COPY_SRC */ });
    const staging = this.device.createBuffer({ size: bytes, usage: 0x1 | 0x8 /* MAP_READ | COPY_DST */ });
    encoder.resolveQuerySet(qs, 0, 2 * n, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    // Mapping must wait until the submit holding these commands is on the queue.
    return () => {
      this.pending.push(staging.mapAsync(1 /* READ */).then(() => {
        const t = new BigUint64Array(staging.getMappedRange());
        names.forEach((name, i) => {
          const ns = Number(t[2 * i + 1] - t[2 * i]);
          const row = this.totals.get(name) ?? { calls: 0, ns: 0 };
          row.calls++;
          if (ns > 0 && ns < 1e11) row.ns += ns; // a driver may report 0 or wrap for an empty pass
          this.totals.set(name, row);
        });
        staging.unmap();
      }).finally(() => { staging.destroy(); resolved.destroy(); qs.destroy(); }));
    };
  }

  /** Waits for every readback and returns the totals. */
  async report(): Promise<ProfileReport> {
    await Promise.all(this.pending);
    const rows = [...this.totals].map(([kernel, v]) => ({ kernel, calls: v.calls, ms: v.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
    return { rows, totalMs: rows.reduce((a, r) => a + r.ms, 0), dispatches: rows.reduce((a, r) => a + r.calls, 0) };
  }
}

/** A profile as an aligned text table, the `top` heaviest kernels first. */
export function formatProfile(r: ProfileReport, top = 20): string {
  const lines = [`GPU time ${r.totalMs.toFixed(1)} ms in ${r.dispatches} dispatches`, `${'kernel'.padEnd(28)} ${'calls'.padStart(7)} ${'ms'.padStart(10)} ${'%'.padStart(6)}`];
  for (const row of r.rows.slice(0, top)) {
    lines.push(`${row.kernel.padEnd(28)} ${String(row.calls).padStart(7)} ${row.ms.toFixed(2).padStart(10)} ${(100 * row.ms / Math.max(r.totalMs, 1e-9)).toFixed(1).padStart(6)}`);
  }
  if (r.rows.length > top) lines.push(`… ${r.rows.length - top} more kernels`);
  return lines.join('\n');
}
