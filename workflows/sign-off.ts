import { ApplicationFailure } from '@temporalio/workflow';
import { AbortRequest, ApproveRequest, OverrideRequest, PauseRequest, RejectRequest, ResumeRequest, describeIssues } from '../contracts';
import type { Decision, ReviewState } from '../contracts';

/** Human messages that change a campaign: sign-off (approve, reject, override) and control (pause, resume, abort). */
export type SignOffKind = 'approve' | 'reject' | 'override' | 'abort' | 'pause' | 'resume';

const PAYLOADS = {
  approve: ApproveRequest,
  reject: RejectRequest,
  override: OverrideRequest,
  abort: AbortRequest,
  pause: PauseRequest,
  resume: ResumeRequest,
} as const;

/** Which review states each message may act in. */
const ALLOWED_IN: Record<SignOffKind, ReviewState[]> = {
  approve: ['awaiting-review'],
  reject: ['awaiting-review'],
  override: ['needs-review'],
  abort: ['running', 'awaiting-review', 'needs-review'],
  pause: ['running'],
  resume: ['running'],
};

/**
 * Signing off on a model is the approvers' call alone; stopping or holding the experiments (pause, resume, abort)
 * is also open to the campaign's operators, who run the compute but don't own the decision to ship.
 */
const CONTROL: ReadonlySet<SignOffKind> = new Set(['abort', 'pause', 'resume']);

/** Refused signals kept in the campaign's status. */
export const MAX_IGNORED = 100;

export interface SignOffMessage {
  by: string;
  note?: string;
}

/**
 * Human oversight of one campaign, as a plain class the message handlers delegate to (the safe-message-handlers
 * pattern): `check` is the update validator (it throws, and Temporal refuses the update without a history entry),
 * `apply` records the decision. Signals go through the same `check`; a refused signal is recorded and ignored.
 */
export class SignOff {
  reviewState: ReviewState = 'running';
  overridden = false;
  paused = false;
  readonly decisions: Decision[] = [];
  readonly ignored: { kind: string; by?: string; at: string; reason: string }[] = [];
  /** Every refused message so far, including those no longer kept in `ignored`. */
  ignoredTotal = 0;

  constructor(
    private readonly approvers: string[],
    private readonly operators: string[] = [],
  ) {}

  /** Throws an ApplicationFailure naming exactly why the message is refused. */
  check(kind: SignOffKind, payload: unknown): SignOffMessage {
    const parsed = PAYLOADS[kind].safeParse(payload);
    if (!parsed.success) {
      throw refused('InvalidSignOff', `invalid ${kind}: ${describeIssues(parsed.error).join('; ')}`);
    }
    const by = parsed.data.by;
    if (!this.mayDo(kind, by)) {
      const approvers = `approvers: ${this.approvers.join(', ')}`;
      throw refused(
        'NotAnApprover',
        CONTROL.has(kind)
          ? `${by} is not an approver or operator of this campaign (${approvers}; operators: ${this.operators.join(', ') || 'none'})`
          : `${by} is not an approver of this campaign (${approvers})`,
      );
    }
    if (!ALLOWED_IN[kind].includes(this.reviewState)) {
      throw refused('WrongReviewState', `cannot ${kind}: the campaign is ${this.reviewState}, ${kind} needs ${ALLOWED_IN[kind].join(' or ')}`);
    }
    if (kind === 'override' && this.overridden) throw refused('WrongReviewState', 'cannot override: already overridden');
    if (kind === 'pause' && this.paused) throw refused('WrongReviewState', 'cannot pause: the campaign is already paused');
    if (kind === 'resume' && !this.paused) throw refused('WrongReviewState', 'cannot resume: the campaign is not paused');
    const data = parsed.data as { by: string; note?: string; reason?: string };
    return { by, note: data.note ?? data.reason };
  }

  apply(kind: SignOffKind, payload: unknown, via: Decision['via']): Decision {
    const { by, note } = this.check(kind, payload);
    const decision: Decision = { kind, by, note, at: new Date().toISOString(), via };
    this.decisions.push(decision);
    if (kind === 'approve') this.reviewState = 'approved';
    if (kind === 'reject') this.reviewState = 'rejected';
    if (kind === 'abort') this.reviewState = 'aborted';
    if (kind === 'pause') this.paused = true;
    if (kind === 'resume') this.paused = false;
    // An override doesn't change the state itself: the workflow first re-makes the recommendation, then moves to
    // awaiting-review, so a status query never sees the new state with the old recommendation.
    if (kind === 'override') this.overridden = true;
    return decision;
  }

  /** For signals: apply when valid, otherwise record why it was ignored. Returns the decision or the refusal. */
  applySignal(kind: SignOffKind, payload: unknown): { decision?: Decision; refusal?: string } {
    try {
      return { decision: this.apply(kind, payload, 'signal') };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const by = typeof payload === 'object' && payload && 'by' in payload ? String((payload as { by: unknown }).by).slice(0, 100) : undefined;
      this.ignored.push({ kind, by, at: new Date().toISOString(), reason });
      this.ignoredTotal++;
      // Anyone who can signal can send thousands of bad messages; the status (and what continue-as-new carries)
      // keeps the most recent ones. The event log still records every one.
      if (this.ignored.length > MAX_IGNORED) this.ignored.splice(0, this.ignored.length - MAX_IGNORED);
      return { refusal: reason };
    }
  }

  record(decision: Decision): void {
    this.decisions.push(decision);
  }

  /** The most recent decision of one kind (pauses and resumes interleave with sign-off decisions). */
  last(kind: Decision['kind']): Decision | undefined {
    for (let i = this.decisions.length - 1; i >= 0; i--) if (this.decisions[i].kind === kind) return this.decisions[i];
    return undefined;
  }

  get decided(): boolean {
    return this.reviewState === 'approved' || this.reviewState === 'rejected' || this.reviewState === 'aborted';
  }

  private mayDo(kind: SignOffKind, by: string): boolean {
    return this.approvers.includes(by) || (CONTROL.has(kind) && this.operators.includes(by));
  }
}

function refused(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message });
}
