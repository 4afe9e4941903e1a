import { CATEGORICAL_FIELDS, DataConfig, type DataConfigInput, type FieldPairSignal } from '../contracts';
import { parseOrExplain } from '../contracts/errors';
import { loadDataset } from './data/load-data';
import { sliceRows } from './data/rows';
import { encodeRows } from './features';
import { categoricalLevels, excessOverNull, permuted } from './residual-cells';
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

  const fields = dataset.active.categorical;
  const levelOf = fields.map((f) => categoricalLevels(sample, f));
  // A permutation null removes the bias of small cells (residual-cells.ts): what remains is ≈ 0 for a pair without
  // interaction, so designers can tell signal from noise with one threshold across datasets.
  const shuffled = permuted(residual, 0x5eed);
  const out: FieldPairSignal[] = [];
  for (let a = 0; a < fields.length; a++) {
    for (let b = a + 1; b < fields.length; b++) {
      out.push({
        fields: [CATEGORICAL_FIELDS[fields[a]], CATEGORICAL_FIELDS[fields[b]]],
        strength: excessOverNull([levelOf[a], levelOf[b]], residual, shuffled, true),
      });
    }
  }
  return out.sort((x, y) => y.strength - x.strength);
}
