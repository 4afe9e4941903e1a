import { z } from 'zod';
import type { DataConfig } from './data';
import { columnSpec } from './schema';

/**
 * Drift and base rates: what `describeData` measures about how the click rate and the fields move between the
 * splits and over time, and the findings a reviewer reads about it. Real ads logs have 0.1–1% click rates and drift:
 * a test period whose click rate is 4x below training's makes every model's test NE a calibration score, and a
 * validation window of 20 clicks makes every decision taken on it a guess. Nothing here reads data: the shapes are
 * filled by ranking/data/describe.ts, and `driftFindings` is pure and deterministic (it runs in workflow code).
 */

/**
 * The column that orders a declared table's rows in time: the time split's column, else the schema's only timestamp
 * column. None for Criteo files and planted data (their rows are in time order by position), nor for a schema with
 * several timestamp columns and no split (which one is the event time is not said: rows keep file order). Without a
 * validation file, the latest rows by this column validate; without it, the last by position.
 */
export function timeOrderColumn(data: DataConfig): string | undefined {
  if ('planted' in data || data.format === 'criteo-tsv') return undefined;
  if (data.split) return data.split.by;
  const timestamps = Object.entries(data.schema.columns)
    .filter(([, spec]) => columnSpec(spec).role === 'timestamp')
    .map(([name]) => name);
  return timestamps.length === 1 ? timestamps[0] : undefined;
}

export const DriftSplit = z.enum(['train', 'validation', 'test']);
export type DriftSplit = z.infer<typeof DriftSplit>;

/** Training is cut into this many slices of equal rows, in time order, for the click-rate trend. */
export const DRIFT_TIME_SLICES = 8;
/** Fields whose stability index is reported (the largest first). */
export const STABILITY_FIELDS_KEPT = 10;
/** Buckets of a categorical field's stability index: its most frequent training values; the rest are "other". */
export const STABILITY_TOP_VALUES = 20;
/** Quantile buckets of a dense field's stability index (edges from train; equal edges merge). */
export const STABILITY_DENSE_BUCKETS = 10;
/** Rows of each side the stability index is measured on (evenly spaced when a split has more). */
export const STABILITY_MAX_ROWS = 262_144;

/** Rows and clicks of one split or slice. */
export const BaseRate = z.object({
  rows: z.number().int().min(0),
  /** Rows labelled as a click (a count: what the statistical power rests on, weighted or not). */
  clicks: z.number().int().min(0),
  /** The click rate (weighted by a declared `weight` column when there is one). */
  ctr: z.number().min(0).max(1),
});
export type BaseRate = z.infer<typeof BaseRate>;

export const TimeSlice = BaseRate.extend({
  split: DriftSplit,
  /** ISO times of the slice's earliest and latest row (only when the rows are ordered by a timestamp column). */
  from: z.string().optional(),
  to: z.string().optional(),
});
export type TimeSlice = z.infer<typeof TimeSlice>;

/** A field's population stability index between train and test, and the bucket whose share moved most. */
export const FieldStability = z.object({
  /** The engine slot (I2, C7); text a person reads labels it with the schema's column name. */
  field: z.string(),
  kind: z.enum(['categorical', 'dense']),
  /** Σ (test share − train share) · ln(test share / train share) over the buckets (counts + ½ per bucket). */
  psi: z.number().min(0),
  buckets: z.number().int().min(1),
  /** The PSI sampling alone gives in expectation, (buckets − 1)·(1/train rows + 1/test rows): below a few times it, a PSI is noise. */
  noise: z.number().min(0),
  moved: z.object({ bucket: z.string(), trainShare: z.number(), testShare: z.number() }),
});
export type FieldStability = z.infer<typeof FieldStability>;

