import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeclaredSchema } from '../../contracts';
import { auc, backgroundEntropy, exampleLogLoss } from '../../ranking/metrics';
import { SeededRandom } from '../../ranking/rng';

/**
 * The quality bench's wide declared table ("wide-declared"): a ranking team's own table rather than Criteo's layout,
 * 104 columns with a header — `clicked`, 70 categoricals (cat01…cat70: 3 to 50,000 values, the big ones long-tailed),
 * 30 dense columns (num01…num30: heavy-tailed non-negative amounts, some missing) and three "|"-separated lists
 * (tags, topics, interests) — whose true click probability is known. Its signal sits in columns far past Criteo's
 * 26th field:
 *
 *   logit = bias + main(cat33) + main(cat45) + main(cat52)        per-value effects (cat52: 5,000 long-tailed values)
 *         + cross(cat61 × cat67)                                  ±, with no main effect of either column
 *         + 0.5 · s(num24)                                        s = standardised log1p
 *         + 1.4 · bump(log1p(num28))                              non-monotone: a bump in the middle of its range
 *         + 0.9 · [topics has t3] − 0.7 · [topics has t7]         a list effect
 *
 * and every other column is noise. The bias is fitted on a pilot sample so the mean click probability is `baseCtr`.
 *
 * It lives in the bench, not in `rankwright generate`: the product's generator options and scenario names are part
 * of its contracts (contracts/wide-planted.ts), and this table exists to measure contenders on a declared schema,
 * which a bench needs and a user's campaign does not. Everything derives from the seed (structure, pilot and each
 * split from their own streams), so the same options write the same bytes.
 */

export const WIDE_DECLARED_VERSION = 1;
export const WIDE_DECLARED_SCENARIO = 'wide-declared';

export interface WideDeclaredOptions {
  trainRows: number;
  validationRows: number;
  testRows: number;
  seed: number;
  baseCtr: number;
}

export const WIDE_DECLARED_DEFAULTS: WideDeclaredOptions = { trainRows: 200_000, validationRows: 20_000, testRows: 50_000, seed: 24, baseCtr: 0.08 };

/** Validation and test keep their ratio to train when `--rows` asks for another size (as `rankwright generate --rows` does). */
export function wideDeclaredOptions(rows?: number): WideDeclaredOptions {
  if (!rows) return { ...WIDE_DECLARED_DEFAULTS };
  const d = WIDE_DECLARED_DEFAULTS;
  return {
    ...d,
    trainRows: rows,
    validationRows: Math.round((rows * d.validationRows) / d.trainRows),
    testRows: Math.round((rows * d.testRows) / d.trainRows),
  };
}

const CATEGORICAL = 70;
const DENSE = 30;
const PILOT_ROWS = 20_000;
const pad = (i: number) => String(i).padStart(2, '0');
const CAT_NAMES = Array.from({ length: CATEGORICAL }, (_, i) => `cat${pad(i + 1)}`);
const NUM_NAMES = Array.from({ length: DENSE }, (_, i) => `num${pad(i + 1)}`);
/** Noise columns' cardinalities, in turn: small, medium and long-tailed big ones. */
const CARDINALITY_CYCLE = [3, 8, 25, 100, 500, 2_000, 10_000, 50_000];
const TAG_WORDS = ['hot', 'new', 'sale', 'kids', 'pro', 'eco', 'gift', 'bulk'];
const TOPICS = 40;
const INTERESTS = 500;

/** The columns the truth reads (0-based indices into CAT_NAMES / NUM_NAMES). */
const TRUTH = {
  mains: [
    { column: 32, cardinality: 60, zipf: 0.8, effectSd: 0.6 },
    { column: 44, cardinality: 400, zipf: 1.0, effectSd: 0.5 },
    { column: 51, cardinality: 5_000, zipf: 1.1, effectSd: 0.4 },
  ],
  /** Both uniform over 8 values: each column's marginal effect of the ±pattern is exactly 0. */
  cross: { a: 60, b: 66, cardinality: 8, levels: [-1.1, -0.4, 0.4, 1.1] },
  denseSlope: { column: 23, slope: 0.5 },
  denseBump: { column: 27, height: 1.4, width: 0.35 },
  topics: { t3: 0.9, t7: -0.7 },
} as const;

