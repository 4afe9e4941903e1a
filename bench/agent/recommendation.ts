import { createHash } from 'node:crypto';
import { Guardrails, RecommendationFloor } from '../../contracts';
import type { ExperimentResult, TestConfirmation } from '../../contracts';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { constantPredictorNe, decisionMetrics, decisionNe } from '../../contracts/decision-metrics';
import { evaluateHeuristically } from '../../agents/heuristic-evaluator';
import { decideRecommendation, eligibility, type RecommendationRules } from '../../workflows/recommendation';
import { summarize } from '../../workflows/summaries';
import { confirmOnTest } from '../../workflows/test-confirmation';

/**
 * A bench campaign's result is its recommendation, decided as the workflow decides it (workflows/campaign.ts
 * recommendWithinGuardrails): the heuristic evaluator ranks the full runs on their validation summaries and advises,
 * workflows/recommendation.ts decideRecommendation enforces the floor (contracts RecommendationFloor's defaults; no
 * guardrails), and workflows/test-confirmation.ts confirmOnTest compares the pick with the baseline on test once.
 * `none` is no recommendation: shipping nothing keeps whatever serves today, scored as a constant predictor at the
 * training click rate. Pure: the bench and its tests call it alike.
 */

export const BENCH_RULES: RecommendationRules = {
  guardrails: Guardrails.parse({}),
  floor: RecommendationFloor.parse({}),
  decideOn: 'validation',
};

/** What a campaign recommends, as numbers a report can carry (JSON). */
export interface PickSummary {
  /** candidate: a model other than the baseline; baseline: keep it; none: no recommendation (nothing clears the floor). */
  kind: 'candidate' | 'baseline' | 'none';
  /** The picked run (absent for none). */
  id?: string;
  title?: string;
  family?: string;
  /** Validation NE ± its standard error, what the pick was chosen by. */
  validationNe?: number;
  validationNeStdErr?: number;
  /** The pick's test NE; for none, the constant predictor's (what keeping today's serving scores). */
  testNe?: number;
  /** The standard error of the pick's test NE (absent for none). */
  testNeStdErr?: number;
  /** A constant predictor at the training click rate, scored on test (contracts constantPredictorNe). */
  constantNe?: number;
  /** confirmOnTest's verdict on the pick (absent for none). */
  confirmation?: Pick<TestConfirmation, 'confirmed' | 'significant' | 'relativeNeChange' | 'deltaStdErr' | 'note'> & {
    /** Worse than the baseline on test beyond 2 paired standard errors (confirmOnTest's rule). */
    worseBeyondNoise?: boolean;
  };
  /** none: what the best run (baseline included) breaks of the floor. */
  broken?: string[];
  /** none: the best run by validation, what a human could override to. */
  best?: string;
  /** The best candidate beat the baseline on validation but breaks the floor: the workflow halts for review on it. */
  halt?: { id: string; broken: string[] };
  /** The heuristic evaluator's rationale. */
  rationale?: string;
}

/**
 * The recommendation over `results` (full runs in completion order, the baseline among them), or undefined when the
 * baseline did not finish. `trainCtr`: the training rows' click rate (describeData's ctr, as the workflow's data checks).
 */
