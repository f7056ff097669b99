// IDX parsing on files built here (raw and gzipped) and on the real Fashion-MNIST when installed.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DataArgError, DataFormatError, DataMissingError } from '../../engine/data/errors.ts';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadFashionMnist, readIdxFile } from '../../engine/data/fashion_mnist.ts';
import { encodeIdxU8, parseIdx, parseIdxImageSet } from '../../engine/data/idx.ts';
import { Rng } from '../../engine/data/rng.ts';

const test = suite('idx');
const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
const rng = new Rng(seed);

function randomSet(n: number, h: number, w: number) {
  const images = Uint8Array.from({ length: n * h * w }, () => rng.int(256));
  const labels = Uint8Array.from({ length: n }, () => rng.int(10));
  return { images, labels, imgBytes: encodeIdxU8([n, h, w], images), labBytes: encodeIdxU8([n], labels) };
}

test('parses a random uint8 IDX built here', () => {
  const [n, h, w] = [1 + rng.int(20), 1 + rng.int(9), 1 + rng.int(9)];
  const s = randomSet(n, h, w);
  assert.equal(Array.from(s.imgBytes.subarray(0, 4)), [0, 0, 8, 3]);
  const t = parseIdx(s.imgBytes);
  assert.is(t.dtype, 'uint8');
  assert.equal(t.dims, [n, h, w]);
  assert.equal(Array.from(t.data), Array.from(s.images));
  const set = parseIdxImageSet(s.imgBytes, s.labBytes);
  assert.equal([set.n, set.height, set.width], [n, h, w]);
  assert.equal(Array.from(set.labels), Array.from(s.labels));
});

test('parses big-endian int32 and float32 IDX', () => {
  const bytes = new Uint8Array(4 + 8 + 2 * 4);
  const v = new DataView(bytes.buffer);
  bytes[2] = 0x0c; bytes[3] = 2; v.setUint32(4, 1); v.setUint32(8, 2);
  v.setInt32(12, -123456789); v.setInt32(16, 42);
  assert.equal(Array.from(parseIdx(bytes).data), [-123456789, 42]);
  bytes[2] = 0x0d; v.setFloat32(12, 1.5); v.setFloat32(16, -0.25);
  assert.equal(Array.from(parseIdx(bytes).data), [1.5, -0.25]);
});

test('rejects bad magic, unknown type, truncation, trailing bytes, gzip, mismatched pairs', () => {
  const s = randomSet(3, 4, 5);
  const isFormat = (e: unknown) => e instanceof DataFormatError;
  assert.throws(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0])), isFormat);
  assert.throws(() => parseIdx(Uint8Array.from([0, 0, 0x42, 1, 0, 0, 0, 0])), /unknown IDX element type/);
  assert.throws(() => parseIdx(s.imgBytes.subarray(0, s.imgBytes.length - 1)), /truncated/);
  const longer = new Uint8Array(s.imgBytes.length + 1); longer.set(s.imgBytes);
  assert.throws(() => parseIdx(longer), /trailing bytes/);
  assert.throws(() => parseIdx(s.imgBytes.subarray(0, 10)), /truncated header/);
  assert.throws(() => parseIdx(new Uint8Array(gzipSync(s.imgBytes))), /gzip/);
  assert.throws(() => parseIdxImageSet(s.imgBytes, encodeIdxU8([4], new Uint8Array(4))), /3 images but .* 4 labels/);
  assert.throws(() => parseIdxImageSet(s.labBytes, s.imgBytes), /rank 3/);
});

test('reads gzipped and plain files; loadFashionMnist on a small fake directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-idx-'));
  try {
    const tr = randomSet(6, 3, 2), te = randomSet(4, 3, 2);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(tr.imgBytes));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), tr.labBytes);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), te.imgBytes);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(te.labBytes));
    assert.equal(Array.from(readIdxFile(join(dir, 'train-images-idx3-ubyte.gz')).data), Array.from(tr.images));
    const train = loadFashionMnist(dir, 'train');
    assert.equal([train.n, train.height, train.width], [6, 3, 2]);
    assert.equal(Array.from(train.images), Array.from(tr.images));
    assert.equal(Array.from(loadFashionMnist(dir, 'test').labels), Array.from(te.labels));
    writeFileSync(join(dir, 'bad-idx1-ubyte.gz'), gzipSync(tr.labBytes).subarray(0, 12));
    assert.throws(() => readIdxFile(join(dir, 'bad-idx1-ubyte.gz')), /gzip data is corrupt/);
    rmSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
    assert.throws(() => loadFashionMnist(dir, 'test'), /no t10k-labels-idx1-ubyte/);
    assert.throws(() => loadFashionMnist(dir, 'val' as 'test'), (e: unknown) => e instanceof DataArgError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing Fashion-MNIST directory says how to install it', () => {
  try {
    loadFashionMnist('/nonexistent/fashion-mnist-' + seed, 'train');
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, DataMissingError);
    assert.match((e as Error).message, 'apt-get install dataset-fashion-mnist');
    // The CLI reads another Fashion-MNIST folder from THAW_FASHION_MNIST; its --data DIR takes an image folder instead.
    assert.match((e as Error).message, 'THAW_FASHION_MNIST');
    assert.not.match((e as Error).message, '--data DIR');
  }
});

const haveReal = existsSync(join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz')) || existsSync(join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte'));
(haveReal ? test : test.skip)(`real Fashion-MNIST at ${FASHION_MNIST_DIR} (skipped when absent: apt-get install dataset-fashion-mnist)`, () => {
  assert.is(FASHION_MNIST_CLASSES.length, 10);
  for (const [split, n] of [['train', 60000], ['test', 10000]] as const) {
    const s = loadFashionMnist(FASHION_MNIST_DIR, split);
    assert.equal([s.n, s.height, s.width, s.images.length, s.labels.length], [n, 28, 28, n * 784, n]);
    const counts = new Array(10).fill(0);
    for (const l of s.labels) counts[l]++;
    assert.equal(counts, new Array(10).fill(n / 10), 'balanced classes');
    let sum = 0;
    for (const p of s.images) sum += p;
    const mean = sum / s.images.length / 255;
    assert.ok(Math.abs(mean - 0.286) < 0.01, `${split} pixel mean ${mean}, Fashion-MNIST's is about 0.286`);
  }
});
if (!haveReal) console.log(`  (skipping the real Fashion-MNIST test: ${FASHION_MNIST_DIR} not found)`);

test.run();
