import { z } from 'zod';
import type { DataConfig } from './data';

/**
 * A probe: an experiment trained on the first `rowFraction` of the training rows instead of all of them, to screen an
 * idea for a fraction of a full run's compute before it earns one (successive halving). Every probe of a round uses
 * the same rows and the same validation split, so their validation NEs rank the ideas against each other and against
 * a reference probe of the best model so far; their test NEs are never compared with full runs.
 */
export const ProbeScale = z.object({
  rowFraction: z.number().gt(0).lt(1),
  /** The training rows a probe reads (rowFraction of the campaign's training rows). */
  trainRows: z.number().int().positive(),
});
export type ProbeScale = z.infer<typeof ProbeScale>;

/** The technique of a probe round's reference probe: the best model so far, on the same rows as the ideas. */
export const REFERENCE_PROBE = 'probe-reference';

/**
 * The largest row fraction a small-data probe may read. With half of a phase's budget spent on probes at fraction f,
 * a round screens about 1/(2f) − 1 ideas per unit where full runs would test one: above a third, screening buys no
 * more ideas than running them in full does.
 */
export const SMALL_DATA_MAX_FRACTION = 1 / 3;

/**
 * The probe scale of a campaign, or undefined when probing is off (fraction 0) or its data is too small to screen on:
 * below `minRows` probe rows a probe's validation NE is too noisy to rank ideas by, so every idea runs in full.
 *
 * Small data (`smallData`, campaigns since patched('portfolio')): when `probeFraction` of the rows is under
 * `minRows`, a probe reads `minRows` rows instead — the larger fraction that keeps its ranking as trustworthy as a
 * probe on big data — as long as that is at most SMALL_DATA_MAX_FRACTION of them (rounded up to a whole percent).
 * On 80k training rows and the defaults, probes read 25% (20k rows), and a 12-run budget runs every family's default
 * in full (a small probe ranks ideas within a family, not families: workflows/planner.ts) and screens the designer's
 * ideas on probes. Why a subsample and not all rows for fewer epochs: the budget and
 * the wall clock both count rows × epochs, and the families' defaults already train few epochs (a DCN one, LR and FM
 * two), so a one-epoch probe of a DCN is its full run and saves nothing; a row sample saves the same share on every
 * family, and its validation NE is read on the campaign's whole validation split, as a big-data probe's is. (K-fold
 * subsamples would cost k probes per idea; successive halving over epochs needs runs that resume across waves.) Below
 * that — under about 3 × `minRows` training rows — every idea runs in full, and the first wave's family portfolio still
 * tries every family (workflows/planner.ts).
 */
export function probeScaleFor(
  budget: { probeFraction: number; probeMinRows: number },
  trainRows: number,
  options: { smallData?: boolean } = {},
): ProbeScale | undefined {
  const rowFraction = budget.probeFraction;
  if (!(rowFraction > 0 && rowFraction < 1)) return undefined;
  const rows = Math.round(trainRows * rowFraction);
  if (rows >= budget.probeMinRows) return { rowFraction, trainRows: rows };
  if (!options.smallData || !(trainRows > 0)) return undefined;
  const fraction = Math.ceil((100 * budget.probeMinRows) / trainRows) / 100;
  if (fraction > SMALL_DATA_MAX_FRACTION + 1e-12) return undefined;
  return { rowFraction: fraction, trainRows: Math.round(trainRows * fraction) };
}

/**
 * The data a probe trains on: Criteo files read only their first `trainRows` training rows (validation and test
 * files unchanged); planted data is generated with that many training rows.
 */
export function probeData(data: DataConfig, probe: ProbeScale): DataConfig {
  if ('planted' in data) return { planted: { ...data.planted, trainRows: Math.max(100, probe.trainRows) } };
  return { ...data, maxTrainRows: Math.min(probe.trainRows, data.maxTrainRows ?? Infinity) };
}

/**
 * The compute an experiment used, in full-run equivalents: every attempt counts (a retry is a second run), a probe's
 * attempts at its row fraction. What the experiment budget counts in campaigns that probe. An attempt that met a full
 * disk does not count: the machine failed, not the idea, and a disk that fills must not shrink the campaign's search.
 */
export function computeOf(e: { probe?: ProbeScale; attempts: readonly unknown[] }): number {
  const counted = e.attempts.filter((a) => !(a as { failure?: { diskFull?: unknown } } | null)?.failure?.diskFull);
  return Math.max(1, counted.length) * (e.probe?.rowFraction ?? 1);
}
