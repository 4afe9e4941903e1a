import { ApplicationFailure } from '@temporalio/workflow';
import { AbortRequest, ApproveRequest, OverrideRequest, RejectRequest, describeIssues } from '../contracts';
import type { Decision, ReviewState } from '../contracts';

export type SignOffKind = 'approve' | 'reject' | 'override' | 'abort';

const PAYLOADS = { approve: ApproveRequest, reject: RejectRequest, override: OverrideRequest, abort: AbortRequest } as const;

/** Which review states each message may act in. */
const ALLOWED_IN: Record<SignOffKind, ReviewState[]> = {
  approve: ['awaiting-review'],
  reject: ['awaiting-review'],
  override: ['needs-review'],
  abort: ['running', 'awaiting-review', 'needs-review'],
};

/**
 * Human oversight of one campaign, as a plain class the message handlers delegate to (the safe-message-handlers
 * pattern): `check` is the update validator (it throws, and Temporal refuses the update without a history entry),
 * `apply` records the decision. Signals go through the same `check`; a refused signal is recorded and ignored.
 */
export class SignOff {
  reviewState: ReviewState = 'running';
  overridden = false;
  readonly decisions: Decision[] = [];
  readonly ignored: { kind: string; by?: string; at: string; reason: string }[] = [];

  constructor(private readonly approvers: string[]) {}

  /** Throws an ApplicationFailure naming exactly why the message is refused. */
  check(kind: SignOffKind, payload: unknown): { by: string; note?: string } {
    const parsed = PAYLOADS[kind].safeParse(payload);
    if (!parsed.success) {
      throw ApplicationFailure.create({ type: 'InvalidSignOff', nonRetryable: true, message: `invalid ${kind}: ${describeIssues(parsed.error).join('; ')}` });
    }
    const by = parsed.data.by;
    if (!this.approvers.includes(by)) {
      throw ApplicationFailure.create({
        type: 'NotAnApprover',
        nonRetryable: true,
        message: `${by} is not an approver of this campaign (approvers: ${this.approvers.join(', ')})`,
      });
    }
    if (!ALLOWED_IN[kind].includes(this.reviewState)) {
      throw ApplicationFailure.create({
        type: 'WrongReviewState',
        nonRetryable: true,
        message: `cannot ${kind}: the campaign is ${this.reviewState}, ${kind} needs ${ALLOWED_IN[kind].join(' or ')}`,
      });
    }
    if (kind === 'override' && this.overridden) {
      throw ApplicationFailure.create({ type: 'WrongReviewState', nonRetryable: true, message: 'cannot override: already overridden' });
    }
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
      return { refusal: reason };
    }
  }

  record(decision: Decision): void {
    this.decisions.push(decision);
  }

  get decided(): boolean {
    return this.reviewState === 'approved' || this.reviewState === 'rejected' || this.reviewState === 'aborted';
  }
}
