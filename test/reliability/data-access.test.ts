import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { checkDataAccess } from '../../activities/data-access';
import type { DataConfig } from '../../contracts';

/** RANKWRIGHT_DATA_DIRS confines what a starter's data paths can make a worker read (real files, real symlinks). */
describe('data access: the folders a worker may read', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-data-dirs-'));
  const allowed = path.join(root, 'data');
  const secret = path.join(root, 'secret.tsv');
  fs.mkdirSync(allowed);
  fs.writeFileSync(path.join(allowed, 'train.tsv'), '');
  fs.writeFileSync(path.join(allowed, 'test.tsv'), '');
  fs.writeFileSync(secret, 'private');
  fs.symlinkSync(secret, path.join(allowed, 'link.tsv'));
  const env = { RANKWRIGHT_DATA_DIRS: `/nonexistent:${allowed}` };
  const files = (train: string, test = path.join(allowed, 'test.tsv')) => ({ format: 'criteo-tsv', train, test }) as DataConfig;
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('allows files inside a named folder, and anything when none is named', () => {
    checkDataAccess(files(path.join(allowed, 'train.tsv')), env);
    checkDataAccess(files(secret), {});
    checkDataAccess({ planted: { seed: 1 } } as DataConfig, env);
  });

  it('refuses a path outside, a ../ escape and a symlink pointing out, naming the field (non-retryable)', () => {
    for (const [config, field] of [
      [files(secret), 'train'],
      [files(path.join(allowed, '..', 'secret.tsv')), 'train'],
      [files(path.join(allowed, 'link.tsv')), 'train'],
      [files(path.join(allowed, 'train.tsv'), '/etc/passwd'), 'test'],
    ] as const) {
      assert.throws(
        () => checkDataAccess(config, env),
        (err: unknown) =>
          err instanceof ApplicationFailure &&
          err.nonRetryable &&
          new RegExp(`^data\\.${field}: .* is outside the folders this worker may read`).test(err.message),
      );
    }
  });
});
