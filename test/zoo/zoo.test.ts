// The zoo registry and fetchModel: local copies into a temp cache, downloads from a local server, sha256 checks.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChecksumError, ModelUnavailableError, UnknownModelError } from '../../engine/data/errors.ts';
import { Rng } from '../../engine/data/rng.ts';
import { editDistance, getZooEntry, hubHashPrefix, modelNames, nearestNames, sha256Matches, ZOO } from '../../models/zoo.ts';
import { fetchModel, sha256File, type FetchProgress } from '../../models/zoo_fetch.ts';

const test = suite('zoo');
const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
const SHARED = new URL('../../../shared/checkpoints/', import.meta.url).pathname;
const RESNET_DIR = join(SHARED, 'resnet20-cifar10');
const haveResnet = existsSync(join(RESNET_DIR, 'resnet20-12fca82f.th'));

let tmp = '';
test.before.each(() => { tmp = mkdtempSync(join(tmpdir(), 'thaw-zoo-')); });
test.after.each(() => { rmSync(tmp, { recursive: true, force: true }); });

test('registry entries are well-formed', () => {
  assert.ok(modelNames().length >= 5);
  for (const name of modelNames()) {
    const e = ZOO[name];
    assert.is(e.name, name);
    assert.ok(e.files.length > 0 && e.localDirs.length > 0, name);
    for (const f of e.files) {
      if (f.bytes === null) {
        // torchvision's files: checked as torch.hub does, by the hash prefix their name carries.
        assert.ok(f.url !== null && f.url.endsWith(`/${f.path}`), `${name}/${f.path} url`);
        assert.is(f.sha256, hubHashPrefix(f.path), `${name}/${f.path} hash prefix`);
        assert.match(f.sha256, /^[0-9a-f]{8,}$/);
      } else {
        assert.match(f.sha256, /^[0-9a-f]{64}$/, `${name}/${f.path}`);
        assert.ok(Number.isInteger(f.bytes) && f.bytes > 0);
      }
      assert.ok(f.url === null || f.url.startsWith('https://'), `${name}/${f.path} url`);
    }
    const labels = e.labels;
    assert.ok(Array.isArray(labels) ? labels.length > 0 : e.files.some((f) => f.path === (labels as { file: string }).file), `${name} labels`);
    assert.ok(Object.isFrozen(e) && Object.isFrozen(e.files[0]), `${name} is frozen`);
  }
  assert.is(ZOO['darknet-tiny'].files.length, 33, 'model.json + 31 shards + labels.json');
  assert.is(ZOO['resnet20-cifar10'].files[0].sha256.slice(0, 8), '12fca82f', 'file name carries its hash prefix');
});

test('local copies match the registry (sha256 and size of every file found)', async () => {
  let checked = 0;
  for (const name of modelNames()) {
    const e = ZOO[name];
    for (const dir of e.localDirs) {
      for (const f of e.files) {
        const p = new URL(`../../${dir}/${f.path}`, import.meta.url).pathname;
        if (!existsSync(p)) continue;
        assert.is(readFileSync(p).length, f.bytes, p);
        assert.is(await sha256File(p), f.sha256, p);
        checked++;
      }
    }
  }
  console.log(`  (verified ${checked} local checkpoint files)`);
  const mj = new URL('../../../shared/checkpoints/darknet-tiny/model.json', import.meta.url).pathname;
  if (existsSync(mj)) {
    const manifest = JSON.parse(readFileSync(mj, 'utf8')).weightsManifest.flatMap((g: { paths: string[] }) => g.paths);
    assert.equal(ZOO['darknet-tiny'].files.filter((f) => f.path.startsWith('group')).map((f) => f.path), manifest);
  }
});

