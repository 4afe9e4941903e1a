import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { ApplicationFailure, type Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { trainModel, type TrainModelInput } from '../../activities/training';
import { DataConfig, ModelConfig } from '../../contracts';
import { dataFingerprint, resourceFailureOf, trainExperiment, TrainingFailure } from '../../ranking';
import { BadRowFailure } from '../../ranking/failure';
import { rebuildError, ThreadOutOfMemory, TrainingPool, trainingPoolSettings, type ThreadJob } from '../../workers/training-pool';

/** A training small enough for a busy 2-core machine, and a heap limit it fits in. */
const SMALL_DATA = DataConfig.parse({ planted: { seed: 5, trainRows: 3_000, validationRows: 1_000, testRows: 1_000 } });
const SMALL: ThreadJob = { kind: 'train', request: { data: SMALL_DATA, model: ModelConfig.parse({ family: 'lr', epochs: 1 }) }, checkpoints: false };
const SMALL_HEAP_MB = 128;
/** A million values per field: the planted generator's value names alone take far more than SMALL_HEAP_MB of heap. */
const HUGE_VOCABULARY = DataConfig.parse({ planted: { cardinality: 1_000_000, trainRows: 3_000, validationRows: 1_000, testRows: 1_000 } });

describe('the training pool: trainings on worker threads', function () {
  this.timeout(120_000);
  const pools: TrainingPool[] = [];
  const pool = (settings: { threads: number; maxOldGenerationSizeMb?: number }) => {
    const p = new TrainingPool({ maxOldGenerationSizeMb: SMALL_HEAP_MB, ...settings });
    pools.push(p);
    return p;
  };
  after(() => Promise.all(pools.map((p) => p.close())));

  it('a thread that runs past its heap limit fails its training as resource and is replaced; the pool keeps serving', async () => {
    const p = pool({ threads: 1 });
    const before = await p.run(SMALL);
    const lr = ModelConfig.parse({ family: 'lr', epochs: 1 });
    const err = await p.run({ kind: 'train', request: { data: HUGE_VOCABULARY, model: lr }, checkpoints: false }).then(
      () => assert.fail('the training was expected to run out of memory'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ThreadOutOfMemory, `got ${String(err)}`);
    // The activity's classification: a resource failure, so the retry policy tries a smaller model.
    const failure = resourceFailureOf(err, lr);
    assert.ok(failure instanceof TrainingFailure);
    assert.equal(failure.failureClass, 'resource');
    assert.match(failure.message, new RegExp(`^out of memory training lr with hashBits ${lr.hashBits}: .*${SMALL_HEAP_MB} MB heap limit`));
    assert.equal(p.size, 0, 'the dead thread left the pool');
    // It died loading a dataset and held another: neither stays in the registry of shared datasets (nothing waits
    // for the unfinished load, nothing keeps the held one's memory).
    assert.deepEqual(p.sharedDatasets().datasets, []);

    const after = await p.run(SMALL);
    assert.equal(p.size, 1, 'a replacement thread took the next training');
    assert.deepEqual(after.metrics, before.metrics, 'and trained the same model as before the crash');
  });

  it('a TrainingFailure thrown in the thread arrives as the same classified failure, with the same report', async () => {
    const p = pool({ threads: 1 });
    // Over the engine's memory budget: a resource failure thrown before training starts, with its remedy.
    const big = ModelConfig.parse({ family: 'dcn', hashBits: 24, embeddingDim: 64 });
    const sameThread = await trainExperiment({ data: SMALL_DATA, model: big }).catch((e: unknown) => e);
    const inThread = await p.run({ kind: 'train', request: { data: SMALL_DATA, model: big }, checkpoints: false }).catch((e: unknown) => e);
    assert.ok(sameThread instanceof TrainingFailure && inThread instanceof TrainingFailure, `got ${String(inThread)}`);
    assert.equal(inThread.failureClass, 'resource');
    assert.deepEqual(inThread.toReport(), sameThread.toReport());
    assert.equal(inThread.name, 'TrainingFailure');
  });

  it('a failure once training began arrives with the seconds the thread trained', async () => {
    const p = pool({ threads: 1 });
    const divergent = ModelConfig.parse({ family: 'fm', learningRate: 10, denseTransform: 'log' });
    const inThread = await p.run({ kind: 'train', request: { data: SMALL_DATA, model: divergent }, checkpoints: false }).catch((e: unknown) => e);
    assert.ok(inThread instanceof TrainingFailure, `got ${String(inThread)}`);
    assert.equal(inThread.failureClass, 'diverged');
    const report = inThread.toReport();
    assert.ok(report.trainSeconds !== undefined && report.trainSeconds > 0, JSON.stringify(report));
    // A bad row met while streaming the training rows keeps its seconds across the thread too.
    const badRow = rebuildError({
      name: 'BadRowFailure',
      message: 'train.tsv line 9: label "x"',
      training: { failureClass: 'bad-data', lastProgress: [], trainSeconds: 12.5 },
      badRow: { file: 'train.tsv', line: 9, problem: 'label "x"' },
    });
    assert.ok(badRow instanceof BadRowFailure);
    assert.equal(badRow.toReport().trainSeconds, 12.5);
  });

  it('checkpoints, progress and scoring heartbeats reach the main thread as they happen', async () => {
    const p = pool({ threads: 1 });
    const seen: string[] = [];
    const out = await p.run(
      {
        kind: 'train',
        request: {
          data: SMALL_DATA,
          model: ModelConfig.parse({ family: 'lr', epochs: 1, checkpointEvery: 5 }),
          checkpoint: { slot: { campaignId: 'pool-test', experimentId: `pool-${process.pid}`, attempt: 1 } },
        },
        checkpoints: true,
      },
      {
        onProgress: () => seen.push('progress'),
        onCheckpoint: (file) => seen.push(`checkpoint ${path.basename(file)}`),
        onAlive: () => seen.push('alive'),
      },
    );
    assert.ok(out.artifact);
    assert.ok(seen.includes('progress'));
    assert.ok(seen.includes('checkpoint attempt-1.ckpt'), "the checkpoint's file name crossed");
    // ceil(1,000 / 4,096) validation + ceil(1,000 / 4,096) test slices, after training.
    assert.deepEqual(seen.slice(-2), ['alive', 'alive']);
  });

  it('cancellation aborts the training inside its thread, which then serves the next one', async () => {
    const p = pool({ threads: 1 });
    const abort = new AbortController();
    const long: ThreadJob = {
      kind: 'train',
      request: { data: DataConfig.parse({ planted: { seed: 6, trainRows: 200_000 } }), model: ModelConfig.parse({ family: 'lr', epochs: 20 }) },
      checkpoints: false,
    };
    const reason = new Error('cancelled by the test');
    let cancelledAt = 0;
    const err = await p
      .run(long, {
        signal: abort.signal,
        onProgress: () => {
          if (!abort.signal.aborted) {
            cancelledAt = Date.now();
            abort.abort(reason);
          }
        },
      })
      .catch((e: unknown) => e);
    assert.equal(err, reason, 'the job ends with the signal reason, as a same-thread training did');
    assert.ok(Date.now() - cancelledAt < 5_000, 'the thread stopped at its next yield, not at the end of 20 epochs');
    assert.equal(p.size, 1, 'the thread stopped on its own: no termination needed');
    assert.ok((await p.run(SMALL)).artifact);
  });

  it('runs as many trainings at once as it has threads, and queues the rest', async () => {
    const p = pool({ threads: 2 });
    const jobs = [0, 1, 2].map(() => p.run(SMALL));
    assert.equal(p.size, 2, 'two threads for three trainings');
    const results = await Promise.all(jobs);
    assert.equal(new Set(results.map((r) => r.artifact)).size, 1, 'the same training three times: one model');
    assert.equal(p.size, 2);
    // A bench empties the threads' dataset caches between runs: the next training reloads, to the same model.
    p.clearDatasetCaches();
    assert.equal((await p.run(SMALL)).artifact, results[0].artifact);
  });

  it('reads its size and heap limit from the settings', () => {
    assert.deepEqual(trainingPoolSettings(3, { RANKWRIGHT_TRAINING_HEAP_MB: '700' }), { threads: 3, maxOldGenerationSizeMb: 700 });
    assert.equal(trainingPoolSettings(3, { RANKWRIGHT_TRAINING_THREADS: '5' }).threads, 5);
    assert.ok(trainingPoolSettings(undefined, {}).threads >= 1);
    assert.ok(trainingPoolSettings(2, {}).maxOldGenerationSizeMb >= 512);
    assert.throws(
      () => trainingPoolSettings(2, { RANKWRIGHT_TRAINING_THREADS: 'many' }),
      /RANKWRIGHT_TRAINING_THREADS="many" must be a positive whole number/,
    );
  });
});

describe('trainModel on the training pool', function () {
  this.timeout(120_000);
  // The activity's own failure log is expected here: keep it out of the test output.
  const quiet: Logger = { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

  it('throws the non-retryable TrainingFailure with the report a same-thread training gives', async () => {
    const input: TrainModelInput = {
      experimentId: 'pool-resource',
      campaignId: 'pool-resource',
      attempt: 1,
      data: SMALL_DATA,
      model: ModelConfig.parse({ family: 'dcn', hashBits: 24, embeddingDim: 64 }),
      segmentField: 'C1',
    };
    const expected = await trainExperiment({ data: input.data, model: input.model }).catch((e: TrainingFailure) => e.toReport());
    const err = await new MockActivityEnvironment(undefined, { logger: quiet }).run(trainModel, input).catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure, `got ${String(err)}`);
    assert.equal(err.type, 'TrainingFailure');
    assert.equal(err.nonRetryable, true);
    assert.deepEqual(err.details, [{ ...expected, dataFingerprint: await dataFingerprint(input.data) }]);
  });

  it('is cancelled by its activity context: the thread stops and the activity ends cancelled', async () => {
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    let cancelled = false;
    env.on('heartbeat', () => {
      if (!cancelled) {
        cancelled = true;
        env.cancel();
      }
    });
    const input: TrainModelInput = {
      experimentId: 'pool-cancel',
      campaignId: 'pool-cancel',
      attempt: 1,
      data: DataConfig.parse({ planted: { seed: 7, trainRows: 200_000 } }),
      model: ModelConfig.parse({ family: 'lr', epochs: 20 }),
      segmentField: 'C1',
    };
    const started = Date.now();
    const err = await env.run(trainModel, input).catch((e: unknown) => e);
    assert.ok(cancelled);
    assert.equal((err as Error).name, 'CancelledFailure', `got ${String(err)}`);
    assert.ok(Date.now() - started < 60_000);
  });
});
