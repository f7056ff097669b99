import { test } from 'uvu';
import { setup, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { gelu } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { loadCheckpointFile } from '../../engine/io/fs.ts';
import { join } from 'node:path';
import { FIXTURES } from './bert_helpers.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

// BERT's intermediate activation: thaw's gelu against torch.nn.functional.gelu (float64) at 80 points
// in [-6, 6] and beyond, forward and derivative. The erf form uses a 1.5e-7-accurate erf in WGSL.
for (const mode of ['none', 'tanh'] as const) {
  test(`gelu(x, '${mode}') and its derivative match torch`, async () => {
    const t = (await loadCheckpointFile(join(FIXTURES, 'expected.safetensors'))).tensors;
    const X = t.get('gelu.x')!.data as Float32Array;
    const x = variable(tensor(X, [X.length]));
    const y = tidy(() => { const y = gelu(x, mode); backward(sum(y)); return y; });
    assertClose(await y.data(), t.get(`gelu.${mode}`)!.data, 1e-5, 5e-7, `gelu ${mode}`);
    assertClose(await x.grad!.data(), t.get(`gelu.${mode}.grad`)!.data, 1e-5, 1e-6, `gelu ${mode} derivative`);
    y.dispose(); x.grad!.dispose(); x.dispose();
  });
}

test.run();
