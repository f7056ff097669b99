// Image decoding: PNG/JPEG made here and by Pillow (fixtures), the real chelsea.png, and bad files.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deflateSync } from 'node:zlib';
import { DataArgError, DataFormatError } from '../../engine/data/errors.ts';
import { DEFAULT_MAX_PIXELS, decodeImage, imageSize, maxPixels, readImage, setMaxPixels, sniffImageFormat } from '../../engine/data/image.ts';
import { crc32 } from '../../engine/io/zip.ts';
import { Rng } from '../../engine/data/rng.ts';

const test = suite('image');
const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
const rng = new Rng(seed);
const fx = JSON.parse(readFileSync(new URL('../fixtures/data/images.json', import.meta.url), 'utf8'));
const CHELSEA = new URL('../../../shared/images/chelsea.png', import.meta.url);

function encodePng(w: number, h: number, rgba: Uint8Array, colorType: 0 | 2 | 4 | 6 = 6, bitDepth: 8 | 16 = 8): Uint8Array {
  const png = new PNG({ width: w, height: h, colorType, inputColorType: 6, bitDepth, inputHasAlpha: true });
  png.data = Buffer.from(rgba);
  return PNG.sync.write(png, { colorType, inputColorType: 6, bitDepth, inputHasAlpha: true });
}

test('random RGBA PNG: RGB kept exactly, alpha dropped', () => {
  const [w, h] = [1 + rng.int(13), 1 + rng.int(11)];
  const rgba = Uint8Array.from({ length: w * h * 4 }, () => rng.int(256));
  const img = decodeImage(encodePng(w, h, rgba));
  assert.equal([img.width, img.height, img.channels, img.data.length], [w, h, 3, w * h * 3]);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) {
    if (img.data[p * 3 + c] !== rgba[p * 4 + c]) assert.unreachable(`seed ${seed}: pixel ${p} channel ${c}`);
  }
});

test('grey PNG expands to three equal channels', () => {
  const [w, h] = [2 + rng.int(6), 2 + rng.int(6)];
  const g = Uint8Array.from({ length: w * h }, () => rng.int(256));
  const rgba = new Uint8Array(w * h * 4);
  g.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
  const img = decodeImage(encodePng(w, h, rgba, 0));
  for (let p = 0; p < w * h; p++) assert.equal(Array.from(img.data.subarray(p * 3, p * 3 + 3)), [g[p], g[p], g[p]]);
});

test('PNGs and JPEGs encoded by Pillow decode to Pillow\'s RGB', () => {
  for (const [name, k] of Object.entries<any>(fx.images)) {
    const bytes = Buffer.from(k.base64, 'base64');
    const img = decodeImage(bytes, name);
    assert.equal([img.width, img.height, img.channels], [k.width, k.height, 3], name);
    const tol = name.startsWith('jpeg') ? 3 : 0; // IDCT rounding differs between decoders
    let worst = 0;
    for (let i = 0; i < k.rgb.length; i++) worst = Math.max(worst, Math.abs(img.data[i] - k.rgb[i]));
    assert.ok(worst <= tol, `${name}: max diff ${worst} vs Pillow`);
  }
});

test('JPEG encoded with jpeg-js decodes close to the original (smooth random image)', () => {
  const [w, h] = [16 + rng.int(16), 16 + rng.int(16)];
  const base = [rng.int(200), rng.int(200), rng.int(200)];
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgba.set([base[0] + x, base[1] + y, base[2] + ((x + y) >> 1), 255], (y * w + x) * 4);
  const enc = jpeg.encode({ width: w, height: h, data: rgba }, 95).data;
  assert.is(sniffImageFormat(enc), 'jpeg');
  const img = decodeImage(enc);
  assert.equal([img.width, img.height], [w, h]);
  let err = 0;
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) err += Math.abs(img.data[p * 3 + c] - rgba[p * 4 + c]);
  assert.ok(err / (w * h * 3) < 3, `seed ${seed}: mean abs error ${err / (w * h * 3)}`);
});

