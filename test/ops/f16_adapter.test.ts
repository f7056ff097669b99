// An adapter without 'shader-f16' (SwiftShader) refuses f16 tensors with an error naming the feature.
// Runs in a child process, since the adapter is chosen once per process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { SWIFTSHADER_ICD } from '../../engine/core/device.ts';

test('SwiftShader: tensor(..., "f16") and cast(x, "f16") throw naming shader-f16', () => {
  if (!existsSync(SWIFTSHADER_ICD)) return;
  const script = `
    import { init } from './engine/core/runtime.ts';
    import { tensor } from './engine/core/factory.ts';
    import { cast } from './kernels/cast/cast.ts';
    await init();
    for (const f of [() => tensor([1, 2], [2], 'f16'), () => cast(tensor([1, 2]), 'f16')]) {
      try { f(); console.log('no error'); } catch (e) { console.log(e.kind + ': ' + e.message); }
    }
    process.exit(0);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, THAW_ADAPTER: 'swiftshader', VK_ICD_FILENAMES: SWIFTSHADER_ICD }, cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8',
  });
  const lines = out.trim().split('\n').filter((l) => !l.startsWith('Warning'));
  assert.is(lines.length, 2, out);
  for (const l of lines) assert.match(l, /^no-shader-f16: an f16 tensor needs the WebGPU feature 'shader-f16', which this adapter \(swiftshader.*\) does not offer; use f32/);
});

test.run();
