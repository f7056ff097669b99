/**
 * Host cost per dispatch: what the CPU spends to issue one kernel, which sets the pace on a real GPU
 * once kernels take microseconds.
 *
 * - tiny ops: `ops` adds of two 64-element tensors in a row. "encode" is the loop itself and the
 *   submit of what it left encoded (the JS and Dawn calls that record and submit the dispatches),
 *   "total" adds waiting for the GPU; both per op.
 *   TF.js's WebGPU backend runs the same loop on the same Dawn device in the same process.
 * - ResNet-20 step: one training step (forward, backward, SGD) at freeze depth 0, batch 8: the host
 *   time to issue it, its last submit included, divided by its dispatches.
 * - the same step submitted once, at its end (Runtime.flushEvery), not every 128 dispatches: the
 *   host's encoding and that one submit, where a software adapter would otherwise run the submitted
 *   dispatches on the same cores while the host encodes the rest.
 * - the same step recorded once (engine/core/recording.ts) and replayed: one encoder and one submit per
 *   step, its live uniforms (learning rate, momentum) re-read and patched; host time per dispatch replayed.
 * - the replayed step's commands encoded and finished but not submitted (Recording.encode): the
 *   encoding alone; the rest of the replayed figure is the submit, where Dawn's backend and the
 *   driver record the commands.
 * - Dawn alone: the replayed step's dispatches with no thaw code: as many of them, in the same order
 *   of as many distinct pipelines (near-empty kernels, one per pipeline of the step, set where the
 *   step changes pipeline), each with a bind group of six storage buffers made beforehand, encoded
 *   and submitted: the floor a replay cannot go below. On lavapipe a step's distinct pipelines cost
 *   more than its pipeline changes: 181 changes among 16 pipelines issued as fast as one pipeline,
 *   among 181 distinct ones 1.5-2 µs more per dispatch (the host's caches hold fewer of them). Each
 *   run follows a replayed step, as each replay does: on a software adapter the driver runs the step
 *   on the same cores and leaves the host's caches cold (a run after a run of this near-empty kernel
 *   finds them warm).
 * Each figure is the best of `BENCH_RUNS` repetitions (the driver's own threads share the CPU), the
 * ResNet-20 cases' of at least RESNET_RUNS; they start after RESNET_WARMUP untimed steps, once V8 has
 * optimized the step's code.
 * Run: bash -c 'source scripts/env.sh; node bench/dispatch.ts'
 */
import type { Runtime } from '../engine/core/runtime.ts';
import { initThaw, initTf, printTable, writeResults, adapterLabel, randomData, benchRuns } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy } from '../engine/core/tensor.ts';
import { record } from '../engine/core/recording.ts';
import { backward } from '../engine/autograd/backward.ts';
import { add, crossEntropy } from '../kernels/index.ts';
import { SGD } from '../engine/optim/index.ts';
import { resnet20 } from '../models/resnet_cifar.ts';

export interface DispatchRow { case: string; engine: string; dispatches: number; encodeUs: number; totalUs: number }

/**
 * Best-of-`runs` host and total time of `issue` (which returns how many dispatches it issued), after
 * `warmup` untimed runs: the first compiles and allocates, and a training step's next few still make
 * bind groups as the buffer pool settles on which buffers each step gets.
 */
async function measure(issue: () => number, finish: () => Promise<void>, runs: number, warmup = 1): Promise<{ n: number; encodeUs: number; totalUs: number }> {
  for (let i = 0; i < warmup; i++) { issue(); await finish(); }
  let best = { n: 0, encodeUs: Infinity, totalUs: Infinity };
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const n = issue();
    const t1 = performance.now();
    await finish();
    const t2 = performance.now();
    const e = ((t1 - t0) * 1000) / n, t = ((t2 - t0) * 1000) / n;
    if (t < best.totalUs) best = { n, encodeUs: Math.min(e, best.encodeUs), totalUs: t };
    else best.encodeUs = Math.min(e, best.encodeUs);
  }
  return best;
}

/**
 * thaw's tiny-op loop: `ops` adds of two 64-element tensors, eager (each op queues its dispatch as it
 * runs; they are encoded and submitted every Runtime.flushEvery and at the end). Best of `runs`: host
 * µs per dispatch to issue them (encode) and with the GPU's wait (total).
 */
