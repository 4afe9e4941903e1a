import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { DataConfig } from '../contracts';

/**
 * Where a worker may read data from. A campaign's data paths are chosen by whoever starts it (Web UI, CLI, HTTP),
 * and the worker reads them with its own permissions — and reports what it found wrong in them, row by row. So a
 * worker can confine reads to folders it names: `RANKWRIGHT_DATA_DIRS` (':'-separated). Unset means any file the
 * worker's user can read (fine on a laptop; set it wherever starters are not the worker's owner).
 *
 * Paths are compared after resolving symlinks, so a link inside an allowed folder can't point outside it.
 */
export function dataDirs(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const raw = env.RANKWRIGHT_DATA_DIRS?.trim();
  if (!raw) return undefined;
  return raw
    .split(':')
    .filter(Boolean)
    .map((dir) => realOrResolved(dir));
}

/** Throws a non-retryable InvalidInput naming the field and path when a data file lies outside the allowed folders. */
export function checkDataAccess(data: DataConfig, env: NodeJS.ProcessEnv = process.env): void {
  const allowed = dataDirs(env);
  if (!allowed || !('train' in data)) return;
  for (const field of ['train', 'validation', 'test'] as const) {
    const file = (data as Record<string, unknown>)[field];
    if (typeof file !== 'string') continue;
    const real = realOrResolved(file);
    const inside = allowed.some((dir) => {
      const rel = path.relative(dir, real);
      return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    });
    if (!inside) {
      throw ApplicationFailure.create({
        type: 'InvalidInput',
        nonRetryable: true,
        message: `data.${field}: ${file} is outside the folders this worker may read (RANKWRIGHT_DATA_DIRS=${allowed.join(':')})`,
      });
    }
  }
}

function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
