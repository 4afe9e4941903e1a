import type { DesignRequest, EvaluateRequest, ExperimentSummary, FieldPairSignal, TriageRequest } from '../../contracts/agents';
import type { FailureClass, TrainingProgress } from '../../contracts/metrics';
import { CandidateView } from '../../contracts/agents';
import { SearchSpace } from '../../contracts/campaign';
import { ModelConfig, type ModelConfigInput } from '../../contracts/model';

/** Small builders for sub-agent requests, so each test states only what it is about. */

export function summary(id: string, model: ModelConfigInput, extra: Partial<ExperimentSummary> = {}): ExperimentSummary {
  const config = ModelConfig.parse(model);
  return { experimentId: id, phase: 'validation', family: config.family, config, status: 'succeeded', ...extra };
}

export const BASELINE_NE = 0.8;

export const baseline = summary(
  'base',
  { family: 'lr' },
  { phase: 'baseline', ne: BASELINE_NE, neStdErr: 0.001, auc: 0.74, calibration: 1.0, relativeNeChange: 0 },
);

/** A run with NE `ne` and its relative change vs the baseline filled in. */
export function run(id: string, model: ModelConfigInput, ne: number, extra: Partial<ExperimentSummary> = {}): ExperimentSummary {
  return summary(id, model, { ne, neStdErr: 0.001, auc: 0.75, calibration: 1.0, relativeNeChange: (ne - BASELINE_NE) / BASELINE_NE, ...extra });
}

/**
 * Residual interaction signal over the 8 active fields of a planted dataset: C1×C2 and C3×C4 carry real
 * interactions, every other pair is noise.
 */
export function plantedSignal(): FieldPairSignal[] {
  const fields = ['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8'];
  const out: FieldPairSignal[] = [];
  for (let i = 0; i < fields.length; i++) {
    for (let j = i + 1; j < fields.length; j++) {
      const pair: [string, string] = [fields[i], fields[j]];
      const name = pair.join('x');
      const strength = name === 'C1xC2' ? 0.09 : name === 'C3xC4' ? 0.06 : 0.002 + ((i * 7 + j * 3) % 5) * 0.0005;
      out.push({ fields: pair, strength });
    }
  }
  return out;
}

export function designRequest(extra: Partial<DesignRequest> = {}): DesignRequest {
  return {
    campaignId: 'camp-1',
    phase: 'validation',
    count: 4,
    dataFingerprint: 'fp-planted-7',
    baseline,
    history: [],
    insights: [],
    research: [],
    fieldPairSignal: plantedSignal(),
    searchSpace: SearchSpace.parse({}),
    seed: 11,
    ...extra,
  };
}

export function candidate(id: string, model: ModelConfigInput, ne: number, extra: Partial<CandidateView> = {}): CandidateView {
  return CandidateView.parse({ ...run(id, model, ne), guardrailViolations: [], ...extra });
}

export function crossKeys(config: ModelConfig): string[] {
  return config.crosses.map((c) => [...c].sort().join('x')).sort();
}

/** Three candidates: a clear fm winner, a smaller lr winner, and one within noise of the baseline. */
export function evaluateRequest(extra: Partial<EvaluateRequest> = {}): EvaluateRequest {
  return {
    campaignId: 'camp-1',
    baseline,
    candidates: [
      candidate('fm-x', { family: 'fm', crosses: [['C1', 'C2']] }, 0.76, { auc: 0.78, calibration: 1.01 }),
      candidate('lr-x', { family: 'lr', crosses: [['C1', 'C2']] }, 0.78, { auc: 0.76 }),
      candidate('lr-noise', { family: 'lr', learningRate: 0.2 }, 0.7985),
    ],
    guardrails: { calibrationBand: [0.9, 1.1] },
    oracleNe: 0.7,
    ...extra,
  };
}

/** Progress events from running losses (and optional validation NEs), one per 100 steps. */
export function progress(losses: number[], validationNe: (number | undefined)[] = [], gradNorm: (number | undefined)[] = []): TrainingProgress[] {
  return losses.map((runningLogloss, i) => ({
    step: (i + 1) * 100,
    epoch: Math.floor(i / 2),
    examples: (i + 1) * 25600,
    runningLogloss,
    validationNe: validationNe[i],
    gradNorm: gradNorm[i],
    elapsedMs: (i + 1) * 50,
  }));
}

export function triageRequest(
  failureClass: FailureClass,
  message: string,
  lastProgress: TrainingProgress[],
  model = ModelConfig.parse({ family: 'lr', learningRate: 2 }),
): TriageRequest {
  return { experimentId: 'exp-1', config: model, failure: { failureClass, message, lastProgress }, attempt: 1 };
}
