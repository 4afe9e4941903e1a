import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import { TASK_QUEUES } from '../contracts';
import type * as activities from '../activities';

/**
 * Activity options shared by the campaign and experiment workflows where they must outlast a full disk.
 * (Retry options are not part of what a replay checks: changing them keeps recorded histories replaying.)
 */

/**
 * Records (event log, insights database, report): retried until they are written, backing off to 5 minutes, so a full
 * disk delays a campaign and never loses an experiment. Only a record its schema refuses (a bug, which no retry
 * fixes) fails at once.
 */
export const records = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.agent,
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: Infinity, // until written
    nonRetryableErrorTypes: ['InvalidCampaignEventError', 'ZodError'],
  },
});

/**
 * The same records as local activities (issue 26): the workflow's own worker runs them inside the workflow task that
 * asks for them, so an event or an insight is written without a task-queue round trip and the command that follows
 * (the training, the next design, the workflow's completion) goes out in the same task. They keep the records' retry
 * semantics: retried until written, backing off to 5 minutes, and only what the schema refuses fails. A retry whose
 * backoff is over 10 seconds waits on a durable timer (a full disk is waited out by timers, not by a workflow task held
 * open). An event append or an insights row takes milliseconds; one that takes 2 minutes is hung and is tried again.
 * Only for records the agent worker can write (it runs the workflows and holds RANKWRIGHT_HOME); workflows choose
 * these under patched('local-records'), so histories recorded with `records` replay.
 */
export const localRecords = proxyLocalActivities<typeof activities>({
  startToCloseTimeout: '2 minutes',
  localRetryThreshold: '10 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: Infinity, // until written
    nonRetryableErrorTypes: ['InvalidCampaignEventError', 'ZodError'],
  },
});

/** How long a step the campaign cannot go on without waits out a full disk (activities/full-disk-patience.ts). */
const FULL_DISK_PATIENCE = '12 hours';

/**
 * The heartbeat timeout of the activities that report no progress of their own (a design, triage, the evaluation,
 * describing the data, the research step): they heartbeat every 5 s while they run (activities/liveness.ts), so a
 * worker that dies running one is noticed within a minute and another worker takes it, instead of the campaign waiting
 * out the start-to-close timeout. (Timeouts, like retry options, are not part of what a replay checks.)
 */
export const LIVENESS_TIMEOUT = '1 minute';

/**
 * The agent's decisions (a wave's design, triage, the evaluation): a full disk (the insights database cannot even be
 * opened) is retried with backoff for up to 12 hours; any other error fails after the 10 attempts it always had (the
 * activity itself gives up: waitingOutFullDisk).
 */
export const decisions = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.agent,
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  scheduleToCloseTimeout: FULL_DISK_PATIENCE,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: Infinity },
});

/** Describing the data (it may write a row cache): the same patience on the training queue; 4 attempts otherwise. */
export const dataFacts = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  scheduleToCloseTimeout: FULL_DISK_PATIENCE,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: Infinity,
    nonRetryableErrorTypes: ['TrainingFailure'],
  },
});
