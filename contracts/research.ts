import { z } from 'zod';
import { ModelConfig } from './model';
import { Hypothesis } from './experiment';

/**
 * The research step: what the campaign measured on its baseline and data before the first wave (ranking/research.ts),
 * and the ranked hypotheses the designer takes from it (agents/research-hypotheses.ts). Everything here is computed
 * by the worker from the data and the baseline's artifact; nothing in it is caller input.
 */

/** NE lost when one field's values are shuffled across validation rows (permutation importance). */
export const FieldImportance = z.object({
  field: z.string(),
  kind: z.enum(['dense', 'categorical']),
  neIncrease: z.number(),
  stdErr: z.number(),
});
export type FieldImportance = z.infer<typeof FieldImportance>;

/**
 * Residual signal of one, two or three fields: the cell excess over a permutation null (ranking/residual-cells.ts),
 * ≈ 2 × the log loss (nats a row) a model would gain by fitting it. Single fields: a main effect the model misses;
 * pairs and triples: an interaction it misses (a triple net of its three pairs).
 */
export const ResidualSignal = z.object({ fields: z.array(z.string()).min(1).max(3), strength: z.number() });
export type ResidualSignal = z.infer<typeof ResidualSignal>;

export const DenseShape = z.object({
  field: z.string(),
  /** The baseline's transform of this field. */
  transform: z.string().optional(),
  buckets: z.number().int(),
  missingShare: z.number(),
  shape: z.enum(['flat', 'increasing', 'decreasing', 'non-monotone']),
  /** Log loss (nats a row) the free bucket CTRs gain over the best monotone fit. */
  nonMonotoneGain: z.number(),
  ctrByBucket: z.array(z.number()),
});
export type DenseShape = z.infer<typeof DenseShape>;

export const FitDiagnosis = z.object({
  verdict: z.enum(['overfitting', 'underfitting', 'balanced', 'unknown']),
  evaluations: z.number().int(),
  bestEvaluation: z.number().int().optional(),
  trainNe: z.number().optional(),
  validationNe: z.number().optional(),
  /** (validation NE − train NE) / validation NE at the kept weights. */
  relativeGap: z.number().optional(),
  /** Relative validation NE improvement over the last evaluation interval. */
  lastImprovement: z.number().optional(),
  explanation: z.string(),
});
export type FitDiagnosis = z.infer<typeof FitDiagnosis>;

export const SlotHashing = z.object({
  feature: z.string(),
  distinct: z.number(),
  bits: z.number().int(),
  autoBits: z.number().int(),
  expectedCollisionRate: z.number(),
  collidingRowShare: z.number().optional(),
});

export const BaselineResearch = z.object({
  artifact: z.string(),
  family: z.string(),
  importanceRows: z.number().int(),
  residualRows: z.number().int(),
  /** The baseline's log loss (nats a row) on the residual rows: the denominator of every expected gain. */
  logLossPerRow: z.number(),
  /** |strength| of the median pair: signal below a few times this is noise. */
  noiseFloor: z.number(),
  importance: z.array(FieldImportance),
  mainEffects: z.array(ResidualSignal),
  pairs: z.array(ResidualSignal),
  triples: z.array(ResidualSignal),
  denseShapes: z.array(DenseShape),
  hashing: z.object({ hashSpace: z.string(), hashBits: z.number().int(), expectedCollisionRate: z.number(), slots: z.array(SlotHashing) }),
  fit: FitDiagnosis,
});
export type BaselineResearch = z.infer<typeof BaselineResearch>;

/** One hypothesis the research step proposes: the change, what measured it, and its expected gain and cost. */
export const ResearchHypothesis = z.object({
  hypothesis: Hypothesis,
  model: ModelConfig,
  /** The measurement behind it, in words (which statistic, how far above noise). */
  evidence: z.string().max(400),
  /** Expected relative NE reduction (0.01 = NE 1% lower), from the measurement. */
  expectedGain: z.number(),
  /** Expected training cost relative to the baseline's. */
  cost: z.number(),
});
export type ResearchHypothesis = z.infer<typeof ResearchHypothesis>;

/** What the campaign keeps: the ranked hypotheses (best expected gain per unit of cost first) and the findings. */
export const CampaignResearch = z.object({
  hypotheses: z.array(ResearchHypothesis).max(24),
  findings: BaselineResearch,
  seconds: z.number(),
});
export type CampaignResearch = z.infer<typeof CampaignResearch>;
