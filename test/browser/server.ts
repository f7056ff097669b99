/**
 * Checks of the demo server (cli/serve.ts) over HTTP, for test/browser/run.ts: the routes the page
 * uses, the IDX sample, and that nothing outside the served folders is reachable.
 */
import { parseIdxImageSet } from '../../engine/data/idx.ts';
import type { Check } from './demo.ts';

async function get(base: string, path: string, init?: RequestInit): Promise<{ status: number; type: string; body: Uint8Array }> {
  const r = await fetch(base + path, init);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: new Uint8Array(await r.arrayBuffer()) };
}

export async function serverChecks(base: string): Promise<Check[]> {
  const out: Check[] = [];
  const check = async (name: string, fn: () => Promise<string | void>) => {
    const t0 = Date.now();
    try {
      const detail = await fn();
      out.push({ name, ok: true, ms: Date.now() - t0, detail: detail ?? undefined });
    } catch (e) {
      out.push({ name, ok: false, ms: Date.now() - t0, detail: (e as Error).message });
    }
  };
  const expect = (cond: unknown, msg: string) => { if (!cond) throw new Error(msg); };

  await check('serve: page, stylesheet, bundle and manifest', async () => {
    const page = await get(base, '/');
    expect(page.status === 200 && page.type.startsWith('text/html'), `/ → ${page.status} ${page.type}`);
    for (const p of ['/web/style.css', '/dist/web/main.js']) expect((await get(base, p)).status === 200, `${p} is not served`);
    const m = JSON.parse(new TextDecoder().decode((await get(base, '/api/manifest')).body));
    expect(Array.isArray(m.backbones), 'manifest has no backbones list');
    for (const b of m.backbones) {
      const r = await get(base, b.url, { method: 'HEAD' });
      expect(r.status === 200, `${b.url} → ${r.status}`);
    }
    return `${m.backbones.length} backbone files; Fashion-MNIST ${m.fashionMnist ? 'present' : 'absent'}`;
  });

  await check('serve: nothing outside the served folders (traversal, dot-files, sources, other methods)', async () => {
    const denied = ['/web/..%2Fpackage.json', '/web/../package.json', '/dist/web/..%2F..%2Fpackage.json', '/web/main.ts', '/web/.hidden',
      '/checkpoints/resnet20-cifar10/..%2F..%2FDESIGN.md', '/checkpoints/darknet-tiny/model.json', '/package.json', '/engine/core/tensor.ts'];
    for (const p of denied) {
      const r = await get(base, p);
      expect(r.status === 404 || r.status === 400, `${p} → ${r.status}`);
    }
    expect((await get(base, '/', { method: 'POST' })).status === 405, 'POST / is not refused');
  });

  const m = JSON.parse(new TextDecoder().decode((await get(base, '/api/manifest')).body));
  if (!m.fashionMnist) {
    out.push({ name: 'serve: Fashion-MNIST sample as IDX', ok: true, skip: m.fashionMissing });
    return out;
  }
  await check('serve: Fashion-MNIST sample as IDX bytes (k per class, seeded, parseable)', async () => {
    const imgs = await get(base, '/data/fashion-mnist/test-images.idx?perClass=3&seed=7');
    const labs = await get(base, '/data/fashion-mnist/test-labels.idx?perClass=3&seed=7');
    const set = parseIdxImageSet(imgs.body, labs.body);
    expect(set.n === 30 && set.width === 28 && set.height === 28, `got ${set.n} images of ${set.height}x${set.width}`);
    const per = new Array(10).fill(0);
    for (const l of set.labels) per[l]++;
    expect(per.every((c) => c === 3), `per class: ${per}`);
    const again = await get(base, '/data/fashion-mnist/test-labels.idx?perClass=3&seed=7');
    expect(again.body.join() === labs.body.join(), 'the same seed gave another sample');
    expect((await get(base, '/data/fashion-mnist/train-labels.idx?perClass=0')).status === 400, 'perClass=0 is not refused');
  });
  return out;
}
