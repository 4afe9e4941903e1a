import {
  ActivityFailure,
  ApplicationFailure,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import { ExperimentInput, FailureReport, SIGNALS, TASK_QUEUES, TrainingJobFinished } from '../contracts';
import type { Attempt, ExperimentResult, NewCampaignEvent } from '../contracts';
import type * as activities from '../activities';
import { parseWorkflowInput } from './input';
import { failedResult, gaveUpFix, succeededResult } from './experiment-result';
import { applyRememberedFix, rawDenseRetry, retryAfterDiskFull, retryAfterFailure, type RetryDecision } from './retry-policy';
import { ExternalJobFailed, trainExternally } from './external-training';
import { decisions, localRecords, records } from './activity-proxies';

/** Its external training job finished (sent by the HTTP service or the job's owner): poll it now instead of later. */
export const trainingJobFinished = defineSignal<[unknown]>(SIGNALS.trainingJobFinished);

const training = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout: '4 hours',
  // Training heartbeats many times a second; a silent worker is presumed dead and the activity moves to another
  // worker, which resumes from the checkpoint carried in the last heartbeat.
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 6,
    nonRetryableErrorTypes: ['TrainingFailure', 'InvalidInput'],
  },
});

/**
 * One experiment: train → evaluate → record. A classified failure gets triaged (advice, recorded) and the
 * deterministic retry policy decides whether to try again with a changed config — jumping straight to a fix the
 * insights database remembers working for this failure class (triage's rememberedFix), within the runbook's bounds.
 */
