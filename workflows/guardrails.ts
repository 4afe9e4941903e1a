import type { ExperimentResult, Guardrails } from '../contracts';

/**
 * Business guardrails, checked in the workflow (pure and deterministic) so no activity, LLM or retry can bend them.
 * Returns one human-readable line per broken constraint, naming the constraint and the measured value.
 */
export function guardrailViolations(candidate: ExperimentResult, baseline: ExperimentResult | undefined, rails: Guardrails): string[] {
  const broken: string[] = [];
  const m = candidate.metrics;
  if (!m) return ['no metrics: the experiment did not finish'];
  const base = baseline?.metrics;

  if (rails.minRelativeNeGain !== undefined && base) {
    const gain = (base.ne - m.ne) / base.ne;
    if (gain < rails.minRelativeNeGain) {
      broken.push(`minRelativeNeGain: NE gain ${pct(gain)} is below the required ${pct(rails.minRelativeNeGain)}`);
    }
  }
  if (rails.calibrationBand) {
    const [lo, hi] = rails.calibrationBand;
    if (!(m.calibration >= lo && m.calibration <= hi)) {
      broken.push(`calibrationBand: calibration ${m.calibration.toFixed(3)} is outside [${lo}, ${hi}]`);
    }
  }
  if (rails.maxSegmentNeRegression !== undefined && base?.segments && m.segments) {
    for (const seg of m.segments) {
      const ref = base.segments.find((s) => s.field === seg.field && s.value === seg.value);
      if (!ref || ref.ne <= 0) continue;
      const regression = (seg.ne - ref.ne) / ref.ne;
      if (regression > rails.maxSegmentNeRegression) {
        broken.push(
          `maxSegmentNeRegression: segment ${seg.field}=${seg.value} NE regressed ${pct(regression)} (limit ${pct(rails.maxSegmentNeRegression)})`,
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

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
