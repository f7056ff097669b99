/**
 * Child-process scenarios for the reliability suites: things that must not happen inside the shared
 * test process (losing and replacing the GPU device, a broken kernel polluting the device's error
 * queue, crashing in the middle of a save). Each prints `RESULT <json>` for the parent to check.
 *
 *   node child.ts device-loss <dir>          train, checkpoint, lose the device, resume on a new one
 *   node child.ts invalid-kernel              run broken WGSL (set THAW_DEBUG=1 for the debug path)
 *   node child.ts save-crash <path> <point>   save over <path>, SIGKILLed at <point> of the save
 *   node child.ts save-loop <path>            train and save forever, printing "saved <step>"
 *
 * Inert when imported (the test runner imports every file under test/reliability).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e) => { console.log(`RESULT ${JSON.stringify({ fatal: describe(e) })}`); process.exit(1); });
}

function describe(e: unknown): { name: string; kind?: string; message: string } {
  const x = e as any;
  return { name: x?.name ?? typeof e, kind: x?.kind, message: String(x?.message ?? e) };
}

async function main(args: string[]): Promise<void> {
  const { init, runtime, resetRuntime } = await import('../../engine/core/runtime.ts');
  const { resetGpu } = await import('../../engine/core/device.ts');
  const { tensor } = await import('../../engine/core/factory.ts');
  const { add } = await import('../../kernels/elementwise/elementwise.ts');
  const { saveTrainingCheckpoint, loadTrainingCheckpoint, encodeTrainingCheckpoint } = await import('../../engine/train/checkpoint.ts');
  const C = await import('./common.ts');
  const { injectFault } = await import('./faults.ts');
  await init();
  const [scenario, arg, point] = args;

  if (scenario === 'device-loss') {
    const path = join(arg, 'loss.safetensors');
    const from = 2 * C.SPE + 1; // mid-epoch
    const a = C.makeRun(3);
    const ref = await C.train(a, 0, C.TOTAL, new Map([[from, path]]));
    // The device goes away (as on a driver reset or a GPU hang): the next op must say so.
    const x = tensor([1, 2, 3]);
    runtime().device.destroy();
    let immediate = null, later = null;
    try { await add(x, x).data(); } catch (e) { immediate = describe(e); }
    await new Promise((r) => setTimeout(r, 20));
    try { add(x, x); } catch (e) { later = describe(e); }
    // Recover: a new device and runtime, the run rebuilt from scratch, the checkpoint loaded.
    resetGpu();
    resetRuntime();
    await init();
    let stale = null;
    try { await x.data(); } catch (e) { stale = describe(e); }
    const b = C.makeRun(77);
    const r = await loadTrainingCheckpoint(path, { model: b.model, optimizer: b.opt, scheduler: b.sched, rng: b.rng });
    const resumed = await C.train(b, r.step, C.TOTAL);
    console.log(`RESULT ${JSON.stringify({ from, ref: ref.slice(from), resumed, immediate, later, stale })}`);
  } else if (scenario === 'invalid-kernel') {
    const rt = runtime();
    const x = tensor([1, 2, 3]);
    const src = (body: string) => `struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { ${body} }`;
    const d0 = rt.dispatches;
    let runError = null, readError = null, syntaxError = null;
    const origError = console.error;
    const logged: string[] = [];
    console.error = (...m: unknown[]) => { logged.push(m.join(' ')); };
    try { rt.run({ key: 'thaw_test_broken_types', code: () => src('let bad: f32 = 1u; x[g.x] = bad;') }, { x }, { n: 3 }, [1]); } catch (e) { runError = describe(e); }
    try { await x.data(); } catch (e) { readError = describe(e); }
    try { rt.run({ key: 'thaw_test_broken_syntax', code: () => src('let bad bad = ;') }, { x }, { n: 3 }, [1]); } catch (e) { syntaxError = describe(e); }
    console.error = origError;
    console.log(`RESULT ${JSON.stringify({ debug: rt.debug, dispatched: rt.dispatches - d0, runError, readError, syntaxError, logged: logged.length })}`);
  } else if (scenario === 'save-crash' || scenario === 'save-loop') {
    const r = C.makeRun(scenario === 'save-crash' ? 2 : 4, scenario === 'save-loop' ? 512 : 0);
    let step = 0;
    for (;;) {
      C.fakeStep(r, step++);
      const state = { model: r.model, optimizer: r.opt, scheduler: r.sched, rng: r.rng, step, epoch: 0 };
      if (scenario === 'save-crash') {
        writeFileSync(`${arg}.expected`, await encodeTrainingCheckpoint(state));
        await injectFault(point as any, 'kill');
        console.log('saving');
        await saveTrainingCheckpoint(arg, state);
        console.log(`RESULT ${JSON.stringify({ survived: true })}`);
        return;
      }
      await saveTrainingCheckpoint(arg, state);
      console.log(`saved ${step}`);
    }
  } else {
    throw new Error(`unknown scenario '${scenario}'`);
  }
}