export function benchRecommendation(
  campaignId: string,
  results: readonly ExperimentResult[],
  trainCtr: number | undefined,
  rules: RecommendationRules = BENCH_RULES,
): PickSummary | undefined {
  const base = results.find((r) => r.phase === 'baseline');
  if (!base || base.status !== 'succeeded' || !base.metrics) return undefined;
  const candidates = results.filter((e) => e !== base && e.status === 'succeeded' && e.metrics);
  const checked = eligibility(base, candidates, rules);
  const evaluation = evaluateHeuristically({
    campaignId,
    baseline: summarize(base, rules.decideOn, base),
    candidates: candidates.map((c) => ({ ...summarize(c, rules.decideOn, base), guardrailViolations: checked.violations.get(c.experimentId)! })),
    guardrails: rules.guardrails,
  });
  const decided = decideRecommendation(base, candidates, evaluation.recommended, rules, checked);
  const constantNe = trainCtr !== undefined ? constantPredictorNe(trainCtr, base.metrics.ctr) : undefined;
  const constant = constantNe !== undefined ? { constantNe } : {};
  if (decided.kind === 'none')
    return {
      kind: 'none',
      testNe: constantNe,
      ...constant,
      broken: decided.broken,
      best: decided.best.experimentId,
      rationale: evaluation.rationale,
    };
  const pick = decided.kind === 'candidate' ? decided.pick : base;
  const v = decisionMetrics(pick, 'validation');
  const c = confirmOnTest(pick, base, trainCtr);
  // confirmOnTest's rule for "worse than the baseline beyond noise" (2 paired SE; without one, any loss).
  const loss = pick.metrics!.ne - base.metrics.ne;
  const worseBeyondNoise = pick !== base && (c?.deltaStdErr !== undefined ? loss > 2 * c.deltaStdErr : loss > 0);
  return {
    kind: decided.kind,
    id: pick.experimentId,
    title: pick.hypothesis?.title ?? '',
    family: pick.config.family,
    ...(v ? { validationNe: v.ne } : {}),
    ...(v?.neStdErr !== undefined ? { validationNeStdErr: v.neStdErr } : {}),
    testNe: pick.metrics!.ne,
    ...(pick.neStdErr !== undefined ? { testNeStdErr: pick.neStdErr } : {}),
    ...constant,
    ...(c
      ? {
          confirmation: {
            confirmed: c.confirmed,
            significant: c.significant,
            relativeNeChange: c.relativeNeChange,
            ...(c.deltaStdErr !== undefined ? { deltaStdErr: c.deltaStdErr } : {}),
            ...(worseBeyondNoise ? { worseBeyondNoise } : {}),
            note: c.note,
          },
        }
      : {}),
    ...(decided.halt ? { halt: { id: decided.halt.candidate.experimentId, broken: decided.halt.broken } } : {}),
    rationale: evaluation.rationale,
  };
}

/** A research hypothesis as the bench keeps it: what to match runs against, and what it expected. */
export interface ResearchExpectationSource {
  title: string;
  /** contracts canonicalConfigKey of its model. */
  key: string;
  expectedGain: number;
  heldOutGain?: number;
}

/** One full run whose hypothesis came from the research step: its expected and measured relative NE gains. */
export interface ResearchCheck {
  id: string;
  title: string;
  /** Expected relative NE reduction (0.01 = NE 1% lower). */
  expectedGain: number;
  /** Measured: (baseline validation NE − its validation NE) / baseline validation NE. */
  measuredGain?: number;
  /** The paired standard error of the measured gain (validation ΔNE's / baseline validation NE), when measured. */
  measuredStdErr?: number;
  /** expected / measured, when the run measured a gain (> 0); absent when it measured none (an unbounded ratio). */
  ratio?: number;
  /** 1/3 ≤ ratio ≤ 3. */
  within3x: boolean;
  /**
   * The expectation lies within 2 standard errors of the measured gain: consistent with it, whatever the ratio (a small
   * expectation next to a measurement that is noise around 0 has a meaningless ratio).
   */
  withinNoise?: boolean;
  /** How the run was tied to its research hypothesis: the hypothesis carried `expectedGain`, or its config matched one. */
  via: 'hypothesis' | 'config';
  /** A short hash of the run's canonical config key: the same config run twice (a warm start's re-run) counts once. */
  config: string;
}

export const RESEARCH_RATIO_BAND = 3;
/** Standard errors within which an expectation is consistent with its measurement (the evaluator's significance rule). */
const NOISE_Z = 2;

/**
 * The full runs (not probes, not the baseline) whose hypothesis came from the research step, with expected and measured
 * gains. A run is tied to research by the expected gain its hypothesis carries (Hypothesis.expectedGain), else by its
 * config's canonical key matching a research hypothesis's model (the first attempt's config: a retry may change it).
 */
