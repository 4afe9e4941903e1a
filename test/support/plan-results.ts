import type { ExperimentResult, ProbeScale, ProposedExperiment } from '../../contracts';

/** A succeeded run of `p` with validation and test NE `ne`, as the plan-only tests feed runPlan (no training). */
export function plannedResult(id: string, phase: string, p: ProposedExperiment, ne: number, probe?: ProbeScale): ExperimentResult {
  return {
    experimentId: id,
    phase,
    status: 'succeeded',
    config: p.model,
    hypothesis: p.hypothesis,
    metrics: { ne, auc: 0.7, logloss: 0.3, calibration: 1, ctr: 0.1, examples: 100 },
    validationNe: ne,
    trainSeconds: 1,
    modelBytes: 1,
    attempts: [{ config: p.model }],
    ...(probe ? { probe } : {}),
  };
}
