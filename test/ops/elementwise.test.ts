import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { UNARY, BINARY, unary, binary, type UnaryOp, type BinaryOp, broadcastTo, compare } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const PARAMS: Partial<Record<UnaryOp, [number, number]>> = { leakyRelu: [0.1, 0], powScalar: [2.5, 0], affine: [1.7, -0.3], clamp: [-0.4, 0.5] };
const DOMAIN: Partial<Record<UnaryOp, [number, number]>> = { log: [0.1, 3], sqrt: [0.1, 3], rsqrt: [0.2, 3], powScalar: [0.1, 2] };

for (const op of Object.keys(UNARY) as UnaryOp[]) {
  for (const n of [1, 7, 130]) {
    test(`unary ${op} n=${n}: forward and backward vs float64`, async () => {
      const [lo, hi] = DOMAIN[op] ?? [-4, 4];
      const [a, b] = PARAMS[op] ?? [0, 0];
      const xs = randArray(n, lo, hi);
      const gs = randArray(n);
      const x = variable(tensor(xs));
      tidy(() => {
        const y = unary(op, x, a, b);
        backward(sum(binary('mul', y, tensor(gs))));
        return undefined;
      });
      const y = tidy(() => unary(op, x, a, b));
      const rule = UNARY[op];
      assertClose(await y.data(), Array.from(xs, (v) => rule.ref(v, a, b)), 2e-5, 2e-6, `${op} forward`);
      assertClose(await x.grad!.data(), Array.from(xs, (v, i) => gs[i] * rule.dref(v, a, b)), 1e-4, 1e-5, `${op} backward`);
      y.dispose(); x.grad!.dispose(); x.dispose();
    });
  }
}

const SHAPES: [number[], number[]][] = [[[7], [7]], [[3, 5], [5]], [[2, 1, 4], [3, 1]], [[1], [2, 33]], [[6, 1, 5, 1], [1, 7, 1, 3]]];
for (const op of Object.keys(BINARY) as BinaryOp[]) {
  for (const [sa, sb] of SHAPES) {
    test(`binary ${op} [${sa}] x [${sb}]: broadcast forward, backward vs finite differences`, async () => {
      const pos = op === 'pow';
      const na = sa.reduce((p, q) => p * q, 1), nb = sb.reduce((p, q) => p * q, 1);
      const A = randArray(na, pos ? 0.5 : -2, 2), B = randArray(nb, pos ? 0.5 : -2, 2);
      if (op === 'div') for (let i = 0; i < nb; i++) B[i] = B[i] >= 0 ? B[i] + 0.5 : B[i] - 0.5;
      // maximum/minimum: a on a grid of 0.1, b halfway between, so no pair is within the finite-difference step of a tie.
      if (op === 'maximum' || op === 'minimum') { A.forEach((v, i) => { A[i] = Math.round(v * 10) / 10; }); B.forEach((v, i) => { B[i] = Math.round(v * 10) / 10 + 0.05; }); }
      const a = variable(tensor(A, sa)), b = variable(tensor(B, sb));
      const outShape: number[] = [];
      const r = Math.max(sa.length, sb.length);
      for (let i = 0; i < r; i++) outShape.push(Math.max(sa[sa.length - r + i] ?? 1, sb[sb.length - r + i] ?? 1));
      const nOut = outShape.reduce((p, q) => p * q, 1);
      const W = randArray(nOut);
      const ref = (Av: ArrayLike<number>, Bv: ArrayLike<number>) => {
        const out = new Float64Array(nOut);
        for (let i = 0; i < nOut; i++) {
          let rem = i, ia = 0, ib = 0, mA = 1, mB = 1;
          for (let d = r - 1; d >= 0; d--) {
            const c = rem % outShape[d]; rem = Math.floor(rem / outShape[d]);
            const da = sa[d - (r - sa.length)] ?? 1, db = sb[d - (r - sb.length)] ?? 1;
            if (d - (r - sa.length) >= 0) { ia += (da === 1 ? 0 : c) * mA; mA *= da; }
            if (d - (r - sb.length) >= 0) { ib += (db === 1 ? 0 : c) * mB; mB *= db; }
          }
          out[i] = BINARY[op].ref(Av[ia], Bv[ib]);
        }
        return out;
      };
      const y = tidy(() => { const y = binary(op, a, b); backward(sum(binary('mul', y, tensor(W, outShape)))); return y; });
      assert.equal(y.shape, outShape);
      assertClose(await y.data(), ref(A, B), 1e-5, 1e-6, `${op} forward`);
      const loss = (Av: ArrayLike<number>, Bv: ArrayLike<number>) => ref(Av, Bv).reduce((s, v, i) => s + v * W[i], 0);
      if (op !== 'maximum' && op !== 'minimum') {
        assertClose(await a.grad!.data(), numericGrad((x) => loss(x, B), A), 2e-2, 2e-3, `${op} da`);
        assertClose(await b.grad!.data(), numericGrad((x) => loss(A, x), B), 2e-2, 2e-3, `${op} db`);
      } else {
        const ga = new Float64Array(na), gb = new Float64Array(nb);
        // exact reference: gradient routed to the selected operand
        const da = numericGrad((x) => loss(x, B), A, 1e-4), db = numericGrad((x) => loss(A, x), B, 1e-4);
        ga.set(da); gb.set(db);
        assertClose(await a.grad!.data(), ga, 1e-2, 1e-2, `${op} da`);
        assertClose(await b.grad!.data(), gb, 1e-2, 1e-2, `${op} db`);
      }
      for (const t of [y, a.grad!, b.grad!, a, b]) t.dispose();
    });
  }
}

test('broadcastTo and its gradient', async () => {
  const X = randArray(6);
  const x = variable(tensor(X, [2, 1, 3]));
  const y = tidy(() => { const y = broadcastTo(x, [4, 2, 5, 3]); backward(sum(y)); return y; });
  const d = await y.data();
  for (let i = 0; i < d.length; i++) {
    const k = i % 3, j = Math.floor(i / 15) % 2;
    assert.ok(Math.abs(d[i] - X[j * 3 + k]) < 1e-7);
  }
  assertClose(await x.grad!.data(), new Array(6).fill(20), 0, 0, 'grad');
  y.dispose(); x.grad!.dispose(); x.dispose();
});

test('compare gives a 0/1 mask', async () => {
  const a = tensor([1, 2, 3, 4]), b = tensor([2]);
  const m = compare('ge', a, b);
  assert.equal(Array.from(await m.data()), [0, 1, 1, 1]);
  a.dispose(); b.dispose(); m.dispose();
});

test.run();
