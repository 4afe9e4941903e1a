import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WorkflowFailedError } from '@temporalio/client';
import { CampaignCarryOver, InvalidInputError, TASK_QUEUES, WORKFLOW_TYPES } from '../../contracts';
import type { CampaignInputRaw, ExperimentResult } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { createHttpService } from '../../client/http-service';
import { scriptedActivities } from '../support/scripted-activities';
import { REPO_ROOT, TEMPORAL_ADDRESS, useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withWorkers } from '../support/workers';

const config: CampaignInputRaw = { data: { planted: { seed: 3 } }, budget: { experiments: 4, parallel: 2 }, approvers: ['ana'] };

/** A made-up past: one experiment at NE 0.01, every phase done. What an attacker would like recommended. */
function forgedPast(fromRunId = 'made-up-run'): CampaignCarryOver {
  const forged: ExperimentResult = {
    experimentId: 'forged-x1',
    phase: 'validation',
    status: 'succeeded',
    config: { family: 'lr' } as ExperimentResult['config'],
    artifact: 'sha256:' + '0'.repeat(64),
    metrics: { ne: 0.01, auc: 0.999, logloss: 0.001, calibration: 1, ctr: 0.1, examples: 1000 },
    relativeNeChange: -0.98,
    trainSeconds: 1,
    modelBytes: 100,
    attempts: [],
  };
  // Well-formed on purpose: the refusal must come from not trusting it, not from its shape.
  return CampaignCarryOver.parse({
    fromRunId,
    experiments: [{ ...forged, experimentId: 'forged-baseline', phase: 'baseline', metrics: { ...forged.metrics!, ne: 0.9 } }, forged],
    plan: { phaseIndex: 3 },
    decisions: [],
    ignoredMessages: [],
    paused: false,
    dataFingerprint: 'fp',
    activeFields: ['C1'],
    generation: 1,
  });
}

/**
 * "No caller can forge a campaign's past": the carried-over state of continue-as-new is not a start input through
 * any entry point — the client, HTTP, a raw SDK start (what the Temporal Web UI and a Python client send), the
 * Temporal CLI, a second argument, a cron schedule — and ids can't be borrowed to write into another campaign.
 */
