import { strict as assert } from 'node:assert';
import type { z } from 'zod';
import { ExperimentResult, ModelConfig, RememberedFix, type FailureClass } from '../../contracts';
import { InsightsStore, INSIGHTS_SCHEMA_VERSION, openInsightsDatabase, remediesOf, type DataTraits } from '../../store/insights';
import { migrate } from '../../store/insights/schema';
import { insightsBackends } from '../support/insights-backends';
import { metrics } from './fixtures/campaign';

type ConfigInput = z.input<typeof ModelConfig>;
/** One attempt: a config and, when it failed, the class it failed with (on data `fp`). */
type Step = [ConfigInput, FailureClass?];

/** An experiment whose attempts ran `steps` on data `fp`; it succeeded when the last step has no failure. */
function experimentWith(experimentId: string, fp: string | undefined, steps: Step[]): ExperimentResult {
  const attempts = steps.map(([config, failureClass]) => ({
    config: ModelConfig.parse(config),
    ...(failureClass ? { failure: { failureClass, message: `${failureClass} at step 12`, lastProgress: [], dataFingerprint: fp } } : {}),
  }));
  const last = attempts[attempts.length - 1];
  const succeeded = !last.failure;
  return ExperimentResult.parse({
    experimentId,
    campaignId: `c-${experimentId}`,
    phase: 'validation',
    status: succeeded ? 'succeeded' : 'failed',
    config: last.config,
    dataFingerprint: succeeded ? fp : undefined,
    metrics: succeeded ? metrics(0.8) : undefined,
    trainSeconds: succeeded ? 3 : 0,
    modelBytes: succeeded ? 1000 : 0,
    attempts,
    failure: succeeded ? undefined : { failureClass: last.failure!.failureClass, message: 'failed', fix: 'gave up' },
  });
}

const lr = (learningRate: number, gradientClip?: number): ConfigInput => ({ family: 'lr', learningRate, ...(gradientClip ? { gradientClip } : {}) });
const fm = (hashBits: number, embeddingDim: number, batchSize: number): ConfigInput => ({ family: 'fm', hashBits, embeddingDim, batchSize });

const TRAITS_A: DataTraits = { kind: 'planted', categoricalFields: 26, denseFields: 13, cardinality: 1000, ctr: 0.1, rows: 50_000 };
const TRAITS_NEAR_A: DataTraits = { ...TRAITS_A, ctr: 0.11, rows: 60_000 };
const TRAITS_FAR: DataTraits = { kind: 'criteo-tsv', categoricalFields: 26, denseFields: 13, ctr: 0.3 };

describe('store/insights remedies: what the attempts of an experiment say (no database)', () => {
  it('reads remedies off the attempts: the whole jump from the first failure to the success worked, each repeat failure failed', () => {
    const result = experimentWith('e1', 'fp-a', [[lr(3), 'diverged'], [lr(0.9, 5), 'diverged'], [lr(0.27, 2.5)]]);
    const remedies = remediesOf(result);
    assert.deepEqual(
      remedies.map((r) => [r.outcome, r.fromAttempt, r.toAttempt, r.attempts, r.failureClass, r.family, r.dataFingerprint]),
      [
        ['failed', 1, 2, 2, 'diverged', 'lr', 'fp-a'],
        ['worked', 1, 3, 3, 'diverged', 'lr', 'fp-a'],
      ],
    );
    assert.deepEqual(remedies[0].changes, { learningRate: 0.9, learningRateRatio: 0.3, gradientClip: 5 });
    assert.deepEqual(remedies[1].changes, { learningRate: 0.27, learningRateRatio: 0.09, gradientClip: 2.5 });
    // Knobs outside the runbook never enter a remedy; a failure followed by another class teaches nothing about the first.
    const mixed = experimentWith('e2', 'fp-a', [
      [fm(20, 16, 256), 'resource'],
      [{ ...fm(18, 8, 128), l2: 0.5 }, 'diverged'],
      [{ ...fm(18, 8, 128), l2: 0.5, learningRate: 0.01, gradientClip: 5 }],
    ]);
    assert.deepEqual(
      remediesOf(mixed).map((r) => [r.outcome, r.failureClass, r.fromAttempt, r.toAttempt, r.changes]),
      [['worked', 'diverged', 2, 3, { learningRate: 0.01, learningRateRatio: 0.2, gradientClip: 5 }]],
    );
  });
});

