// Seeded PRNG: reproducibility, resume from saved state, distribution sanity, shuffle.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DataArgError } from '../../engine/data/errors.ts';
import { permutation, randn, randu, Rng, shuffle } from '../../engine/data/rng.ts';

const test = suite('rng');
const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
const take = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextU32());

test('same seed, same stream; different seeds differ', () => {
  assert.equal(take(new Rng(seed), 50), take(new Rng(seed), 50));
  assert.not.equal(take(new Rng(seed), 50), take(new Rng(seed + 1), 50));
  assert.not.equal(take(new Rng(1), 10), take(new Rng(1 + 2 ** 32), 10), 'high seed bits count');
  for (const v of take(new Rng(seed), 1000)) assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
});

test('state() / fromState() resumes the exact stream, normals included, through JSON', () => {
  const a = new Rng(seed);
  take(a, 17);
  a.normal(); // leaves a cached spare normal in the state
  const saved = JSON.parse(JSON.stringify(a.state()));
  const b = Rng.fromState(saved);
  assert.equal([a.normal(), a.next(), a.int(1000)], [b.normal(), b.next(), b.int(1000)]);
  assert.equal(take(a, 20), take(b, 20));
  assert.throws(() => Rng.fromState({ s: [0, 0, 0, 0], spare: null }), (e: unknown) => e instanceof DataArgError);
});

test('uniform and int are in range and roughly uniform', () => {
  const r = new Rng(seed);
  const counts = new Array(7).fill(0);
  const n = 70000;
  for (let i = 0; i < n; i++) counts[r.int(7)]++;
  for (const c of counts) assert.ok(Math.abs(c - n / 7) < 0.05 * n / 7, `seed ${seed}: counts ${counts}`);
  const u = randu(10000, r, -2, 3);
  assert.ok(u.every((v) => v >= -2 && v < 3));
  const mean = u.reduce((a, b) => a + b, 0) / u.length;
  assert.ok(Math.abs(mean - 0.5) < 0.1, `mean ${mean}`);
  assert.throws(() => r.int(0), /n must be/);
});

test('randn has the asked mean and std', () => {
  const x = randn(40000, new Rng(seed), 3, 2);
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
  assert.ok(Math.abs(mean - 3) < 0.05, `seed ${seed}: mean ${mean}`);
  assert.ok(Math.abs(Math.sqrt(v) - 2) < 0.05, `seed ${seed}: std ${Math.sqrt(v)}`);
  assert.ok(x.every(Number.isFinite));
});

test('shuffle is a seeded permutation and every position is reachable', () => {
  const p = permutation(100, new Rng(seed));
  assert.equal(Array.from(p).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(Array.from(p), Array.from(permutation(100, new Rng(seed))));
  const firstSeen = new Set<string>();
  const r = new Rng(seed + 1);
  for (let i = 0; i < 400; i++) firstSeen.add(shuffle(['a', 'b', 'c', 'd'], r).join(''));
  assert.is(firstSeen.size, 24, 'all 4! orders appear');
});

test('fork gives an independent, reproducible stream', () => {
  const a = new Rng(seed), b = new Rng(seed);
  const fa = a.fork(), fb = b.fork();
  assert.equal(take(fa, 10), take(fb, 10));
  assert.not.equal(take(fa, 10), take(a, 10));
});

test.run();
