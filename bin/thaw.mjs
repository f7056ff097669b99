#!/usr/bin/env node
// The thaw CLI. Runs the built bundle when present, else the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { register } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const built = join(root, 'dist', 'cli.js');
if (existsSync(built) && !process.env.THAW_FROM_SOURCE) {
  await import(pathToFileURL(built).href);
} else {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register(pathToFileURL(join(root, 'scripts', 'wgsl-loader.mjs')).href);
  await import(pathToFileURL(join(root, 'cli', 'main.ts')).href);
}
