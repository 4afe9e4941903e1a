import { CATEGORICAL_FIELDS, DENSE_FIELDS, DataConfig, type DataConfigInput, type LearningCurvePoint } from '../contracts';
export { diagnoseFit } from '../contracts/research';
import { diagnoseFit, type BaselineResearch, type DenseShape, type FieldImportance, type ResidualSignal } from '../contracts/research';
import { parseOrExplain } from '../contracts/errors';
import { loadDataset } from './data/load-data';
import { CATEGORICAL_COUNT, DENSE_COUNT, sliceRows, type RowBlock } from './data/rows';
import { encodeRows } from './features';
import { hashSpaceReport } from './hash-report';
import { backgroundEntropy, clickThroughRate, exampleLogLoss } from './metrics';
import { categoricalLevels, denseLevels, excessOverNull, permuted, type FieldLevels } from './residual-cells';
import { loadArtifactScorer } from './scoring';

/**
 * The research step's measurements: what a ranking engineer looks at before touching a model, measured on the
 * baseline and its data. Each finding is in a unit the designer can turn into an expected gain:
 *
 * - field importance: permutation on validation rows, the NE the model loses when one field's values are shuffled;
 * - missed main effects and interactions: residual cell statistics (residual-cells.ts) for single fields, pairs of
 *   any fields (dense ones by quantile bucket) and three-way crosses of the strongest fields, ≈ 2 × nats a row;
 * - dense shape: empirical CTR by quantile bucket, monotone or not (a non-monotone field wants buckets);
 * - hashing: per slot distinct values and collision rates of the baseline's own hash space;
 * - fit: the baseline's learning curve read as over-, under- or well fitted.
 */

export interface ResearchOptions {
  /** Validation rows for permutation importance (default 20,000; fewer for slow families). */
  importanceRows?: number;
  /** Training rows for the residual statistics (default 40,000). */
  residualRows?: number;
  /** Fields that take part in the three-way search (the strongest by pair signal; default 8 → 56 triples). */
  tripleFields?: number;
  /** The baseline's learning curve, when it has one. */
  learningCurve?: readonly LearningCurvePoint[];
}

const RESIDUAL_SEED = 0x5eed;
const IMPORTANCE_SEED = 0x1eaf;

