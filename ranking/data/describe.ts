import {
  DRIFT_TIME_SLICES,
  DataConfig,
  ModelConfig,
  STABILITY_DENSE_BUCKETS,
  STABILITY_FIELDS_KEPT,
  STABILITY_MAX_ROWS,
  STABILITY_TOP_VALUES,
  type BaseRate,
  type DataConfigInput,
  type DataDrift,
  type FieldStability,
  type ModelConfigInput,
  type TimeSlice,
  categoricalFieldName,
  denseFieldName,
} from '../../contracts';
import { parseOrExplain } from '../../contracts/errors';
import { buildFeatureSpec } from '../features';
import { fieldCardinality, hashSpaceReport, type HashSpaceReport } from '../hash-report';
import { clickThroughRate } from '../metrics';
import { loadDataset, type LoadedDataset } from './load-data';
import { MISSING_CATEGORICAL, valueName, type RowBlock } from './rows';

export interface DataDescription {
  fingerprint: string;
  kind: 'planted' | 'criteo';
  oracleNe?: number;
  trainRows: number;
  testRows: number;
  /** Click-through rate of the training rows. */
  ctr: number;
  activeCategoricalFields: string[];
  /** Distinct non-missing values of every active field on train (exact up to 2^18, beyond a HyperLogLog estimate). */
  fieldCardinality?: Record<string, number>;
  /**
   * The hash space of the given model config (default: `{"family":"lr"}`, one shared table of 2^18 rows) on train:
   * per hashed slot its distinct values, table, the bits `hashSpace: "per-field"` would give it and its expected
   * (and, counted exactly, realized) collision rate.
   */
  hashing?: HashSpaceReport;
  /**
   * Base rates and drift: each split's click rate, the click rate over time (slices of train, then validation and
   * test), and the fields whose population moved most between train and test. contracts/drift.ts `driftFindings`
   * turns it into what a reviewer reads. Absent in descriptions recorded before it was measured.
   */
  drift?: DataDrift;
}

