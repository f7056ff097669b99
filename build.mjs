// Builds the library for Node and for browsers, the CLI, and the web demo. WGSL files are inlined as text.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

const common = { bundle: true, format: 'esm', loader: { '.wgsl': 'text' }, sourcemap: true, target: 'es2022', logLevel: 'warning' };

await build({
  ...common, entryPoints: ['node.ts'], outfile: 'dist/node/index.js', platform: 'node', packages: 'external',
});
await build({
  ...common, entryPoints: ['index.ts'], outfile: 'dist/browser/index.js', platform: 'browser',
  // Node-only code paths (Dawn, file system) are behind runtime checks; keep them out of the bundle.
  external: ['webgpu', 'node:*'],
});
await build({
  ...common, entryPoints: ['cli/main.ts'], outfile: 'dist/cli.js', platform: 'node', packages: 'external',
});
if (existsSync('web/main.ts')) {
  await build({ ...common, entryPoints: ['web/main.ts'], outfile: 'dist/web/main.js', platform: 'browser', external: ['webgpu', 'node:*'] });
}
console.log('build: dist/node, dist/browser, dist/cli.js' + (existsSync('web/main.ts') ? ', dist/web' : ''));
