import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import {
  InsightsStore,
  canonicalConfigKey,
  dataSimilarity,
  experimentOutcome,
  INSIGHTS_SCHEMA_VERSION,
  openInsightsDatabase,
  type DataTraits,
} from '../../store/insights';
import { rankwrightHome } from '../../store/home';
import { insightsBackends } from '../support/insights-backends';
import { experiment, metrics } from './fixtures/campaign';

describe('store/insights on SQLite by default', () => {
  it('opens ${RANKWRIGHT_HOME}/insights.sqlite in WAL mode at the current schema version', async () => {
    const home = await InsightsStore.open();
    await home.close();
    const db = new Database(path.join(rankwrightHome(), 'insights.sqlite'), { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), INSIGHTS_SCHEMA_VERSION);
    db.close();
  });
});

describe('store/insights: outcomes, config identity and data similarity (no database)', () => {
  const ok = { status: 'succeeded' as const, metrics: metrics(0.88) };
  const planted = { kind: 'planted', categoricalFields: 8, denseFields: 4, cardinality: 200, ctr: 0.1 };

  it('won when NE is lower by more than 2 standard errors', () => {
    // baseline 0.9 → 0.88: delta −0.02; SE 0.005 → 2 SE = 0.01
    assert.equal(experimentOutcome({ ...ok, relativeNeChange: 0.88 / 0.9 - 1, neStdErr: 0.005 }), 'won');
  });

  it('neutral inside the 2 SE band, and when no standard error is known', () => {
    assert.equal(experimentOutcome({ ...ok, relativeNeChange: 0.88 / 0.9 - 1, neStdErr: 0.011 }), 'neutral');
    assert.equal(experimentOutcome({ ...ok, relativeNeChange: 0.88 / 0.9 - 1 }), 'neutral');
  });

  it('lost when NE is higher by more than 2 standard errors', () => {
    assert.equal(experimentOutcome({ ...ok, relativeNeChange: 0.88 / 0.85 - 1, neStdErr: 0.005 }), 'lost');
  });

  it('failed when training failed, whatever the numbers', () => {
    assert.equal(experimentOutcome({ status: 'failed', relativeNeChange: -0.5, neStdErr: 0.001 }), 'failed');
  });

  it('ignores seed and checkpoint cadence, default spelling, key order and cross order', () => {
    const a = canonicalConfigKey({
      family: 'fm',
      seed: 1,
      checkpointEvery: 100,
      crosses: [
        ['C2', 'C1'],
        ['C3', 'C4'],
      ],
    });
    const b = canonicalConfigKey({
      crosses: [
        ['C3', 'C4'],
        ['C1', 'C2'],
      ],
      learningRate: 0.05,
      family: 'fm',
      seed: 9,
      embeddingDim: 8,
    });
    assert.equal(a, b);
    assert.ok(!a.includes('seed') && !a.includes('checkpointEvery'));
    assert.notEqual(a, canonicalConfigKey({ family: 'fm', embeddingDim: 16 }));
  });

  it('scores data similarity from traits, below 1 even for identical traits', () => {
    assert.ok(dataSimilarity(planted, planted) > dataSimilarity(planted, { ...planted, ctr: 0.4 }));
    assert.ok(dataSimilarity(planted, { kind: 'criteo-tsv' }) < 0.2);
    assert.equal(dataSimilarity(planted, undefined), 0);
  });

  it('tells Criteo files apart by size, CTR, cardinality and importance profiles (the layout alone is not similarity)', () => {
    const criteo = (rows: number, ctr: number, card: number[], importance: number[]): DataTraits => ({
      kind: 'criteo-tsv',
      categoricalFields: 26,
      denseFields: 13,
      rows,
      ctr,
      cardinality: Math.max(...card),
      fieldCardinality: Object.fromEntries(card.map((c, i) => [`C${i + 1}`, c])),
      fieldImportance: Object.fromEntries(importance.map((v, i) => [`C${i + 1}`, v])),
    });
    const a = criteo(500_000, 0.2, [10, 1000, 50_000, 300], [0.05, 0.01, 0.002, 0.03]);
    const twin = criteo(480_000, 0.21, [11, 950, 48_000, 320], [0.045, 0.012, 0.002, 0.028]);
    const other = criteo(40_000, 0.03, [90_000, 5, 20, 60_000], [0.001, 0.06, 0.04, 0]);
    assert.equal(dataSimilarity(a, a), 0.9, 'identical full traits: the most another data set can score');
    assert.ok(dataSimilarity(a, twin) > 0.85, `near twin ${dataSimilarity(a, twin)}`);
    assert.ok(dataSimilarity(a, other) < 0.5, `different data of the same layout ${dataSimilarity(a, other)}`);
    // Layout-only traits (what a config says before the data is read) score the same for both: no longer the case
    // once describing the data and the research step have recorded theirs.
    assert.equal(
      dataSimilarity({ kind: 'criteo-tsv', categoricalFields: 26, denseFields: 13 }, a),
      dataSimilarity({ kind: 'criteo-tsv', categoricalFields: 26, denseFields: 13 }, other),
    );
  });
});

