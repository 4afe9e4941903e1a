import { z } from 'zod';
import { ModelConfig } from './model';
import { Hypothesis } from './experiment';
import type { LearningCurvePoint } from './metrics';

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
  /**
   * A declared schema's slot → column name (`user_country`, `interests[2]`): the findings are measured on slots, and
   * status and the report show them by these names. Absent for Criteo and planted data.
   */
  fieldLabels: z.record(z.string(), z.string()).optional(),
});
export type CampaignResearch = z.infer<typeof CampaignResearch>;

const round4 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : 0);

/**
 * The baseline's learning curve read as a ranking engineer would. Over-fitting: validation NE well above train NE at
 * the kept weights (> 3% relative), or validation rising after its best. Under-fitting: the best evaluation is the
 * last one and validation was still falling (> 0.2% relative over the last interval) — more epochs or capacity
 * would help. Otherwise well fitted; without a curve, unknown.
 */
export function diagnoseFit(curve: readonly LearningCurvePoint[]): FitDiagnosis {
  if (curve.length === 0) return { verdict: 'unknown', evaluations: 0, explanation: 'the baseline has no learning curve' };
  let best = 0;
  curve.forEach((point, i) => {
    if (point.validationNe < curve[best].validationNe) best = i;
  });
  const kept = curve[best];
  const last = curve[curve.length - 1];
  const gap = (kept.validationNe - kept.trainNe) / kept.validationNe;
  const riseAfterBest = (last.validationNe - kept.validationNe) / kept.validationNe;
  const lastStep = curve.length > 1 ? (curve[curve.length - 2].validationNe - last.validationNe) / curve[curve.length - 2].validationNe : 0;
  const base = {
    evaluations: curve.length,
    bestEvaluation: best + 1,
    trainNe: round4(kept.trainNe),
    validationNe: round4(kept.validationNe),
    relativeGap: round4(gap),
    lastImprovement: round4(lastStep),
  };
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  if (gap > 0.03 || riseAfterBest > 0.002)
    return {
      verdict: 'overfitting',
      ...base,
      explanation: `validation NE ${kept.validationNe.toFixed(4)} is ${pct(gap)} above train NE ${kept.trainNe.toFixed(4)} at the kept weights${riseAfterBest > 0.002 ? ` and rose ${pct(riseAfterBest)} after evaluation ${best + 1} of ${curve.length}` : ''}`,
    };
  if (best === curve.length - 1 && lastStep > 0.002)
    return {
      verdict: 'underfitting',
      ...base,
      explanation: `validation NE was still falling at the last evaluation (${pct(lastStep)} over the last interval) and train NE is only ${pct(gap)} below it`,
    };
  return {
    verdict: 'balanced',
    ...base,
    explanation: `validation NE is ${pct(gap)} above train NE at evaluation ${best + 1} of ${curve.length}, and ${best === curve.length - 1 ? 'flat at the end' : 'did not improve after it'}`,
  };
}
