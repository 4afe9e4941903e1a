import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clearDatasetCache, trainExperiment } from '../../ranking';
import { loadDataset } from '../../ranking/data/load-data';
import { rowCacheUploadsSettled, type SharedRowCacheManifest } from '../../ranking/data/shared-row-cache';
import { collectGarbage } from '../../store/gc';
import { sharedStore } from '../../store/object-store';
import { DECLARED_SCHEMA, writeDeclaredTables } from '../support/declared-tables';
import { useMinioStore } from '../support/minio';
import { writePlantedSplits } from '../support/planted-files';

/**
 * Row caches through the shared store (real MinIO): a worker that parses a training file too big for memory shares
 * its row cache, and a worker on another home (the same data mounted at another path) fetches it instead of parsing,
 * then trains to the same results. A corrupt copy in the store is refused and replaced; a store that is down costs
 * a parse, never the load.
 */

const LIMIT = 1_000;
const streamed = { maxInMemoryTrainRows: LIMIT, streamWindowRows: 4_096 };

/** Runs `body` with RANKWRIGHT_HOME set to a new empty home (another machine's), and no dataset held from before. */
async function inNewHome<T>(name: string, body: (home: string) => Promise<T>): Promise<T> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `rw-home-${name}-`));
  const saved = process.env.RANKWRIGHT_HOME;
  process.env.RANKWRIGHT_HOME = home;
  clearDatasetCache();
  try {
    return await body(home);
  } finally {
    clearDatasetCache();
    process.env.RANKWRIGHT_HOME = saved;
  }
}

