/**
 * One-shot GPU benchmark: what a GPU machine can tell about thaw in one run of a few minutes.
 *
 *   bash bench/gpu.sh [--quick] [--budget-s S] [--peak-tflops N] [--only matmul,conv,resnet50,bert,dispatch] [--sizes 512,1024] [--out FILE]
 *
 * Sections, each printed as it ends (and the JSON rewritten, so a run cut short keeps what it has):
 * - the adapter and driver;
 * - host µs per dispatch (bench/dispatch.ts; run first, it is cheap): eager tiny ops, and a ResNet-20
 *   training step (batch 8) issued eagerly and replayed from a recording (engine/core/recording.ts),
 *   beside Dawn alone issuing as many dispatches in the replay's pipeline order;
 * - matmul f32, square, 512..4096: thaw and tfjs-webgpu GFLOP/s on the same adapter (bench/matmul.ts),
 *   and thaw's share of the card's f32 peak (non-tensor-core) when the card is in PEAKS or --peak-tflops says it;
 * - the four conv layers of bench/conv.ts, fwd/dx/dw, thaw vs tfjs (its run(), one layer at a time);
 * - a ResNet-50 training step (torchvision keys, 224 px, batch 32, SGD momentum) with the trunk frozen
 *   up to layer3 and fully trainable: ms/step and dispatches/step; tfjs has no ResNet-50 here (n/a);
 * - a BERT-base fine-tuning step (seq 128, batch 8; forward, loss, backward, AdamW): ms/step.
 *
 * `--quick` is the smoke run for software adapters: matmul 256/512, conv at batch 1, ResNet-50 at 64 px
 * batch 2, BERT-tiny seq 32 batch 2, few runs. `--budget-s` (default 420) skips the sections
 * and cases that would start after the budget is spent ('skipped: time budget') and shortens the timed
 * runs of the model steps to what fits. Every timing excludes warm-up steps (pipeline compilation,
 * optimizer state) and waits for the GPU (runtime sync; tfjs: onSubmittedWorkDone).
 * JSON: bench/results/gpu-<adapter>.json (e.g. gpu-lavapipe.json, gpu-nvidia-h100-80gb-hbm3.json).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '../engine/core/runtime.ts';
import { initThaw, adapterLabel, time, thawStep, printTable, writeResults, randomData, benchRuns, type Timing } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy, type Tensor } from '../engine/core/tensor.ts';
import { backward } from '../engine/autograd/backward.ts';
import { crossEntropy } from '../kernels/index.ts';
import { SGD, AdamW, type Optimizer } from '../engine/optim/index.ts';
import { freeze, unfreeze } from '../engine/train/freeze.ts';
import { resnet50 } from '../models/resnet.ts';
import { BertForSequenceClassification, BERT_BASE, BERT_TINY } from '../models/bert.ts';
import { run as matmulRun } from './matmul.ts';
import { run as convRun, LAYERS as CONV_LAYERS } from './conv.ts';
import { tinyOps, resnet20Step, resnetRuns, RESNET_BATCH } from './dispatch.ts';
import { bertBatch } from './bert.ts';

export const SECTIONS = ['matmul', 'conv', 'resnet50', 'bert', 'dispatch'] as const;
export type Section = (typeof SECTIONS)[number];

export interface GpuBenchOptions {
  quick?: boolean;
  /** Seconds after which no further section or case starts (default 420). */
  budgetS?: number;
  /** The card's f32 peak in TFLOP/s (overrides PEAKS). */
  peakTflops?: number;
  only?: Section[];
  /** Matmul sizes (default 512,1024,2048,4096; quick 256,512). */
  sizes?: number[];
  /** Results file (default bench/results/gpu-<adapter>.json). */
  out?: string;
}

/**
 * f32 peak (FMA, no tensor cores) in TFLOP/s by GPU name, from the vendors' data sheets; the first
 * match wins, so the specific variants come before the family. Dawn on Vulkan gives the name as a
 * slug in `device` ('nvidia-h100-80gb-hbm3') and the driver in `description` ('NVIDIA: 550.54.15').
 */
