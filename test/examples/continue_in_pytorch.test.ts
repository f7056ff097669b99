// examples/continue_in_pytorch.py on weights thaw trained: thaw fine-tunes a ResNet-20 (every layer,
// so weights and BatchNorm statistics move), saves it as a `thaw finetune` does (stateToHost +
// writeSafetensors; also as a .pt through writePytorchZip) with a check file of images and thaw's
// eval-mode logits; the example loads each into the PyTorch module with strict=True, must agree on
// the logits, and runs one two-process DistributedDataParallel step (gloo). Skips without torch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from '../../engine/core/runtime.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad } from '../../engine/core/tensor.ts';
import { loadStateDict, stateToHost } from '../../engine/train/load.ts';
import { finetune } from '../../engine/train/finetune.ts';
import { writeSafetensors, writePytorchZip, type HostTensor } from '../../engine/io/index.ts';
import { loadCheckpointFile, saveAtomic } from '../../engine/io/fs.ts';
import { Rng, randn } from '../../engine/data/rng.ts';
import type { Dataset } from '../../engine/data/dataset.ts';
import { fetchModel } from '../../models/zoo_fetch.ts';
import { resnet20 } from '../../models/resnet_cifar.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PYTHON = '/usr/bin/python3';
const EXAMPLE = join(root, 'examples', 'continue_in_pytorch.py');

function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is not there (${r.error.message})`;
  return r.status === 0 ? null : `${PYTHON} cannot import torch and numpy (${r.stderr.trim().split('\n').at(-1)}; Debian: apt-get install python3-torch python3-numpy)`;
}

interface Summary { tensors: number; max_abs_diff: number; max_rel_diff: number; top1_agree: number; images: number; ddp_losses?: number[]; ddp_params_agree?: boolean }

/** Runs the example; returns its human lines and its JSON summary. */
function runExample(args: string[]): { lines: string[]; summary: Summary } {
  const r = spawnSync(PYTHON, [EXAMPLE, ...args, '--json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) assert.unreachable(`continue_in_pytorch.py ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return { lines: lines.slice(0, -1), summary: JSON.parse(lines.at(-1)!) };
}

test('thaw-trained ResNet-20 → PyTorch: strict load, logits agree, a DDP step on two processes', async () => {
  const missing = torchMissing();
  if (missing) { console.log(`  skipped: ${missing}`); return; }
  await init();
  const rng = new Rng(12);
  const model = resnet20(10, () => rng.next());
  // Start from the pre-trained checkpoint when a local copy is at hand (no download in a test).
  const tmp = mkdtempSync(join(tmpdir(), 'thaw-torch-'));
  try {
    let from = 'random initialisation';
    try {
      const m = await fetchModel('resnet20-cifar10', { cacheDir: join(tmp, 'cache'), offline: true });
      const path = m.files['resnet20-12fca82f.th'];
      loadStateDict(model, (await loadCheckpointFile(path)).tensors, { remap: ['strip-module'] });
      from = path;
    } catch { /* no local copy: random weights are as good for this check */ }
    model.replaceHead(10, () => rng.next());

    // Fine-tune every layer for a few steps on seeded random data, so nothing is left as loaded.
    const C = 3 * 32 * 32;
    const trainX = randn(32 * C, rng);
    const trainY = Int32Array.from({ length: 32 }, () => rng.int(10));
    const train: Dataset = { length: 32, get: (i) => ({ x: trainX.subarray(i * C, (i + 1) * C), y: trainY[i] }) };
    const res = await finetune(model, train, null, { epochs: 1, batchSize: 8, lr: 0.02, numClasses: 10, featureCache: 'off', seed: 3 });
    console.log(`  thaw: fine-tuned from ${from}, ${res.epochs.length} epoch of 4 steps, loss ${res.epochs[0].loss.toFixed(4)}`);

    // thaw's logits in eval mode on images the example has not seen.
    const N = 8;
    const images = randn(N * C, rng);
    model.eval();
    const y = noGrad(() => tidy(() => model.forward(tensor(images, [N, 3, 32, 32]))));
    const logits = await y.data() as Float32Array;
    y.dispose();
    const labels = Int32Array.from({ length: N }, () => rng.int(10));

    const state = await stateToHost(model);
    const weights = join(tmp, 'weights.safetensors'), pt = join(tmp, 'weights.pt'), check = join(tmp, 'check.safetensors');
    await saveAtomic(weights, writeSafetensors(state, { model: 'resnet20-cifar10' }));
    await saveAtomic(pt, writePytorchZip(state));
    await saveAtomic(check, writeSafetensors(new Map<string, HostTensor>([
      ['images', { dtype: 'f32', shape: [N, 3, 32, 32], data: images }],
      ['logits', { dtype: 'f32', shape: [N, 10], data: logits }],
      ['labels', { dtype: 'i64', shape: [N], data: labels }],
    ])));
    model.dispose();

    const st = runExample([weights, '--check', check]);
    console.log(st.lines.map((l) => `  python: ${l}`).join('\n'));
    const s = st.summary;
    assert.is(s.tensors, state.size, 'every tensor of the state went through load_state_dict(strict=True)');
    assert.is(s.images, N);
    assert.ok(s.max_rel_diff < 1e-4, `logits agree within 1e-4 of the largest |logit| (got ${s.max_rel_diff})`);
    assert.is(s.ddp_losses!.length, 2, 'both ranks reported a loss');
    assert.ok(s.ddp_losses!.every(Number.isFinite), `finite DDP losses (${s.ddp_losses})`);
    assert.ok(s.ddp_params_agree, 'both ranks end the DDP step with the same parameters');

    const fromPt = runExample([pt, '--check', check, '--no-ddp']);
    console.log(fromPt.lines.map((l) => `  python (.pt): ${l}`).join('\n'));
    assert.is(fromPt.summary.tensors, state.size);
    assert.ok(fromPt.summary.max_rel_diff < 1e-4, `.pt logits agree (got ${fromPt.summary.max_rel_diff})`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