export const DataDrift = z.object({
  /**
   * What the time slices follow: a timestamp column (declared tables: the time split's column, or the schema's only
   * timestamp column), or the rows' order in the files (Criteo logs and planted files are written in time order).
   */
  order: z.enum(['timestamp', 'position']),
  timeColumn: z.string().optional(),
  splits: z.object({ train: BaseRate, validation: BaseRate, test: BaseRate }),
  /** DRIFT_TIME_SLICES equal slices of train in time order, then validation, then test. */
  slices: z.array(TimeSlice).max(DRIFT_TIME_SLICES + 2),
  /** The fields with the largest stability index first, at most STABILITY_FIELDS_KEPT of them. */
  stability: z.array(FieldStability).max(STABILITY_FIELDS_KEPT),
  /** Fields the stability index was measured on (before keeping the largest). */
  fieldsMeasured: z.number().int().min(0),
  /** Rows of train and of test the stability index was measured on. */
  stabilityRows: z.object({ train: z.number().int().min(0), test: z.number().int().min(0) }),
});
export type DataDrift = z.infer<typeof DataDrift>;

/**
 * When a shift is a finding. A click-rate ratio counts either way (test 2x above or 2x below training) and must be
 * beyond noise as well as beyond the ratio: on 20 clicks a 1.5x ratio is sampling.
 */
export const DRIFT_THRESHOLDS = {
  /** A click-rate ratio at least this large (either way) is a finding: train vs test, validation vs test, first vs last slice of train. */
  baseRateRatio: 1.5,
  /** …and a major one from this ratio on. */
  baseRateRatioMajor: 3,
  /** …when |ln ratio| is also beyond this many standard errors (each side's ln CTR has variance (1 − ctr)/clicks). */
  baseRateZ: 2,
  /** Population stability index: a moderate shift from 0.1, a major one from 0.25 (the usual credit-scoring bands)… */
  psiModerate: 0.1,
  psiMajor: 0.25,
  /** …and at least this many times what sampling alone gives (FieldStability.noise). */
  psiNoiseMultiple: 3,
  /** A split with fewer clicks is a major finding: its click rate alone is known to ±20% (2/√100) at best. */
  fewClicksMajor: 100,
  /** …a moderate one under this many (±9%): NE differences of a percent or two are within its noise. */
  fewClicksModerate: 500,
} as const;

export const DriftFindingKind = z.enum(['test-base-rate', 'validation-test-base-rate', 'base-rate-trend', 'field-shift', 'few-clicks']);
export type DriftFindingKind = z.infer<typeof DriftFindingKind>;

export const DriftFinding = z.object({
  kind: DriftFindingKind,
  severity: z.enum(['moderate', 'major']),
  /** few-clicks: the split with few clicks. */
  split: DriftSplit.optional(),
  /** field-shift: the field (an engine slot, as in FieldStability). */
  field: z.string().optional(),
  /** The numbers the sentence quotes, unrounded (ratios, click rates, clicks, PSI). */
  numbers: z.record(z.string(), z.number()),
  /** What it is and what it means for a reviewer, in one or two sentences. */
  text: z.string(),
});
export type DriftFinding = z.infer<typeof DriftFinding>;

// ---------------------------------------------------------------------------------------------------------------
// Findings (pure: no I/O, no clock; text rounding is toFixed / toPrecision, which the language defines exactly)

/** A ratio as a reviewer reads it: "4x", "1.7x", "12x". */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return 'unbounded';
  return r >= 10 ? `${Math.round(r)}x` : `${trimZeros(r.toFixed(1))}x`;
}

