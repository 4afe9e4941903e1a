import { ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, proxyActivities } from '@temporalio/workflow';
import { TASK_QUEUES } from '../contracts';
import type { DataConfig, ExternalJob, ExternalTrainer, FailureReport } from '../contracts';
import type * as activities from '../activities';
import type { TrainingJobHandle, TrainSummary } from '../activities';

/** Submitting writes the data hand-off (a full data load) and evaluating reads the predictions: training-queue work. */
const heavy = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '60 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 6,
    nonRetryableErrorTypes: ['TrainingFailure', 'InvalidInput', 'TrainerNotConfigured', 'TrainerRejected'],
  },
});

/** Polls and cancels are a few file reads or one HTTP call: any worker's agent queue serves them. */
const light = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.agent,
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 20,
    nonRetryableErrorTypes: ['TrainerNotConfigured'],
  },
});

/** Why an external job did not give a model: what the experiment reports, and whether a resubmission may help. */
export class ExternalJobFailed extends Error {
  constructor(
    readonly report: FailureReport,
    readonly state: 'failed' | 'lost' | 'timed-out',
  ) {
    super(report.message);
  }
}

export interface ExternalTraining {
  experimentId: string;
  campaignId: string;
  attempt: number;
  data: DataConfig;
  trainer: ExternalTrainer;
  segmentField: string;
  baselineArtifact?: string;
  /** Jobs a `trainingJobFinished` signal said are done (the experiment's handler fills it). */
  finished: Set<string>;
  record(state: 'submitted' | 'succeeded' | 'failed' | 'lost' | 'timed-out' | 'cancelled', jobId: string, detail?: string): Promise<void>;
}

/**
 * Trains through an external job: submit (an activity that returns at once with a handle), then sleep on a durable
 * timer — no activity runs and no worker slot is held — until a signal says the job finished or a poll finds it
 * done, within the trainer's timeout. Polls start at a second and double up to `pollSeconds`, so a two-minute job is
 * noticed within seconds and a three-day one costs a few hundred polls. The wait is workflow state: a worker
 * restart, or all workers being down for a while, changes nothing. Cancelling the experiment cancels the job.
 */
export async function trainExternally(t: ExternalTraining): Promise<{ summary: TrainSummary; job: ExternalJob }> {
  const handle: TrainingJobHandle = await heavy.submitTrainingJob({
    experimentId: t.experimentId,
    attempt: t.attempt,
    data: t.data,
    trainer: t.trainer,
  });
  await t.record('submitted', handle.jobId, `${t.trainer.kind} trainer ${t.trainer.name}`);
  const submittedAt = Date.now();
  const deadline = submittedAt + t.trainer.timeoutSeconds * 1000;
  let waitMs = 1000;
  let polls = 0;
  let signalled = false;
  try {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        await light.cancelTrainingJob(handle);
        await t.record('timed-out', handle.jobId, `no result after ${t.trainer.timeoutSeconds} s; the job was cancelled`);
        throw failed('timed-out', `external job ${handle.jobId} ran past its timeout (${t.trainer.timeoutSeconds} s) and was cancelled`, submittedAt);
      }
      if (await condition(() => t.finished.has(handle.jobId), Math.min(waitMs, left))) signalled = true;
      t.finished.delete(handle.jobId);
      const poll = await light.pollTrainingJob(handle);
      polls++;
      if (poll.state === 'succeeded') {
        // A signal that landed while this poll ran still counts: the trainer did call back.
        if (t.finished.has(handle.jobId)) signalled = true;
        break;
      }
      if (poll.state === 'failed' || poll.state === 'lost') {
        await t.record(poll.state, handle.jobId, poll.detail);
        throw failed(
          poll.state,
          `external job ${handle.jobId} ${poll.state === 'lost' ? 'was lost' : 'failed'}: ${poll.detail ?? 'no detail'}`,
          submittedAt,
        );
      }
      waitMs = Math.min(waitMs * 2, t.trainer.pollSeconds * 1000);
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        await light.cancelTrainingJob(handle);
        await t.record('cancelled', handle.jobId);
      });
    }
    throw err;
  }
  const seconds = (Date.now() - submittedAt) / 1000;
  const summary = await heavy
    .collectTrainingJob({ handle, data: t.data, segmentField: t.segmentField, baselineArtifact: t.baselineArtifact, seconds })
    .catch((err: unknown) => {
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === 'TrainingFailure')
        throw failed('failed', `external job ${handle.jobId} finished, but its outputs could not be used: ${cause.message}`, submittedAt);
      throw err;
    });
  await t.record(
    'succeeded',
    handle.jobId,
    `NE ${summary.metrics.ne.toFixed(4)} after ${Math.round(seconds)} s, ${polls} polls${signalled ? ', woken by a signal' : ''}`,
  );
  return {
    summary,
    job: { kind: handle.kind, name: handle.name, params: handle.params, jobId: handle.jobId, waitedSeconds: seconds, polls, signalled },
  };
}

function failed(state: ExternalJobFailed['state'], message: string, submittedAt: number): ExternalJobFailed {
  // A lost or timed-out job says nothing about its config: infrastructure (resubmitted). A job that failed is the
  // trainer's own verdict on its input: bad data for triage, not retried. Either way the job had the trainer's machines
  // from its submission on (workflow time, as a finished job's seconds): the trainSeconds budget counts that.
  const trainSeconds = (Date.now() - submittedAt) / 1000;
  return new ExternalJobFailed({ failureClass: state === 'failed' ? 'bad-data' : 'infrastructure', message, lastProgress: [], trainSeconds }, state);
}
