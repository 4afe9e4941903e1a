import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { recordExperiment } from '../../activities/records';
import { formatStatus, statusJson } from '../../client/format';
import { CampaignEvent, CampaignStatus, DataConfig, EVENT_SCHEMA_VERSION, InvalidInputError, type NewCampaignEvent } from '../../contracts';
import { RowCacheReader, RowCacheWriter, type SourceIdentity } from '../../ranking/data/row-cache';
import { CRITEO_WIDTHS, emptyBlock } from '../../ranking/data/rows';
import { encodeTensorFile } from '../../ranking/tensor-file';
import { getArtifact, putArtifact } from '../../store/artifacts';
import { applyWorkflowState, recordFromLog } from '../../store/campaign-ledger';
import { campaignStorage, describeStorage } from '../../store/campaign-storage';
import { checkpointPath, writeCheckpoint } from '../../store/checkpoints';
import { appendEvents, readEvents } from '../../store/event-log';
import { collectGarbage, type GcItem, type GcPlan } from '../../store/gc';
import { InsightsStore } from '../../store/insights';
import { sharedStore } from '../../store/object-store';
import { insightsBackends, insightsForActivities } from '../support/insights-backends';
import { writeCampaignReport } from '../../store/report';
import { enforceHomeBudget, homeBudgetFromEnv, startHomeBudget } from '../../workers/home-budget';
import { useMinioStore } from '../support/minio';
import { runCli } from '../support/processes';
import { campaignStatus, experiment, metrics } from './fixtures/campaign';

/**
 * Retention: `rankwright gc` against homes built with the real stores (artifacts, event logs written the way the
 * activities write them, the insights database, checkpoints, row caches), aged by setting file times, never by
 * faking a clock. Each test gets its own home, so what gc sees is exactly what the test built.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const data = DataConfig.parse({ planted: { seed: 23 } });

let home: string;
let savedHome: string | undefined;
/** Gives each test of a suite its own home (hooks inside a describe: a root-level hook would reach every suite). */
function ownHomePerTest(): void {
  beforeEach(() => {
    savedHome = process.env.RANKWRIGHT_HOME;
    home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rw-gc-')));
    // The stores write to RANKWRIGHT_HOME; gc reads the same home (in this process, or the CLI's).
    process.env.RANKWRIGHT_HOME = home;
  });
  afterEach(() => {
    process.env.RANKWRIGHT_HOME = savedHome;
    fs.rmSync(home, { recursive: true, force: true });
  });
}

/** Sets a file's (or, recursively, a folder's) times to `ms` ago. */
function age(target: string, ms: number): void {
  const t = new Date(Date.now() - ms);
  const st = fs.lstatSync(target);
  if (st.isDirectory()) for (const name of fs.readdirSync(target)) age(path.join(target, name), ms);
  if (!st.isSymbolicLink()) fs.utimesSync(target, t, t);
}

function artifactFile(ref: string): string {
  const hex = ref.slice('sha256:'.length);
  return path.join(home, 'artifacts', hex.slice(0, 2), hex);
}

/** A model artifact in the real tensor-file format; `floats` sets its size, `tag` makes its content unique. */
async function model(tag: string, floats = 256, kind = 'model'): Promise<string> {
  return putArtifact(encodeTensorFile({ kind, formatVersion: 1, family: 'lr', tag }, { w: new Float32Array(floats) }));
}

/** An external trainer's stored model, naming its model file (another artifact), as ranking/external-job.ts stores it. */
async function externalModel(tag: string): Promise<{ ref: string; file: string }> {
  const file = await putArtifact(Buffer.from(`opaque model file ${tag}`));
  const ref = await putArtifact(
    encodeTensorFile({ kind: 'external-model', formatVersion: 1, model: file, tag }, { testScores: new Float64Array(8) }),
  );
  return { ref, file };
}

/** Records a finished run the way the workflow does (the recordExperiment activity: insights row and event). */
async function finished(campaignId: string, experimentId: string, artifact: string, ne: number, over: Record<string, unknown> = {}): Promise<void> {
  await recordExperiment(experiment({ experimentId, campaignId, artifact, dataFingerprint: 'fp-A', metrics: metrics(ne), ...over }), data);
}

let eventNo = 0;
async function log(campaignId: string, ...events: Record<string, unknown>[]): Promise<void> {
  await appendEvents(
    campaignId,
    events.map((e) => ({ eventId: `${campaignId}:t${eventNo++}`, campaignId, ...e }) as NewCampaignEvent),
  );
}
const started = { type: 'campaign.started', strategy: 'agent', objective: 'lower NE' };
const ended = (reviewState: string) => ({ type: 'campaign.finished', reviewState });

function byPath(plan: GcPlan): Map<string, GcItem> {
  return new Map(plan.items.map((i) => [i.path, i]));
}
const removedPaths = (plan: GcPlan) =>
  plan.items
    .filter((i) => i.action === 'remove')
    .map((i) => i.path)
    .sort();

async function gcCli(...args: string[]): Promise<GcPlan> {
  const { code, stdout, stderr } = await runCli(['gc', '--json', '--no-temporal', ...args], { RANKWRIGHT_HOME: home });
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as GcPlan;
}