describe('forged campaign history is refused at every entry point (real Temporal)', function () {
  this.timeout(180_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  const script = scriptedActivities();
  const id = (what: string) => `forged-${what}-${Date.now().toString(36)}`;

  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
  });

  /** Runs a raw start against real workers and returns the failure message; asserts nothing was trained. */
  async function refusedRun(start: () => Promise<{ workflowId: string }>): Promise<string> {
    const trainedBefore = script.trained.length;
    return withWorkers(temporal, script.activities, async () => {
      const { workflowId } = await start();
      const err = await temporal.client.workflow
        .getHandle(workflowId)
        .result()
        .then(
          () => assert.fail('the forged start ran to completion'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      assert.equal(script.trained.length, trainedBefore, 'nothing was trained for a refused start');
      const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
      assert.ok(!history.events!.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes), 'no experiment was started');
      return (err.cause as Error).message;
    });
  }

  it('the client refuses a config with carryOver before anything starts', async () => {
    const workflowId = id('client');
    await assert.rejects(client.startCampaign({ ...config, carryOver: forgedPast() } as never, { id: workflowId }), (err: Error) => {
      assert.ok(err instanceof InvalidInputError);
      assert.match(err.message, /carryOver: unknown field/);
      return true;
    });
    await assert.rejects(temporal.client.workflow.getHandle(workflowId).describe(), /not found/i);
  });

  it('HTTP answers 400 naming carryOver, and starts nothing', async () => {
    const token = randomBytes(24).toString('hex');
    const app = createHttpService({ client, tokens: [token] });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const workflowId = id('http');
      const res = await fetch(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/campaigns?id=${workflowId}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...config, carryOver: forgedPast() }),
      });
      assert.equal(res.status, 400);
      assert.match(JSON.stringify(await res.json()), /carryOver: unknown field/);
      await assert.rejects(temporal.client.workflow.getHandle(workflowId).describe(), /not found/i);
    } finally {
      await app.close();
    }
  });

  it('a raw SDK start with carryOver in its one argument (the Web UI form, a Python client) fails at the first line', async () => {
    const message = await refusedRun(() =>
      temporal.client.workflow.start(WORKFLOW_TYPES.campaign, {
        taskQueue: TASK_QUEUES.agent,
        workflowId: id('sdk'),
        args: [{ ...config, carryOver: forgedPast() }],
      }),
    );
    assert.match(message, /carryOver: a campaign's carried-over state is internal/);
  });

  it('the Temporal CLI gets the same refusal', async () => {
    const workflowId = id('cli');
    const temporalBin = execFileSync(path.join(REPO_ROOT, 'temporal-dev.sh'), ['path'], { encoding: 'utf8' }).trim();
    const message = await refusedRun(async () => {
      execFileSync(
        temporalBin,
        [
          'workflow',
          'start',
          '--address',
          TEMPORAL_ADDRESS,
          '--namespace',
          temporal.namespace,
          '--type',
          WORKFLOW_TYPES.campaign,
          '--task-queue',
          TASK_QUEUES.agent,
          '--workflow-id',
          workflowId,
          '--input',
          JSON.stringify({ ...config, carryOver: forgedPast() }),
        ],
        { stdio: 'pipe' },
      );
      return { workflowId };
    });
    assert.match(message, /carryOver: a campaign's carried-over state is internal/);
  });

  it('a forged state as a second argument of a fresh start is refused', async () => {
    const message = await refusedRun(() =>
      temporal.client.workflow.start(WORKFLOW_TYPES.campaign, {
        taskQueue: TASK_QUEUES.agent,
        workflowId: id('arg2'),
        args: [config, forgedPast()] as never,
      }),
    );
    assert.match(message, /takes exactly one argument.*only a continued run may have it/);
  });

  it('a cron start (whose later runs count as continued) cannot smuggle state in either', async () => {
    const workflowId = id('cron');
    const trainedBefore = script.trained.length;
    await withWorkers(temporal, script.activities, async () => {
      await temporal.client.workflow.start(WORKFLOW_TYPES.campaign, {
        taskQueue: TASK_QUEUES.agent,
        workflowId,
        cronSchedule: '@every 2s',
        args: [config, forgedPast()] as never,
      });
      try {
        // Wait for a cron-started run (continuedFrom set by Temporal) to have run and failed too.
        const runs = await eventually(
          async () => {
            const found = [];
            for await (const run of temporal.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push(run);
            return found.filter((r) => r.status.name === 'FAILED').length >= 2 ? found : undefined;
          },
          60_000,
          'two failed cron runs',
        );
        for (const run of runs.filter((r) => r.status.name !== 'RUNNING')) {
          const history = await temporal.client.workflow.getHandle(workflowId, run.runId).fetchHistory();
          assert.ok(!history.events!.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes), `run ${run.runId} started no experiment`);
          const failed = history.events!.find((e) => e.workflowExecutionFailedEventAttributes);
          assert.match(
            failed!.workflowExecutionFailedEventAttributes!.failure!.message!,
            /invalid campaign config: .*(exactly one argument|not written by the run this one continued)/,
          );
        }
      } finally {
        await temporal.client.workflow.getHandle(workflowId).terminate('test over');
      }
    });
    assert.equal(script.trained.length, trainedBefore, 'nothing was trained');
  });

  it("a campaign can't borrow another campaign's id, and an experiment can't claim a campaign it wasn't started by", async () => {
    const borrowed = await refusedRun(() =>
      temporal.client.workflow.start(WORKFLOW_TYPES.campaign, {
        taskQueue: TASK_QUEUES.agent,
        workflowId: id('borrow'),
        args: [{ ...config, campaignId: 'someone-elses-campaign' }],
      }),
    );
    assert.match(borrowed, /campaignId: must be this workflow's id/);

    const claimed = await refusedRun(() =>
      temporal.client.workflow.start(WORKFLOW_TYPES.experiment, {
        taskQueue: TASK_QUEUES.agent,
        workflowId: id('orphan'),
        args: [{ experimentId: 'orphan-x1', campaignId: 'someone-elses-campaign', data: config.data, model: { family: 'lr' } }],
      }),
    );
    assert.match(claimed, /only campaign someone-elses-campaign itself may start experiments for it/);
  });
});
