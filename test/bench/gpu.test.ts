// bench/gpu.ts as a user runs it (a child process: it loads TF.js, which must not leak into the other
// suites): the results file has the adapter, the matmul rows and the dispatch figures, and a spent
// time budget skips sections instead of running them. No timing is asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakFor } from '../../bench/gpu.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function gpuBench(args: string[]): { code: number; out: string; json: any } {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-gpu-bench-'));
  try {
    const out = join(dir, 'gpu.json');
    const r = spawnSync(process.execPath, [join(root, 'bench', 'gpu.ts'), ...args, '--out', out], { cwd: root, encoding: 'utf8', env: { ...process.env, BENCH_RUNS: '5' } });
    if (r.error) throw r.error;
    assert.is(r.status, 0, r.stdout + r.stderr);
    return { code: r.status ?? -1, out: r.stdout, json: JSON.parse(readFileSync(out, 'utf8')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('peak table: specific variants first, --peak-tflops overrides, unknown otherwise', () => {
  assert.equal(peakFor('NVIDIA H100 80GB HBM3'), { tflops: 67, source: 'table: H100 SXM' });
  assert.is(peakFor('NVIDIA H100 PCIe').tflops, 51.2);
  assert.is(peakFor('NVIDIA H200').tflops, 67);
  assert.is(peakFor('NVIDIA L4').tflops, 30.3);
  // Dawn on Vulkan: the name as a slug.
  assert.is(peakFor('nvidia-h100-pcie NVIDIA: 550.54.15').tflops, 51.2);
  assert.is(peakFor('nvidia-geforce-rtx-4090').tflops, 82.6);
  assert.is(peakFor('nvidia-a100-sxm4-80gb').tflops, 19.5);
  assert.is(peakFor('nvidia-a10').tflops, 31.2);
  assert.is(peakFor('NVIDIA L40S').tflops, 91.6);
  assert.equal(peakFor('llvmpipe (LLVM 15.0.6, 256 bits)'), { tflops: null, source: 'unknown' });
  assert.equal(peakFor('llvmpipe', 1.5), { tflops: 1.5, source: '--peak-tflops' });
});

test('--quick --only matmul,dispatch: adapter, matmul rows and dispatch figures in the JSON', () => {
  const { out, json } = gpuBench(['--quick', '--only', 'matmul,dispatch', '--sizes', '64']);
  const r = json.results;
  for (const k of ['vendor', 'architecture', 'description', 'backend', 'kind', 'isSoftware', 'tuning', 'peakSource']) assert.ok(k in r.adapter, k);
  assert.is(typeof r.adapter.isSoftware, 'boolean');
  assert.is(r.sections.matmul.status, 'ok');
  const [m] = r.sections.matmul.rows;
  assert.is(m.size, 64);
  for (const k of ['thawGflops', 'tfjsGflops', 'speedup', 'thawMs', 'tfjsMs']) assert.ok(m[k] > 0, k);
  assert.ok('pctOfPeak' in m);
  assert.is(r.sections.dispatch.status, 'ok');
  assert.ok(r.sections.dispatch.eager.encodeUs > 0 && r.sections.dispatch.eager.totalUs > 0);
  const step = r.sections.dispatch.resnet20;
  for (const mode of ['eager', 'eagerOneSubmit', 'replayed', 'replayNoSubmit', 'dawnFloor']) assert.ok(step[mode].encodeUs > 0 && step[mode].totalUs > 0, mode);
  assert.ok(step.replayed.dispatches > 0 && step.replayed.dispatches === step.eager.dispatches, 'a replay issues the eager step\'s dispatches');
  assert.is(step.replayNoSubmit.dispatches, step.replayed.dispatches, 'the replay encoded alone has its dispatches');
  assert.is(step.dawnFloor.dispatches, step.replayed.dispatches, 'Dawn\'s floor issues as many dispatches as the replay');
  assert.not.ok('conv' in r.sections, 'sections left out by --only do not run');
  assert.match(out, /matmul f32/);
  assert.match(out, /ResNet-20 step \(batch 8\) +replayed +\d+ +[\d.]+/);
});

test('a spent --budget-s skips the sections and says so', () => {
  const { out, json } = gpuBench(['--quick', '--only', 'matmul,bert', '--budget-s', '0.001']);
  assert.is(json.results.sections.matmul.status, 'skipped: time budget');
  assert.is(json.results.sections.bert.status, 'skipped: time budget');
  assert.match(out, /matmul: skipped: time budget/);
});

test.run();
