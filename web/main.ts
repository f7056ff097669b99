/**
 * The browser demo: pick a backbone checkpoint, load labelled images, choose what to freeze,
 * fine-tune on this page's WebGPU device with a live chart, then classify dropped images.
 * Everything goes through the engine in ../index.ts; `window.thawDemo` lets tests drive the page.
 */
import { init, getGpu, preprocess } from '../index.ts';
import { CIFAR_PREPROCESS } from '../models/resnet_cifar.ts';
import { Session } from './session.ts';
import { fashionSample, addFiles, toDataset, counts, type Collection } from './data.ts';
import { collectDrop, labelChosen, decodeImage, drawImage, type LabelledFile } from './images.ts';
import { drawChart } from './chart.ts';
import { $, renderFreeze, renderStats, readStats, renderThumbs, renderPrediction, setProgress } from './view.ts';
import type { Image } from '../index.ts';

interface Manifest { backbones: { id: string; label: string; url: string; bytes: number }[]; backboneMissing: string | null; fashionMissing: string | null }

const session = new Session();
const spec = CIFAR_PREPROCESS;
let collection: Collection | null = null;
let manifest: Manifest | null = null;
let adapterInfo: Record<string, unknown> | null = null;
let busy: string | null = null;
let stopAsked = false;
let lastError: string | null = null;
let lastPrediction: { top: { label: string; p: number }[]; truth: string | null } | null = null;
let gpuOk = false;
/** The step the training run in progress ends at (the chart's x axis reaches it). */
let plannedEnd = 0;

/** Runs one user action at a time; errors go to the progress line and to status().error. */
async function task<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (busy) throw new Error(`busy with '${busy}'`);
  busy = name; lastError = null; refresh();
  try {
    return await fn();
  } catch (e) {
    lastError = (e as Error).message ?? String(e);
    setProgress(0, `${name} failed: ${lastError}`);
    console.error(e);
    throw e;
  } finally {
    busy = null; refresh();
  }
}
const ui = (p: Promise<unknown>) => { p.catch(() => {}); };

/** Enables what can be done now and redraws the panels. */
function refresh(): void {
  const idle = gpuOk && !busy;
  $<HTMLButtonElement>('load-backbone').disabled = !idle || !manifest?.backbones.length;
  $<HTMLButtonElement>('load-fashion').disabled = !idle || !!manifest?.fashionMissing;
  $<HTMLInputElement>('freeze').disabled = !idle || !session.model || !!session.lora;
  $<HTMLSelectElement>('lora').disabled = !idle || !session.model;
  $<HTMLButtonElement>('train').disabled = !idle || !session.ready;
  $<HTMLButtonElement>('stop').disabled = busy !== 'training';
  $<HTMLButtonElement>('predict-sample').disabled = !idle || !session.ready || !collection?.test.length;
  for (const id of ['s-backbone', 's-data', 's-freeze', 's-train', 's-predict']) $(id).classList.toggle('disabled', !gpuOk);
  renderFreeze(session);
  renderStats(session);
  drawChart($<HTMLCanvasElement>('chart'), { ...session.state, planned: plannedEnd });
}

