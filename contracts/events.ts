import { z } from 'zod';
import { EVENT_SCHEMA_VERSION } from './names';
import { RememberedFix } from './agents';
import { BadRows } from './data';
import { DataFinding, DetectableChange } from './campaign';
import { FailureClass, Metrics, TrainingProgress } from './metrics';

/**
 * The campaign event log: one JSON object per line in RANKWRIGHT_HOME/events/<campaignId>.jsonl.
 * Every event carries the schema version `v`, an ISO timestamp, the campaign and a unique `eventId`
 * (writes are idempotent by eventId, so a retried activity never logs twice).
 */
const base = {
  v: z.literal(EVENT_SCHEMA_VERSION),
  eventId: z.string(),
  ts: z.string(),
  campaignId: z.string(),
};

export const CampaignEvent = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('campaign.started'), strategy: z.string(), objective: z.string() }),
  z.object({ ...base, type: z.literal('campaign.phase'), phase: z.string(), note: z.string().optional() }),
  /** What the data can detect and how it drifts, checked after the baseline, before the budget is spent. */
  z.object({
    ...base,
    type: z.literal('campaign.data-checks'),
    detectable: z.array(DetectableChange).max(2),
    findings: z.array(DataFinding).max(40),
  }),
  /** A wave was designed: by which designer, why an LLM answer was not (fully) used, what was clamped or dropped. */
  z.object({
    ...base,
    type: z.literal('design'),
    phase: z.string(),
    source: z.string(),
    proposals: z.number().int(),
    fallbackReason: z.string().optional(),
    notes: z.array(z.string()).optional(),
  }),
  /** The research step's ranked hypotheses and the baseline's fit, before the first wave. */
  z.object({
    ...base,
    type: z.literal('campaign.research'),
    fit: z.string(),
    hypotheses: z.array(z.object({ title: z.string(), technique: z.string(), expectedGain: z.number(), cost: z.number(), evidence: z.string() })),
  }),
  /** A probe round: ideas screened on a row sample against a reference probe of the best model, and which earned a full run. */
  z.object({
    ...base,
    type: z.literal('campaign.probes'),
    rows: z.number().int(),
    referenceValidationNe: z.number().optional(),
    probes: z.array(
      z.object({
        experimentId: z.string(),
        title: z.string(),
        validationNe: z.number().optional(),
        failureClass: z.string().optional(),
        promotedTo: z.string().optional(),
      }),
    ),
    promoted: z.number().int(),
  }),
  z.object({
    ...base,
    type: z.literal('campaign.promotion'),
    hook: z.string(),
    state: z.enum(['running', 'succeeded', 'failed']),
    experimentId: z.string(),
    artifact: z.string().optional(),
    attempts: z.number().int().optional(),
    detail: z.string().optional(),
  }),
  z.object({ ...base, type: z.literal('campaign.finished'), reviewState: z.string(), stopReason: z.string().optional() }),
  z.object({ ...base, type: z.literal('experiment.started'), experimentId: z.string(), family: z.string(), title: z.string().optional() }),
  z.object({ ...base, type: z.literal('experiment.progress'), experimentId: z.string(), progress: TrainingProgress }),
  /** An external training job changed state: submitted, finished, failed, lost, timed out or cancelled. */
  z.object({
    ...base,
    type: z.literal('experiment.job'),
    experimentId: z.string(),
    jobId: z.string(),
    trainer: z.string(),
    state: z.enum(['submitted', 'succeeded', 'failed', 'lost', 'timed-out', 'cancelled']),
    detail: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal('experiment.finished'),
    experimentId: z.string(),
    /** Test metrics (information: campaigns decide on validation). */
    metrics: Metrics,
    relativeNeChange: z.number().optional(),
    /** The served model on validation: what the campaign decided on (absent in older logs). */
    validation: z
      .object({ ne: z.number(), neStdErr: z.number(), auc: z.number(), calibration: z.number(), relativeNeChange: z.number().optional() })
      .optional(),
    /** The run's model artifact (probes included), so retention knows what a campaign stored; absent in older logs. */
    artifact: z.string().optional(),
  }),
  /** Malformed rows were skipped reading the data: logged once per dataset (fingerprint), by the first experiment to read it. */
  z.object({ ...base, type: z.literal('data.bad-rows'), experimentId: z.string(), dataFingerprint: z.string().optional(), badRows: BadRows }),
  z.object({ ...base, type: z.literal('experiment.failed'), experimentId: z.string(), failureClass: FailureClass, message: z.string() }),
  /** Something a run survived that a reviewer should hear of, e.g. a lost checkpoint it trained again without. */
  z.object({ ...base, type: z.literal('experiment.warning'), experimentId: z.string(), message: z.string().max(2000) }),
  z.object({
    ...base,
    type: z.literal('triage'),
    experimentId: z.string(),
    failureClass: FailureClass,
    diagnosis: z.string(),
    fix: z.string(),
    source: z.string(),
    /** The fix from the insights database that the retry applied (its `fix` says so), when there was one. */
    rememberedFix: RememberedFix.optional(),
  }),
  z.object({ ...base, type: z.literal('guardrail'), experimentId: z.string(), constraint: z.string(), detail: z.string() }),
  z.object({ ...base, type: z.literal('recommendation'), experimentId: z.string().nullable(), rationale: z.string() }),
  z.object({
    ...base,
    type: z.literal('decision'),
    kind: z.string(),
    by: z.string(),
    note: z.string().optional(),
    via: z.string(),
    accepted: z.boolean(),
  }),
]);
export type CampaignEvent = z.infer<typeof CampaignEvent>;
export type CampaignEventType = CampaignEvent['type'];
/** What a writer provides; the store adds v, ts when missing. */
export type NewCampaignEvent = CampaignEvent extends infer E ? (E extends CampaignEvent ? Omit<E, 'v' | 'ts'> & { ts?: string } : never) : never;
