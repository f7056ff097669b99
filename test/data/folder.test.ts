// Image-folder datasets built in a temp directory.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DataFormatError, DataMissingError } from '../../engine/data/errors.ts';
import { checkImageHeaders, imageFolderDataset, indexImageFolder } from '../../engine/data/folder.ts';
import { Rng } from '../../engine/data/rng.ts';
import { ZOO } from '../../models/zoo.ts';

const test = suite('folder');
const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
const rng = new Rng(seed);
const spec = ZOO['resnet20-cifar10'].preprocessing;

function png(w: number, h: number): Buffer {
  const p = new PNG({ width: w, height: h });
  p.data = Buffer.from(Uint8Array.from({ length: w * h * 4 }, () => rng.int(256)));
  return PNG.sync.write(p);
}
function jpg(w: number, h: number): Buffer {
  return jpeg.encode({ width: w, height: h, data: Uint8Array.from({ length: w * h * 4 }, () => rng.int(256)) }, 90).data;
}

let root = '';
test.before.each(() => { root = mkdtempSync(join(tmpdir(), 'thaw-folder-')); });
test.after.each(() => { rmSync(root, { recursive: true, force: true }); });

function put(rel: string, data: Buffer | string) {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), data);
}

test('sorted classes, recursive listing, png/jpg/jpeg any case, other files ignored', () => {
  put('zebra/a.png', png(5, 4));
  put('ant/deep/er/b.JPG', jpg(8, 8));
  put('ant/c.jpeg', jpg(9, 7));
  put('ant/notes.txt', 'x');
  put('ant/.hidden.png', 'not an image');
  put('Bee/d.png', png(3, 3));
  put('loose.png', png(2, 2));
  const idx = indexImageFolder(root);
  assert.equal(idx.classes, ['Bee', 'ant', 'zebra']);
  assert.equal(idx.files.map((f) => f.slice(root.length + 1)), ['Bee/d.png', 'ant/c.jpeg', 'ant/deep/er/b.JPG', 'zebra/a.png']);
  assert.equal(Array.from(idx.labels), [0, 1, 1, 2]);
  const ds = imageFolderDataset(root, spec);
  assert.is(ds.length, 4);
  for (let i = 0; i < 4; i++) {
    const ex = ds.get(i);
    assert.is(ex.x.length, 3 * 32 * 32);
    assert.is(ex.y, idx.labels[i]);
    assert.ok(ex.x.every(Number.isFinite));
  }
});

test('missing root, no class folders, empty class: DataMissingError saying what to do', () => {
  const isMissing = (re: RegExp) => (e: unknown) => e instanceof DataMissingError && re.test((e as Error).message);
  assert.throws(() => indexImageFolder(join(root, 'nope')), isMissing(/image folder not found: .*nope.*one subfolder per class/));
  assert.throws(() => indexImageFolder(root), isMissing(/has no class subfolders/));
  put('x.png', png(2, 2));
  assert.throws(() => indexImageFolder(root), isMissing(/1 images directly inside; move them/));
  put('cat/a.png', png(2, 2));
  put('dog/readme.txt', 'no images');
  assert.throws(() => indexImageFolder(root), isMissing(/class 'dog' has no/));
});

test('files that are not PNG or JPEG are all named, in one line, when the dataset is made (not when one is sampled)', () => {
  const n = 3 + rng.int(6);
  for (let i = 0; i < n; i++) put(`${['cat', 'dog'][i % 2]}/${i}.${['png', 'jpg'][rng.int(2)]}`, rng.int(2) ? png(3, 3) : jpg(4, 4));
  const bad = ['cat/broken.jpg', `dog/x${rng.int(100)}.png`];
  put(bad[0], Buffer.from('this is not a jpeg'));
  put(bad[1], '');
  let err: unknown = null;
  try { imageFolderDataset(root, spec); } catch (e) { err = e; }
  assert.ok(err instanceof DataFormatError, String(err));
  const msg = (err as Error).message;
  assert.not.match(msg, /\n/, 'one line');
  assert.ok(msg.startsWith(`2 of ${n + 2} files in ${root} are not PNG or JPEG: `), msg);
  assert.ok(msg.includes(`${bad[0]} (starts with 74 68 69 73 20 69 73 20)`), msg);
  assert.ok(msg.includes(`${bad[1]} (empty)`), msg);
  assert.match(msg, /convert them to PNG or JPEG, or remove them$/);
  assert.throws(() => checkImageHeaders(indexImageFolder(root).files), /2 of \d+ files are not PNG or JPEG/);
});

test('an image with a good header but a corrupt body names the file when read', () => {
  put('cat/good.png', png(4, 4));
  put('cat/broken.jpg', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('then garbage')]));
  const ds = imageFolderDataset(root, spec);
  const i = ds.files.findIndex((f) => f.endsWith('broken.jpg'));
  assert.throws(() => ds.get(i), (e: unknown) => e instanceof DataFormatError && (e as Error).message.includes(join(root, 'cat', 'broken.jpg')));
  assert.is(ds.get(1 - i).x.length, 3072);
});

test('links: followed when sound; a link loop, a cycle back up the tree and a broken link are one-line errors naming the link', () => {
  put('cat/a.png', png(2, 2));
  put('elsewhere/b.png', png(2, 2));
  symlinkSync(join(root, 'elsewhere'), join(root, 'cat', 'more')); // a sound link to a folder: followed
  symlinkSync(join(root, 'cat', 'a.png'), join(root, 'cat', 'alias.png'));
  put('dog/c.png', png(2, 2));
  const idx = indexImageFolder(root);
  assert.equal(idx.files.map((f) => f.slice(root.length + 1)), ['cat/a.png', 'cat/alias.png', 'cat/more/b.png', 'dog/c.png', 'elsewhere/b.png']);
  const isFormat = (re: RegExp) => (e: unknown) => e instanceof DataFormatError && re.test((e as Error).message) && !(e as Error).message.includes('\n');

  symlinkSync('self.png', join(root, 'dog', 'self.png')); // ELOOP
  assert.throws(() => indexImageFolder(root), isFormat(/cannot read '.*dog\/self\.png': a symbolic link loop .*\(ELOOP\); fix or remove the link/));
  rmSync(join(root, 'dog', 'self.png'));

  symlinkSync('..', join(root, 'dog', 'up')); // dog/up/dog/up/... never ends
  assert.throws(() => indexImageFolder(root), isFormat(/'.*dog\/up\/dog' leads back to '.*dog' through a symbolic link, so listing it would never end; remove the link/));
  rmSync(join(root, 'dog', 'up'));

  symlinkSync(join(root, 'gone.png'), join(root, 'dog', 'gone.png'));
  assert.throws(() => indexImageFolder(root), isFormat(/'.*dog\/gone\.png' is a broken symbolic link \(its target '.*gone\.png' is missing\); fix or remove the link/));
  rmSync(join(root, 'dog', 'gone.png'));

  symlinkSync('bird', join(root, 'bird')); // a looping class folder at the top
  assert.throws(() => indexImageFolder(root), isFormat(/cannot read '.*\/bird': a symbolic link loop/));
});

test.run();
