import { condition, log, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type {
  CampaignResearch,
  Promotion,
  CampaignCarryOver,
  CampaignInput,
  CampaignStatus,
  DataChecks,
  ExperimentResult,
  GuardrailBreach,
  NewCampaignEvent,
  Phase,
  Recommendation,
} from '../contracts';
import { campaignBadRows } from '../contracts/experiment';
import { decisionNe, type DecisionBasis } from '../contracts/decision-metrics';
import * as msg from './messages';
import { bestResult, computeUsed, phasesFor, trainSecondsUsed, type PlanState } from './planner';
import { SignOff, type SignOffKind } from './sign-off';

const SA = {
  CampaignId: defineSearchAttributeKey('CampaignId', SearchAttributeType.KEYWORD),
  Phase: defineSearchAttributeKey('Phase', SearchAttributeType.KEYWORD),
  ReviewState: defineSearchAttributeKey('ReviewState', SearchAttributeType.KEYWORD),
  ModelFamily: defineSearchAttributeKey('ModelFamily', SearchAttributeType.KEYWORD),
  BestNE: defineSearchAttributeKey('BestNE', SearchAttributeType.DOUBLE),
};

/** What the campaign learned about its data before the baseline (kept across continue-as-new). */
export interface DataFacts {
  fingerprint: string;
  activeCategoricalFields: string[];
  /** Training rows (what a probe's row fraction is taken of); absent in runs continued from older ones. */
  trainRows?: number;
}

type RecordEvents = (campaignId: string, events: NewCampaignEvent[]) => Promise<unknown>;

/**
 * A campaign's durable state and its message handlers (the safe-message-handlers pattern): every query, update and
 * signal is answered here, validated by SignOff before anything changes, and the workflow function in campaign.ts
 * only reads this state to tell the campaign's story. Nothing here starts activities or children except the event
 * flush, which the story decides when to run.
 */
export class CampaignState {
  readonly campaignId: string;
  readonly experiments: ExperimentResult[];
  /** Ideas screened on a row sample (campaigns that probe); never candidates. */
  readonly probes: ExperimentResult[];
  readonly running = new Set<string>();
  readonly plan: PlanState;
  readonly signOff: SignOff;
  readonly generation: number;
  phase: Phase;
  recommendation: Recommendation | null = null;
  breaches: GuardrailBreach[] = [];
  stopReason: CampaignStatus['stopReason'];
  oracleNe: number | undefined;
  facts: DataFacts | undefined;
  research: CampaignResearch | undefined;
  /**
   * Which rows decisions read: validation (test confirms the chosen model once), or test for campaigns recorded
   * before validation metrics existed (set by the story, under a patch, before anything is decided).
   */
  decideOn: DecisionBasis = 'test';
  /** The trainSeconds used count failed attempts' training (planner's trainSecondsUsed); campaigns recorded before did not. */
  failedAttemptSeconds = false;
  /** Drift, base rates and what the data can detect, checked after the baseline (campaigns that decide on validation). */
  dataChecks: DataChecks | undefined;
  /** The onApprove hook's run (campaigns with a hook, once approved). */
  promotion: Promotion | undefined;
  private pending: NewCampaignEvent[] = [];

  constructor(
    readonly input: CampaignInput,
    carry: CampaignCarryOver | undefined,
    private readonly recordEvents: RecordEvents,
  ) {
    this.campaignId = input.campaignId ?? workflowInfo().workflowId;
    this.signOff = new SignOff(input.approvers, input.operators);
    this.experiments = carry ? [...carry.experiments] : [];
    this.probes = carry?.probes ? [...carry.probes] : [];
    this.plan = carry ? { ...carry.plan } : { phaseIndex: 0 };
    this.phase = carry ? (phasesFor(input.strategy)[carry.plan.phaseIndex] ?? 'evaluation') : 'baseline';
    this.generation = carry?.generation ?? 0;
    this.oracleNe = carry?.oracleNe;
    this.research = carry?.research;
    this.dataChecks = carry?.dataChecks;
    if (carry) {
      carry.decisions.forEach((d) => this.signOff.record(d));
      this.signOff.ignored.push(...carry.ignoredMessages);
      this.signOff.ignoredTotal = carry.ignoredTotal ?? carry.ignoredMessages.length;
      this.signOff.paused = carry.paused;
      this.facts = { fingerprint: carry.dataFingerprint, activeCategoricalFields: carry.activeFields, trainRows: carry.trainRows };
    }
  }

  get paused(): boolean {
    return this.signOff.paused;
  }

  get aborted(): boolean {
    return this.signOff.reviewState === 'aborted';
  }

  baseline(): ExperimentResult | undefined {
    return this.experiments.find((e) => e.phase === 'baseline');
  }

  status(): CampaignStatus {
    const best = bestResult(this.experiments, this.decideOn);
    return {
      campaignId: this.campaignId,
      phase: this.phase,
      reviewState: this.signOff.reviewState,
      paused: this.paused,
      strategy: this.input.strategy,
      experiments: this.experiments,
      running: [...this.running],
      baselineId: this.baseline()?.experimentId,
      best: best?.metrics
        ? {
            experimentId: best.experimentId,
            ne: best.metrics.ne,
            relativeNeChange: best.relativeNeChange,
            ...(this.decideOn === 'validation' ? { validationNe: decisionNe(best, 'validation') } : {}),
          }
        : null,
      ...(this.decideOn === 'validation' ? { decidedOn: this.decideOn } : {}),
      ...(this.dataChecks ? { dataChecks: this.dataChecks } : {}),
      recommendation: this.recommendation,
      guardrailBreaches: this.breaches,
      decisions: this.signOff.decisions,
      stopReason: this.stopReason,
      budgetUsed: {
        experiments: this.experiments.length,
        trainSeconds: trainSecondsUsed(this.experiments, this.probes, this.failedAttemptSeconds),
        compute: computeUsed(this.experiments, this.probes),
        probes: this.probes.length,
      },
      oracleNe: this.oracleNe,
      badRows: campaignBadRows(this.experiments),
      ignoredMessages: this.signOff.ignored,
      ...(this.research ? { research: this.research } : {}),
      ...(this.probes.length ? { probes: this.probes } : {}),
      ...(this.promotion ? { promotion: this.promotion } : {}),
    };
  }

  /** Mirrors phase, review state and the best model into search attributes (what `rankwright list` filters on). */
  publish(): void {
    const best = bestResult(this.experiments, this.decideOn);
    upsertSearchAttributes([
      { key: SA.CampaignId, value: this.campaignId },
      { key: SA.Phase, value: this.phase },
      { key: SA.ReviewState, value: this.signOff.reviewState },
      ...(best
        ? [
            { key: SA.ModelFamily, value: best.config.family },
            { key: SA.BestNE, value: best.metrics!.ne },
          ]
        : []),
    ]);
  }

  /** Queues an event for the log; the story writes the queue at its next flush (handlers can't run activities). */
  event(e: NewCampaignEvent): void {
    this.pending.push(e);
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    await this.recordEvents(this.campaignId, batch);
  }

  /** Registers the status query and every sign-off and control message. */
  handleMessages(): void {
    setHandler(msg.statusQuery, () => this.status());
    const validate = (kind: SignOffKind) => (payload: unknown) => void this.signOff.check(kind, payload);
    // Updates answer their sender (refused ones never reach history); signals serve the Web UI's signal form.
    setHandler(msg.approveUpdate, (p) => this.decideByUpdate('approve', p), { validator: validate('approve') });
    setHandler(msg.rejectUpdate, (p) => this.decideByUpdate('reject', p), { validator: validate('reject') });
    setHandler(msg.overrideUpdate, (p) => this.decideByUpdate('override', p), { validator: validate('override') });
    setHandler(msg.abortUpdate, (p) => this.decideByUpdate('abort', p), { validator: validate('abort') });
    setHandler(msg.pauseUpdate, (p) => this.decideByUpdate('pause', p), { validator: validate('pause') });
    setHandler(msg.resumeUpdate, (p) => this.decideByUpdate('resume', p), { validator: validate('resume') });
    setHandler(msg.approveSignal, (p) => this.decideBySignal('approve', p));
    setHandler(msg.rejectSignal, (p) => this.decideBySignal('reject', p));
    setHandler(msg.overrideSignal, (p) => this.decideBySignal('override', p));
    setHandler(msg.abortSignal, (p) => this.decideBySignal('abort', p));
    setHandler(msg.pauseSignal, (p) => this.decideBySignal('pause', p));
    setHandler(msg.resumeSignal, (p) => this.decideBySignal('resume', p));
  }

  /** Waits for `done`, writing events that message handlers queue meanwhile. False when `timeoutMs` ran out first. */
  async waitFor(done: () => boolean, timeoutMs?: number): Promise<boolean> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    for (;;) {
      await this.flush();
      if (done()) return true;
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) return false;
      const woke =
        left === undefined
          ? (await condition(() => done() || this.pending.length > 0), true)
          : await condition(() => done() || this.pending.length > 0, left);
      if (!woke && !done()) return false;
    }
  }

  /** The state the next run of this campaign starts from; `fromRunId` lets that run check where it came from. */
  carryOver(): CampaignCarryOver {
    return {
      fromRunId: workflowInfo().runId,
      experiments: this.experiments,
      plan: this.plan,
      decisions: this.signOff.decisions,
      ignoredMessages: this.signOff.ignored,
      ignoredTotal: this.signOff.ignoredTotal,
      paused: this.paused,
      dataFingerprint: this.facts!.fingerprint,
      oracleNe: this.oracleNe,
      activeFields: this.facts!.activeCategoricalFields,
      generation: this.generation + 1,
      ...(this.research ? { research: this.research } : {}),
      ...(this.dataChecks ? { dataChecks: this.dataChecks } : {}),
      ...(this.probes.length ? { probes: this.probes } : {}),
      ...(this.facts!.trainRows !== undefined ? { trainRows: this.facts!.trainRows } : {}),
    };
  }

  private decideByUpdate(kind: SignOffKind, payload: unknown) {
    const n = this.messageCount();
    const d = this.signOff.apply(kind, payload, 'update');
    this.event({
      type: 'decision',
      eventId: `${this.campaignId}:decision:${n}`,
      campaignId: this.campaignId,
      kind,
      by: d.by,
      note: d.note,
      via: 'update',
      accepted: true,
    });
    this.publish();
    return d;
  }

  /** A signal can't be refused to its sender (the Web UI's form has no answer): a bad one is recorded, never acted on. */
  private decideBySignal(kind: SignOffKind, payload: unknown) {
    const n = this.messageCount();
    const { decision, refusal } = this.signOff.applySignal(kind, payload);
    const by = decision?.by ?? this.signOff.ignored[this.signOff.ignored.length - 1]?.by ?? 'unknown';
    this.event({
      type: 'decision',
      eventId: `${this.campaignId}:decision:${n}`,
      campaignId: this.campaignId,
      kind,
      by,
      note: decision?.note ?? refusal,
      via: 'signal',
      accepted: !!decision,
    });
    if (refusal) log.warn('ignored an invalid campaign signal', { kind, refusal });
    this.publish();
  }

  /** Numbers decision events uniquely (their eventIds make event-log writes idempotent). */
  private messageCount(): number {
    return this.signOff.decisions.length + this.signOff.ignoredTotal;
  }
}
