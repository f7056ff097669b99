/**
 * Images in the page: decoding dropped or chosen files (through the browser's decoders), walking
 * dropped folders for their labels, and drawing images onto canvases.
 */
import { fromRgba, type Image } from '../index.ts';

/** A file with the label it was dropped under. */
export interface LabelledFile { file: File; label: string }

const IMAGE_EXT = /\.(png|jpe?g|gif|webp|bmp|avif)$/i;

/**
 * Decodes an image file to RGB at size x size: the centred square is cut out first, as the demo's
 * backbones take square inputs. The engine's `preprocess` then resizes to the network input.
 */
export async function decodeImage(file: Blob, size = 64): Promise<Image> {
  const bmp = await createImageBitmap(file);
  try {
    const side = Math.min(bmp.width, bmp.height);
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.imageSmoothingQuality = 'high';
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, size, size);
    ctx.drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, size, size);
    return fromRgba(ctx.getImageData(0, 0, size, size).data, size, size);
  } finally {
    bmp.close();
  }
}

/**
 * The image files of a drop, each labelled by the folder it sits in; loose files get `looseLabel`
 * (files without a label are reported in `unlabelled`).
 */
export async function collectDrop(dt: DataTransfer, looseLabel: string): Promise<{ files: LabelledFile[]; unlabelled: number }> {
  const files: LabelledFile[] = [];
  let unlabelled = 0;
  const entries = Array.from(dt.items, (it) => it.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  const take = (f: File, label: string) => {
    if (!IMAGE_EXT.test(f.name)) return;
    if (label) files.push({ file: f, label }); else unlabelled++;
  };
  if (!entries.length) {
    for (const f of Array.from(dt.files)) take(f, looseLabel);
    return { files, unlabelled };
  }
  const walk = async (e: FileSystemEntry, parent: string): Promise<void> => {
    if (e.isFile) take(await new Promise<File>((ok, fail) => (e as FileSystemFileEntry).file(ok, fail)), parent);
    else if (e.isDirectory) for (const c of await readAll(e as FileSystemDirectoryEntry)) await walk(c, e.name);
  };
  for (const e of entries) await walk(e, looseLabel);
  return { files, unlabelled };
}

/** Files from an <input type=file webkitdirectory>: labelled by their parent folder (or looseLabel). */
export function labelChosen(list: FileList, looseLabel: string): { files: LabelledFile[]; unlabelled: number } {
  const files: LabelledFile[] = [];
  let unlabelled = 0;
  for (const f of Array.from(list)) {
    if (!IMAGE_EXT.test(f.name)) continue;
    const parts = (f.webkitRelativePath || f.name).split('/');
    const label = parts.length >= 2 ? parts[parts.length - 2] : looseLabel;
    if (label) files.push({ file: f, label }); else unlabelled++;
  }
  return { files, unlabelled };
}

function readAll(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const out: FileSystemEntry[] = [];
  return new Promise((ok, fail) => {
    const more = () => reader.readEntries((batch) => {
      if (!batch.length) return ok(out);
      out.push(...batch);
      more();
    }, fail);
    more();
  });
}

/** Draws an image (1 or 3 channels, 0..255) at (x, y), scaled to `size` pixels square. */
export function drawImage(ctx: CanvasRenderingContext2D, img: Image, x: number, y: number, size: number): void {
  const tmp = document.createElement('canvas');
  tmp.width = img.width; tmp.height = img.height;
  const t = tmp.getContext('2d')!;
  const id = t.createImageData(img.width, img.height);
  const c = img.channels;
  for (let i = 0; i < img.width * img.height; i++) {
    for (let k = 0; k < 3; k++) id.data[4 * i + k] = img.data[i * c + (c === 1 ? 0 : k)];
    id.data[4 * i + 3] = 255;
  }
  t.putImageData(id, 0, 0);
  ctx.imageSmoothingEnabled = img.width < size / 2 ? false : true;
  ctx.drawImage(tmp, x, y, size, size);
}

/** Sizes a canvas's backing store to its CSS box times the device pixel ratio; returns the CSS size. */
export function fitCanvas(canvas: HTMLCanvasElement, cssHeight?: number): { w: number; h: number; ctx: CanvasRenderingContext2D } {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300, h = cssHeight ?? (canvas.clientHeight || 150);
  if (cssHeight) canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { w, h, ctx };
}