export const WIDE_DECLARED_SCHEMA: DeclaredSchema = {
  columns: {
    clicked: 'label',
    ...Object.fromEntries(CAT_NAMES.map((c) => [c, 'categorical' as const])),
    ...Object.fromEntries(NUM_NAMES.map((c) => [c, 'dense' as const])),
    tags: { role: 'multiCategorical', separator: '|', maxValues: 4 },
    topics: { role: 'multiCategorical', separator: '|', maxValues: 4 },
    interests: { role: 'multiCategorical', separator: '|', maxValues: 6 },
  },
};
/** The file's columns in order (the schema's order). */
export const WIDE_DECLARED_COLUMNS = Object.keys(WIDE_DECLARED_SCHEMA.columns);

interface CategoricalColumn {
  cardinality: number;
  missingRate: number;
  /** Zipf CDF over ranks (rank 0 = most frequent). */
  cdf: Float64Array;
  /** Per-value effect on the logit (truth columns only). */
  effect?: Float64Array;
}

interface DenseColumn {
  logMean: number;
  logSd: number;
  missingRate: number;
}

interface Structure {
  categorical: CategoricalColumn[];
  dense: DenseColumn[];
  topicCdf: Float64Array;
  interestCdf: Float64Array;
  bias: number;
}

function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / Math.pow(k + 1, s);
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  return cdf;
}

function drawRank(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function plantStructure(options: WideDeclaredOptions): Structure {
  const rng = new SeededRandom(options.seed);
  const categorical: CategoricalColumn[] = CAT_NAMES.map((_, i) => {
    const main = TRUTH.mains.find((m) => m.column === i);
    const crossed = i === TRUTH.cross.a || i === TRUTH.cross.b;
    const cardinality = main?.cardinality ?? (crossed ? TRUTH.cross.cardinality : CARDINALITY_CYCLE[i % CARDINALITY_CYCLE.length]);
    const zipf = main?.zipf ?? (crossed ? 0 : cardinality >= 500 ? 1.05 : 0.6);
    const column: CategoricalColumn = { cardinality, missingRate: !main && !crossed && i % 5 === 4 ? 0.1 : 0, cdf: zipfCdf(cardinality, zipf) };
    if (main) column.effect = Float64Array.from({ length: cardinality }, () => main.effectSd * rng.gaussian());
    return column;
  });
  const dense: DenseColumn[] = NUM_NAMES.map((_, j) => ({
    logMean: 0.5 + 3.5 * rng.next(),
    logSd: 0.5 + rng.next(),
    missingRate: j % 6 === 5 ? 0.08 : 0,
  }));
  const structure: Structure = { categorical, dense, topicCdf: zipfCdf(TOPICS, 0.7), interestCdf: zipfCdf(INTERESTS, 1.0), bias: 0 };
  // The bias that puts the mean click probability at baseCtr, on a pilot sample of its own stream.
  const pilot = new WideDeclaredRows(structure, new SeededRandom(options.seed + 1));
  const logits = Float64Array.from({ length: PILOT_ROWS }, () => pilot.next().logit);
  let lo = -15;
  let hi = 15;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    let mean = 0;
    for (const z of logits) mean += 1 / (1 + Math.exp(-(mid + z)));
    if (mean / PILOT_ROWS > options.baseCtr) hi = mid;
    else lo = mid;
  }
  structure.bias = (lo + hi) / 2;
  return structure;
}

/** One row: category ranks (−1 = missing), dense values (NaN = missing), the three lists, the truth. */
export interface WideDeclaredRow {
  categorical: Int32Array;
  dense: Float64Array;
  tags: string[];
  topics: string[];
  interests: string[];
  /** Logit without the bias (what the pilot fits the bias on). */
  logit: number;
  probability: number;
  label: number;
}

