import { CATEGORICAL_FIELDS, DataConfig, type DataConfigInput, type FieldPairSignal } from '../contracts';
import { parseOrExplain } from '../contracts/errors';
import { loadDataset } from './data/load-data';
import { CATEGORICAL_COUNT, MISSING_CATEGORICAL, sliceRows } from './data/rows';
import { encodeRows } from './features';
import { loadArtifactScorer } from './scoring';

/**
 * Which categorical field pairs carry interaction signal the model misses.
 *
 * On a sample of validation rows we take the model's residuals r = y − p and, for each field pair (a, b), sum
 * them per cell (value_a, value_b) after removing what each field alone explains (the mean residual of value_a
 * and of value_b — a two-way ANOVA decomposition). Each cell scores (Σr)²/Σr² − 1, ≈ 0 in expectation for noise;
 * the sum over cells per sampled row measures the interaction the model misses. Sorted strongest first.
 */
export async function measureFieldPairSignal(
  input: DataConfigInput | DataConfig,
  artifact: string,
  opts: { sampleRows?: number } = {},
): Promise<FieldPairSignal[]> {
  const data = parseOrExplain(DataConfig, input, 'data config');
  const dataset = await loadDataset(data);
  const { header, score } = await loadArtifactScorer(artifact);

  // Training rows: the largest sample, so weak interactions rise above the noise. The residuals of a hashed linear
  // model on its own training rows are barely optimistic, and the permutation null below absorbs what bias remains.
  const source = dataset.train.rows > 0 ? dataset.train : dataset.validation;
  const sample = sliceRows(source, 0, Math.min(source.rows, opts.sampleRows ?? 20_000));
  const p = await score(encodeRows(sample, header.featureSpec));
  const residual = new Float64Array(sample.rows);
  for (let i = 0; i < sample.rows; i++) {
    residual[i] = sample.labels[i] - p[i];
  }

  // Dense level ids per field within the sample (missing = -1).
  const fields = dataset.active.categorical;
  const levelOf = fields.map((f) => {
    const ids = new Int32Array(sample.rows);
    const map = new Map<number, number>();
    for (let i = 0; i < sample.rows; i++) {
      const h = sample.categorical[i * CATEGORICAL_COUNT + f];
      if (h === MISSING_CATEGORICAL) {
        ids[i] = -1;
        continue;
      }
      let id = map.get(h);
      if (id === undefined) map.set(h, (id = map.size));
      ids[i] = id;
    }
    return { ids, levels: map.size };
  });

  // The raw score is biased upward by the cells' sizes (the main effects are estimated on the same rows), by an
  // amount that depends on the pair's cardinalities. A permutation null removes it: the same score on the residuals
  // shuffled across rows (fixed seed) keeps every cell size but breaks any interaction. What remains is ≈ 0 for a
  // pair without interaction, so designers can tell signal from noise with one threshold across datasets.
  const shuffled = permuted(residual, 0x5eed);
  const out: FieldPairSignal[] = [];
  for (let a = 0; a < fields.length; a++) {
    for (let b = a + 1; b < fields.length; b++) {
      out.push({
        fields: [CATEGORICAL_FIELDS[fields[a]], CATEGORICAL_FIELDS[fields[b]]],
        strength: pairStrength(levelOf[a], levelOf[b], residual) - pairStrength(levelOf[a], levelOf[b], shuffled),
      });
    }
  }
  return out.sort((x, y) => y.strength - x.strength);
}

function pairStrength(a: { ids: Int32Array; levels: number }, b: { ids: Int32Array; levels: number }, residual: Float64Array): number {
  const n = residual.length;
  const sumA = new Float64Array(a.levels);
  const cntA = new Float64Array(a.levels);
  const sumB = new Float64Array(b.levels);
  const cntB = new Float64Array(b.levels);
  let total = 0;
  let used = 0;
  for (let i = 0; i < n; i++) {
    const ia = a.ids[i];
    const ib = b.ids[i];
    if (ia < 0 || ib < 0) continue;
    sumA[ia] += residual[i];
    cntA[ia]++;
    sumB[ib] += residual[i];
    cntB[ib]++;
    total += residual[i];
    used++;
  }
  if (used === 0) return 0;
  const mean = total / used;
  const cellIndex = new Map<number, number>();
  const cellSum: number[] = [];
  const cellVar: number[] = [];
  for (let i = 0; i < n; i++) {
    const ia = a.ids[i];
    const ib = b.ids[i];
    if (ia < 0 || ib < 0) continue;
    const key = ia * b.levels + ib;
    let c = cellIndex.get(key);
    if (c === undefined) {
      cellIndex.set(key, (c = cellSum.length));
      cellSum.push(0);
      cellVar.push(0);
    }
    // What the two main effects explain of this row's residual is removed before it counts as interaction.
    const adjusted = residual[i] - (sumA[ia] / cntA[ia] - mean) - (sumB[ib] / cntB[ib] - mean) - mean;
    cellSum[c] += adjusted;
    cellVar[c] += adjusted * adjusted;
  }
  // Self-normalised per cell: (Σr)² / Σr² is 1 in expectation when the cell's residuals are independent noise
  // (and exactly 1 for a single row), and grows toward the cell's size when they share a sign — a missed
  // interaction. Using the residuals' own spread (not p(1−p)) keeps a miscalibrated model from scoring noise.
  let excess = 0;
  for (let c = 0; c < cellSum.length; c++) if (cellVar[c] > 0) excess += (cellSum[c] * cellSum[c]) / cellVar[c] - 1;
  return excess / used;
}

/** A deterministic Fisher–Yates shuffle (xorshift32), so the null and hence the signal are reproducible. */
function permuted(values: Float64Array, seed: number): Float64Array {
  const out = Float64Array.from(values);
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