export const PEAKS: [RegExp, string, number][] = [
  [/h100.*pcie/i, 'H100 PCIe', 51.2],
  [/h100.*nvl/i, 'H100 NVL', 60],
  [/h200.*nvl/i, 'H200 NVL', 60],
  [/h100/i, 'H100 SXM', 67],
  [/h200/i, 'H200 SXM (H100 SXM silicon)', 67],
  [/a100/i, 'A100', 19.5],
  [/rtx[\s-]*4090/i, 'RTX 4090', 82.6],
  [/l40s/i, 'L40S', 91.6],
  [/\bl4\b/i, 'L4', 30.3],
  [/\ba10\b/i, 'A10', 31.2],
  [/\bt4\b/i, 'T4', 8.1],
];

/** The card's f32 peak: --peak-tflops, else PEAKS by adapter name, else unknown (null). */
export function peakFor(name: string, override?: number): { tflops: number | null; source: string } {
  if (override !== undefined) return { tflops: override, source: '--peak-tflops' };
  const hit = PEAKS.find(([re]) => re.test(name));
  return hit ? { tflops: hit[2], source: `table: ${hit[1]}` } : { tflops: null, source: 'unknown' };
}

/** The adapter's part of the results file name: the kind for software adapters, else a slug of its name. */
function fileLabel(rt: Runtime): string {
  const i = rt.gpu.info;
  if (i.isSoftware || i.kind !== 'hardware') return i.kind;
  const slug = (i.device || i.description || i.vendor).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return slug || 'hardware';
}

type SectionResult = Record<string, unknown> & { status: 'ok' | 'skipped: time budget' | 'error' | 'partial: time budget' };

const fmtPct = (x: number | null) => (x === null ? 'unknown' : `${x.toFixed(1)}%`);

/**
 * Times `step` within the budget: `warmup` untimed steps (the last one also counts the dispatches
 * and estimates the step time), then as many timed steps as fit in 80 % of the time left, between
 * 3 and `maxRuns`.
 */
async function timeWithin(rt: Runtime, step: () => void, secondsLeft: () => number, maxRuns: number, warmup = 2): Promise<{ t: Timing; dispatches: number }> {
  for (let i = 0; i < warmup - 1; i++) await thawStep(rt, step)();
  const d0 = rt.dispatches, t0 = performance.now();
  await thawStep(rt, step)();
  const dispatches = rt.dispatches - d0, est = performance.now() - t0;
  const runs = Math.max(3, Math.min(maxRuns, Math.floor((secondsLeft() * 1000 * 0.8) / Math.max(est, 1e-3))));
  return { t: await time(thawStep(rt, step), runs, 0), dispatches };
}

