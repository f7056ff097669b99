// Builds the library for Node and for browsers, its type declarations, the CLI, and the web demo.
// WGSL files are inlined as text, so dist/ needs no loader for them.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { common, cliBuild } from './scripts/build_options.mjs';

await build({
  ...common, entryPoints: ['node.ts'], outfile: 'dist/node/index.js', platform: 'node', packages: 'external',
});
await build({
  ...common, entryPoints: ['index.ts'], outfile: 'dist/browser/index.js', platform: 'browser',
  // Node-only code paths (Dawn, file system) are behind runtime checks; keep them out of the bundle.
  external: ['webgpu', 'node:*'],
});
await build({ ...cliBuild, outfile: 'dist/cli.js' });
// Declarations of the public API (index.ts, node.ts and what they reach), for package.json's "types".
rmSync('dist/types', { recursive: true, force: true });
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (existsSync('web/main.ts')) {
  await build({ ...common, entryPoints: ['web/main.ts'], outfile: 'dist/web/main.js', platform: 'browser', external: ['webgpu', 'node:*'] });
}
console.log('build: dist/node, dist/browser, dist/types, dist/cli.js' + (existsSync('web/main.ts') ? ', dist/web' : ''));
