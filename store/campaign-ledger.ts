import { SafeId } from '../contracts';
import { openEventStore } from './event-log';
import { rankwrightHome } from './home';

/**
 * What the event logs say about each campaign, for retention: whether it is still live (running, awaiting review,
 * approved) or over (rejected, aborted, ended without a review), which experiments ended, and which artifacts it
 * names. Read tolerantly, line by line as plain JSON rather than through the event schema: a line this version
 * cannot validate (an older or newer Rankwright wrote it, a crash cut it short) must still protect the artifacts it
 * names, never hide them.
 */

/** A campaign's state as far as retention is concerned; `ended` = over without a review (e.g. its baseline failed). */
export type CampaignRetentionState = 'running' | 'awaiting-review' | 'needs-review' | 'approved' | 'rejected' | 'aborted' | 'ended';

/** States whose artifacts are kept: the campaign may still need them, or a human approved its model. */
export const LIVE_STATES: ReadonlySet<CampaignRetentionState> = new Set(['running', 'awaiting-review', 'needs-review', 'approved']);

export interface LedgerExperiment {
  /** Its log has an experiment.finished or experiment.failed event. */
  ended: boolean;
  artifact?: string;
}

export interface CampaignRecord {
  campaignId: string;
  /** A standalone experiment's log (its own id as campaign id, no campaign events). */
  standalone: boolean;
  state: CampaignRetentionState;
  /** Its log records its end (or Temporal said the workflow closed). */
  ended: boolean;
  /** Where the state comes from, in words ("campaign.finished: approved", "no end in its event log"). */
  stateSource: string;
  experiments: Map<string, LedgerExperiment>;
  /** Artifact ref → what in the log names it ("model of experiment X", "promoted by hook Y"). */
  artifacts: Map<string, string>;
  /** External job id → its last recorded state. */
  jobs: Map<string, string>;
  /** The last accepted sign-off in the log (approve, reject, expire, abort), wherever it stands. */
  signedOff?: { state: CampaignRetentionState; by: string };
  /** Lines that were not JSON objects (a crash cut one short); their refs still count. */
  unreadableLines: number;
  /** Experiments its recommendation events named (the candidate a reviewer signs off, or the one a guardrail halted). */
  recommended: Set<string>;
}

/** States of a campaign whose search is over and whose sign-off needs only the recommended model and the baseline. */
export const REVIEWED_STATES: ReadonlySet<CampaignRetentionState> = new Set(['awaiting-review', 'needs-review', 'approved']);

/**
 * Whether an artifact a reviewed campaign names is one its sign-off needs: the recommended model, the baseline's (what
 * the recommendation is compared with), and whatever is not a run's model (a promoted artifact). The other candidates'
 * models are evidence already summed up in the status, the events and the report; a campaign still running needs
 * them all (its next wave may compare with any of them).
 */
export function neededAfterReview(record: CampaignRecord, ref: string, experimentId?: string): boolean {
  // The run that made it: given (an insights row says), or the runs whose finish events name it.
  const owners = experimentId ? [experimentId] : [...record.experiments].filter(([, e]) => e.artifact === ref).map(([id]) => id);
  if (owners.length === 0) return true;
  return owners.some((id) => record.recommended.has(id) || id === `${record.campaignId}-baseline`);
}

const REF = /^sha256:[0-9a-f]{64}$/;
const REFS_IN_TEXT = /sha256:[0-9a-f]{64}/g;
const JOB_END_STATES = new Set(['succeeded', 'failed', 'lost', 'timed-out', 'cancelled']);

/**
 * Every campaign (and standalone experiment) with an event log: the home's files, or the shared database when
 * RANKWRIGHT_DATABASE_URL names one (event-log.ts openEventStore).
 */
export async function readCampaignLedger(home: string = rankwrightHome()): Promise<Map<string, CampaignRecord>> {
  const store = await openEventStore(home);
  const ledger = new Map<string, CampaignRecord>();
  for (const id of await store.campaignIds()) ledger.set(id, recordFromLog(id, ((await store.lines(id)) ?? []).join('\n')));
  return ledger;
}

/** One campaign's record from its log; a campaign without a log is running (nothing says it ended). */
export async function readCampaignRecord(campaignId: string, home: string = rankwrightHome()): Promise<CampaignRecord> {
  const lines = SafeId.safeParse(campaignId).success ? await (await openEventStore(home)).lines(campaignId) : undefined;
  return recordFromLog(campaignId, (lines ?? []).join('\n'));
}

