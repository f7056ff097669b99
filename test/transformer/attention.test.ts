import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, rand, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { dropoutMaskRef } from '../../kernels/dropout/reference.ts';
import { attention, type AttentionImpl } from '../../kernels/attention/attention.ts';
import { attentionRef, bthdToBhtd } from '../../kernels/attention/reference.ts';
import { variable } from '../../engine/core/tape.ts';
import { runtime } from '../../engine/core/runtime.ts';

test.before(async () => { await setup(); });

/** Padding mask (B, Tk): batch b attends to its first L_b keys (L_0 = Tk, the rest random in [1, Tk]). */
function paddingMask(B: number, Tk: number): Float32Array {
  const m = new Float32Array(B * Tk);
  for (let b = 0; b < B; b++) {
    const L = b === 0 ? Tk : 1 + Math.floor(rand() * Tk);
    for (let j = 0; j < L; j++) m[b * Tk + j] = 1;
  }
  return m;
}

interface Case { B: number; H: number; Tq: number; Tk: number; D: number }
// Head dims 1, 8, 16 (key tile 64), 20 (tile 32, zero-padded vec4s), 33 (tile 16); Tk above one
// tile; Tq above one 64-row query block; cross-attention (Tq != Tk). (Head dims of 64 and more are
// exercised by bench/bert.ts: lavapipe takes tens of seconds to compile those kernels.)
const CASES: Case[] = [
  { B: 1, H: 1, Tq: 1, Tk: 1, D: 1 }, { B: 2, H: 3, Tq: 7, Tk: 7, D: 8 }, { B: 3, H: 2, Tq: 5, Tk: 70, D: 16 },
  { B: 2, H: 1, Tq: 67, Tk: 13, D: 33 }, { B: 1, H: 2, Tq: 9, Tk: 37, D: 20 },
];

async function runCase(c: Case, impl: AttentionImpl, layout: 'bhtd' | 'bthd', opts: { dropout?: number; seed?: number } = {}) {
  const { B, H, Tq, Tk, D } = c;
  const Q = randArray(B * H * Tq * D), K = randArray(B * H * Tk * D, -1.5, 1.5), V = randArray(B * H * Tk * D), G = randArray(B * H * Tq * D);
  const M = paddingMask(B, Tk);
  // The reference works in bhtd; the bthd case feeds the same values transposed.
  const shape = (T: number) => (layout === 'bhtd' ? [B, H, T, D] : [B, T, H * D]);
  const conv = (x: Float32Array, T: number) => (layout === 'bhtd' ? x : Float32Array.from(bthdToBhtd(x, B, T, H, D, true)));
  const q = variable(tensor(conv(Q, Tq), shape(Tq))), k = variable(tensor(conv(K, Tk), shape(Tk))), v = variable(tensor(conv(V, Tk), shape(Tk)));
  const mask = tensor(M, [B, Tk]);
  const y = tidy(() => {
    const y = attention(q, k, v, { mask, heads: layout === 'bthd' ? H : undefined, impl, ...opts });
    backward(sum(mul(y, tensor(conv(G, Tq), shape(Tq)))));
    return y;
  });
  assert.equal(y.shape, shape(Tq));
  const back = async (t: { data(): Promise<Float32Array> }, T: number) => {
    const d = await t.data();
    return layout === 'bhtd' ? d : bthdToBhtd(d, B, T, H, D);
  };
  const got = { out: await back(y, Tq), dq: await back(q.grad!, Tq), dk: await back(k.grad!, Tk), dv: await back(v.grad!, Tk) };
  for (const t of [y, q.grad!, k.grad!, v.grad!, q, k, v, mask]) t.dispose();
  return { got, Q, K, V, G, M };
}

