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
 * A finding needs at least this many clicks in EACH held-out half (rows that carry its fields) to be estimated: its
 * gain is a log-loss change summed mostly over clicked rows, and below ~50 of them one click more or less moves it by
 * several percent of itself, so its standard error is itself too noisy to judge it by. Fewer, and the finding says
 * "not estimable with N clicks" instead of printing a number (about 100 clicks in the finding's rows in all).
 */
export const MIN_HELD_OUT_CLICKS = 50;
/** A held-out gain counts as signal when it stands at least this many standard errors above zero. */
export const SIGNAL_STD_ERRORS = 2;

/**
 * The standard errors a held-out gain must stand above 0 when `tested` findings of its kind were measured together:
 * √(2 ln m), the level the largest of m pure-noise z-scores rarely exceeds (2.7 for 39 fields, 3.6 for their 741
 * pairs), and at least SIGNAL_STD_ERRORS. Without it, 2 standard errors over hundreds of pairs pass a dozen of noise.
 */
export function signalThreshold(tested: number): number {
  return Math.max(SIGNAL_STD_ERRORS, Math.sqrt(2 * Math.log(Math.max(1, tested))));
}

/**
 * Residual signal of one, two or three fields, estimated held out (ranking/residual-cells.ts): per-cell logit offsets
 * on the baseline's predictions, shrunk by each cell's clicks, fitted on one half of the residual rows and scored on
 * the other (then swapped). `strength` is the log loss those offsets gain in nats a row (signed: below 0 they hurt
 * on rows they did not see). Single fields: a main effect the model misses; pairs: an interaction net of both
 * fields' main effects; triples: net of the mains and the three pairs. Absent optional fields: a record made before
 * the held-out statistics.
 */
export const ResidualSignal = z.object({
  fields: z.array(z.string()).min(1).max(3),
  strength: z.number(),
  /** Standard error of `strength`. */
  stdErr: z.number().optional(),
  /** Clicks in the residual rows that carry these fields. */
  clicks: z.number().int().optional(),
  /** False when a held-out half holds fewer than MIN_HELD_OUT_CLICKS of those clicks: strength is 0 and means nothing. */
  estimable: z.boolean().optional(),
  /** The expected relative NE reduction the held-out strength supports: strength / the baseline's log loss a row, ≥ 0. */
  heldOutGain: z.number().optional(),
  /** Stands out of its noise: estimable and signalThreshold(findings of its kind measured) standard errors above 0. */
  significant: z.boolean().optional(),
});
export type ResidualSignal = z.infer<typeof ResidualSignal>;

/** The interactions found significant, fitted together held out: what all of them at once are worth (no double counting). */
export const JointSignal = z.object({
  /** The findings fitted together (pairs, or pairs and triples), strongest first. */
  fields: z.array(z.array(z.string()).min(2).max(3)).max(40),
  strength: z.number(),
  stdErr: z.number(),
  clicks: z.number().int(),
  estimable: z.boolean(),
  heldOutGain: z.number(),
});
export type JointSignal = z.infer<typeof JointSignal>;

/**
 * A held-out finding that stands out of its noise: enough clicks, and signalThreshold(tested) standard errors above 0
 * (`tested`: how many findings of its kind were measured). A finding the research step already judged keeps its verdict.
 */
export function isResidualSignal(s: ResidualSignal, tested = 1): boolean {
  if (s.significant !== undefined) return s.significant;
  return s.estimable !== false && s.strength > 0 && s.strength > signalThreshold(tested) * (s.stdErr ?? 0);
}

/**
 * Permutation importance is measured on validation rows (held out already, no halves): below this many clicks there,
 * as many as a residual finding needs in all, its standard error means as little, and no hypothesis rests on it.
 */
export const MIN_IMPORTANCE_CLICKS = 2 * MIN_HELD_OUT_CLICKS;

/** How a finding without enough clicks reads, wherever it is shown. */
export function notEstimableWording(what: string, clicks: number, needs = `${MIN_HELD_OUT_CLICKS} in each held-out half`): string {
  return `${what}: not estimable with ${clicks} clicks (needs ${needs})`;
}

export const DenseShape = z.object({
  field: z.string(),
  /** The baseline's transform of this field. */
  transform: z.string().optional(),
  buckets: z.number().int(),
  missingShare: z.number(),
  shape: z.enum(['flat', 'increasing', 'decreasing', 'non-monotone']),
  /**
   * Log loss (nats a row) the free bucket CTRs gain over the best monotone fit, held out: both fitted on one half of
   * the rows, scored on the other, then swapped (below 0: the bumps do not carry over to rows they were not fitted on).
   */
  nonMonotoneGain: z.number(),
  /** Standard error of `nonMonotoneGain` (absent: a record made before the held-out statistics). */
  nonMonotoneStdErr: z.number().optional(),
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
  /** Clicks in the residual rows (absent: a record made before the held-out statistics). */
  clicks: z.number().int().optional(),
  /** Clicks in the validation rows permutation importance was measured on. */
  importanceClicks: z.number().int().optional(),
  /**
   * Findings that had too few clicks to estimate, worded "…: not estimable with N clicks" (the first ones; the last
   * entry counts the rest). The whole residual sample when it is too small.
   */
  notEstimable: z.array(z.string().max(200)).max(25).optional(),
  /** The significant pairs fitted together, held out: the most a family that learns every pair can expect. */
  jointPairs: JointSignal.optional(),
  /** The significant pairs and triples fitted together, held out: the most a deep family can expect from them. */
  jointInteractions: JointSignal.optional(),
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
  /** Expected relative NE reduction (0.01 = NE 1% lower), from the measurement; never above `heldOutGain`. */
  expectedGain: z.number(),
  /**
   * What the held-out measurements behind it support (relative NE reduction): the bound `expectedGain` is a share of.
   * Absent: a record made before the held-out statistics.
   */
  heldOutGain: z.number().optional(),
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
      explanation: `validation NE was still falling at the last evaluation (${pct(lastStep)} over the last interval) and train NE is ${gap >= 0 ? `only ${pct(gap)} below` : `${pct(-gap)} above`} it`,
    };
  return {
    verdict: 'balanced',
    ...base,
    explanation: `validation NE is ${pct(gap)} above train NE at evaluation ${best + 1} of ${curve.length}, and ${best === curve.length - 1 ? 'flat at the end' : 'did not improve after it'}`,
  };
}
