import { DataConfig, categoricalFieldName, type DataConfigInput, type FieldPairSignal } from '../contracts';
import { parseOrExplain } from '../contracts/errors';
import { isResidualSignal } from '../contracts/research';
import { loadDataset } from './data/load-data';
import { sliceRows } from './data/rows';
import { encodeRows } from './features';
import { categoricalLevels, HeldOutCells } from './residual-cells';
import { SCREENED_FIELDS } from './research';
import { loadArtifactScorer } from './scoring';

/**
 * Which categorical field pairs carry interaction signal the model misses, estimated held out (residual-cells.ts):
 * per-cell offsets of (value_a, value_b) on top of both fields' main effects, shrunk by each cell's clicks, fitted on
 * one half of the sampled rows and scored on the other. A pair's strength is the log loss (nats a row) those offsets
 * gain on rows they did not see, when that stands out of its noise (enough clicks, and as many standard errors above 0
 * as the largest of that many noise pairs would rarely reach: signalThreshold), and 0
 * otherwise: a pair without interaction, or one the clicks cannot tell, is 0 at any click rate. Strongest first.
 * A table with more than `pairFields` categorical fields (default SCREENED_FIELDS, 120) screens the pairs of the
 * fields whose own held-out main effect over the model is strongest, so the screen stays quadratic in a bounded count.
 */
export async function measureFieldPairSignal(
  input: DataConfigInput | DataConfig,
  artifact: string,
  opts: { sampleRows?: number; pairFields?: number } = {},
): Promise<FieldPairSignal[]> {
  const data = parseOrExplain(DataConfig, input, 'data config');
  const dataset = await loadDataset(data);
  const { header, score } = await loadArtifactScorer(artifact);

  // Training rows: the largest sample, so weak interactions rise above the noise. A hashed linear model's own
  // training rows understate what it misses, never overstate it: held out, an offset only gains what generalizes.
  const source = dataset.train.rows > 0 ? dataset.train : dataset.validation;
  const sample = sliceRows(source, 0, Math.min(source.rows, opts.sampleRows ?? 20_000));
  const cells = new HeldOutCells(sample.labels, await score(encodeRows(sample, header.featureSpec)));

  const pairFields = opts.pairFields ?? SCREENED_FIELDS;
  let fields = dataset.active.categorical;
  let levelOf = fields.map((f) => categoricalLevels(sample, f));
  if (fields.length > pairFields) {
    const gain = levelOf.map((x) => cells.estimate([[x]]).gain);
    const top = new Set(
      fields
        .map((_, i) => i)
        .sort((a, b) => gain[b] - gain[a])
        .slice(0, pairFields),
    );
    fields = fields.filter((_, i) => top.has(i));
    levelOf = levelOf.filter((_, i) => top.has(i));
  }
  const out: FieldPairSignal[] = [];
  for (let a = 0; a < fields.length; a++) {
    for (let b = a + 1; b < fields.length; b++) {
      const [x, y] = [levelOf[a], levelOf[b]];
      const estimate = cells.estimate([[x, y]], [[x], [y]]);
      const pair = { fields: [categoricalFieldName(fields[a]), categoricalFieldName(fields[b])] as [string, string] };
      const tested = (fields.length * (fields.length - 1)) / 2;
      out.push({ ...pair, strength: isResidualSignal({ ...pair, strength: estimate.gain, ...estimate }, tested) ? estimate.gain : 0 });
    }
  }
  return out.sort((x, y) => y.strength - x.strength);
}