/** Draws rows from the structure with one split's random stream; one row object, reused. */
class WideDeclaredRows {
  private readonly row: WideDeclaredRow = {
    categorical: new Int32Array(CATEGORICAL),
    dense: new Float64Array(DENSE),
    tags: [],
    topics: [],
    interests: [],
    logit: 0,
    probability: 0,
    label: 0,
  };

  constructor(
    private readonly s: Structure,
    private readonly rng: SeededRandom,
  ) {}

  next(): WideDeclaredRow {
    const { s, rng, row } = this;
    let z = 0;
    for (let i = 0; i < CATEGORICAL; i++) {
      const c = s.categorical[i];
      const missing = c.missingRate > 0 && rng.next() < c.missingRate;
      const rank = drawRank(c.cdf, rng.next());
      row.categorical[i] = missing ? -1 : rank;
      if (c.effect && !missing) z += c.effect[rank];
    }
    for (let j = 0; j < DENSE; j++) {
      const d = s.dense[j];
      const g = rng.gaussian();
      const missing = d.missingRate > 0 && rng.next() < d.missingRate;
      // Two decimals, as a price or an amount is written; the truth reads the written value.
      row.dense[j] = missing ? NaN : Math.round(Math.max(0, Math.exp(d.logMean + d.logSd * g) - 1) * 100) / 100;
    }
    row.tags = TAG_WORDS.filter(() => rng.next() < 0.2);
    row.topics = distinct(rng, s.topicCdf, rng.int(6), 't');
    row.interests = distinct(rng, s.interestCdf, rng.int(9), 'i');

    const { cross, denseSlope, denseBump, topics } = TRUTH;
    const a = row.categorical[cross.a];
    const b = row.categorical[cross.b];
    z += cross.levels[(a * 3 + b * 7) % 4];
    const slopeColumn = s.dense[denseSlope.column];
    const x = row.dense[denseSlope.column];
    if (!Number.isNaN(x)) z += (denseSlope.slope * (Math.log1p(x) - slopeColumn.logMean)) / slopeColumn.logSd;
    const bumpColumn = s.dense[denseBump.column];
    const y = row.dense[denseBump.column];
    if (!Number.isNaN(y)) z += denseBump.height * Math.exp(-((Math.log1p(y) - bumpColumn.logMean) ** 2) / (2 * denseBump.width ** 2));
    if (row.topics.includes('t3')) z += topics.t3;
    if (row.topics.includes('t7')) z += topics.t7;
    row.logit = z;
    row.probability = 1 / (1 + Math.exp(-(s.bias + z)));
    row.label = rng.next() < row.probability ? 1 : 0;
    return row;
  }
}

