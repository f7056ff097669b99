// SiLU, hardswish and hardsigmoid against torch (test/fixtures/make_activation_fixtures.py) at and
// around their kinks, where the gradient's convention matters; the random-input tests of every unary
// op against its float64 rule are in elementwise.test.ts.
import { test } from 'uvu';
import { readFileSync } from 'node:fs';
import { init } from '../../engine/core/runtime.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { variable } from '../../engine/core/tape.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { silu, hardswish, hardsigmoid, sum } from '../../kernels/index.ts';
import { SiLU, Hardswish, Hardsigmoid } from '../../engine/nn/index.ts';
import { assertClose } from '../helpers.ts';

const fx = JSON.parse(readFileSync(new URL('../fixtures/activation/activations.json', import.meta.url), 'utf8'));
const OPS = { silu: [silu, SiLU], hardswish: [hardswish, Hardswish], hardsigmoid: [hardsigmoid, Hardsigmoid] } as const;

test.before(async () => { await init(); });

for (const [name, [op, Layer]] of Object.entries(OPS)) {
  test(`${name}: values and gradients equal torch's at the kinks`, async () => {
    const x = variable(tensor(fx.x));
    const y = tidy(() => op(x));
    tidy(() => { backward(sum(new Layer().forward(x))); return undefined; });
    assertClose(await y.data(), fx[name].y, 1e-6, 1e-6, `${name} forward`);
    assertClose(await x.grad!.data(), fx[name].dx, 1e-6, 1e-6, `${name} backward`);
    y.dispose(); x.grad!.dispose(); x.dispose();
  });
}

test.run();
