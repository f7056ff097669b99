// Shared by the README tests (test/readme.test.ts, test/package/): the README's example and the
// environment its fetchModel call needs.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchModel } from '../models/zoo_fetch.ts';
import { ModelUnavailableError } from '../engine/data/errors.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED_CHECKPOINTS = join(root, '..', 'shared', 'checkpoints');

/** The README's first ```ts block. */
export function readmeExample(): string {
  return readFileSync(join(root, 'README.md'), 'utf8').match(/```ts\n([\s\S]*?)```/)![1];
}

/**
 * The environment that lets the example's `fetchModel('resnet20-cifar10')` succeed with a fresh
 * cache in `cache`: the offline copy when there is one, else a download (tried here, once). Null
 * (after printing why) when neither works.
 */
export async function zooEnv(cache: string): Promise<Record<string, string> | null> {
  if (existsSync(join(SHARED_CHECKPOINTS, 'resnet20-cifar10', 'resnet20-12fca82f.th'))) {
    return { THAW_CACHE: cache, THAW_OFFLINE_DIRS: SHARED_CHECKPOINTS, THAW_OFFLINE: '1' };
  }
  try {
    await fetchModel('resnet20-cifar10', { cacheDir: cache, offlineDirs: [] });
    return { THAW_CACHE: cache };
  } catch (e) {
    if (!(e instanceof ModelUnavailableError)) throw e;
    console.log(`  skipped: no offline copy in ${SHARED_CHECKPOINTS} and the download failed (${e.message.split('. ')[0]})`);
    return null;
  }
}
