import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig, ModelConfig, type DataConfigInput } from '../../contracts';
import { dataFingerprint, trainExperiment } from '../../ranking';
import { writeCriteoTsv } from '../../ranking/data/criteo-writer';
import { clearDatasetCache, loadDataset, type LoadedDataset } from '../../ranking/data/load-data';
import { plantedScenario } from '../../ranking/data/planted';
import type { RowBlock } from '../../ranking/data/rows';
import { isInSharedMemory, type SharedDatasetImage } from '../../ranking/data/shared-dataset';
import type { TrainExperimentRequest } from '../../ranking/experiment';
import { SharedDatasets, type DatasetAnswer } from '../../workers/dataset-share';
import { TrainingPool } from '../../workers/training-pool';
import { writeDeclaredTables } from '../support/declared-tables';

/**
 * The training pool's threads hold one copy of a dataset between them (workers/dataset-share.ts,
 * ranking/data/shared-dataset.ts): loaded once, its rows in shared memory, the models bit-identical to a private
 * load's, the rows never written, and a dataset no thread holds forgotten.
 */

type TrainRequest = Omit<TrainExperimentRequest, 'onProgress' | 'onCheckpoint' | 'onAlive' | 'signal'>;

const planted = (seed: number) => DataConfig.parse({ planted: { seed, trainRows: 3_000, validationRows: 1_000, testRows: 1_000 } });
const lr = (seed: number, more: Record<string, unknown> = {}) => ModelConfig.parse({ family: 'lr', epochs: 1, seed, ...more });

/** Every shared array of an image with the loaded dataset's array of the same role, named for a failure message. */
function arrayPairs(image: SharedDatasetImage, loaded: LoadedDataset): [string, ArrayBufferView, ArrayBufferView | undefined][] {
  const blocks = (name: string, a: RowBlock, b: RowBlock): [string, ArrayBufferView, ArrayBufferView | undefined][] => [
    [`${name}.labels`, a.labels, b.labels],
    [`${name}.dense`, a.dense, b.dense],
    [`${name}.categorical`, a.categorical, b.categorical],
    ...(a.weights ? [[`${name}.weights`, a.weights, b.weights] as [string, ArrayBufferView, ArrayBufferView | undefined]] : []),
  ];
  return [
    ...blocks('train', image.train, loaded.train),
    ...blocks('validation', image.validation, loaded.validation),
    ...blocks('test', image.test, loaded.test),
    ...(image.testTruth ? [['testTruth', image.testTruth, loaded.testTruth] as [string, ArrayBufferView, ArrayBufferView | undefined]] : []),
    ...(image.trainOnDiskLabels
      ? [['trainOnDisk.labels', image.trainOnDiskLabels, loaded.trainOnDisk?.labels] as [string, ArrayBufferView, ArrayBufferView | undefined]]
      : []),
  ];
}

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The image's rows byte for byte against a private load in this (main) thread, which has no share. */
async function assertSameRowsAsPrivateLoad(image: SharedDatasetImage, data: DataConfigInput, opts: { maxInMemoryTrainRows?: number } = {}) {
  const loaded = await loadDataset(data, opts);
  assert.ok(!isInSharedMemory(loaded.train), "the main thread's own load is private");
  for (const [name, shared, own] of arrayPairs(image, loaded)) {
    assert.ok(shared.buffer instanceof SharedArrayBuffer, `${name} is in shared memory`);
    assert.ok(own, `${name} exists in the private load too`);
    assert.ok(bytes(shared).equals(bytes(own)), `${name}: the shared rows differ from a private load's`);
  }
}