export async function tinyOps(rt: Runtime, ops: number, runs: number): Promise<{ n: number; encodeUs: number; totalUs: number }> {
  const a = tensor(randomData(64), [64]), b = tensor(randomData(64), [64]);
  try {
    return await measure(() => {
      const d0 = rt.dispatches;
      for (let i = 0; i < ops; i++) add(a, b).dispose();
      rt.flush();
      return rt.dispatches - d0;
    }, () => rt.sync(), runs);
  } finally {
    a.dispose(); b.dispose();
  }
}

/**
 * Dawn's own floor on this adapter for a step whose dispatches use pipelines in `order` (Recording.
 * pipelineOrder): as many near-empty pipelines as it has distinct ones, each dispatch with a bind
 * group of six storage buffers made beforehand (the ResNet-20 step's kernels bind 2 to 16, 6.2 on
 * average), encoded with setPipeline where the pipeline changes, setBindGroup and dispatchWorkgroups,
 * and submitted: what a replay of that step cannot go below. `before` runs untimed before each run.
 */
export async function dawnFloor(rt: Runtime, order: number[], runs: number, before: () => Promise<void>): Promise<{ n: number; encodeUs: number; totalUs: number }> {
  const device = rt.device, NB = 6, n = order.length;
  const bindings = Array.from({ length: NB }, (_, i) => `@group(0) @binding(${i}) var<storage, read_write> b${i}: array<f32>;`).join('\n');
  const pipelines = Array.from({ length: Math.max(...order) + 1 }, (_, p) => device.createComputePipeline({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: `${bindings}\n@compute @workgroup_size(1) fn main() { ${Array.from({ length: NB }, (_, i) => `b${i}[0] += ${p}.0;`).join(' ')} }` }), entryPoint: 'main' },
  }));
  const buffers = Array.from({ length: n + NB }, () => device.createBuffer({ size: 256, usage: 0x80 })); // STORAGE
  const groups = order.map((p, g) => device.createBindGroup({
    layout: pipelines[p].getBindGroupLayout(0), entries: Array.from({ length: NB }, (_, i) => ({ binding: i, resource: { buffer: buffers[g + i] } })),
  }));
  try {
    return await measure(() => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let g = 0; g < n; g++) {
        if (g === 0 || order[g] !== order[g - 1]) pass.setPipeline(pipelines[order[g]]);
        pass.setBindGroup(0, groups[g]);
        pass.dispatchWorkgroups(1);
      }
      pass.end();
      device.queue.submit([enc.finish()]);
      return n;
    }, async () => { await device.queue.onSubmittedWorkDone(); await before(); }, runs, 5);
  } finally {
    for (const b of buffers) b.destroy();
  }
}

/**
 * Repetitions of each ResNet-20 case (full runs): one step's host time varies by 10-30 % from the
 * next (garbage collection, the driver's threads on the same cores), so its best of 7 moved by
 * 2-3 µs per dispatch between runs of the bench.
 */
export const RESNET_RUNS = 25;

/** Repetitions of the ResNet-20 cases: at least RESNET_RUNS, `runs` in a quick run. */
export const resnetRuns = (runs: number, quick: boolean): number => (quick ? runs : Math.max(runs, RESNET_RUNS));

/** Batch of the ResNet-20 step. */
export const RESNET_BATCH = 8;

/**
 * Untimed ResNet-20 steps before the first timed one: V8 optimizes the step's JavaScript over its
 * first hundred or so (on lavapipe, submitted once per step, the first 20 steps issued at 22-30 µs
 * per dispatch, steps 20-60 at 17-20, later ones at 14-15), and a fine-tuning run takes thousands.
 */
export const RESNET_WARMUP = 100;

/**
 * One ResNet-20 training step (forward, backward, SGD with momentum) at freeze depth 0, batch
 * RESNET_BATCH: best of `runs` after `warmup` untimed steps (quick runs: 1), host µs per dispatch
 * issued eagerly and replayed from a recording. The cases after the first take 5 untimed steps each.
 */
