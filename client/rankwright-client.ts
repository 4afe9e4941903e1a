import {
  Client,
  WorkflowIdReusePolicy,
  WorkflowUpdateFailedError,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import {
  AbortRequest,
  ApproveRequest,
  CampaignInput,
  InvalidInputError,
  OverrideRequest,
  PauseRequest,
  RejectRequest,
  ResumeRequest,
  TASK_QUEUES,
  WORKFLOW_TYPES,
  parseOrExplain,
  QUERIES,
  SIGNALS,
  TrainingJobFinished,
  UPDATES,
} from '../contracts';
import type { CampaignInputRaw, CampaignStatus, Decision } from '../contracts';
import { connectClient } from './connection';

export interface StartedCampaign {
  workflowId: string;
  runId: string;
  /** False when a campaign with this id already existed (idempotent start). */
  created: boolean;
}

export interface CampaignListing {
  workflowId: string;
  status: string;
  startTime: string;
  closeTime?: string;
  phase?: string;
  reviewState?: string;
  bestNe?: number;
  modelFamily?: string;
}

/** A sign-off the campaign refused (not an approver, wrong state, missing reason). */
export class SignOffRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignOffRefusedError';
  }
}

/**
 * The typed client for other Node services and for the CLI: start campaigns, read their status, sign off.
 * Config is validated here before any workflow starts (and again by the workflow, for the Web UI's sake).
 */
export class RankwrightClient {
  constructor(readonly temporal: Client) {}

  static async connect(): Promise<RankwrightClient> {
    return new RankwrightClient(await connectClient());
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
  }

