import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DataConfig, ModelConfig, TrainingProgress } from '../contracts';
import { dataFingerprint, diskFullFailureOf, resourceFailureOf, TrainingFailure, type TrainExperimentResult } from '../ranking';
import { downsampleCurve } from '../ranking/learning-curve';
import { appendEvents } from '../store/event-log';
import { trainingPool } from '../workers/training-pool';
import { deleteCheckpoints, deleteOtherAttempts, hasCheckpoint } from '../store/checkpoints';
import { whileWaitingForStore } from '../store/object-store';
import { checkDataAccess } from './data-access';

export interface TrainModelInput {
  experimentId: string;
  campaignId: string;
  attempt: number;
  data: DataConfig;
  model: ModelConfig;
  segmentField: string;
  baselineArtifact?: string;
}

/** What goes back into workflow history: references and small summaries only, never weights, data or logs. */
export type TrainSummary = Omit<TrainExperimentResult, 'progress'>;

/** Seconds between progress events in the campaign's event log (the dashboard's refresh rate). */
const PROGRESS_EVERY_MS = 2000;

/** Learning-curve points an experiment's result carries into workflow history. */
const CURVE_POINTS_IN_HISTORY = 50;

/**
 * Trains one model on the training queue. The attempt keeps one checkpoint on disk, replaced every few minutes of
 * training and deleted when the run ends; heartbeats carry its step, so a worker that dies mid-run is replaced by
 * one that resumes from that checkpoint (same final model as an uninterrupted run).
 * A classified TrainingFailure becomes a non-retryable ApplicationFailure carrying its report: the workflow's
 * deterministic retry policy decides what follows. Anything else is infrastructure and Temporal retries it.
 */
export async function trainModel(input: TrainModelInput): Promise<TrainSummary> {
  const ctx = Context.current();
  // This thread meets the shared store only before training (superseded checkpoints to delete) and after it (the
  // run's own): a wait for the store there heartbeats with what the last try announced, so an outage is not taken
  // for a dead worker. The training thread does the same for its own waits (workers/training-thread.ts).
  return whileWaitingForStore(
    () => ctx.heartbeat(ctx.info.heartbeatDetails),
    () => trainAttempt(input, ctx),
  );
}

