import { CATEGORICAL_COUNT, DENSE_COUNT, MISSING_CATEGORICAL, type RowBlock } from './data/rows';
import { fitQuantileBoundaries, quantileBucket } from './features';

/**
 * The residual statistics the designer's evidence is built from: a model's residuals r = y − p grouped into cells of
 * one, two or three fields' values. A cell whose residuals share a sign is signal the model misses.
 *
 * Per cell, (Σr)² / Σr² is 1 in expectation when its residuals are independent noise (exactly 1 for a single row)
 * and grows toward the cell's size when they share a sign. The excess over 1, summed over cells and divided by the
 * rows, is ≈ 2 × the log loss (nats a row) a model would gain by fitting one offset per cell: with v ≈ p(1 − p) the
 * residual variance, a cell of n rows and mean residual m scores n·m²/v, and fitting it gains n·m²/(2v) nats.
 * Using the residuals' own spread (not p(1−p)) keeps a miscalibrated model from scoring noise.
 */

/** Dense level ids of one field within a block of rows (−1 = missing, skipped by every statistic). */
export interface FieldLevels {
  ids: Int32Array;
  levels: number;
}

/** Level ids of categorical field `field` (its hashed values, numbered in order of appearance). */
export function categoricalLevels(block: RowBlock, field: number): FieldLevels {
  const ids = new Int32Array(block.rows);
  const map = new Map<number, number>();
  for (let i = 0; i < block.rows; i++) {
    const h = block.categorical[i * CATEGORICAL_COUNT + field];
    if (h === MISSING_CATEGORICAL) {
      ids[i] = -1;
      continue;
    }
    let id = map.get(h);
    if (id === undefined) map.set(h, (id = map.size));
    ids[i] = id;
  }
  return { ids, levels: map.size };
}

/** Level ids of dense field `field`: its equal-frequency bucket (fitted on these rows), −1 when missing. */
export function denseLevels(block: RowBlock, field: number, buckets = 16): FieldLevels {
  const boundaries = fitQuantileBoundaries(block, field, buckets);
  const ids = new Int32Array(block.rows);
  for (let i = 0; i < block.rows; i++) {
    const x = block.dense[i * DENSE_COUNT + field];
    ids[i] = Number.isNaN(x) ? -1 : quantileBucket(boundaries, x);
  }
  return { ids, levels: boundaries.length + 1 };
}

/**
 * The cell excess of `fields` (one, two or three) on `residual`, per row that has all of them. With
 * `removeMainEffects`, what each field alone explains (its values' mean residuals) is taken out of every row first
 * (a two-way ANOVA decomposition), so what remains is interaction; without it, a single field's cells measure the
 * main effect the model misses.
 */
export function cellExcess(fields: readonly FieldLevels[], residual: Float64Array, removeMainEffects: boolean): number {
  const n = residual.length;
  const used = new Uint8Array(n);
  let count = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let all = true;
    for (let k = 0; k < fields.length && all; k++) all = fields[k].ids[i] >= 0;
    if (all) {
      used[i] = 1;
      count++;
      total += residual[i];
    }
  }
  if (count === 0) return 0;
  const mean = total / count;
  const mainMeans = removeMainEffects ? fields.map((f) => levelMeans(f, residual, used)) : [];
  const cellIndex = new Map<number, number>();
  const cellSum: number[] = [];
  const cellSquares: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!used[i]) continue;
    let key = 0;
    let adjusted = residual[i];
    for (let k = 0; k < fields.length; k++) {
      const id = fields[k].ids[i];
      key = key * fields[k].levels + id;
      if (removeMainEffects) adjusted -= mainMeans[k][id] - mean;
    }
    if (removeMainEffects) adjusted -= mean;
    let c = cellIndex.get(key);
    if (c === undefined) {
      cellIndex.set(key, (c = cellSum.length));
      cellSum.push(0);
      cellSquares.push(0);
    }
    cellSum[c] += adjusted;
    cellSquares[c] += adjusted * adjusted;
  }
  let excess = 0;
  for (let c = 0; c < cellSum.length; c++) if (cellSquares[c] > 0) excess += (cellSum[c] * cellSum[c]) / cellSquares[c] - 1;
  return excess / count;
}

function levelMeans(field: FieldLevels, residual: Float64Array, used: Uint8Array): Float64Array {
  const sum = new Float64Array(field.levels);
  const count = new Float64Array(field.levels);
  for (let i = 0; i < residual.length; i++) {
    if (!used[i]) continue;
    sum[field.ids[i]] += residual[i];
    count[field.ids[i]]++;
  }
  for (let l = 0; l < field.levels; l++) if (count[l] > 0) sum[l] /= count[l];
  return sum;
}

/**
 * The raw excess is biased upward by the cells' sizes (effects estimated on the same rows), by an amount that depends
 * on the fields' cardinalities. The same statistic on the residuals shuffled across rows keeps every cell's size but
 * breaks any signal; the difference is ≈ 0 for fields without one, so one threshold tells signal from noise.
 */
export function excessOverNull(fields: readonly FieldLevels[], residual: Float64Array, shuffled: Float64Array, removeMainEffects: boolean): number {
  return cellExcess(fields, residual, removeMainEffects) - cellExcess(fields, shuffled, removeMainEffects);
}

/** A deterministic Fisher–Yates shuffle (xorshift32), so the null and hence every signal are reproducible. */
export function permuted<T extends Float64Array | Int32Array>(values: T, seed: number): T {
  const out = values.slice() as T;
  let state = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const j = state % (i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