for (const backend of insightsBackends)
  describe(`store/insights remedies on ${backend.name}: a fix that worked for a failure class, recorded and looked up`, () => {
    let store: InsightsStore;
    beforeEach(async () => {
      store = await InsightsStore.open(await backend.fresh());
    });
    afterEach(() => store.close());
    after(() => backend.cleanup());

    it('records a failed-then-succeeded experiment and finds its fix for the same class and family, on the same data first', async () => {
      await store.recordExperiment({
        ...experimentWith('same-1', 'fp-a', [[lr(3), 'diverged'], [lr(0.9, 5), 'diverged'], [lr(0.27, 2.5)]]),
        dataFingerprint: 'fp-a',
        dataTraits: TRAITS_A,
        recordedAt: '2026-01-01T00:00:00.000Z',
      });
      // Newer, on similar data: one retry at the runbook's ×0.3 worked there.
      await store.recordExperiment({
        ...experimentWith('near-1', 'fp-near', [[lr(2), 'diverged'], [lr(0.6, 5)]]),
        dataFingerprint: 'fp-near',
        dataTraits: TRAITS_NEAR_A,
        recordedAt: '2026-02-01T00:00:00.000Z',
      });
      await store.recordExperiment({
        ...experimentWith('far-1', 'fp-far', [[lr(2), 'diverged'], [lr(0.2, 1)]]),
        dataFingerprint: 'fp-far',
        dataTraits: TRAITS_FAR,
        recordedAt: '2026-03-01T00:00:00.000Z',
      });
      assert.equal((await store.listRemedies()).length, 4, 'same-1: one failed and one worked; near-1 and far-1: one worked each');

      const onA = await store.findRemedies({ failureClass: 'diverged', family: 'lr', dataFingerprint: 'fp-a', dataTraits: TRAITS_A });
      assert.deepEqual(
        onA.map((f) => [f.fromExperiment, f.similarity === 1, f.worked, f.failed]),
        [
          ['same-1', true, 1, 0],
          // The ×0.3 fix: worked on the similar data, failed once on this data (same-1's first retry): listed after.
          ['near-1', false, 1, 1],
        ],
        'the dissimilar data (another kind, another CTR) is left out',
      );
      const fix = onA[0];
      assert.deepEqual(fix.changes, { learningRate: 0.27, learningRateRatio: 0.09, gradientClip: 2.5 });
      assert.equal(fix.attempts, 3);
      assert.equal(fix.fromCampaign, 'c-same-1');
      assert.ok(RememberedFix.safeParse(fix).success, 'a lookup answer satisfies the strict contract');

      // Data the database has not seen, similar to A: the fixes of similar data, the one that never failed first.
      const unseen = await store.findRemedies({
        failureClass: 'diverged',
        family: 'lr',
        dataFingerprint: 'fp-new',
        dataTraits: { ...TRAITS_A, ctr: 0.108 },
      });
      assert.deepEqual(
        unseen.map((f) => f.fromExperiment),
        ['same-1', 'near-1'],
      );
      assert.ok(unseen.every((f) => f.similarity < 1 && f.similarity >= 0.5));
      assert.equal(
        (await store.rememberedFix({ failureClass: 'diverged', family: 'lr', dataFingerprint: 'fp-new', dataTraits: TRAITS_NEAR_A }))?.fromExperiment,
        'same-1',
      );
      // Another class or family: nothing.
      assert.deepEqual(await store.findRemedies({ failureClass: 'resource', family: 'lr', dataFingerprint: 'fp-a', dataTraits: TRAITS_A }), []);
      assert.deepEqual(await store.findRemedies({ failureClass: 'diverged', family: 'fm', dataFingerprint: 'fp-a', dataTraits: TRAITS_A }), []);
      // Without traits, only the same data counts.
      assert.equal((await store.rememberedFix({ failureClass: 'diverged', family: 'lr', dataFingerprint: 'fp-near' }))?.fromExperiment, 'near-1');
      assert.equal(await store.rememberedFix({ failureClass: 'diverged', family: 'lr', dataFingerprint: 'fp-other' }), undefined);
    });

    it('ranks a fix that failed below one that worked, and offers none that failed more often than it worked', async () => {
      const record = (id: string, steps: Step[], day: number) =>
        store.recordExperiment({
          ...experimentWith(id, 'fp-a', steps),
          dataFingerprint: 'fp-a',
          dataTraits: TRAITS_A,
          recordedAt: `2026-01-${String(day).padStart(2, '0')}T00:00:00.000Z`,
        });
      // 16/4/64 worked once …
      await record('oom-1', [[fm(20, 16, 256), 'resource'], [fm(16, 4, 64)]], 1);
      // … then failed again with out-of-memory on the same data, where 14/2/32 worked.
      await record('oom-2', [[fm(20, 16, 256), 'resource'], [fm(16, 4, 64), 'resource'], [fm(14, 2, 32)]], 2);
      const found = await store.findRemedies({ failureClass: 'resource', family: 'fm', dataFingerprint: 'fp-a', dataTraits: TRAITS_A });
      assert.deepEqual(
        found.map((f) => [f.changes.hashBits, f.worked, f.failed, f.fromExperiment]),
        [
          [14, 1, 0, 'oom-2'],
          [16, 1, 1, 'oom-1'],
        ],
      );
      assert.equal((await store.rememberedFix({ failureClass: 'resource', family: 'fm', dataFingerprint: 'fp-a' }))?.changes.hashBits, 14);
      // A fix that fails more often than it works is never offered, even alone.
      await record(
        'oom-3',
        [
          [fm(22, 16, 256), 'resource'],
          [fm(14, 2, 32), 'resource'],
          [fm(12, 2, 16), 'resource'],
          [fm(10, 2, 16), 'resource'],
        ],
        3,
      );
      const afterMore = await store.findRemedies({ failureClass: 'resource', family: 'fm', dataFingerprint: 'fp-a' });
      assert.deepEqual(
        afterMore.map((f) => [f.changes.hashBits, f.worked, f.failed]),
        [
          [14, 1, 1],
          [16, 1, 1],
        ],
      );
      assert.equal(await store.rememberedFix({ failureClass: 'resource', family: 'fm', dataFingerprint: 'fp-a' }), undefined);
    });

    it('records an experiment twice as one set of remedies, and skips remedies whose data is unknown', async () => {
      const result = experimentWith('twice', 'fp-a', [[lr(3), 'diverged'], [lr(0.9, 5)]]);
      await store.recordExperiment({ ...result, dataFingerprint: 'fp-a', recordedAt: '2026-01-01T00:00:00.000Z' });
      await store.recordExperiment({ ...result, dataFingerprint: 'fp-a', recordedAt: '2026-01-02T00:00:00.000Z' });
      const remedies = await store.listRemedies();
      assert.equal(remedies.length, 1);
      assert.equal(remedies[0].recordedAt, '2026-01-01T00:00:00.000Z');
      // A failed run whose failure reports carry no fingerprint (an older worker): recorded as an experiment, no remedy.
      const blind = experimentWith('blind', undefined, [
        [lr(3), 'diverged'],
        [lr(0.9, 5), 'diverged'],
      ]);
      await store.recordExperiment({ ...blind, dataFingerprint: 'unknown', recordedAt: '2026-01-03T00:00:00.000Z' });
      assert.equal((await store.listRemedies()).length, 1);
      // A failed run that reports its data: its failed remedy counts, and its data's traits are remembered.
      const seen = experimentWith('seen', 'fp-b', [
        [lr(3), 'diverged'],
        [lr(0.9, 5), 'diverged'],
      ]);
      await store.recordExperiment({ ...seen, dataFingerprint: 'unknown', dataTraits: TRAITS_A, recordedAt: '2026-01-04T00:00:00.000Z' });
      assert.deepEqual(
        (await store.listRemedies()).map((r) => [r.experimentId, r.outcome, r.dataFingerprint]),
        [
          ['seen', 'failed', 'fp-b'],
          ['twice', 'worked', 'fp-a'],
        ],
      );
      assert.deepEqual(await store.dataTraits('fp-b'), TRAITS_A);
    });

    it('upgrades a database an older Rankwright left at schema v1, keeping its experiments', async () => {
      await store.close();
      const old = await backend.fresh();
      const db = await openInsightsDatabase(old);
      try {
        await migrate(db, 1);
        await db.write((tx) =>
          tx.run(
            `INSERT INTO experiments (experiment_id, phase, data_fingerprint, family, config, canonical_key, status, outcome, train_seconds, model_bytes, recorded_at)
           VALUES ('old-1', 'baseline', 'fp-a', 'lr', ?, 'k', 'succeeded', 'neutral', 1, 10, '2025-01-01T00:00:00.000Z')`,
            [JSON.stringify(ModelConfig.parse({ family: 'lr' }))],
          ),
        );
        assert.equal(await db.schemaVersion(), 1);
      } finally {
        await db.close();
      }
      store = await InsightsStore.open(old);
      assert.equal(await store.count(), 1);
      assert.deepEqual(await store.listRemedies(), []);
      await store.recordExperiment({ ...experimentWith('new-1', 'fp-a', [[lr(3), 'diverged'], [lr(0.9, 5)]]), dataFingerprint: 'fp-a' });
      assert.equal((await store.listRemedies()).length, 1);
      const check = await openInsightsDatabase(old);
      assert.equal(await check.schemaVersion(), INSIGHTS_SCHEMA_VERSION);
      await check.close();
    });
  });