export async function rankingExperiment(rawInput: unknown): Promise<ExperimentResult> {
  const input = parseWorkflowInput(ExperimentInput, rawInput, 'experiment config');
  // Only a campaign's own children may write into its event log and results: a standalone experiment that names a
  // campaign it was not started by is refused.
  if (input.campaignId !== undefined && workflowInfo().parent?.workflowId !== input.campaignId) {
    throw ApplicationFailure.create({
      type: 'InvalidInput',
      nonRetryable: true,
      message: `invalid experiment config: campaignId: only campaign ${input.campaignId} itself may start experiments for it; leave campaignId out for a standalone experiment`,
    });
  }
  const id = input.experimentId;
  const campaignId = input.campaignId ?? id;
  // Records are local activities (issue 26): the started event goes out with the training's scheduling and the result
  // with the workflow's completion, each in one workflow task instead of an activity round trip. Experiments recorded
  // before replay with the activities they had (asked once: the answer holds for the whole run).
  const record = patched('local-records') ? localRecords : records;
  await record.recordEvents(campaignId, [
    {
      type: 'experiment.started',
      eventId: `${id}:started`,
      campaignId,
      experimentId: id,
      family: input.model.family,
      title: input.hypothesis?.title,
    },
  ]);

  const who = {
    experimentId: id,
    campaignId: input.campaignId,
    phase: input.phase,
    hypothesis: input.hypothesis,
    baselineNe: input.baselineNe,
    baselineValidationNe: input.baselineValidationNe,
    probe: input.probe,
  };
  const attempts: Attempt[] = [];
  let config = input.model;
  // Attempts that met a full disk and the time waited for space: they retry the same config and use up none of
  // maxAttempts, which bounds the model changes.
  const diskWaits = { count: 0, seconds: 0 };
  let result: ExperimentResult | undefined;
  const trainer = input.trainer;
  if (trainer && trainer.kind !== 'builtin') {
    // A finished-job signal only wakes the wait: the poll that follows reads the job's real state, so a forged or
    // stale signal can at most cost one poll.
    const finished = new Set<string>();
    setHandler(trainingJobFinished, (raw: unknown) => {
      const parsed = TrainingJobFinished.safeParse(raw);
      if (parsed.success) finished.add(parsed.data.jobId);
    });
    for (let attempt = 1; !result; attempt++) {
      try {
        const { summary, job } = await trainExternally({
          experimentId: id,
          campaignId,
          attempt,
          data: input.data,
          trainer,
          segmentField: input.segmentField,
          baselineArtifact: input.baselineArtifact,
          finished,
          record: (state, jobId, detail) =>
            record.recordEvents(campaignId, [
              {
                type: 'experiment.job',
                eventId: `${jobId}:${state}`,
                campaignId,
                experimentId: id,
                jobId,
                trainer: trainer.name,
                state,
                ...(detail ? { detail: detail.slice(0, 500) } : {}),
              },
            ]),
        });
        attempts.push({ config });
        result = { ...succeededResult(who, config, summary, attempts), externalJob: job };
      } catch (err) {
        if (!(err instanceof ExternalJobFailed)) throw err;
        attempts.push({ config, failure: err.report });
        // A lost or timed-out job is resubmitted (a new job) while attempts remain; a job that failed is not.
        if (err.state !== 'failed' && attempt < input.maxAttempts) continue;
        const fix =
          err.state === 'failed'
            ? "read the trainer's output in the job folder ($RANKWRIGHT_HOME/jobs/<jobId>/stderr.log) and fix its input or knobs"
            : `gave up after ${attempt} attempts; check the trainer's host and raise timeoutSeconds if jobs need longer`;
        result = failedResult(who, config, err.report, fix, attempts);
      }
    }
  }
  for (let attempt = 1; !result; attempt++) {
    try {
      const out = await training.trainModel({
        experimentId: id,
        campaignId,
        attempt,
        data: input.data,
        model: config,
        segmentField: input.segmentField,
        baselineArtifact: input.baselineArtifact,
      });
      attempts.push({ config });
      result = succeededResult(who, config, out, attempts);
    } catch (err) {
      const failure = failureReportOf(err);
      const triage = await decisions.interpretFailure({ experimentId: id, config, failure, attempt, data: input.data }, input.agents);
      // The measured class decides (ranking classifies divergence/resources/data by measurement); the triage agent's
      // reading is kept beside it as advice for humans and for the designer. A fix the insights database remembers
      // (never the LLM's) may make the retry jump further, within what the runbook allows for the class.
      const remembered = triage.rememberedFix && patched('remembered-fixes') ? triage.rememberedFix : undefined;
      // A full disk is waited out and the same config retried; histories recorded before this shrank the model.
      const diskFull = failure.diskFull && patched('disk-full-waits') ? failure.diskFull : undefined;
      const diskDecision = diskFull && retryAfterDiskFull(config, diskFull, diskWaits);
      // Raw dense values log-transformed before any learning-rate cut; histories recorded before cut the rate.
      const runbook = {
        rawDenseFirst: failure.failureClass === 'diverged' && rawDenseRetry(config) !== undefined ? patched('raw-dense-retry') : false,
      };
      const decision: RetryDecision = diskDecision
        ? diskDecision
        : remembered
          ? applyRememberedFix(failure.failureClass, config, remembered, failure.message, runbook)
          : retryAfterFailure(failure.failureClass, config, failure.message, runbook);
      const tried: Attempt = {
        config,
        failure,
        triage: { failureClass: triage.failureClass, diagnosis: triage.diagnosis, fix: triage.fix, source: triage.source },
      };
      // A run of full-disk attempts keeps its first and its latest entry (each one's triage is in the event log):
      // hours of waiting add nothing to the result's size.
      const n = attempts.length;
      if (diskFull && n >= 2 && attempts[n - 1].failure?.diskFull && attempts[n - 2].failure?.diskFull) attempts[n - 1] = tried;
      else attempts.push(tried);
      const events: NewCampaignEvent[] = [
        {
          type: 'triage',
          eventId: `${id}:a${attempt}:triage`,
          campaignId,
          experimentId: id,
          failureClass: triage.failureClass,
          diagnosis: triage.diagnosis,
          fix: decision.fix,
          source: triage.source,
          ...(decision.retry && decision.rememberedFrom && remembered ? { rememberedFix: remembered } : {}),
        },
      ];
      await record.recordEvents(campaignId, events);
      if (diskDecision?.retry) {
        diskWaits.count++;
        diskWaits.seconds += diskDecision.waitSeconds;
        await sleep(diskDecision.waitSeconds * 1000);
        continue;
      }
      if (decision.retry && attempt - diskWaits.count < input.maxAttempts) {
        config = decision.config;
        continue;
      }
      result = failedResult(who, config, failure, decision.retry ? gaveUpFix(attempt, input.maxAttempts, decision.fix) : decision.fix, attempts);
    }
  }
  await record.recordExperiment(result, input.data);
  return result;
}

/** Reads the failure report the training activity attached, or classifies the failure as infrastructure. */
function failureReportOf(err: unknown): FailureReport {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'TrainingFailure') {
    const parsed = FailureReport.safeParse(err.cause.details?.[0]);
    if (parsed.success) return parsed.data;
    return { failureClass: 'bad-data', message: err.cause.message, lastProgress: [] };
  }
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    const what = cause instanceof TimeoutFailure ? `timed out (${cause.timeoutType})` : (cause?.message ?? err.message);
    return { failureClass: 'infrastructure', message: `training activity failed after Temporal's retries: ${what}`, lastProgress: [] };
  }
  throw err;
}