describe('retention: rankwright gc', () => {
  ownHomePerTest();

  it('keeps exactly what approved, running campaigns and the best runs need; removes the rest, as its dry run said', async function () {
    this.timeout(60_000);
    const old = 2 * DAY;
    // --- approved-1: approved; its baseline, a probe and a candidate it did not recommend, the recommended run (logged
    // the old way: only its insights row names its model), a promotion, its report ---
    const approvedBase = await model('approved-base');
    const approvedProbe = await model('approved-probe');
    const approvedCandidate = await model('approved-candidate');
    const approvedOld = await model('approved-old');
    const promoted = await model('approved-promoted');
    await log('approved-1', started);
    await finished('approved-1', 'approved-1-baseline', approvedBase, 0.92, { phase: 'baseline' });
    await finished('approved-1', 'a-p1', approvedProbe, 0.93, { probe: { rowFraction: 0.2, trainRows: 4000 } });
    await finished('approved-1', 'a-cand', approvedCandidate, 0.95);
    // A run an older Rankwright logged: its finish event names no artifact; only the insights row does.
    const insights = await InsightsStore.open();
    await insights.recordExperiment({
      ...experiment({ experimentId: 'a-old', campaignId: 'approved-1', artifact: approvedOld, metrics: metrics(0.94) }),
      dataFingerprint: 'fp-A',
    });
    await insights.close();
    await log('approved-1', { type: 'experiment.finished', experimentId: 'a-old', metrics: metrics(0.94) });
    await log(
      'approved-1',
      { type: 'recommendation', experimentId: 'a-old', rationale: 'lowest validation NE' },
      { type: 'decision', kind: 'approve', by: 'ana', via: 'update', accepted: true },
      { type: 'campaign.promotion', hook: 'copy-to-serving', state: 'succeeded', experimentId: 'a-old', artifact: promoted },
      ended('approved'),
    );
    const approvedReport = (await writeCampaignReport({ ...campaignStatus(), campaignId: 'approved-1' }, [])).artifact!;

    // --- rejected-1: rejected; only its run that is the best on fp-A stays ---
    const rejectedBase = await model('rejected-base');
    const bestOnA = await model('rejected-best');
    const rejectedExternal = await externalModel('rejected-external');
    const rejectedProbe = await model('rejected-probe');
    await log('rejected-1', started);
    await finished('rejected-1', 'r-base', rejectedBase, 0.95, { phase: 'baseline' });
    await finished('rejected-1', 'r-v1', bestOnA, 0.85);
    await finished('rejected-1', 'r-v2', rejectedExternal.ref, 0.99);
    await finished('rejected-1', 'r-p1', rejectedProbe, 0.8, { probe: { rowFraction: 0.2, trainRows: 4000 } });
    await log('rejected-1', { type: 'decision', kind: 'reject', by: 'ana', via: 'update', accepted: true }, ended('rejected'));
    const rejectedReport = (await writeCampaignReport({ ...campaignStatus(), campaignId: 'rejected-1' }, [])).artifact!;
    const rejectedCheckpoint = (await writeCheckpoint({ campaignId: 'rejected-1', experimentId: 'r-v3', attempt: 1 }, [new Uint8Array(500)])).path;
    const rejectedJob = path.join(home, 'jobs', 'r-v2-a1');
    fs.mkdirSync(path.join(rejectedJob, 'out'), { recursive: true });
    fs.writeFileSync(path.join(rejectedJob, 'exit-code'), '0\n');
    fs.writeFileSync(path.join(rejectedJob, 'stderr.log'), 'trained\n');

    // --- running-1: no end in its log; a run still training, an external job still running ---
    const runningBase = await model('running-base');
    const runningExternal = await externalModel('running-external');
    await log('running-1', started);
    await finished('running-1', 'run-base', runningBase, 0.8, { phase: 'baseline', dataFingerprint: 'fp-B' });
    await finished('running-1', 'run-v2', runningExternal.ref, 0.81, { dataFingerprint: 'fp-B' });
    await log('running-1', { type: 'experiment.started', experimentId: 'run-v1', family: 'dcn' });
    const superseded = (await writeCheckpoint({ campaignId: 'running-1', experimentId: 'run-v1', attempt: 1 }, [new Uint8Array(700)])).path;
    const live = (await writeCheckpoint({ campaignId: 'running-1', experimentId: 'run-v1', attempt: 2 }, [new Uint8Array(900)])).path;
    const endedRunCheckpoint = (await writeCheckpoint({ campaignId: 'running-1', experimentId: 'run-base', attempt: 1 }, [new Uint8Array(300)])).path;
    const dataFor = path.join(home, 'job-data', 'fp-B');
    fs.mkdirSync(dataFor, { recursive: true });
    fs.writeFileSync(path.join(dataFor, 'train.tsv'), 'label\tI1\n1\t2\n');
    const runningJob = path.join(home, 'jobs', 'run-v3-a1');
    fs.mkdirSync(runningJob, { recursive: true });
    fs.writeFileSync(path.join(runningJob, 'job.json'), JSON.stringify({ jobId: 'run-v3-a1', data: { dir: dataFor } }));
    await log('running-1', { type: 'experiment.job', experimentId: 'run-v3', jobId: 'run-v3-a1', trainer: 'lightgbm', state: 'submitted' });
    const recentJob = path.join(home, 'jobs', 'run-v4-a1');
    fs.mkdirSync(recentJob, { recursive: true });
    fs.writeFileSync(path.join(recentJob, 'exit-code'), '1\n');

    // --- things no campaign names ---
    const orphan = await model('orphan');
    const fresh = await model('fresh-orphan'); // just written, not yet recorded
    const legacyCheckpoint = await model('legacy-checkpoint', 256, 'checkpoint');
    const tempWrite = `${artifactFile(orphan)}.tmp-12345-abcdef`;
    fs.writeFileSync(tempWrite, 'half a write');
    fs.mkdirSync(path.join(home, 'row-cache'), { recursive: true });
    const idleCache = path.join(home, 'row-cache', 'idle.rows');
    const usedCache = path.join(home, 'row-cache', 'used.rows');
    fs.writeFileSync(idleCache, Buffer.alloc(4000));
    fs.writeFileSync(usedCache, Buffer.alloc(4000));
    const unusedData = path.join(home, 'job-data', 'fp-gone');
    fs.mkdirSync(unusedData, { recursive: true });
    fs.writeFileSync(path.join(unusedData, 'train.tsv'), 'label\n1\n');
    // A link inside the home to a file outside it: never followed, never removed, its target never touched.
    const outside = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rw-gc-outside-')), 'precious.rows');
    fs.writeFileSync(outside, 'not Rankwright’s');
    const link = path.join(home, 'row-cache', 'linked.rows');
    fs.symlinkSync(outside, link);

    // Everything was written long enough ago to be judged, except what a test below needs young or recent.
    for (const ref of [
      approvedBase,
      approvedProbe,
      approvedCandidate,
      approvedOld,
      promoted,
      approvedReport,
      rejectedBase,
      bestOnA,
      rejectedProbe,
      rejectedReport,
    ])
      age(artifactFile(ref), old);
    for (const ref of [rejectedExternal.ref, rejectedExternal.file, runningBase, runningExternal.ref, runningExternal.file, orphan, legacyCheckpoint])
      age(artifactFile(ref), old);
    age(tempWrite, 2 * HOUR);
    for (const f of [rejectedCheckpoint, superseded, live, endedRunCheckpoint]) age(f, HOUR);
    age(rejectedJob, 4 * DAY);
    age(runningJob, 4 * DAY);
    age(dataFor, 4 * DAY);
    age(recentJob, DAY);
    age(unusedData, 4 * DAY);
    age(idleCache, 8 * DAY);
    age(usedCache, 2 * DAY);

    const expectRemoved = [
      artifactFile(approvedProbe),
      artifactFile(approvedCandidate),
      artifactFile(rejectedBase),
      artifactFile(rejectedExternal.ref),
      artifactFile(rejectedExternal.file),
      artifactFile(rejectedProbe),
      artifactFile(rejectedReport),
      artifactFile(orphan),
      artifactFile(legacyCheckpoint),
      tempWrite,
      rejectedCheckpoint,
      superseded,
      endedRunCheckpoint,
      rejectedJob,
      unusedData,
      idleCache,
    ].sort();
    const expectKept: Record<string, string> = {
      [artifactFile(approvedBase)]: 'referenced',
      [artifactFile(approvedOld)]: 'referenced',
      [artifactFile(promoted)]: 'referenced',
      [artifactFile(approvedReport)]: 'referenced',
      [artifactFile(bestOnA)]: 'best-run',
      [artifactFile(runningBase)]: 'referenced',
      [artifactFile(runningExternal.ref)]: 'referenced',
      [artifactFile(runningExternal.file)]: 'referenced',
      [artifactFile(fresh)]: 'young',
      [live]: 'run-live',
      [runningJob]: 'job-live',
      [recentJob]: 'job-recent',
      [dataFor]: 'job-data-in-use',
      [usedCache]: 'recently-used',
      [link]: 'link',
    };

    const dry = await gcCli('--dry-run');
    assert.equal(dry.dryRun, true);
    assert.deepEqual(removedPaths(dry), expectRemoved);
    const items = byPath(dry);
    for (const [file, reason] of Object.entries(expectKept)) {
      assert.equal(items.get(file)?.action, 'keep', `${file} is kept`);
      assert.equal(items.get(file)?.reason, reason, `${file}: ${items.get(file)?.detail}`);
    }
    assert.equal(dry.items.length, expectRemoved.length + Object.keys(expectKept).length, 'nothing else was looked at');
    // The reasons a user reads: why each thing goes.
    assert.equal(items.get(artifactFile(legacyCheckpoint))!.reason, 'legacy-checkpoint');
    assert.equal(items.get(superseded)!.reason, 'superseded-attempt');
    assert.equal(items.get(rejectedCheckpoint)!.reason, 'run-ended');
    assert.match(items.get(artifactFile(rejectedBase))!.detail, /model of experiment r-base, campaign rejected-1 \(rejected\)/);
    // A reviewed campaign keeps what its sign-off needs: the recommended model and the baseline's.
    assert.match(
      items.get(artifactFile(approvedCandidate))!.detail,
      /model of experiment a-cand, a candidate campaign approved-1 \(approved\) did not recommend/,
    );
    assert.match(items.get(artifactFile(bestOnA))!.detail, /best run on dataset fp-A \(experiment r-v1, NE 0\.8500\)/);
    assert.equal(items.get(artifactFile(approvedReport))!.artifactKind, 'report');
    assert.deepEqual(
      dry.campaigns.map((c) => [c.campaignId, c.state, c.kept]),
      [
        ['approved-1', 'approved', true],
        ['rejected-1', 'rejected', false],
        ['running-1', 'running', true],
      ],
    );
    for (const file of [...expectRemoved, ...Object.keys(expectKept)]) assert.ok(fs.existsSync(file), `the dry run left ${file}`);
    const removedBytes = dry.items.filter((i) => i.action === 'remove').reduce((s, i) => s + i.bytes, 0);
    assert.equal(dry.removed.bytes, removedBytes);
    assert.equal(dry.homeBytes.after, dry.homeBytes.before - removedBytes);

    // --keep-candidates keeps every run's model of a reviewed campaign.
    const keepAll = byPath(await gcCli('--dry-run', '--keep-candidates'));
    for (const ref of [approvedProbe, approvedCandidate]) assert.equal(keepAll.get(artifactFile(ref))?.action, 'keep');
    assert.equal(keepAll.get(artifactFile(rejectedBase))?.action, 'remove');

    // The human summary says the same in words.
    const human = await runCli(['gc', '--dry-run', '--no-temporal'], { RANKWRIGHT_HOME: home });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`would remove ${dry.removed.count > 0 ? '[0-9.]+ [kM]?B' : '0 B'} in ${expectRemoved.length} items`));
    assert.match(human.stdout, /^artifact\s+9 \(/m);
    assert.match(human.stdout, /campaigns kept: approved-1 \(approved\), running-1 \(running\)/);
    assert.match(human.stdout, /campaigns over \(their artifacts may go\): rejected-1 \(rejected\)/);

    const real = await gcCli();
    assert.equal(real.dryRun, false);
    assert.deepEqual(removedPaths(real), expectRemoved, 'the real run removes what its dry run said');
    for (const file of expectRemoved) assert.ok(!fs.existsSync(file), `${file} is gone`);
    for (const file of Object.keys(expectKept)) assert.ok(fs.existsSync(file) || fs.lstatSync(file), `${file} is still there`);
    assert.ok(fs.existsSync(outside), 'the link’s target outside the home is untouched');
    assert.ok(!fs.existsSync(path.join(home, 'checkpoints', 'rejected-1')), 'an ended campaign’s emptied checkpoint folder goes too');
    // History stays: event logs, reports, the insights database.
    for (const f of ['events/rejected-1.jsonl', 'reports/rejected-1.html', 'insights.sqlite']) assert.ok(fs.existsSync(path.join(home, f)), f);
    // A second run finds nothing more to do; a shorter job age takes the recently ended job's folder too.
    assert.deepEqual(removedPaths(await gcCli()), []);
    assert.deepEqual(removedPaths(await collectGarbage({ dryRun: true, jobAgeMs: 12 * HOUR })), [recentJob]);
  });

  it('never follows a linked folder out of the home', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-gc-linked-'));
    const theirs = path.join(outside, 'someone-else.rows');
    fs.writeFileSync(theirs, 'not a Rankwright cache');
    age(theirs, 30 * DAY);
    fs.symlinkSync(outside, path.join(home, 'row-cache'));
    const plan = await collectGarbage();
    assert.deepEqual(removedPaths(plan), []);
    assert.match(plan.warnings.join('\n'), /row-cache is a symbolic link \(to .*rw-gc-linked-.*\): gc does not follow links/);
    assert.ok(fs.existsSync(theirs) && fs.lstatSync(path.join(home, 'row-cache')).isSymbolicLink());
    fs.rmSync(outside, { recursive: true, force: true });
  });

  // The best run comes from the insights database: the home's SQLite file, or the fleet's PostgreSQL when
  // RANKWRIGHT_DATABASE_URL names one (gc reads the one the workers write).
  for (const backend of insightsBackends)
    it(`keeps the best run per dataset (and its model file) across campaigns, and moves on when a better run arrives (insights on ${backend.name})`, async () => {
      const undo = await insightsForActivities(backend);
      try {
        const first = await model('x-first');
        const second = await model('x-second');
        await log('old-1', started);
        await finished('old-1', 'o-1', first, 0.9, { dataFingerprint: 'fp-X' });
        await finished('old-1', 'o-2', second, 0.88, { dataFingerprint: 'fp-X' });
        await recordExperiment(
          experiment({
            experimentId: 'o-3',
            campaignId: 'old-1',
            status: 'failed',
            failure: { failureClass: 'diverged', message: 'NaN', fix: 'lower lr' },
          }),
          data,
        );
        await log('old-1', ended('rejected'));
        for (const ref of [first, second]) age(artifactFile(ref), DAY);

        let plan = await collectGarbage({ dryRun: true });
        assert.deepEqual(removedPaths(plan), [artifactFile(first)]);
        assert.equal(byPath(plan).get(artifactFile(second))!.reason, 'best-run');

        // A later campaign (also rejected) beats it on the same data with an external model: that run, and its model
        // file, become the ones kept.
        const better = await externalModel('x-better');
        await log('old-2', started);
        await finished('old-2', 'n-1', better.ref, 0.87, { dataFingerprint: 'fp-X' });
        await log('old-2', ended('rejected'));
        for (const ref of [better.ref, better.file]) age(artifactFile(ref), DAY);
        plan = await collectGarbage();
        assert.deepEqual(removedPaths(plan), [artifactFile(first), artifactFile(second)].sort());
        assert.equal(byPath(plan).get(artifactFile(better.ref))!.reason, 'best-run');
        assert.equal(byPath(plan).get(artifactFile(better.file))!.reason, 'best-run');
        assert.match(byPath(plan).get(artifactFile(better.file))!.detail, /model file of external model/);
        assert.ok(fs.existsSync(artifactFile(better.file)) && !fs.existsSync(artifactFile(second)));
      } finally {
        undo();
        await backend.cleanup();
      }
    });

  it('never takes an artifact younger than the minimum age; storing the same bytes again makes it young again', async () => {
    const almost = await model('59-minutes');
    const older = await model('61-minutes');
    age(artifactFile(almost), 59 * 60_000);
    age(artifactFile(older), 61 * 60_000);
    let plan = await collectGarbage({ dryRun: true });
    assert.deepEqual(removedPaths(plan), [artifactFile(older)]);
    assert.equal(byPath(plan).get(artifactFile(almost))!.reason, 'young');

    assert.deepEqual(removedPaths(await collectGarbage({ dryRun: true, minAgeMs: 30 * 60_000 })), [artifactFile(almost), artifactFile(older)].sort());
    assert.deepEqual(removedPaths(await gcCli('--dry-run', '--min-age', '2h')), []);
    const bad = await runCli(['gc', '--min-age', '90'], { RANKWRIGHT_HOME: home });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--min-age "90" is not a duration: expected a number with a unit/);

    // A run that produces the very bytes of an old unreferenced artifact (deterministic training) must not lose it
    // to gc before it is recorded: putArtifact refreshes the stored copy's time.
    age(artifactFile(older), 3 * DAY);
    assert.equal(await model('61-minutes'), older);
    plan = await collectGarbage({ dryRun: true });
    assert.equal(byPath(plan).get(artifactFile(older))!.reason, 'young');
  });

  it('removes row caches nobody read for the idle time; opening a cache marks it used', async () => {
    const source: SourceIdentity = { path: '/data/train.tsv', size: 10, mtimeMs: 1, fingerprint: 'f' };
    const write = async (name: string) => {
      const file = path.join(home, 'row-cache', name);
      const writer = new RowCacheWriter(file);
      const rows = 10;
      await writer.append(emptyBlock(rows, CRITEO_WIDTHS));
      await writer.finish({ source, options: {}, badRows: { count: 0, rowsSeen: rows, examples: [] } });
      age(file, 10 * DAY);
      return file;
    };
    const read = await write('read.rows');
    const idle = await write('idle.rows');
    // A run opens (and reads) one of them: that is its last use now.
    const reader = await RowCacheReader.open(read, source, {});
    await reader.readChunk(0, reader.newChunkBuffer());
    assert.ok(Date.now() - fs.statSync(read).mtimeMs < 60_000, 'opening marked the cache used');

    const plan = await collectGarbage({ dryRun: true });
    assert.deepEqual(removedPaths(plan), [idle]);
    assert.equal(byPath(plan).get(idle)!.reason, 'idle');
    assert.equal(byPath(plan).get(read)!.reason, 'recently-used');
    // The idle time is the user's to set.
    assert.deepEqual(removedPaths(await collectGarbage({ dryRun: true, rowCacheIdleMs: 30 * DAY })), []);
    assert.deepEqual(removedPaths(await gcCli('--dry-run', '--row-cache-idle', '1d')), [idle]);
  });

  it('removes checkpoints of ended runs (a standalone experiment included) and stale ones; keeps running ones', async () => {
    const slot = { campaignId: 'solo-1', experimentId: 'solo-1', attempt: 1 };
    await log('solo-1', { type: 'experiment.started', experimentId: 'solo-1', family: 'lr' });
    await writeCheckpoint(slot, [new Uint8Array(64)]);
    await log('live-1', started, { type: 'experiment.started', experimentId: 'live-1-v1', family: 'fm' });
    const stale = (await writeCheckpoint({ campaignId: 'live-1', experimentId: 'live-1-v1', attempt: 1 }, [new Uint8Array(64)])).path;
    age(stale, 8 * DAY);

    let plan = await collectGarbage({ dryRun: true });
    assert.equal(byPath(plan).get(checkpointPath(slot))!.reason, 'run-live', 'a standalone experiment still training keeps its checkpoint');
    assert.deepEqual(removedPaths(plan), [stale]);
    assert.equal(byPath(plan).get(stale)!.reason, 'stale-checkpoint');
    assert.deepEqual(removedPaths(await collectGarbage({ dryRun: true, staleCheckpointMs: 30 * DAY })), []);

    await log('solo-1', { type: 'experiment.failed', experimentId: 'solo-1', failureClass: 'diverged', message: 'NaN' });
    plan = await collectGarbage();
    assert.equal(byPath(plan).get(checkpointPath(slot))!.reason, 'run-ended');
    assert.ok(!fs.existsSync(checkpointPath(slot)) && !fs.existsSync(path.join(home, 'checkpoints', 'solo-1')));
  });

  it('reads a campaign’s state from its log, and Temporal’s word on one whose log has no end', async () => {
    const line = (e: Record<string, unknown>) =>
      JSON.stringify({ v: EVENT_SCHEMA_VERSION, eventId: String(Math.random()), ts: '2026-01-01T00:00:00Z', campaignId: 'c', ...e });
    const text = (...events: Record<string, unknown>[]) => events.map(line).join('\n') + '\n';
    assert.equal(recordFromLog('c', text(started)).state, 'running');
    assert.equal(recordFromLog('c', text(started, ended('approved'))).state, 'approved');
    assert.equal(recordFromLog('c', text(started, ended('aborted'))).state, 'aborted');
    // Finished before any review (its baseline failed): over, nothing to keep.
    assert.equal(recordFromLog('c', text(started, ended('running'))).state, 'ended');
    assert.equal(
      recordFromLog('c', text(started, ended('rejected'), { type: 'decision', kind: 'approve', by: 'b', via: 'update', accepted: true })).state,
      'approved',
    );
    assert.equal(
      recordFromLog('c', text(started, ended('approved'), { type: 'decision', kind: 'reject', by: 'm', via: 'signal', accepted: false })).state,
      'approved',
    );
    // A recommendation without an end: the search is over and it waits for a sign-off (or a guardrail halted it).
    const recommended = { type: 'recommendation', eventId: 'c:recommendation', experimentId: 'e1', rationale: 'lowest validation NE' };
    const waiting = recordFromLog('c', text(started, recommended));
    assert.deepEqual([waiting.state, waiting.ended, [...waiting.recommended]], ['awaiting-review', false, ['e1']]);
    assert.equal(recordFromLog('c', text(started, { ...recommended, eventId: 'c:needs-review' })).state, 'needs-review');
    assert.equal(
      recordFromLog('c', text(started, recommended, { type: 'decision', kind: 'approve', by: 'b', via: 'update', accepted: true })).state,
      'approved',
    );
    // A line a crash cut short still protects the artifact it names.
    const cut = recordFromLog('c', text(started) + '{"type":"experiment.finished","artifact":"sha256:' + 'a'.repeat(64));
    assert.equal(cut.unreadableLines, 1);
    assert.ok(cut.artifacts.has(`sha256:${'a'.repeat(64)}`));

    const terminated = recordFromLog('c', text(started));
    applyWorkflowState(terminated, { status: 'TERMINATED' });
    assert.deepEqual([terminated.state, terminated.ended], ['ended', true]);
    const approvedThenTerminated = recordFromLog('c', text(started, { type: 'decision', kind: 'approve', by: 'b', via: 'update', accepted: true }));
    applyWorkflowState(approvedThenTerminated, { status: 'TERMINATED' });
    assert.equal(approvedThenTerminated.state, 'approved');
    const completed = recordFromLog('c', text(started));
    applyWorkflowState(completed, { status: 'COMPLETED', reviewState: 'rejected' });
    assert.equal(completed.state, 'rejected');
    const stillRunning = recordFromLog('c', text(started));
    applyWorkflowState(stillRunning, { status: 'RUNNING' });
    applyWorkflowState(stillRunning, undefined); // unknown to Temporal
    assert.deepEqual([stillRunning.state, stillRunning.ended], ['running', false]);
  });

  it('a campaign awaiting review keeps its recommended model and its baseline; its other candidates go', async () => {
    const baseline = await model('waiting-baseline');
    const chosen = await model('waiting-chosen');
    const other = await model('waiting-other');
    await log('waiting-1', started);
    await finished('waiting-1', 'waiting-1-baseline', baseline, 0.92, { phase: 'baseline' });
    await finished('waiting-1', 'w-chosen', chosen, 0.9);
    await finished('waiting-1', 'w-other', other, 0.91);
    await log('waiting-1', { type: 'recommendation', eventId: 'waiting-1:recommendation', experimentId: 'w-chosen', rationale: 'best' });
    for (const ref of [baseline, chosen, other]) age(artifactFile(ref), 2 * DAY);
    // A better run on another dataset takes the best-run rule, so only the review rule decides here.
    const elsewhere = await model('elsewhere');
    await finished('other-data', 'x-1', elsewhere, 0.5, { dataFingerprint: 'fp-A' });
    const items = byPath(await gcCli('--dry-run'));
    assert.equal(items.get(artifactFile(chosen))?.action, 'keep');
    assert.equal(items.get(artifactFile(baseline))?.action, 'keep');
    assert.equal(items.get(artifactFile(other))?.action, 'remove');
    assert.match(items.get(artifactFile(other))!.detail, /a candidate campaign waiting-1 \(awaiting-review\) did not recommend/);
    const keepAll = byPath(await gcCli('--dry-run', '--keep-candidates'));
    assert.equal(keepAll.get(artifactFile(other))?.action, 'keep');
  });

  it('asks Temporal through the lookup it is given, and goes on as if unasked when that fails', async () => {
    const ref = await model('terminated-run');
    await log('gone-1', started);
    await finished('gone-1', 'g-1', ref, 0.99, { dataFingerprint: 'fp-G' });
    const other = await model('other-run');
    await finished('gone-1', 'g-2', other, 0.5, { dataFingerprint: 'fp-G' });
    age(artifactFile(ref), DAY);
    let plan = await collectGarbage({ dryRun: true, workflowStates: async (ids) => new Map(ids.map((id) => [id, { status: 'TERMINATED' }])) });
    assert.equal(plan.campaigns[0].state, 'ended');
    assert.deepEqual(removedPaths(plan), [artifactFile(ref)]);
    plan = await collectGarbage({
      dryRun: true,
      workflowStates: async () => {
        throw new Error('connection refused');
      },
    });
    assert.equal(plan.temporal.error, 'connection refused');
    assert.deepEqual(removedPaths(plan), [], 'unreachable Temporal: the campaign counts as running');
  });

  it('the experiment.finished event names the run’s artifact; older events without one still parse', async () => {
    const ref = await model('evented');
    await finished('ev-1', 'ev-1-p', ref, 0.9, { probe: { rowFraction: 0.1, trainRows: 100 } });
    const { events } = await readEvents('ev-1');
    const done = events.find((e) => e.type === 'experiment.finished');
    assert.equal(done?.type === 'experiment.finished' && done.artifact, ref);
    const legacy = {
      v: EVENT_SCHEMA_VERSION,
      eventId: 'x',
      ts: '2025-01-01T00:00:00Z',
      campaignId: 'c',
      type: 'experiment.finished',
      experimentId: 'e',
      metrics: metrics(0.9),
    };
    assert.equal(CampaignEvent.parse(legacy).type, 'experiment.finished');
  });
});