export async function researchBaseline(input: DataConfigInput | DataConfig, artifact: string, opts: ResearchOptions = {}): Promise<BaselineResearch> {
  const data = parseOrExplain(DataConfig, input, 'data config');
  const dataset = await loadDataset(data);
  const scorer = await loadArtifactScorer(artifact);
  const spec = scorer.header.featureSpec;
  const config = scorer.header.config;
  const family = config.family;
  const active = [
    ...dataset.active.dense.map((f) => ({ name: DENSE_FIELDS[f], kind: 'dense' as const, index: f })),
    ...dataset.active.categorical.map((f) => ({ name: CATEGORICAL_FIELDS[f], kind: 'categorical' as const, index: f })),
  ].filter((f) => !config.fields?.[f.name]?.drop);

  // Permutation importance on validation rows: the split that decides training, never the test rows.
  const importanceRows = Math.min(dataset.validation.rows, opts.importanceRows ?? (family === 'dcn' ? 5_000 : 20_000));
  const held = sliceRows(dataset.validation, 0, importanceRows);
  const heldScores = await scorer.score(encodeRows(held, spec));
  const entropy = backgroundEntropy(clickThroughRate(held.labels));
  const importance: FieldImportance[] = [];
  for (const field of active) {
    const shuffledBlock = withFieldShuffled(held, field.kind, field.index, IMPORTANCE_SEED + field.index);
    const scores = await scorer.score(encodeRows(shuffledBlock, spec));
    const { mean, stdErr } = meanLossIncrease(heldScores, scores, held.labels);
    importance.push({ field: field.name, kind: field.kind, neIncrease: round(mean / entropy), stdErr: round(stdErr / entropy) });
  }
  importance.sort((a, b) => b.neIncrease - a.neIncrease);

  // Residuals of the baseline on training rows: the largest sample, so weak signal rises above the noise.
  const source = dataset.train.rows > 0 ? dataset.train : dataset.validation;
  const sample = sliceRows(source, 0, Math.min(source.rows, opts.residualRows ?? 40_000));
  const p = await scorer.score(encodeRows(sample, spec));
  const residual = new Float64Array(sample.rows);
  let loss = 0;
  for (let i = 0; i < sample.rows; i++) {
    residual[i] = sample.labels[i] - p[i];
    loss += exampleLogLoss(p[i], sample.labels[i]);
  }
  const shuffled = permuted(residual, RESIDUAL_SEED);
  const levels = new Map<string, FieldLevels>(
    active.map((f) => [f.name, f.kind === 'dense' ? denseLevels(sample, f.index) : categoricalLevels(sample, f.index)]),
  );
  const level = (name: string) => levels.get(name)!;

  const mainEffects: ResidualSignal[] = active
    .map((f) => ({ fields: [f.name], strength: round(excessOverNull([level(f.name)], residual, shuffled, false)) }))
    .sort((a, b) => b.strength - a.strength);

  const pairs: ResidualSignal[] = [];
  for (let a = 0; a < active.length; a++)
    for (let b = a + 1; b < active.length; b++) {
      const fields = [active[a].name, active[b].name];
      pairs.push({ fields, strength: round(excessOverNull(fields.map(level), residual, shuffled, true)) });
    }
  pairs.sort((x, y) => y.strength - x.strength);

  // Three-way crosses among the fields of the strongest pairs: the triple's cells minus what its three pairs explain
  // (each net of its null), so a triple only scores for signal that no pair of it carries.
  const pairStrength = new Map(pairs.map((q) => [q.fields.join('×'), q.strength]));
  const strongFields: string[] = [];
  for (const q of pairs) {
    for (const f of q.fields) if (!strongFields.includes(f)) strongFields.push(f);
    if (strongFields.length >= (opts.tripleFields ?? 8)) break;
  }
  const ordered = (names: string[]) => active.map((f) => f.name).filter((n) => names.includes(n));
  const triples: ResidualSignal[] = [];
  const picked = ordered(strongFields.slice(0, opts.tripleFields ?? 8));
  for (let a = 0; a < picked.length; a++)
    for (let b = a + 1; b < picked.length; b++)
      for (let c = b + 1; c < picked.length; c++) {
        const fields = [picked[a], picked[b], picked[c]];
        const whole = excessOverNull(fields.map(level), residual, shuffled, true);
        const inPairs = [
          [fields[0], fields[1]],
          [fields[0], fields[2]],
          [fields[1], fields[2]],
        ].reduce((sum, q) => sum + Math.max(0, pairStrength.get(q.join('×')) ?? 0), 0);
        triples.push({ fields, strength: round(whole - inPairs) });
      }
  triples.sort((x, y) => y.strength - x.strength);

  const hashing = hashSpaceReport(spec, dataset.train);
  const perRowLoss = loss / sample.rows;
  return {
    artifact,
    family,
    importanceRows,
    residualRows: sample.rows,
    logLossPerRow: round(perRowLoss),
    // The noise floor of the cell statistics: the median pair, which on most data carries no interaction.
    noiseFloor: round(Math.abs(pairs[Math.floor(pairs.length / 2)]?.strength ?? 0)),
    importance,
    mainEffects,
    pairs: pairs.slice(0, 40),
    triples: triples.slice(0, 10),
    denseShapes: active
      .filter((f) => f.kind === 'dense')
      .map((f) => denseShape(sample, f.index, config.fields?.[f.name]?.transform ?? config.denseTransform)),
    hashing: {
      hashSpace: hashing.hashSpace,
      hashBits: hashing.hashBits,
      expectedCollisionRate: round(hashing.expectedCollisionRate),
      slots: hashing.slots.map((s) => ({
        feature: s.feature,
        distinct: s.distinct,
        bits: s.bits,
        autoBits: s.autoBits,
        expectedCollisionRate: round(s.expectedCollisionRate),
        collidingRowShare: s.collidingRowShare === undefined ? undefined : round(s.collidingRowShare),
      })),
    },
    fit: diagnoseFit(opts.learningCurve ?? []),
  };
}

function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(4)) : 0;
}

/** A copy of `block` with one field's values shuffled across rows (labels and every other field untouched). */
function withFieldShuffled(block: RowBlock, kind: 'dense' | 'categorical', field: number, seed: number): RowBlock {
  const order = permuted(
    Int32Array.from({ length: block.rows }, (_, i) => i),
    seed,
  );
  if (kind === 'dense') {
    const dense = block.dense.slice();
    for (let i = 0; i < block.rows; i++) dense[i * DENSE_COUNT + field] = block.dense[order[i] * DENSE_COUNT + field];
    return { ...block, dense };
  }
  const categorical = block.categorical.slice();
  for (let i = 0; i < block.rows; i++) categorical[i * CATEGORICAL_COUNT + field] = block.categorical[order[i] * CATEGORICAL_COUNT + field];
  return { ...block, categorical };
}