export async function describeData(data: DataConfigInput | DataConfig, model?: ModelConfigInput | ModelConfig): Promise<DataDescription> {
  const config = parseOrExplain(ModelConfig, model ?? { family: 'lr' }, 'model config');
  const d = await loadDataset(data);
  const out: DataDescription = {
    fingerprint: d.fingerprint,
    kind: d.kind,
    // Streamed training sets: counts and CTR over all rows; cardinality and hashing below on the held sample.
    trainRows: d.trainOnDisk?.rows ?? d.train.rows,
    testRows: d.test.rows,
    ctr: clickThroughRate(d.trainOnDisk?.labels ?? d.train.labels),
    activeCategoricalFields: d.active.categorical.map((f) => categoricalFieldName(f)),
  };
  if (d.oracle) out.oracleNe = d.oracle.ne;
  out.fieldCardinality = fieldCardinality(d.train, d.active);
  out.hashing = hashSpaceReport(buildFeatureSpec(config, d.train, d.active), d.train);
  out.drift = measureDrift(d);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Drift: base rates per split and over time, and each field's stability between train and test.

/**
 * The drift measurement of a loaded dataset. A streamed (out-of-core) training set keeps every row's label, so its
 * rows, clicks, click rate and time slices are over all its rows (slices by position: such files are Criteo logs,
 * in time order); the stability index is measured on the held, evenly spaced sample that stands in for train.
 */
export function measureDrift(d: LoadedDataset): DataDrift {
  const times = d.rowTimes && d.rowTimes.train.some((t) => !Number.isNaN(t)) ? d.rowTimes : undefined;
  // The training labels in time order: by the time column when there is one, else as the rows sit in the files.
  const trainLabels = d.trainOnDisk?.labels ?? d.train.labels;
  const trainWeights = d.trainOnDisk ? undefined : d.train.weights;
  const trainOrder = times ? timeOrder(times.train) : undefined;

  const train = baseRateOf(trainLabels, trainWeights);
  const validation = baseRateOf(d.validation.labels, d.validation.weights);
  const test = baseRateOf(d.test.labels, d.test.weights);

  const slices: TimeSlice[] = [];
  const sliceCount = Math.min(DRIFT_TIME_SLICES, trainLabels.length);
  for (let k = 0; k < sliceCount; k++) {
    const from = Math.floor((k * trainLabels.length) / sliceCount);
    const to = Math.floor(((k + 1) * trainLabels.length) / sliceCount);
    const rows = trainOrder ? trainOrder.subarray(from, to) : undefined;
    slices.push({
      split: 'train',
      ...baseRateOf(trainLabels, trainWeights, rows ?? { from, to }),
      ...(times && rows ? timeRange(times.train, rows) : {}),
    });
  }
  if (validation.rows > 0) slices.push({ split: 'validation', ...validation, ...(times ? timeRange(times.validation) : {}) });
  if (test.rows > 0) slices.push({ split: 'test', ...test, ...(times ? timeRange(times.test) : {}) });

  const trainSample = evenlySpaced(d.train, STABILITY_MAX_ROWS);
  const testSample = evenlySpaced(d.test, STABILITY_MAX_ROWS);
  const measured: FieldStability[] = [];
  for (const f of d.active.dense) measured.push(denseStability(f, trainSample, testSample));
  for (const f of d.active.categorical) measured.push(categoricalStability(f, trainSample, testSample, d));
  measured.sort((a, b) => b.psi - a.psi || a.field.localeCompare(b.field));

  return {
    order: times ? 'timestamp' : 'position',
    ...(times ? { timeColumn: times.column } : {}),
    splits: { train, validation, test },
    slices,
    stability: measured.slice(0, STABILITY_FIELDS_KEPT),
    fieldsMeasured: measured.length,
    stabilityRows: { train: trainSample.rows, test: testSample.rows },
  };
}

/** Rows of `times` sorted by time (stable: equal times keep their order). */
function timeOrder(times: Float64Array): Uint32Array {
  const order = Uint32Array.from({ length: times.length }, (_, i) => i);
  return order.sort((a, b) => times[a] - times[b] || a - b);
}

function timeRange(times: Float64Array, rows?: Uint32Array): { from?: string; to?: string } {
  let lo = Infinity;
  let hi = -Infinity;
  const n = rows ? rows.length : times.length;
  for (let i = 0; i < n; i++) {
    const t = times[rows ? rows[i] : i];
    if (Number.isNaN(t)) continue;
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  return Number.isFinite(lo) && Number.isFinite(hi) ? { from: isoTime(lo), to: isoTime(hi) } : {};
}

function isoTime(ms: number): string | undefined {
  const date = new Date(ms);
  return Number.isFinite(date.getTime()) ? date.toISOString() : undefined;
}

/** Rows, clicks (a count) and the click rate (weighted) of all labels, a range of them, or the listed rows. */
function baseRateOf(labels: Uint8Array, weights?: Float32Array, rows?: Uint32Array | { from: number; to: number }): BaseRate {
  let n = 0;
  let clicks = 0;
  let weighted = 0;
  let total = 0;
  const add = (r: number) => {
    const y = labels[r] === 1 ? 1 : 0;
    const w = weights ? weights[r] : 1;
    n++;
    clicks += y;
    weighted += w * y;
    total += w;
  };
  if (rows instanceof Uint32Array) for (const r of rows) add(r);
  else for (let r = rows?.from ?? 0, end = rows?.to ?? labels.length; r < end; r++) add(r);
  return { rows: n, clicks, ctr: total > 0 ? significant(weighted / total, 6) : 0 };
}

function significant(x: number, digits: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(digits));
}

/** Row indices of at most `max` evenly spaced rows of a block (all of them when it is smaller). */
function evenlySpaced(block: RowBlock, max: number): { block: RowBlock; index: Uint32Array; rows: number } {
  const rows = Math.min(block.rows, max);
  const index = Uint32Array.from({ length: rows }, (_, i) => Math.floor((i * block.rows) / rows));
  return { block, index, rows };
}

type Sample = ReturnType<typeof evenlySpaced>;

/**
 * PSI over bucket counts, each count + ½ (an empty bucket on one side is evidence of a shift, not an infinite one),
 * with the bucket whose raw share moved most.
 */
function stabilityOf(
  field: string,
  kind: FieldStability['kind'],
  trainCounts: Float64Array,
  testCounts: Float64Array,
  bucketName: (b: number) => string,
): FieldStability {
  const used: number[] = [];
  for (let b = 0; b < trainCounts.length; b++) if (trainCounts[b] > 0 || testCounts[b] > 0) used.push(b);
  const nTrain = trainCounts.reduce((s, c) => s + c, 0);
  const nTest = testCounts.reduce((s, c) => s + c, 0);
  const smoothTrain = nTrain + used.length / 2;
  const smoothTest = nTest + used.length / 2;
  let psi = 0;
  let moved = { bucket: bucketName(used[0] ?? 0), trainShare: 0, testShare: 0, gap: -1 };
  for (const b of used) {
    const p = (trainCounts[b] + 0.5) / smoothTrain;
    const q = (testCounts[b] + 0.5) / smoothTest;
    psi += (q - p) * Math.log(q / p);
    const trainShare = nTrain ? trainCounts[b] / nTrain : 0;
    const testShare = nTest ? testCounts[b] / nTest : 0;
    const gap = Math.abs(testShare - trainShare);
    if (gap > moved.gap) moved = { bucket: bucketName(b), trainShare, testShare, gap };
  }
  const buckets = Math.max(1, used.length);
  return {
    field,
    kind,
    psi: significant(Math.max(0, psi), 4),
    buckets,
    noise: nTrain && nTest ? significant((buckets - 1) * (1 / nTrain + 1 / nTest), 3) : 0,
    moved: { bucket: moved.bucket, trainShare: significant(moved.trainShare, 4), testShare: significant(moved.testShare, 4) },
  };
}

/** A dense field's buckets: train deciles of its present values (equal edges merge), then "missing". */
function denseStability(f: number, train: Sample, test: Sample): FieldStability {
  const present: number[] = [];
  for (const r of train.index) {
    const x = train.block.dense[r * train.block.denseWidth + f];
    if (!Number.isNaN(x)) present.push(x);
  }
  present.sort((a, b) => a - b);
  const edges: number[] = [];
  for (let k = 1; k < STABILITY_DENSE_BUCKETS; k++) {
    const e = present[Math.floor((k * present.length) / STABILITY_DENSE_BUCKETS)];
    if (e !== undefined && (edges.length === 0 || e > edges[edges.length - 1])) edges.push(e);
  }
  // Buckets: (−∞, e0], (e0, e1], …, (e_last, ∞), missing.
  const missing = edges.length + 1;
  const bucketOf = (x: number): number => {
    if (Number.isNaN(x)) return missing;
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const count = (s: Sample) => {
    const counts = new Float64Array(edges.length + 2);
    for (const r of s.index) counts[bucketOf(s.block.dense[r * s.block.denseWidth + f])]++;
    return counts;
  };
  const show = (x: number) => String(significant(x, 4));
  const name = (b: number) =>
    b === missing
      ? 'missing'
      : edges.length === 0
        ? 'any value'
        : b === 0
          ? `values ≤ ${show(edges[0])}`
          : b === edges.length
            ? `values > ${show(edges[edges.length - 1])}`
            : `values in (${show(edges[b - 1])}, ${show(edges[b])}]`;
  return stabilityOf(denseFieldName(f), 'dense', count(train), count(test), name);
}

/** A categorical field's buckets: its STABILITY_TOP_VALUES most frequent training values, "other", "missing". */
function categoricalStability(f: number, train: Sample, test: Sample, d: LoadedDataset): FieldStability {
  const frequency = new Map<number, number>();
  for (const r of train.index) {
    const h = train.block.categorical[r * train.block.categoricalWidth + f];
    if (h !== MISSING_CATEGORICAL) frequency.set(h, (frequency.get(h) ?? 0) + 1);
  }
  const top = [...frequency.entries()]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, STABILITY_TOP_VALUES)
    .map(([h]) => h);
  const bucketOfValue = new Map(top.map((h, i) => [h, i]));
  const other = top.length;
  const missing = top.length + 1;
  const count = (s: Sample) => {
    const counts = new Float64Array(top.length + 2);
    for (const r of s.index) {
      const h = s.block.categorical[r * s.block.categoricalWidth + f];
      counts[h === MISSING_CATEGORICAL ? missing : (bucketOfValue.get(h) ?? other)]++;
    }
    return counts;
  };
  const name = (b: number) => (b === missing ? 'missing' : b === other ? 'other' : JSON.stringify(valueName(d.valueNames, f, top[b])));
  return stabilityOf(categoricalFieldName(f), 'categorical', count(train), count(test), name);
}