test('format is sniffed from bytes; bad and truncated files name the file', () => {
  assert.is(sniffImageFormat(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'png');
  assert.is(sniffImageFormat(Uint8Array.from([0x47, 0x49, 0x46, 0x38])), null);
  const junk = Uint8Array.from({ length: 64 }, () => rng.int(256));
  junk[0] = 0x42;
  assert.throws(() => decodeImage(junk, 'junk.png'), (e: unknown) => e instanceof DataFormatError && /junk\.png: not a PNG or JPEG/.test((e as Error).message));
  const good = encodePng(8, 8, Uint8Array.from({ length: 256 }, () => rng.int(256)));
  assert.throws(() => decodeImage(good.subarray(0, 40), 'cut.png'), /cut\.png: cannot decode PNG/);
  assert.throws(() => decodeImage(new Uint8Array(0), 'empty.jpg'), /empty\.jpg.*empty/);
});

test('16-bit PNG is rescaled to 8 bits', () => {
  const [w, h] = [3, 2];
  const png = new PNG({ width: w, height: h, bitDepth: 16, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  const vals = Array.from({ length: w * h * 3 }, () => rng.int(65536));
  // pngjs's packer takes 16-bit input as a Uint16Array in native order
  png.data = Buffer.from(new Uint16Array(vals).buffer);
  const bytes = PNG.sync.write(png, { bitDepth: 16, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  assert.is(bytes[24], 16, 'IHDR bit depth');
  const img = decodeImage(bytes);
  for (let i = 0; i < vals.length; i++) assert.ok(Math.abs(img.data[i] - vals[i] / 257) <= 1, `value ${i}: ${img.data[i]} vs ${vals[i] / 257}`);
});

/** A PNG built chunk by chunk (pngjs cannot write 1-bit or interlaced images, nor lie in its header). */
function rawPng(w: number, h: number, bitDepth: number, colorType: number, interlace: number, raw: Uint8Array): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    out.set(data, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = bitDepth; ihdr[9] = colorType; ihdr[12] = interlace;
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]));
}

const oneLine = (re: RegExp) => (e: unknown) => e instanceof DataFormatError && re.test((e as Error).message) && !(e as Error).message.includes('\n');

test('image bombs: a valid 16000x16000 PNG of ~31 KB is refused from its header, naming its size, the cap and how to raise it', () => {
  const W = 16000;
  const bomb = rawPng(W, W, 1, 0, 0, new Uint8Array(W * (1 + W / 8))); // 1-bit grey, all black: decodes to 4 GB of RGBA + float32
  assert.ok(bomb.length < 64_000, `${bomb.length} bytes`);
  assert.equal(imageSize(bomb), { width: W, height: W });
  assert.is(DEFAULT_MAX_PIXELS, 100_000_000);
  assert.throws(() => decodeImage(bomb, 'bomb.png'), oneLine(
    /^bomb\.png: the image is 16000×16000 pixels \(256 megapixels\), above thaw's cap of 100 megapixels per image .*raise the cap with --max-pixels 256000000 or THAW_MAX_PIXELS=256000000, or downscale/));
  // A header that claims 100000x100000 (no pixel data at all) says so, not "corrupt" with Node's range error inside.
  const claim = rawPng(100000, 100000, 8, 0, 0, new Uint8Array(10));
  assert.throws(() => decodeImage(claim, 'claim.png'), oneLine(/^claim\.png: the image is 100000×100000 pixels \(10000 megapixels\), above thaw's cap/));
});

test('image bombs: an interlaced PNG whose data inflates beyond its header is refused before pngjs inflates it all', () => {
  const bomb = rawPng(1, 1, 8, 0, 1, new Uint8Array(64e6)); // 1x1 pixel, 64 MB of zlib data (~64 KB in the file)
  assert.ok(bomb.length < 100_000, `${bomb.length} bytes`);
  assert.throws(() => decodeImage(bomb, 'interlaced.png'), oneLine(/^interlaced\.png: the PNG's data inflates to more than its 1×1 header allows/));
  // A genuine interlaced image still decodes: 2x2 grey, whose Adam7 passes 1, 6 and 7 hold one row each (a filter byte, then pixels).
  const ok = rawPng(2, 2, 8, 0, 1, Uint8Array.from([0, 10, /* pass 6 */ 0, 20, /* pass 7 */ 0, 30, 40]));
  const img = decodeImage(ok, 'ok.png');
  assert.equal([img.width, img.height, ...Array.from(img.data.filter((_, i) => i % 3 === 0))], [2, 2, 10, 20, 30, 40]);
});

test('one pixel cap for PNG and JPEG: decodeImage option, setMaxPixels, THAW_MAX_PIXELS', () => {
  const rgba = Uint8Array.from({ length: 40 * 30 * 4 }, () => rng.int(256));
  const png = encodePng(40, 30, rgba);
  const jpg = new Uint8Array(jpeg.encode({ width: 40, height: 30, data: rgba }, 90).data);
  assert.equal(imageSize(png), { width: 40, height: 30 });
  assert.equal(imageSize(jpg), { width: 40, height: 30 });
  for (const [bytes, name] of [[png, 'a.png'], [jpg, 'a.jpg']] as const) {
    assert.throws(() => decodeImage(bytes, name, { maxPixels: 1199 }), oneLine(/the image is 40×30 pixels \(1200 pixels\), above thaw's cap of 1199 pixels/), name);
    assert.is(decodeImage(bytes, name, { maxPixels: 1200 }).width, 40);
    try {
      setMaxPixels(1000);
      assert.throws(() => decodeImage(bytes, name), oneLine(/cap of 1000 pixels/), name);
      setMaxPixels(undefined);
      process.env.THAW_MAX_PIXELS = '1100';
      assert.is(maxPixels(), 1100);
      assert.throws(() => decodeImage(bytes, name), oneLine(/cap of 1100 pixels/), name);
      process.env.THAW_MAX_PIXELS = 'lots';
      assert.throws(() => decodeImage(bytes, name), (e: unknown) => e instanceof DataArgError && /THAW_MAX_PIXELS must be a positive integer .* got 'lots'/.test((e as Error).message));
    } finally {
      setMaxPixels(undefined);
      delete process.env.THAW_MAX_PIXELS;
    }
    assert.is(decodeImage(bytes, name).height, 30);
  }
});

const haveChelsea = existsSync(CHELSEA);
(haveChelsea ? test : test.skip)('real ../shared/images/chelsea.png matches Pillow (skipped when absent)', () => {
  const ref = fx.chelsea;
  assert.ok(ref, 'fixtures were made without chelsea.png; rerun test/fixtures/make_data_fixtures.py');
  assert.is(createHash('sha256').update(readFileSync(CHELSEA)).digest('hex'), ref.sha256, 'chelsea.png changed; rerun the fixture script');
  const img = readImage(CHELSEA.pathname);
  assert.equal([img.width, img.height, img.channels], [ref.width, ref.height, 3]);
  for (const [y, x, r, g, b] of ref.samples) {
    const o = (y * img.width + x) * 3;
    assert.equal(Array.from(img.data.subarray(o, o + 3)), [r, g, b], `pixel (${y}, ${x})`);
  }
  const sums = [0, 0, 0];
  for (let i = 0; i < img.data.length; i++) sums[i % 3] += img.data[i];
  assert.equal(sums, ref.sum);
});
if (!haveChelsea) console.log('  (skipping the chelsea.png test: ../shared/images/chelsea.png not found)');

test.run();