for (const impl of ['composed', 'fused'] as const) {
  for (const layout of ['bhtd', 'bthd'] as const) {
    for (const c of CASES) {
      test(`attention ${impl} ${layout} B${c.B} H${c.H} Tq${c.Tq} Tk${c.Tk} D${c.D} with padding mask: forward and dq/dk/dv vs float64`, async () => {
        const { got, Q, K, V, G, M } = await runCase(c, impl, layout);
        const ref = attentionRef({ q: Q, k: K, v: V, ...c, mask: M }, G);
        assertClose(got.out, ref.out, 1e-4, 1e-5, 'out');
        assertClose(got.dq, ref.dq, 1e-4, 1e-5, 'dq');
        assertClose(got.dk, ref.dk, 1e-4, 1e-5, 'dk');
        assertClose(got.dv, ref.dv, 1e-4, 1e-5, 'dv');
        // Padded keys take no part: zero gradient for their k and v rows.
        for (let b = 0; b < c.B; b++) for (let j = 0; j < c.Tk; j++) {
          if (M[b * c.Tk + j]) continue;
          for (let h = 0; h < c.H; h++) for (let d = 0; d < c.D; d++) {
            const at = ((b * c.H + h) * c.Tk + j) * c.D + d;
            if (got.dk[at] !== 0 || got.dv[at] !== 0) throw new Error(`padded key ${j} of batch ${b} has a gradient`);
          }
        }
      });
    }
  }
}

test('attention: fused and composed draw the same dropout mask; both match float64 with that mask', async () => {
  const c = { B: 2, H: 2, Tq: 9, Tk: 21, D: 8 };
  const p = 0.3, seed = 1 + Math.floor(rand() * 1e6);
  const a = await runCase(c, 'fused', 'bthd', { dropout: p, seed });
  // Same inputs for composed: rerun with a's data through the reference, and composed through runCase's
  // random draw would differ, so compare each against the reference built from its own inputs.
  const keep = dropoutMaskRef(c.B * c.H * c.Tq * c.Tk, p, seed);
  const refA = attentionRef({ q: a.Q, k: a.K, v: a.V, ...c, mask: a.M, keep, p }, a.G);
  for (const n of ['out', 'dq', 'dk', 'dv'] as const) assertClose(a.got[n], refA[n], 1e-4, 1e-5, `fused ${n}`);
  const b = await runCase(c, 'composed', 'bthd', { dropout: p, seed });
  const refB = attentionRef({ q: b.Q, k: b.K, v: b.V, ...c, mask: b.M, keep, p }, b.G);
  for (const n of ['out', 'dq', 'dk', 'dv'] as const) assertClose(b.got[n], refB[n], 1e-4, 1e-5, `composed ${n}`);
  // The mask matters: without it the reference disagrees.
  const noDrop = attentionRef({ q: a.Q, k: a.K, v: a.V, ...c, mask: a.M }, a.G);
  assert.ok(a.got.out.some((x, i) => Math.abs(x - noDrop.out[i]) > 1e-3), 'dropout changed the output');
});

// In the (B, T, H*D) layout too: the matmuls read and write the heads in place (no permutes).
test('attention composed: scale, mask, softmax and dropout are one kernel forward and one backward, in either layout', async () => {
  const B = 2, H = 3, T = 11, D = 5, rt = runtime();
  const ops = () => rt.dispatches - (rt.dispatchByName.get('test_poison') ?? 0); // the helpers' buffer poisoning left out
  for (const shape of [[B, H, T, D], [B, T, H * D]]) {
    const q = variable(tensor(randArray(B * H * T * D), shape)), k = variable(tensor(randArray(B * H * T * D), shape));
    const v = variable(tensor(randArray(B * H * T * D), shape)), mask = tensor(paddingMask(B, T), [B, T]);
    let fwd = 0, bwd = 0;
    tidy(() => {
      const d0 = ops();
      const y = attention(q, k, v, { mask, heads: H, impl: 'composed', dropout: 0.2, seed: 7 });
      const d1 = ops();
      backward(y, tensor(randArray(B * H * T * D), y.shape));
      fwd = d1 - d0; bwd = ops() - d1;
    });
    assert.is(fwd, 3, `${shape.length}-D: q·kᵀ, the weights, ·v`);
    assert.is(bwd, 5, `${shape.length}-D: two matmuls per product, the weights`);
    for (const t of [q.grad!, k.grad!, v.grad!, q, k, v, mask]) t.dispose();
  }
});

