import { MAX_LEARNING_CURVE_POINTS, type DataConfig, type EarlyStopping, type LearningCurvePoint, type ValidationSplit } from '../contracts';
import { timeOrderColumn } from '../contracts/drift';

/**
 * The learning curve of a run and the words for it: how it is kept small (in checkpoints, results and artifacts),
 * which rows validated, and the one line `rankwright train` prints.
 */

/** An epoch longer than this many steps is evaluated more than once (see `evaluateEvery` in contracts/model.ts). */
export const LONG_EPOCH_STEPS = 2000;
/** The most evaluations per epoch the automatic cadence makes. */
export const MAX_AUTO_EVALUATIONS_PER_EPOCH = 4;

/** Steps between evaluations for a run: the config's `evaluateEvery`, or the automatic cadence (capped at an epoch). */
export function resolveEvaluateEvery(evaluateEvery: number | undefined, stepsPerEpoch: number): number {
  if (evaluateEvery !== undefined) return Math.max(1, Math.min(evaluateEvery, stepsPerEpoch));
  const perEpoch = Math.min(MAX_AUTO_EVALUATIONS_PER_EPOCH, Math.ceil(stepsPerEpoch / LONG_EPOCH_STEPS));
  return Math.max(1, Math.ceil(stepsPerEpoch / Math.max(1, perEpoch)));
}

/**
 * At most `max` points, evenly spread over the curve, always with its first and last points and `keep` (the best
 * evaluation) — what results and artifacts carry. Deterministic: equal curves give equal outputs.
 */
export function downsampleCurve(
  curve: readonly LearningCurvePoint[],
  max = MAX_LEARNING_CURVE_POINTS,
  keep?: LearningCurvePoint,
): LearningCurvePoint[] {
  let points = [...curve];
  if (keep && !points.some((p) => p.step === keep.step)) points = [...points, keep].sort((a, b) => a.step - b.step);
  if (points.length <= max) return points;
  const picked = new Set<number>();
  for (let i = 0; i < max; i++) picked.add(Math.round((i * (points.length - 1)) / (max - 1)));
  if (keep) {
    const k = points.findIndex((p) => p.step === keep.step);
    if (!picked.has(k)) {
      // Give the best point the slot of its nearest picked neighbour (never the first or the last).
      let nearest = -1;
      for (const i of picked) if (i !== 0 && i !== points.length - 1 && (nearest < 0 || Math.abs(i - k) < Math.abs(nearest - k))) nearest = i;
      picked.delete(nearest);
      picked.add(k);
    }
  }
  return [...picked].sort((a, b) => a - b).map((i) => points[i]);
}

/** Which rows validated a run, as its result states it. */
export function validationSplitOf(config: DataConfig, rows: number): ValidationSplit {
  if ('planted' in config) return { source: 'planted', rows };
  if (config.validation) return { source: 'file', file: config.validation, rows };
  if (config.format !== 'criteo-tsv' && config.split?.validationFrom)
    return { source: 'time-window', by: config.split.by, from: config.split.validationFrom, to: config.split.testFrom, rows };
  // Criteo, or a declared table: the latest validationFraction of train (by its time column when it has one, else by position).
  const by = timeOrderColumn(config);
  if (by) return { source: 'train-tail', fraction: config.validationFraction, rows, by };
  return { source: 'train-tail', fraction: config.validationFraction, rows };
}

export function describeValidationSplit(split: ValidationSplit): string {
  switch (split.source) {
    case 'file':
      return `${split.file} (${split.rows} rows)`;
    case 'train-tail':
      return `${split.by ? 'latest' : 'last'} ${Number((split.fraction * 100).toPrecision(3))}% of train${split.by ? ` by ${split.by}` : ''} (${split.rows} rows)`;
    case 'time-window':
      return `train rows with ${split.by} in [${split.from}, ${split.to}) (${split.rows} rows)`;
    case 'planted':
      return `the planted validation rows (${split.rows})`;
  }
}

/**
 * One line on how validation decided a run, e.g. "stopped early at epoch 3 (best validation NE 0.7712 at step 1200);
 * validation: last 10% of train (5000 rows)".
 */
export function describeEarlyStopping(es: EarlyStopping, split: ValidationSplit): string {
  const validation = `validation: ${describeValidationSplit(split)}`;
  if (es.evaluations === 0 || es.bestValidationNe === undefined) return `ran all ${es.epochsRun} epochs without validation; ${validation}`;
  const best = `best validation NE ${es.bestValidationNe.toFixed(4)} at step ${es.bestStep}, epoch ${es.bestEpoch}`;
  const evaluations = `${es.evaluations} evaluation${es.evaluations === 1 ? '' : 's'}`;
  const what = es.stoppedEarly
    ? `stopped early at epoch ${es.epochsRun} after ${es.patience} evaluation${es.patience === 1 ? '' : 's'} without improvement`
    : `ran all ${es.epochsRun} epoch${es.epochsRun === 1 ? '' : 's'}`;
  return `${what} (${best}; ${evaluations}); ${validation}`;
}
