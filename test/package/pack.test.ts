// `import 'thaw'` from another project: packs this checkout with npm, installs the tarball into a
// fresh folder outside the repository, type-checks the README example there against the shipped
// declarations (moduleResolution node16 and bundler), and runs it with Node (ESM) on the installed
// package, without tsx or a .wgsl loader. Needs dist/ (CI builds it before the tests); builds it
// here when missing or older than the sources.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readmeExample, zooEnv } from '../readme_env.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSC = join(root, 'node_modules', '.bin', 'tsc');
/** The build's inputs and the outputs the package needs. */
const INPUTS = ['engine', 'kernels', 'models', 'cli', 'web', 'types', 'index.ts', 'node.ts', 'build.mjs', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
const OUTPUTS = ['dist/node/index.js', 'dist/browser/index.js', 'dist/cli.js', 'dist/types/index.d.ts', 'dist/types/node.d.ts'];

/** Child processes see no NODE_OPTIONS: scripts/env.sh's `--import tsx` is for this checkout, not for a project that installed thaw. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

/** Runs a command; on failure the assertion carries its output. */
function run(cmd: string, args: string[], cwd: string, env = childEnv()): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) assert.unreachable(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of readdirSync(path)) t = Math.max(t, newestMtime(join(path, e)));
  return t;
}

/** Builds dist/ unless every output exists and is newer than every input. */
function ensureDist(): void {
  const missing = OUTPUTS.filter((o) => !existsSync(join(root, o)));
  const built = missing.length ? 0 : Math.min(...OUTPUTS.map((o) => statSync(join(root, o)).mtimeMs));
  const src = Math.max(...INPUTS.filter((i) => existsSync(join(root, i))).map((i) => newestMtime(join(root, i))));
  if (missing.length === 0 && built >= src) return;
  console.log(`  building dist/ (${missing.length ? `missing ${missing.join(', ')}` : 'older than the sources'})`);
  run(process.execPath, ['build.mjs'], root);
}

test('npm pack → install in a fresh project → README example type-checks and runs from the installed package', async () => {
  ensureDist();
  const tmp = mkdtempSync(join(tmpdir(), 'thaw-pack-'));
  try {
    // 1. The tarball: built JS with WGSL inlined, declarations, the CLI; no TypeScript sources or .wgsl files.
    const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root))[0];
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    console.log(`  packed ${packed.filename}: ${files.length} files, ${(packed.size / 1e6).toFixed(1)} MB`);
    for (const f of ['package.json', 'README.md', 'bin/thaw.mjs', 'dist/node/index.js', 'dist/browser/index.js', 'dist/cli.js', 'dist/types/index.d.ts', 'dist/types/node.d.ts']) {
      assert.ok(files.includes(f), `tarball holds ${f}`);
    }
    assert.equal(files.filter((f) => f.endsWith('.wgsl') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), [], 'no sources that need a loader');
    const bundle = readFileSync(join(root, 'dist', 'node', 'index.js'), 'utf8');
    assert.not.match(bundle, /from\s*["'][^"']*\.(wgsl|ts)["']/, 'the Node bundle imports no .wgsl or .ts file');

    // 2. A fresh ESM project outside the repository installs the tarball (dependencies from the npm cache).
    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'thaw-consumer', private: true, type: 'module' }, null, 2));
    const installed = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(tmp, packed.filename)], app);
    console.log(`  npm install: ${installed.trim().split('\n').at(-1)}`);
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'thaw', 'package.json'), 'utf8'));
    assert.is(pkg.name, 'thaw');

    // 3. Types: the README example type-checks against dist/types with node16 and bundler resolution,
    //    with the library's own declarations checked too (skipLibCheck off), and a wrong use is caught
    //    (the types are real, not `any`).
    writeFileSync(join(app, 'example.ts'), readmeExample());
    writeFileSync(join(app, 'probe.ts'), "import { resnet20, fetchModel } from 'thaw';\nexport const n: number = resnet20();\nexport const s: string = fetchModel('resnet20-cifar10');\n");
    const tsconfig = (module: string, resolution: string, files: string[], emit: boolean) => JSON.stringify({
      compilerOptions: { target: 'ES2022', module, moduleResolution: resolution, strict: true, skipLibCheck: false, types: [], ...(emit ? { outDir: 'js' } : { noEmit: true }) },
      files,
    });
    writeFileSync(join(app, 'tsconfig.node16.json'), tsconfig('Node16', 'Node16', ['example.ts'], true));
    writeFileSync(join(app, 'tsconfig.bundler.json'), tsconfig('ESNext', 'Bundler', ['example.ts'], false));
    writeFileSync(join(app, 'tsconfig.probe.json'), tsconfig('Node16', 'Node16', ['probe.ts'], false));
    run(TSC, ['-p', 'tsconfig.node16.json'], app);
    run(TSC, ['-p', 'tsconfig.bundler.json'], app);
    console.log('  tsc: example.ts type-checks with moduleResolution node16 and bundler');
    const probe = spawnSync(TSC, ['-p', 'tsconfig.probe.json'], { cwd: app, env: childEnv(), encoding: 'utf8' });
    assert.is.not(probe.status, 0, 'a wrong use of the API is a type error');
    assert.match(probe.stdout, /Type 'ResNetCifar' is not assignable to type 'number'/);
    assert.match(probe.stdout, /Type 'Promise<FetchedModel>' is not assignable to type 'string'/);

    // 4. The CLI of the installed package runs its bundle, which has package.json's version.
    assert.is(run(join(app, 'node_modules', '.bin', 'thaw'), ['--version'], app).trim(), JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);

    // 5. The example itself, on the installed package (plain Node, no tsx, no .wgsl loader).
    if (!existsSync('/usr/share/datasets/fashion-mnist')) { console.log('  skipped running the example: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)'); return; }
    const env = await zooEnv(join(tmp, 'cache'));
    if (!env) return;
    const out = run(process.execPath, [join('js', 'example.js')], app, childEnv(env));
    console.log(out.trim().split('\n').map((l) => `  example: ${l}`).join('\n'));
    assert.match(out, /loaded 97 tensors/);
    assert.match(out, /final loss \d+\.\d{3}, feature cache: true/);
    assert.ok(existsSync(join(app, 'out', 'fine-tuned.safetensors')));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
