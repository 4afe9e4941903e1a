import { diagnoseFit, externalTrainerLabel, type ExperimentResult, type ExperimentSummary } from '../contracts';

/** The compact view sub-agents see: metrics and config, never models or data. */
export function summarize(e: ExperimentResult): ExperimentSummary {
  return {
    experimentId: e.experimentId,
    phase: e.phase,
    family: e.config.family,
    config: e.config,
    status: e.status,
    ne: e.metrics?.ne,
    neStdErr: e.neStdErr,
    neDeltaStdErr: e.neDeltaStdErr,
    auc: e.metrics?.auc,
    calibration: e.metrics?.calibration,
    relativeNeChange: e.relativeNeChange,
    failureClass: e.failure?.failureClass,
    hypothesis: e.hypothesis,
    trainSeconds: e.trainSeconds,
    modelBytes: e.modelBytes,
    ...(e.status === 'succeeded' && e.learningCurve?.length ? { fit: diagnoseFit(e.learningCurve) } : {}),
    ...(e.externalJob ? { trainer: externalTrainerLabel(e.externalJob) } : {}),
  };
}

/** Above this many experiments the designer sees a selection, not everything (keeps each request small). */
export const DESIGNER_HISTORY_LIMIT = 60;

/**
 * What the designer is shown of a long campaign: the best half by NE (what to build on) and the most recent half
 * (what was just learned), in completion order. Nothing is forgotten — the insights database still holds every run
 * and the design activity filters out anything already measured on this data.
 */
export function designerHistory(experiments: ExperimentResult[], limit = DESIGNER_HISTORY_LIMIT): ExperimentSummary[] {
  if (experiments.length <= limit) return experiments.map(summarize);
  const half = Math.floor(limit / 2);
  const best = [...experiments]
    .filter((e) => e.metrics)
    .sort((a, b) => a.metrics!.ne - b.metrics!.ne)
    .slice(0, half);
  const keep = new Set([...best, ...experiments.slice(-(limit - best.length))]);
  return experiments.filter((e) => keep.has(e)).map(summarize);
}