/** A click rate as a percentage with two significant digits: "0.95%", "0.24%", "25%". */
export function formatCtr(ctr: number): string {
  const pct = ctr * 100;
  if (pct === 0) return '0%';
  if (pct < 0.001) return '<0.001%';
  return `${trimZeros(pct >= 10 ? pct.toFixed(0) : pct.toPrecision(2))}%`;
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** The ratio of two click rates (larger over smaller), its direction, and whether it is beyond noise. */
export function compareBaseRates(a: BaseRate, b: BaseRate): { ratio: number; aLower: boolean; z: number } {
  if (a.rows === 0 || b.rows === 0) return { ratio: 1, aLower: false, z: 0 };
  // No clicks on one side: the ratio is unbounded, but it is only evidence when the other side's clicks make a zero
  // unlikely; half a click stands in for none.
  const ca = Math.max(a.clicks, 0.5);
  const cb = Math.max(b.clicks, 0.5);
  const ra = a.ctr > 0 ? a.ctr : ca / a.rows;
  const rb = b.ctr > 0 ? b.ctr : cb / b.rows;
  const ln = Math.log(ra / rb);
  const se = Math.sqrt((1 - Math.min(ra, 0.999)) / ca + (1 - Math.min(rb, 0.999)) / cb);
  return { ratio: Math.exp(Math.abs(ln)), aLower: ln < 0, z: se > 0 ? Math.abs(ln) / se : 0 };
}

function baseRateSeverity(cmp: { ratio: number; z: number }): 'moderate' | 'major' | null {
  if (cmp.ratio < DRIFT_THRESHOLDS.baseRateRatio || cmp.z < DRIFT_THRESHOLDS.baseRateZ) return null;
  return cmp.ratio >= DRIFT_THRESHOLDS.baseRateRatioMajor ? 'major' : 'moderate';
}

/**
 * The findings a drift measurement supports, most severe first (then in kind order): test vs training click rate,
 * validation vs test, the trend across training, fields whose population moved, splits with few clicks. `labels`
 * (slot → column name, contracts/field-names.ts fieldLabels) names fields as a declared schema does.
 */
export function driftFindings(drift: DataDrift, labels: Readonly<Record<string, string>> = {}): DriftFinding[] {
  const out: DriftFinding[] = [];
  const { train, validation, test } = drift.splits;
  const name = (field: string) => labels[field] ?? field;

  // Test vs train.
  const tt = compareBaseRates(test, train);
  const ttSeverity = baseRateSeverity(tt);
  const vt = compareBaseRates(validation, test);
  const vtSeverity = validation.rows > 0 ? baseRateSeverity(vt) : null;
  if (ttSeverity) {
    const dir = tt.aLower ? 'below' : 'above';
    const predicts = tt.aLower ? 'over-predict' : 'under-predict';
    // Validation, the latest rows before test, close to test: decisions and calibration made on it carry over.
    const validationTracks =
      validation.rows > 0 && !vtSeverity && compareBaseRates(validation, train).ratio >= DRIFT_THRESHOLDS.baseRateRatio
        ? ` Validation (${formatCtr(validation.ctr)}) is close to test: calibrating on validation tracks test.`
        : '';
    out.push({
      kind: 'test-base-rate',
      severity: ttSeverity,
      numbers: { ratio: tt.ratio, trainCtr: train.ctr, testCtr: test.ctr, trainClicks: train.clicks, testClicks: test.clicks, z: tt.z },
      text:
        `Test CTR is ${formatRatio(tt.ratio)} ${dir} training (${formatCtr(test.ctr)} vs ${formatCtr(train.ctr)}): models fitted on training ` +
        `${predicts} on test, so test NE will be dominated by calibration; judge ranking by AUC, and NE against a constant at the test period's rate.` +
        validationTracks,
    });
  }

  // Validation vs test: what validation decides on does not carry over to test at this gap.
  if (vtSeverity) {
    const dir = vt.aLower ? 'below' : 'above';
    out.push({
      kind: 'validation-test-base-rate',
      severity: vtSeverity,
      numbers: { ratio: vt.ratio, validationCtr: validation.ctr, testCtr: test.ctr, validationClicks: validation.clicks, z: vt.z },
      text:
        `Validation CTR is ${formatRatio(vt.ratio)} ${dir} test (${formatCtr(validation.ctr)} vs ${formatCtr(test.ctr)}): a calibration fitted ` +
        `on validation will be off on test by about that factor, and validation NE will not predict test NE; compare models on test by AUC.`,
    });
  }

  // The trend across training: the first slice against the last.
  const trainSlices = drift.slices.filter((s) => s.split === 'train');
  if (trainSlices.length >= 2) {
    const first = trainSlices[0];
    const last = trainSlices[trainSlices.length - 1];
    const trend = compareBaseRates(last, first);
    const severity = baseRateSeverity(trend);
    if (severity) {
      const firstSlice = trainSlices.length === 8 ? 'first eighth' : `first of ${trainSlices.length} slices`;
      const order = drift.order === 'timestamp' ? `rows ordered by ${drift.timeColumn ?? 'time'}` : 'rows in file order, taken as time order';
      out.push({
        kind: 'base-rate-trend',
        severity,
        numbers: { ratio: trend.ratio, firstCtr: first.ctr, lastCtr: last.ctr, firstClicks: first.clicks, lastClicks: last.clicks, z: trend.z },
        text:
          `The click rate ${trend.aLower ? 'falls' : 'rises'} ${formatRatio(trend.ratio)} across training, from ${formatCtr(first.ctr)} in the ` +
          `${firstSlice} to ${formatCtr(last.ctr)} in the last (${order}): the log drifts. A model fitted on all of training predicts its ` +
          `average, not the latest level; validation (the latest rows) is the better guide to test, and calibration should be fitted on it.`,
      });
    }
  }

  // Fields whose population moved between train and test.
  for (const s of drift.stability) {
    if (s.psi < DRIFT_THRESHOLDS.psiModerate || s.psi < DRIFT_THRESHOLDS.psiNoiseMultiple * s.noise) continue;
    const severity = s.psi >= DRIFT_THRESHOLDS.psiMajor ? 'major' : 'moderate';
    const bucket = s.kind === 'categorical' && !['other', 'missing'].includes(s.moved.bucket) ? `value ${s.moved.bucket}` : s.moved.bucket;
    out.push({
      kind: 'field-shift',
      severity,
      field: s.field,
      numbers: { psi: s.psi, trainShare: s.moved.trainShare, testShare: s.moved.testShare },
      text:
        `${name(s.field)} shifted between train and test (PSI ${s.psi.toFixed(2)}, ${severity === 'major' ? 'a major shift: ≥ 0.25' : 'moderate: 0.1–0.25'}); ` +
        `${bucket} went from ${formatShare(s.moved.trainShare)} of training rows to ${formatShare(s.moved.testShare)} of test rows. ` +
        `What models learned about ${name(s.field)} on train covers less of test; check its segment NE before trusting gains from it.`,
    });
  }

  // Splits with few clicks.
  for (const split of ['train', 'validation', 'test'] as const) {
    const rate = drift.splits[split];
    if (rate.rows === 0 || rate.clicks >= DRIFT_THRESHOLDS.fewClicksModerate) continue;
    const severity = rate.clicks < DRIFT_THRESHOLDS.fewClicksMajor ? 'major' : 'moderate';
    const known =
      rate.clicks > 0
        ? `its click rate alone is known to ±${Math.round(200 / Math.sqrt(rate.clicks))}% (2/√clicks)`
        : 'its click rate cannot be measured';
    const meaning = {
      train:
        severity === 'major'
          ? 'models can learn only the strongest effects of frequent values, and no model may beat a constant.'
          : 'models can learn the strong effects of frequent values; crosses and rare values are mostly out of reach.',
      validation:
        'every decision made on validation (early stopping, calibration, which model wins) rests on them, so NE differences of a few percent are noise; a longer validation window would help.',
      test: 'test confirms on them: its NE is uncertain by several percent, and small gains cannot be confirmed.',
    }[split];
    out.push({
      kind: 'few-clicks',
      severity,
      split,
      numbers: { clicks: rate.clicks, rows: rate.rows, ctr: rate.ctr },
      text:
        `The ${split} split holds ${rate.clicks} click${rate.clicks === 1 ? '' : 's'} (${rate.rows} rows, CTR ${formatCtr(rate.ctr)}), ` +
        `under ${severity === 'major' ? DRIFT_THRESHOLDS.fewClicksMajor : DRIFT_THRESHOLDS.fewClicksModerate}: ${known}; ${meaning}`,
    });
  }

  const rank = (f: DriftFinding) => (f.severity === 'major' ? 0 : 1);
  const kindOrder = DriftFindingKind.options;
  // A stable sort: equal findings keep the order they were found in.
  return out
    .map((f, i) => ({ f, i }))
    .sort((a, b) => rank(a.f) - rank(b.f) || kindOrder.indexOf(a.f.kind) - kindOrder.indexOf(b.f.kind) || a.i - b.i)
    .map((x) => x.f);
}

function formatShare(share: number): string {
  const pct = share * 100;
  return pct >= 10 ? `${pct.toFixed(0)}%` : pct >= 1 ? `${pct.toFixed(1)}%` : `${trimZeros(pct.toPrecision(2))}%`;
}
