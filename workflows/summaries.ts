import { diagnoseFit, externalTrainerLabel, type ExperimentResult, type ExperimentSummary } from '../contracts';
import { decisionMetrics, decisionNe, type DecisionBasis } from '../contracts/decision-metrics';

/**
 * The compact view sub-agents see: metrics and config, never models or data. Its NE, standard errors, AUC,
 * calibration and relative NE change are what decisions read (`measuredOn`: validation, or test for campaigns
 * recorded before validation metrics existed); with validation, the test metrics ride along as information.
 * `baseline` is the campaign baseline, for the relative change on the decision basis.
 */
export function summarize(e: ExperimentResult, decideOn: DecisionBasis = 'test', baseline?: ExperimentResult): ExperimentSummary {
  const d = decisionMetrics(e, decideOn);
  const baseNe = baseline && decisionNe(baseline, decideOn);
  const onValidation = decideOn === 'validation';
  return {
    experimentId: e.experimentId,
    phase: e.phase,
    family: e.config.family,
    config: e.config,
    status: e.status,
    ...(onValidation && d ? { measuredOn: d.measuredOn } : {}),
    ne: d?.ne,
    neStdErr: d?.neStdErr,
    neDeltaStdErr: d?.neDeltaStdErr,
    auc: d?.auc,
    calibration: d?.calibration,
    relativeNeChange: onValidation ? (d && baseNe ? (d.ne - baseNe) / baseNe : undefined) : e.relativeNeChange,
    ...(onValidation && e.metrics ? { test: { ne: e.metrics.ne, auc: e.metrics.auc, calibration: e.metrics.calibration } } : {}),
    failureClass: e.failure?.failureClass,
    hypothesis: e.hypothesis,
    trainSeconds: e.trainSeconds,
    ...(e.probe ? { trainRows: e.probe.trainRows } : {}),
    modelBytes: e.modelBytes,
    ...(e.status === 'succeeded' && e.learningCurve?.length ? { fit: diagnoseFit(e.learningCurve) } : {}),
    ...(e.externalJob ? { trainer: externalTrainerLabel(e.externalJob) } : {}),
  };
}

/** Above this many experiments the designer sees a selection, not everything (keeps each request small). */
export const DESIGNER_HISTORY_LIMIT = 60;

/**
 * What the designer is shown of a long campaign: the best half by NE on the decision basis (what to build on) and
 * the most recent half (what was just learned), in completion order. Nothing is forgotten — the insights database
 * still holds every run and the design activity filters out anything already measured on this data.
 */
export function designerHistory(
  experiments: ExperimentResult[],
  limit = DESIGNER_HISTORY_LIMIT,
  decideOn: DecisionBasis = 'test',
  baseline?: ExperimentResult,
): ExperimentSummary[] {
  const view = (e: ExperimentResult) => summarize(e, decideOn, baseline);
  if (experiments.length <= limit) return experiments.map(view);
  const half = Math.floor(limit / 2);
  const best = experiments
    .filter((e) => decisionNe(e, decideOn) !== undefined)
    .sort((a, b) => decisionNe(a, decideOn)! - decisionNe(b, decideOn)!)
    .slice(0, half);
  const keep = new Set([...best, ...experiments.slice(-(limit - best.length))]);
  return experiments.filter((e) => keep.has(e)).map(view);
}