test("torchvision entries: published URLs, torch.hub's hash-prefix rule, torchvision's ImageNet presets", () => {
  assert.is(hubHashPrefix('vit_b_16-c867db91.pth'), 'c867db91');
  assert.is(hubHashPrefix('efficientnet_b0_rwightman-7f5810bc.pth'), '7f5810bc');
  // torch.hub's HASH_REGEX '-([a-f0-9]*)\\.': the first '-' that hex digits and a '.' follow.
  assert.is(hubHashPrefix('a-b-c867.pth'), 'c867');
  assert.is(hubHashPrefix('model.pth'), null);
  const full = createHash('sha256').update(String(seed)).digest('hex');
  assert.ok(sha256Matches({ sha256: full.slice(0, 8) }, full) && sha256Matches({ sha256: full }, full));
  assert.not.ok(sha256Matches({ sha256: full.slice(1, 9) }, full));
  assert.not.ok(sha256Matches({ sha256: '' }, full), 'an empty prefix proves nothing');
  const want: Record<string, [string, number, string]> = {
    'vit-b-16': ['https://download.pytorch.org/models/vit_b_16-c867db91.pth', 256, 'bilinear'],
    'convnext-tiny': ['https://download.pytorch.org/models/convnext_tiny-983f1562.pth', 236, 'bilinear'],
    'efficientnet-b0': ['https://download.pytorch.org/models/efficientnet_b0_rwightman-7f5810bc.pth', 256, 'bicubic'],
    'mobilenet-v3-small': ['https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth', 256, 'bilinear'],
  };
  for (const [name, [url, resize, interp]] of Object.entries(want)) {
    const e = ZOO[name];
    assert.is(e.files[0].url, url);
    assert.equal([e.preprocessing.inputSize, e.preprocessing.resizeShorter, e.preprocessing.resize, e.preprocessing.mean, e.preprocessing.std],
      [[224, 224], resize, interp, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]], name);
    assert.is((e.labels as string[]).length, 1000);
  }
  assert.equal((ZOO['vit-b-16'].labels as string[]).slice(0, 2), ['tench', 'goldfish']);
});

test('not downloadable (unreachable server, wrong bytes): one line with the URL, the cache path to fill by hand; nothing kept', async () => {
  const e = ZOO['convnext-tiny'];
  const url = e.files[0].url!;
  const cacheDir = join(tmp, 'cache');
  const dest = join(cacheDir, 'convnext-tiny', 'convnext_tiny-983f1562.pth');
  // A port nothing listens on: the connection is refused, as behind a firewall that rejects.
  const closed = await serve(tmp);
  const port = (closed.server.address() as AddressInfo).port;
  await new Promise((r) => closed.server.close(r));
  const refused: typeof fetch = (u) => globalThis.fetch(`http://127.0.0.1:${port}/${basename(String(u))}`);
  const err = await fetchModel('convnext-tiny', { cacheDir, offlineDirs: [], offline: false, fetch: refused }).then(() => null, (x) => x);
  assert.instance(err, ModelUnavailableError);
  const msg = (err as Error).message;
  assert.not.match(msg, '\n');
  assert.match(msg, `cannot download ${url}`);
  assert.match(msg, /ECONNREFUSED/, 'the reason under fetch failed');
  assert.match(msg, `put the file (sha256 starting 983f1562) at ${dest}`);
  // Served, but not the published file: the hash-prefix check refuses it.
  const dir = join(tmp, 'srv');
  mkdirSync(dir);
  writeFileSync(join(dir, 'convnext_tiny-983f1562.pth'), `not the checkpoint ${seed}`);
  const srv = await serve(dir);
  try {
    const bad = await fetchModel('convnext-tiny', { cacheDir, offlineDirs: [], offline: false, fetch: (u) => globalThis.fetch(srv.base + basename(String(u))) }).then(() => null, (x) => x);
    assert.instance(bad, ChecksumError);
    assert.match((bad as Error).message, 'expected 983f1562');
    assert.equal(readdirSync(join(cacheDir, 'convnext-tiny')), [], 'nothing kept');
  } finally {
    srv.server.close();
  }
});

test('unknown names suggest the nearest ones', () => {
  assert.is(editDistance('kitten', 'sitting'), 3);
  assert.is(editDistance('', 'abc'), 3);
  assert.equal(nearestNames('resnet20-cifar', modelNames(), 1), ['resnet20-cifar10']);
  assert.equal(nearestNames('darknet', modelNames(), 1), ['darknet-tiny']);
  assert.equal(nearestNames('mobilenetv2', modelNames(), 1), ['mobilenetv2-nsfwjs']);
  try {
    getZooEntry('resnet-20-cifar10');
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, UnknownModelError);
    assert.is((e as UnknownModelError).suggestions[0], 'resnet20-cifar10');
    assert.match((e as Error).message, "Did you mean 'resnet20-cifar10'");
  }
});

