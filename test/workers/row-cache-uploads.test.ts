import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig } from '../../contracts';
import { clearDatasetCache } from '../../ranking';
import { loadDataset } from '../../ranking/data/load-data';
import { rowCacheUploadsInFlight, rowCacheUploadsSettled } from '../../ranking/data/shared-row-cache';
import { sharedStore } from '../../store/object-store';
import { waitForRowCacheUploads } from '../../workers/row-cache-uploads';
import { TrainingPool } from '../../workers/training-pool';
import { startMinioAsync, stopMinio, useMinioStore } from '../support/minio';
import { writePlantedSplits } from '../support/planted-files';

/**
 * A worker stopping gracefully waits, bounded, for the row caches it is still sharing (real MinIO, a real training
 * thread): an upload held up by a store outage after its training ended is counted by the pool, waited for, and
 * lands; one that outlasts the bound is dropped, said on the log, and the wait returns.
 */

const LIMIT = 1_000;

describe('a stopping worker waits for its row-cache uploads (MinIO)', function () {
  this.timeout(180_000);
  let dir: string;
  let data: { format: 'criteo-tsv'; train: string; validation: string; test: string };
  let restore: () => void;
  const saved = {
    home: process.env.RANKWRIGHT_HOME,
    chunkRows: process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS,
    retry: process.env.RANKWRIGHT_STORE_RETRY_SECONDS,
    inMemory: process.env.RANKWRIGHT_IN_MEMORY_TRAIN_ROWS,
  };
  const pools: TrainingPool[] = [];

  before(async () => {
    process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = '2048';
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-upload-wait-'));
    data = await writePlantedSplits(dir, { trainRows: 20_000, validationRows: 2_000, testRows: 3_000 });
    ({ restore } = useMinioStore());
  });

  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await startMinioAsync();
    await rowCacheUploadsSettled();
    const store = sharedStore()!;
    for await (const o of store.list('')) await store.delete(o.key);
    restore();
    for (const [name, value] of [
      ['RANKWRIGHT_HOME', saved.home],
      ['RANKWRIGHT_ROW_CACHE_CHUNK_ROWS', saved.chunkRows],
      ['RANKWRIGHT_STORE_RETRY_SECONDS', saved.retry],
      ['RANKWRIGHT_IN_MEMORY_TRAIN_ROWS', saved.inMemory],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('waits for an upload a training thread left in flight (the store was down), which then lands in the store', async () => {
    process.env.RANKWRIGHT_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-upload-wait-home-'));
    process.env.RANKWRIGHT_STORE_RETRY_SECONDS = '20';
    const pool = new TrainingPool({ threads: 1 });
    pools.push(pool);
    stopMinio();
    // The thread's lookup gives up after 10 s and it parses the file into a cache (the data is described: a job that,
    // unlike a training, stores no model); its upload then waits out the outage.
    process.env.RANKWRIGHT_IN_MEMORY_TRAIN_ROWS = String(LIMIT);
    const described = await pool.run({ kind: 'describeData', data: DataConfig.parse(data) });
    assert.equal(described.trainRows, 20_000);
    assert.equal(pool.rowCacheUploadsInFlight(), 1, 'the thread told the pool of its upload before its job ended');
    const log: string[] = [];
    const restarted = startMinioAsync();
    const left = await waitForRowCacheUploads({ pool, limitMs: 90_000, log: (l) => log.push(l) });
    await restarted;
    assert.equal(left, 0);
    assert.deepEqual(log, [
      'rankwright worker: waiting up to 90 s for 1 row-cache upload to the shared store to finish (a SIGKILL drops them)',
      'rankwright worker: row-cache uploads finished',
    ]);
    const keys: string[] = [];
    for await (const o of sharedStore()!.list('row-caches/')) keys.push(o.key);
    assert.deepEqual(keys.map((k) => path.extname(k)).sort(), ['.json', '.rows'], 'the cache and its manifest are in the store');
  });

  it('nothing in flight: no wait and nothing said; an upload outlasting the bound is dropped, and the wait says so', async () => {
    const quiet: string[] = [];
    assert.equal(await waitForRowCacheUploads({ limitMs: 60_000, log: (l) => quiet.push(l) }), 0);
    assert.equal(quiet.length, 0);
    const log: string[] = [];

    process.env.RANKWRIGHT_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-upload-drop-home-'));
    // The upload gives up after 8 s of retries: far enough from the 0.5 s bound that a loaded machine cannot blur them.
    process.env.RANKWRIGHT_STORE_RETRY_SECONDS = '8';
    delete process.env.RANKWRIGHT_IN_MEMORY_TRAIN_ROWS;
    const mounted = path.join(fs.mkdtempSync(path.join(dir, 'mount-')), 'train.tsv');
    fs.copyFileSync(data.train, mounted);
    stopMinio();
    clearDatasetCache();
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (() => true) as typeof process.stderr.write; // the store's refusals, said by design
    try {
      const ds = await loadDataset({ ...data, train: mounted }, { maxInMemoryTrainRows: LIMIT });
      assert.equal(ds.trainOnDisk?.origin, 'parsed');
      assert.equal(rowCacheUploadsInFlight(), 1);
      const started = Date.now();
      assert.equal(await waitForRowCacheUploads({ limitMs: 500, log: (l) => log.push(l) }), 1);
      assert.ok(Date.now() - started < 6_000, 'it returned at its bound, not when the upload gave up');
      await rowCacheUploadsSettled();
    } finally {
      process.stderr.write = write;
      clearDatasetCache();
    }
    assert.deepEqual(log, [
      'rankwright worker: waiting up to 0.5 s for 1 row-cache upload to the shared store to finish (a SIGKILL drops them)',
      'rankwright worker: stopped waiting after 0.5 s: 1 row-cache upload dropped (other machines parse those files themselves)',
    ]);
  });
});