describe('shared datasets: the training pool’s threads hold one copy of the data they train on', function () {
  this.timeout(300_000);
  const pools: TrainingPool[] = [];
  const pool = (threads: number) => {
    const p = new TrainingPool({ threads, maxOldGenerationSizeMb: 256 });
    pools.push(p);
    return p;
  };
  const train = (p: TrainingPool, request: TrainRequest) => p.run({ kind: 'train', request, checkpoints: false });
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-shared-dataset-'));
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    fs.rmSync(dir, { recursive: true, force: true });
    clearDatasetCache();
  });

  it('two threads training on the same data at once load it once, read the same shared rows, and train the models a private load trains', async () => {
    const p = pool(2);
    const data = planted(11);
    const requests = [
      { data, model: lr(1) },
      { data, model: lr(2) },
    ];
    const results = await Promise.all(requests.map((r) => train(p, r)));
    assert.equal(p.size, 2, 'both threads ran');

    const shared = p.sharedDatasets();
    assert.equal(shared.loads, 1, 'one load between the two threads');
    assert.equal(shared.reuses, 1, 'the other thread opened the first one’s image');
    assert.equal(shared.datasets.length, 1);
    const [dataset] = shared.datasets;
    assert.equal(dataset.holders, 2, 'both threads hold the one image');
    assert.ok(dataset.image && !dataset.loading);
    for (const block of [dataset.image.train, dataset.image.validation, dataset.image.test]) assert.ok(isInSharedMemory(block));
    assert.ok(dataset.image.testTruth?.buffer instanceof SharedArrayBuffer, 'per-row arrays besides rows are shared too');

    // Bit-identical: each model is the one a training on a private load in this thread writes (artifacts are
    // content-addressed, so an equal reference is an equal file).
    for (const [i, request] of requests.entries()) {
      const privately = await trainExperiment(request);
      assert.equal(results[i].artifact, privately.artifact, `model ${i} differs from the private load's`);
      assert.deepEqual(results[i].metrics, privately.metrics);
    }
    await assertSameRowsAsPrivateLoad(dataset.image, data);
  });

  it('training never writes into shared rows: encoding, negative downsampling, sample weights, every family', async () => {
    const p = pool(2);
    const data = planted(12);
    const declared = (await writeDeclaredTables(path.join(dir, 'declared'), { formats: ['csv'] })).configs.csv!;
    const small = { hashBits: 12 };
    const trainings: TrainRequest[] = [
      { data, model: lr(3, { negativeSamplingRate: 0.3 }) },
      { data, model: ModelConfig.parse({ family: 'fm', epochs: 1, ...small }) },
      { data, model: ModelConfig.parse({ family: 'dcn', epochs: 1, embeddingDim: 4, ...small }) },
    ];
    await Promise.all(trainings.map((r) => train(p, r)));
    await p.run({ kind: 'describeData', data });
    const image = p.sharedDatasets().datasets.find((d) => d.key.startsWith('planted:'))?.image;
    assert.ok(image, 'the planted dataset is still held');
    await assertSameRowsAsPrivateLoad(image, data);

    // A declared table with a weight column: weights travel shared, into the encoded rows, and stay unchanged.
    await train(p, { data: declared, model: lr(4, { negativeSamplingRate: 0.5 }) });
    const weighted = p.sharedDatasets().datasets.find((d) => d.key.startsWith('declared:'))?.image;
    assert.ok(weighted?.train.weights, 'the declared table carries sample weights');
    await assertSameRowsAsPrivateLoad(weighted, declared);
  });

  it('out-of-core: threads share the streamed rows’ labels and sample, each reopens the row cache, and train the private load’s model', async () => {
    const previousChunkRows = process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
    process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = '2048'; // threads share the environment (SHARE_ENV)
    try {
      const s = plantedScenario({ seed: 13, trainRows: 8_000, validationRows: 1_000, testRows: 2_000 });
      const files = { train: path.join(dir, 'train.tsv'), validation: path.join(dir, 'validation.tsv'), test: path.join(dir, 'test.tsv') };
      await writeCriteoTsv(files.train, s.train, s.valueNames);
      await writeCriteoTsv(files.validation, s.validation, s.valueNames);
      await writeCriteoTsv(files.test, s.test, s.valueNames);
      const data = DataConfig.parse({ format: 'criteo-tsv', ...files });
      const streamed = { maxInMemoryTrainRows: 1_000, streamWindowRows: 4_096 };
      const requests = [1, 2].map((seed) => ({ data, model: lr(seed, { negativeSamplingRate: 0.5 }), ...streamed }));

      const p = pool(2);
      const results = await Promise.all(requests.map((r) => train(p, r)));
      const shared = p.sharedDatasets();
      assert.deepEqual([shared.loads, shared.reuses], [1, 1], 'one load (and one row cache written) between the two threads');
      const image = shared.datasets[0].image;
      assert.ok(image?.trainOnDiskLabels?.buffer instanceof SharedArrayBuffer, 'the streamed rows’ labels are shared');
      assert.equal(image.trainOnDiskLabels.length, 8_000);

      for (const [i, request] of requests.entries()) assert.equal(results[i].artifact, (await trainExperiment(request)).artifact);
      await assertSameRowsAsPrivateLoad(image, data, streamed);
    } finally {
      if (previousChunkRows === undefined) delete process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
      else process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = previousChunkRows;
    }
  });

  it('a dataset no thread holds any more is forgotten: evicted from its thread’s cache, cleared, or its thread ended', async () => {
    const p = pool(1);
    const keys = async (data: DataConfig) => {
      await p.run({ kind: 'describeData', data });
      return p.sharedDatasets().datasets.map((d) => `${d.key} ×${d.holders}`);
    };
    const [a, b, c] = [21, 22, 23].map(planted);
    const key = async (data: DataConfig) => `${await dataFingerprint(data)}:`;
    await keys(a);
    await keys(b);
    // The thread's cache keeps two datasets (as before sharing): the third evicts the first, which no thread holds.
    assert.deepEqual(await keys(c), [`${await key(b)} ×1`, `${await key(c)} ×1`]);
    // A cleared cache holds nothing: the next load starts from an empty registry.
    p.clearDatasetCaches();
    assert.deepEqual(await keys(a), [`${await key(a)} ×1`]);
    assert.equal(p.sharedDatasets().loads, 4, 'a, b, c, then a again');
    // A thread that ends lets go of what it held.
    await p.close();
    assert.deepEqual(p.sharedDatasets().datasets, []);
  });

  it('two threads whose shared load fails: each job fails with the load’s own error, and nothing stays held', async () => {
    const p = pool(2);
    const missing = DataConfig.parse({ format: 'criteo-tsv', train: path.join(dir, 'missing-train.tsv'), test: path.join(dir, 'missing-test.tsv') });
    const errors = await Promise.all([0, 1].map(() => p.run({ kind: 'describeData', data: missing }).catch((e: unknown) => e)));
    for (const err of errors) assert.match(String(err), /missing-train\.tsv/);
    const shared = p.sharedDatasets();
    assert.equal(shared.loads, 2, 'the second thread loaded itself after the first one’s load failed');
    assert.equal(shared.reuses, 0);
    assert.deepEqual(shared.datasets, []);
  });
});