describe('retention: the home budget (RANKWRIGHT_HOME_MAX_GB)', () => {
  ownHomePerTest();

  /** Five unreferenced 100 kB artifacts aged 5…1 days, a live campaign's 300 kB model aged 10 days, a row cache read 3 h ago. */
  async function crowdedHome(): Promise<{ orphans: string[]; referenced: string; cache: string }> {
    const orphans: string[] = [];
    for (let d = 5; d >= 1; d--) {
      const ref = await model(`orphan-${d}`, 25_000);
      age(artifactFile(ref), d * DAY);
      orphans.push(artifactFile(ref));
    }
    const referenced = await model('live', 75_000);
    await log('live-1', started);
    await finished('live-1', 'l-1', referenced, 0.9);
    age(artifactFile(referenced), 10 * DAY);
    const cache = path.join(home, 'row-cache', 'recent.rows');
    fs.mkdirSync(path.dirname(cache), { recursive: true });
    fs.writeFileSync(cache, Buffer.alloc(100_000));
    age(cache, 3 * HOUR);
    return { orphans, referenced: artifactFile(referenced), cache };
  }

  it('collects the oldest unreferenced items first, only until the home fits', async () => {
    const { orphans, referenced, cache } = await crowdedHome();
    const size = (await collectGarbage({ dryRun: true })).homeBytes.before;
    // Just over what three of the 100 kB orphans free: the three oldest go, the two newest stay.
    const plan = await collectGarbage({ budgetBytes: size - 250_000 });
    assert.equal(plan.mode, 'budget');
    assert.deepEqual(removedPaths(plan), orphans.slice(0, 3).sort());
    assert.ok(plan.homeBytes.after <= size - 250_000);
    for (const f of orphans.slice(3)) assert.equal(byPath(plan).get(f)!.reason, 'within-budget');
    assert.ok(fs.existsSync(referenced) && fs.existsSync(cache));

    // A budget below what is live: every orphan goes, then the cache (kept only for its age); never the live model.
    const tight = await collectGarbage({ budgetBytes: 10_000 });
    assert.deepEqual(removedPaths(tight), [...orphans.slice(3), cache].sort());
    assert.equal(byPath(tight).get(cache)!.reason, 'over-budget');
    assert.ok(fs.existsSync(referenced));
    assert.ok(tight.homeBytes.after > 10_000, 'still over: the rest is live');
  });

  it('with a shared store, a live model the store holds is only a cache under the budget: it goes, and a read fetches it back', async function () {
    this.timeout(120_000);
    const { restore } = useMinioStore();
    try {
      const { referenced } = await crowdedHome(); // every put also went to the store
      const ref = `sha256:${path.basename(referenced)}`;
      const full = await collectGarbage({ dryRun: true });
      assert.equal(byPath(full).get(referenced)!.reason, 'referenced', 'a full gc keeps a live model, shared or not');
      const tight = await collectGarbage({ budgetBytes: 10_000 });
      const item = byPath(tight).get(referenced)!;
      assert.equal(item.reason, 'over-budget');
      assert.match(item.detail, /the shared store has it, so under the home budget this copy is only a cache/);
      assert.ok(!fs.existsSync(referenced));
      assert.equal(
        `sha256:${createHash('sha256')
          .update(await getArtifact(ref))
          .digest('hex')}`,
        ref,
      );
      assert.ok(fs.existsSync(referenced), 'read back into the home');
    } finally {
      const store = sharedStore()!;
      for await (const o of store.list('')) await store.delete(o.key);
      restore();
    }
  });

  it('the worker’s periodic check collects, logs what it did, and survives a failing check', async () => {
    const { orphans } = await crowdedHome();
    const lines: string[] = [];
    const watch = startHomeBudget({ maxBytes: 50_000, home, intervalMs: 20, log: (l) => lines.push(l) });
    try {
      for (let i = 0; i < 250 && !lines.some((l) => /still holds/.test(l)); i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      watch.stop();
    }
    assert.ok(
      lines.some((l) => /over its 50 kB budget \(RANKWRIGHT_HOME_MAX_GB\): removed 6 unreferenced items/.test(l)),
      lines.join('\n'),
    );
    assert.ok(lines.some((l) => /still holds [0-9.]+ [kM]B, over its 50 kB budget/.test(l)));
    for (const f of orphans) assert.ok(!fs.existsSync(f));

    // A home gc cannot read (a damaged insights database) fails the check, not the worker.
    fs.writeFileSync(path.join(home, 'insights.sqlite'), 'not a database');
    fs.rmSync(path.join(home, 'insights.sqlite-wal'), { force: true });
    fs.rmSync(path.join(home, 'insights.sqlite-shm'), { force: true });
    const failing = startHomeBudget({ maxBytes: 50_000, home, intervalMs: 1e9, log: (l) => lines.push(l) });
    try {
      assert.equal(await failing.check(), undefined);
    } finally {
      failing.stop();
    }
    assert.ok(
      lines.some((l) => /home budget check failed \(the worker keeps serving\): cannot read the insights database/.test(l)),
      lines.join('\n'),
    );
    assert.equal(await enforceHomeBudget({ maxBytes: 1e12, home }), undefined, 'under budget: nothing is planned');
  });

  it('reads RANKWRIGHT_HOME_MAX_GB; a bad value stops the worker at start with a clear error', async () => {
    assert.equal(homeBudgetFromEnv({}), undefined);
    assert.equal(homeBudgetFromEnv({ RANKWRIGHT_HOME_MAX_GB: ' ' }), undefined);
    assert.equal(homeBudgetFromEnv({ RANKWRIGHT_HOME_MAX_GB: '0.5' }), 500_000_000);
    assert.equal(homeBudgetFromEnv({ RANKWRIGHT_HOME_MAX_GB: '40' }), 40e9);
    for (const bad of ['0', '-3', 'lots', '10GB', 'NaN'])
      assert.throws(
        () => homeBudgetFromEnv({ RANKWRIGHT_HOME_MAX_GB: bad }),
        (err: unknown) => err instanceof InvalidInputError && /positive number of gigabytes/.test(err.message),
      );
    const worker = await runCli(['worker'], { RANKWRIGHT_HOME: home, RANKWRIGHT_HOME_MAX_GB: '10GB', TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(worker.code, 2, worker.stderr);
    assert.match(worker.stderr, /error: invalid RANKWRIGHT_HOME_MAX_GB: "10GB" is not a size: expected a positive number of gigabytes/);
  });
});

describe('retention: how much a campaign stored (status and report)', () => {
  ownHomePerTest();

  it('counts its artifacts (once each, an external model’s file included) and its live checkpoints', async () => {
    const base = await model('s-base', 1000);
    const probe = await model('s-probe', 500);
    const external = await externalModel('s-external');
    await log('store-1', started);
    await finished('store-1', 's-base', base, 0.9, { phase: 'baseline' });
    await finished('store-1', 's-p1', probe, 0.91, { probe: { rowFraction: 0.1, trainRows: 100 } });
    const checkpoint = await writeCheckpoint({ campaignId: 'store-1', experimentId: 's-v1', attempt: 1 }, [new Uint8Array(2000)]);
    const size = (ref: string) => fs.statSync(artifactFile(ref)).size;

    // The live status knows the external run before its event is written; a ref named twice counts once.
    const status = CampaignStatus.parse({
      ...campaignStatus(),
      campaignId: 'store-1',
      experiments: [
        experiment({ experimentId: 's-base', campaignId: 'store-1', artifact: base }),
        experiment({ experimentId: 's-v2', campaignId: 'store-1', artifact: external.ref }),
      ],
      probes: [],
      recommendation: null,
    });
    const storage = await campaignStorage('store-1', { refs: [base, external.ref] });
    assert.deepEqual(storage.artifacts, { count: 4, bytes: size(base) + size(probe) + size(external.ref) + size(external.file) });
    assert.deepEqual(storage.checkpoints, { count: 1, bytes: checkpoint.bytes });
    assert.equal(storage.bytes, storage.artifacts.bytes + storage.checkpoints.bytes);

    const line = describeStorage(storage);
    assert.match(line, /^[0-9.]+ kB: 4 artifacts \([0-9.]+ kB\), 1 live checkpoint \(2\.03 kB\)$/);
    assert.ok(formatStatus(status, storage).split('\n').includes(`storage: ${line}`));
    assert.deepEqual((statusJson(status, storage) as { storage: unknown }).storage, storage);

    // The report measures it itself, from the status it renders.
    const { path: page } = await writeCampaignReport(status, [], { storeArtifact: false });
    const html = fs.readFileSync(page, 'utf8');
    assert.ok(html.includes(`<dd id="storage">${line} in the home when this report was written</dd>`), 'the report shows the storage line');
  });
});