/** Up to `count` distinct values drawn by popularity, in the order drawn (a list's order carries nothing). */
function distinct(rng: SeededRandom, cdf: Float64Array, count: number, prefix: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const v = `${prefix}${drawRank(cdf, rng.next())}`;
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/** The row as its cells' text, in WIDE_DECLARED_COLUMNS order ('' = missing). */
export function wideDeclaredCells(row: WideDeclaredRow): string[] {
  const cells = [String(row.label)];
  for (let i = 0; i < CATEGORICAL; i++) cells.push(row.categorical[i] < 0 ? '' : `v${row.categorical[i]}`);
  for (let j = 0; j < DENSE; j++) cells.push(Number.isNaN(row.dense[j]) ? '' : String(row.dense[j]));
  cells.push(row.tags.join('|'), row.topics.join('|'), row.interests.join('|'));
  return cells;
}

export type WideDeclaredSplit = 'train' | 'validation' | 'test';
const SPLIT_STREAM: Record<WideDeclaredSplit, number> = { train: 10, validation: 20, test: 30 };

/** The rows of one split, in order: the same options give the same rows whatever writes them (CSV or Parquet). */
export function* wideDeclaredRows(
  options: WideDeclaredOptions,
  split: WideDeclaredSplit,
  structure = plantStructure(options),
): Generator<WideDeclaredRow> {
  const rows = new WideDeclaredRows(structure, new SeededRandom(options.seed + SPLIT_STREAM[split]));
  const n = split === 'train' ? options.trainRows : split === 'validation' ? options.validationRows : options.testRows;
  for (let r = 0; r < n; r++) yield rows.next();
}

/** Streaming NE / log loss of the true probabilities on a split (the oracle's score), AUC from the kept ones. */
export class OracleScore {
  n = 0;
  clicks = 0;
  private loss = 0;
  private probabilitySum = 0;
  private readonly kept: { p: number[]; y: number[] } | null;

  constructor(keepForAuc: boolean) {
    this.kept = keepForAuc ? { p: [], y: [] } : null;
  }

  add(p: number, y: number): void {
    this.n++;
    this.clicks += y;
    this.loss += exampleLogLoss(p, y);
    this.probabilitySum += p;
    if (this.kept) {
      this.kept.p.push(p);
      this.kept.y.push(y);
    }
  }

  summary(): { ne: number; logloss: number; meanProbability: number; auc?: number } {
    const logloss = this.loss / this.n;
    return {
      ne: logloss / backgroundEntropy(this.clicks / this.n),
      logloss,
      meanProbability: this.probabilitySum / this.n,
      ...(this.kept ? { auc: auc(this.kept.p, this.kept.y) } : {}),
    };
  }
}

export interface WideDeclaredSplitSummary {
  file: string;
  rows: number;
  clicks: number;
  ctr: number;
  bytes: number;
  oracle: { ne: number; logloss: number; meanProbability: number; auc?: number };
}

/** meta.json, shaped like the wide planted generator's (ranking/data/wide-planted.ts) where the two overlap. */
export interface WideDeclaredMeta {
  format: 'rankwright-wide-declared';
  generatorVersion: number;
  scenario: string;
  options: WideDeclaredOptions & { description: string };
  /** A data config for `rankwright train`, paths relative to this directory. */
  data: { format: 'csv'; train: string; validation: string; test: string; schema: DeclaredSchema };
  splits: Record<WideDeclaredSplit, WideDeclaredSplitSummary>;
  baseCtr: { target: number; train: number; test: number };
  /** The oracle (the true probabilities) on test: the ceiling no model beats in expectation. */
  oracle: { ne: number; logloss: number; auc: number };
  structure: {
    bias: number;
    columns: { categorical: number; dense: number; lists: string[] };
    categorical: { column: string; cardinality: number; missingRate: number }[];
    truth: string[];
  };
}

export const WIDE_DECLARED_DESCRIPTION =
  '104 columns with a header (70 categoricals of 3 to 50,000 values, the big ones long-tailed; 30 heavy-tailed dense columns; 3 "|"-separated lists), truth past the 26th column: main effects of cat33/cat45/cat52, a cat61×cat67 cross with no main effects, a num24 slope, a non-monotone bump of num28, a topics list effect';

function truthTerms(): string[] {
  const { mains, cross, denseSlope, denseBump, topics } = TRUTH;
  return [
    ...mains.map((m) => `main(${CAT_NAMES[m.column]}): ${m.cardinality} values, effect sd ${m.effectSd}`),
    `cross(${CAT_NAMES[cross.a]} × ${CAT_NAMES[cross.b]}): ${cross.levels.join(' / ')}, no main effects`,
    `${denseSlope.slope} · standardised log1p(${NUM_NAMES[denseSlope.column]})`,
    `${denseBump.height} · bump of log1p(${NUM_NAMES[denseBump.column]}) (width ${denseBump.width}): non-monotone`,
    `topics has t3: +${topics.t3}; topics has t7: ${topics.t7}`,
  ];
}

/** Writes one split as CSV (under a `.partial` name), streaming; returns its summary. */
function writeCsvSplit(options: WideDeclaredOptions, structure: Structure, outDir: string, split: WideDeclaredSplit): WideDeclaredSplitSummary {
  const file = `${split}.csv`;
  const fd = fs.openSync(path.join(outDir, file + '.partial'), 'w');
  const score = new OracleScore(split === 'test');
  let bytes = 0;
  try {
    let lines: string[] = [WIDE_DECLARED_COLUMNS.join(',')];
    const flush = () => {
      const text = lines.join('\n') + '\n';
      bytes += fs.writeSync(fd, text);
      lines = [];
    };
    for (const row of wideDeclaredRows(options, split, structure)) {
      score.add(row.probability, row.label);
      lines.push(wideDeclaredCells(row).join(','));
      if (lines.length === 4096) flush();
    }
    if (lines.length) flush();
  } finally {
    fs.closeSync(fd);
  }
  const summary = score.summary();
  return { file, rows: score.n, clicks: score.clicks, ctr: score.clicks / score.n, bytes, oracle: summary };
}

/** Generates the table into `outDir` (train/validation/test.csv, then meta.json last: its presence means complete). */
export function generateWideDeclared(options: WideDeclaredOptions, outDir: string): WideDeclaredMeta {
  fs.mkdirSync(outDir, { recursive: true });
  fs.rmSync(path.join(outDir, 'meta.json'), { force: true });
  const structure = plantStructure(options);
  const splits = {
    train: writeCsvSplit(options, structure, outDir, 'train'),
    validation: writeCsvSplit(options, structure, outDir, 'validation'),
    test: writeCsvSplit(options, structure, outDir, 'test'),
  };
  for (const s of Object.values(splits)) fs.renameSync(path.join(outDir, s.file + '.partial'), path.join(outDir, s.file));
  const meta: WideDeclaredMeta = {
    format: 'rankwright-wide-declared',
    generatorVersion: WIDE_DECLARED_VERSION,
    scenario: WIDE_DECLARED_SCENARIO,
    options: { ...options, description: WIDE_DECLARED_DESCRIPTION },
    data: { format: 'csv', train: splits.train.file, validation: splits.validation.file, test: splits.test.file, schema: WIDE_DECLARED_SCHEMA },
    splits,
    baseCtr: { target: options.baseCtr, train: splits.train.ctr, test: splits.test.ctr },
    oracle: { ne: splits.test.oracle.ne, logloss: splits.test.oracle.logloss, auc: splits.test.oracle.auc! },
    structure: {
      bias: structure.bias,
      columns: { categorical: CATEGORICAL, dense: DENSE, lists: ['tags', 'topics', 'interests'] },
      categorical: structure.categorical.map((c, i) => ({ column: CAT_NAMES[i], cardinality: c.cardinality, missingRate: c.missingRate })),
      truth: truthTerms(),
    },
  };
  fs.writeFileSync(path.join(outDir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}

/** Generates the table unless `outDir` holds it already (same version and options, files of the recorded sizes). */
export function ensureWideDeclared(options: WideDeclaredOptions, outDir: string): { meta: WideDeclaredMeta; reused: boolean; seconds: number } {
  const started = performance.now();
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(outDir, 'meta.json'), 'utf8')) as WideDeclaredMeta;
    const { description: _description, ...stored } = meta.options;
    const sizesMatch = Object.values(meta.splits).every((s) => fs.statSync(path.join(outDir, s.file), { throwIfNoEntry: false })?.size === s.bytes);
    if (meta.generatorVersion === WIDE_DECLARED_VERSION && JSON.stringify(stored) === JSON.stringify(options) && sizesMatch)
      return { meta, reused: true, seconds: 0 };
  } catch {
    // no complete table here: generate it
  }
  const meta = generateWideDeclared(options, outDir);
  return { meta, reused: false, seconds: (performance.now() - started) / 1000 };
}
