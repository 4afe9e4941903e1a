import type { ExperimentResult, Guardrails, RecommendationFloor } from '../contracts';
import { decisionMetrics, type DecisionBasis } from '../contracts/decision-metrics';

/**
 * Business guardrails, checked in the workflow (pure and deterministic) so no activity, LLM or retry can bend them.
 * Returns one human-readable line per broken constraint, naming the constraint and the measured value. The NE gain,
 * calibration and segments read the decision basis: validation (campaigns recorded before it existed: test).
 */
export function guardrailViolations(
  candidate: ExperimentResult,
  baseline: ExperimentResult | undefined,
  rails: Guardrails,
  decideOn: DecisionBasis = 'test',
): string[] {
  const broken: string[] = [];
  const m = decisionMetrics(candidate, decideOn);
  if (!m) return ['no metrics: the experiment did not finish'];
  const base = baseline && decisionMetrics(baseline, decideOn);
  const on = decideOn === 'validation' ? ' on validation' : '';

  if (rails.minRelativeNeGain !== undefined && base) {
    const gain = (base.ne - m.ne) / base.ne;
    if (gain < rails.minRelativeNeGain) {
      broken.push(`minRelativeNeGain: NE gain${on} ${pct(gain)} is below the required ${pct(rails.minRelativeNeGain)}`);
    }
  }
  if (rails.calibrationBand && m.calibration !== undefined) {
    const [lo, hi] = rails.calibrationBand;
    if (!(m.calibration >= lo && m.calibration <= hi)) {
      broken.push(`calibrationBand: calibration${on} ${m.calibration.toFixed(3)} is outside [${lo}, ${hi}]`);
    }
  }
  if (rails.maxSegmentNeRegression !== undefined && base?.segments && m.segments) {
    for (const seg of m.segments) {
      const ref = base.segments.find((s) => s.field === seg.field && s.value === seg.value);
      if (!ref || ref.ne <= 0) continue;
      const regression = (seg.ne - ref.ne) / ref.ne;
      if (regression > rails.maxSegmentNeRegression) {
        broken.push(
          `maxSegmentNeRegression: segment ${seg.field}=${seg.value} NE${on} regressed ${pct(regression)} (limit ${pct(rails.maxSegmentNeRegression)})`,
        );
      }
    }
  }
  if (rails.maxModelBytes !== undefined && candidate.modelBytes > rails.maxModelBytes) {
    broken.push(`maxModelBytes: model is ${candidate.modelBytes} bytes (limit ${rails.maxModelBytes})`);
  }
  if (rails.maxTrainSeconds !== undefined && candidate.trainSeconds > rails.maxTrainSeconds) {
    broken.push(`maxTrainSeconds: training took ${candidate.trainSeconds.toFixed(1)} s (limit ${rails.maxTrainSeconds} s)`);
  }
  return broken;
}

/**
 * The floor every recommendation must clear on validation (contracts' RecommendationFloor): NE below 1 — a constant
 * predictor at the click rate scores 1 — by `standardErrors` of its standard error, AUC above 0.5, calibration within
 * the band. One line per miss, named `floor.*` like a guardrail; none when the floor is off.
 */
export function floorViolations(candidate: ExperimentResult, floor: RecommendationFloor): string[] {
  if (!floor.enabled) return [];
  const m = decisionMetrics(candidate, 'validation');
  if (!m) return ['floor: no validation metrics: the experiment did not finish'];
  const broken: string[] = [];
  const margin = floor.standardErrors * (m.neStdErr ?? 0);
  if (!(m.ne + margin < 1)) {
    const se = m.neStdErr !== undefined ? ` ± ${m.neStdErr.toFixed(4)}` : '';
    const by = margin > 0 ? ` by ${floor.standardErrors} standard error${floor.standardErrors === 1 ? '' : 's'}` : '';
    broken.push(`floor.ne: validation NE ${m.ne.toFixed(4)}${se} is not below 1${by}: no better than predicting the click rate for every row`);
  }
  if (m.auc !== undefined && !(m.auc > 0.5))
    broken.push(`floor.auc: validation AUC ${m.auc.toFixed(3)} is not above 0.5: it ranks no better than chance`);
  const [lo, hi] = floor.calibrationBand;
  if (m.calibration !== undefined && !(m.calibration >= lo && m.calibration <= hi))
    broken.push(`floor.calibration: validation calibration ${m.calibration.toFixed(3)} is outside [${lo}, ${hi}]`);
  return broken;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