for (const backend of insightsBackends)
  describe(`store/insights on ${backend.name}`, () => {
    let store: InsightsStore;
    let location: string;
    beforeEach(async () => {
      location = await backend.fresh();
      store = await InsightsStore.open(location);
    });
    afterEach(() => store.close());
    after(() => backend.cleanup());

    it('refuses a database written by a newer schema', async () => {
      await store.close();
      const db = await openInsightsDatabase(location);
      await db.write((tx) => tx.setSchemaVersion(INSIGHTS_SCHEMA_VERSION + 1));
      await db.close();
      await assert.rejects(InsightsStore.open(location), /newer than this Rankwright/);
    });

    it('records the same experiment twice as one row (a retried activity never counts twice)', async () => {
      const result = experiment({ experimentId: 'c1-v1', metrics: metrics(0.88), relativeNeChange: -0.02, neStdErr: 0.002 });
      await store.recordExperiment({ ...result, dataFingerprint: 'fp-a', recordedAt: '2026-01-01T00:00:00.000Z' });
      await store.recordExperiment({ ...result, dataFingerprint: 'fp-a', recordedAt: '2026-01-02T00:00:00.000Z', artifact: 'sha256:def' });
      const rows = await store.list();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].artifact, 'sha256:def', 'the re-record updates the row');
      assert.equal(rows[0].recordedAt, '2026-01-01T00:00:00.000Z', 'and keeps the first recording time');
      assert.deepEqual(
        (await store.summary()).map((s) => s.experiments),
        [1],
      );
    });

    it('keeps lineage, hypothesis, failure and metrics of an experiment', async () => {
      const failed = experiment({
        experimentId: 'c1-v3',
        config: { family: 'dcn', learningRate: 0.5 },
        hypothesis: { title: 'DCN', technique: 'family-dcn', rationale: 'crosses', expectedEffect: '-3%', parents: ['c1-v1'] },
        status: 'failed',
        failure: { failureClass: 'diverged', message: 'NaN', fix: 'halve the learning rate' },
      });
      await store.recordExperiment({ ...failed, dataFingerprint: 'fp-a' });
      const [row] = await store.list({ campaignId: 'ctr-lift-1' });
      assert.equal(row.outcome, 'failed');
      assert.equal(row.failureClass, 'diverged');
      assert.equal(row.failureFix, 'halve the learning rate');
      assert.deepEqual(row.parents, ['c1-v1']);
      assert.equal(row.family, 'dcn');
      assert.equal(row.technique, 'family-dcn');
      assert.deepEqual(await store.list({ campaignId: 'other' }), []);
    });

    describe('outcome', () => {
      it('is stored with the row', async () => {
        await store.recordExperiment({
          ...experiment({ experimentId: 'w', metrics: metrics(0.88), relativeNeChange: 0.88 / 0.9 - 1, neStdErr: 0.001 }),
          dataFingerprint: 'fp',
        });
        assert.equal((await store.list())[0].outcome, 'won');
      });
    });

    describe('canonicalConfigKey / isKnown', () => {
      it('knows a config that ran on the same data, not on other data, and not after an infrastructure failure', async () => {
        const config = { family: 'fm' as const, embeddingDim: 16 };
        await store.recordExperiment({ ...experiment({ experimentId: 'k1', config, metrics: metrics(0.87) }), dataFingerprint: 'fp-a' });
        await store.recordExperiment({
          ...experiment({
            experimentId: 'k2',
            config: { family: 'dcn' },
            status: 'failed',
            failure: { failureClass: 'infrastructure', message: 'worker lost', fix: 'retry' },
          }),
          dataFingerprint: 'fp-a',
        });
        assert.equal(await store.isKnown('fp-a', canonicalConfigKey({ ...config, seed: 42 })), true);
        assert.equal(await store.isKnown('fp-b', canonicalConfigKey(config)), false);
        assert.equal(await store.isKnown('fp-a', canonicalConfigKey({ family: 'fm', embeddingDim: 32 })), false);
        assert.equal(
          await store.isKnown('fp-a', canonicalConfigKey({ family: 'dcn' })),
          false,
          'infrastructure failures teach nothing about the config',
        );
      });
    });

    describe('findInsights', () => {
      const planted = { kind: 'planted', categoricalFields: 8, denseFields: 4, cardinality: 200, ctr: 0.1 };
      beforeEach(async () => {
        const rec = (id: string, fp: string, traits: object | undefined, at: string) =>
          store.recordExperiment({
            ...experiment({
              experimentId: id,
              config: { family: 'fm' },
              hypothesis: { title: id, technique: 'family-fm', rationale: 'r', expectedEffect: 'e' },
              metrics: metrics(0.87),
              relativeNeChange: -0.03,
              neStdErr: 0.001,
            }),
            dataFingerprint: fp,
            dataTraits: traits as never,
            recordedAt: at,
          });
        await rec('criteo-1', 'fp-criteo', { kind: 'criteo-tsv', categoricalFields: 26, denseFields: 13, ctr: 0.25 }, '2026-01-05T00:00:00Z');
        await rec('near-1', 'fp-near', { ...planted, categoricalFields: 10 }, '2026-01-04T00:00:00Z');
        await rec('same-old', 'fp-same', planted, '2026-01-01T00:00:00Z');
        await rec('same-new', 'fp-same', planted, '2026-01-03T00:00:00Z');
        await rec(
          'far-1',
          'fp-far',
          { kind: 'planted', categoricalFields: 26, denseFields: 0, cardinality: 100000, ctr: 0.01 },
          '2026-01-06T00:00:00Z',
        );
      });

      it('returns same-data insights first (similarity 1, newest first), then other data by similarity', async () => {
        const insights = await store.findInsights({ dataFingerprint: 'fp-same', dataTraits: planted, limit: 10 });
        assert.deepEqual(insights.map((i) => i.experimentId).slice(0, 3), ['same-new', 'same-old', 'near-1']);
        assert.equal(insights[0].similarity, 1);
        assert.ok(insights[2].similarity < 1 && insights[2].similarity > 0.4, `near data is similar: ${insights[2].similarity}`);
        for (let i = 1; i < insights.length; i++) assert.ok(insights[i - 1].similarity >= insights[i].similarity, 'sorted by similarity');
        const far = insights.find((i) => i.experimentId === 'far-1');
        assert.ok(!far || far.similarity < insights[2].similarity, 'far data ranks below near data, or is left out');
        assert.equal(insights[0].outcome, 'won');
        assert.equal(insights[0].technique, 'family-fm');
        assert.equal(insights[0].config.family, 'fm');
      });

      it("measuredCosts: past full runs' seconds with their data's rows and fields, same data first, only where the rows are known", async () => {
        // Only fp-same knows its rows (describing the data records them); a failed run measured nothing.
        await store.recordDataTraits('fp-same', { ...planted, rows: 20_000 });
        await store.recordExperiment({
          ...experiment({ experimentId: 'same-failed', config: { family: 'dcn' }, status: 'failed' }),
          dataFingerprint: 'fp-same',
        });
        const costs = await store.measuredCosts({ dataFingerprint: 'fp-same', dataTraits: planted, limit: 10 });
        assert.deepEqual(
          costs.map((c) => c.experimentId),
          ['same-new', 'same-old'],
        );
        assert.deepEqual(
          costs.map((c) => [c.rows, c.fields, c.similarity, c.config.family]),
          [
            [20_000, 12, 1, 'fm'],
            [20_000, 12, 1, 'fm'],
          ],
        );
        assert.ok(costs.every((c) => c.seconds > 0));
        await store.recordDataTraits('fp-near', { ...planted, categoricalFields: 10, rows: 5_000 });
        assert.deepEqual(
          (await store.measuredCosts({ dataFingerprint: 'fp-same', dataTraits: planted, limit: 10 })).map((c) => c.experimentId),
          ['same-new', 'same-old', 'near-1'],
          'similar data with known rows follows',
        );
      });

      it('honours the limit and, without traits, returns only same-data insights', async () => {
        assert.equal((await store.findInsights({ dataFingerprint: 'fp-same', dataTraits: planted, limit: 3 })).length, 3);
        assert.deepEqual(
          (await store.findInsights({ dataFingerprint: 'fp-same', limit: 10 })).map((i) => i.experimentId),
          ['same-new', 'same-old'],
        );
      });

      it('merges traits recorded at different times (data description, research step, experiments)', async () => {
        await store.recordDataTraits('fp-merge', { kind: 'criteo-tsv', rows: 1000, fieldCardinality: { C1: 5 } });
        await store.recordDataTraits('fp-merge', { kind: 'criteo-tsv', fieldImportance: { C1: 0.02 } });
        await store.recordExperiment({
          ...experiment({ experimentId: 'merge-1' }),
          dataFingerprint: 'fp-merge',
          dataTraits: { kind: 'criteo-tsv', ctr: 0.1 },
        });
        assert.deepEqual(await store.dataTraits('fp-merge'), {
          kind: 'criteo-tsv',
          rows: 1000,
          fieldCardinality: { C1: 5 },
          fieldImportance: { C1: 0.02 },
          ctr: 0.1,
        });
        assert.equal(await store.dataTraits('fp-never'), undefined);
      });
    });

    it('two connections write concurrently without losing or duplicating rows', async function () {
      this.timeout(30_000);
      await store.close();
      const writer = path.join(__dirname, 'fixtures', 'insights-writer.ts');
      const run = (prefix: string, from: number, to: number) =>
        promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), writer, location, prefix, String(from), String(to)]);
      // Two processes, overlapping ids on purpose: the overlap must upsert, not duplicate or fail with SQLITE_BUSY.
      await Promise.all([run('w', 0, 600), run('w', 400, 1000)]);
      store = await InsightsStore.open(location);
      assert.equal(await store.count(), 1000);
      assert.equal(new Set((await store.list({ limit: 2000 })).map((r) => r.experimentId)).size, 1000);
    });

    it('two in-process connections interleave writes on one database, at the same time', async () => {
      const other = await InsightsStore.open(location);
      try {
        // All at once: a write that waits for the lock while the other connection holds it must not stall the process
        // (SQLite is synchronous: see sqlite-database.ts), and traits merged by both survive.
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? store : other).recordExperiment({
              ...experiment({ experimentId: `x${i % 10}` }),
              dataFingerprint: 'fp',
              // Each connection adds its own trait to the same data set: a read-merge-write that lost the other's fails.
              dataTraits: i % 2 ? { kind: 'planted', rows: 1000 } : { kind: 'planted', ctr: 0.1 },
            }),
          ),
        );
        assert.deepEqual(await store.dataTraits('fp'), { kind: 'planted', rows: 1000, ctr: 0.1 });
        assert.equal(await store.count(), 10);
        assert.equal(await other.count(), 10);
      } finally {
        await other.close();
      }
    });
  });
