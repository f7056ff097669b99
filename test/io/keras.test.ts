import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kerasConvToTorch, kerasDenseToTorch, kerasDepthwiseToTorch, kerasToTorch, permute } from '../../engine/io/keras.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { throwsKind } from './helpers.ts';

const iota = (shape: number[]): HostTensor => ({ dtype: 'f32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i) });

test('conv HWIO [kh,kw,in,out] → OIHW [out,in,kh,kw], by hand', () => {
  // k[y][x][i][o] = y*12 + x*6 + i*3 + o for a [2,2,2,3] kernel.
  const t = kerasConvToTorch(iota([2, 2, 2, 3]));
  assert.equal(t.shape, [3, 2, 2, 2]);
  // out[o][i][y][x] = k[y][x][i][o]: o=0,i=0 → y,x = 00,01,10,11 → 0,6,12,18; o=0,i=1 → 3,9,15,21
  assert.equal([...t.data.slice(0, 8)], [0, 6, 12, 18, 3, 9, 15, 21]);
  assert.equal([...t.data.slice(8, 12)], [1, 7, 13, 19]); // o=1, i=0
  // Conv1D [k,in,out] → [out,in,k]
  const c1 = kerasConvToTorch(iota([3, 1, 2]));
  assert.equal(c1.shape, [2, 1, 3]);
  assert.equal([...c1.data], [0, 2, 4, 1, 3, 5]);
});

test('depthwise [kh,kw,in,mult] → [in*mult,1,kh,kw], output channel i*mult+m', () => {
  // k[y][x][i][m] = y*8 + x*4 + i*2 + m for [2,2,2,2].
  const t = kerasDepthwiseToTorch(iota([2, 2, 2, 2]));
  assert.equal(t.shape, [4, 1, 2, 2]);
  assert.equal([...t.data], [0, 4, 8, 12, /* i0 m1 */ 1, 5, 9, 13, /* i1 m0 */ 2, 6, 10, 14, /* i1 m1 */ 3, 7, 11, 15]);
  const m1 = kerasDepthwiseToTorch(iota([1, 1, 3, 1]));
  assert.equal(m1.shape, [3, 1, 1, 1]);
  assert.equal([...m1.data], [0, 1, 2]);
});

test('Dense [in,out] → Linear [out,in]', () => {
  const t = kerasDenseToTorch({ dtype: 'f32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
  assert.equal(t.shape, [3, 2]);
  assert.equal([...t.data], [1, 4, 2, 5, 3, 6]);
});

test('permute keeps dtype and array type, and refuses non-permutations', async () => {
  const t = permute({ dtype: 'i64', shape: [2, 1, 2], data: new Int32Array([1, 2, 3, 4]) }, [2, 1, 0]);
  assert.instance(t.data, Int32Array);
  assert.is(t.dtype, 'i64');
  assert.equal([...t.data], [1, 3, 2, 4]);
  await throwsKind(() => permute(iota([2, 2]), [0, 0]), 'bad-shape');
  await throwsKind(() => kerasDenseToTorch(iota([2, 2, 2])), 'bad-shape');
});

test('kerasToTorch renames (BN, kernels) and adapts layouts by parameter name and rank', () => {
  const ck = {
    format: 'tfjs-layers' as const, metadata: {},
    tensors: new Map<string, HostTensor>([
      ['conv2d_1/kernel', iota([1, 1, 2, 3])], ['conv2d_1/bias', iota([3])],
      ['batch_normalization_1/gamma', iota([3])], ['batch_normalization_1/beta', iota([3])],
      ['batch_normalization_1/moving_mean', iota([3])], ['batch_normalization_1/moving_variance', iota([3])],
      ['block/expanded_conv_depthwise/depthwise_kernel', iota([3, 3, 4, 1])], ['dense_1/kernel', iota([4, 5])],
    ]),
  };
  const t = kerasToTorch(ck);
  assert.equal([...t.tensors.keys()], ['conv2d_1.weight', 'conv2d_1.bias', 'batch_normalization_1.weight', 'batch_normalization_1.bias',
    'batch_normalization_1.running_mean', 'batch_normalization_1.running_var', 'block.expanded_conv_depthwise.weight', 'dense_1.weight']);
  assert.equal(t.tensors.get('conv2d_1.weight')!.shape, [3, 2, 1, 1]);
  assert.equal(t.tensors.get('block.expanded_conv_depthwise.weight')!.shape, [4, 1, 3, 3]);
  assert.equal(t.tensors.get('dense_1.weight')!.shape, [5, 4]);
  assert.is((t.metadata.kerasNames as Record<string, string>)['dense_1.weight'], 'dense_1/kernel');
});

test.run();