async function loadBackbone(id?: string): Promise<void> {
  const b = manifest?.backbones.find((x) => x.id === (id ?? $<HTMLSelectElement>('backbone').value)) ?? manifest?.backbones[0];
  if (!b) throw new Error(manifest?.backboneMissing ?? 'no backbone is served');
  await task('loading backbone', async () => {
    setProgress(0.3, `downloading ${b.id}…`);
    const r = await fetch(b.url);
    if (!r.ok) throw new Error(`${b.url}: ${r.status}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    setProgress(0.7, `parsing ${b.id} and uploading the weights…`);
    const t0 = performance.now();
    const rep = await session.loadBackbone(bytes, b.id);
    startedOver();
    const n = session.model!.parameters().reduce((a, p) => a + p.size, 0);
    const groups = session.groups();
    $('backbone-report').innerHTML = `<b>${rep.loaded.length}</b> tensors (${(n / 1e6).toFixed(2)} M weights) loaded from <b>${b.id}</b> ` +
      `in ${(performance.now() - t0).toFixed(0)} ms · missing: ${rep.missing.length ? `<span class="bad">${rep.missing.join(', ')}</span>` : 'none'} · ` +
      `unexpected: ${rep.unexpected.length ? rep.unexpected.join(', ') : 'none'}<br>${groups.length} layer groups: ${groups[0].join('+')} → ` +
      `${groups.length - 2} residual blocks → ${groups.at(-1)!.join('+')} (<span id="head-note"></span>)`;
    $('head-note').textContent = headText();
    setProgress(0, 'backbone loaded');
  });
}

function headText(): string {
  return session.classes.length ? `new head: 64 → ${session.classes.length} classes` : 'the CIFAR-10 head, replaced when images are loaded';
}

function useCollection(c: Collection): void {
  collection = c;
  session.setData(toDataset(c.train, spec), c.test.length ? toDataset(c.test, spec) : null, c.classes);
  const n = counts(c);
  $('data-summary').innerHTML = `<b>${c.train.length}</b> training images in <b>${c.classes.length}</b> classes, ` +
    `<b>${c.test.length}</b> held out · ${c.source}<br>` + c.classes.map((k, i) => `${k} ${n[i]}`).join(' · ');
  renderThumbs(c);
  document.getElementById('head-note')?.replaceChildren(headText());
  startedOver();
}

/** After a new model, head or adapters: the chart's plan and the shown prediction belonged to the old one. */
function startedOver(): void {
  plannedEnd = 0;
  lastPrediction = null;
  renderPrediction([], null);
}

function setLora(rank: number): void {
  session.setLora(rank);
  startedOver();
  refresh();
}

async function loadFashion(perClass?: number, testPerClass?: number): Promise<void> {
  const k = perClass ?? Number($<HTMLSelectElement>('per-class').value);
  await task('loading images', async () => {
    setProgress(0.5, 'fetching the Fashion-MNIST sample…');
    useCollection(await fashionSample(k, testPerClass ?? Math.min(k, 10)));
    setProgress(0, 'images ready');
  });
}

async function addOwn(files: LabelledFile[], unlabelled: number): Promise<void> {
  if (!files.length) {
    $('data-summary').innerHTML = `<span class="bad">No labelled images in that drop${unlabelled ? ` (${unlabelled} loose images: type a label first)` : ''}.</span>`;
    return;
  }
  await task('decoding images', async () => {
    const c = await addFiles(files, collection, (d) => setProgress(d / files.length, `decoding ${d}/${files.length}`));
    if (c.classes.length < 2) {
      collection = c;
      $('data-summary').innerHTML = `<b>${c.train.length + c.test.length}</b> images of <b>${c.classes[0]}</b>: add a second class to train.`;
      renderThumbs(c);
    } else useCollection(c);
    setProgress(0, unlabelled ? `${unlabelled} loose images skipped (no label typed)` : 'images ready');
  });
}

/** Trains `steps` steps (default: the epochs field), evaluating after each epoch when asked. */
async function train(steps?: number, evalEachEpoch = steps === undefined): Promise<number[]> {
  return task('training', async () => {
    stopAsked = false;
    if (!session.prepared) {
      await session.prepare((what, d, t) => setProgress(d / t, `${what} ${d}/${t}`, 'features'));
    }
    const s = session.state;
    const total = steps ?? Number($<HTMLInputElement>('epochs').value) * s.stepsPerEpoch;
    const losses: number[] = [];
    plannedEnd = s.step + total;
    for (let i = 0; i < total && !stopAsked; i++) {
      const r = await session.step();
      losses.push(r.loss);
      setProgress((i + 1) / total, `epoch ${r.epoch} · step ${s.stepInEpoch}/${s.stepsPerEpoch} · loss ${r.loss.toFixed(3)} · ${s.imagesPerSec.toFixed(1)} img/s`);
      if (evalEachEpoch && s.stepInEpoch === s.stepsPerEpoch && session.test) {
        setProgress((i + 1) / total, `epoch ${r.epoch}: evaluating on ${session.test.length} held-out images…`);
        await session.evaluate();
      }
      renderStats(session);
      drawChart($<HTMLCanvasElement>('chart'), { ...s, planned: plannedEnd });
    }
    const acc = s.testAccs.at(-1);
    setProgress(1, `${stopAsked ? 'stopped' : 'done'}: ${s.step} steps, loss ${losses.at(-1)?.toFixed(3) ?? '–'}` + (acc ? `, held-out accuracy ${(acc[1] * 100).toFixed(1)}%` : ''));
    return losses;
  });
}

async function evaluateNow(): Promise<number | null> {
  return task('evaluating', async () => {
    if (!session.prepared) await session.prepare((what, d, t) => setProgress(d / t, `${what} ${d}/${t}`, 'features'));
    setProgress(0.5, `evaluating on ${session.test?.length ?? 0} held-out images…`);
    const a = await session.evaluate();
    setProgress(1, a === null ? 'no held-out images' : `held-out accuracy ${(a * 100).toFixed(1)}%`);
    return a;
  });
}

async function predictImage(img: Image, truth: string | null): Promise<typeof lastPrediction> {
  return task('predicting', async () => {
    const c = $<HTMLCanvasElement>('pred-img');
    const ctx = c.getContext('2d')!;
    c.width = c.height = 96;
    drawImage(ctx, img, 0, 0, 96);
    const top = await session.predict(preprocess(img, spec), 3);
    renderPrediction(top, truth);
    lastPrediction = { top: top.map(({ label, p }) => ({ label, p })), truth };
    return lastPrediction;
  });
}

async function predictHeldOut(i?: number) {
  const test = collection?.test ?? [];
  if (!test.length) throw new Error('no held-out images');
  const it = test[i ?? Math.floor(Math.random() * test.length)];
  return predictImage(it.img, collection!.classes[it.y]);
}

function dropTarget(id: string, onDrop: (dt: DataTransfer) => void): void {
  const el = $(id);
  el.addEventListener('dragover', (e) => { e.preventDefault(); el.classList.add('over'); });
  el.addEventListener('dragleave', () => el.classList.remove('over'));
  el.addEventListener('drop', (e) => { e.preventDefault(); el.classList.remove('over'); if (e.dataTransfer) onDrop(e.dataTransfer); });
}

function wire(): void {
  $('load-backbone').onclick = () => ui(loadBackbone());
  $('load-fashion').onclick = () => ui(loadFashion());
  $('lora').onchange = (e) => setLora(Number((e.target as HTMLSelectElement).value));
  $('freeze').oninput = (e) => { session.setFreeze(Number((e.target as HTMLInputElement).value)); refresh(); };
  $('lr').onchange = (e) => { const v = Number((e.target as HTMLInputElement).value); if (v > 0) session.setLr(v); };
  $('batch').onchange = (e) => { session.setBatchSize(Number((e.target as HTMLSelectElement).value)); refresh(); };
  $('train').onclick = () => ui(train());
  $('stop').onclick = () => { stopAsked = true; };
  $('predict-sample').onclick = () => ui(predictHeldOut());
  const label = () => $<HTMLInputElement>('drop-label').value.trim();
  dropTarget('dropzone', async (dt) => { const r = await collectDrop(dt, label()); ui(addOwn(r.files, r.unlabelled)); });
  $<HTMLInputElement>('pick-folder').onchange = (e) => {
    const r = labelChosen((e.target as HTMLInputElement).files!, label()); ui(addOwn(r.files, r.unlabelled));
  };
  const predictFile = async (f: File | undefined) => { if (f && session.ready) ui(predictImage(await decodeImage(f), null)); };
  dropTarget('predict-drop', (dt) => ui(predictFile(dt.files[0])));
  $<HTMLInputElement>('pick-predict').onchange = (e) => ui(predictFile((e.target as HTMLInputElement).files?.[0]));
  window.addEventListener('resize', () => { refresh(); renderThumbs(collection); });
}

function noWebGpu(message: string): void {
  const el = $('nogpu');
  el.hidden = false;
  el.innerHTML = '<b>WebGPU is not available in this browser, so the demo cannot run here.</b><span></span><br>' +
    'Use a recent Chrome or Edge (113 or later), or another browser with WebGPU turned on. ' +
    'On Linux, Chromium needs <code>--enable-unsafe-webgpu</code>.';
  el.querySelector('span')!.textContent = ` (${message})`;
  $('adapter').textContent = 'no WebGPU';
  $('adapter').classList.add('bad');
  lastError = message;
}

async function boot(): Promise<boolean> {
  wire();
  refresh();
  setProgress(0, 'starting…');
  manifest = await fetch('/api/manifest').then((r) => r.json()).catch(() => null);
  const sel = $<HTMLSelectElement>('backbone');
  sel.replaceChildren(...(manifest?.backbones ?? []).map((b) => new Option(`${b.label} · ${(b.bytes / 1e6).toFixed(1)} MB`, b.id)));
  if (!manifest?.backbones.length) $('backbone-report').innerHTML = `<span class="bad">${manifest?.backboneMissing ?? 'the server sent no manifest'}</span>`;
  if (manifest?.fashionMissing) $('data-summary').textContent = manifest.fashionMissing;
  if (!('gpu' in navigator)) {
    noWebGpu('navigator.gpu is undefined');
    setProgress(0, 'WebGPU unavailable');
    refresh();
    return false;
  }
  try {
    await init();
    const g = await getGpu();
    const raw = (g.adapter as any).info ?? {};
    adapterInfo = {};
    for (const k in raw) if (typeof raw[k] !== 'function') adapterInfo[k] = raw[k];
    const name = [g.info.vendor, g.info.architecture, g.info.device, g.info.description].filter(Boolean).join(' · ') || 'unnamed adapter';
    $('adapter').textContent = `WebGPU: ${name}${g.info.isSoftware ? ' (software)' : ''}`;
    gpuOk = true;
  } catch (e) {
    noWebGpu((e as Error).message);
  }
  setProgress(0, gpuOk ? 'ready: load a backbone and some images' : 'WebGPU unavailable');
  refresh();
  return gpuOk;
}

const ready = boot();

/** The test hook: drives the same code paths as the buttons. */
(window as any).thawDemo = {
  ready,
  status: () => ({
    phase: busy ?? 'idle', error: lastError, webgpu: gpuOk, adapter: adapterInfo,
    backbone: session.backbone, loaded: session.report?.loaded.length ?? 0, missing: session.report?.missing ?? [],
    classes: session.classes, trainSize: collection?.train.length ?? 0, testSize: collection?.test.length ?? 0,
    freezeDepth: session.freezeDepth, loraRank: session.loraRank, loraAdapted: session.lora?.adapted ?? [], groups: session.groups().length, trainable: session.summary()?.trainableElements ?? 0,
    cache: session.state.cache, step: session.state.step, epoch: session.state.epoch, losses: [...session.state.losses],
    testAccs: session.state.testAccs, imagesPerSec: session.state.imagesPerSec, prediction: lastPrediction, shown: readStats(),
  }),
  loadBackbone, loadFashion,
  setFreeze: (n: number) => { session.setFreeze(n); refresh(); },
  setLora,
  setLr: (lr: number) => { session.setLr(lr); ($('lr') as HTMLInputElement).value = String(lr); },
  runSteps: async (n: number, opts: { evaluate?: boolean } = {}) => ({ losses: await train(n, !!opts.evaluate) }),
  evaluate: evaluateNow,
  predictHeldOut,
  stop: () => { stopAsked = true; },
};
