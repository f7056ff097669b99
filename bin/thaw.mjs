#!/usr/bin/env node
// The thaw CLI. In a checkout it runs the TypeScript sources through tsx (never a stale build);
// an installed package (no cli/ sources) runs the built bundle.
//
// Dawn writes adapter messages straight to file descriptor 2 from native code, where no JavaScript
// can intercept them, and on lavapipe it writes two known-harmless ones on every run ("Warning:
// maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially reduced ..."; it clamps a limit
// thaw never uses). So the CLI runs as a child process whose stderr passes through this one, which
// drops exactly those lines and passes everything else through as it comes (progress bars
// included). THAW_DEBUG=1 runs it directly and shows every message.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { register } from 'node:module';

/** Adapter messages that never matter to a thaw user (one per line, as Dawn prints them). */
const HARMLESS = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;
const HARMLESS_PREFIX = 'Warning: maxDynamic';

if (process.env.THAW_DEBUG !== '1' && process.env.THAW_STDERR_FILTER !== 'child') {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    // The child's stderr is a pipe: tell its progress bars that a terminal is at the end of it.
    env: { ...process.env, THAW_STDERR_FILTER: 'child', ...(process.stderr.isTTY ? { THAW_STDERR_COLUMNS: String(process.stderr.columns || 80) } : {}) },
  });
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    let out = lines.filter((l) => !HARMLESS.test(l)).map((l) => `${l}\n`).join('');
    // A partial line (a progress bar redrawn with \r) goes out at once, unless it may yet become a harmless message.
    if (!(HARMLESS_PREFIX.startsWith(pending) || pending.startsWith(HARMLESS_PREFIX))) { out += pending; pending = ''; }
    if (out) process.stderr.write(out);
  });
  // Signals sent to this process are passed on (Ctrl-C also reaches the child from the terminal itself).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('error', (e) => { process.stderr.write(`thaw: cannot start node (${e.message})\n`); process.exit(1); });
  child.on('close', (code, signal) => {
    if (pending && !HARMLESS.test(pending)) process.stderr.write(pending);
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
} else {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  // THAW_CLI_BUNDLE: a bundle to run instead (the CLI tests bundle the current sources once).
  const built = join(root, 'dist', 'cli.js');
  const bundle = process.env.THAW_CLI_BUNDLE || (existsSync(built) && !existsSync(join(root, 'cli', 'main.ts')) ? built : '');
  if (bundle) {
    await import(pathToFileURL(bundle).href);
  } else {
    const { register: registerTsx } = await import('tsx/esm/api');
    registerTsx();
    register(pathToFileURL(join(root, 'scripts', 'wgsl-loader.mjs')).href);
    await import(pathToFileURL(join(root, 'cli', 'main.ts')).href);
  }
}