test('attention fused: gradients vs central finite differences', async () => {
  const B = 1, H = 2, Tq = 3, Tk = 4, D = 3;
  const Q = randArray(B * H * Tq * D), K = randArray(B * H * Tk * D), V = randArray(B * H * Tk * D), G = randArray(B * H * Tq * D);
  const M = new Float32Array([1, 1, 1, 0]);
  const q = variable(tensor(Q, [B, H, Tq, D])), k = variable(tensor(K, [B, H, Tk, D])), v = variable(tensor(V, [B, H, Tk, D]));
  const mask = tensor(M, [B, Tk]);
  tidy(() => { backward(sum(mul(attention(q, k, v, { mask, impl: 'fused' }), tensor(G, [B, H, Tq, D])))); });
  const f = (qq: ArrayLike<number>, kk: ArrayLike<number>, vv: ArrayLike<number>) =>
    attentionRef({ q: qq, k: kk, v: vv, B, H, Tq, Tk, D, mask: M }).out.reduce((s, y, i) => s + y * G[i], 0);
  assertClose(await q.grad!.data(), numericGrad((x) => f(x, K, V), Q), 1e-3, 1e-4, 'dq fd');
  assertClose(await k.grad!.data(), numericGrad((x) => f(Q, x, V), K), 1e-3, 1e-4, 'dk fd');
  assertClose(await v.grad!.data(), numericGrad((x) => f(Q, K, x), V), 1e-3, 1e-4, 'dv fd');
  for (const t of [q.grad!, k.grad!, v.grad!, q, k, v, mask]) t.dispose();
});

test('attention: values at padded positions do not change the output; a custom scale is used', async () => {
  const B = 2, H = 1, T = 6, D = 4;
  const Q = randArray(B * T * D), K = randArray(B * T * D), V = randArray(B * T * D);
  const M = new Float32Array([1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0]); // a non-prefix mask too
  const V2 = V.slice();
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) if (!M[b * T + t]) for (let d = 0; d < D; d++) V2[(b * T + t) * D + d] = 100;
  for (const impl of ['composed', 'fused'] as const) {
    const [q, k, v, v2, mask] = [tensor(Q, [B, T, D]), tensor(K, [B, T, D]), tensor(V, [B, T, D]), tensor(V2, [B, T, D]), tensor(M, [B, T])];
    const y1 = attention(q, k, v, { mask, heads: 1, impl, scale: 0.7 }), y2 = attention(q, k, v2, { mask, heads: 1, impl, scale: 0.7 });
    const a = await y1.data(), b = await y2.data();
    assertClose(a, b, 1e-6, 1e-6, `${impl} padded values`);
    assertClose(a, attentionRef({ q: Q, k: K, v: V, B, H, Tq: T, Tk: T, D, mask: M, scale: 0.7 }).out, 1e-4, 1e-5, `${impl} scale`);
    for (const t of [q, k, v, v2, mask, y1, y2]) t.dispose();
  }
});

test('attention rejects bad shapes by argument name', () => {
  const q = tensor(randArray(2 * 3 * 8), [2, 3, 8]), k = tensor(randArray(2 * 4 * 8), [2, 4, 8]), m = tensor(randArray(2 * 3), [2, 3]);
  assert.throws(() => attention(q, k, k), (e: unknown) => e instanceof ShapeError && /heads/.test((e as Error).message));
  assert.throws(() => attention(q, k, k, { heads: 3 }), (e: unknown) => e instanceof ShapeError && /divisible/.test((e as Error).message));
  assert.throws(() => attention(q, k, k, { heads: 2, mask: m }), (e: unknown) => e instanceof ShapeError && /'mask'/.test((e as Error).message));
  assert.throws(() => attention(q, k, q, { heads: 2 }), (e: unknown) => e instanceof ShapeError && /same shape/.test((e as Error).message));
  for (const t of [q, k, m]) t.dispose();
});

test.run();
