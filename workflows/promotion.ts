import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import { TASK_QUEUES, type Promotion } from '../contracts';
import type * as activities from '../activities';
import type { CampaignState } from './campaign-state';

/** Attempts a promotion hook gets: a deploy service that is down for a few minutes is waited for, not given up on. */
export const HOOK_ATTEMPTS = 6;

const hooks = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.agent,
  startToCloseTimeout: '24 hours',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: HOOK_ATTEMPTS,
    nonRetryableErrorTypes: ['HookNotConfigured'],
  },
});

/** At the start: a campaign naming a hook its worker doesn't have fails now, before any training, with the reason. */
export async function checkPromotionHook(hook: string): Promise<void> {
  await hooks.checkApproveHook(hook).catch((err: ActivityFailure) => {
    throw ApplicationFailure.create({ type: 'HookNotConfigured', nonRetryable: true, message: err.cause?.message ?? err.message });
  });
}

/**
 * After a valid approval, and only then: runs the campaign's onApprove hook with the approved model. The workflow
 * reaches this once per campaign (approval is final), so the hook runs once; Temporal retries it when it fails, and
 * every retry carries the same idempotency key. A hook that still fails leaves the approval standing and says so in
 * the status, the event log and the report: the model was approved, its promotion did not happen.
 */
export async function promoteApproved(campaign: CampaignState, hook: string): Promise<void> {
  const { campaignId, signOff } = campaign;
  const recommendation = campaign.recommendation!;
  const approval = signOff.last('approve')!;
  const running: Promotion = {
    hook,
    state: 'running',
    experimentId: recommendation.experimentId,
    artifact: recommendation.artifact,
    at: approval.at,
  };
  const report = (p: Promotion) => {
    campaign.promotion = p;
    campaign.event({
      type: 'campaign.promotion',
      eventId: `${campaignId}:promotion:${p.state}`,
      campaignId,
      hook,
      state: p.state,
      experimentId: p.experimentId,
      artifact: p.artifact,
      attempts: p.attempts,
      detail: p.detail,
    });
  };
  report(running);
  try {
    const outcome = await hooks.runApproveHook({
      hook,
      campaignId,
      experimentId: recommendation.experimentId,
      artifact: recommendation.artifact,
      metrics: recommendation.metrics,
      approvedBy: approval.by,
      approvedAt: approval.at,
      note: approval.note,
      approvers: campaign.input.approvers,
    });
    report({ ...running, state: 'succeeded', attempts: outcome.attempts, detail: outcome.detail, at: new Date().toISOString() });
  } catch (err) {
    const cause = err instanceof ActivityFailure ? (err.cause ?? err) : (err as Error);
    const notConfigured = cause instanceof ApplicationFailure && cause.type === 'HookNotConfigured';
    report({ ...running, state: 'failed', attempts: notConfigured ? 1 : HOOK_ATTEMPTS, detail: cause.message, at: new Date().toISOString() });
  }
  await campaign.flush();
}