/** Runs the benchmark; returns what it writes to the results file. */
export async function run(o: GpuBenchOptions = {}): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const quick = !!o.quick;
  const budgetS = o.budgetS ?? 420;
  const elapsed = () => (performance.now() - t0) / 1000;
  const left = () => budgetS - elapsed();
  const want = (s: Section) => !o.only || o.only.includes(s);
  const runs = quick ? 5 : benchRuns();

  const rt = await initThaw();
  const i = rt.gpu.info;
  const name = [i.device, i.description].filter(Boolean).join(' ');
  const peak = peakFor(name, o.peakTflops);
  const adapter = {
    label: adapterLabel(rt), vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
    backend: i.backend, vulkanDriver: i.backend === 'dawn-node' ? process.env.VK_ICD_FILENAMES ?? 'system default' : null,
    kind: i.kind, isSoftware: i.isSoftware, tuning: rt.tuningName, peakTflopsF32: peak.tflops, peakSource: peak.source,
  };
  const sections: Partial<Record<Section, SectionResult>> = {};
  const report = { quick, budgetS, elapsedS: 0, adapter, sections };
  const label = fileLabel(rt);
  const save = () => { report.elapsedS = elapsed(); return writeResults(rt, 'gpu', report, { label, file: o.out }); };

  console.log(`thaw GPU benchmark${quick ? ' (quick: small sizes, few runs)' : ''}, budget ${budgetS} s`);
  printTable('adapter', ['field', 'value'], [
    ['vendor', i.vendor || '-'], ['architecture', i.architecture || '-'], ['device', i.device || '-'], ['driver (description)', i.description || '-'],
    ['backend', `${i.backend}${adapter.vulkanDriver ? ` (Vulkan driver: ${adapter.vulkanDriver})` : ''}`], ['kind', i.kind],
    ['software adapter', i.isSoftware ? 'yes' : 'no'], ['kernel tuning', `${rt.tuningName} (engine/core/tuning.ts; THAW_TUNING)`], ['f32 peak', peak.tflops === null ? 'unknown (--peak-tflops N)' : `${peak.tflops} TFLOP/s (${peak.source})`],
  ]);
  if (i.isSoftware && !quick) console.log('\nnote: a software adapter; the full sizes take hours here, use --quick');

  /** Runs one section: skipped when the budget is spent, errors recorded (and the run goes on). */
  const section = async (s: Section, body: () => Promise<SectionResult>) => {
    if (!want(s)) return;
    if (left() <= 0) {
      sections[s] = { status: 'skipped: time budget' };
      console.log(`\n${s}: skipped: time budget`);
      save();
      return;
    }
    try {
      sections[s] = await body();
    } catch (e) {
      const err = e as Error;
      sections[s] = { status: 'error', error: err.message };
      console.log(`\n${s}: error: ${err.stack ?? err.message}`);
    }
    save();
  };

  // First: it takes a second or two, and a run that spends its budget on the big sections still has it.
  await section('dispatch', async () => {
    const ops = quick ? 200 : 2000;
    const r = await tinyOps(rt, ops, runs);
    const stepRuns = resnetRuns(runs, quick);
    const step = await resnet20Step(rt, stepRuns, quick ? 1 : undefined);
    const name = `ResNet-20 step (batch ${RESNET_BATCH})`;
    const modes = [['eager', 'eager', step.eager], ['eager, one submit', 'eagerOneSubmit', step.oneSubmit],
      ['replayed', 'replayed', step.replayed], ['replayed, not submitted', 'replayNoSubmit', step.replayNoSubmit],
      ['Dawn alone, the replay\'s pipeline order (6 buffers each)', 'dawnFloor', step.dawnFloor]] as const;
    printTable(`host cost per dispatch (bench/dispatch.ts: ${ops} adds of 64 elements, a ${name}; best of ${runs}, the step's of ${stepRuns})`,
      ['case', 'mode', 'dispatches', 'encode µs/dispatch', 'total µs/dispatch'],
      [[`tiny op x${ops}`, 'eager', r.n, r.encodeUs, r.totalUs], ...modes.map(([mode, , t]) => [name, mode, t.n, t.encodeUs, t.totalUs])]);
    return {
      status: 'ok', ops, dispatches: r.n, eager: { encodeUs: r.encodeUs, totalUs: r.totalUs },
      resnet20: { case: name, ...Object.fromEntries(modes.map(([, key, t]) => [key, { dispatches: t.n, encodeUs: t.encodeUs, totalUs: t.totalUs }])) },
    };
  });

  await section('matmul', async () => {
    const sizes = o.sizes ?? (quick ? [256, 512] : [512, 1024, 2048, 4096]);
    const rows: Record<string, unknown>[] = [];
    const skipped: number[] = [];
    for (const n of sizes) {
      if (left() <= 0) { skipped.push(n); continue; }
      const [r] = await matmulRun({ sizes: [n], print: false });
      const pct = peak.tflops === null ? null : (100 * r.thawGflops) / (peak.tflops * 1000);
      rows.push({ size: n, kernel: r.variant, thawMs: r.thawMs, tfjsMs: r.tfjsMs, thawGflops: r.thawGflops, tfjsGflops: r.tfjsGflops, speedup: r.ratio, pctOfPeak: pct });
    }
    printTable(`matmul f32 (GFLOP/s, median of ${benchRuns()} timed steps; speedup = thaw / tfjs)`,
      ['size', 'thaw GFLOP/s', 'tfjs GFLOP/s', 'speedup', 'thaw % of f32 peak'],
      [...rows.map((r: any) => [`${r.size}x${r.size}x${r.size}`, r.thawGflops, r.tfjsGflops, `${r.speedup.toFixed(2)}x`, fmtPct(r.pctOfPeak)]),
        ...skipped.map((n) => [`${n}x${n}x${n}`, 'skipped: time budget', '', '', ''])]);
    return { status: skipped.length ? 'partial: time budget' : 'ok', rows, skipped };
  });

  await section('conv', async () => {
    const batch = quick ? 1 : 8;
    const rows: Record<string, unknown>[] = [];
    const skipped: string[] = [];
    for (const L of CONV_LAYERS) {
      if (left() <= 0) { skipped.push(L.name); continue; }
      for (const r of await convRun({ quick, batch, layers: [L.name], print: false })) {
        rows.push({ layer: r.layer, op: r.op, kernel: r.kernel, thawMs: r.thawMs.median, tfjsMs: r.tfjsMs?.median ?? null,
          thawGflops: r.thawGflops, tfjsGflops: r.tfjsGflops, speedup: r.speedup });
      }
    }
    printTable(`conv2d f32, batch ${batch} (bench/conv.ts layers; ms, medians; speedup = tfjs ms / thaw ms)`,
      ['layer', 'op', 'thaw kernel', 'thaw ms', 'tfjs ms', 'thaw GFLOP/s', 'tfjs GFLOP/s', 'speedup'],
      [...rows.map((r: any) => [r.layer, r.op, r.kernel, r.thawMs, r.tfjsMs ?? '-', r.thawGflops, r.tfjsGflops ?? '-', r.speedup === null ? '-' : `${r.speedup.toFixed(2)}x`]),
        ...skipped.map((l) => [l, '', '', 'skipped: time budget', '', '', '', ''])]);
    return { status: skipped.length ? 'partial: time budget' : 'ok', batch, rows, skipped };
  });

  await section('resnet50', async () => {
    const S = quick ? 64 : 224, B = quick ? 2 : 32;
    const model = resnet50().train();
    const x = tensor(randomData(B * 3 * S * S), [B, 3, S, S]);
    const y = tensor(Int32Array.from({ length: B }, (_, k) => k % 1000), [B], 'i32');
    const rows: Record<string, unknown>[] = [];
    const skipped: string[] = [];
    try {
      const variants: [string, () => void][] = [
        ['trunk frozen to layer3', () => { freeze(model, ['conv1', 'bn1', 'layer1', 'layer2', 'layer3']); }],
        ['fully trainable', () => {}],
      ];
      for (const [what, setup] of variants) {
        if (left() <= 0) { skipped.push(what); continue; }
        unfreeze(model, '*');
        setup();
        const opt = new SGD(model.trainableParameters(), { lr: 0.01, momentum: 0.9 });
        try {
          const step = () => {
            tidy(() => { backward(crossEntropy(model.forward(x), y)); return undefined; });
            opt.step();
            opt.zeroGrad();
          };
          const { t, dispatches } = await timeWithin(rt, step, left, runs);
          rows.push({ case: what, trainableTensors: model.trainableParameters().length, msPerStep: t.median, minMs: t.min, runs: t.runs.length,
            imagesPerSec: (B * 1000) / t.median, dispatchesPerStep: dispatches });
        } finally {
          opt.dispose();
        }
      }
    } finally {
      x.dispose(); y.dispose(); model.dispose();
    }
    const tfjs = 'n/a: bench/ has no TF.js ResNet-50 and TF.js ships none (tfjs-layers has no applications); the peer is timed per conv layer above';
    printTable(`ResNet-50 training step (torchvision keys, ${S} px, batch ${B}, SGD momentum; ms, median)`,
      ['trunk', 'trainable tensors', 'ms/step', 'best ms', 'img/s', 'dispatches/step', 'tfjs'],
      [...rows.map((r: any) => [r.case, String(r.trainableTensors), r.msPerStep, r.minMs, r.imagesPerSec, String(r.dispatchesPerStep), 'n/a']),
        ...skipped.map((c) => [c, '', 'skipped: time budget', '', '', '', ''])]);
    console.log(`tfjs: ${tfjs}`);
    return { status: skipped.length ? 'partial: time budget' : 'ok', size: S, batch: B, rows, skipped, tfjs };
  });

  await section('bert', async () => {
    const [cfgName, base, T, B] = quick ? ['BERT-tiny', BERT_TINY, 32, 2] as const : ['BERT-base', BERT_BASE, 128, 8] as const;
    const V = base.vocabSize;
    const model = new BertForSequenceClassification({ ...base, maxPositions: Math.max(512, T), seed: 1 }, 2).train();
    const x = bertBatch(B, T, V);
    const opt: Optimizer<any> = new AdamW(model.trainableParameters(), { lr: 2e-5 });
    try {
      const step = () => {
        tidy(() => { backward(crossEntropy(model.forward(x.ids, x.mask, x.types), x.labels)); return undefined; });
        opt.step();
        opt.zeroGrad();
      };
      const { t, dispatches } = await timeWithin(rt, step, left, runs);
      const row = { model: cfgName, seq: T, batch: B, attention: model.bert.config.attention, msPerStep: t.median, minMs: t.min, runs: t.runs.length,
        tokensPerSec: (B * T * 1000) / t.median, dispatchesPerStep: dispatches };
      printTable(`${cfgName} fine-tuning step (seq ${T}, batch ${B}; forward, loss, backward, AdamW; ms, median)`,
        ['model', 'ms/step', 'best ms', 'tokens/s', 'dispatches/step'], [[cfgName, row.msPerStep, row.minMs, row.tokensPerSec, String(row.dispatchesPerStep)]]);
      return { status: 'ok', ...row };
    } finally {
      opt.dispose();
      for (const v of Object.values(x) as Tensor[]) v.dispose();
      model.dispose();
    }
  });

  const file = save();
  console.log(`\ntotal ${elapsed().toFixed(0)} s; wrote ${file}`);
  return report;
}

