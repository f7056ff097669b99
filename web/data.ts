/**
 * The demo's labelled images: the Fashion-MNIST sample the server hands out as IDX bytes, or a
 * person's own images; both end up as engine datasets preprocessed for the backbone.
 */
import { parseIdxImageSet, fromGray, preprocess, arrayDataset, FASHION_MNIST_CLASSES, type Image, type Dataset, type PreprocessSpec } from '../index.ts';
import { decodeImage, type LabelledFile } from './images.ts';

export interface Item { img: Image; y: number }

/** Labelled images split into training and held-out items. */
export interface Collection { source: string; classes: string[]; train: Item[]; test: Item[] }

async function bytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${(await r.text()).slice(0, 200)}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function fashionSplit(split: 'train' | 'test', perClass: number, seed: number): Promise<Item[]> {
  const q = `?perClass=${perClass}&seed=${seed}`;
  const [images, labels] = await Promise.all([
    bytes(`/data/fashion-mnist/${split}-images.idx${q}`), bytes(`/data/fashion-mnist/${split}-labels.idx${q}`),
  ]);
  const set = parseIdxImageSet(images, labels, { images: `${split} images`, labels: `${split} labels` });
  const hw = set.height * set.width;
  return Array.from(set.labels, (y, i) => ({ img: fromGray(set.images.subarray(i * hw, (i + 1) * hw), set.width, set.height), y }));
}

/** perClass training and testPerClass held-out Fashion-MNIST images, drawn by the server with `seed`. */
export async function fashionSample(perClass: number, testPerClass: number, seed = 0): Promise<Collection> {
  const [train, test] = await Promise.all([fashionSplit('train', perClass, seed), testPerClass > 0 ? fashionSplit('test', testPerClass, seed) : []]);
  return { source: `Fashion-MNIST sample (${perClass} per class, ${testPerClass} per class held out)`, classes: [...FASHION_MNIST_CLASSES], train, test };
}

/**
 * Decodes labelled files and adds them to `into` (or a new collection). One image in five of each
 * class with at least five is held out for testing.
 */
export async function addFiles(files: LabelledFile[], into: Collection | null, onDecoded?: (done: number) => void): Promise<Collection> {
  const c: Collection = into && into.source === 'your images' ? into : { source: 'your images', classes: [], train: [], test: [] };
  const byClass = new Map<string, Image[]>();
  let done = 0;
  for (const { file, label } of files) {
    let img: Image;
    try { img = await decodeImage(file); } catch { continue; } // not an image the browser decodes
    if (!byClass.has(label)) byClass.set(label, []);
    byClass.get(label)!.push(img);
    onDecoded?.(++done);
  }
  for (const [label, imgs] of byClass) {
    let y = c.classes.indexOf(label);
    if (y < 0) { y = c.classes.length; c.classes.push(label); }
    const seen = c.train.filter((it) => it.y === y).length + c.test.filter((it) => it.y === y).length;
    imgs.forEach((img, i) => ((seen + i) % 5 === 4 ? c.test : c.train).push({ img, y }));
  }
  return c;
}

/** Items as an engine dataset, each preprocessed once for the backbone (no augmentation in the demo). */
export function toDataset(items: Item[], spec: PreprocessSpec): Dataset {
  const per = spec.channels * spec.inputSize[0] * spec.inputSize[1];
  const x = new Float32Array(items.length * per);
  items.forEach((it, i) => x.set(preprocess(it.img, spec), i * per));
  return arrayDataset(x, Int32Array.from(items, (it) => it.y));
}

/** Images per class, for the summary line. */
export function counts(c: Collection): number[] {
  const n = new Array(c.classes.length).fill(0);
  for (const it of c.train) n[it.y]++;
  return n;
}