export function researchChecks(results: readonly ExperimentResult[], research: readonly ResearchExpectationSource[]): ResearchCheck[] {
  const base = results.find((r) => r.phase === 'baseline');
  const baseNe = base && decisionNe(base, 'validation');
  const byKey = new Map(research.map((h) => [h.key, h]));
  const out: ResearchCheck[] = [];
  for (const e of results) {
    if (e === base || e.probe || e.status !== 'succeeded') continue;
    let expectedGain = e.hypothesis?.expectedGain;
    let via: ResearchCheck['via'] = 'hypothesis';
    if (expectedGain === undefined) {
      const keys = [e.attempts[0]?.config, e.config].filter((c) => c !== undefined).map((c) => canonicalConfigKey(c));
      const match = keys.map((k) => byKey.get(k)).find((h) => h !== undefined);
      if (!match) continue;
      expectedGain = match.expectedGain;
      via = 'config';
    }
    const v = decisionMetrics(e, 'validation');
    const measuredGain = v && baseNe ? (baseNe - v.ne) / baseNe : undefined;
    const measuredStdErr = v?.neDeltaStdErr !== undefined && baseNe ? v.neDeltaStdErr / baseNe : undefined;
    const ratio = measuredGain !== undefined && measuredGain > 0 ? expectedGain / measuredGain : undefined;
    const withinNoise =
      measuredGain !== undefined && measuredStdErr !== undefined ? Math.abs(expectedGain - measuredGain) <= NOISE_Z * measuredStdErr : undefined;
    out.push({
      id: e.experimentId,
      title: e.hypothesis?.title ?? '',
      expectedGain,
      ...(measuredGain !== undefined ? { measuredGain } : {}),
      ...(measuredStdErr !== undefined ? { measuredStdErr } : {}),
      ...(ratio !== undefined ? { ratio } : {}),
      within3x: ratio !== undefined && ratio >= 1 / RESEARCH_RATIO_BAND && ratio <= RESEARCH_RATIO_BAND,
      ...(withinNoise !== undefined ? { withinNoise } : {}),
      via,
      config: createHash('sha256').update(canonicalConfigKey(e.config)).digest('hex').slice(0, 12),
    });
  }
  return out;
}

/** How well research expectations predicted measured gains over a set of runs. */
export interface ResearchCalibration {
  /** Runs compared (those with a measured validation NE). */
  n: number;
  within3x: number;
  /** Runs that measured no gain (their ratio is unbounded: the expectation was entirely optimistic). */
  noGain: number;
  /** Runs whose expectation is within 2 standard errors of the measured gain (consistent with it, whatever the ratio). */
  withinNoise: number;
  /** The median of expected / measured, runs without a measured gain counted as unbounded ('unbounded' if the median is one). */
  medianRatio?: number | 'unbounded';
}

export function researchCalibration(checks: readonly ResearchCheck[]): ResearchCalibration {
  const measured = checks.filter((c) => c.measuredGain !== undefined);
  const ratios = measured.map((c) => c.ratio ?? Infinity).sort((a, b) => a - b);
  const n = ratios.length;
  const median = n === 0 ? undefined : n % 2 ? ratios[(n - 1) / 2] : (ratios[n / 2 - 1] + ratios[n / 2]) / 2;
  return {
    n,
    within3x: measured.filter((c) => c.within3x).length,
    noGain: measured.filter((c) => c.ratio === undefined).length,
    withinNoise: measured.filter((c) => c.withinNoise).length,
    ...(median !== undefined ? { medianRatio: Number.isFinite(median) ? median : 'unbounded' } : {}),
  };
}

/** The median ratio within the band [1/3, 3]. */
export function medianWithinBand(c: ResearchCalibration): boolean | undefined {
  if (c.medianRatio === undefined) return undefined;
  return c.medianRatio !== 'unbounded' && c.medianRatio >= 1 / RESEARCH_RATIO_BAND && c.medianRatio <= RESEARCH_RATIO_BAND;
}
