// A conv's input gradient adds the gradient its input already has (another branch reading it, as a
// residual shortcut) in the dx kernels' epilogue instead of a separate add: bit for bit the add of
// the two, for the GEMM, subgroup pointwise and Winograd dx kernels; the other kernels leave the sum to autograd.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { variable } from '../../engine/core/tape.ts';
import { conv2d, conv2dInputGrad, type Conv2dOptions } from '../../kernels/conv2d/conv2d.ts';
import { add } from '../../kernels/elementwise/elementwise.ts';
import { subgroupLanes } from '../../kernels/conv2d/launch.ts';

await setup();

const cases: [string, number[], number[], Conv2dOptions, boolean | 'subgroups'][] = [
  ['3x3 pad 1 (Winograd dx where the table has it)', [2, 8, 9, 7], [8, 8, 3, 3], { padding: 1, tuning: { conv: { winogradMinChannels: 0 } } }, true],
  ['3x3 pad 1, direct GEMM dx', [2, 8, 9, 7], [8, 8, 3, 3], { padding: 1, tuning: { conv: { dxWinograd: 0 } } }, true],
  ['3x3 pad 1, hardware table', [2, 5, 6, 9], [5, 5, 3, 3], { padding: 1, tuning: { conv: { dxWinograd: 0, subgroups: false, fwdWinograd: 0 } } }, true],
  ['5x3 pad (2, 1)', [1, 6, 7, 10], [6, 6, 5, 3], { padding: [2, 1] }, true],
  ['3x3 dilation 2 pad 2', [2, 4, 9, 9], [4, 4, 3, 3], { padding: 2, dilation: 2 }, true],
  ['1x1 pointwise (the subgroup build has the epilogue)', [3, 12, 4, 6], [12, 12, 1, 1], {}, 'subgroups'],
  ['depthwise 3x3 (sum left to autograd)', [2, 6, 7, 7], [6, 1, 3, 3], { padding: 1, groups: 6 }, false],
];

for (const [name, xs, ws, opts, intoKernel] of cases) {
  test(`conv2d dx + the input's other gradient: ${name}`, async () => {
    const n = xs.reduce((a, b) => a * b, 1);
    const X = randArray(n), W = randArray(ws.reduce((a, b) => a * b, 1), -0.5, 0.5), G = randArray(n);
    const x = variable(tensor(X, xs)), w = tensor(W, ws), g = tensor(G, xs);
    const rt = runtime();
    let adds = 0;
    tidy(() => {
      // root = conv(x) + x: the add hands g to x first, then the conv's dx adds it.
      const root = add(conv2d(x, w, null, opts), x);
      const b0 = rt.dispatchByName.get('binary') ?? 0;
      backward(root, g);
      adds = (rt.dispatchByName.get('binary') ?? 0) - b0;
    });
    const got = await x.grad!.data();
    const dx = conv2dInputGrad(g, w, xs, opts);
    const sep = await dx.data();
    const want = Float32Array.from(sep, (v, i) => Math.fround(v + Math.fround(G[i])));
    assert.equal(Array.from(got), Array.from(want), 'x.grad = dx + g');
    // Runs on the adapters whose tables pick a kernel with the epilogue; otherwise one add.
    if (intoKernel === true || (intoKernel === 'subgroups' && subgroupLanes() > 0)) assert.is(adds, 0, 'no separate add');
    else assert.is(adds, 1, 'one add');
    for (const t of [x.grad!, x, w, g, dx]) t.dispose();
  });
}

test.run();
