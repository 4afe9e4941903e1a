import { strict as assert } from 'node:assert';
import { Worker } from '@temporalio/worker';
import { TASK_QUEUES, WORKFLOW_TYPES } from '../../contracts/names';
import type { CampaignEvent, ExperimentInputRaw, ExperimentResult } from '../../contracts';
import { interpretFailure } from '../../activities/agents';
import { recordExperiment } from '../../activities/records';
import { InsightsStore } from '../../store/insights';
import { scriptedActivities } from '../support/scripted-activities';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { withWorkers } from '../support/workers';

/**
 * Issue 10, item 5: a fix that worked for a failure class is recorded, and looked up the next time that class occurs.
 * Real Temporal, the real workflow, the real triage and record activities on the real insights database; only
 * training is scripted (it diverges above learning rate 0.5).
 */
describe('rankingExperiment remembers the fix that worked (real Temporal, scripted training)', function () {
  this.timeout(180_000);
  let temporal: TemporalForTests;
  before(async () => (temporal = await useTemporal()));

  it('a second experiment that diverges the same way retries straight to the remembered config: one retry instead of two', async () => {
    const stamp = Date.now().toString(36);
    // Data of its own, so remedies other tests recorded in this run's insights database are not found.
    const script = scriptedActivities({ divergeAbove: 0.5, dataFingerprint: `fp-remembered-${stamp}` });
    const activities = { ...script.activities, interpretFailure, recordExperiment };
    const input = (experimentId: string): ExperimentInputRaw => ({
      experimentId,
      data: { planted: { seed: 11 } },
      model: { family: 'lr', learningRate: 3 },
      agents: 'heuristic',
    });
    const run = (experimentId: string): Promise<ExperimentResult> =>
      temporal.client.workflow.execute(WORKFLOW_TYPES.experiment, {
        taskQueue: TASK_QUEUES.agent,
        workflowId: experimentId,
        args: [input(experimentId)],
      });
    const triageOf = (experimentId: string) =>
      script.events.filter((e): e is Extract<CampaignEvent, { type: 'triage' }> => e.type === 'triage' && e.experimentId === experimentId);
    const trainedLr = (experimentId: string) => script.trained.filter((t) => t.experimentId === experimentId).map((t) => t.model.learningRate);

    await withWorkers(temporal, activities, async () => {
      // First: the runbook walks 3 → 0.9 (diverges again) → 0.27.
      const first = `remember-a-${stamp}`;
      const a = await run(first);
      assert.equal(a.status, 'succeeded');
      assert.deepEqual(trainedLr(first), [3, 0.9, 0.27]);
      assert.ok(
        triageOf(first).every((e) => e.rememberedFix === undefined && !/remembered/.test(e.fix)),
        'nothing to remember yet',
      );
      const store = await InsightsStore.open();
      try {
        assert.deepEqual(
          (await store.listRemedies()).filter((r) => r.experimentId === first).map((r) => [r.outcome, r.fromAttempt, r.toAttempt]),
          [
            ['failed', 1, 2],
            ['worked', 1, 3],
          ],
        );
      } finally {
        await store.close();
      }

      // Second, same failure on the same data: one retry, straight to what worked.
      const second = `remember-b-${stamp}`;
      const b = await run(second);
      assert.equal(b.status, 'succeeded');
      assert.deepEqual(trainedLr(second), [3, 0.27]);
      assert.equal(b.attempts.length, 2);
      assert.equal(b.config.learningRate, 0.27);
      assert.equal(b.config.gradientClip, 2.5);
      const [event] = triageOf(second);
      assert.equal(
        event.fix,
        `retry with learningRate 3 → 0.27, gradient clipping at 2.5; remembered from experiment ${first} (worked 1 time, on the same data)`,
      );
      assert.equal(event.rememberedFix?.fromExperiment, first);
      assert.deepEqual(event.rememberedFix?.changes, { learningRate: 0.27, learningRateRatio: 0.09, gradientClip: 2.5 });
      assert.match(b.attempts[0].triage!.fix, new RegExp(`remembered from experiment ${first}`), "the triage agent's fix quotes it too");
      // The new decision sits behind patched('remembered-fixes'): its marker is in the history, which replays.
      const history = await temporal.client.workflow.getHandle(second).fetchHistory();
      assert.ok(
        history.events?.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch'),
        'a patch marker was recorded',
      );
      await Worker.runReplayHistory({ workflowBundle: temporal.bundle }, history, second);

      // Third: the same fix has now worked twice.
      const third = `remember-c-${stamp}`;
      await run(third);
      assert.deepEqual(trainedLr(third), [3, 0.27]);
      assert.match(triageOf(third)[0].fix, /remembered from experiment remember-[ab]-\w+ \(worked 2 times, on the same data\)$/);
    });
  });
});
