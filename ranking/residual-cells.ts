import { MIN_HELD_OUT_CLICKS } from '../contracts/research';
import { MISSING_CATEGORICAL, type RowBlock } from './data/rows';
import { fitQuantileBoundaries, quantileBucket } from './features';

/**
 * The residual statistics the research step's evidence is built from, estimated HELD OUT.
 *
 * A finding is a partition of the rows into cells by the values of one, two or three fields. Its worth is the log
 * loss a model would gain by fitting one logit offset per cell on top of the baseline's predictions. Measured on the
 * rows the offsets were fitted on, that gain is never negative and grows with the number of cells whether or not
 * they carry signal; at a 0.5% click rate most cells hold no click at all and any in-sample statistic reads their
 * shared (negative) residual sign as signal. So the rows are split in two halves: offsets are fitted on one half and
 * their log-loss change is measured on the other, then the halves swap (2-fold cross-fitting) and every row is
 * scored once, by offsets that never saw its label. On rows without signal the fitted offsets are noise and the
 * held-out gain is ≈ 0 or negative, at any click rate and any cardinality.
 *
 * Each cell's offset is shrunk by its clicks (empirical Bayes): a Gaussian prior N(0, τ²) on the offsets, τ² estimated
 * per finding by the method of moments on the fitting half. With R = clicks − expected clicks and W = Σ p(1 − p) per
 * cell (≈ its expected clicks at a low click rate), E[R²] = W + W²τ² when the offsets vary by τ, so
 * τ² = max(0, Σ(R² − W) / ΣW²). When the cells vary no more than noise does, τ² = 0 and every offset is 0: the
 * finding gains exactly nothing. A cell with few expected clicks gets an offset near 0 whatever τ².
 *
 * Interactions are measured net of what their fields explain alone: the base terms (the fields' main effects, a
 * triple's pairs) are fitted first, in order (one backfitting sweep), and the finding's cells on top of them.
 */

/** Dense level ids of one field within a block of rows (−1 = missing, skipped by every statistic). */
export interface FieldLevels {
  ids: Int32Array;
  levels: number;
}

/** The cells of one finding: the joint levels of one, two or three fields. */
export type CellTerm = readonly FieldLevels[];

