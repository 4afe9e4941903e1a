import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DeclaredSchema } from '../../contracts';
import { clearDatasetCache, trainExperiment } from '../../ranking';
import { loadDataset } from '../../ranking/data/load-data';
import { DECLARED_SCHEMA, writeDeclaredTables, type DeclaredConfigInput } from '../support/declared-tables';

/**
 * A declared table over the in-memory limit trains out of core: its training file (Parquet, CSV or TSV) is parsed
 * once into the same checksummed row cache as a big Criteo file, with the table's own widths, and epochs stream it.
 * Weights stream with their rows; a time split routes its rows by time as they are read, and where the latest rows by
 * time validate (no validationFrom, or a table with a time column and no validation file) they are the in-memory ones.
 */
describe('declared tables out of core', function () {
  this.timeout(300_000);
  let dir: string;
  let parquet: DeclaredConfigInput;
  const previousChunkRows = process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
  // The planted table without its weight column (weights are held in memory only).
  const unweighted: DeclaredSchema = { columns: { ...DECLARED_SCHEMA.columns, w: 'ignore' } };

  before(async () => {
    process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = '1024';
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-declared-ooc-'));
    const t = await writeDeclaredTables(dir, { rows: 12_000, formats: ['parquet', 'csv'], layout: 'files' });
    parquet = { ...t.configs.parquet!, schema: unweighted };
  });
  after(() => {
    if (previousChunkRows === undefined) delete process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
    else process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = previousChunkRows;
    fs.rmSync(dir, { recursive: true, force: true });
    clearDatasetCache();
  });

  it('streams a Parquet table over the limit through the row cache and reaches the in-memory model’s quality', async () => {
    const ds = await loadDataset(parquet, { maxInMemoryTrainRows: 1_000 });
    assert.ok(ds.trainOnDisk, 'the training rows are on disk');
    const cached = ds.trainOnDisk.cache;
    assert.equal(cached.trailer.options.format, 'parquet');
    assert.deepEqual(cached.widths, { dense: 13, categorical: 26 }, 'the table’s widths (at least Criteo’s)');
    assert.ok(cached.chunks > 5, `${cached.chunks} chunks`);
    // The table has a time column: its latest rows by time validate, held apart (as in memory); every cached row trains.
    const held = await loadDataset(parquet);
    assert.equal(ds.trainOnDisk.rows, cached.rows);
    assert.equal(ds.trainOnDisk.rows, held.train.rows, 'the same training rows as in memory');
    assert.deepEqual(ds.validation.labels, held.validation.labels, 'the same latest rows validate, in file order');
    assert.deepEqual(ds.validation.categorical, held.validation.categorical);

    const model = { family: 'lr' as const, epochs: 2, crosses: [['user_country', 'ad_category'] as [string, string]] };
    const inMemory = await trainExperiment({ data: parquet, model });
    const streamed = await trainExperiment({ data: parquet, model, maxInMemoryTrainRows: 1_000, streamWindowRows: 2_048 });
    assert.ok(Math.abs(streamed.metrics.ne - inMemory.metrics.ne) < 0.02, `streamed NE ${streamed.metrics.ne} vs in-memory ${inMemory.metrics.ne}`);
    assert.ok(streamed.metrics.ne < 0.95, `the streamed model learns the planted signal: NE ${streamed.metrics.ne}`);

    // A second load reads the cache, not the Parquet file.
    clearDatasetCache();
    const before = fs.statSync(cached.file).ino;
    const again = await loadDataset(parquet, { maxInMemoryTrainRows: 1_000 });
    assert.equal(again.trainOnDisk?.cache.file, cached.file);
    assert.equal(fs.statSync(cached.file).ino, before, 'the cache was not rewritten (a rebuild renames a new file into place)');
  });

  it('a weighted table streams with its weights: the streamed run weighs rows as the in-memory one does', async () => {
    const weighted = { ...parquet, schema: DECLARED_SCHEMA };
    const ds = await loadDataset(weighted, { maxInMemoryTrainRows: 1_000 });
    assert.ok(ds.trainOnDisk?.cache.weighted, 'the cache holds the weight column');
    assert.ok(ds.train.weights && ds.train.weights.some((w) => w !== 1), 'the sample carries the weights');
    const model = { family: 'lr' as const, epochs: 2 };
    const inMemory = await trainExperiment({ data: weighted, model });
    const streamed = await trainExperiment({ data: weighted, model, maxInMemoryTrainRows: 1_000, streamWindowRows: 2_048 });
    const unweightedRun = await trainExperiment({ data: parquet, model, maxInMemoryTrainRows: 1_000, streamWindowRows: 2_048 });
    assert.ok(
      Math.abs(streamed.metrics.ne - inMemory.metrics.ne) < 0.02,
      `weighted: streamed ${streamed.metrics.ne} vs in memory ${inMemory.metrics.ne}`,
    );
    assert.notEqual(streamed.metrics.ne, unweightedRun.metrics.ne, 'the weights change the streamed model and its (weighted) metrics');
  });

  it('a time split with validationFrom streams: its validation and test rows come from the file, by time', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'split'), { rows: 12_000, formats: ['csv'] });
    const split = { by: 'ts', testFrom: '2026-02-22', validationFrom: '2026-02-19' };
    const config = { ...t.configs.csv!, split };
    const inMemory = await loadDataset(config);
    const streamed = await loadDataset(config, { maxInMemoryTrainRows: 1_000 });
    assert.ok(streamed.trainOnDisk, 'on disk');
    assert.equal(streamed.trainOnDisk.rows, inMemory.train.rows, 'the same training rows');
    assert.equal(streamed.validation.rows, inMemory.validation.rows, 'the same validation rows');
    assert.deepEqual(streamed.test.labels, inMemory.test.labels, 'the same test rows, in file order');
    // A second load hits the cache and still finds the validation and test rows.
    clearDatasetCache();
    const again = await loadDataset(config, { maxInMemoryTrainRows: 1_000 });
    assert.equal(again.test.rows, inMemory.test.rows);
    assert.equal(again.validation.rows, inMemory.validation.rows);
    // maxTrainRows keeps the earliest training rows, as in memory.
    const capped = await loadDataset({ ...config, maxTrainRows: 3_000 }, { maxInMemoryTrainRows: 1_000 });
    assert.equal(capped.trainOnDisk?.rows, 3_000);
    assert.equal(capped.test.rows, inMemory.test.rows, 'the cap leaves the test rows whole');
  });
});
