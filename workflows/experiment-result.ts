import type { Attempt, ExperimentResult, FailureReport, Hypothesis, ModelConfig, ProbeScale } from '../contracts';
import type { TrainSummary } from '../activities';
import { DEFAULT_MAX_ATTEMPTS } from '../contracts/experiment';

/**
 * The ExperimentResult of a finished run or of a run that gave up, built one way for the experiment workflow and the
 * agent benchmark (which drives the same plan in process). Pure: safe in workflow code.
 */
export interface ExperimentIdentity {
  experimentId: string;
  campaignId?: string;
  phase: string;
  hypothesis?: Hypothesis;
  /** Baseline NE, for the relative NE change. */
  baselineNe?: number;
  /** The baseline's validation NE, for the relative NE change on validation (what a campaign decides on). */
  baselineValidationNe?: number;
  probe?: ProbeScale;
}

export function succeededResult(who: ExperimentIdentity, config: ModelConfig, out: TrainSummary, attempts: Attempt[]): ExperimentResult {
  return {
    experimentId: who.experimentId,
    campaignId: who.campaignId,
    phase: who.phase,
    status: 'succeeded',
    config,
    hypothesis: who.hypothesis,
    dataFingerprint: out.dataFingerprint,
    badRows: out.badRows,
    artifact: out.artifact,
    metrics: out.metrics,
    validationNe: out.validationNe,
    ...(out.validationMetrics
      ? {
          validationMetrics: {
            ...out.validationMetrics,
            ...(who.baselineValidationNe
              ? { relativeNeChange: (out.validationMetrics.ne - who.baselineValidationNe) / who.baselineValidationNe }
              : {}),
          },
        }
      : {}),
    validation: out.validation,
    earlyStopping: out.earlyStopping,
    learningCurve: out.learningCurve,
    calibration: out.calibration,
    neStdErr: out.neStdErr,
    neDeltaStdErr: out.neDeltaStdErr,
    relativeNeChange: who.baselineNe ? (out.metrics.ne - who.baselineNe) / who.baselineNe : undefined,
    trainSeconds: out.trainSeconds,
    modelBytes: out.modelBytes,
    attempts,
    ...(who.probe ? { probe: who.probe } : {}),
  };
}

/** `fix` is the retry policy's last word: what a human should do, or that the retries ran out. */
export function failedResult(
  who: ExperimentIdentity,
  config: ModelConfig,
  failure: FailureReport,
  fix: string,
  attempts: Attempt[],
): ExperimentResult {
  return {
    experimentId: who.experimentId,
    campaignId: who.campaignId,
    phase: who.phase,
    status: 'failed',
    config,
    hypothesis: who.hypothesis,
    // No model was trained to the end: the seconds its failed attempts trained are in their reports (trainSecondsUsed).
    trainSeconds: 0,
    modelBytes: 0,
    attempts,
    failure: { failureClass: failure.failureClass, message: failure.message, fix },
    ...(who.probe ? { probe: who.probe } : {}),
  };
}

/**
 * The fix of a run whose retries ran out: it took all a run may take, or fewer because the campaign's budget had no
 * room for more (planner.ts attemptsWithinBudget).
 */
export function gaveUpFix(attempts: number, maxAttempts: number, fix: string): string {
  const took = `gave up after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}`;
  return maxAttempts < DEFAULT_MAX_ATTEMPTS
    ? `${took}: the campaign's budget left room for no more (a retry is another run); ${fix}`
    : `${took}; ${fix}`;
}
