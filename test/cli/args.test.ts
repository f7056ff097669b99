// Unit tests of the CLI's argument parser, suggestions, help text, and the bench row reader (no child processes, no GPU).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs, suggest, distance, optionHelp, UsageError, type OptionSpec } from '../../cli/args.ts';
import { COMMANDS } from '../../cli/commands.ts';
import { normalizeRows } from '../../cli/bench.ts';
import { formatBytes, table } from '../../cli/fetch.ts';
import { report } from '../../cli/report.ts';
import { ThawError } from '../../engine/core/errors.ts';

const test = suite('cli args');

const spec: Record<string, OptionSpec> = {
  weights: { type: 'string', help: 'checkpoint' },
  top: { type: 'number', help: 'k', default: 5 },
  json: { type: 'boolean', help: 'print JSON' },
  'labels-file': { type: 'string', help: 'labels' },
};

function usage(fn: () => unknown): string {
  try { fn(); } catch (e) {
    assert.instance(e, UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}

test('defaults, --key value, --key=value, booleans and positionals', () => {
  assert.equal(parseArgs([], spec, 't'), { positionals: [], options: { weights: undefined, top: 5, json: undefined, 'labels-file': undefined } });
  const p = parseArgs(['a.png', '--weights', 'w.th', '--top=3', '--json', 'b.png', '--labels-file=l.txt'], spec, 't');
  assert.equal(p.positionals, ['a.png', 'b.png']);
  assert.equal(p.options, { weights: 'w.th', top: 3, json: true, 'labels-file': 'l.txt' });
  assert.is(parseArgs(['--json=false'], spec, 't').options.json, false);
  assert.is(parseArgs(['--json=no'], spec, 't').options.json, false);
  assert.is(parseArgs(['--json=1'], spec, 't').options.json, true);
  // '--' and single-dash words are positionals; a value may itself start with '-'.
  assert.equal(parseArgs(['--', '-x'], spec, 't').positionals, ['--', '-x']);
  assert.is(parseArgs(['--weights', '-odd-name.th'], spec, 't').options.weights, '-odd-name.th');
  assert.is(parseArgs(['--top', '1e1'], spec, 't').options.top, 10);
});

test('unknown options, missing values and bad numbers are usage errors that say what to do', () => {
  assert.match(usage(() => parseArgs(['--wieghts', 'x'], spec, 'predict')), /unknown option --wieghts\. Did you mean 'weights'\? See 'thaw predict --help'/);
  assert.match(usage(() => parseArgs(['--weights'], spec, 'predict')), /--weights needs a value/);
  assert.match(usage(() => parseArgs(['--top', 'three'], spec, 'predict')), /--top expects a number, got 'three'/);
  assert.match(usage(() => parseArgs(['--top=NaN'], spec, 'predict')), /expects a number/);
  assert.is(new UsageError('x').kind, 'usage');
  // `--weights --top 3` would have read '--top' as the checkpoint; an empty string is not the number 0.
  assert.match(usage(() => parseArgs(['--weights', '--top', '3'], spec, 'predict')), /--weights needs a value, but the next argument is the option --top .*write --weights=--top/);
  assert.is(parseArgs(['--weights=--odd.th'], spec, 't').options.weights, '--odd.th');
  assert.match(usage(() => parseArgs(['--top', ''], spec, 'predict')), /--top expects a number, got ''/);
  assert.match(usage(() => parseArgs(['--top=  '], spec, 'predict')), /--top expects a number/);
});

test('report: one line per failure, system errors described from code and path, a stack only with THAW_DEBUG', () => {
  const sys = (code: string, syscall: string, path: string) => Object.assign(new Error(`${code}: x, ${syscall} '${path}'`), { code, syscall, path, errno: -1 });
  const cases: [unknown, RegExp, number][] = [
    [new UsageError('thaw x: --top must be a positive integer'), /^thaw x: --top must be a positive integer$/, 2],
    [new ThawError('no-file', "image 'a.png': no such file"), /^thaw predict: image 'a\.png': no such file$/, 1],
    [sys('ENOSPC', 'write', '/data/out/w.safetensors'), /^thaw predict: cannot write '\/data\/out\/w\.safetensors': no space left on the device \(ENOSPC\); free some space or write to another disk$/, 1],
    [sys('EACCES', 'open', '/root/x.png'), /^thaw predict: cannot open '\/root\/x\.png': permission denied \(EACCES\); check its permissions/, 1],
    [sys('EPERM', 'mkdir', '/sys/x'), /^thaw predict: cannot create the folder '\/sys\/x': the operation is not permitted there .*\(EPERM\)/, 1],
    [sys('EEXIST', 'mkdir', '/tmp/f'), /^thaw predict: cannot create the folder '\/tmp\/f': a file is already there \(EEXIST\)/, 1],
    [sys('EISDIR', 'read', '/tmp/d'), /^thaw predict: cannot read '\/tmp\/d': it is a folder, not a file \(EISDIR\)/, 1],
    [sys('ENOTDIR', 'scandir', '/tmp/f/x'), /^thaw predict: cannot list the folder '\/tmp\/f\/x': a part of the path is a file, not a folder \(ENOTDIR\)/, 1],
    [sys('ELOOP', 'stat', '/tmp/l'), /^thaw predict: cannot read '\/tmp\/l': a symbolic link loop .*\(ELOOP\); fix or remove the link$/, 1],
    [sys('ENOENT', 'mkdir', '/proc/x'), /^thaw predict: cannot create the folder '\/proc\/x': its parent does not accept new folders/, 1],
    [Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 8080 }),
      /^thaw predict: cannot listen on 127\.0\.0\.1:8080: the address is already in use \(EADDRINUSE\); pick another port/, 1],
    [Object.assign(new Error('EWEIRD: something odd happened, open \'/x\''), { code: 'EWEIRD', syscall: 'open', path: '/x' }), /^thaw predict: cannot open '\/x': something odd happened \(EWEIRD\)/, 1],
    [new RangeError('Array buffer allocation failed'), /^thaw predict: out of memory \(Array buffer allocation failed\); use smaller inputs/, 1],
    [new TypeError("Cannot read properties of undefined (reading 'x')\nsecond line"),
      /^thaw predict: unexpected error: TypeError: Cannot read properties of undefined \(reading 'x'\)\. This is a bug in thaw; rerun with THAW_DEBUG=1 for the stack trace and report it\.$/, 1],
    ['a thrown string', /^thaw predict: unexpected error: a thrown string\. This is a bug/, 1],
  ];
  for (const [e, re, code] of cases) {
    const r = report('predict', e, false);
    assert.match(r.text, re);
    assert.not.match(r.text, /\n/, r.text);
    assert.is(r.code, code, r.text);
  }
  const inner = sys('EACCES', 'open', '/x');
  const d = report('predict', new ThawError('file', 'cannot open it', { cause: inner }), true);
  assert.match(d.text, /^thaw predict: cannot open it\nThawError: cannot open it\n +at /);
  assert.match(d.text, /\ncaused by: Error: EACCES/);
});

