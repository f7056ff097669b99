/**
 * `thaw serve`: a small static server for the browser demo, bound to 127.0.0.1 only.
 *
 * Routes (GET and HEAD; nothing else is reachable, so no path can escape the repository):
 *   /                                   web/index.html
 *   /web/<file>                         web/ (CSS)
 *   /dist/web/<file>                    the bundled page script (build.mjs)
 *   /api/manifest                       JSON: the backbone files found and whether Fashion-MNIST is there
 *   /checkpoints/resnet20-cifar10/<f>   the real ResNet-20 checkpoint files from ../shared
 *   /data/fashion-mnist/<split>-{images,labels}.idx?perClass=K&seed=S
 *                                       an uncompressed IDX sample: K images per class of train or test,
 *                                       chosen by a seeded draw, so the page parses it with parseIdxImageSet
 */
import http from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, extname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { ThawError } from '../engine/core/errors.ts';
import { readIdxImageSet, FASHION_MNIST_DIR } from '../engine/data/fashion_mnist.ts';
import { encodeIdxU8, FASHION_MNIST_CLASSES, type IdxImageSet } from '../engine/data/idx.ts';
import { subsetPerClass } from '../engine/data/dataset.ts';
import { Rng } from '../engine/data/rng.ts';

export interface ServeOptions {
  /** Port on the host; 0 picks a free one (read it from `server.address()`). Default 8080. */
  port?: number;
  /** The repository root (holds web/ and dist/web/). Default: the folder above this file's. */
  root?: string;
  /** Interface to bind. Default 127.0.0.1; the demo is not meant to be exposed. */
  host?: string;
  /** The shared data folder (checkpoints/). Default `<root>/../shared`, or $THAW_SHARED. */
  shared?: string;
  /** The Fashion-MNIST folder (gzipped IDX files). Default /usr/share/datasets/fashion-mnist. */
  fashionDir?: string;
  /** One line per request; default silent. */
  log?: (line: string) => void;
}

/** A backbone file the page can load. */
export interface BackboneFile { id: string; label: string; url: string; bytes: number; format: string }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** The ResNet-20 files, in the order the page offers them (the original first). */
const RESNET20_FILES: [string, string][] = [
  ['resnet20-12fca82f.th', 'original .th'],
  ['resnet20-cifar10.pt', '.pt (zip)'],
  ['resnet20-cifar10.safetensors', '.safetensors'],
];

/** The repository root: one folder above cli/serve.ts, and above dist/cli.js once bundled. */
export function defaultRoot(): string {
  return resolve(fileURLToPath(new URL('..', import.meta.url)));
}

