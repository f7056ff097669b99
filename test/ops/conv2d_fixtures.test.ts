// conv2d and its gradients against PyTorch (test/fixtures/make_conv_fixtures.py).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import {
  conv2d, conv2dInputGrad, conv2dWeightGrad, conv2dBiasGrad, conv2dOutputShape, convGeometry, pickVariant,
  conv2dRef, conv2dDxRef, conv2dDwRef, conv2dDbiasRef, type Conv2dOptions, type ConvVariant,
} from '../../kernels/conv2d/conv2d.ts';
import { subgroupLanes } from '../../kernels/conv2d/launch.ts';
import { variable } from '../../engine/core/tape.ts';
import type { TuningPatch } from '../../engine/core/tuning.ts';
import { numel, snapshot, ran, fwdKernel, runWithGrads } from './conv_helpers.ts';

await setup();

// ---- PyTorch fixtures (test/fixtures/make_conv_fixtures.py) ----------------------------------
const dir = new URL('../fixtures/conv/', import.meta.url);
const index = JSON.parse(readFileSync(new URL('index.json', dir), 'utf8'));
const bin = readFileSync(new URL('conv.bin', dir));
const blob = new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4);
const arr = (ref: [number, number]) => blob.slice(ref[0], ref[0] + ref[1]);

for (const c of index.cases) {
  for (const variant of ['auto', 'naive'] as const) {
    test(`torch fixture ${c.name} (${variant}): y, dx, dw, db`, async () => {
      const d = c.data;
      const opts: Conv2dOptions = { ...c.options, variant };
      assert.equal(conv2dOutputShape(c.x, c.w, opts), c.y, 'output shape');
      const kind = pickVariant(convGeometry(c.x, c.w, opts), variant);
      const since = snapshot();
      const r = await runWithGrads(arr(d.x), c.x, arr(d.w), c.w, d.bias ? arr(d.bias) : null, arr(d.gy), opts);
      // Depthwise forward streams rows unless the ring exceeds its budget, then runs the tile kernel.
      const fwd = kind === 'depthwise' ? [fwdKernel('depthwise'), 'conv2d_depthwise'] : [fwdKernel(kind)];
      assert.ok(fwd.some((k) => ran(since, k) >= 1), `${fwd.join(' or ')} ran`);
      assert.equal(r.yShape, c.y);
      assertClose(r.y, arr(d.y), 1e-4, 1e-5, `${c.name} y`);
      assertClose(r.dx, arr(d.dx), 1e-4, 1e-5, `${c.name} dx`);
      assertClose(r.dw, arr(d.dw), 1e-4, 5e-5, `${c.name} dw`);
      if (d.db) assertClose(r.db!, arr(d.db), 1e-4, 5e-5, `${c.name} db`);
    });
  }
}

test('fixtures pick the fast kernel families they are meant to cover', () => {
  const kinds = new Set(index.cases.map((c: any) => pickVariant(convGeometry(c.x, c.w, c.options))));
  assert.equal([...kinds].sort(), ['depthwise', 'gemm', 'pointwise']);
});

test.run();
