import { DataConfig, categoricalFieldName, denseFieldName, type DataConfigInput, type LearningCurvePoint } from '../contracts';
export { diagnoseFit } from '../contracts/research';
import {
  diagnoseFit,
  isResidualSignal,
  MIN_IMPORTANCE_CLICKS,
  notEstimableWording,
  SIGNAL_STD_ERRORS,
  type BaselineResearch,
  type DenseShape,
  type FieldImportance,
  type JointSignal,
  type ResidualSignal,
} from '../contracts/research';
import { parseOrExplain } from '../contracts/errors';
import { loadDataset } from './data/load-data';
import { sliceRows, type RowBlock } from './data/rows';
import { encodeRows } from './features';
import { hashSpaceReport } from './hash-report';
import { backgroundEntropy, clickThroughRate, exampleLogLoss } from './metrics';
import { categoricalLevels, denseLevels, HeldOutCells, heldOutHalves, permuted, type FieldLevels, type HeldOutGain } from './residual-cells';
import { loadArtifactScorer } from './scoring';

/**
 * The research step's measurements: what a ranking engineer looks at before touching a model, measured on the
 * baseline and its data. Each finding is in a unit the designer can turn into an expected gain:
 *
 * - field importance: permutation on validation rows, the NE the model loses when one field's values are shuffled;
 * - missed main effects and interactions: held-out cell statistics (residual-cells.ts) for single fields, pairs of
 *   any fields (dense ones by quantile bucket) and three-way crosses of the strongest fields: the log loss (nats a
 *   row) per-cell offsets fitted on one half of the rows gain on the other, each with its standard error and clicks,
 *   "not estimable" below MIN_HELD_OUT_CLICKS clicks a half; the significant interactions also fitted together;
 * - dense shape: empirical CTR by quantile bucket, monotone or not, held out (a non-monotone field wants buckets);
 * - hashing: per slot distinct values and collision rates of the baseline's own hash space;
 * - fit: the baseline's learning curve read as over-, under- or well fitted.
 */

export interface ResearchOptions {
  /** Validation rows for permutation importance (default 20,000; fewer for slow families). */
  importanceRows?: number;
  /** Training rows for the residual statistics (default: enough for ~2,000 clicks, 40,000 to 200,000 rows). */
  residualRows?: number;
  /**
   * Fields whose every pair is screened (default 120: 7,140 pairs, ~20 s on 20k rows of a 117-field table here). A
   * wider table screens the pairs of its most important fields (permutation importance on validation), so the cost
   * stays bounded (300 fields would be 44,850 pairs) — at the price that a pure interaction of two fields the model
   * does not use may be missed there. Screening by importance at 40 fields missed exactly that on the planted wide
   * table (test/support/wide-table.ts), which is why every pair is screened as long as it is affordable.
   */
  pairFields?: number;
  /** Fields that take part in the three-way search (the strongest by pair signal; default 8 → 56 triples). */
  tripleFields?: number;
  /** The baseline's learning curve, when it has one. */
  learningCurve?: readonly LearningCurvePoint[];
}

const IMPORTANCE_SEED = 0x1eaf;

