/**
 * Shared by the reliability suites and their child processes: a small seeded CNN run (Conv-BN-ReLU-
 * MaxPool-Dropout-Linear on 3x8x8 inputs, Adam, cosine schedule, seeded shuffling) driven by a global
 * step counter so it can stop and resume anywhere, and the child-process runner.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sequential, Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear, Dropout } from '../../engine/nn/index.ts';
import { Adam, Scheduler, cosine } from '../../engine/optim/index.ts';
import { Rng, randn } from '../../engine/data/rng.ts';
import { arrayDataset, batches, type Dataset } from '../../engine/data/dataset.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, keep } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { saveTrainingCheckpoint } from '../../engine/train/checkpoint.ts';

export const S = 8, C = 3, CLASSES = 3, N = 24, BATCH = 8;
/** Steps per epoch. */
export const SPE = N / BATCH;
export const TOTAL = 4 * SPE;
/** Conv to 4 channels, 2x2 max pool: 4 x 4 x 4 features into the head. */
const FEATURES = 4 * 4 * 4;

/** The fixed training set: 24 seeded 3x8x8 images, 3 classes. */
export function dataset(): Dataset {
  const rng = new Rng(7);
  const y = Int32Array.from({ length: N }, () => rng.int(CLASSES));
  const x = randn(N * C * S * S, rng);
  for (let i = 0; i < N; i++) for (let j = 0; j < S * S; j++) x[i * C * S * S + y[i] * S * S + j] += 0.5; // a learnable signal
  return arrayDataset(x, y);
}

/** Everything a run holds: model, Adam, a cosine schedule over TOTAL steps, the data-order Rng. */
export interface Run { model: Sequential; opt: Adam; sched: Scheduler; rng: Rng; ds: Dataset }

/** A fresh run; `seed` sets the initial weights, the dropout seed and the data order. */
export function makeRun(seed: number, hidden = 0): Run {
  const init = new Rng(seed);
  const u = () => init.next();
  const head = hidden
    ? [new Linear(FEATURES, hidden, { rng: u }), new ReLU(), new Linear(hidden, CLASSES, { rng: u })]
    : [new Linear(FEATURES, CLASSES, { rng: u })];
  const model = new Sequential(new Conv2d(C, 4, 3, { padding: 1, rng: u }), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2),
    new Flatten(), new Dropout(0.2, seed), ...head);
  const opt = new Adam(model.namedParameters(), { lr: 0.01 });
  const sched = new Scheduler(opt, cosine(TOTAL));
  return { model, opt, sched, rng: new Rng(seed + 1), ds: dataset() };
}

/** Frees a run's GPU memory. */
export function freeRun(r: Run): void { r.opt.dispose(); r.model.dispose(); }

/** One optimizer step on a batch; returns the loss (read back). */
export async function trainStep(r: Run, b: { x: Float32Array; y: Int32Array; n: number }): Promise<number> {
  const loss = tidy(() => {
    const l = crossEntropy(r.model.forward(tensor(b.x, [b.n, C, S, S])), tensor(b.y, [b.n], 'i32'));
    backward(l);
    return l;
  });
  r.opt.step();
  r.opt.zeroGrad();
  r.sched.step();
  const v = await loss.item();
  loss.dispose();
  return v;
}

/**
 * Trains global steps [from, to). Step s is batch s % SPE of epoch floor(s / SPE); each epoch's order
 * comes from `rng.fork()` at its start, so a run resumed mid-epoch re-forks from the RNG state saved for
 * that epoch's start and skips the batches already done. `saveAt` saves a checkpoint after those steps.
 */
export async function train(r: Run, from: number, to: number, saveAt: Map<number, string> = new Map()): Promise<number[]> {
  const losses: number[] = [];
  let s = from;
  while (s < to) {
    const epoch = Math.floor(s / SPE);
    const atStart = Rng.fromState(r.rng.state());
    const order = r.rng.fork();
    let k = 0;
    for (const b of batches(r.ds, BATCH, { shuffle: true, rng: order })) {
      if (epoch * SPE + k++ < s) continue;
      losses.push(await trainStep(r, b));
      s++;
      const path = saveAt.get(s);
      // Mid-epoch, the RNG to save is this epoch's start state (the resumed run re-forks the same order).
      if (path) await saveTrainingCheckpoint(path, { model: r.model, optimizer: r.opt, scheduler: r.sched, rng: s % SPE ? atStart : r.rng, step: s, epoch: Math.floor(s / SPE) });
      if (s >= to) break;
    }
  }
  return losses;
}

/**
 * An optimizer step from made-up gradients (seeded by `step`): gives the run optimizer state without
 * compiling the model's kernels, which costs a fresh child process seconds on a software adapter.
 */
export function fakeStep(r: Run, step: number): void {
  const g = new Rng(1000 + step);
  for (const [, p] of r.model.namedParameters()) { p.grad?.dispose(); p.grad = keep(tensor(randn(p.size, g), p.shape)); }
  r.opt.step();
  r.opt.zeroGrad();
  r.sched.step();
}

/** Every parameter and buffer of a model, read back (bitwise comparisons). */
export async function weights(r: Run): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, t] of r.model.stateDict()) out.set(k, Array.from(await t.data()));
  return out;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let bundle: Promise<string> | null = null;

/**
 * child.ts bundled once per test process into a temp folder (with a node_modules link so Dawn's
 * `webgpu` package resolves). A child then starts in well under a second instead of ~3 s of TypeScript
 * transpiling through tsx, which matters with a dozen children on two cores.
 */
function childBundle(): Promise<string> {
  bundle ??= (async () => {
    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'thaw-child-'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const out = join(dir, 'child.mjs');
    await build({ entryPoints: [CHILD], outfile: out, bundle: true, format: 'esm', platform: 'node', target: 'es2022',
      loader: { '.wgsl': 'text' }, external: ['webgpu'], logLevel: 'warning' });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return out;
  })();
  return bundle;
}

export interface ChildResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs child.ts with a scenario in a fresh Node process (its own GPU device). `onLine` sees stdout
 * lines as they come and may kill the child. No time limit: a cold shader cache makes a child slow, not wrong.
 */
export async function runChild(args: string[], env: Record<string, string> = {}, onLine?: (line: string, kill: () => void) => void): Promise<ChildResult> {
  const script = await childBundle();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script, ...args], { env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', buf = '';
    p.stdout.on('data', (d) => {
      stdout += d; buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); onLine?.(line, () => p.kill('SIGKILL')); }
    });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The last line of a child's stdout that starts with `RESULT ` parsed as JSON. */
export function resultOf(r: ChildResult): any {
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child printed no RESULT (code ${r.code}, signal ${r.signal}); stderr:\n${r.stderr.slice(-2000)}`);
  return JSON.parse(line.slice(7));
}

/** Asserts that `fn` rejects with a ThawError whose message matches `re`; returns the error. */
export async function rejects(fn: () => Promise<unknown>, re: RegExp): Promise<Error> {
  const e = await fn().then(() => null, (x) => x);
  if (!(e instanceof Error)) throw new Error(`expected a rejection matching ${re}, it resolved`);
  if (!re.test(e.message)) throw new Error(`expected a rejection matching ${re}, got ${e.name}: ${e.message}`);
  return e;
}

/**
 * Records a weakness found in code this suite does not own (printed, not failed: the owner fixes it).
 * `where` is file:line.
 */
export function finding(where: string, what: string): void {
  console.log(`  FINDING ${where}: ${what}`);
}