test('suggest and distance', () => {
  assert.is(distance('', 'abc'), 3);
  assert.is(distance('predcit', 'predict'), 2);
  assert.is(distance('kitten', 'sitting'), 3);
  assert.is(suggest('predcit', Object.keys(COMMANDS)), " Did you mean 'predict'?");
  assert.is(suggest('inpsect', Object.keys(COMMANDS)), " Did you mean 'inspect'?");
  assert.is(suggest('zzzzzzzzzz', Object.keys(COMMANDS)), '');
  assert.is(suggest('resnet20', ['resnet20-cifar10', 'darknet-tiny']), " Did you mean 'resnet20-cifar10'?", 'a prefix of a name');
});

test('every command has a summary, options and examples in its help', () => {
  for (const name of ['info', 'fetch', 'inspect', 'finetune', 'predict', 'bench']) {
    const c = COMMANDS[name];
    assert.ok(c, name);
    const h = c.help();
    assert.match(h, `Usage: thaw ${name}`);
    assert.match(h, /Options:\n {2}--/);
    assert.match(h, new RegExp(`Examples:\\n {2}(\\S+=\\S+ )?thaw ${name}`));
  }
  assert.match(optionHelp(spec), /--top <n> +k \(default: 5\)/);
  assert.not.match(optionHelp(spec), /json.*default/);
});

test('bench rows: per-case rows (conv/matmul) and per-engine rows (finetune)', () => {
  const conv = normalizeRows('conv', [
    { layer: 'conv3x3', op: 'fwd', thawMs: { median: 2, min: 1, runs: [] }, tfjsMs: { median: 4, min: 3, runs: [] }, thawGflops: 10 },
    { layer: 'conv3x3', op: 'dx', thawMs: { median: 2, min: 1, runs: [] }, tfjsMs: null },
  ]);
  assert.equal(conv[0], { bench: 'conv', case: 'conv3x3 fwd', thaw: 2, peer: 4, unit: 'ms', ratio: 2, thawGflops: 10 });
  assert.is(conv[1].peer, null);
  assert.is(conv[1].ratio, null);
  const mm = normalizeRows('matmul', [{ size: 256, variant: 'auto', thawMs: { median: 1 }, tfjsMs: { median: 3 } }]);
  assert.is(mm[0].case, '256x256x256');
  assert.is(mm[0].ratio, 3);
  const ft = normalizeRows('finetune', [
    { engine: 'thaw (trunk each step)', ms: 10, minMs: 9, imagesPerSec: 3 },
    { engine: 'thaw (feature cache)', ms: 2, minMs: 1, imagesPerSec: 16 },
    { engine: 'tfjs-webgpu (trainable=false)', ms: 20, minMs: 19, imagesPerSec: 1.6 },
  ]);
  assert.equal(ft.map((r) => [r.case, r.thaw, r.peer, r.ratio]), [['trunk each step', 10, 20, 2], ['feature cache', 2, 20, 10]]);
  // A rate is better when higher: the speedup is thaw / peer.
  assert.is(normalizeRows('x', [{ name: 'a', thaw: 30, tfjs: 10, unit: 'GFLOP/s' }])[0].ratio, 3);
  assert.equal(normalizeRows('x', [{ name: 'no time' }]), []);
});

test('formatBytes and table', () => {
  assert.is(formatBytes(999), '999 B');
  assert.is(formatBytes(1099231), '1.1 MB');
  assert.is(formatBytes(4232661), '4.2 MB');
  assert.is(table(['a', 'n'], [['xy', '1'], ['z', '10']], [1]), 'a    n\n--  --\nxy   1\nz   10');
});

test.run();
