/**
 * The browser suite: the engine in a real page (headless Chromium through playwright-core), on the
 * page's own WebGPU adapter (SwiftShader here; a GPU elsewhere).
 *
 *  1. the browser bundle (dist/browser/index.js) loads and computes in a page: no Node built-ins, WGSL inlined;
 *  2. a subset of the op suite in a page, each case compared with float64 CPU references in the page;
 *  3. the demo (`thaw serve`): loads the real ResNet-20 checkpoint and a Fashion-MNIST sample,
 *     fine-tunes for a few steps (the loss must fall), evaluates, predicts, and is screenshotted to
 *     out/browser/demo.png;
 *  4. the demo without WebGPU shows a clear message (out/browser/no-webgpu.png);
 *  and the demo server's routes over HTTP (test/browser/server.ts).
 *
 * Run: `bash scripts/test.sh` (after the Node suites), or `source scripts/env.sh && node test/browser/run.ts`.
 * Last line: `browser: N passed, N failed`; exits non-zero on any failure. Skips (0 passed, 0 failed)
 * when Chromium is not installed. THAW_CHROMIUM overrides the browser path.
 */
import { existsSync, statSync, readdirSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { Server } from 'node:http';
import { serve } from '../../cli/serve.ts';
import { demoChecks, noWebGpuCheck, type Check } from './demo.ts';
import { serverChecks } from './server.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.THAW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-gpu-sandbox', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

function done(passed: number, failed: number): never {
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

/** Newest modification time under the given paths (files or folders, recursively). */
function newest(paths: string[]): number {
  let t = 0;
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) { for (const e of readdirSync(p)) if (e !== 'node_modules') walk(join(p, e)); } else t = Math.max(t, s.mtimeMs);
  };
  paths.forEach((p) => walk(join(ROOT, p)));
  return t;
}

function buildIfStale(): void {
  const outs = ['dist/browser/index.js', 'dist/web/main.js'].map((p) => join(ROOT, p));
  const built = Math.min(...outs.map((p) => (existsSync(p) ? statSync(p).mtimeMs : 0)));
  if (built < newest(['index.ts', 'engine', 'kernels', 'models', 'web', 'build.mjs'])) {
    console.log('browser: dist is stale or missing; running node build.mjs');
    execFileSync(process.execPath, ['build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  }
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.log(`browser: skipped — Chromium is not installed at ${CHROMIUM} (Debian: apt-get install chromium; or set THAW_CHROMIUM)`);
    done(0, 0);
  }
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    console.log(`browser: skipped — playwright-core is not installed (npm ci): ${(e as Error).message}`);
    done(0, 0);
  }
  buildIfStale();
  const { build } = await import('esbuild');
  const opsJs = (await build({
    entryPoints: [join(ROOT, 'test/browser/ops_page.ts')], bundle: true, write: false, format: 'esm', platform: 'browser',
    loader: { '.wgsl': 'text' }, target: 'es2022', external: ['webgpu', 'node:*'], logLevel: 'warning',
  })).outputFiles[0].text;

  const checks: Check[] = [];
  const record = (c: Check) => {
    checks.push(c);
    const ms = c.ms !== undefined ? ` (${(c.ms / 1000).toFixed(1)} s)` : '';
    console.log(c.skip ? `  - ${c.name}: skipped — ${c.skip}` : c.ok ? `  ✓ ${c.name}${ms}` : `  ✗ ${c.name}${ms}\n      ${c.detail}`);
  };

  const server: Server = await serve({ port: 0, root: ROOT });
  const addr = server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  for (const c of await serverChecks(base)) record(c);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const t0 = Date.now();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(0);  // no wall-clock limits: a cold shader cache makes pages slow, not wrong
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    // Test pages are served by interception on the server's origin (a secure context for WebGPU).
    await page.route(`${base}/__test/**`, (route) => {
      const p = new URL(route.request().url()).pathname;
      if (p === '/__test/bundle.js') return route.fulfill({ contentType: 'text/javascript', body: readFileSync(join(ROOT, 'dist/browser/index.js'), 'utf8') });
      if (p === '/__test/ops.js') return route.fulfill({ contentType: 'text/javascript', body: opsJs });
      if (p === '/__test/bundle.html') return route.fulfill({ contentType: 'text/html', body: BUNDLE_PAGE });
      return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>thaw ops</title><script type="module" src="/__test/ops.js"></script>' });
    });

    // 1. The browser bundle as published.
    {
      const s = Date.now();
      const src = readFileSync(join(ROOT, 'dist/browser/index.js'), 'utf8');
      const statics = [...src.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gm)].map((m) => m[1]);
      const wgslImports = /from\s*["'][^"']+\.wgsl["']/.test(src);
      await page.goto(`${base}/__test/bundle.html`);
      const r: any = await page.evaluate(() => (window as any).__bundle);
      const ok = !statics.length && !wgslImports && r?.ok === true && !errors.length;
      record({ name: 'browser bundle dist/browser/index.js: no static imports (Node built-ins, webgpu, .wgsl), init() and an op in a page', ok, ms: Date.now() - s,
        detail: `static imports: [${statics.join(', ')}]; .wgsl imports: ${wgslImports}; page: ${JSON.stringify(r)}; errors: ${errors.join(' | ')}` });
      errors.length = 0;
    }

    // 2. The op suite in a page.
    {
      const seed = Number(process.env.THAW_SEED ?? Date.now() % 1e9);
      await page.goto(`${base}/__test/ops.html?seed=${seed}`);
      const r: any = await page.evaluate(() => (window as any).__ops);
      console.log(`browser: adapter.info in the page: ${JSON.stringify(r.adapter)}; op seed ${r.seed}`);
      for (const c of r.results) record({ name: `ops: ${c.name}`, ok: c.ok, ms: c.ms, detail: c.detail });
      if (errors.length) record({ name: 'ops page: no page errors', ok: false, detail: errors.join(' | ') });
      errors.length = 0;
    }

    // 3. The demo, driven through window.thawDemo; 4. the demo without WebGPU.
    for await (const c of demoChecks(page, base, ROOT, errors)) record(c);
    record(await noWebGpuCheck(browser, base, ROOT));
  } catch (e) {
    record({ name: 'browser suite', ok: false, detail: String((e as Error)?.stack ?? e) });
  } finally {
    await browser.close();
    server.close();
  }
  const passed = checks.filter((c) => c.ok && !c.skip).length, failed = checks.filter((c) => !c.ok && !c.skip).length;
  console.log(`browser: ${((Date.now() - t0) / 1000).toFixed(1)} s in Chromium`);
  done(passed, failed);
}

/** Imports the published browser bundle as a module and runs one op on the page's device. */
const BUNDLE_PAGE = `<!doctype html><title>thaw bundle</title><script type="module">
window.__bundle = (async () => {
  try {
    const thaw = await import('/__test/bundle.js');
    await thaw.init();
    const g = await thaw.getGpu();
    const y = thaw.relu(thaw.tensor([-1, 2, -3, 4]));
    const v = Array.from(await y.data());
    return { ok: JSON.stringify(v) === '[0,2,0,4]' && g.info.backend === 'browser', relu: v, backend: g.info.backend, kind: g.info.kind };
  } catch (e) { return { ok: false, error: String(e && e.stack || e) }; }
})();
</script>`;

await main();
