/** Drawing the demo's panels from the session state: freeze groups, stats, thumbnails, predictions. */
import { LORA_TARGET_TEXT, type Session } from './session.ts';
import type { Collection, Item } from './data.ts';
import { drawImage, fitCanvas } from './images.ts';

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

const fmt = (v: number | null | undefined, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const pct = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)}%`);

/** The layer-group chips (frozen / trainable) and the summary under the freeze slider. */
export function renderFreeze(s: Session): void {
  const groups = s.groups();
  const box = $('groups');
  box.replaceChildren(...groups.map((g, i) => {
    const el = document.createElement('span');
    el.className = `group ${(s.lora ? i < groups.length - 1 : i < s.freezeDepth) ? 'frozen' : 'trainable'}`;
    el.textContent = g.length === 1 ? g[0] : g.join('+');
    return el;
  }));
  const slider = $<HTMLInputElement>('freeze');
  slider.max = String(Math.max(0, groups.length - 1));
  slider.value = String(Math.max(0, s.freezeDepth));
  const out = $('freeze-out');
  out.textContent = !groups.length ? '–' : s.lora ? 'LoRA' : s.freezeDepth === groups.length - 1 ? 'head only'
    : s.freezeDepth === 0 ? 'nothing frozen' : `${s.freezeDepth} of ${groups.length} frozen`;
  $<HTMLSelectElement>('lora').value = String(s.loraRank);
  $('lora-note').textContent = s.lora
    ? `Rank-${s.lora.rank} adapters on ${s.lora.adapted.length} layers: ${LORA_TARGET_TEXT}; the pre-trained weights stay frozen, the adapters and the head train. Changing LoRA reloads the checkpoint and starts training over.`
    : `Off: the freeze depth decides what trains. Turning LoRA on (adapters on ${LORA_TARGET_TEXT}) reloads the checkpoint and starts training over.`;
  const sum = s.summary();
  $('freeze-summary').innerHTML = sum
    ? `<b>${sum.trainableElements.toLocaleString()}</b> trainable weights in ${sum.trainable} tensors; ${sum.frozen} tensors and ${sum.frozenNorms} batch norms frozen.` +
      ` ${s.cachePlan()}`
    : '';
}

/** The numbers under the chart. */
export function renderStats(s: Session): void {
  const t = s.state;
  const last = t.testAccs.at(-1);
  const rows: [string, string, string?][] = [
    ['step', t.step ? `${t.step}` : '–'],
    ['epoch', t.epoch ? `${t.epoch} (${t.stepInEpoch}/${t.stepsPerEpoch})` : '–'],
    ['loss', fmt(t.losses.at(-1))],
    ['epoch loss', fmt(t.epoch ? t.epochLoss : null)],
    ['train accuracy', pct(t.epoch ? t.epochAcc : null)],
    ['held-out accuracy', pct(last?.[1])],
    ['images / s', t.imagesPerSec ? t.imagesPerSec.toFixed(1) : '–'],
    ['feature cache', t.cache ? (t.cache.on ? `after ${t.cache.after} [${t.cache.shape.join('×')}]` : 'off') : '–', 'small-dd'],
  ];
  $('stats').replaceChildren(...rows.map(([k, v, cls]) => {
    const d = document.createElement('div');
    d.dataset.stat = k;
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    if (cls) dd.className = cls;
    if (k === 'feature cache' && t.cache) dd.title = t.cache.reason;
    d.append(dt, dd);
    return d;
  }));
}

/** The numbers on the page as { label: text } (what the browser test prints). */
export function readStats(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of Array.from(document.querySelectorAll<HTMLElement>('#stats [data-stat]'))) out[d.dataset.stat!] = d.querySelector('dd')!.textContent ?? '';
  return out;
}

/** A strip of thumbnails, classes interleaved so every class shows. */
export function renderThumbs(c: Collection | null): void {
  const canvas = $<HTMLCanvasElement>('thumbs');
  if (!c || !c.train.length) { canvas.style.height = '0px'; return; }
  const size = 30, gap = 3;
  const cols = Math.max(1, Math.floor((canvas.clientWidth + gap) / (size + gap)));
  const byClass = c.classes.map((_, y) => c.train.filter((it) => it.y === y));
  const order: Item[] = [];
  for (let k = 0; order.length < c.train.length; k++) for (const list of byClass) if (list[k]) order.push(list[k]);
  const shown = order.slice(0, cols * 2);
  const rows = Math.ceil(shown.length / cols);
  const { ctx } = fitCanvas(canvas, rows * (size + gap) - gap);
  shown.forEach((it, i) => drawImage(ctx, it.img, (i % cols) * (size + gap), Math.floor(i / cols) * (size + gap), size));
}

/** The top-k list (with the true label when known). */
export function renderPrediction(top: { label: string; p: number; index: number }[], truth: string | null): void {
  const list = $('top3');
  list.replaceChildren(...top.map((t, i) => {
    const li = document.createElement('li');
    if (i === 0 && truth !== null && t.label !== truth) li.className = 'wrong';
    li.innerHTML = `<div class="lbl"><b></b><span>${(t.p * 100).toFixed(1)}%</span></div><div class="track"><div class="fill" style="width:${(t.p * 100).toFixed(1)}%"></div></div>`;
    li.querySelector('b')!.textContent = `${i + 1}. ${t.label}`;
    return li;
  }));
  $('pred-truth').innerHTML = truth === null ? '' : `true label: <b></b> ${top[0]?.label === truth ? '✓' : '✗'}`;
  if (truth !== null) $('pred-truth').querySelector('b')!.textContent = truth;
}

/** Sets the progress bar (fraction 0..1) and its caption. */
export function setProgress(frac: number, text: string, kind: 'train' | 'features' = 'train'): void {
  const bar = $('bar');
  bar.style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  bar.className = kind === 'features' ? 'features' : '';
  $('progress-text').textContent = text;
}
