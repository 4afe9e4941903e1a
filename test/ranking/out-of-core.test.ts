import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrainingProgress } from '../../contracts';
import { clearDatasetCache, trainExperiment } from '../../ranking';
import { loadDataset } from '../../ranking/data/load-data';
import { recordCheckpoints, removeTestCheckpoints, resumeFrom, testSlot } from '../support/checkpoints';
import { writePlantedSplits } from '../support/planted-files';

/**
 * Out-of-core training: a training file over the in-memory row limit is parsed once into a row cache and streamed
 * from it. Small chunks (RANKWRIGHT_ROW_CACHE_CHUNK_ROWS) so that a small file spans many chunks and windows.
 */
describe('out-of-core training (streaming a row cache)', function () {
  let dir: string;
  let data: { format: 'criteo-tsv'; train: string; test: string; validation: string };
  const previousChunkRows = process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
  const streamed = { maxInMemoryTrainRows: 1_000, streamWindowRows: 4_096 };

  before(async () => {
    process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = '2048';
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-ooc-'));
    data = await writePlantedSplits(dir, { trainRows: 20_000, validationRows: 2_000, testRows: 5_000 });
  });

  after(() => {
    if (previousChunkRows === undefined) delete process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
    else process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = previousChunkRows;
    fs.rmSync(dir, { recursive: true, force: true });
    clearDatasetCache();
  });

  it('streams a training set over the row limit and reaches the in-memory model’s quality', async () => {
    const model = { family: 'lr' as const, epochs: 2 };
    const inMemory = await trainExperiment({ data, model });
    const ds = await loadDataset(data, { maxInMemoryTrainRows: 1_000 });
    assert.ok(ds.trainOnDisk, 'the training rows are on disk');
    assert.equal(ds.trainOnDisk.rows, 20_000);
    assert.equal(ds.trainOnDisk.cache.chunks, 10);
    assert.equal(ds.train.rows, 20_000, 'the sample is every row when there are fewer than TRAIN_SAMPLE_ROWS');

    const events: TrainingProgress[] = [];
    const out = await trainExperiment({ data, model, ...streamed, onProgress: (p) => events.push(p) });
    assert.equal(out.progress.at(-1)!.examples, inMemory.progress.at(-1)!.examples, 'every row once per epoch');
    assert.equal(out.progress.at(-1)!.step, inMemory.progress.at(-1)!.step, 'the same steps per epoch');
    assert.ok(Math.abs(out.metrics.ne - inMemory.metrics.ne) < 0.01, `streamed NE ${out.metrics.ne} vs in-memory ${inMemory.metrics.ne}`);
    assert.deepEqual(out.badRows, inMemory.badRows);
    assert.equal(out.earlyStopping.evaluations, inMemory.earlyStopping.evaluations);
    assert.ok(out.learningCurve.length > 0);

    // Deterministic: the same config streams the same batches.
    const again = await trainExperiment({ data, model, ...streamed });
    assert.equal(again.artifact, out.artifact);
  });

  it('negative downsampling keeps the same rows streamed as in memory', async () => {
    const model = { family: 'lr' as const, epochs: 1, negativeSamplingRate: 0.5 };
    const inMemory = await trainExperiment({ data, model });
    const out = await trainExperiment({ data, model, ...streamed });
    assert.equal(out.progress.at(-1)!.examples, inMemory.progress.at(-1)!.examples);
    assert.ok(Math.abs(out.metrics.ne - inMemory.metrics.ne) < 0.01, `streamed NE ${out.metrics.ne} vs in-memory ${inMemory.metrics.ne}`);
  });

  it('without a validation file, the tail of the cache validates (as in memory)', async () => {
    const noValidation = { format: 'criteo-tsv' as const, train: data.train, test: data.test, validationFraction: 0.1 };
    clearDatasetCache();
    const mem = await loadDataset(noValidation, { maxInMemoryTrainRows: 1_000_000 });
    const disk = await loadDataset(noValidation, { maxInMemoryTrainRows: 1_000 });
    assert.ok(disk.trainOnDisk && !mem.trainOnDisk);
    assert.equal(disk.trainOnDisk.rows, mem.train.rows);
    assert.deepEqual(disk.validation, mem.validation);
    assert.deepEqual(disk.train, mem.train, 'a sample of all rows is all rows, in order');
    assert.deepEqual(disk.active, mem.active);
  });

  it('rebuilds a stale cache (the source changed) and a corrupt or truncated one', async () => {
    const own = path.join(dir, 'own-train.tsv');
    fs.copyFileSync(data.train, own);
    const config = { ...data, train: own };
    clearDatasetCache();
    const first = await loadDataset(config, { maxInMemoryTrainRows: 1_000 });
    const cacheFile = first.trainOnDisk!.cache.file;
    const rows = first.trainOnDisk!.rows;

    // Stale: drop the last 100 lines; the cache must follow the file.
    const lines = fs.readFileSync(own, 'utf8').split('\n').filter(Boolean);
    fs.writeFileSync(own, lines.slice(0, -100).join('\n') + '\n');
    clearDatasetCache();
    const stale = await loadDataset(config, { maxInMemoryTrainRows: 1_000 });
    assert.equal(stale.trainOnDisk!.rows, rows - 100);
    assert.equal(stale.trainOnDisk!.cache.file, cacheFile, 'rebuilt in place');

    // Corrupt: flip bytes inside a chunk (the size is right; the chunk's CRC is not).
    const bytes = fs.readFileSync(cacheFile);
    for (let i = 0; i < 64; i++) bytes[20_000 + i] ^= 0xff;
    fs.writeFileSync(cacheFile, bytes);
    clearDatasetCache();
    const corrupt = await loadDataset(config, { maxInMemoryTrainRows: 1_000 });
    assert.deepEqual(corrupt.train, stale.train, 'the rebuilt cache reads back the same rows');
    assert.notDeepEqual(fs.readFileSync(cacheFile), bytes);

    // Truncated: the tail (and trailer) cut off.
    fs.truncateSync(cacheFile, Math.floor(fs.statSync(cacheFile).size / 2));
    clearDatasetCache();
    const truncated = await loadDataset(config, { maxInMemoryTrainRows: 1_000 });
    assert.deepEqual(truncated.train, stale.train);
    assert.ok(fs.statSync(cacheFile).size > bytes.length / 2);
  });

  after(removeTestCheckpoints);

  it('resumes a streamed run from a mid-epoch checkpoint to the same model', async () => {
    const model = { family: 'lr' as const, epochs: 2, batchSize: 512, checkpointEvery: 13 };
    const slot = testSlot('out-of-core');
    const { request, saved: checkpoints } = recordCheckpoints(slot);
    const full = await trainExperiment({ data, model, ...streamed, ...request });
    assert.ok(checkpoints.length >= 3, `got ${checkpoints.length} checkpoints`);
    // 40 steps an epoch: one checkpoint inside the first epoch (mid-window), one inside the second.
    for (const cp of [checkpoints[0], checkpoints[checkpoints.length - 1]]) {
      const resumed = await trainExperiment({ data, model, ...streamed, ...resumeFrom(slot, cp) });
      assert.equal(resumed.artifact, full.artifact, `resume from step ${cp.step}`);
      assert.deepEqual(resumed.metrics, full.metrics);
    }
  });
});
