import type { ExperimentSummary } from '../contracts/agents';

/**
 * When neither run reports a standard error we cannot test significance; rather than calling every tiny difference
 * a win, we then require at least this relative NE gain (0.2%), a common "noise floor" for offline NE on mid-sized
 * test sets.
 */
export const UNKNOWN_STDERR_MIN_RELATIVE_GAIN = 0.002;

/** How many combined standard errors a difference must exceed to count as significant (~95% one-sided-ish). */
export const SIGNIFICANCE_Z = 2;

export interface NeComparison {
  /** baseline NE − candidate NE (positive = candidate better). */
  neGain: number;
  /** (candidate NE − baseline NE) / baseline NE: the team's headline number (negative = better). */
  relativeNeChange: number;
  /** The paired standard error vs the baseline when measured, else sqrt(se_candidate² + se_baseline²); undefined when neither is known. */
  combinedStdErr?: number;
  /** The gain exceeds SIGNIFICANCE_Z combined standard errors (or the noise floor when errors are unknown). */
  significant: boolean;
}

/** NE of a summary, derived from the relative change when only that was reported. */
export function neOf(run: ExperimentSummary, baselineNe?: number): number | undefined {
  if (run.ne !== undefined && Number.isFinite(run.ne)) return run.ne;
  if (run.relativeNeChange !== undefined && baselineNe !== undefined) return baselineNe * (1 + run.relativeNeChange);
  return undefined;
}

/**
 * Compare a candidate's test NE with a reference (usually the campaign baseline). The two runs are treated as
 * independent, which is conservative when they share a test set (shared examples make the difference less noisy).
 */
export function compareNe(candidate: ExperimentSummary, reference: ExperimentSummary): NeComparison | undefined {
  const refNe = neOf(reference);
  const candNe = neOf(candidate, refNe);
  if (candidate.status !== 'succeeded' || refNe === undefined || candNe === undefined || refNe <= 0) return undefined;
  const neGain = refNe - candNe;
  const relativeNeChange = (candNe - refNe) / refNe;
  // Against the baseline a paired standard error (both models scored on the same rows) is the sharp test; otherwise
  // the two runs are treated as independent, which is conservative.
  const paired =
    reference.phase === 'baseline' && candidate.neDeltaStdErr !== undefined && Number.isFinite(candidate.neDeltaStdErr)
      ? candidate.neDeltaStdErr
      : undefined;
  const errors = [candidate.neStdErr, reference.neStdErr].filter((e): e is number => e !== undefined && Number.isFinite(e) && e >= 0);
  const combinedStdErr = paired ?? (errors.length ? Math.sqrt(errors.reduce((s, e) => s + e * e, 0)) : undefined);
  const significant =
    combinedStdErr !== undefined && combinedStdErr > 0
      ? neGain > SIGNIFICANCE_Z * combinedStdErr
      : -relativeNeChange > UNKNOWN_STDERR_MIN_RELATIVE_GAIN;
  return { neGain, relativeNeChange, combinedStdErr, significant };
}

/** A run that beat the reference by a significant margin (REA's "winner" of a validation experiment). */
export function isSignificantWin(candidate: ExperimentSummary, reference: ExperimentSummary): boolean {
  return compareNe(candidate, reference)?.significant ?? false;
}

export function formatPercent(fraction: number, digits = 2): string {
  const value = (fraction * 100).toFixed(digits);
  return `${fraction > 0 ? '+' : ''}${value}%`;
}