async function trainAttempt(input: TrainModelInput, ctx: Context): Promise<TrainSummary> {
  checkDataAccess(input.data);
  const slot = { campaignId: input.campaignId, experimentId: input.experimentId, attempt: input.attempt };
  // The experiment's earlier attempts trained another config: their checkpoints can never be resumed.
  await deleteOtherAttempts(slot);
  // A retry of this attempt (another worker, after a crash) resumes from the attempt's checkpoint: the one its last
  // heartbeat names, or one written just before the worker died, before a heartbeat could say so.
  const heartbeat = ctx.info.heartbeatDetails as { checkpointStep?: number; attempt?: number } | undefined;
  const announced = heartbeat?.attempt === input.attempt ? heartbeat.checkpointStep : undefined;
  const resume = ctx.info.attempt > 1 && (announced !== undefined || hasCheckpoint(slot));
  if (!resume && hasCheckpoint(slot)) await deleteCheckpoints(slot); // left by a run of the same ids that is gone
  if (resume) ctx.log.info('resuming training from checkpoint', { experimentId: input.experimentId, attempt: input.attempt, step: announced });

  let lastProgressAt = 0;
  let checkpointStep = announced;
  const onProgress = (progress: TrainingProgress) => {
    ctx.heartbeat({ checkpointStep, attempt: input.attempt, step: progress.step });
    const now = Date.now();
    if (now - lastProgressAt < PROGRESS_EVERY_MS) return;
    lastProgressAt = now;
    // Progress events are best-effort (the dashboard's refresh): one the log cannot take is dropped, never allowed
    // to fail the run or, unawaited, to take the worker down as an unhandled rejection.
    appendEvents(input.campaignId, [
      {
        type: 'experiment.progress',
        eventId: `${input.experimentId}:a${input.attempt}:progress:${progress.step}`,
        campaignId: input.campaignId,
        experimentId: input.experimentId,
        progress,
      },
    ]).catch((err: unknown) => {
      ctx.log.warn('dropped a progress event: the event log could not be written', {
        experimentId: input.experimentId,
        step: progress.step,
        error: err instanceof Error ? err.message : String(err),
      });
    });
  };
  // A checkpoint the retry could not use: the attempt trains again from its first step, and the campaign's log says so.
  const onWarning = (message: string) => {
    ctx.log.warn(message, { experimentId: input.experimentId, attempt: input.attempt });
    recordWarning(input, ctx.info.attempt, message).catch((err: unknown) =>
      ctx.log.warn('could not record a warning event', { experimentId: input.experimentId, error: err instanceof Error ? err.message : String(err) }),
    );
  };
  try {
    // The training runs on a thread of the pool (workers/training-pool.ts): this thread stays free to heartbeat,
    // append progress events and pass on cancellation, all fed by the thread's messages.
    const request = {
      data: input.data,
      model: input.model,
      segmentField: input.segmentField,
      baselineArtifact: input.baselineArtifact,
      checkpoint: { slot, resume },
    };
    const out = await trainingPool().run(
      { kind: 'train', request, checkpoints: true },
      {
        onProgress,
        onCheckpoint: (_file, progress) => {
          checkpointStep = progress.step;
          ctx.heartbeat({ checkpointStep, attempt: input.attempt, step: progress.step });
        },
        onWarning,
        // Scoring after training sends no progress: heartbeat from it, or a long DCN pass reads as a dead worker.
        onAlive: () => ctx.heartbeat({ checkpointStep, attempt: input.attempt }),
        signal: ctx.cancellationSignal,
      },
    );
    // The run is over: its checkpoint has nothing left to resume.
    await deleteCheckpoints(slot);
    // The progress log stays out of history: it went to the event log as it happened.
    const { progress: _progress, ...summary } = out;
    // Every experiment's result stays in the campaign's state: its learning curve travels thinned (the artifact keeps
    // the full one), always with the best evaluation.
    const best = out.learningCurve.find((p) => p.step === out.earlyStopping.bestStep);
    return { ...summary, learningCurve: downsampleCurve(out.learningCurve, CURVE_POINTS_IN_HISTORY, best) };
  } catch (caught) {
    // A cancelled run will not be retried: nothing will resume from its checkpoint.
    if (ctx.cancellationSignal.aborted) await deleteCheckpoints(slot);
    // A write that met a full disk (a checkpoint, the model, a row cache) is a resource failure that names the folder
    // and the space left; its report's `diskFull` makes the workflow wait for space and retry the same config.
    // A real allocation failure is a resource failure (retried smaller), not an infrastructure one; so is a thread
    // that ran past its heap limit (ThreadOutOfMemory, a RangeError saying "out of memory").
    const err = diskFullFailureOf(caught) ?? resourceFailureOf(caught, input.model) ?? caught;
    if (err instanceof TrainingFailure) {
      // A classified failure ends the attempt (the workflow retries with another config, or not at all).
      await deleteCheckpoints(slot);
      // The report names the data it failed on (this worker can read it), so triage can look up what fixed this
      // failure on the same data before. Best-effort: a report without it is still a report.
      const fingerprint = await dataFingerprint(input.data).catch(() => undefined);
      const details = [{ ...err.toReport(), ...(fingerprint ? { dataFingerprint: fingerprint } : {}) }];
      throw ApplicationFailure.create({ type: 'TrainingFailure', message: err.message, nonRetryable: true, details });
    }
    throw err;
  }
}

/** A warning in the campaign's event log, once per activity try (a retried write does not repeat it). */
async function recordWarning(input: TrainModelInput, activityAttempt: number, message: string): Promise<void> {
  await appendEvents(input.campaignId, [
    {
      type: 'experiment.warning',
      eventId: `${input.experimentId}:a${input.attempt}:t${activityAttempt}:warning`,
      campaignId: input.campaignId,
      experimentId: input.experimentId,
      message,
    },
  ]);
}
