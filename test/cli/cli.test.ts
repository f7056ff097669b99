// The thaw CLI end to end, as a user runs it: `node bin/thaw.mjs ...` on the current sources (bundled once, helpers.ts), checking
// exit codes (0 ok, 1 runtime failure, 2 usage error), what goes to stdout and stderr, and files.
// Runs with a temp zoo cache and THAW_OFFLINE=1, so nothing is downloaded and ~/.cache is untouched.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runThaw, ROOT as root } from './helpers.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { loadCheckpointFile } from '../../engine/io/fs.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { ZOO } from '../../models/zoo.ts';
import { sha256File } from '../../models/zoo_fetch.ts';

const test = suite('cli');
const SHARED = join(root, '..', 'shared');
const RESNET = join(SHARED, 'checkpoints', 'resnet20-cifar10');
const CHELSEA = join(SHARED, 'images', 'chelsea.png');
const haveShared = existsSync(join(RESNET, 'resnet20-12fca82f.th')) && existsSync(CHELSEA);
const NSFW = join(root, 'node_modules', 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
const pkgVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

let tmp = '';
test.before(() => { tmp = mkdtempSync(join(tmpdir(), 'thaw-cli-')); });
test.after(() => { rmSync(tmp, { recursive: true, force: true }); });

/** Runs the CLI; returns exit code, stdout and stderr (as the user sees them: bin/thaw.mjs drops Dawn's known-harmless warnings). */
const thaw = (args: string[], env: Record<string, string> = {}) => runThaw(tmp, args, env);

/** Asserts a failure the user sees as one line on stderr (no stack trace) matching `re`, with `code`, before any work (nothing on stdout). */
function failsEarly(r: { code: number; out: string; err: string }, code: number, re: RegExp, what = ''): void {
  assert.is(r.code, code, `${what}: ${r.err}`);
  assert.ok(re.test(r.err.trimEnd()), `${what}: ${r.err} does not match ${re}`);
  assert.is(r.err.trimEnd().split('\n').length, 1, `${what}: one line, got:\n${r.err}`);
  assert.not.match(r.err, /unexpected error|\n\s+at /, what);
  assert.is(r.out, '', `${what}: no work was done (nothing printed), got:\n${r.out}`);
}

/** A small image folder: `counts[class]` 8x8 PNGs per class. */
function classFolder(name: string, counts: Record<string, number>): string {
  const dir = join(tmp, name);
  for (const [cls, n] of Object.entries(counts)) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < n; i++) {
      const im = new PNG({ width: 8, height: 8 });
      im.data.fill(20 * i + 3);
      writeFileSync(join(dir, cls, `${i}.png`), PNG.sync.write(im));
    }
  }
  return dir;
}

const skip = (why: string) => console.log(`  skipped: ${why}`);

