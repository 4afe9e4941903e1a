import { z } from 'zod';
import { KnobValues, TrainerName } from './trainer';
import { Guardrails, SearchSpace } from './campaign';
import { DataConfig } from './data';
import { Hypothesis } from './experiment';
import { FailureClass, FailureReport } from './metrics';
import { ModelConfig, ModelFamily } from './model';
import { FieldEntry } from './field-names';
import { FitDiagnosis, ResearchHypothesis } from './research';

/** A compact view of one experiment, what sub-agents see (never the model or the data). */
export const ExperimentSummary = z.object({
  experimentId: z.string(),
  phase: z.string(),
  family: ModelFamily,
  config: ModelConfig,
  status: z.enum(['succeeded', 'failed']),
  /**
   * Which rows `ne`, `neStdErr`, `neDeltaStdErr`, `auc`, `calibration` and `relativeNeChange` were measured on:
   * validation (what a campaign decides on) or, for runs recorded before validation metrics existed, test.
   */
  measuredOn: z.enum(['validation', 'test']).optional(),
  ne: z.number().optional(),
  neStdErr: z.number().optional(),
  /** Paired standard error of (NE − baseline NE), when measured: preferred over combining the two neStdErr. */
  neDeltaStdErr: z.number().optional(),
  auc: z.number().optional(),
  calibration: z.number().optional(),
  relativeNeChange: z.number().optional(),
  /** The test metrics when `measuredOn` is validation: shown for information, never decided on. */
  test: z.object({ ne: z.number(), auc: z.number(), calibration: z.number() }).optional(),
  failureClass: FailureClass.optional(),
  hypothesis: Hypothesis.optional(),
  trainSeconds: z.number().optional(),
  /** Training rows the run read, when not the campaign's data (a probe's sample): what the cost model scales by. */
  trainRows: z.number().int().positive().optional(),
  modelBytes: z.number().optional(),
  /** The run's learning curve read as over-, under- or well fitted (finished runs: the evidence triage acts on). */
  fit: FitDiagnosis.optional(),
  /** Trained by an external trainer (its name and knobs): `family` and `config` then say nothing about the model. */
  trainer: z.string().max(500).optional(),
});
export type ExperimentSummary = z.infer<typeof ExperimentSummary>;

/** Interaction signal between two categorical fields, measured on residuals of the current best model. */
export const FieldPairSignal = z.object({ fields: z.tuple([z.string(), z.string()]), strength: z.number() });
export type FieldPairSignal = z.infer<typeof FieldPairSignal>;

/** A past experiment from the insights database (any campaign). */
export const Insight = z.object({
  experimentId: z.string(),
  campaignId: z.string().optional(),
  dataFingerprint: z.string(),
  /** 1 = same data, lower = less similar. */
  similarity: z.number(),
  config: ModelConfig,
  technique: z.string().optional(),
  outcome: z.enum(['won', 'lost', 'neutral', 'failed']),
  relativeNeChange: z.number().optional(),
});
export type Insight = z.infer<typeof Insight>;

/**
 * What a past full run took, from the insights database (agents/cost-model.ts): its config, the training rows and
 * fields of its data (the data's traits), its trainSeconds and how similar its data is to this campaign's.
 */
export const MeasuredCost = z.object({
  experimentId: z.string(),
  config: ModelConfig,
  rows: z.number().int().positive(),
  fields: z.number().int().positive().optional(),
  seconds: z.number().positive(),
  similarity: z.number(),
});
export type MeasuredCost = z.infer<typeof MeasuredCost>;

export const DesignRequest = z.object({
  campaignId: z.string(),
  phase: z.enum(['validation', 'combination', 'exploitation']),
  /** How many hypotheses to propose. */
  count: z.number().int().min(1).max(32),
  dataFingerprint: z.string(),
  baseline: ExperimentSummary,
  history: z.array(ExperimentSummary),
  insights: z.array(Insight).default([]),
  fieldPairSignal: z.array(FieldPairSignal).default([]),
  searchSpace: SearchSpace,
  seed: z.number().int(),
  /** The research step's hypotheses, best expected gain per unit of cost first (empty before or without one). */
  research: z.array(ResearchHypothesis).default([]),
  /** Ideas screened as probes that did not earn a full run (their NE is a probe's): not to be proposed again. */
  screened: z.array(ExperimentSummary).max(64).optional(),
  /**
   * A declared schema's fields, slot by slot (column name, role), added by the design activity from the data config:
   * an LLM designer reads and may write column names. Absent for Criteo and planted data (slot names are field names).
   */
  fields: z.array(FieldEntry).optional(),
  /** The data's training rows and fields (its traits), added by the design activity: what a run's cost scales with. */
  trainRows: z.number().int().positive().optional(),
  fieldCount: z.number().int().positive().optional(),
  /** Past full runs' measured training seconds (the insights database), added by the design activity. */
  measuredCosts: z.array(MeasuredCost).max(200).optional(),
});
export type DesignRequest = z.infer<typeof DesignRequest>;