function parseArgs(argv: string[]): GpuBenchOptions {
  const o: GpuBenchOptions = {};
  const num = (a: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`bench/gpu.ts: ${a} needs a positive number, got ${v}`);
    return n;
  };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (a === '--quick') o.quick = true;
    else if (a === '--budget-s') o.budgetS = num(a, argv[++k]);
    else if (a === '--peak-tflops') o.peakTflops = num(a, argv[++k]);
    else if (a === '--sizes') o.sizes = (argv[++k] ?? '').split(',').map((v) => num(a, v));
    else if (a === '--out') o.out = path.resolve(argv[++k] ?? '');
    else if (a === '--only') {
      const names = (argv[++k] ?? '').split(',').map((s) => (s === 'resnet' ? 'resnet50' : s));
      const bad = names.filter((s) => !(SECTIONS as readonly string[]).includes(s));
      if (bad.length) throw new Error(`bench/gpu.ts: unknown section ${bad.join(', ')} (sections: ${SECTIONS.join(', ')})`);
      o.only = names as Section[];
    } else throw new Error(`bench/gpu.ts: unknown argument ${a} (expected --quick, --budget-s S, --peak-tflops N, --only ${SECTIONS.join(',')}, --sizes a,b, --out FILE)`);
  }
  return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const report = await run(parseArgs(process.argv.slice(2)));
  const failed = Object.entries(report.sections as Record<string, SectionResult>).filter(([, r]) => r.status === 'error');
  if (failed.length) console.log(`failed sections: ${failed.map(([s]) => s).join(', ')}`);
  process.exit(failed.length ? 1 : 0);
}