/** Starts the demo server; resolves once it listens. Close it with `server.close()`. */
export async function serve(opts: ServeOptions = {}): Promise<http.Server> {
  const root = resolve(opts.root ?? defaultRoot());
  const shared = resolve(opts.shared ?? process.env.THAW_SHARED ?? join(root, '..', 'shared'));
  const ckptDir = join(shared, 'checkpoints', 'resnet20-cifar10');
  const fashionDir = opts.fashionDir ?? FASHION_MNIST_DIR;
  const splits = new Map<string, IdxImageSet>();
  const samples = new Map<string, { images: Uint8Array; labels: Uint8Array }>();

  function manifest() {
    const backbones: BackboneFile[] = RESNET20_FILES.filter(([f]) => existsSync(join(ckptDir, f))).map(([f, fmt]) => ({
      id: f, label: `ResNet-20 · ${fmt}`, url: `/checkpoints/resnet20-cifar10/${f}`, bytes: statSync(join(ckptDir, f)).size, format: fmt,
    }));
    const fashion = existsSync(join(fashionDir, 't10k-labels-idx1-ubyte.gz')) || existsSync(join(fashionDir, 't10k-labels-idx1-ubyte'));
    return {
      backbones, backboneMissing: backbones.length ? null : `no ResNet-20 checkpoint in ${ckptDir}`,
      fashionMnist: fashion ? { classes: FASHION_MNIST_CLASSES } : null,
      fashionMissing: fashion ? null : `Fashion-MNIST not found in ${fashionDir}`,
    };
  }

  function split(name: 'train' | 'test'): IdxImageSet {
    let s = splits.get(name);
    if (!s) {
      const p = name === 'train' ? 'train' : 't10k';
      const find = (base: string) => [join(fashionDir, base), join(fashionDir, `${base}.gz`)].find(existsSync) ?? join(fashionDir, `${base}.gz`);
      s = readIdxImageSet(find(`${p}-images-idx3-ubyte`), find(`${p}-labels-idx1-ubyte`));
      splits.set(name, s);
    }
    return s;
  }

  function sample(name: 'train' | 'test', perClass: number, seed: number) {
    const key = `${name}:${perClass}:${seed}`;
    let r = samples.get(key);
    if (!r) {
      const s = split(name);
      const idx = subsetPerClass(s.labels, perClass, new Rng(seed));
      const hw = s.height * s.width;
      const images = new Uint8Array(idx.length * hw), labels = new Uint8Array(idx.length);
      idx.forEach((i, k) => { images.set(s.images.subarray(i * hw, (i + 1) * hw), k * hw); labels[k] = s.labels[i]; });
      r = { images: encodeIdxU8([idx.length, s.height, s.width], images), labels: encodeIdxU8([idx.length], labels) };
      if (samples.size > 16) samples.clear();
      samples.set(key, r);
    }
    return r;
  }

  const server = http.createServer((req, res) => {
    const send = (code: number, body: string | Uint8Array, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
      opts.log?.(`${req.method} ${req.url} ${code}`);
    };
    const file = (path: string) => {
      if (!existsSync(path) || !statSync(path).isFile()) return send(404, `not found: ${req.url}`);
      send(200, readFileSync(path), TYPES[extname(path)] ?? 'application/octet-stream');
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET and HEAD');
      const url = new URL(req.url ?? '/', 'http://localhost');
      const p = decodeURIComponent(url.pathname);
      // Only single, plain file names below each mount: no '..', no sub-folders, no dot-files.
      const leaf = (prefix: string) => {
        const name = p.slice(prefix.length);
        return /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) && !name.includes('..') ? name : null;
      };
      if (p === '/' || p === '/index.html') return file(join(root, 'web', 'index.html'));
      if (p === '/favicon.ico') return send(204, '');
      if (p === '/api/manifest') return send(200, JSON.stringify(manifest()), TYPES['.json']);
      if (p.startsWith('/web/') && leaf('/web/') && !p.endsWith('.ts')) return file(join(root, 'web', leaf('/web/')!));
      if (p.startsWith('/dist/web/') && leaf('/dist/web/')) {
        const f = join(root, 'dist', 'web', leaf('/dist/web/')!);
        if (!existsSync(f)) return send(404, `${f} is missing: run 'node build.mjs' first`);
        return file(f);
      }
      if (p.startsWith('/checkpoints/resnet20-cifar10/')) {
        const name = leaf('/checkpoints/resnet20-cifar10/');
        if (!name || (!RESNET20_FILES.some(([f]) => f === name) && name !== 'LICENSE')) return send(404, `not a served checkpoint file: ${p}`);
        return file(join(ckptDir, basename(name)));
      }
      const m = /^\/data\/fashion-mnist\/(train|test)-(images|labels)\.idx$/.exec(p);
      if (m) {
        if (!manifest().fashionMnist) return send(404, `Fashion-MNIST not found in ${fashionDir}`);
        const perClass = Number(url.searchParams.get('perClass') ?? 10), seed = Number(url.searchParams.get('seed') ?? 0);
        if (!Number.isInteger(perClass) || perClass < 1 || perClass > 1000) return send(400, 'perClass must be an integer in 1..1000');
        if (!Number.isInteger(seed)) return send(400, 'seed must be an integer');
        const s = sample(m[1] as 'train' | 'test', perClass, seed);
        return send(200, m[2] === 'images' ? s.images : s.labels, 'application/octet-stream');
      }
      send(404, `not found: ${p}`);
    } catch (e) {
      send(500, `thaw serve: ${(e as Error).message}`);
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => { server.off('error', fail); ok(); });
  });
  return server;
}

/** The CLI's `thaw serve`: builds the page when its bundle is missing, serves until interrupted. */
export async function runServe(o: { port: number; root?: string }): Promise<void> {
  const root = resolve(o.root ?? defaultRoot());
  // Listen first, so a busy port fails at once (one line from the CLI), not after a build.
  const server = await serve({ port: o.port, root });
  if (!existsSync(join(root, 'dist', 'web', 'main.js'))) {
    console.log('thaw serve: dist/web/main.js is missing; running node build.mjs');
    try {
      execFileSync(process.execPath, ['build.mjs'], { cwd: root, stdio: 'inherit' });
    } catch (e) {
      server.close();
      throw new ThawError('build', `building the demo page failed (node build.mjs exited with ${(e as { status?: number }).status ?? 'an error'}; its output is above); fix that, or run 'npm ci' and retry`, { cause: e });
    }
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  console.log(`thaw serve: the demo is at http://127.0.0.1:${port}/ (Ctrl-C to stop)`);
  console.log('  it needs a browser with WebGPU (Chrome/Edge 113+; Chromium on Linux: --enable-unsafe-webgpu)');
  await new Promise<void>((done) => {
    const stop = () => { server.close(() => done()); server.closeAllConnections(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