test('--help, no arguments, --version', () => {
  const h = thaw(['--help']);
  assert.is(h.code, 0);
  for (const c of ['info', 'fetch', 'inspect', 'finetune', 'predict', 'bench']) assert.match(h.out, new RegExp(`\\n  ${c} +\\S`), c);
  assert.match(h.out, /Run 'thaw <command> --help'/);
  const none = thaw([]);
  assert.is(none.code, 2, 'no command is a usage error');
  assert.match(none.out, /Usage: thaw <command>/);
  const v = thaw(['--version']);
  assert.is(v.code, 0);
  assert.is(v.out.trim(), pkgVersion);
  // ... read from package.json (bundled into dist/cli.js), not a copy in the sources that could go stale.
  assert.not.match(readFileSync(join(root, 'cli', 'main.ts'), 'utf8'), /['"]\d+\.\d+\.\d+['"]/, 'cli/main.ts hard-codes a version');
});

test('per-command --help has options and examples', () => {
  for (const c of ['predict', 'fetch']) {
    const r = thaw([c, '--help']);
    assert.is(r.code, 0, c);
    assert.match(r.out, `Usage: thaw ${c}`);
    assert.match(r.out, /Examples:\n {2}/);
  }
  assert.match(thaw(['inspect', '-h']).out, /--filter/);
});

test('unknown command or option: exit 2 with the nearest name', () => {
  const c = thaw(['predcit', 'x.png']);
  assert.is(c.code, 2);
  assert.match(c.err, /unknown command 'predcit'\. Did you mean 'predict'\?/);
  assert.is(c.out, '');
  const o = thaw(['inspect', '--jsn', 'x.th']);
  assert.is(o.code, 2);
  assert.match(o.err, /unknown option --jsn\. Did you mean 'json'\?/);
  const b = thaw(['bench', 'convv']);
  assert.is(b.code, 2);
  assert.match(b.err, /unknown benchmark 'convv'\. Did you mean 'conv'\?/);
  const m = thaw(['predict', '--model', 'resnet20-cifar', 'x.png']);
  assert.is(m.code, 2);
  assert.match(m.err, /unknown model 'resnet20-cifar' \(--model\)\. Did you mean 'resnet20-cifar10'/);
  const n = thaw(['predict', '--top', '0', 'x.png']);
  assert.is(n.code, 2);
  assert.match(n.err, /--top must be a positive integer/);
  const ls = thaw(['finetune', '--label-smoothing', '1.5']);
  assert.is(ls.code, 2);
  assert.match(ls.err, /--label-smoothing must be in \[0, 1\), got 1\.5/);
  const lm = thaw(['finetune', '--lr', '0.01', '--lr-min', '0.1']);
  assert.is(lm.code, 2);
  assert.match(lm.err, /--lr-min must be > 0 and at most --lr \(0\.01\), got 0\.1/);
  assert.is(thaw(['predict']).code, 2, 'predict without images');
  assert.is(thaw(['inspect']).code, 2, 'inspect without a file');
});

test('missing or unreadable files: exit 1, the file named', () => {
  const img = thaw(['predict', '--weights', 'resnet20-cifar10', join(tmp, 'no-such-cat.png')]);
  assert.is(img.code, 1);
  assert.match(img.err, /image '.*no-such-cat\.png': no such file/);
  const notImg = join(tmp, 'notes.png');
  writeFileSync(notImg, 'hello');
  const bad = thaw(['predict', '--weights', 'resnet20-cifar10', notImg]);
  assert.is(bad.code, 1);
  assert.match(bad.err, /notes\.png: not a PNG or JPEG file/);
  const ck = thaw(['inspect', join(tmp, 'missing.safetensors')]);
  assert.is(ck.code, 1);
  assert.match(ck.err, /cannot read '.*missing\.safetensors': no such file/);
  const png = join(tmp, 'tiny.png');
  const im = new PNG({ width: 2, height: 2 });
  im.data.fill(128);
  writeFileSync(png, PNG.sync.write(im));
  const w = thaw(['predict', '--weights', 'resnet20-cifar1', png]);
  assert.is(w.code, 1);
  assert.match(w.err, /--weights 'resnet20-cifar1': no such file\. Did you mean 'resnet20-cifar10'/);
  const lf = thaw(['predict', '--labels-file', join(tmp, 'labels.txt'), '--weights', 'resnet20-cifar10', png]);
  assert.is(lf.code, 1);
  assert.match(lf.err, /--labels-file '.*labels\.txt': no such file/);
});

test('finetune checks --out before any work: /proc, /sys, a file in the way, a file as a parent', () => {
  const data = classFolder('out-data', { cat: 2, dog: 2 });
  const weights = join(tmp, 'any-weights.safetensors');
  writeFileSync(weights, 'not parsed before the paths are checked');
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const cases: [string, RegExp][] = [
    [file, /^thaw finetune: --out: cannot create the folder '.*a-file': a file is already there \(EEXIST\); give --out a folder you can write to/],
    [join(file, 'sub'), /^thaw finetune: --out: cannot read '.*a-file\/sub': a part of the path is a file, not a folder \(ENOTDIR\)/],
  ];
  if (process.platform === 'linux') {
    // /proc used to hang forever (Node's recursive mkdir spins there), /sys ended in a stack trace, both after the whole run.
    cases.push(['/proc/thaw-out', /^thaw finetune: --out: cannot create the folder '\/proc\/thaw-out': its parent does not accept new folders .*\(ENOENT\)/]);
    cases.push(['/sys/thaw-out', /^thaw finetune: --out: cannot create the folder '\/sys\/thaw-out': .*\((EPERM|EACCES|EROFS)\)/]);
  }
  for (const [out, re] of cases) {
    failsEarly(thaw(['finetune', '--weights', weights, '--data', data, '--labels-per-class', '1', '--epochs', '1', '--out', out]), 1, re, out);
  }
  // With THAW_DEBUG=1 the same failure brings its stack trace.
  const d = thaw(['finetune', '--weights', weights, '--data', data, '--labels-per-class', '1', '--out', file], { THAW_DEBUG: '1' });
  assert.is(d.code, 1);
  assert.match(d.err, /^thaw finetune: --out: cannot create the folder .*\nThawError: .*\n +at /);
});

test('finetune checks every option and input path before any work', () => {
  const data = classFolder('opt-data', { cat: 7, dog: 12 });
  const weights = join(tmp, 'opt-weights.safetensors');
  writeFileSync(weights, 'x');
  const out = join(tmp, 'opt-out');
  const base = ['finetune', '--weights', weights, '--data', data, '--labels-per-class', '5', '--out', out];
  failsEarly(thaw([...base, '--freeze', '/[/']), 2,
    /^thaw finetune: --freeze: freeze spec '\/\[\/' is not a valid regular expression \(.*Unterminated character class\); write \/pattern\//, 'freeze');
  failsEarly(thaw([...base, '--labels-per-class', '20']), 2,
    /^thaw finetune: --labels-per-class 20: class 'cat' has only 7 images; lower --labels-per-class to at most 7/, 'labels per class');
  failsEarly(thaw([...base, '--optimizer', 'rmsprop']), 2, /^thaw finetune: unknown --optimizer 'rmsprop'\. Choose from sgd, adam, adamw\.$/, 'optimizer');
  failsEarly(thaw([...base, '--schedule', 'cosin']), 2, /unknown --schedule 'cosin'\. Did you mean 'cosine'\?/, 'schedule');
  failsEarly(thaw([...base, '--model', 'resnet20']), 2, /^thaw finetune: unknown --model 'resnet20'\. Did you mean 'resnet20-cifar10'\? Choose from resnet20-cifar10, mobilenetv2-nsfwjs, darknet-tiny, vit-b-16, convnext-tiny, efficientnet-b0, mobilenet-v3-small, mobilenet-v3-large\.$/, 'model');
  failsEarly(thaw([...base, '--eval-every', '0']), 2, /--eval-every must be a positive integer, got 0/, 'eval-every');
  failsEarly(thaw([...base, '--seed', '1.5']), 2, /--seed must be an integer, got 1\.5/, 'seed');
  failsEarly(thaw([...base, '--precision', 'f16']), 2, /^thaw finetune: --precision f16 \(weights in f16 without f32 masters\) is not offered: .*; use --precision mixed$/, 'precision f16');
  failsEarly(thaw([...base, '--precision', 'bf16']), 2, /--precision must be f32 or mixed, got bf16/, 'precision');
  failsEarly(thaw([...base, '--head-epochs', '2', '--freeze', 'conv1']), 2, /--head-epochs needs --freeze to be a depth/, 'head-epochs');
  failsEarly(thaw(['finetune', '--weights', '--data', data]), 2, /--weights needs a value, but the next argument is the option --data/, 'missing value');
  failsEarly(thaw([...base, '--max-pixels', '0']), 2, /--max-pixels must be a positive integer/, 'max-pixels');
  failsEarly(thaw(base, { THAW_MAX_PIXELS: 'lots' }), 2, /THAW_MAX_PIXELS must be a positive integer .*got 'lots'/, 'THAW_MAX_PIXELS');
  failsEarly(thaw([...base, '--weights', join(tmp, 'nope.pt')]), 1, /^thaw finetune: --weights '.*nope\.pt': no such file; give a checkpoint file/, 'weights');
  failsEarly(thaw([...base, '--weights', 'darknet-tiny']), 1, /--weights 'darknet-tiny': no such file \(to fine-tune the zoo's darknet-tiny, pass --model darknet-tiny without --weights\)/, 'zoo name');
  failsEarly(thaw([...base, '--data', join(tmp, 'no-data')]), 1, /^thaw finetune: --data '.*no-data': no such folder \(give 'fashion-mnist' or a folder with one subfolder per class\)$/, 'data');
  failsEarly(thaw([...base, '--data', weights]), 1, /--data '.*' is a file, not a folder/, 'data file');
  // A symbolic link loop in the data folder used to end in a stack trace (ELOOP) during training.
  symlinkSync('loop.png', join(data, 'cat', 'loop.png'));
  failsEarly(thaw(base), 1, /^thaw finetune: image folder .*opt-data: cannot read '.*cat\/loop\.png': a symbolic link loop .*\(ELOOP\); fix or remove the link$/, 'ELOOP');
  rmSync(join(data, 'cat', 'loop.png'));
  symlinkSync('self', join(tmp, 'self'));
  failsEarly(thaw([...base, '--data', join(tmp, 'self')]), 1, /^thaw finetune: --data: cannot read '.*self': a symbolic link loop/, 'ELOOP root');
  assert.not.ok(existsSync(out), 'nothing was created for a run that cannot start');
});

test('predict, inspect and fetch check their paths first; refused files say what they are', () => {
  const png = join(tmp, 'cap.png');
  const im = new PNG({ width: 40, height: 30 });
  im.data.fill(9);
  writeFileSync(png, PNG.sync.write(im));
  failsEarly(thaw(['predict', '--weights', 'resnet20-cifar10', '--max-pixels', '1000', png]), 1,
    /^thaw predict: .*cap\.png: the image is 40×30 pixels \(1200 pixels\), above thaw's cap of 1000 pixels per image .*--max-pixels 1200 or THAW_MAX_PIXELS=1200/, 'cap');
  failsEarly(thaw(['predict', '--weights', 'resnet20-cifar10', png], { THAW_MAX_PIXELS: '1000' }), 1, /cap of 1000 pixels/, 'cap env');
  symlinkSync('loop.png', join(tmp, 'loop.png'));
  failsEarly(thaw(['predict', '--weights', 'resnet20-cifar10', join(tmp, 'loop.png')]), 1, /^thaw predict: image: cannot read '.*loop\.png': a symbolic link loop/, 'image ELOOP');
  failsEarly(thaw(['predict', '--weights', join(tmp, 'loop.png'), png]), 1, /^thaw predict: --weights: cannot read '.*loop\.png': a symbolic link loop/, 'weights ELOOP');
  failsEarly(thaw(['inspect', join(tmp, 'loop.png')]), 1, /^thaw inspect: checkpoint: cannot read '.*loop\.png': a symbolic link loop/, 'inspect ELOOP');
  if (process.platform === 'linux') {
    failsEarly(thaw(['fetch', 'resnet20-cifar10', '--cache', '/proc/thaw-cache']), 1, /^thaw fetch: --cache: cannot create the folder '\/proc\/thaw-cache': .*; choose a writable cache folder with --cache DIR or \$THAW_CACHE$/, 'cache');
    failsEarly(thaw(['predict', '--weights', 'resnet20-cifar10', png], { THAW_CACHE: '/sys/thaw-cache' }), 1, /^thaw predict: \$THAW_CACHE: cannot create the folder '\/sys\/thaw-cache'/, 'THAW_CACHE');
  }
  const empty = join(tmp, 'empty.safetensors');
  writeFileSync(empty, '');
  failsEarly(thaw(['inspect', empty]), 1, /^thaw inspect: 'empty\.safetensors' is empty \(0 bytes\)/, 'empty');
  failsEarly(thaw(['inspect', join(root, 'test', 'fixtures', 'io', 'whole_module_zip.pt')]), 1, /torch\.save\(model\.state_dict\(\), path\)/, 'whole module');
});

test('serve: a busy port is one line, before building anything', async () => {
  const { createServer } = await import('node:net');
  const busy = createServer();
  await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', ok));
  const port = (busy.address() as { port: number }).port;
  try {
    // spawnSync would block this process, which holds the port; the child must run while we listen.
    const { spawn } = await import('node:child_process');
    const { NODE_OPTIONS: _, ...base } = process.env;
    const child = spawn(process.execPath, [join(root, 'bin', 'thaw.mjs'), 'serve', '--port', String(port)], { cwd: root, env: { ...base, THAW_CACHE: join(tmp, 'cache') } });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const code = await new Promise<number>((ok) => child.on('close', (c) => ok(c ?? -1)));
    failsEarly({ code, out, err }, 1, new RegExp(`^thaw serve: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use \\(EADDRINUSE\\); pick another port`));
  } finally {
    busy.close();
  }
});

test("Dawn's known-harmless adapter warnings are not shown; THAW_DEBUG=1 shows every message", () => {
  const r = thaw(['info']);
  assert.is(r.code, 0, r.err);
  assert.not.match(r.err, /artificially reduced/);
  if (!/kind: +lavapipe/.test(r.out)) { skip('the messages come from lavapipe, which is not the adapter here'); return; }
  const d = thaw(['info'], { THAW_DEBUG: '1' });
  assert.is(d.code, 0, d.err);
  assert.match(d.err, /^Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced/m);
  assert.is(d.out, r.out);
});

test('no WebGPU adapter: exit 1 with how to install one', () => {
  const png = join(tmp, 'grey.png');
  const im = new PNG({ width: 4, height: 4 });
  im.data.fill(100);
  writeFileSync(png, PNG.sync.write(im));
  const ck = join(tmp, 'head.safetensors');
  writeFileSync(ck, writeSafetensors(new Map([['linear.weight', { dtype: 'f32', shape: [2, 64], data: new Float32Array(128) }]])));
  const r = thaw(['predict', '--weights', ck, png], { VK_ICD_FILENAMES: join(tmp, 'no-such-icd.json'), THAW_ADAPTER: '' });
  assert.is(r.code, 1);
  assert.match(r.err, /thaw predict: .*no WebGPU adapter|no Vulkan driver/);
  assert.match(r.err, /Install a software Vulkan driver|scripts\/setup\.sh/);
});

test('inspect: a small safetensors written here (table and --json)', () => {
  const file = join(tmp, 'small.safetensors');
  const tensors = new Map<string, HostTensor>([
    ['fc.weight', { dtype: 'f32', shape: [2, 3], data: new Float32Array(6) }],
    ['fc.bias', { dtype: 'f16', shape: [2], data: new Float32Array(2) }],
    ['bn.running_mean', { dtype: 'f32', shape: [3], data: new Float32Array(3) }],
    ['bn.num_batches_tracked', { dtype: 'i64', shape: [], data: new Int32Array(1) }],
  ]);
  writeFileSync(file, writeSafetensors(tensors, { model: 'tiny', classes: 'a,b' }));
  const r = thaw(['inspect', file]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /format: +safetensors/);
  assert.match(r.out, /tensors: +4 \(2 f32, 1 f16, 1 i64\)/);
  assert.match(r.out, /parameters: +8 \(\+ 4 values of running statistics/);
  assert.match(r.out, /model: tiny\n {2}classes: a,b/);
  assert.match(r.out, /fc\.weight +f32 +\[2, 3\] +6\n/);
  assert.match(r.out, /bn\.num_batches_tracked +i64 +\[\] +1/);
  const j = thaw(['inspect', file, '--json', '--filter', '^fc\\.']);
  assert.is(j.code, 0, j.err);
  const s = JSON.parse(j.out);
  assert.is(s.format, 'safetensors');
  assert.is(s.tensorCount, 4);
  assert.is(s.parameters, 8);
  assert.equal(s.metadata, { model: 'tiny', classes: 'a,b' });
  assert.equal(s.tensors.map((t: any) => [t.name, t.dtype, t.shape]), [['fc.weight', 'f32', [2, 3]], ['fc.bias', 'f16', [2]]]);
  const bad = thaw(['inspect', file, '--filter', '(']);
  assert.is(bad.code, 2);
  assert.match(bad.err, /--filter is not a valid regular expression/);
});

test('inspect: the real ResNet-20 (.th) and the nsfwjs UMD model', () => {
  if (!haveShared) skip('../shared is absent');
  else {
    const r = thaw(['inspect', join(RESNET, 'resnet20-12fca82f.th')]);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /format: +pytorch-legacy/);
    assert.match(r.out, /tensors: +97 \(97 f32\)/);
    assert.match(r.out, /parameters: +269,722/);
    assert.match(r.out, /best_prec1: 91\.78/);
    assert.match(r.out, /module\.linear\.weight +f32 +\[10, 64\] +640/);
  }
  if (!existsSync(join(NSFW, 'model.min.js'))) { skip('nsfwjs is not installed'); return; }
  const j = thaw(['inspect', NSFW, '--json']);
  assert.is(j.code, 0, j.err);
  const s = JSON.parse(j.out);
  assert.is(s.format, 'tfjs-layers');
  assert.ok(s.file.endsWith('model.min.js'));
  assert.is(s.tensorCount, 266);
  assert.is(s.keras.layerCount, s.layers.length);
  const dense = s.layers.find((l: any) => l.name === 'dense_3');
  assert.equal([dense.type, dense.config, dense.params, dense.trainable], ['Dense', '5 units, softmax', 128 * 5 + 5, true]);
  assert.is(s.layers.find((l: any) => l.name === 'block_1_project').trainable, false, 'nsfwjs froze most of its backbone');
  assert.is(s.layers.find((l: any) => l.name === 'block_16_project').trainable, true);
  assert.ok(s.tensors.every((t: any) => t.stored === 'uint8-quantized'));
  const t = thaw(['inspect', join(NSFW, 'model.min.js'), '--filter', '^dense_']);
  assert.match(t.out, /Keras 2\.2\.4 Model 'model_1': 162 layers \(3 matching/);
  assert.match(t.out, /dense_1 +Dense +256 units, relu/);
});

test('predict: chelsea.png with the zoo ResNet-20 is a cat', () => {
  if (!haveShared) { skip('../shared is absent'); return; }
  const r = thaw(['predict', '--weights', 'resnet20-cifar10', '--top', '3', '--json', CHELSEA]);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.is(j.model, 'resnet20-cifar10');
  assert.is(j.classes, 10);
  const top = j.predictions[0].top;
  assert.is(top.length, 3);
  console.log(`  chelsea.png: ${top.map((t: any) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`);
  assert.ok(top.some((t: any) => t.label === 'cat'), 'cat in the top 3');
  assert.is(top[0].label, 'cat', 'cat first (99.8% on lavapipe)');
  assert.ok(top[0].probability >= top[1].probability && top[1].probability >= top[2].probability);
});

test('predict: a fine-tuned weights.safetensors gives its own classes; a checkpoint that does not fit names the keys', async () => {
  if (!haveShared) { skip('../shared is absent'); return; }
  const ck = await loadCheckpointFile(join(RESNET, 'resnet20-cifar10.safetensors'));
  const t = new Map(ck.tensors);
  // A 3-class head made of the CIFAR head's cat, dog and truck rows, as `thaw finetune` would save it.
  const W = t.get('linear.weight')!.data as Float32Array, b = t.get('linear.bias')!.data as Float32Array;
  const rows = [3, 5, 9];
  const w3 = new Float32Array(3 * 64);
  rows.forEach((r, i) => w3.set(W.subarray(r * 64, r * 64 + 64), i * 64));
  t.set('linear.weight', { dtype: 'f32', shape: [3, 64], data: w3 });
  t.set('linear.bias', { dtype: 'f32', shape: [3], data: Float32Array.from(rows, (r) => b[r]) });
  const ft = join(tmp, 'weights.safetensors');
  writeFileSync(ft, writeSafetensors(t, { model: 'resnet20-cifar10', classes: 'kitty,doggo,lorry' }));
  const r = thaw(['predict', '--weights', ft, CHELSEA]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /model resnet20-cifar10 \(3 classes\)/);
  assert.match(r.out, /chelsea\.png\n +1\. kitty +\d+\.\d%\n +2\. (doggo|lorry) /);
  assert.not.match(r.out, / 4\. /, '--top is capped at the number of classes');
  const n = thaw(['predict', '--weights', ft, '--labels', 'a,b', CHELSEA]);
  assert.is(n.code, 2);
  assert.match(n.err, /2 labels given, but the checkpoint's head has 3 classes/);

  // Wrong shapes and a stray key: exit 1, naming them.
  t.set('conv1.weight', { dtype: 'f32', shape: [8, 3, 3, 3], data: new Float32Array(8 * 27) });
  t.set('extra.weight', { dtype: 'f32', shape: [1], data: new Float32Array(1) });
  const bad = join(tmp, 'bad.safetensors');
  writeFileSync(bad, writeSafetensors(t));
  const e = thaw(['predict', '--weights', bad, CHELSEA]);
  assert.is(e.code, 1);
  assert.match(e.err, /bad\.safetensors does not fit resnet20-cifar10/);
  assert.match(e.err, /conv1\.weight model \[16,3,3,3\] vs checkpoint \[8,3,3,3\]/);
  assert.match(e.err, /extra\.weight/);
});

test('finetune: the Keras MobileNetV2 at another input size, pre-trained and from scratch (report, cache, BN momentum)', () => {
  if (!existsSync(join(NSFW, 'model.min.js'))) { skip('nsfwjs is not installed'); return; }
  if (!existsSync('/usr/share/datasets/fashion-mnist')) { skip('dataset-fashion-mnist is not installed'); return; }
  const common = ['finetune', '--model', 'mobilenetv2-nsfwjs', '--weights', join(NSFW, 'model.min.js'), '--size', '32', '--labels-per-class', '2', '--test-size', '10', '--epochs', '2', '--batch', '4'];
  // Discriminative rates without gradual unfreezing: the lowest trainable group runs at --lr-min.
  const pre = thaw([...common, '--lr-min', '0.002', '--schedule', 'constant', '--label-smoothing', '0.1', '--out', join(tmp, 'ft-pre')]);
  assert.is(pre.code, 0, pre.err);
  assert.match(pre.out, /freeze '12': \d+ parameter tensors frozen/);
  assert.match(pre.out, /feature cache: on after 12 fixed trunk stage\(s\)/);
  assert.match(pre.out, /batch norm: momentum 0\.001 → 0\.1 in 19 trainable layer\(s\)/);
  const rep = JSON.parse(readFileSync(join(tmp, 'ft-pre', 'report.json'), 'utf8'));
  assert.equal(rep.inputSize, [32, 32]);
  assert.is(rep.featureCache.used, true);
  assert.is(rep.trainImages, 20);
  assert.equal(rep.epochs.map((e: { lr: number }) => e.lr), [0.002, 0.002]);
  const scratch = thaw([...common, '--from-scratch', '--out', join(tmp, 'ft-scratch')]);
  assert.is(scratch.code, 0, scratch.err);
  const rs = JSON.parse(readFileSync(join(tmp, 'ft-scratch', 'report.json'), 'utf8'));
  assert.is(rs.weightsSource, 'random initialisation (--from-scratch)');
  assert.is(rs.featureCache.used, false);
  assert.is(rs.trainable.frozen, 0);
  assert.match(scratch.out, /batch norm: momentum 0\.001 → 0\.1 in 52 trainable layer\(s\)/);
});

test('fetch: --list, a temp cache filled from local copies, sha256 re-checked', async () => {
  const l = thaw(['fetch', '--list']);
  assert.is(l.code, 0, l.err);
  for (const n of Object.keys(ZOO)) assert.match(l.out, new RegExp(`\\n${n} `), n);
  assert.match(l.out, /BSD-2-Clause \(Yerlan Idelbayev\)/);
  assert.match(l.out, /MIT \(Infinite Red, Inc\.\)/);
  const u = thaw(['fetch', 'resnet-20']);
  assert.is(u.code, 2);
  assert.match(u.err, /unknown model 'resnet-20'\. Did you mean 'resnet20-cifar10'/);
  if (!haveShared) { skip('../shared is absent'); return; }
  const cache = join(tmp, 'fetch-cache');
  const f = thaw(['fetch', 'resnet20-cifar10', '--cache', cache, '--offline']);
  assert.is(f.code, 0, f.err);
  const file = join(cache, 'resnet20-cifar10', 'resnet20-12fca82f.th');
  assert.match(f.out, /resnet20-cifar10: 1 file, 1\.1 MB, sha256 verified \(from local\)/);
  assert.ok(f.out.includes(`\n  ${file}\n`), f.out);
  assert.is(await sha256File(file), ZOO['resnet20-cifar10'].files[0].sha256);
  assert.match(thaw(['fetch', 'resnet20-cifar10', '--cache', cache]).out, /\(from cache\)/);
  // A damaged cache entry is not trusted: it is replaced from the local copy.
  writeFileSync(file, 'garbage');
  const again = thaw(['fetch', 'resnet20-cifar10', '--cache', cache, '--json']);
  assert.is(again.code, 0, again.err);
  assert.is(JSON.parse(again.out)[0].files[0].source, 'local');
  assert.is(await sha256File(file), ZOO['resnet20-cifar10'].files[0].sha256);
});

test('bench: one table from the scripts\' run(), a missing script is a clear error', () => {
  const dir = join(tmp, 'bench');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n'); // as the repository's own, so .ts loads as ESM
  writeFileSync(join(dir, 'conv.ts'), `
    export async function run(o: { quick: boolean; tfjs: boolean }) {
      console.log('progress chatter goes to stderr');
      return { adapter: 'fake adapter', rows: [
        { layer: 'conv3x3', op: 'fwd', thawMs: { median: o.quick ? 2 : 4 }, tfjsMs: o.tfjs ? { median: 5 } : null },
      ] };
    }`);
  const env = { THAW_BENCH_DIR: dir };
  const r = thaw(['bench', 'conv', '--quick'], env);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^thaw bench on fake adapter \(quick/);
  assert.match(r.out, /conv +conv3x3 fwd +ms +2\.00 +5\.00 +2\.50x/);
  assert.not.match(r.out, /chatter/);
  assert.match(r.err, /chatter/);
  const j = JSON.parse(thaw(['bench', 'conv', '--vs', 'none', '--json'], env).out);
  assert.equal(j.rows, [{ bench: 'conv', case: 'conv3x3 fwd', thaw: 4, peer: null, unit: 'ms', ratio: null }]);
  const miss = thaw(['bench', 'matmul'], env);
  assert.is(miss.code, 1);
  assert.match(miss.err, /the matmul benchmark is not there \(.*matmul\.ts is missing\); available: conv/);
  const all = thaw(['bench', 'all'], env);
  assert.is(all.code, 0, all.err);
  assert.match(all.out, /skipped matmul: the matmul benchmark is not there/);
  assert.match(all.out, /skipped finetune: /);
  writeFileSync(join(dir, 'matmul.ts'), 'console.log("I run when imported"); process.exit(0);\n');
  const old = thaw(['bench', 'matmul'], env);
  assert.is(old.code, 1);
  assert.match(old.err, /does not export run\(\)/);
  assert.not.match(old.out + old.err, /I run when imported/);
});

/** A random w x h grey PNG. */
function randomPng(w = 8, h = 8): Buffer {
  const im = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) { const v = Math.floor(Math.random() * 256); im.data.set([v, v, v, 255], 4 * i); }
  return PNG.sync.write(im);
}

/** An image folder under tmp with `counts[c]` PNGs in class folder c (folder order: class 0's images first). */
function imageFolder(name: string, counts: number[]): string {
  const dir = join(tmp, name);
  counts.forEach((n, c) => {
    mkdirSync(join(dir, `class${c}`), { recursive: true });
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `class${c}`, `${String(i).padStart(3, '0')}.png`), randomPng());
  });
  return dir;
}

const tinyRun = ['finetune', '--from-scratch', '--labels-per-class', '2', '--epochs', '1', '--batch', '4', '--eval-every', '1'];

test('finetune on a folder sorted by class: the test images are drawn per class, and a class without any is n/a, not 0%', () => {
  // Classes 0 and 1 have images left for testing; class 2 has only its 2 labelled ones.
  const per = 4 + Math.floor(Math.random() * 4);
  const dir = imageFolder('sorted', [per, per, 2]);
  const out = join(tmp, 'ft-sorted');
  const seed = String(Math.floor(Math.random() * 1000));
  const r = thaw([...tinyRun, '--data', dir, '--test-size', '4', '--val-split', '0.5', '--seed', seed, '--out', out]);
  assert.is(r.code, 0, r.err);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  // Before the fix the test set was the first 4 images after the training ones in folder order: all of class 0.
  assert.equal(rep.confusion.map((row: number[]) => row.reduce((a, b) => a + b, 0)), [2, 2, 0], 'test images per class (confusion rows)');
  assert.equal(rep.split.testPerClass, [2, 2, 0]);
  // --val-split 0.5 of 2 labelled images per class: 1 trains, 1 validates each epoch.
  assert.equal([rep.split.trainPerClass, rep.split.valPerClass, rep.trainImages, rep.valImages], [[1, 1, 1], [1, 1, 1], 3, 3]);
  assert.is(rep.epochEvaluatedOn, 'validation');
  assert.ok(typeof rep.epochs[0].valAcc === 'number' && !('testAcc' in rep.epochs[0]));
  assert.match(r.out, /epoch 1\/1: .*, val acc \d+\.\d%/);
  assert.equal(rep.perClass.map((p: any) => p.testImages), [2, 2, 0]);
  assert.is(rep.perClass[2].accuracy, null, 'no test images: null, not 0');
  assert.ok(rep.perClass.slice(0, 2).every((p: any) => typeof p.accuracy === 'number'));
  assert.match(r.out, /test images per class: class0 2, class1 2, class2 0\n/);
  assert.match(r.out, /warning: 1 of 3 classes have no test images \('class2'\)/);
  assert.match(r.out, /\n {2}class2 +n\/a {2}\(0\)\n/);
  assert.match(r.out, /\n {3}2 +n\/a \(no test images\)\n/);
  assert.not.match(r.out, /class2 +0\.0%/);
  // The same seed draws the same split.
  const again = thaw([...tinyRun, '--data', dir, '--test-size', '4', '--val-split', '0.5', '--seed', seed, '--out', join(tmp, 'ft-sorted2'), '--json']);
  assert.is(again.code, 0, again.err);
  assert.equal(JSON.parse(again.out).split, rep.split);
});

test('finetune: data that cannot give an honest run is refused before any work, in one line naming the fix', () => {
  const one = thaw(['finetune', '--data', imageFolder('one-class', [5])]);
  assert.is(one.code, 2);
  assert.match(one.err, /^thaw finetune: --data .*one-class has 1 class folder \('class0'\); a classifier needs at least 2 classes/);
  const few = imageFolder('few', [3, 3]);
  const t = thaw(['finetune', '--data', few, '--labels-per-class', '2', '--test-size', '40']);
  assert.is(t.code, 2);
  assert.match(t.err, /^thaw finetune: --test-size 40: only 2 images are available for testing \(6 images in the folder, 4 of them labelled for training\); give --test-size 2 or less, or lower --labels-per-class\n$/);
  const all = thaw(['finetune', '--data', few, '--labels-per-class', '3']);
  assert.is(all.code, 2);
  assert.match(all.err, /no images are left for testing: all 6 images are labelled for training \(3 per class\); lower --labels-per-class/);
  const k = thaw(['finetune', '--data', few, '--labels-per-class', '4']);
  assert.is(k.code, 2);
  assert.match(k.err, /--labels-per-class 4: class 'class0' has only 3 images; lower --labels-per-class to at most 3/);
  // A file that is not an image fails by name even when no split would sample it.
  const mixed = imageFolder('mixed', [4, 4]);
  writeFileSync(join(mixed, 'class1', 'zz-notes.png'), 'just text');
  writeFileSync(join(mixed, 'class0', 'aa-empty.jpg'), '');
  const m = thaw(['finetune', '--data', mixed, '--labels-per-class', '1', '--test-size', '1']);
  assert.is(m.code, 1);
  assert.match(m.err, /^thaw finetune: 2 of 10 files in .*mixed are not PNG or JPEG: class0\/aa-empty\.jpg \(empty\), class1\/zz-notes\.png \(starts with 6a 75 73 74 20 74 65 78\); convert them to PNG or JPEG, or remove them\n$/);
  for (const x of [one, t, all, k, m]) assert.not.match(x.out, /adapter:|training images/, 'nothing ran');
  for (const [flag, v, want] of [['--eval-every', '0', 'a positive integer'], ['--eval-every', '1.5', 'a positive integer'], ['--head-epochs', '-1', 'a non-negative integer'], ['--val-split', '1', 'in \\[0, 1\\)']]) {
    const x = thaw(['finetune', '--data', few, flag, v]);
    assert.is(x.code, 2, `${flag} ${v}`);
    assert.match(x.err, new RegExp(`^thaw finetune: ${flag} must be ${want}, got ${v.replace('.', '\\.')}\n$`));
  }
  const vs = thaw(['finetune', '--data', few, '--labels-per-class', '2', '--val-split', '0.1']);
  assert.is(vs.code, 2);
  assert.match(vs.err, /--val-split 0\.1 of 2 labelled images per class holds out 0; it must hold out at least 1/);
});

test('finetune: --freeze that matches nothing, and flags --from-scratch ignores, are usage errors', () => {
  const dir = imageFolder('freeze', [3, 3]);
  const f = thaw(['finetune', '--data', dir, '--labels-per-class', '1', '--freeze', '/nomatch/', '--weights', join(RESNET, 'resnet20-cifar10.safetensors')]);
  if (haveShared) {
    assert.is(f.code, 2, f.err);
    assert.match(f.err, /^thaw finetune: --freeze \/nomatch\/ matches no parameter of the model, so it would freeze nothing; parameter names look like conv1\.weight, .*\(\d+ in all\)/);
    assert.not.match(f.out, /training images/);
    const all = thaw(['finetune', '--data', dir, '--labels-per-class', '1', '--freeze', '/./', '--weights', join(RESNET, 'resnet20-cifar10.safetensors')]);
    assert.is(all.code, 2);
    assert.match(all.err, /--freeze '\/\.\/' freezes every parameter, the new head included, so nothing would train/);
  }
  const w = thaw(['finetune', '--data', dir, '--from-scratch', '--weights', 'some.th']);
  assert.is(w.code, 2);
  assert.match(w.err, /--weights is not read with --from-scratch/);
  const fr = thaw(['finetune', '--data', dir, '--from-scratch', '--freeze', '7']);
  assert.is(fr.code, 2);
  assert.match(fr.err, /--freeze has no effect with --from-scratch/);
  const o = thaw(['finetune', '--data', dir, '--optimizer', 'adamm']);
  assert.is(o.code, 2);
  assert.match(o.err, /^thaw finetune: unknown --optimizer 'adamm'\. Did you mean 'adam'.*\? Choose from sgd, adam, adamw\.\n$/);
  assert.not.match(o.out, /adapter:/, 'refused before the GPU and the feature cache');
});

test('finetune: a diverging run (--lr 1e30) exits 1 naming the step and --lr, and leaves the previous weights file alone', () => {
  const dir = imageFolder('diverge', [4, 4]);
  const out = join(tmp, 'ft-diverge');
  mkdirSync(out, { recursive: true });
  const good = writeSafetensors(new Map([['linear.weight', { dtype: 'f32', shape: [2], data: Float32Array.from([Math.random(), Math.random()]) }]]));
  writeFileSync(join(out, 'weights.safetensors'), good);
  const r = thaw([...tinyRun, '--data', dir, '--labels-per-class', '3', '--epochs', '4', '--batch', '2', '--lr', '1e30', '--out', out, '--json']); // --json: no progress bars on stderr
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.err, /^thaw finetune: training diverged at step \d+ \(epoch \d\): (the loss is (NaN|Inf)|value of '[\w.]+' has (NaN|Inf)).*\. Lower --lr \(it is 1e\+30; the default is 0\.05\) or check the data; nothing was written to .*ft-diverge\n$/);
  assert.is(r.out, '', 'no report printed');
  assert.is(Buffer.compare(readFileSync(join(out, 'weights.safetensors')), Buffer.from(good)), 0, 'the earlier weights are untouched');
  assert.not.ok(existsSync(join(out, 'report.json')));
});

test('checkpoints that hold NaN, or do not fit the model, are refused by finetune and predict, by tensor name', async () => {
  if (!haveShared) { skip('../shared is absent'); return; }
  const dir = imageFolder('ck', [3, 3]);
  const ck = await loadCheckpointFile(join(RESNET, 'resnet20-cifar10.safetensors'));
  const t = new Map(ck.tensors);
  const conv = t.get('conv1.weight')!;
  t.set('conv1.weight', { ...conv, data: new Float32Array(conv.data.length).fill(NaN) });
  const nan = join(tmp, 'nan.safetensors');
  writeFileSync(nan, writeSafetensors(t));
  const f = thaw(['finetune', '--data', dir, '--labels-per-class', '1', '--weights', nan]);
  assert.is(f.code, 1);
  assert.match(f.err, /^thaw finetune: .*nan\.safetensors: 1 tensor holds NaN or Inf: conv1\.weight \(432 NaN of 432 values, first at element 0\)\. A model loaded from it would output NaN/);
  assert.not.match(f.out, /accuracy/);
  const p = thaw(['predict', '--weights', nan, CHELSEA]);
  assert.is(p.code, 1);
  assert.match(p.err, /nan\.safetensors: 1 tensor holds NaN or Inf: conv1\.weight/);
  assert.not.match(p.out, /NaN%/);
  // Finite weights whose activations overflow: the output is not finite, and predict says so instead of printing NaN%.
  t.set('conv1.weight', { ...conv, data: new Float32Array(conv.data.length).fill(3e38 * (0.5 + Math.random() / 2)) });
  const huge = join(tmp, 'huge.safetensors');
  writeFileSync(huge, writeSafetensors(t));
  const h = thaw(['predict', '--weights', huge, CHELSEA]);
  assert.is(h.code, 1, h.out);
  assert.match(h.err, /(^|\n)thaw predict: the model's output for .*chelsea\.png is not finite \(.*\): huge\.safetensors holds weights that overflow on this input/);
  assert.not.match(h.out, /NaN%/);
  // Another architecture's checkpoint: nothing matches.
  const dk = thaw(['finetune', '--data', dir, '--labels-per-class', '1', '--model', 'resnet20-cifar10', '--weights', join(SHARED, 'checkpoints', 'darknet-tiny', 'model.json')]);
  assert.is(dk.code, 1);
  assert.match(dk.err, /^thaw finetune: .*model\.json does not fit resnet20-cifar10: none of its \d+ tensors matches the model \(its keys: \S+/);
  assert.match(dk.err, /or --from-scratch to train from random weights\n$/);
  assert.not.match(dk.out, /loaded 0 tensors/);
  // One trunk tensor missing: it would stay random under the frozen trunk.
  const part = new Map(ck.tensors);
  const trunkKeys = [...part.keys()].filter((k) => !k.startsWith('linear.') && !k.endsWith('num_batches_tracked'));
  const gone = trunkKeys[Math.floor(Math.random() * trunkKeys.length)];
  part.delete(gone);
  part.delete('linear.weight'); // the head may be missing: a new one replaces it
  const partial = join(tmp, 'partial.safetensors');
  writeFileSync(partial, writeSafetensors(part));
  const pr = thaw(['finetune', '--data', dir, '--labels-per-class', '1', '--weights', partial]);
  assert.is(pr.code, 1);
  assert.match(pr.err, new RegExp(`partial\\.safetensors does not fit resnet20-cifar10: 1 model tensor is missing or mis-shaped in it and would stay random: ${gone.replace(/\./g, '\\.')}\\.`));
});

test.run();