export const ProposedExperiment = z.object({
  hypothesis: Hypothesis,
  model: ModelConfig,
  /** Campaigns with an external trainer: the knobs this run gives it (the trainer-knob designer's proposal). */
  trainerParams: KnobValues.optional(),
  /**
   * Campaigns whose search space lists trainers: the one that trains this run (its name there), with `trainerParams`
   * or its `params`. Absent: the built-in engine trains `model` (or the campaign's own `trainer`, where it has one).
   */
  trainer: TrainerName.optional(),
});
export type ProposedExperiment = z.infer<typeof ProposedExperiment>;

export const DesignResponse = z.object({
  proposals: z.array(ProposedExperiment),
  source: z.enum(['llm', 'heuristic', 'random']),
  /** Why the LLM answer was not used, when it wasn't. */
  fallbackReason: z.string().optional(),
  /**
   * What happened to the LLM's answer on the way: values clamped into the search space, keys it sent that no config
   * has, proposals dropped as repeats, the prompt trimmed to its token budget, the structured-output method detected.
   */
  llmNotes: z.array(z.string().max(1000)).max(64).optional(),
});
export type DesignResponse = z.infer<typeof DesignResponse>;

export const TriageRequest = z.object({
  experimentId: z.string(),
  config: ModelConfig,
  failure: FailureReport,
  attempt: z.number().int(),
  /**
   * The experiment's data config: names the data when the failure report does not (a training worker that predates
   * fingerprints in reports, a caller outside a workflow), for looking up the fixes that worked on it.
   */
  data: DataConfig.optional(),
});
export type TriageRequest = z.infer<typeof TriageRequest>;

/**
 * The retry knobs (the runbook's: workflows/retry-policy.ts) a remembered fix changed, with the values of the attempt
 * that succeeded; `learningRateRatio` is that attempt's learning rate over the failing one's (a cut is below 1).
 */
export const RemedyChanges = z
  .object({
    learningRate: z.number().gt(0).max(10).optional(),
    learningRateRatio: z.number().gt(0).max(1000).optional(),
    gradientClip: z.number().positive().max(1000).optional(),
    hashBits: z.number().int().min(8).max(24).optional(),
    embeddingDim: z.number().int().min(1).max(128).optional(),
    batchSize: z.number().int().min(1).max(8192).optional(),
  })
  .strict();
export type RemedyChanges = z.infer<typeof RemedyChanges>;

/**
 * A fix that turned this failure class into a success before, from the insights database (never from an LLM): the
 * config changes, the experiment it was learned from, how similar that experiment's data is (1 = the same data), and
 * how often the same changes worked and failed (the attempt after them failed again with the same class).
 */
export const RememberedFix = z
  .object({
    failureClass: FailureClass,
    family: ModelFamily,
    changes: RemedyChanges,
    fromExperiment: z.string().max(200),
    fromCampaign: z.string().max(200).optional(),
    dataFingerprint: z.string().max(200),
    similarity: z.number().min(0).max(1),
    worked: z.number().int().min(1),
    failed: z.number().int().min(0),
    /** Attempts the remembered experiment spent from its first failure of this class to the success (2 = one retry). */
    attempts: z.number().int().min(2),
  })
  .strict();
export type RememberedFix = z.infer<typeof RememberedFix>;

export const TriageResponse = z.object({
  failureClass: FailureClass,
  diagnosis: z.string().max(1000),
  fix: z.string().max(1000),
  source: z.enum(['llm', 'heuristic']),
  fallbackReason: z.string().optional(),
  /** Set by the triage activity from the insights database only; the retry policy applies it within the runbook. */
  rememberedFix: RememberedFix.optional(),
});
export type TriageResponse = z.infer<typeof TriageResponse>;

export const CandidateView = ExperimentSummary.extend({
  /** Guardrail breaches computed by the workflow (authoritative; the evaluator cannot clear them). */
  guardrailViolations: z.array(z.string()),
});
export type CandidateView = z.infer<typeof CandidateView>;

export const EvaluateRequest = z.object({
  campaignId: z.string(),
  baseline: ExperimentSummary,
  candidates: z.array(CandidateView),
  guardrails: Guardrails,
  oracleNe: z.number().optional(),
});
export type EvaluateRequest = z.infer<typeof EvaluateRequest>;

export const EvaluateResponse = z.object({
  /** Candidate ids best first (only those without guardrail violations are eligible to be recommended). */
  ranking: z.array(z.object({ experimentId: z.string(), significant: z.boolean(), note: z.string().max(500) })),
  recommended: z.string().nullable(),
  rationale: z.string().max(4000),
  source: z.enum(['llm', 'heuristic']),
  fallbackReason: z.string().optional(),
});
export type EvaluateResponse = z.infer<typeof EvaluateResponse>;
