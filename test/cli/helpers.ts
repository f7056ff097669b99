/** Shared helpers of the CLI tests (not a test file itself). */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { buildSync } from 'esbuild';
import { cliBuild } from '../../scripts/build_options.mjs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliRun { code: number; out: string; err: string }

let bundle = '';
/**
 * The CLI bundled from the current sources once per test process, with build.mjs's options for
 * dist/cli.js (scripts/build_options.mjs): a run then starts in ~0.3 s instead of ~1 s through tsx.
 * Like dist/cli.js it sits one folder below the root, so the paths it finds from its own location
 * are the same.
 */
function cliBundle(): string {
  if (bundle) return bundle;
  const dir = join(ROOT, `.cli-test-${process.pid}`);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  buildSync({ ...cliBuild, absWorkingDir: ROOT, outfile: join(dir, 'cli.js'), sourcemap: false });
  return (bundle = join(dir, 'cli.js'));
}

/**
 * Runs the CLI (bin/thaw.mjs, on the current sources' bundle), offline, with its cache under `tmp`;
 * returns exit code, stdout and stderr as the user sees them (bin/thaw.mjs drops Dawn's
 * known-harmless warnings).
 */
export function runThaw(tmp: string, args: string[], env: Record<string, string> = {}): CliRun {
  // The test runner's NODE_OPTIONS would load tsx into the CLI's processes (~0.5 s a run).
  const { NODE_OPTIONS: _, ...base } = process.env;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'thaw.mjs'), ...args], {
    cwd: ROOT, encoding: 'utf8',
    env: { ...base, THAW_CLI_BUNDLE: cliBundle(), THAW_CACHE: join(tmp, 'cache'), THAW_OFFLINE: '1', ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** `dir`/dark and `dir`/light, `n` PNGs of width x height each: dark and light noise, told apart by brightness. */
export function darkLightFolder(dir: string, n: number, width: number, height: number): string {
  ['dark', 'light'].forEach((cls, c) => {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < n; i++) {
      const im = new PNG({ width, height });
      for (let j = 0; j < im.data.length; j++) im.data[j] = (j & 3) === 3 ? 255 : (c ? 160 : 20) + ((j * 37 + i * 11) % 60);
      writeFileSync(join(dir, cls, `${i}.png`), PNG.sync.write(im));
    }
  });
  return dir;
}