/** Level ids of categorical field `field` (its hashed values, numbered in order of appearance). */
export function categoricalLevels(block: RowBlock, field: number): FieldLevels {
  const ids = new Int32Array(block.rows);
  const map = new Map<number, number>();
  for (let i = 0; i < block.rows; i++) {
    const h = block.categorical[i * block.categoricalWidth + field];
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

/** Level ids of dense field `field`: its equal-frequency bucket (fitted on these rows' values, not labels), −1 when missing. */
export function denseLevels(block: RowBlock, field: number, buckets = 16): FieldLevels {
  const boundaries = fitQuantileBoundaries(block, field, buckets);
  const ids = new Int32Array(block.rows);
  for (let i = 0; i < block.rows; i++) {
    const x = block.dense[i * block.denseWidth + field];
    ids[i] = Number.isNaN(x) ? -1 : quantileBucket(boundaries, x);
  }
  return { ids, levels: boundaries.length + 1 };
}

/** The held-out worth of a finding. */
export interface HeldOutGain {
  /** Log-loss reduction in nats a row, averaged over every row (each scored by the half it was not fitted on); signed. */
  gain: number;
  /** Standard error of `gain` (the per-row changes' spread / √rows). */
  stdErr: number;
  /** Clicks in the rows that carry the finding's fields. */
  clicks: number;
  /** The fewer clicks of the two held-out halves (rows that carry the finding's fields). */
  heldOutClicks: number;
  /** At least MIN_HELD_OUT_CLICKS clicks in each held-out half; otherwise gain and stdErr are 0 and mean nothing. */
  estimable: boolean;
}

/** Which half (0 or 1) each row falls in: a seeded integer hash of its index, so every statistic is reproducible. */
export function heldOutHalves(rows: number, seed: number): Uint8Array {
  const half = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    let h = Math.imul(i ^ seed, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca77);
    h ^= h >>> 13;
    half[i] = (h >>> 7) & 1;
  }
  return half;
}

const PREDICTION_EPSILON = 1e-7;
const HELD_OUT_SEED = 0x5eed;

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Held-out cell statistics over one sample of rows with labels and a baseline's predictions. Both halves' global
 * click level is fitted first (a finding is never credited with the baseline's overall miscalibration), then each
 * `estimate` fits its base terms and its finding's cells on one half and scores the other.
 *
 * Rows carry probabilities, not logits: a logit offset δ turns p into p·e^δ / (1 − p + p·e^δ), so with e^δ computed
 * once per cell, fitting and applying a term costs no exponential per row, and scoring a row costs one logarithm.
 */
export class HeldOutCells {
  readonly rows: number;
  readonly clicks: number;
  private readonly labels: Uint8Array;
  /** The rows of each half. */
  private readonly halfRows: [Int32Array, Int32Array];
  private readonly clickRows: Int32Array;
  private readonly half: Uint8Array;
  /** Per fitting half: the baseline's predictions with that half's global level applied, every row. */
  private readonly levelled: [Float64Array, Float64Array];
  /** Per field and fitting half: its main effect's odds multipliers (fitted on the level alone), reused by every pair. */
  private readonly mainOdds = new Map<FieldLevels, [Float64Array | undefined, Float64Array | undefined]>();
  private readonly index = new JointIndex();

  constructor(labels: Uint8Array, predictions: ArrayLike<number>, seed = HELD_OUT_SEED) {
    this.rows = labels.length;
    this.labels = labels;
    this.half = heldOutHalves(this.rows, seed);
    const logit = new Float64Array(this.rows);
    const clickRows: number[] = [];
    const halves: [number[], number[]] = [[], []];
    for (let i = 0; i < this.rows; i++) {
      const p = Math.min(1 - PREDICTION_EPSILON, Math.max(PREDICTION_EPSILON, predictions[i]));
      logit[i] = Math.log(p / (1 - p));
      if (labels[i] === 1) clickRows.push(i);
      halves[this.half[i]].push(i);
    }
    this.clicks = clickRows.length;
    this.clickRows = Int32Array.from(clickRows);
    this.halfRows = [Int32Array.from(halves[0]), Int32Array.from(halves[1])];
    this.levelled = [this.levelledPredictions(logit, 0), this.levelledPredictions(logit, 1)];
  }

  /**
   * The held-out gain of adding `added`'s cells (each term in order) to a model of the baseline plus `base`'s terms
   * (fitted first, in order). A main effect: `estimate([[a]])`; an interaction net of its fields:
   * `estimate([[a, b]], [[a], [b]])`.
   */
  estimate(added: readonly CellTerm[], base: readonly CellTerm[] = []): HeldOutGain {
    const addedCells = added.map((t) => this.cellsOf(t));
    const halfClicks = [0, 0];
    for (const i of this.clickRows) if (addedCells.some((c) => c.ids[i] >= 0)) halfClicks[this.half[i]]++;
    const clicks = halfClicks[0] + halfClicks[1];
    const heldOutClicks = Math.min(halfClicks[0], halfClicks[1]);
    if (heldOutClicks < MIN_HELD_OUT_CLICKS) return { gain: 0, stdErr: 0, clicks, heldOutClicks, estimable: false };

    const baseCells = base.map((t, k) => (k === 0 && t.length === 1 ? undefined : this.cellsOf(t)));
    let sum = 0;
    let squares = 0;
    for (const fit of [0, 1] as const) {
      const p = this.levelled[fit].slice();
      base.forEach((term, k) => {
        // A single leading field's main effect is the same for every finding that starts with it: fitted once.
        const cells = baseCells[k] ?? { ids: term[0].ids, cells: term[0].levels };
        const odds = baseCells[k] ? this.fitCells(cells, p, fit) : this.cachedMainOdds(term[0], fit);
        if (odds) applyOdds(p, cells.ids, odds);
      });
      const before = p.slice();
      let changed = false;
      for (const cells of addedCells) {
        const odds = this.fitCells(cells, p, fit);
        if (odds) {
          applyOdds(p, cells.ids, odds);
          changed = true;
        }
      }
      if (!changed) continue;
      for (const i of this.halfRows[1 - fit]) {
        if (p[i] === before[i]) continue;
        // Log loss before minus after, for this row's label.
        const d = this.labels[i] === 1 ? Math.log(p[i] / before[i]) : Math.log((1 - p[i]) / (1 - before[i]));
        sum += d;
        squares += d * d;
      }
    }
    const n = Math.max(1, this.rows);
    const gain = sum / n;
    return { gain, stdErr: Math.sqrt(Math.max(0, squares / n - gain * gain) / n), clicks, heldOutClicks, estimable: true };
  }

  private cellsOf(term: CellTerm): Cells {
    if (term.length === 1) return { ids: term[0].ids, cells: term[0].levels };
    let cells: Cells = { ids: term[0].ids, cells: term[0].levels };
    for (let k = 1; k < term.length; k++) cells = this.index.joint(cells, term[k]);
    return cells;
  }

  private cachedMainOdds(field: FieldLevels, fit: 0 | 1): Float64Array | undefined {
    let cached = this.mainOdds.get(field);
    if (!cached) this.mainOdds.set(field, (cached = [undefined, undefined]));
    if (!cached[fit])
      cached[fit] = this.fitCells({ ids: field.ids, cells: field.levels }, this.levelled[fit], fit) ?? new Float64Array(field.levels).fill(1);
    return cached[fit];
  }

  /** σ(logit + level) for every row, the level matching the fitting half's clicks (Newton's method on its rows). */
  private levelledPredictions(logit: Float64Array, fit: 0 | 1): Float64Array {
    let level = 0;
    for (let iteration = 0; iteration < 25; iteration++) {
      let gradient = 0;
      let curvature = 0;
      for (const i of this.halfRows[fit]) {
        const p = sigmoid(logit[i] + level);
        gradient += this.labels[i] === 1 ? 1 - p : -p;
        curvature += p * (1 - p);
      }
      if (!(curvature > 0)) break;
      const step = Math.max(-2, Math.min(2, gradient / curvature));
      level += step;
      if (Math.abs(step) < 1e-9) break;
    }
    return logit.map((z) => sigmoid(z + level));
  }

  /**
   * Per-cell odds multipliers e^δ fitted on half `fit` over the current probabilities `p`, δ shrunk toward 0 by an
   * empirical-Bayes prior; undefined when the cells vary no more than noise does (τ² = 0: nothing to fit).
   */
  private fitCells(cells: Cells, p: Float64Array, fit: 0 | 1): Float64Array | undefined {
    const rows = new Float64Array(cells.cells);
    const clicks = new Float64Array(cells.cells);
    const expected = new Float64Array(cells.cells);
    const variance = new Float64Array(cells.cells);
    for (const i of this.halfRows[fit]) {
      const c = cells.ids[i];
      if (c < 0) continue;
      const q = p[i];
      rows[c]++;
      clicks[c] += this.labels[i] === 1 ? 1 : 0;
      expected[c] += q;
      variance[c] += q * (1 - q);
    }
    let excess = 0;
    let weight = 0;
    for (let c = 0; c < cells.cells; c++) {
      if (rows[c] === 0) continue;
      const r = clicks[c] - expected[c];
      excess += r * r - variance[c];
      weight += variance[c] * variance[c];
    }
    const priorVariance = weight > 0 ? excess / weight : 0;
    if (!(priorVariance > 0)) return undefined;
    const precision = 1 / priorVariance;
    const odds = new Float64Array(cells.cells).fill(1);
    for (let c = 0; c < cells.cells; c++) {
      if (rows[c] > 0) odds[c] = Math.exp(shrunkCellOffset(rows[c], clicks[c], expected[c] / rows[c], precision));
    }
    return odds;
  }
}

/**
 * The posterior mode of one cell's logit offset δ: its rows share the cell's mean prediction p̄ (exact when they do,
 * close enough otherwise: the offset is scored held out on exact per-row losses), a Gaussian prior of the given
 * precision. Newton's method on the strictly concave log posterior, steps capped at 1 so it never overshoots far.
 */
function shrunkCellOffset(rows: number, clicks: number, meanPrediction: number, precision: number): number {
  const p = Math.min(1 - PREDICTION_EPSILON, Math.max(PREDICTION_EPSILON, meanPrediction));
  const z = Math.log(p / (1 - p));
  let delta = 0;
  for (let iteration = 0; iteration < 30; iteration++) {
    const q = sigmoid(z + delta);
    const gradient = clicks - rows * q - precision * delta;
    const curvature = rows * q * (1 - q) + precision;
    const step = Math.max(-1, Math.min(1, gradient / curvature));
    delta += step;
    if (Math.abs(step) < 1e-7) break;
  }
  return delta;
}

interface Cells {
  /** Dense cell id per row, −1 where a field is missing. */
  ids: Int32Array;
  cells: number;
}

/** p → σ(logit(p) + δ) for each row in a cell, with odds[cell] = e^δ. */
function applyOdds(p: Float64Array, ids: Int32Array, odds: Float64Array): void {
  for (let i = 0; i < p.length; i++) {
    const c = ids[i];
    if (c < 0) continue;
    const scaled = p[i] * odds[c];
    p[i] = Math.min(1 - PREDICTION_EPSILON, Math.max(PREDICTION_EPSILON, scaled / (1 - p[i] + scaled)));
  }
}

/**
 * Numbers the joint levels (cell, level) of two partitions densely, in order of appearance: an open-addressing table
 * of int pairs, reused across calls (hundreds of pairs a research step, each over every row).
 */
class JointIndex {
  private first = new Int32Array(0);
  private second = new Int32Array(0);
  private value = new Int32Array(0);

  joint(cells: Cells, next: FieldLevels): Cells {
    const rows = cells.ids.length;
    let capacity = 16;
    while (capacity < 2 * rows) capacity *= 2;
    if (this.first.length !== capacity) {
      this.first = new Int32Array(capacity);
      this.second = new Int32Array(capacity);
      this.value = new Int32Array(capacity);
    }
    this.first.fill(-1);
    const mask = capacity - 1;
    const ids = new Int32Array(rows);
    let count = 0;
    for (let i = 0; i < rows; i++) {
      const a = cells.ids[i];
      const b = next.ids[i];
      if (a < 0 || b < 0) {
        ids[i] = -1;
        continue;
      }
      let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca77);
      h ^= h >>> 15;
      let slot = h & mask;
      while (this.first[slot] !== -1 && (this.first[slot] !== a || this.second[slot] !== b)) slot = (slot + 1) & mask;
      if (this.first[slot] === -1) {
        this.first[slot] = a;
        this.second[slot] = b;
        this.value[slot] = count++;
      }
      ids[i] = this.value[slot];
    }
    return { ids, cells: count };
  }
}

/** A deterministic Fisher–Yates shuffle (xorshift32), so permutation importance is reproducible. */
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
