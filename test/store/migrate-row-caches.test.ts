import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runStoreMigrate } from '../../client/commands/store';
import { clearDatasetCache } from '../../ranking';
import { writeCriteoTsv } from '../../ranking/data/criteo-writer';
import { loadDataset } from '../../ranking/data/load-data';
import { plantedScenario } from '../../ranking/data/planted';
import type { SharedRowCacheManifest } from '../../ranking/data/shared-row-cache';
import { openStoreUrl } from '../../store/object-store';
import { minioForTests, useMinioStore } from '../support/minio';

/**
 * `rankwright store migrate` shares the row caches a home built before it had a store (real MinIO): under the keys and
 * with the manifest a worker writes, so a fresh home with the store fetches the rows instead of parsing. Caches whose
 * data file is gone, changed or whose chunks are damaged stay in the home, counted; a second run copies nothing.
 */

const LIMIT = 1_000;

interface MigrateJson {
  steps: {
    step: string;
    copied: { count: number; bytes: number };
    skipped: { count: number; bytes: number };
    failed: { item: string; error: string }[];
    leftInHome?: { item: string; reason: string }[];
  }[];
}

function capture(): { out: string[]; err: string[]; io: { out: (l: string) => void; err: (l: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

/** Runs `body` with RANKWRIGHT_HOME (and RANKWRIGHT_STORE, when given) set, and no dataset held from before. */
async function inHome<T>(home: string, store: string | undefined, body: () => Promise<T>): Promise<T> {
  const saved = { home: process.env.RANKWRIGHT_HOME, store: process.env.RANKWRIGHT_STORE };
  process.env.RANKWRIGHT_HOME = home;
  if (store) process.env.RANKWRIGHT_STORE = store;
  else delete process.env.RANKWRIGHT_STORE;
  clearDatasetCache();
  try {
    return await body();
  } finally {
    clearDatasetCache();
    for (const [name, value] of [
      ['RANKWRIGHT_HOME', saved.home],
      ['RANKWRIGHT_STORE', saved.store],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('rankwright store migrate: row caches (MinIO)', function () {
  this.timeout(300_000);
  let dir: string;
  let to: string;
  let restore: () => void;
  const previousChunkRows = process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
  const previousDatabase = process.env.RANKWRIGHT_DATABASE_URL;

  before(() => {
    process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = '2048';
    delete process.env.RANKWRIGHT_DATABASE_URL;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-migrate-row-caches-'));
    // The endpoint and credentials from the environment; --to names the bucket and a prefix of this test's own.
    ({ restore } = useMinioStore());
    to = `${minioForTests().RANKWRIGHT_STORE.replace(/\/?$/, '/')}migrate-rows-${process.pid}-${Date.now().toString(36)}`;
  });

  after(async () => {
    const store = openStoreUrl(to);
    for await (const o of store.list('')) await store.delete(o.key);
    store.close();
    restore();
    if (previousChunkRows === undefined) delete process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
    else process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = previousChunkRows;
    if (previousDatabase !== undefined) process.env.RANKWRIGHT_DATABASE_URL = previousDatabase;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shares the caches of unchanged data files (a fresh home fetches one), leaves the others counted, and copies nothing twice', async () => {
    const s = plantedScenario({ trainRows: 20_000, validationRows: 2_000, testRows: 5_000 });
    const write = async (name: string) => {
      const file = path.join(dir, name);
      await writeCriteoTsv(file, s.train, s.valueNames);
      return file;
    };
    const data = {
      format: 'criteo-tsv' as const,
      train: await write('train.tsv'),
      validation: path.join(dir, 'validation.tsv'),
      test: path.join(dir, 'test.tsv'),
    };
    await writeCriteoTsv(data.validation, s.validation, s.valueNames);
    await writeCriteoTsv(data.test, s.test, s.valueNames);
    const gone = { ...data, train: await write('gone.tsv') };
    const changed = { ...data, train: await write('changed.tsv') };
    const damaged = { ...data, train: await write('damaged.tsv') };

    // A home of one machine, with no store: it parses each training file into a row cache, and shares none.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-home-alone-'));
    const caches = await inHome(home, undefined, async () => {
      const files: Record<string, string> = {};
      for (const [name, config] of Object.entries({ data, gone, changed, damaged })) {
        const ds = await loadDataset(config, { maxInMemoryTrainRows: LIMIT });
        assert.equal(ds.trainOnDisk?.origin, 'parsed');
        files[name] = ds.trainOnDisk!.cache.file;
      }
      return files;
    });
    fs.rmSync(gone.train);
    fs.appendFileSync(changed.train, fs.readFileSync(changed.train, 'utf8').split('\n')[0] + '\n');
    const bytes = fs.readFileSync(caches.damaged);
    for (let i = 0; i < 16; i++) bytes[20_000 + i] ^= 0xff;
    fs.writeFileSync(caches.damaged, bytes);
    const lastUse = fs.statSync(caches.data).mtimeMs;

    const first = capture();
    assert.equal(await runStoreMigrate({ to, json: true, home }, first.io), 0, first.err.join('\n'));
    const step = (JSON.parse(first.out.join('\n')) as MigrateJson).steps.find((r) => r.step === 'row caches')!;
    const cacheBytes = fs.statSync(caches.data).size;
    assert.deepEqual(step.copied, { count: 1, bytes: cacheBytes });
    assert.deepEqual(step.failed, []);
    const item = (file: string) => path.join('row-cache', path.basename(file));
    assert.deepEqual(step.leftInHome!.map((l) => l.item).sort(), [caches.gone, caches.changed, caches.damaged].map(item).sort());
    const reason = (file: string) => step.leftInHome!.find((l) => l.item === item(file))!.reason;
    assert.equal(reason(caches.gone), `its data file ${gone.train} is gone`);
    assert.equal(reason(caches.changed), `its data file ${changed.train} changed since it was built`);
    assert.match(reason(caches.damaged), /^it is damaged \(row cache .* chunk \d+ is corrupt \(checksum mismatch\)/);
    assert.equal(fs.statSync(caches.data).mtimeMs, lastUse, "a migration is not a use: gc's idle clock is kept");

    // In the store: the cache and its manifest, as a worker that parsed the file with the store set writes them.
    const store = openStoreUrl(to);
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    keys.sort();
    assert.equal(keys.length, 2, keys.join(', '));
    assert.match(keys[0], /^row-caches\/[0-9a-f]{64}\.json$/);
    assert.equal(keys[1], keys[0].replace(/\.json$/, '.rows'));
    const manifest = JSON.parse((await store.get(keys[0]))!.toString()) as SharedRowCacheManifest;
    store.close();
    const sha256 = createHash('sha256').update(fs.readFileSync(caches.data)).digest('hex');
    assert.deepEqual(manifest, { rowCacheVersion: 1, bytes: cacheBytes, sha256, rows: 20_000 });

    const second = capture();
    assert.equal(await runStoreMigrate({ to, json: false, home }, second.io), 0, second.err.join('\n'));
    assert.match(second.out.join('\n'), /^row caches: copied 0 \(0 B\), already there 1 \(.+\), left in the home 3, failed 0$/m);
    assert.match(second.err.join('\n'), new RegExp(`^  ${item(caches.gone)}: left in the home: its data file .*gone\\.tsv is gone$`, 'm'));

    // Another machine: a fresh home with the store, the same data mounted at another path.
    const mounted = path.join(fs.mkdtempSync(path.join(dir, 'mount-')), 'train.tsv');
    fs.copyFileSync(data.train, mounted);
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-home-fleet-'));
    const fetched = await inHome(
      other,
      to,
      async () => (await loadDataset({ ...data, train: mounted }, { maxInMemoryTrainRows: LIMIT })).trainOnDisk,
    );
    assert.deepEqual([fetched?.origin, fetched?.rows], ['store', 20_000]);
  });
});