export async function resnet20Step(rt: Runtime, runs: number, warmup = RESNET_WARMUP): Promise<Record<'eager' | 'oneSubmit' | 'replayed' | 'replayNoSubmit' | 'dawnFloor', { n: number; encodeUs: number; totalUs: number }>> {
  const B = RESNET_BATCH, flushEvery = rt.flushEvery, warmupLater = Math.min(warmup, 5);
  const x = tensor(randomData(B * 3 * 32 * 32), [B, 3, 32, 32]);
  const y = tensor(Int32Array.from({ length: B }, (_, i) => i % 10), [B], 'i32');
  const model = resnet20(10).train();
  const opt = new SGD(model.trainableParameters(), { lr: 0.01, momentum: 0.9 });
  const trainStep = () => {
    tidy(() => { backward(crossEntropy(model.forward(x), y)); return undefined; });
    opt.step();
    opt.zeroGrad();
  };
  try {
    const eagerStep = () => {
      const d0 = rt.dispatches;
      trainStep();
      rt.flush();
      return rt.dispatches - d0;
    };
    const eager = await measure(eagerStep, () => rt.sync(), runs, warmup);
    // The same eager step submitted once, at its end: its encoding timed without the adapter running
    // the step's first dispatches on the same cores meanwhile (a software adapter's threads).
    rt.flushEvery = Infinity;
    const oneSubmit = await measure(eagerStep, () => rt.sync(), runs, warmupLater).finally(() => { rt.flushEvery = flushEvery; });
    const { recording, reason } = record(trainStep);
    if (!recording) throw new Error(`the ResNet-20 step could not be recorded: ${reason}`);
    try {
      const replayed = await measure(() => { recording.replay(); return recording.dispatches; }, () => rt.sync(), runs, warmupLater);
      // After the replays: run back to back with no GPU work between them, these find the host's caches
      // warm, which would lower the replayed figure's best run if measured before it.
      const replayNoSubmit = await measure(() => {
        const enc = rt.device.createCommandEncoder();
        recording.encode(enc);
        enc.finish();
        return recording.dispatches;
      }, async () => {}, runs, warmupLater);
      const dawn = await dawnFloor(rt, recording.pipelineOrder, runs, async () => { recording.replay(); await rt.sync(); });
      return { eager, oneSubmit, replayed, replayNoSubmit, dawnFloor: dawn };
    } finally {
      recording.dispose();
    }
  } finally {
    opt.dispose();
    model.dispose();
    x.dispose(); y.dispose();
  }
}

export async function run(o: { quick?: boolean; vs?: boolean } = {}): Promise<DispatchRow[]> {
  const rt = await initThaw();
  const runs = o.quick ? 3 : benchRuns(), ops = o.quick ? 200 : 2000;
  const rows: DispatchRow[] = [];
  const row = (c: string, engine: string, m: { n: number; encodeUs: number; totalUs: number }) =>
    rows.push({ case: c, engine, dispatches: m.n, encodeUs: m.encodeUs, totalUs: m.totalUs });
  row(`tiny op x${ops}`, 'thaw', await tinyOps(rt, ops, runs));

  const stepRuns = resnetRuns(runs, !!o.quick);
  const step = await resnet20Step(rt, stepRuns, o.quick ? 1 : undefined);
  row(`ResNet-20 step (batch ${RESNET_BATCH})`, 'thaw', step.eager);
  row(`ResNet-20 step, one submit (batch ${RESNET_BATCH})`, 'thaw', step.oneSubmit);
  row(`ResNet-20 step replayed (batch ${RESNET_BATCH})`, 'thaw', step.replayed);
  row(`ResNet-20 step replayed, encoded not submitted (batch ${RESNET_BATCH})`, 'thaw', step.replayNoSubmit);
  row('Dawn alone, the replay\'s pipeline order (6 buffers)', 'Dawn', step.dawnFloor);

  if (o.vs !== false) {
    const t = await initTf();
    const ta = t.tf.tensor1d(randomData(64)), tb = t.tf.tensor1d(randomData(64));
    const tfTiny = await measure(() => {
      for (let i = 0; i < ops; i++) t.tf.add(ta, tb).dispose();
      return ops;
    }, async () => { const s = t.tf.add(ta, tb); await s.data(); s.dispose(); }, runs);
    row(`tiny op x${ops}`, 'tfjs-webgpu', tfTiny);
  }

  printTable(`Host cost per dispatch on ${adapterLabel(rt)} (best of ${runs}; ResNet-20 cases: best of ${stepRuns})`,
    ['case', 'engine', 'dispatches', 'encode µs/dispatch', 'total µs/dispatch'],
    rows.map((r) => [r.case, r.engine, r.dispatches, r.encodeUs, r.totalUs]));
  console.log(`wrote ${writeResults(rt, 'dispatch', { rows })}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ quick: process.argv.includes('--quick'), vs: !process.argv.includes('--no-vs') });
  process.exit(0);
}
