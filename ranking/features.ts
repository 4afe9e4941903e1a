import { FIELD_NAMES, type DenseTransform, type ModelConfig } from '../contracts';
import { combineHashes, hashFieldValue } from './hash';
import { CATEGORICAL_COUNT, DENSE_COUNT, MISSING_CATEGORICAL, RowBlock } from './data/rows';

/**
 * Feature encoding: the hashing trick, dense transforms and explicit crosses. Every row becomes the same number
 * of categorical slots (one per active categorical field, one per explicit cross, and one per dense field under
 * `bucketize`), each a hashed index in [0, 2^hashBits), plus `denseSlots` numeric values. A missing value is its
 * own token (missingness often predicts clicks), so the slot count is constant and batches are flat arrays.
 */

export interface FeatureSpec {
  hashBits: number;
  /** Categorical field numbers 0..25 with any value in train. */
  categoricalFields: number[];
  /** Dense field numbers 0..12 with any value in train. */
  denseFields: number[];
  /** Explicit crosses as Criteo feature numbers 0..38 (I1..I13 = 0..12, C1..C26 = 13..38). */
  crosses: [number, number][];
  denseTransform: DenseTransform;
  /** Per dense field (aligned with denseFields), for `standardize`: mean and std of the raw value on train. */
  denseMean: number[];
  denseStd: number[];
}

export interface EncodedRows {
  rows: number;
  catSlots: number;
  /** rows × catSlots hashed indices. */
  catIndex: Int32Array;
  denseSlots: number;
  /** rows × denseSlots transformed values. */
  denseValue: Float32Array;
  /** Hashed index of each numeric dense slot (LR and FM give a numeric feature a weight / an embedding). */
  denseIndex: Int32Array;
  labels: Uint8Array;
}

export function buildFeatureSpec(model: ModelConfig, train: RowBlock, active: { categorical: number[]; dense: number[] }): FeatureSpec {
  const crosses = model.crosses.map(([a, b]) => [FIELD_NAMES.indexOf(a), FIELD_NAMES.indexOf(b)] as [number, number]);
  const denseMean: number[] = [];
  const denseStd: number[] = [];
  for (const f of active.dense) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (let r = 0; r < train.rows; r++) {
      const v = train.dense[r * DENSE_COUNT + f];
      if (Number.isNaN(v)) continue;
      n++;
      sum += v;
      sumSq += v * v;
    }
    const mean = n ? sum / n : 0;
    denseMean.push(mean);
    denseStd.push(n > 1 ? Math.sqrt(Math.max(sumSq / n - mean * mean, 0)) || 1 : 1);
  }
  return {
    hashBits: model.hashBits,
    categoricalFields: [...active.categorical],
    denseFields: [...active.dense],
    crosses,
    denseTransform: model.denseTransform,
    denseMean,
    denseStd,
  };
}

/** Slot counts of a spec. */
export function slotCounts(spec: FeatureSpec): { catSlots: number; denseSlots: number } {
  const bucketized = spec.denseTransform === 'bucketize';
  return {
    catSlots: spec.categoricalFields.length + spec.crosses.length + (bucketized ? spec.denseFields.length : 0),
    denseSlots: bucketized ? 0 : spec.denseFields.length,
  };
}

/** Criteo-style log bucket of a count: -1 for negatives, else ⌊2·ln(1+x)⌋ (≈ 28 buckets up to 10^6). */
export function denseBucket(x: number): number {
  return x < 0 ? -1 : Math.floor(2 * Math.log1p(x));
}

// Missing-value tokens and bucket tokens are hashes of reserved strings in the field's hash space.
const missingToken = Array.from({ length: DENSE_COUNT + CATEGORICAL_COUNT }, (_, f) => hashFieldValue(f, '\u0000missing'));
const numericToken = Array.from({ length: DENSE_COUNT }, (_, f) => hashFieldValue(f, '\u0000numeric'));
const bucketTokens = new Map<number, number>();
function bucketToken(field: number, bucket: number): number {
  const key = field * 1000 + bucket + 10;
  let h = bucketTokens.get(key);
  if (h === undefined) bucketTokens.set(key, (h = hashFieldValue(field, `\u0000b${bucket}`)));
  return h;
}

/** The 32-bit token of feature `feature` (0..38) in row `r`: a categorical hash, or a dense bucket token. */
function rowToken(block: RowBlock, r: number, feature: number): number {
  if (feature < DENSE_COUNT) {
    const v = block.dense[r * DENSE_COUNT + feature];
    return Number.isNaN(v) ? missingToken[feature] : bucketToken(feature, denseBucket(v));
  }
  const h = block.categorical[r * CATEGORICAL_COUNT + feature - DENSE_COUNT];
  return h === MISSING_CATEGORICAL ? missingToken[feature] : h;
}

export function transformDense(spec: FeatureSpec, slot: number, x: number): number {
  if (Number.isNaN(x)) return 0; // missing: 0, i.e. the mean under standardize
  switch (spec.denseTransform) {
    case 'log':
      return x >= 0 ? Math.log1p(x) : -Math.log1p(-x);
    case 'standardize':
      return (x - spec.denseMean[slot]) / spec.denseStd[slot];
    default:
      return x;
  }
}

export function encodeRows(block: RowBlock, spec: FeatureSpec): EncodedRows {
  const mask = (1 << spec.hashBits) - 1;
  const { catSlots, denseSlots } = slotCounts(spec);
  const catIndex = new Int32Array(block.rows * catSlots);
  const denseValue = new Float32Array(block.rows * denseSlots);
  const bucketized = spec.denseTransform === 'bucketize';
  const catFeatures = spec.categoricalFields.map((f) => f + DENSE_COUNT);
  for (let r = 0; r < block.rows; r++) {
    let s = r * catSlots;
    for (const feature of catFeatures) catIndex[s++] = rowToken(block, r, feature) & mask;
    for (const [a, b] of spec.crosses) catIndex[s++] = combineHashes(rowToken(block, r, a), rowToken(block, r, b), a * 64 + b) & mask;
    if (bucketized) for (const f of spec.denseFields) catIndex[s++] = rowToken(block, r, f) & mask;
    else for (let j = 0; j < denseSlots; j++) denseValue[r * denseSlots + j] = transformDense(spec, j, block.dense[r * DENSE_COUNT + spec.denseFields[j]]);
  }
  const denseIndex = Int32Array.from(bucketized ? [] : spec.denseFields.map((f) => numericToken[f] & mask));
  return { rows: block.rows, catSlots, catIndex, denseSlots, denseValue, denseIndex, labels: block.labels };
}
