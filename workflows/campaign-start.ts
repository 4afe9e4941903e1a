import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { CampaignCarryOver, CampaignInput, describeIssues } from '../contracts';
import { parseWorkflowInput } from './input';

export interface CampaignStart {
  input: CampaignInput;
  /** The campaign's own state, present only in a run that this campaign continued-as-new into. */
  carry?: CampaignCarryOver;
}

/**
 * Reads how a campaign run begins: the caller's config (first argument) and, for a continued run only, the state
 * the previous run carried (second argument).
 *
 * Anyone allowed to start a workflow can put anything in its arguments (Web UI form, `temporal workflow start`,
 * any SDK), so carried state is trusted only when Temporal itself says this run continued another one
 * (`continuedFromExecutionRunId`) AND the state names that very run as its writer. A fresh start that carries state
 * is refused; so is a cron or retry run (Temporal sets `continuedFromExecutionRunId` for those too, but they re-use
 * their starter's arguments, which can't name a run that did not exist when they were sent).
 */
export function readCampaignStart(rawInput: unknown, rawCarry: unknown): CampaignStart {
  if (isObject(rawInput) && 'carryOver' in rawInput) {
    refuse("carryOver: a campaign's carried-over state is internal to Rankwright and cannot be given when starting a campaign");
  }
  const input = parseWorkflowInput(CampaignInput, rawInput, 'campaign config');
  const info = workflowInfo();
  // The campaign id names its event log, report and insights: another campaign must not be able to write there.
  if (input.campaignId !== undefined && input.campaignId !== info.workflowId) {
    refuse(`campaignId: must be this workflow's id (${info.workflowId}), got ${input.campaignId}; leave it out to use the workflow id`);
  }
  if (rawCarry === undefined) return { input };

  if (!info.continuedFromExecutionRunId) {
    refuse('a campaign takes exactly one argument, its config; carried-over state is internal and only a continued run may have it');
  }
  const carry = CampaignCarryOver.safeParse(rawCarry);
  if (!carry.success) refuse(`carried-over state is malformed: ${describeIssues(carry.error).join('; ')}`);
  if (carry.data.fromRunId !== info.continuedFromExecutionRunId || info.cronSchedule) {
    refuse('carried-over state was not written by the run this one continued; refusing to trust it');
  }
  return { input, carry: carry.data };
}

function refuse(message: string): never {
  throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `invalid campaign config: ${message}` });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