(haveResnet ? test : test.skip)('fetch from a local copy into a temp cache, then from the cache', async () => {
  const cacheDir = join(tmp, 'cache');
  const seen: FetchProgress[] = [];
  const m = await fetchModel('resnet20-cifar10', { cacheDir, offline: true, onProgress: (p) => seen.push(p) });
  const path = m.files['resnet20-12fca82f.th'];
  assert.is(path, join(cacheDir, 'resnet20-cifar10', 'resnet20-12fca82f.th'));
  assert.is(m.sources['resnet20-12fca82f.th'], 'local');
  assert.ok(readFileSync(path).equals(readFileSync(join(RESNET_DIR, 'resnet20-12fca82f.th'))));
  assert.ok(seen.length > 0 && seen.at(-1)!.received === seen.at(-1)!.total);
  assert.equal(readdirSync(join(cacheDir, 'resnet20-cifar10')), ['resnet20-12fca82f.th'], 'no temp files left');
  const again = await fetchModel('resnet20-cifar10', { cacheDir, offline: true, offlineDirs: [] });
  assert.is(again.sources['resnet20-12fca82f.th'], 'cache');
  // a damaged cache entry is replaced from the local copy
  writeFileSync(path, 'garbage');
  const healed = await fetchModel('resnet20-cifar10', { cacheDir, offline: true });
  assert.is(healed.sources['resnet20-12fca82f.th'], 'local');
  assert.is(await sha256File(path), ZOO['resnet20-cifar10'].files[0].sha256);
});

(haveResnet ? test : test.skip)('a corrupted local copy is rejected with file, expected and actual hash; nothing cached', async () => {
  const bad = join(tmp, 'bad');
  mkdirSync(bad);
  const file = join(bad, 'resnet20-12fca82f.th');
  copyFileSync(join(RESNET_DIR, 'resnet20-12fca82f.th'), file);
  const bytes = readFileSync(file);
  const at = new Rng(seed).int(bytes.length);
  bytes[at] ^= 0xff; // flip one random byte
  writeFileSync(file, bytes);
  const actual = createHash('sha256').update(bytes).digest('hex');
  const cacheDir = join(tmp, 'cache');
  try {
    await fetchModel('resnet20-cifar10', { cacheDir, offlineDirs: [bad], offline: true });
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, ChecksumError);
    const msg = (e as Error).message;
    assert.match(msg, 'resnet20-12fca82f.th');
    assert.match(msg, ZOO['resnet20-cifar10'].files[0].sha256);
    assert.match(msg, actual);
  }
  const dir = join(cacheDir, 'resnet20-cifar10');
  assert.equal(existsSync(dir) ? readdirSync(dir) : [], [], 'bad file not left in the cache');
});

test('default local sources: darknet-tiny and mobilenetv2-nsfwjs land in one cache dir each', async () => {
  for (const name of ['darknet-tiny', 'mobilenetv2-nsfwjs']) {
    const e = ZOO[name];
    const local = new URL(`../../${e.localDirs[0]}/${e.files[0].path}`, import.meta.url).pathname;
    if (!existsSync(local)) { console.log(`  (skipping ${name}: no local copy at ${local})`); continue; }
    const m = await fetchModel(name, { cacheDir: join(tmp, 'cache'), offline: true });
    assert.is(Object.keys(m.files).length, e.files.length);
    for (const f of e.files) {
      assert.is(m.files[f.path], join(m.dir, f.path));
      assert.is(m.sources[f.path], 'local');
    }
    assert.is(readdirSync(m.dir).length, e.files.length);
  }
});

test('the cache directory defaults to $THAW_CACHE', async () => {
  const { defaultCacheDir } = await import('../../models/zoo_fetch.ts');
  const old = process.env.THAW_CACHE;
  try {
    process.env.THAW_CACHE = join(tmp, 'env-cache');
    assert.is(defaultCacheDir(), join(tmp, 'env-cache'));
    delete process.env.THAW_CACHE;
    assert.match(defaultCacheDir(), /\.cache\/thaw$/);
  } finally {
    if (old === undefined) delete process.env.THAW_CACHE; else process.env.THAW_CACHE = old;
  }
});

test('$THAW_OFFLINE_DIRS: each folder is searched as <dir>/<model>/ and <dir>/, before the default local copies', async () => {
  const { defaultOfflineDirs, envOfflineDirs } = await import('../../models/zoo_fetch.ts');
  const e = ZOO['resnet20-cifar10'];
  assert.equal(envOfflineDirs(e, ''), []);
  assert.equal(envOfflineDirs(e, `/a${delimiter}${delimiter}/b/`), ['/a/resnet20-cifar10', '/a', '/b/resnet20-cifar10', '/b']);
  const old = process.env.THAW_OFFLINE_DIRS;
  try {
    // A wrong file under the variable's folder is found first (and rejected by its sha256), even
    // where the checkout's own ../shared copy exists: the variable comes before the defaults.
    const models = join(tmp, 'models');
    mkdirSync(join(models, e.name), { recursive: true });
    const bad = join(models, e.name, e.files[0].path);
    writeFileSync(bad, 'not a checkpoint');
    process.env.THAW_OFFLINE_DIRS = models;
    assert.equal(defaultOfflineDirs(e).slice(0, 2), [join(models, e.name), models]);
    try {
      await fetchModel(e.name, { cacheDir: join(tmp, 'cache'), offline: true });
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, ChecksumError);
      assert.match((err as Error).message, bad);
    }
    if (haveResnet) {
      // A folder holding the model's files directly works too.
      const flat = join(tmp, 'flat');
      mkdirSync(flat);
      copyFileSync(join(RESNET_DIR, e.files[0].path), join(flat, e.files[0].path));
      process.env.THAW_OFFLINE_DIRS = [join(tmp, 'nothing-here'), flat].join(delimiter);
      const m = await fetchModel(e.name, { cacheDir: join(tmp, 'cache'), offline: true });
      assert.is(m.sources[e.files[0].path], 'local');
      assert.is(await sha256File(m.files[e.files[0].path]), e.files[0].sha256);
    }
  } finally {
    if (old === undefined) delete process.env.THAW_OFFLINE_DIRS; else process.env.THAW_OFFLINE_DIRS = old;
  }
});

