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
    const histories = loadHistories('campaign-approved.2026-12-06-');
    assert.equal(histories.length, 2);
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
