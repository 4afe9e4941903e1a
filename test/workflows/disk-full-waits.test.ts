import { strict as assert } from 'node:assert';
import { ApplicationFailure } from '@temporalio/activity';
import { TASK_QUEUES, WORKFLOW_TYPES } from '../../contracts/names';
import type { CampaignEvent, ExperimentInputRaw, ExperimentResult } from '../../contracts';
import type { TrainModelInput } from '../../activities';
import { interpretFailure } from '../../activities/agents';
import { diskFullFailureOf } from '../../ranking/failure';
import { DiskFullError } from '../../store/disk-space';
import { scriptedActivities } from '../support/scripted-activities';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { withWorkers } from '../support/workers';

/**
 * Issue 23: a training that meets a full disk fails as `resource` naming the disk, and the experiment waits for space
 * and retries the very same config — not a smaller model, and without using up maxAttempts (here 1: no model change
 * would be allowed at all). Real Temporal, the real workflow and the real triage; the training is scripted to meet a
 * full disk once, with the failure report the real training activity builds.
 */
describe('rankingExperiment waits out a full disk (real Temporal, scripted training)', function () {
  this.timeout(120_000);
  let temporal: TemporalForTests;
  before(async () => (temporal = await useTemporal()));

  it('retries the same config after a 30 s wait, with maxAttempts 1, and triage says to free disk space', async () => {
    const script = scriptedActivities();
    const report = diskFullFailureOf(new DiskFullError('an artifact', '/data/rw/artifacts', 0))!.toReport();
    let metDisk = false;
    const trainModel = async (input: TrainModelInput) => {
      if (!metDisk) {
        metDisk = true;
        script.trained.push(input);
        throw ApplicationFailure.create({ type: 'TrainingFailure', nonRetryable: true, message: report.message, details: [report] });
      }
      return script.activities.trainModel(input);
    };
    const experimentId = `disk-full-wait-${Date.now().toString(36)}`;
    const input: ExperimentInputRaw = {
      experimentId,
      data: { planted: { seed: 11 } },
      model: { family: 'fm', hashBits: 20, embeddingDim: 16 },
      agents: 'heuristic',
      maxAttempts: 1,
    };
    const result: ExperimentResult = await withWorkers(temporal, { ...script.activities, trainModel, interpretFailure }, () =>
      temporal.client.workflow.execute(WORKFLOW_TYPES.experiment, { taskQueue: TASK_QUEUES.agent, workflowId: experimentId, args: [input] }),
    );

    assert.equal(result.status, 'succeeded');
    assert.equal(script.trained.length, 2);
    assert.deepEqual(script.trained[1].model, script.trained[0].model, 'the same config, unchanged');
    assert.deepEqual(
      result.attempts.map((a) => [a.failure?.failureClass, a.failure?.diskFull]),
      [
        ['resource', { path: '/data/rw/artifacts', freeBytes: 0 }],
        [undefined, undefined],
      ],
    );
    // The wait is a durable timer of the first backoff step, not a busy retry.
    const history = await temporal.client.workflow.getHandle(experimentId).fetchHistory();
    const timers = (history.events ?? []).flatMap((e) =>
      e.timerStartedEventAttributes ? [Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds)] : [],
    );
    assert.deepEqual(timers, [30]);
    const triage = script.events.find((e): e is Extract<CampaignEvent, { type: 'triage' }> => e.type === 'triage');
    assert.ok(triage);
    assert.equal(triage.failureClass, 'resource');
    assert.match(triage.diagnosis, /full disk.*disk full writing an artifact under \/data\/rw\/artifacts: 0 MB free/);
    assert.match(triage.fix, /^free disk space under \/data\/rw\/artifacts \(0 MB free\); the same config is retried in 30 s/);
  });
});