  /**
   * Starts a campaign. `id` makes the start idempotent: starting the same id twice returns the existing campaign
   * instead of a second one (what an HTTP caller retrying a POST needs).
   */
  async startCampaign(config: CampaignInputRaw | unknown, options: { id?: string } = {}): Promise<StartedCampaign> {
    const parsed = parseOrExplain(CampaignInput, config, 'campaign config');
    const workflowId =
      options.id ??
      parsed.campaignId ??
      `campaign-${new Date()
        .toISOString()
        .replace(/[-:.TZ]/g, '')
        .slice(0, 14)}-${Math.random().toString(36).slice(2, 6)}`;
    try {
      const handle = await this.temporal.workflow.start(WORKFLOW_TYPES.campaign, {
        taskQueue: TASK_QUEUES.agent,
        workflowId,
        // One campaign per id, ever: a retried start after the campaign finished must not start a second run.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        // The raw config goes in: the workflow applies defaults itself, so its history shows what the user sent.
        args: [{ ...(config as object), campaignId: workflowId }],
      });
      return { workflowId, runId: handle.firstExecutionRunId, created: true };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        const description = await this.temporal.workflow.getHandle(workflowId).describe();
        return { workflowId, runId: description.runId, created: false };
      }
      throw err;
    }
  }

  /** Live status by query while running; the workflow's result once it has completed. */
  async status(workflowId: string): Promise<CampaignStatus> {
    const handle = this.temporal.workflow.getHandle(workflowId);
    const description = await handle.describe();
    if (description.status.name === 'COMPLETED') return (await handle.result()) as CampaignStatus;
    // A campaign that failed or was terminated has no result; querying it would wait for a worker to replay it.
    if (description.status.name !== 'RUNNING') await this.assertNotFailed(workflowId);
    return handle.query<CampaignStatus>(QUERIES.status);
  }

  /**
   * Throws with the workflow's own failure when the campaign ended without a result (failed, terminated, timed
   * out, cancelled) — a watcher must stop instead of polling a dead campaign.
   */
  async assertNotFailed(workflowId: string): Promise<void> {
    const handle = this.temporal.workflow.getHandle(workflowId);
    const { status } = await handle.describe();
    if (status.name === 'RUNNING' || status.name === 'COMPLETED' || status.name === 'CONTINUED_AS_NEW') return;
    const failure = await handle.result().then(
      () => undefined,
      (err: Error & { cause?: Error & { cause?: Error } }) => err.cause?.cause?.message ?? err.cause?.message ?? err.message,
    );
    throw new Error(`campaign ${workflowId} ${status.name.toLowerCase().replace('_', ' ')}: ${failure ?? 'no failure recorded'}`);
  }

  /**
   * Tells the experiment that owns an external training job (job id `<experimentId>-a<attempt>`) that the job
   * finished, so it polls now instead of at its next slow poll. Only a wake-up: the poll reads the job's real state.
   */
  async trainingJobFinished(jobId: string): Promise<{ experimentId: string }> {
    const { jobId: id } = parseOrExplain(TrainingJobFinished, { jobId }, 'job');
    const m = /^(.+)-a\d+$/.exec(id);
    if (!m) throw new InvalidInputError('job', [`jobId: ${JSON.stringify(id)} is not <experimentId>-a<attempt>`]);
    await this.temporal.workflow.getHandle(m[1]).signal(SIGNALS.trainingJobFinished, { jobId: id });
    return { experimentId: m[1] };
  }

  async waitForResult(workflowId: string): Promise<CampaignStatus> {
    return this.temporal.workflow.getHandle(workflowId).result();
  }

  async list(options: { query?: string; limit?: number } = {}): Promise<CampaignListing[]> {
    const query = options.query
      ? `WorkflowType = '${WORKFLOW_TYPES.campaign}' AND (${options.query})`
      : `WorkflowType = '${WORKFLOW_TYPES.campaign}'`;
    const out: CampaignListing[] = [];
    for await (const info of this.temporal.workflow.list({ query })) {
      out.push(listing(info));
      if (out.length >= (options.limit ?? 50)) break;
    }
    return out;
  }

  async approve(workflowId: string, request: ApproveRequest): Promise<Decision> {
    return this.decide(workflowId, UPDATES.approve, parseOrExplain(ApproveRequest, request, 'approval'));
  }

  async reject(workflowId: string, request: RejectRequest): Promise<Decision> {
    return this.decide(workflowId, UPDATES.reject, parseOrExplain(RejectRequest, request, 'rejection'));
  }

  async override(workflowId: string, request: OverrideRequest): Promise<Decision> {
    return this.decide(workflowId, UPDATES.override, parseOrExplain(OverrideRequest, request, 'override'));
  }

  async abort(workflowId: string, request: AbortRequest): Promise<Decision> {
    return this.decide(workflowId, UPDATES.abort, parseOrExplain(AbortRequest, request, 'abort'));
  }

  /** Holds new experiments (running ones finish). Only the campaign's approvers and operators may. */
  async pause(workflowId: string, request: PauseRequest): Promise<Decision> {
    return this.decide(workflowId, UPDATES.pause, parseOrExplain(PauseRequest, request, 'pause'));
  }

  async resume(workflowId: string, request: ResumeRequest): Promise<Decision> {
    return this.decide(workflowId, UPDATES.resume, parseOrExplain(ResumeRequest, request, 'resume'));
  }

  private async decide(workflowId: string, update: string, payload: unknown): Promise<Decision> {
    try {
      return await this.temporal.workflow.getHandle(workflowId).executeUpdate<Decision, [unknown]>(update, { args: [payload] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new SignOffRefusedError(err.cause?.message ?? err.message);
      throw err;
    }
  }
}

function listing(info: WorkflowExecutionInfo): CampaignListing {
  const sa = info.typedSearchAttributes;
  const get = (name: string) => sa.getAll().find((p) => p.key.name === name)?.value as string | number | undefined;
  return {
    workflowId: info.workflowId,
    status: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString(),
    phase: get('Phase') as string | undefined,
    reviewState: get('ReviewState') as string | undefined,
    bestNe: get('BestNE') as number | undefined,
    modelFamily: get('ModelFamily') as string | undefined,
  };
}