type RawEvent = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads a log's text into a record (exported for tests of the state rules). */
export function recordFromLog(campaignId: string, text: string): CampaignRecord {
  const record: CampaignRecord = {
    campaignId,
    standalone: false,
    state: 'running',
    ended: false,
    stateSource: 'no end in its event log',
    experiments: new Map(),
    artifacts: new Map(),
    jobs: new Map(),
    unreadableLines: 0,
    recommended: new Set(),
  };
  const events: RawEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      event = undefined;
    }
    if (!event || typeof event !== 'object' || Array.isArray(event)) {
      // A cut-off line may still name an artifact: it is kept while the campaign is live, to be safe.
      record.unreadableLines++;
      for (const ref of line.match(REFS_IN_TEXT) ?? []) record.artifacts.set(ref, 'named in an unreadable line of its event log');
      continue;
    }
    events.push(event as RawEvent);
  }

  let campaignEvents = 0;
  let finishedAt = -1;
  // The last recommendation (its search is over: it waits for sign-off, or a guardrail halted it).
  let reviewState: CampaignRetentionState | undefined;
  events.forEach((e, i) => {
    const type = str(e.type) ?? '';
    const experimentId = str(e.experimentId);
    if (type.startsWith('campaign.')) campaignEvents++;
    if (experimentId && !record.experiments.has(experimentId)) record.experiments.set(experimentId, { ended: false });
    const experiment = experimentId ? record.experiments.get(experimentId)! : undefined;
    const artifact = str(e.artifact);
    if (type === 'experiment.finished' || type === 'experiment.failed') experiment!.ended = true;
    if (artifact && REF.test(artifact)) {
      if (type === 'experiment.finished') experiment!.artifact = artifact;
      record.artifacts.set(
        artifact,
        type === 'experiment.finished'
          ? `model of experiment ${experimentId}`
          : type === 'campaign.promotion'
            ? `promoted by onApprove hook ${str(e.hook) ?? '?'}`
            : `named by its ${type || 'event'} event`,
      );
    }
    const jobId = str(e.jobId);
    if (type === 'experiment.job' && jobId) record.jobs.set(jobId, str(e.state) ?? 'unknown');
    if (type === 'campaign.finished') finishedAt = i;
    if (type === 'recommendation' && experimentId) record.recommended.add(experimentId);
    if (type === 'recommendation') reviewState = str(e.eventId)?.endsWith(':needs-review') ? 'needs-review' : 'awaiting-review';
    const decided = signOffState(e);
    if (decided) record.signedOff = { state: decided, by: str(e.by) ?? '?' };
  });
  record.standalone = campaignEvents === 0 && [...record.experiments.keys()].every((id) => id === campaignId);

  if (finishedAt >= 0) {
    const reviewState = str(events[finishedAt].reviewState) ?? 'unknown';
    record.ended = true;
    record.state = endState(reviewState);
    record.stateSource = `campaign.finished: ${reviewState}`;
    // A sign-off recorded after the end (none is today, but a log is history) has the last word.
    for (const e of events.slice(finishedAt + 1)) {
      const decided = signOffState(e);
      if (!decided) continue;
      record.state = decided;
      record.stateSource = `${str(e.kind)} by ${str(e.by) ?? '?'} after its end`;
    }
  } else if (reviewState) {
    // Still open (it waits for a sign-off) but its search is over: what a reviewed campaign keeps is what it needs.
    record.state = record.signedOff?.state ?? reviewState;
    record.stateSource = record.signedOff ? `${record.signedOff.state} by ${record.signedOff.by}` : `recommendation: ${reviewState}`;
  } else if (record.standalone && record.experiments.get(campaignId)?.ended) {
    // A standalone experiment has no review: once its run ended, only the best-run rule keeps its model.
    record.ended = true;
    record.state = 'ended';
    record.stateSource = 'standalone experiment ended';
  }
  return record;
}

/** The review state a finished campaign ended in; "running" there means it ended before any review. */
function endState(reviewState: string): CampaignRetentionState {
  if (reviewState === 'approved' || reviewState === 'rejected' || reviewState === 'aborted') return reviewState;
  if (reviewState === 'awaiting-review' || reviewState === 'needs-review') return reviewState;
  return 'ended';
}

/** The review state an accepted sign-off decision sets, if it is one (pause, resume, override and reminders are not). */
function signOffState(e: RawEvent): CampaignRetentionState | undefined {
  if (e.type !== 'decision' || e.accepted !== true) return undefined;
  const kind = str(e.kind);
  return kind === 'approve' ? 'approved' : kind === 'reject' || kind === 'expired' ? 'rejected' : kind === 'abort' ? 'aborted' : undefined;
}

/** What Temporal says about a workflow whose log has no end. */
export interface WorkflowState {
  /** Temporal's status name: RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, CONTINUED_AS_NEW. */
  status: string;
  /** The completed campaign's review state, when its result carried one. */
  reviewState?: string;
}

/**
 * Applies Temporal's word on a campaign whose log has no end: a workflow that closed without logging its end (it was
 * terminated, or its last event write was lost) is over. Anything else (running, or unknown to that Temporal) keeps
 * the safe default, running.
 */
export function applyWorkflowState(record: CampaignRecord, workflow: WorkflowState | undefined): void {
  if (record.ended || !workflow) return;
  if (workflow.status === 'RUNNING' || workflow.status === 'CONTINUED_AS_NEW') return;
  record.ended = true;
  // A completed campaign's result says how it ended; a terminated one ends as its last sign-off left it (an approval
  // before an operator terminated the promotion still counts), else without a review.
  record.state = workflow.status === 'COMPLETED' && workflow.reviewState ? endState(workflow.reviewState) : (record.signedOff?.state ?? 'ended');
  record.stateSource = `Temporal: workflow ${workflow.status.toLowerCase().replace('_', ' ')}${workflow.reviewState ? ` (${workflow.reviewState})` : ''}${
    record.state !== 'ended' && !workflow.reviewState ? `, ${record.state} before that` : ''
  }`;
}

/** Whether an experiment's run is over: its own end is logged, or its campaign's. */
export function experimentEnded(record: CampaignRecord | undefined, experimentId: string): boolean {
  if (!record) return false;
  return record.ended || record.experiments.get(experimentId)?.ended === true;
}

/** Whether an external job is over by the log: its job event says so, or its experiment or campaign ended. */
export function jobEnded(record: CampaignRecord | undefined, jobId: string, experimentId: string): boolean {
  if (!record) return false;
  const state = record.jobs.get(jobId);
  return (state !== undefined && JOB_END_STATES.has(state)) || experimentEnded(record, experimentId);
}
