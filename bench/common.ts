/**
 * Shared benchmark helpers: thaw and TF.js's WebGPU backend on the same Dawn adapter in one process,
 * timing (median of several runs after warm-up, with the fastest run kept as a low-noise figure),
 * a printed table, and JSON results in bench/results/<name>-<adapter>.json.
 *
 * Run a bench as `bash -c 'source scripts/env.sh; node bench/<name>.ts'`; THAW_ADAPTER=lavapipe|swiftshader
 * picks a software driver, BENCH_RUNS sets the number of timed runs (default 7, at least 5).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { init, type Runtime } from '../engine/core/runtime.ts';

/** Timings of one measured case in milliseconds. */
export interface Timing { median: number; min: number; runs: number[] }

/** Initialises thaw on the default (or THAW_ADAPTER-forced) adapter. */
export async function initThaw(): Promise<Runtime> { return init(); }

/** The adapter's name for tables and result files, e.g. 'lavapipe' or 'hardware (nvidia ...)'. */
export function adapterLabel(rt: Runtime): string {
  const i = rt.gpu.info;
  const what = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
  return `${i.kind}${what ? ` (${what})` : ''}`;
}

/** TF.js with its WebGPU backend, bound to the device thaw already uses (same Dawn instance). */
export interface Tf {
  tf: any;
  backend: any;
  device: GPUDevice;
}

/**
 * Loads TF.js (the union package, so gradients are registered) and its WebGPU backend on thaw's
 * Dawn instance. thaw must be initialised first: the backend registers itself at import time only if
 * `navigator.gpu` exists, and it picks the same adapter thaw's driver selection left visible.
 */
export async function initTf(): Promise<Tf> {
  const gpu = (globalThis as any).__thawDawn;
  if (!gpu) throw new Error('initTf(): initialise thaw first (it creates the Dawn instance tfjs shares)');
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const tf: any = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend failed to initialise');
  await tf.ready();
  const backend = tf.backend();
  return { tf, backend, device: backend.device as GPUDevice };
}

/**
 * How many repetitions of `once` make one timed step last at least `minMs` (fast GPUs finish a
 * small kernel in less time than a submit round trip, which would then be all that is measured).
 */
export async function repsFor(once: () => Promise<void>, minMs = 20): Promise<number> {
  await once();
  const t0 = performance.now();
  await once();
  const ms = performance.now() - t0;
  return Math.max(1, Math.min(1000, Math.ceil(minMs / Math.max(ms, 1e-3))));
}

/** The value after `--name` on the command line, else `dflt`. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}

export const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
/** Sample standard deviation (0 for one value). */
export const sd = (v: number[]) => (v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1)) : 0);
export const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Number of timed runs (BENCH_RUNS, default 7, never below 5). */
export function benchRuns(): number {
  return Math.max(5, Number(process.env.BENCH_RUNS ?? 7));
}

/** Times an async step: `warmup` untimed runs (compilation), then `runs` timed ones. */
export async function time(step: () => Promise<void>, runs = benchRuns(), warmup = 2): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await step();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await step();
    ts.push(performance.now() - t0);
  }
  const sorted = [...ts].sort((x, y) => x - y);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], runs: ts };
}

/** A thaw step: runs `fn` (which encodes GPU work) and waits until the GPU has finished it. */
export function thawStep(rt: Runtime, fn: () => void): () => Promise<void> {
  return async () => {
    fn();
    await rt.sync();
  };
}

/**
 * A tfjs step: runs `fn` in a tf.tidy, makes tfjs submit its queued commands and waits for the GPU
 * (no readback, so both engines are timed the same way).
 */
export function tfStep(t: Tf, fn: () => unknown): () => Promise<void> {
  return async () => {
    const out = t.tf.tidy(fn);
    // tfjs keeps a compute pass open between ops; end it before submitting the encoder.
    t.backend.endComputePassEncoder();
    if (t.backend.commandEncoder) t.backend.submitQueue();
    await t.device.queue.onSubmittedWorkDone();
    t.tf.dispose(out);
  };
}

/** Prints an aligned table under a title. */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const w = header.map((_, j) => Math.max(...cells.map((r) => String(r[j] ?? '').length)));
  console.log(`\n${title}`);
  cells.forEach((r, i) => {
    console.log(r.map((c, j) => String(c ?? '').padStart(w[j])).join('  '));
    if (i === 0) console.log(w.map((x) => '-'.repeat(x)).join('  '));
  });
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/**
 * Writes results to bench/results/<name>-<label>.json (label: the adapter kind unless given) or to
 * `file`, and returns the path.
 */
export function writeResults(rt: Runtime, name: string, results: unknown, o: { label?: string; file?: string } = {}): string {
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'results');
  const file = o.file ?? path.join(dir, `${name}-${o.label ?? rt.gpu.info.kind}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const body = {
    name, adapter: adapterLabel(rt), kind: rt.gpu.info.kind, date: new Date().toISOString(),
    node: process.version, runs: benchRuns(), results,
  };
  fs.writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  return file;
}

/** Uniform random f32 data in [-1, 1). */
export function randomData(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}
