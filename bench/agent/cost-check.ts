import type { ExperimentResult } from '../../contracts';
import { fitCostModel, predictTrainingSeconds, CAMPAIGN_WEIGHT, type CostObservation } from '../../agents/cost-model';

/**
 * How well the cost model (agents/cost-model.ts) predicted a campaign's runs: each succeeded run, in completion order,
 * predicted from the runs that finished before it (as the designer saw them), against its measured trainSeconds. The
 * median |log2(predicted / measured)|: 0 is exact, 1 is off by 2x. Undefined with fewer than one predicted run.
 * Full runs read the campaign's rows, known from a probe (its rows over its fraction); without probes every run read
 * the same rows, and their number cancels out of the ratios.
 */
export function costModelError(timeline: readonly ExperimentResult[], fields = 39): number | undefined {
  const probe = timeline.find((r) => r.probe)?.probe;
  const fullRows = probe ? Math.round(probe.trainRows / probe.rowFraction) : 100_000;
  const errors: number[] = [];
  const seen: CostObservation[] = [];
  for (const run of timeline) {
    if (run.status !== 'succeeded' || run.externalJob || !(run.trainSeconds > 0)) continue;
    const rows = run.probe?.trainRows ?? fullRows;
    if (seen.length) {
      const predicted = predictTrainingSeconds(fitCostModel({ rows: fullRows, fields }, seen), run.config, rows).seconds;
      errors.push(Math.abs(Math.log2(predicted / run.trainSeconds)));
    }
    seen.push({ config: run.config, rows, fields, seconds: run.trainSeconds, weight: CAMPAIGN_WEIGHT });
  }
  if (!errors.length) return undefined;
  const sorted = errors.sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
