import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflows } from '../../workers/bundle';
import { historyFromFixture } from '../support/history-fixtures';

const HISTORIES = path.join(__dirname, '..', 'fixtures', 'histories');

function loadHistories(prefix?: string) {
  return fs
    .readdirSync(HISTORIES)
    .filter((f) => f.endsWith('.json') && (!prefix || f.startsWith(prefix)))
    .map((file) => {
      const history = historyFromFixture(fs.readFileSync(path.join(HISTORIES, file), 'utf8'));
      return { workflowId: recordedWorkflowId(history), file, history };
    });
}

/** The id a history ran under (workflows check it against their input): a campaign's id, an experiment's id. */
function recordedWorkflowId(history: ReturnType<typeof historyFromFixture>): string {
  const started = history.events![0].workflowExecutionStartedEventAttributes!;
  const input = JSON.parse(Buffer.from(started.input!.payloads![0].data!).toString('utf8')) as { campaignId?: string; experimentId?: string };
  const id = started.workflowType!.name === 'rankingCampaign' ? input.campaignId : input.experimentId;
  assert.ok(id, 'a recorded history names its campaign or experiment id');
  return id;
}

/**
 * Every recorded history in test/fixtures/histories (campaigns approved, halted by a guardrail and overridden;
 * experiments with a divergence retry) must replay against today's workflow code. A change that breaks one needs
 * patched() — and the second test shows that an unpatched change is caught.
 */
describe('workflow determinism (replay of recorded histories)', function () {
  this.timeout(180_000);

  it('has recorded histories of both workflow types', () => {
    const files = loadHistories().map((h) => h.file);
    assert.ok(
      files.some((f) => f.startsWith('campaign-')),
      'a rankingCampaign history',
    );
    assert.ok(
      files.some((f) => f.startsWith('experiment-')),
      'a rankingExperiment history',
    );
  });

  it('replays every recorded history against the current workflow code', async () => {
    const bundle = await bundleWorkflows();
    const histories = loadHistories();
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      assert.equal(result.error, undefined, `${result.workflowId}: ${result.error?.message}`);
      replayed++;
    }
    assert.equal(replayed, histories.length);
  });

  it('the portfolio wave is replay-safe: campaigns recorded with and without it replay (patched)', async () => {
    const children = (file: string) => {
      const { history } = loadHistories().find((h) => h.file === file)!;
      const patches = history
        .events!.filter((e) => e.markerRecordedEventAttributes)
        .flatMap((e) => Object.values(e.markerRecordedEventAttributes!.details ?? {}).flatMap((d) => d.payloads ?? []))
        .map((p) => Buffer.from(p.data!).toString('utf8'));
      const titles = history
        .events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
        .map((e) => JSON.parse(Buffer.from(e.startChildWorkflowExecutionInitiatedEventAttributes!.input!.payloads![0].data!).toString('utf8')))
        .map((input: { hypothesis: { title: string } }) => input.hypothesis.title);
      return { patched: patches.some((p) => p.includes('"portfolio"')), portfolio: titles.filter((t) => t.startsWith('Portfolio:')) };
    };
    const before = children('campaign-approved.2026-12-06-validation-decides.json');
    assert.deepEqual(before, { patched: false, portfolio: [] });
    const after = children('campaign-approved.2026-12-06-portfolio.json');
    assert.ok(after.patched, 'the portfolio patch marker');
    assert.deepEqual(after.portfolio, ['Portfolio: fm at its defaults', 'Portfolio: dcn at its defaults'], 'its probe round opens with the families');
    const bundle = await bundleWorkflows();
    const histories = loadHistories('campaign-approved.2026-12-06-').filter((h) => /-(validation-decides|portfolio)\.json$/.test(h.file));
    assert.equal(histories.length, 2);
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories))
      assert.equal(result.error, undefined, `${result.workflowId}: ${result.error?.message}`);
  });

  it('records as local activities, the first signal beside the research: histories recorded before and after replay (patched)', async () => {
    /** What a history did with its records: the patch marker, record activities scheduled, local activities' types. */
    const records = (file: string) => {
      const { history } = loadHistories().find((h) => h.file === file)!;
      const markers = history.events!.filter((e) => e.markerRecordedEventAttributes);
      const payloads = (e: (typeof markers)[number]) =>
        Object.values(e.markerRecordedEventAttributes!.details ?? {})
          .flatMap((d) => d.payloads ?? [])
          .map((p) => Buffer.from(p.data!).toString('utf8'));
      const local = markers
        .filter((e) => e.markerRecordedEventAttributes!.markerName === 'core_local_activity')
        .map((e) => e.markerRecordedEventAttributes!.details!.data.payloads![0].data!)
        .map((data) => (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string }).activity_type);
      const activities = history
        .events!.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name!] : []))
        .filter((name) => name.startsWith('record'));
      return {
        patched: markers.some((e) => payloads(e).some((p) => p.includes('"local-records"'))),
        activities: [...new Set(activities)],
        local: [...new Set(local)],
      };
    };
    // Recorded at 440044c, before the change: every record was an activity round trip.
    assert.deepEqual(records('experiment-diverged-retry.2026-12-06-before-local-records.json'), {
      patched: false,
      activities: ['recordEvents', 'recordExperiment'],
      local: [],
    });
    assert.deepEqual(records('campaign-approved.2026-12-06-before-local-records.json'), { patched: false, activities: ['recordEvents'], local: [] });
    // Recorded after: the same records as local activities, under the patch.
    assert.deepEqual(records('experiment-diverged-retry.2026-12-06-local-records.json'), {
      patched: true,
      activities: [],
      local: ['recordEvents', 'recordExperiment'],
    });
    assert.deepEqual(records('campaign-approved.2026-12-06-local-records.json'), { patched: true, activities: [], local: ['recordEvents'] });
    // The first phase's interaction signal: asked after the research step before, beside it (the same task) after.
    const analysis = (file: string) => {
      const { history } = loadHistories().find((h) => h.file === file)!;
      return history.events!.flatMap((e) => {
        const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
        return name === 'researchBaseline' || name === 'measureInteractions'
          ? [`${name} by task ${String(e.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId)}`]
          : [];
      });
    };
    const [research, signal] = analysis('campaign-approved.2026-12-06-before-local-records.json');
    assert.ok(research.startsWith('researchBaseline') && signal.startsWith('measureInteractions'), `before: ${research}, ${signal}`);
    assert.notEqual(research.split(' by ')[1], signal.split(' by ')[1], 'before: one after the other');
    const [signalNow, researchNow] = analysis('campaign-approved.2026-12-06-local-records.json');
    assert.ok(signalNow.startsWith('measureInteractions') && researchNow.startsWith('researchBaseline'), `after: ${signalNow}, ${researchNow}`);
    assert.equal(signalNow.split(' by ')[1], researchNow.split(' by ')[1], 'after: asked in the same workflow task');
    const bundle = await bundleWorkflows();
    const histories = loadHistories().filter(
      (h) => h.file.includes('.2026-12-06-before-local-records.') || h.file.includes('.2026-12-06-local-records.'),
    );
    assert.equal(histories.length, 8, 'both workflow types, before and after');
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories))
      assert.equal(result.error, undefined, `${result.workflowId}: ${result.error?.message}`);
  });

  it('catches an unpatched change to workflow code', async () => {
    const bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../fixtures/workflow-variants/unpatched-experiment'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    const histories = loadHistories('experiment-');
    assert.ok(histories.length > 0);
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      assert.ok(result.error instanceof DeterminismViolationError, `${result.workflowId} should fail to replay, got ${result.error}`);
    }
  });
});
