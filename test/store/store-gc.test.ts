import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { recordExperiment } from '../../activities/records';
import { DataConfig, type NewCampaignEvent } from '../../contracts';
import { encodeTensorFile } from '../../ranking/tensor-file';
import { artifactKey, putArtifact } from '../../store/artifacts';
import { checkpointKey, writeCheckpoint } from '../../store/checkpoints';
import { appendEvents } from '../../store/event-log';
import { closePostgresEventStores } from '../../store/events/sql-event-store';
import { GC_DEFAULTS, collectGarbage } from '../../store/gc';
import { sharedStore } from '../../store/object-store';
import { planStore, removeFromStore, type StoreGcPlan } from '../../store/store-gc';
import { insightsBackends } from '../support/insights-backends';
import { useMinioStore } from '../support/minio';
import { runCli } from '../support/processes';
import { experiment, metrics } from './fixtures/campaign';

/**
 * Store-side retention (issue 25): `rankwright gc` on a machine of a fleet also collects the shared store (the real
 * MinIO of services-dev.sh), by the home's rules, with the fleet's PostgreSQL events and insights as the source of
 * truth. The store's write times cannot be set back, so ages are exercised through the thresholds (0 = anything old
 * enough) and the default minimum age (everything just put is young).
 */
describe('retention in the shared store: rankwright gc with RANKWRIGHT_STORE', function () {
  this.timeout(180_000);
  const postgres = insightsBackends.find((b) => b.name === 'PostgreSQL')!;
  const data = DataConfig.parse({ planted: { seed: 23 } });
  let home: string;
  let saved: { home?: string; database?: string };
  let restoreStore: () => void;

  beforeEach(async () => {
    saved = { home: process.env.RANKWRIGHT_HOME, database: process.env.RANKWRIGHT_DATABASE_URL };
    home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rw-store-gc-')));
    process.env.RANKWRIGHT_HOME = home;
    process.env.RANKWRIGHT_DATABASE_URL = await postgres.fresh();
    restoreStore = useMinioStore().restore;
  });
  afterEach(async () => {
    const store = sharedStore()!;
    for await (const o of store.list('')) await store.delete(o.key);
    restoreStore();
    await closePostgresEventStores();
    for (const [name, value] of [
      ['RANKWRIGHT_HOME', saved.home],
      ['RANKWRIGHT_DATABASE_URL', saved.database],
    ] as const)
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    fs.rmSync(home, { recursive: true, force: true });
  });
  after(() => postgres.cleanup());

  let eventNo = 0;
  const log = (campaignId: string, ...events: Record<string, unknown>[]) =>
    appendEvents(
      campaignId,
      events.map((e) => ({ eventId: `${campaignId}:s${eventNo++}`, campaignId, ...e }) as NewCampaignEvent),
    );
  const started = { type: 'campaign.started', strategy: 'agent', objective: 'lower NE' };
  const finished = (campaignId: string, experimentId: string, artifact: string, ne: number) =>
    recordExperiment(experiment({ experimentId, campaignId, artifact, dataFingerprint: 'fp-A', metrics: metrics(ne) }), data);
  const model = (tag: string) =>
    putArtifact(encodeTensorFile({ kind: 'model', formatVersion: 1, family: 'lr', tag }, { w: new Float32Array(2_000) }));
  const has = async (key: string) => !!(await sharedStore()!.head(key));
  const put = (key: string, text: string) => sharedStore()!.put(key, Buffer.from(text));
  const item = (plan: StoreGcPlan, key: string) => plan.items.find((i) => i.key === key);

  /** A fleet's store: what a live campaign needs, what a rejected one left, jobs that ended and one that runs. */
  async function fleetStore() {
    const liveModel = await model('live');
    const file = await putArtifact(Buffer.from('an external trainer model file'));
    const external = await putArtifact(
      encodeTensorFile({ kind: 'external-model', formatVersion: 1, model: file, tag: 'x' }, { testScores: new Float64Array(8) }),
    );
    const rejectedModel = await model('rejected');
    const orphan = await model('orphan');
    await log('live-1', started);
    await finished('live-1', 'live-1-e1', liveModel, 0.9);
    await finished('live-1', 'live-1-e2', external, 0.93);
    await log('over-1', started);
    await finished('over-1', 'over-1-e1', rejectedModel, 0.95);
    await log('over-1', { type: 'campaign.finished', reviewState: 'rejected' });
    const liveCheckpoint = { campaignId: 'live-1', experimentId: 'live-1-e3', attempt: 1 };
    const endedCheckpoint = { campaignId: 'over-1', experimentId: 'over-1-e1', attempt: 1 };
    await writeCheckpoint(liveCheckpoint, [Buffer.alloc(5_000)]);
    await writeCheckpoint(endedCheckpoint, [Buffer.alloc(5_000)]);
    // An ended external job (exit code in the store) on dataset ds1; a running one (fresh heartbeat) on ds2.
    await put('jobs/over-1-e2-a1/job.json', JSON.stringify({ data: { dir: '/elsewhere/job-data/ds1' } }));
    await put('jobs/over-1-e2-a1/out/test-predictions.txt', '0.1\n'.repeat(1000));
    await put('jobs/over-1-e2-a1/exit-code', '0\n');
    await put('jobs/live-1-e4-a1/job.json', JSON.stringify({ data: { dir: '/elsewhere/job-data/ds2' } }));
    await put('jobs/live-1-e4-a1/alive', JSON.stringify({ at: new Date().toISOString() }));
    for (const ds of ['ds1', 'ds2', 'ds3']) await put(`job-data/${ds}/train.tsv`, 'label\tI1\n1\t2\n'.repeat(500));
    return { liveModel, file, external, rejectedModel, orphan, liveCheckpoint, endedCheckpoint };
  }

  it('removes from the store what no live campaign needs, as its dry run listed, and says how many bytes it freed', async () => {
    const s = await fleetStore();
    // Everything was just put: under the default minimum age no artifact goes (another worker may not have recorded it).
    const cautious = (await collectGarbage({ dryRun: true })).store!;
    assert.equal(item(cautious, artifactKey(s.orphan))?.reason, 'young');
    assert.equal(item(cautious, 'jobs/over-1-e2-a1/')?.reason, 'job-recent', 'an ended job stays its keep time');

    const ages = { minAgeMs: 0, jobAgeMs: 0 };
    const dry = (await collectGarbage({ dryRun: true, ...ages })).store!;
    const goes = dry.items.filter((i) => i.action === 'remove').map((i) => i.key);
    assert.deepEqual(
      goes.sort(),
      [
        artifactKey(s.rejectedModel),
        artifactKey(s.orphan),
        checkpointKey(s.endedCheckpoint),
        'jobs/over-1-e2-a1/',
        'job-data/ds1/',
        'job-data/ds3/',
      ].sort(),
    );
    assert.ok(await has(artifactKey(s.orphan)), 'a dry run removes nothing');
    assert.equal(item(dry, artifactKey(s.liveModel))?.action, 'keep');
    assert.equal(item(dry, artifactKey(s.external))?.reason, 'referenced');
    assert.match(item(dry, artifactKey(s.file))!.detail, /model file of external model/);
    assert.equal(item(dry, checkpointKey(s.liveCheckpoint))?.reason, 'run-live');
    assert.equal(item(dry, 'jobs/live-1-e4-a1/')?.reason, 'job-live');
    assert.equal(item(dry, 'job-data/ds2/')?.reason, 'job-data-in-use');
    assert.match(item(dry, artifactKey(s.rejectedModel))!.detail, /campaign over-1 \(rejected\)/);

    const real = (await collectGarbage(ages)).store!;
    assert.deepEqual(real.removed, dry.removed, 'it removed what its dry run said');
    assert.ok(real.removed.bytes > 3 * 8_000, `freed ${real.removed.bytes} bytes`);
    assert.equal(real.byKind['job-folder']?.removed.count, 1);
    for (const key of [
      artifactKey(s.rejectedModel),
      artifactKey(s.orphan),
      checkpointKey(s.endedCheckpoint),
      'jobs/over-1-e2-a1/exit-code',
      'job-data/ds3/train.tsv',
    ])
      assert.ok(!(await has(key)), `${key} is gone from the store`);
    for (const key of [
      artifactKey(s.liveModel),
      artifactKey(s.external),
      artifactKey(s.file),
      checkpointKey(s.liveCheckpoint),
      'jobs/live-1-e4-a1/alive',
      'job-data/ds2/train.tsv',
    ])
      assert.ok(await has(key), `${key} stays in the store`);

    // The CLI says it in words: what the store would free.
    await put('job-data/ds4/train.tsv', 'x'.repeat(2048));
    const cli = await runCli(['gc', '--dry-run', '--no-temporal', '--min-age', '0', '--job-age', '0']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(
      cli.stdout,
      /the store s3:\/\/rankwright\/test-\S+ at http:\/\/127\.0\.0\.1:\d+: would remove 2\.05 kB in 1 item \(would free 2\.05 kB of [\d.]+ kB\)/,
    );
    assert.match(cli.stdout, /job-data\s+2\.05 kB {2}job-data\/ds4\/: no job left in the store needs it/);
  });

  it('spares an item the store wrote between the plan and the removal', async () => {
    const store = sharedStore()!;
    await put('job-data/ds9/train.tsv', 'label\n1\n');
    const settings = { ...GC_DEFAULTS, minAgeMs: 0, jobAgeMs: 0 };
    const plan = await planStore(store, {
      now: Date.now(),
      settings,
      ledger: new Map(),
      needed: { keep: new Map(), namedBy: new Map() },
      sharedDatabase: true,
    });
    assert.equal(item(plan, 'job-data/ds9/')?.action, 'remove');
    // A worker puts a new job's data there meanwhile (the store's write times have a resolution of a second).
    await new Promise((r) => setTimeout(r, 1_100));
    await put('job-data/ds9/test.tsv', 'label\n0\n');
    await removeFromStore(store, plan);
    assert.equal(item(plan, 'job-data/ds9/')?.reason, 'changed');
    assert.ok((await has('job-data/ds9/train.tsv')) && (await has('job-data/ds9/test.tsv')));
  });

  it("without the fleet's database it removes nothing from the store: a home's own SQLite does not see the fleet", async () => {
    delete process.env.RANKWRIGHT_DATABASE_URL;
    const orphan = await model('orphan');
    const plan = await collectGarbage({ minAgeMs: 0 });
    assert.match(plan.store!.skipped!, /RANKWRIGHT_DATABASE_URL/);
    assert.equal(plan.store!.items.length, 0);
    assert.ok(await has(artifactKey(orphan)), 'the orphan stays in the store');
    assert.ok(
      plan.items.some((i) => i.ref === orphan && i.action === 'remove'),
      "the home's copy goes by the home's rules",
    );
  });
});
