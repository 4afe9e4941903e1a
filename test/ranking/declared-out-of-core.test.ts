import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DeclaredSchema } from '../../contracts';
import { clearDatasetCache, trainExperiment } from '../../ranking';
import { loadDataset } from '../../ranking/data/load-data';
import { TrainingFailure } from '../../ranking/failure';
import { DECLARED_SCHEMA, writeDeclaredTables, type DeclaredConfigInput } from '../support/declared-tables';

/**
 * A declared table over the in-memory limit trains out of core: its training file (Parquet, CSV or TSV) is parsed
 * once into the same checksummed row cache as a big Criteo file, with the table's own widths, and epochs stream it.
 * A table that needs every row at hand (a weight column, a time split) still fails, saying so.
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
    assert.equal(ds.trainOnDisk.rows + ds.validation.rows, cached.rows, 'the last validationFraction of the cache validates');

    const model = { family: 'lr' as const, epochs: 2, crosses: [['user_country', 'ad_category'] as [string, string]] };
    const inMemory = await trainExperiment({ data: parquet, model });
    const streamed = await trainExperiment({ data: parquet, model, maxInMemoryTrainRows: 1_000, streamWindowRows: 2_048 });
    assert.ok(
      Math.abs(streamed.metrics.ne - inMemory.metrics.ne) < 0.02,
      `streamed NE ${streamed.metrics.ne} vs in-memory ${inMemory.metrics.ne} (validation by position vs by time)`,
    );
    assert.ok(streamed.metrics.ne < 0.95, `the streamed model learns the planted signal: NE ${streamed.metrics.ne}`);

    // A second load reads the cache, not the Parquet file.
    clearDatasetCache();
    const before = fs.statSync(cached.file).ino;
    const again = await loadDataset(parquet, { maxInMemoryTrainRows: 1_000 });
    assert.equal(again.trainOnDisk?.cache.file, cached.file);
    assert.equal(fs.statSync(cached.file).ino, before, 'the cache was not rewritten (a rebuild renames a new file into place)');
  });

  it('a weighted table over the limit still fails, saying which tables are held in memory', async () => {
    const weighted = { ...parquet, schema: DECLARED_SCHEMA };
    const e = await loadDataset(weighted, { maxInMemoryTrainRows: 1_000 }).catch((x: unknown) => x);
    assert.ok(e instanceof TrainingFailure && e.failureClass === 'resource', String(e));
    assert.match(e.message, /with a time split or a weight column is held in memory \(others stream through the row cache\)/);
  });
});
