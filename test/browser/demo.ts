/**
 * The demo page's checks for test/browser/run.ts: the real ResNet-20 checkpoint and a Fashion-MNIST
 * sample, a short fine-tune with part of the trunk trainable (the loss must fall), held-out
 * evaluation, predictions for an uploaded PNG and a held-out image, a screenshot, LoRA from the freeze
 * panel, and the page without WebGPU.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'playwright-core';
import { loadFashionMnist, FASHION_MNIST_DIR } from '../../engine/data/fashion_mnist.ts';

export interface Check { name: string; ok: boolean; ms?: number; detail?: string; skip?: string }

/** [freezeTo depth, steps, what trains, the last third's mean loss over the first third's must be below]. */
const PHASES: [number, number, string, number][] = [[10, 28, 'the head only', 0.85], [9, 10, 'layer3.2 + head', 1]];
const STEPS = PHASES.reduce((a, p) => a + p[1], 0);
const PER_CLASS = 10, TEST_PER_CLASS = 5;
const LORA_RANK = 4, LORA_STEPS = 4;

const demo = (page: Page) => ({
  status: () => page.evaluate(() => (window as any).thawDemo.status()),
  call: (fn: string, ...args: unknown[]) => page.evaluate(([f, a]) => (window as any).thawDemo[f as string](...(a as unknown[])), [fn, args] as const),
});

async function timed(name: string, fn: () => Promise<string | void>): Promise<Check> {
  const t0 = Date.now();
  try {
    const detail = await fn();
    return { name, ok: true, ms: Date.now() - t0, detail: detail ?? undefined };
  } catch (e) {
    return { name, ok: false, ms: Date.now() - t0, detail: (e as Error).message };
  }
}