/** Runs `body`, returning what it wrote to stderr besides its result. */
async function capturingStderr<T>(body: () => Promise<T>): Promise<{ result: T; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { result: await body(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

async function storeKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of sharedStore()!.list(prefix)) keys.push(o.key);
  return keys.sort();
}

describe('row caches through the shared store (MinIO)', function () {
  this.timeout(300_000);
  let dir: string;
  let restore: () => void;
  let data: { format: 'criteo-tsv'; train: string; validation: string; test: string };
  const previousChunkRows = process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;

  /** The training file as another machine mounts it: the same bytes at another path, with another mtime. */
  const mountedElsewhere = (name: string) => {
    const train = path.join(fs.mkdtempSync(path.join(dir, `mount-${name}-`)), 'train.tsv');
    fs.copyFileSync(data.train, train);
    return { ...data, train };
  };

  before(async () => {
    process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = '2048';
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-shared-row-cache-'));
    data = await writePlantedSplits(dir, { trainRows: 20_000, validationRows: 2_000, testRows: 5_000 });
    ({ restore } = useMinioStore());
  });

  after(async () => {
    await rowCacheUploadsSettled();
    for (const key of await storeKeys('')) await sharedStore()!.delete(key);
    restore();
    if (previousChunkRows === undefined) delete process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
    else process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = previousChunkRows;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('home A parses and shares the cache; home B, with the data at another path, fetches it and trains to the same results', async () => {
    const model = { family: 'lr' as const, epochs: 2 };
    const a = await inNewHome('a', async () => {
      const ds = await loadDataset(data, { maxInMemoryTrainRows: LIMIT });
      assert.equal(ds.trainOnDisk?.origin, 'parsed', 'A parses the file');
      const trained = await trainExperiment({ data, model, ...streamed });
      await rowCacheUploadsSettled();
      return { trained, cacheBytes: fs.statSync(ds.trainOnDisk!.cache.file).size, rows: ds.trainOnDisk!.rows };
    });
    // Two objects named by the content and the read options, not by A's path: the cache and its manifest.
    const keys = await storeKeys('row-caches/');
    assert.equal(keys.length, 2, keys.join(', '));
    assert.match(keys[0], /^row-caches\/[0-9a-f]{64}\.json$/);
    assert.equal(keys[1], keys[0].replace(/\.json$/, '.rows'));
    const manifest = JSON.parse((await sharedStore()!.get(keys[0]))!.toString()) as SharedRowCacheManifest;
    assert.equal(manifest.bytes, a.cacheBytes);
    assert.equal(manifest.rows, a.rows);

    const elsewhere = mountedElsewhere('b');
    const { result: b, stderr } = await capturingStderr(() =>
      inNewHome('b', async (home) => {
        const ds = await loadDataset(elsewhere, { maxInMemoryTrainRows: LIMIT });
        assert.equal(ds.trainOnDisk?.origin, 'store', 'B fetched the cache instead of parsing');
        // The fetched cache is the home's own: under row-cache/, naming B's path, and collected by gc like any other.
        const file = ds.trainOnDisk!.cache.file;
        assert.equal(path.dirname(file), path.join(home, 'row-cache'));
        assert.equal(ds.trainOnDisk!.cache.trailer.source.path, elsewhere.train);
        assert.deepEqual(fs.readdirSync(path.join(home, 'row-cache')), [path.basename(file)], 'no staging file is left');
        const plan = await collectGarbage({ home, dryRun: true, rowCacheIdleMs: 0 });
        const item = plan.items.find((i) => i.path === file);
        assert.deepEqual([item?.kind, item?.action, item?.reason], ['row-cache', 'remove', 'idle']);
        const trained = await trainExperiment({ data: elsewhere, model, ...streamed });
        return { trained, rows: ds.trainOnDisk!.rows };
      }),
    );
    assert.equal(stderr, '', 'nothing went wrong to say');
    // Other read options shape other rows: another cache, not this one.
    const capped = await inNewHome(
      'capped',
      async () => (await loadDataset({ ...elsewhere, maxTrainRows: 15_000 }, { maxInMemoryTrainRows: LIMIT })).trainOnDisk,
    );
    assert.deepEqual([capped?.origin, capped?.rows], ['parsed', 15_000]);
    assert.equal(b.rows, a.rows);
    assert.deepEqual(b.trained.metrics, a.trained.metrics, 'the same test metrics');
    const { elapsedMs: _b, ...lastB } = b.trained.progress.at(-1)!;
    const { elapsedMs: _a, ...lastA } = a.trained.progress.at(-1)!;
    assert.deepEqual(lastB, lastA, 'the same steps, examples and training loss');
    assert.deepEqual(b.trained.learningCurve, a.trained.learningCurve);
  });

  it('a declared Parquet table split by time: home B fetches the cache home A parsed and trains the same model', async () => {
    const tables = await writeDeclaredTables(fs.mkdtempSync(path.join(dir, 'declared-')), { rows: 12_000, formats: ['parquet'], layout: 'time' });
    // Weights ignored: the planted table's weight column would make its rows weighted (a different cache, same path).
    const parquet = { ...tables.configs.parquet!, schema: { columns: { ...DECLARED_SCHEMA.columns, w: 'ignore' as const } } };
    const model = { family: 'lr' as const, epochs: 2 };
    const trainIn = async (name: string, config: typeof parquet) =>
      inNewHome(name, async () => {
        const ds = await loadDataset(config, { maxInMemoryTrainRows: LIMIT });
        const trained = await trainExperiment({ data: config, model, ...streamed });
        await rowCacheUploadsSettled();
        return { origin: ds.trainOnDisk?.origin, rows: ds.trainOnDisk?.rows, trained };
      });
    const a = await trainIn('declared-a', parquet);
    const train = path.join(fs.mkdtempSync(path.join(dir, 'mount-declared-')), 'train.parquet');
    fs.copyFileSync(parquet.train, train);
    const b = await trainIn('declared-b', { ...parquet, train });
    assert.deepEqual([a.origin, b.origin], ['parsed', 'store']);
    assert.equal(b.rows, a.rows);
    assert.deepEqual(b.trained.metrics, a.trained.metrics, 'the same validation and test rows, the same model');
  });

  it('a corrupt copy in the store is refused and parsed again, and the parsed cache replaces it there', async () => {
    const rows = await inNewHome(
      'first',
      async () => (await loadDataset(mountedElsewhere('first'), { maxInMemoryTrainRows: LIMIT })).trainOnDisk!.rows,
    );
    await rowCacheUploadsSettled();
    const store = sharedStore()!;
    // This file's cache: the one whose manifest counts its rows (another test may have shared another table's).
    let rowsKey = '';
    for (const key of await storeKeys('row-caches/'))
      if (key.endsWith('.json') && (JSON.parse((await store.get(key))!.toString()) as SharedRowCacheManifest).rows === rows)
        rowsKey = key.replace(/\.json$/, '.rows');
    assert.ok(rowsKey, 'the store has the cache');
    const bytes = (await store.get(rowsKey))!;
    for (let i = 0; i < 64; i++) bytes[20_000 + i] ^= 0xff;
    await store.put(rowsKey, bytes);

    const { result: origin, stderr } = await capturingStderr(() =>
      inNewHome('c', async (home) => {
        const ds = await loadDataset(mountedElsewhere('c'), { maxInMemoryTrainRows: LIMIT });
        assert.deepEqual(fs.readdirSync(path.join(home, 'row-cache')), [path.basename(ds.trainOnDisk!.cache.file)], 'the refused copy is gone');
        await rowCacheUploadsSettled();
        return ds.trainOnDisk!.origin;
      }),
    );
    assert.equal(origin, 'parsed', 'the corrupt copy was not used');
    assert.match(
      stderr,
      /rankwright: row cache: the store's row cache of .*train\.tsv \(row-caches\/[0-9a-f]{64}\.rows\) is corrupt: \d+ bytes hashing to [0-9a-f]{64}, where its manifest says \d+ bytes hashing to [0-9a-f]{64}; refused/,
    );
    assert.notDeepEqual(await store.get(rowsKey), bytes, 'the store holds the rebuilt cache');
    const d = await inNewHome('d', async () => (await loadDataset(mountedElsewhere('d'), { maxInMemoryTrainRows: LIMIT })).trainOnDisk!.origin);
    assert.equal(d, 'store', 'the replaced copy verifies');
  });

  it('a store that is down costs a parse: the load succeeds and the failed upload is only said', async () => {
    const saved = { store: process.env.AWS_ENDPOINT_URL, retry: process.env.RANKWRIGHT_STORE_RETRY_SECONDS };
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    process.env.RANKWRIGHT_STORE_RETRY_SECONDS = '1';
    try {
      const { result, stderr } = await capturingStderr(() =>
        inNewHome('e', async () => {
          const ds = await loadDataset(mountedElsewhere('e'), { maxInMemoryTrainRows: LIMIT });
          await rowCacheUploadsSettled();
          return ds;
        }),
      );
      assert.equal(result.trainOnDisk?.origin, 'parsed');
      assert.equal(result.trainOnDisk?.rows, 20_000);
      assert.match(
        stderr,
        /could not use the store's row cache of .*train\.tsv \(getting row-caches\/[0-9a-f]{64}\.json from .* failed: the store was unavailable for 1 s .*\); the file is parsed here/,
      );
      assert.match(
        stderr,
        /could not share the row cache of .*train\.tsv through the store \(.*ECONNREFUSED.*\); other machines parse the file themselves/,
      );
    } finally {
      process.env.AWS_ENDPOINT_URL = saved.store;
      if (saved.retry === undefined) delete process.env.RANKWRIGHT_STORE_RETRY_SECONDS;
      else process.env.RANKWRIGHT_STORE_RETRY_SECONDS = saved.retry;
    }
  });
});