describe('SharedDatasets: the pool’s registry of shared datasets', () => {
  const image = { summary: new Uint8Array(0) } as unknown as SharedDatasetImage;
  const setup = () => {
    const answers: [string, DatasetAnswer][] = [];
    const registry = new SharedDatasets<string>((thread, answer) => answers.push([thread, answer]));
    return { registry, answers };
  };

  it('one thread loads what several ask for at once; the others get its image when it publishes', () => {
    const { registry, answers } = setup();
    registry.handle('t1', { op: 'acquire', key: 'k' });
    registry.handle('t2', { op: 'acquire', key: 'k' });
    registry.handle('t3', { op: 'acquire', key: 'k' });
    assert.deepEqual(answers, [['t1', { key: 'k' }]], 't1 loads, t2 and t3 wait');
    registry.handle('t1', { op: 'publish', key: 'k', image });
    assert.deepEqual(answers.slice(1), [
      ['t2', { key: 'k', image }],
      ['t3', { key: 'k', image }],
    ]);
    assert.deepEqual(registry.snapshot(), { loads: 1, reuses: 2, datasets: [{ key: 'k', image, loading: false, holders: 3 }] });
    for (const t of ['t1', 't2']) registry.handle(t, { op: 'drop', key: 'k' });
    assert.equal(registry.snapshot().datasets[0].holders, 1, 'held while one thread holds it');
    registry.handle('t3', { op: 'drop', key: 'k' });
    assert.deepEqual(registry.snapshot().datasets, [], 'forgotten when none does');
  });

  it('a failed load or an ended loader passes the load to the first waiting thread', () => {
    const { registry, answers } = setup();
    for (const t of ['t1', 't2', 't3']) registry.handle(t, { op: 'acquire', key: 'k' });
    registry.handle('t1', { op: 'drop', key: 'k' }); // t1's load failed
    assert.deepEqual(answers.at(-1), ['t2', { key: 'k' }], 't2 loads now');
    registry.threadEnded('t2');
    assert.deepEqual(answers.at(-1), ['t3', { key: 'k' }], 't3 loads after t2 ended');
    registry.handle('t3', { op: 'publish', key: 'k', image });
    assert.deepEqual(registry.snapshot(), { loads: 3, reuses: 0, datasets: [{ key: 'k', image, loading: false, holders: 1 }] });
    registry.threadEnded('t3');
    assert.deepEqual(registry.snapshot().datasets, []);
  });

  it('counts a thread’s holds one by one: a thread that re-asked for its own in-flight load holds it twice', () => {
    const { registry, answers } = setup();
    registry.handle('t1', { op: 'acquire', key: 'k' });
    registry.handle('t1', { op: 'acquire', key: 'k' }); // its cache evicted the load in flight, then wanted it again
    registry.handle('t1', { op: 'publish', key: 'k', image });
    assert.deepEqual(answers, [
      ['t1', { key: 'k' }],
      ['t1', { key: 'k', image }],
    ]);
    registry.handle('t1', { op: 'drop', key: 'k' });
    assert.equal(registry.snapshot().datasets[0]?.holders, 1, 'the second hold still stands');
    registry.handle('t1', { op: 'drop', key: 'k' });
    assert.deepEqual(registry.snapshot().datasets, []);
  });
});
