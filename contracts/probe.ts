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
 * The probe scale of a campaign, or undefined when probing is off (fraction 0) or its data is too small to screen on:
 * below `minRows` probe rows a probe's validation NE is too noisy to rank ideas by, so every idea runs in full.
 */
export function probeScaleFor(budget: { probeFraction: number; probeMinRows: number }, trainRows: number): ProbeScale | undefined {
  const rowFraction = budget.probeFraction;
  if (!(rowFraction > 0 && rowFraction < 1)) return undefined;
  const rows = Math.round(trainRows * rowFraction);
  return rows >= budget.probeMinRows ? { rowFraction, trainRows: rows } : undefined;
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