/** Mean and standard error of the per-row log-loss increase (paired: same rows, same labels). */
function meanLossIncrease(base: Float64Array, shuffled: Float64Array, labels: Uint8Array): { mean: number; stdErr: number } {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < labels.length; i++) {
    const d = exampleLogLoss(shuffled[i], labels[i]) - exampleLogLoss(base[i], labels[i]);
    sum += d;
    squares += d * d;
  }
  const n = Math.max(1, labels.length);
  const mean = sum / n;
  return { mean, stdErr: Math.sqrt(Math.max(0, squares / n - mean * mean) / n) };
}

/**
 * The shape of a dense field's effect: CTR by 16 equal-frequency buckets, against the best monotone fit (weighted
 * isotonic regression, either direction). `nonMonotoneGain` is the log loss (nats a row) the free bucket means
 * gain over the monotone fit; above ~8 nats in total (a likelihood-ratio statistic of 16, about p = 0.05 for the
 * handful of parameters a violation costs) the field is non-monotone, and a transform that keeps order (none,
 * log, standardize) cannot fit it.
 */
export function denseShape(block: RowBlock, field: number, transform?: string): DenseShape {
  const levels = denseLevels(block, field);
  const clicks = new Float64Array(levels.levels);
  const rows = new Float64Array(levels.levels);
  let missing = 0;
  for (let i = 0; i < block.rows; i++) {
    const id = levels.ids[i];
    if (id < 0) {
      missing++;
      continue;
    }
    rows[id]++;
    clicks[id] += block.labels[i];
  }
  const used = rows.reduce((a, b) => a + b, 0);
  const name = DENSE_FIELDS[field];
  const ctr = Array.from(rows, (n, b) => (n > 0 ? clicks[b] / n : 0));
  const overall = used > 0 ? clicks.reduce((a, b) => a + b, 0) / used : 0;
  const ll = (fit: number[]) => fit.reduce((sum, q, b) => sum + bernoulliLogLikelihood(clicks[b], rows[b], q), 0);
  const free = ll(ctr);
  const up = isotonic(ctr, Array.from(rows));
  const down = isotonic(
    ctr.map((c) => -c),
    Array.from(rows),
  ).map((c) => -c);
  const llUp = ll(up);
  const llDown = ll(down);
  const flatGain = free - ll(ctr.map(() => overall));
  const nonMonotone = free - Math.max(llUp, llDown);
  const shape: DenseShape['shape'] =
    levels.levels < 3 || flatGain < 4 ? 'flat' : nonMonotone > 8 ? 'non-monotone' : llUp >= llDown ? 'increasing' : 'decreasing';
  return {
    field: name,
    ...(transform ? { transform } : {}),
    buckets: levels.levels,
    missingShare: round(missing / Math.max(1, block.rows)),
    shape,
    nonMonotoneGain: round(nonMonotone / Math.max(1, used)),
    ctrByBucket: ctr.map(round),
  };
}

function bernoulliLogLikelihood(clicks: number, rows: number, q: number): number {
  if (rows === 0) return 0;
  const p = Math.min(1 - 1e-9, Math.max(1e-9, q));
  return clicks * Math.log(p) + (rows - clicks) * Math.log(1 - p);
}

/** Weighted isotonic (non-decreasing) regression by pool-adjacent-violators. */
function isotonic(values: number[], weights: number[]): number[] {
  const blocks: { value: number; weight: number; size: number }[] = [];
  values.forEach((v, i) => {
    blocks.push({ value: v, weight: weights[i], size: 1 });
    while (blocks.length > 1 && blocks[blocks.length - 2].value > blocks[blocks.length - 1].value) {
      const b = blocks.pop()!;
      const a = blocks[blocks.length - 1];
      const w = a.weight + b.weight;
      a.value = w > 0 ? (a.value * a.weight + b.value * b.weight) / w : (a.value + b.value) / 2;
      a.weight = w;
      a.size += b.size;
    }
  });
  return blocks.flatMap((b) => Array(b.size).fill(b.value));
}