test('offline with no copy: the error names the URL and where to put the file', async () => {
  try {
    await fetchModel('resnet20-cifar10', { cacheDir: join(tmp, 'c'), offlineDirs: [join(tmp, 'empty')], offline: true });
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, ModelUnavailableError);
    const msg = (e as Error).message;
    assert.match(msg, ZOO['resnet20-cifar10'].files[0].url!);
    assert.match(msg, join(tmp, 'c', 'resnet20-cifar10', 'resnet20-12fca82f.th'));
  }
  try {
    await fetchModel('resnet20-cifar10-safetensors', { cacheDir: join(tmp, 'c'), offlineDirs: [] });
    assert.unreachable('should throw');
  } catch (e) {
    assert.match((e as Error).message, /has no public download URL/);
  }
  try {
    await fetchModel('resnet20', { cacheDir: join(tmp, 'c') });
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, UnknownModelError);
  }
});

/** Serves files from `dir` by base name; `tamper` corrupts what it sends. */
function serve(dir: string, tamper = false): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const p = join(dir, basename(req.url ?? ''));
    if (!existsSync(p)) { res.statusCode = 404; res.end('not found'); return; }
    const body = readFileSync(p);
    if (tamper) body[body.length >> 1] ^= 1;
    res.setHeader('content-length', body.length);
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` })));
}

(haveResnet ? test : test.skip)('download path: streamed with progress and verified; a tampered download is rejected', async () => {
  const { server, base } = await serve(RESNET_DIR);
  const redirect = (b: string): typeof fetch => (url) => globalThis.fetch(b + basename(String(url)));
  try {
    const cacheDir = join(tmp, 'cache');
    const seen: FetchProgress[] = [];
    const m = await fetchModel('resnet20-cifar10', { cacheDir, offlineDirs: [], offline: false, fetch: redirect(base), onProgress: (p) => seen.push(p) });
    assert.is(m.sources['resnet20-12fca82f.th'], 'download');
    assert.is(await sha256File(m.files['resnet20-12fca82f.th']), ZOO['resnet20-cifar10'].files[0].sha256);
    assert.ok(seen.every((p) => p.source === 'download') && seen.at(-1)!.received === 1099231);
    const url = ZOO['resnet20-cifar10'].files[0].url!;
    const notFound = await fetchModel('resnet20-cifar10', { cacheDir: join(tmp, 'c404'), offlineDirs: [], offline: false, fetch: () => globalThis.fetch(base + 'nope') })
      .then(() => null, (e) => e);
    assert.instance(notFound, ModelUnavailableError);
    assert.match(notFound.message, `downloading ${url} failed with HTTP 404`);
    const down = await fetchModel('resnet20-cifar10', { cacheDir: join(tmp, 'c404'), offlineDirs: [], offline: false, fetch: () => Promise.reject(new Error('ENOTFOUND')) })
      .then(() => null, (e) => e);
    assert.instance(down, ModelUnavailableError);
    assert.match(down.message, `cannot download ${url} (ENOTFOUND)`);
  } finally {
    server.close();
  }
  const bad = await serve(RESNET_DIR, true);
  try {
    const cacheDir = join(tmp, 'cache2');
    const err = await fetchModel('resnet20-cifar10', { cacheDir, offlineDirs: [], offline: false, fetch: redirect(bad.base) }).then(() => null, (e) => e);
    assert.instance(err, ChecksumError);
    assert.equal(readdirSync(join(cacheDir, 'resnet20-cifar10')), [], 'tampered download not kept');
  } finally {
    bad.server.close();
  }
});
if (!haveResnet) console.log(`  (skipping local-copy fetch tests: ${RESNET_DIR} not found)`);

test.run();