export async function researchBaseline(input: DataConfigInput | DataConfig, artifact: string, opts: ResearchOptions = {}): Promise<BaselineResearch> {
  const data = parseOrExplain(DataConfig, input, 'data config');
  const dataset = await loadDataset(data);
  const scorer = await loadArtifactScorer(artifact);
  const spec = scorer.header.featureSpec;
  const config = scorer.header.config;
  const family = config.family;
  const active = [
    ...dataset.active.dense.map((f) => ({ name: denseFieldName(f), kind: 'dense' as const, index: f })),
    ...dataset.active.categorical.map((f) => ({ name: categoricalFieldName(f), kind: 'categorical' as const, index: f })),
  ].filter((f) => !config.fields?.[f.name]?.drop);

  // Permutation importance on validation rows: the split that decides training, never the test rows.
  const importanceRows = Math.min(dataset.validation.rows, opts.importanceRows ?? (family === 'dcn' ? 5_000 : 20_000));
  const held = sliceRows(dataset.validation, 0, importanceRows);
  const importanceClicks = held.labels.reduce((sum, y) => sum + (y === 1 ? 1 : 0), 0);
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

  // The baseline's predictions on training rows: the largest sample, so weak signal rises above the noise. Rare
  // clicks need more rows: enough for about TARGET_RESIDUAL_CLICKS clicks, within the row limits.
  const source = dataset.train.rows > 0 ? dataset.train : dataset.validation;
  const sample = sliceRows(source, 0, Math.min(source.rows, opts.residualRows ?? residualRowsFor(source)));
  const p = await scorer.score(encodeRows(sample, spec));
  let loss = 0;
  for (let i = 0; i < sample.rows; i++) loss += exampleLogLoss(p[i], sample.labels[i]);
  const perRowLoss = loss / Math.max(1, sample.rows);
  const cells = new HeldOutCells(sample.labels, p);
  const levels = new Map<string, FieldLevels>(
    active.map((f) => [f.name, f.kind === 'dense' ? denseLevels(sample, f.index) : categoricalLevels(sample, f.index)]),
  );
  const level = (name: string) => levels.get(name)!;
  const signalOf = (fields: string[], estimate: HeldOutGain): ResidualSignal => ({
    fields,
    strength: estimate.estimable ? round(estimate.gain) : 0,
    stdErr: round(estimate.stdErr),
    clicks: estimate.clicks,
    estimable: estimate.estimable,
    heldOutGain: estimate.estimable ? round(Math.max(0, estimate.gain) / Math.max(1e-12, perRowLoss)) : 0,
  });

  const mainEffects = judged(active.map((f) => signalOf([f.name], cells.estimate([[level(f.name)]])))).sort(strongestFirst);

  // Interactions net of both fields' main effects (fitted first, on the same half), among the most important fields
  // when there are too many to screen every pair.
  const pairFields = opts.pairFields ?? SCREENED_FIELDS;
  const screened = new Set(importance.slice(0, pairFields).map((f) => f.field));
  const paired = active.length > pairFields ? active.filter((f) => screened.has(f.name)) : active;
  const pairs: ResidualSignal[] = [];
  for (let a = 0; a < paired.length; a++)
    for (let b = a + 1; b < paired.length; b++) {
      const [x, y] = [level(paired[a].name), level(paired[b].name)];
      pairs.push(signalOf([paired[a].name, paired[b].name], cells.estimate([[x, y]], [[x], [y]])));
    }
  judged(pairs).sort(strongestFirst);

  // Three-way crosses among the fields of the strongest pairs, net of the mains and the three pairs: a triple only
  // scores for signal that no pair of it carries.
  const tripleFields = opts.tripleFields ?? 8;
  const strongFields: string[] = [];
  for (const q of pairs) {
    for (const f of q.fields) if (!strongFields.includes(f)) strongFields.push(f);
    if (strongFields.length >= tripleFields) break;
  }
  const ordered = (names: string[]) => active.map((f) => f.name).filter((n) => names.includes(n));
  const triples: ResidualSignal[] = [];
  const picked = ordered(strongFields.slice(0, tripleFields));
  for (let a = 0; a < picked.length; a++)
    for (let b = a + 1; b < picked.length; b++)
      for (let c = b + 1; c < picked.length; c++) {
        const [x, y, z] = [level(picked[a]), level(picked[b]), level(picked[c])];
        triples.push(signalOf([picked[a], picked[b], picked[c]], cells.estimate([[x, y, z]], [[x], [y], [z], [x, y], [x, z], [y, z]])));
      }
  judged(triples).sort(strongestFirst);

  // What the significant interactions are worth together (pairs sharing a hub field explain part of the same
  // residual): the bound for a family that learns all of them at once.
  const jointOf = (findings: ResidualSignal[]): JointSignal | undefined => {
    if (!findings.length) return undefined;
    const fields = ordered([...new Set(findings.flatMap((s) => s.fields))]);
    const estimate = cells.estimate(
      findings.map((s) => s.fields.map(level)),
      fields.map((f) => [level(f)]),
    );
    return {
      fields: findings.map((s) => s.fields),
      strength: round(estimate.gain),
      stdErr: round(estimate.stdErr),
      clicks: estimate.clicks,
      estimable: estimate.estimable,
      heldOutGain: estimate.estimable ? round(Math.max(0, estimate.gain) / Math.max(1e-12, perRowLoss)) : 0,
    };
  };
  const significantPairs = pairs.filter((q) => q.significant).slice(0, JOINT_PAIRS);
  const significantTriples = triples.filter((q) => q.significant).slice(0, JOINT_TRIPLES);
  const jointPairs = jointOf(significantPairs);
  const jointInteractions = significantTriples.length ? jointOf([...significantPairs, ...significantTriples]) : jointPairs;

  const hashing = hashSpaceReport(spec, dataset.train);
  const estimablePairs = pairs.filter((q) => q.estimable);
  return {
    artifact,
    family,
    importanceRows,
    residualRows: sample.rows,
    logLossPerRow: round(perRowLoss),
    // The noise floor of the cell statistics: the median pair, which on most data carries no interaction.
    noiseFloor: round(Math.abs(estimablePairs[Math.floor(estimablePairs.length / 2)]?.strength ?? 0)),
    clicks: cells.clicks,
    importanceClicks,
    notEstimable: [
      ...(importanceClicks < MIN_IMPORTANCE_CLICKS
        ? [notEstimableWording(`field importance on ${importanceRows} validation rows`, importanceClicks, `${MIN_IMPORTANCE_CLICKS}`)]
        : []),
      ...notEstimableFindings(cells, [...mainEffects, ...pairs, ...triples]),
    ],
    ...(jointPairs ? { jointPairs } : {}),
    ...(jointInteractions ? { jointInteractions } : {}),
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

/** Residual rows: enough for about TARGET_RESIDUAL_CLICKS clicks, but at least MIN and at most MAX rows. */
const MIN_RESIDUAL_ROWS = 40_000;
const MAX_RESIDUAL_ROWS = 200_000;
const TARGET_RESIDUAL_CLICKS = 2_000;
/** Fields whose every pair is screened (see ResearchOptions.pairFields); pair-signal.ts uses the same bound. */
export const SCREENED_FIELDS = 120;

/** How many significant pairs (and triples) are fitted together for the joint bound. */
const JOINT_PAIRS = 12;
const JOINT_TRIPLES = 5;
/** Not-estimable findings listed by name; the rest are counted. */
const NOT_ESTIMABLE_LISTED = 20;

function residualRowsFor(source: RowBlock): number {
  let clicks = 0;
  for (let i = 0; i < source.rows; i++) if (source.labels[i] === 1) clicks++;
  const ctr = clicks / Math.max(1, source.rows);
  const wanted = ctr > 0 ? Math.ceil(TARGET_RESIDUAL_CLICKS / ctr) : MAX_RESIDUAL_ROWS;
  return Math.max(MIN_RESIDUAL_ROWS, Math.min(MAX_RESIDUAL_ROWS, wanted));
}

/** Marks which findings of one kind stand out of their noise, given how many of that kind were measured. */
function judged(findings: ResidualSignal[]): ResidualSignal[] {
  for (const s of findings) s.significant = isResidualSignal({ ...s, significant: undefined }, findings.length);
  return findings;
}

/** Strongest first; a finding without enough clicks (strength 0) after every estimable one. */
function strongestFirst(a: ResidualSignal, b: ResidualSignal): number {
  return b.strength - a.strength || Number(b.estimable !== false) - Number(a.estimable !== false);
}

/** "C3×C7: not estimable with 38 clicks…" for each finding that lacked clicks; the whole sample in one line when it did. */
function notEstimableFindings(cells: HeldOutCells, findings: ResidualSignal[]): string[] {
  const lacking = findings.filter((s) => s.estimable === false);
  if (!lacking.length) return [];
  if (lacking.length === findings.length) return [notEstimableWording(`residual statistics on ${cells.rows} rows`, cells.clicks)];
  const listed = lacking.slice(0, NOT_ESTIMABLE_LISTED - 1).map((s) => notEstimableWording(s.fields.join('×'), s.clicks ?? 0));
  return lacking.length > listed.length ? [...listed, `and ${lacking.length - listed.length} more findings not estimable`] : listed;
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
    for (let i = 0; i < block.rows; i++) dense[i * block.denseWidth + field] = block.dense[order[i] * block.denseWidth + field];
    return { ...block, dense };
  }
  const categorical = block.categorical.slice();
  for (let i = 0; i < block.rows; i++) categorical[i * block.categoricalWidth + field] = block.categorical[order[i] * block.categoricalWidth + field];
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
 * isotonic regression, either direction), held out: the free bucket CTRs (shrunk toward the half's click rate by
 * SHAPE_PRIOR_CLICKS pseudo-clicks, so an empty bucket is not a CTR of 0) and the monotone fit are fitted on one half
 * of the rows and scored on the other, then swapped. `nonMonotoneGain` is what the free buckets gain over the
 * monotone fit in nats a row on rows they did not see; the field is non-monotone when that stands SIGNAL_STD_ERRORS
 * standard errors above 0 (a bump that is noise does not carry over), flat when the free buckets do not beat one CTR
 * for all the same way. A transform that keeps order (none, log, standardize) cannot fit a non-monotone field.
 */
export function denseShape(block: RowBlock, field: number, transform?: string): DenseShape {
  const levels = denseLevels(block, field);
  const buckets = levels.levels;
  const half = heldOutHalves(block.rows, SHAPE_SEED);
  const rows = [new Float64Array(buckets), new Float64Array(buckets)];
  const clicks = [new Float64Array(buckets), new Float64Array(buckets)];
  let missing = 0;
  for (let i = 0; i < block.rows; i++) {
    const id = levels.ids[i];
    if (id < 0) {
      missing++;
      continue;
    }
    rows[half[i]][id]++;
    if (block.labels[i] === 1) clicks[half[i]][id]++;
  }
  const allRows = Array.from({ length: buckets }, (_, b) => rows[0][b] + rows[1][b]);
  const allClicks = Array.from({ length: buckets }, (_, b) => clicks[0][b] + clicks[1][b]);
  const used = allRows.reduce((a, b) => a + b, 0);
  const ctr = allRows.map((n, b) => (n > 0 ? allClicks[b] / n : 0));

  const nonMonotone = new HeldOutSum();
  const overFlat = new HeldOutSum();
  for (const fit of [0, 1]) {
    const n = Array.from(rows[fit]);
    const c = Array.from(clicks[fit]);
    const fitRows = n.reduce((a, b) => a + b, 0);
    const overall = fitRows > 0 ? c.reduce((a, b) => a + b, 0) / fitRows : 0;
    const pseudoRows = overall > 0 ? SHAPE_PRIOR_CLICKS / overall : 0;
    const free = n.map((rowsB, b) => (rowsB + pseudoRows > 0 ? (c[b] + SHAPE_PRIOR_CLICKS) / (rowsB + pseudoRows) : overall));
    const ll = (q: number[]) => q.reduce((sum, qb, b) => sum + bernoulliLogLikelihood(c[b], n[b], qb), 0);
    const up = isotonic(free, n);
    const down = isotonic(
      free.map((q) => -q),
      n,
    ).map((q) => -q);
    const monotone = ll(up) >= ll(down) ? up : down;
    const other = 1 - fit;
    for (let b = 0; b < buckets; b++) {
      nonMonotone.add(clicks[other][b], rows[other][b], free[b], monotone[b]);
      overFlat.add(clicks[other][b], rows[other][b], free[b], overall);
    }
  }
  const flatGain = overFlat.mean(used);
  const nonMonotoneGain = nonMonotone.mean(used);
  const nonMonotoneStdErr = nonMonotone.stdErr(used);
  const stands = (gain: number, stdErr: number) => gain > 0 && gain > SIGNAL_STD_ERRORS * stdErr;
  const fullLl = (q: number[]) => q.reduce((sum, qb, b) => sum + bernoulliLogLikelihood(allClicks[b], allRows[b], qb), 0);
  const increasing =
    fullLl(isotonic(ctr, allRows)) >=
    fullLl(
      isotonic(
        ctr.map((q) => -q),
        allRows,
      ).map((q) => -q),
    );
  const shape: DenseShape['shape'] =
    buckets < 3 || !stands(flatGain, overFlat.stdErr(used))
      ? 'flat'
      : stands(nonMonotoneGain, nonMonotoneStdErr)
        ? 'non-monotone'
        : increasing
          ? 'increasing'
          : 'decreasing';
  return {
    field: denseFieldName(field),
    ...(transform ? { transform } : {}),
    buckets,
    missingShare: round(missing / Math.max(1, block.rows)),
    shape,
    nonMonotoneGain: round(nonMonotoneGain),
    nonMonotoneStdErr: round(nonMonotoneStdErr),
    ctrByBucket: ctr.map(round),
  };
}

/** Pseudo-clicks at the half's click rate each bucket's CTR is shrunk with: a bucket's own clicks outweigh them from a handful on. */
const SHAPE_PRIOR_CLICKS = 2;
const SHAPE_SEED = 0x5ba9e;

/** Per-row log-likelihood gains of one bucket CTR over another, summed over held-out rows (clicks and non-clicks apart). */
class HeldOutSum {
  private sum = 0;
  private squares = 0;

  add(clicks: number, rows: number, q: number, reference: number): void {
    const p1 = clamp01(q);
    const p0 = clamp01(reference);
    const click = Math.log(p1) - Math.log(p0);
    const none = Math.log(1 - p1) - Math.log(1 - p0);
    this.sum += clicks * click + (rows - clicks) * none;
    this.squares += clicks * click * click + (rows - clicks) * none * none;
  }

  mean(rows: number): number {
    return rows > 0 ? this.sum / rows : 0;
  }

  stdErr(rows: number): number {
    if (rows <= 0) return 0;
    const mean = this.sum / rows;
    return Math.sqrt(Math.max(0, this.squares / rows - mean * mean) / rows);
  }
}

function clamp01(p: number): number {
  return Math.min(1 - 1e-9, Math.max(1e-9, p));
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
