import type { ExperimentResult } from './experiment';
import type { SegmentMetric } from './metrics';

/**
 * Which rows a campaign's decisions read. `validation`: every choice (designer history, winners, phase stops, the
 * evaluator's ranking and significance, guardrails, the floor) reads the served model's metrics on the validation
 * rows, and test is compared with the baseline once, for the chosen model. `test`: how campaigns recorded before
 * validation metrics decided, kept so that their histories replay.
 */
export type DecisionBasis = 'validation' | 'test';

/** The numbers a decision reads for one run: NE with its standard errors, AUC, calibration, segments. */
export interface DecisionMetrics {
  ne: number;
  /** Standard error of `ne`; unknown for runs recorded before validation metrics existed. */
  neStdErr?: number;
  /** Paired standard error of (NE − baseline NE) on the same rows, when measured. */
  neDeltaStdErr?: number;
  auc?: number;
  calibration?: number;
  segments?: SegmentMetric[];
  measuredOn: DecisionBasis;
}

/**
 * What a decision on `basis` reads of a finished run, or undefined for a run that has nothing to read (failed).
 * On validation, a run recorded before validation metrics existed falls back to its best validation NE during
 * training (what early stopping kept, before calibration): still validation, never test. Pure: safe in workflow code.
 */
export function decisionMetrics(e: ExperimentResult, basis: DecisionBasis): DecisionMetrics | undefined {
  if (e.status !== 'succeeded' || !e.metrics) return undefined;
  if (basis === 'test') {
    const m = e.metrics;
    return {
      ne: m.ne,
      neStdErr: e.neStdErr,
      neDeltaStdErr: e.neDeltaStdErr,
      auc: m.auc,
      calibration: m.calibration,
      segments: m.segments,
      measuredOn: 'test',
    };
  }
  const v = e.validationMetrics;
  if (v)
    return {
      ne: v.ne,
      neStdErr: v.neStdErr,
      neDeltaStdErr: v.neDeltaStdErr,
      auc: v.auc,
      calibration: v.calibration,
      segments: v.segments,
      measuredOn: 'validation',
    };
  return e.validationNe !== undefined && Number.isFinite(e.validationNe) ? { ne: e.validationNe, measuredOn: 'validation' } : undefined;
}

/** The NE a decision on `basis` reads (undefined: the run has none). */
export function decisionNe(e: ExperimentResult, basis: DecisionBasis): number | undefined {
  return decisionMetrics(e, basis)?.ne;
}

/** The run with the lowest NE on `basis` (ties: the earlier run), or undefined when none finished. */
export function bestOn(results: readonly ExperimentResult[], basis: DecisionBasis): ExperimentResult | undefined {
  let best: ExperimentResult | undefined;
  let bestNe = Infinity;
  for (const r of results) {
    const ne = decisionNe(r, basis);
    if (ne === undefined) continue;
    if (!best || ne < bestNe) {
      best = r;
      bestNe = ne;
    }
  }
  return best;
}

/**
 * NE of predicting `predictedCtr` for every row of a split whose click rate is `observedCtr`: 1 when the two are
 * equal, above 1 as they move apart (the log loss of the wrong level over the entropy of the right one). What a
 * constant predictor at the training click rate scores on test: a pick that can't beat it is worse than no model.
 */
export function constantPredictorNe(predictedCtr: number, observedCtr: number): number | undefined {
  const clamp = (p: number) => Math.min(1 - 1e-12, Math.max(1e-12, p));
  if (!(observedCtr > 0 && observedCtr < 1) || !(predictedCtr > 0 && predictedCtr < 1)) return undefined;
  const p = clamp(predictedCtr);
  const c = observedCtr;
  const logLoss = -(c * Math.log(p) + (1 - c) * Math.log(1 - p));
  const entropy = -(c * Math.log(c) + (1 - c) * Math.log(1 - c));
  return logLoss / entropy;
}
