#!/usr/bin/env node
// The thaw CLI. In a checkout it runs the TypeScript sources through tsx (never a stale build);
// an installed package (no cli/ sources) runs the built bundle.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { register } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const built = join(root, 'dist', 'cli.js');
if (existsSync(built) && !existsSync(join(root, 'cli', 'main.ts'))) {
  await import(pathToFileURL(built).href);
} else {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register(pathToFileURL(join(root, 'scripts', 'wgsl-loader.mjs')).href);
  await import(pathToFileURL(join(root, 'cli', 'main.ts')).href);
}