function expect(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A Fashion-MNIST test image as a PNG file (what a person would drop on the page), with its label. */
function fashionPng(i: number): { buffer: Buffer; label: number } {
  const s = loadFashionMnist(FASHION_MNIST_DIR, 'test');
  const png = new PNG({ width: s.width, height: s.height });
  for (let p = 0; p < s.width * s.height; p++) {
    const v = s.images[i * s.width * s.height + p];
    png.data[4 * p] = png.data[4 * p + 1] = png.data[4 * p + 2] = v;
    png.data[4 * p + 3] = 255;
  }
  return { buffer: PNG.sync.write(png), label: s.labels[i] };
}

export async function* demoChecks(page: Page, base: string, root: string, errors: string[]): AsyncGenerator<Check> {
  const d = demo(page);
  const boot = await timed('demo: the page boots on WebGPU and shows the adapter', async () => {
    await page.goto(`${base}/`);
    const ok = await page.evaluate(() => (window as any).thawDemo.ready);
    const s = await d.status();
    expect(ok && s.webgpu, `WebGPU did not start: ${s.error}`);
    const badge = await page.textContent('#adapter');
    console.log(`browser: demo adapter.info: ${JSON.stringify(s.adapter)}; badge: "${badge}"`);
    expect(badge?.startsWith('WebGPU:'), `adapter badge reads "${badge}"`);
  });
  yield boot;
  if (!boot.ok) return;

  const manifest = await page.evaluate(() => fetch('/api/manifest').then((r) => r.json()));
  if (!manifest.backbones.length) {
    yield { name: 'demo: fine-tune with the real ResNet-20 checkpoint', ok: true, skip: `${manifest.backboneMissing} (../shared is absent)` };
    return;
  }
  if (manifest.fashionMissing) {
    yield { name: 'demo: fine-tune on the Fashion-MNIST sample', ok: true, skip: manifest.fashionMissing };
    return;
  }

  yield await timed('demo: loads the real ResNet-20 checkpoint (legacy .th) in the page', async () => {
    await d.call('loadBackbone', manifest.backbones[0].id);
    const s = await d.status();
    expect(s.loaded >= 20 && s.missing.length === 0, `loaded ${s.loaded} tensors, missing [${s.missing}]`);
    expect(s.groups === 11, `ResNet-20 should have 11 layer groups, the page sees ${s.groups}`);
    return `${s.loaded} tensors from ${s.backbone}`;
  });

  yield await timed(`demo: Fashion-MNIST sample (${PER_CLASS}/class, ${TEST_PER_CLASS}/class held out) from the server`, async () => {
    await d.call('loadFashion', PER_CLASS, TEST_PER_CLASS);
    const s = await d.status();
    expect(s.trainSize === 10 * PER_CLASS && s.testSize === 10 * TEST_PER_CLASS && s.classes.length === 10, `train ${s.trainSize}, test ${s.testSize}, classes ${s.classes.length}`);
  });

  // Progressive unfreezing, as a person would do it on the page: the head alone first (the whole trunk
  // cached), then layer3.2 as well (conv and batch-norm backward in the page, stem..layer2 cached).
  for (const [freeze, steps, what, factor] of PHASES) {
    yield await timed(`demo: fine-tune ${steps} steps, freezeTo(${freeze}) (${what}): the loss falls`, async () => {
      await d.call('setFreeze', freeze);
      await d.call('setLr', 0.05);
      const losses: number[] = (await d.call('runSteps', steps)).losses;
      const s = await d.status();
      console.log(`browser: demo losses at freezeTo(${freeze}): ${losses.map((l) => l.toFixed(3)).join(' ')}`);
      console.log(`browser: demo cache: ${JSON.stringify(s.cache)}; trainable weights: ${s.trainable}; ${s.imagesPerSec.toFixed(1)} img/s`);
      expect(losses.length === steps && losses.every(Number.isFinite), `losses: [${losses}]`);
      const third = Math.floor(steps / 3);
      const first = mean(losses.slice(0, third)), last = mean(losses.slice(-third));
      expect(last < first * factor, `the loss did not fall: first ${third} steps average ${first.toFixed(3)}, last ${third} ${last.toFixed(3)}`);
      const [lo, hi] = freeze === 10 ? [650, 650] : [74_634, 74_634];
      expect(s.trainable >= lo && s.trainable <= hi, `trainable weights ${s.trainable}: expected ${what}`);
      return `loss ${first.toFixed(3)} → ${last.toFixed(3)}`;
    });
  }

  yield await timed(`demo: over all ${STEPS} steps the loss falls (last third's mean < 0.75 × the first third's)`, async () => {
    const all: number[] = (await d.status()).losses;
    const third = Math.floor(all.length / 3);
    const first = mean(all.slice(0, third)), last = mean(all.slice(-third));
    expect(all.length === STEPS && last < 0.75 * first, `${all.length} losses; first third ${first.toFixed(3)}, last third ${last.toFixed(3)}`);
    return `${first.toFixed(3)} → ${last.toFixed(3)}`;
  });

  yield await timed('demo: held-out accuracy after fine-tuning is above chance', async () => {
    const acc = await d.call('evaluate');
    expect(typeof acc === 'number' && acc > 0.2, `held-out accuracy ${acc}`);
    return `${(acc * 100).toFixed(1)}%`;
  });

  yield await timed('demo: an uploaded PNG is decoded in the page and gets a top-3 prediction', async () => {
    const { buffer, label } = fashionPng(0);
    await page.setInputFiles('#pick-predict', { name: 'fashion-test-0.png', mimeType: 'image/png', buffer });
    await page.waitForFunction(() => (window as any).thawDemo.status().prediction?.truth === null, null, { timeout: 0 });
    const p = (await d.status()).prediction;
    expect(p.top.length === 3 && Math.abs(p.top.reduce((a: number, t: any) => a + t.p, 0)) <= 1.0001, `prediction ${JSON.stringify(p)}`);
    return `true ${(await d.status()).classes[label]}; predicted ${p.top.map((t: any) => `${t.label} ${(t.p * 100).toFixed(0)}%`).join(', ')}`;
  });

  yield await timed('demo: a held-out image gets a top-3 prediction; screenshot saved to out/browser/demo.png', async () => {
    await d.call('predictHeldOut', 0);
    const s = await d.status();
    expect(s.prediction?.top.length === 3, 'no prediction shown');
    const shown = s.shown;
    console.log(`browser: numbers on the page: ${Object.entries(shown).map(([k, v]) => `${k}: ${v}`).join(' | ')}`);
    console.log(`browser: progress line: "${await page.textContent('#progress-text')}"`);
    console.log(`browser: prediction: true ${s.prediction.truth}; ${s.prediction.top.map((t: any) => `${t.label} ${(t.p * 100).toFixed(1)}%`).join(', ')}`);
    expect(shown.step === String(STEPS), `the page shows step ${shown.step}`);
    mkdirSync(join(root, 'out', 'browser'), { recursive: true });
    await page.screenshot({ path: join(root, 'out', 'browser', 'demo.png'), fullPage: true });
    expect(!errors.length, `page errors: ${errors.join(' | ')}`);
    return 'out/browser/demo.png';
  });

  yield await timed(`demo: LoRA rank ${LORA_RANK} trains only the adapters and the head; ${LORA_STEPS} steps give finite losses (screenshot out/browser/demo-lora.png); off restores the freeze depth`, async () => {
    const before = (await d.status()).trainable;
    await d.call('setLora', LORA_RANK);
    const s = await d.status();
    expect(s.loraRank === LORA_RANK && s.step === 0 && s.losses.length === 0, `after setLora: rank ${s.loraRank}, step ${s.step}`);
    const shownTop = await page.$$eval('#top3 li', (li) => li.length);
    expect(s.prediction === null && shownTop === 0, `after setLora the old model's prediction is still shown (${shownTop} rows)`);
    expect(s.loraAdapted.length === 18, `adapted ${s.loraAdapted.length} layers: [${s.loraAdapted.slice(0, 3)}, …], expected the 18 block convs`);
    const want = resnet20LoraWeights(LORA_RANK) + 64 * 10 + 10;
    expect(s.trainable === want, `trainable weights ${s.trainable}, expected ${want} (rank-${LORA_RANK} adapters on the 18 block convs + the 64→10 head)`);
    const losses: number[] = (await d.call('runSteps', LORA_STEPS)).losses;
    console.log(`browser: demo LoRA rank ${LORA_RANK} losses: ${losses.map((l) => l.toFixed(3)).join(' ')}; cache: ${JSON.stringify((await d.status()).cache)}`);
    expect(losses.length === LORA_STEPS && losses.every(Number.isFinite), `losses: [${losses}]`);
    await page.screenshot({ path: join(root, 'out', 'browser', 'demo-lora.png'), fullPage: true });
    await d.call('setLora', 0);
    const off = await d.status();
    expect(off.loraRank === 0 && off.trainable === before, `LoRA off: trainable ${off.trainable}, before LoRA ${before}`);
    expect(!errors.length, `page errors: ${errors.join(' | ')}`);
    return `${s.trainable} trainable weights; loss ${losses[0].toFixed(3)} → ${losses.at(-1)!.toFixed(3)}`;
  });
}

/**
 * Weights of rank-r LoRA adapters on ResNet-20's 18 block convs (3x3, no bias), counted from the
 * architecture: A is a 3x3 conv in → r, B a 1x1 conv r → out.
 */
function resnet20LoraWeights(r: number): number {
  let n = 0, inPlanes = 16;
  for (const planes of [16, 32, 64]) {
    for (let b = 0; b < 3; b++) {
      n += r * inPlanes * 9 + planes * r; // conv1: inPlanes → planes
      n += r * planes * 9 + planes * r; // conv2: planes → planes
      inPlanes = planes;
    }
  }
  return n;
}

/** The same page with navigator.gpu removed: a clear message, not a blank page. */
export async function noWebGpuCheck(browser: Browser, base: string, root: string): Promise<Check> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 700 } });
  page.setDefaultTimeout(0);
  try {
    return await timed('demo without WebGPU: the page says so clearly', async () => {
      await page.addInitScript(() => { delete (Navigator.prototype as any).gpu; });
      await page.goto(`${base}/`);
      await page.evaluate(() => (window as any).thawDemo.ready);
      expect(await page.isVisible('#nogpu'), 'the #nogpu message is hidden');
      const text = (await page.textContent('#nogpu')) ?? '';
      expect(/WebGPU is not available/.test(text), `message: "${text}"`);
      expect(await page.isDisabled('#load-backbone'), 'the load button is enabled');
      mkdirSync(join(root, 'out', 'browser'), { recursive: true });
      await page.screenshot({ path: join(root, 'out', 'browser', 'no-webgpu.png') });
      return text.slice(0, 80);
    });
  } finally {
    await page.close();
  }
}

