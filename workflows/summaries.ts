import type { ExperimentResult, ExperimentSummary } from '../contracts';

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
  };
}
