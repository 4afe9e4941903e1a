import type { CalibrationMethod, CalibrationReport, CalibrationSetting, Calibrator, LevelShrinkage } from '../contracts';
export type { CalibrationReport, LevelShrinkage };
import { calibration as calibrationRatio, effectiveWeights, logLoss, type Weights } from './metrics';
import { SeededRandom } from './rng';

/**
 * Post-hoc calibration: maps a trained model's click probability to one whose average matches observed clicks.
 * Pure functions over (probability, label) arrays, written as plain reference code (a few passes over the
 * validation rows; nothing here is hot). The pieces, in the order a score goes through them:
 *
 * 1. Negative-downsampling correction. A model trained with non-clicks kept at rate r sees the odds of a click
 *    multiplied by 1/r, so it predicts p' with p'/(1 − p') = (1/r)·p/(1 − p); the true rate is
 *    p = p' / (p' + (1 − p') / r). Exact, needs no data, and applied before anything is fitted.
 * 2. A calibrator fitted on the validation split (never on train: a model's own training rows flatter it):
 *    - Platt scaling (Platt 1999): sigmoid(a·logit(p) + b), two parameters by Newton's method, with Platt's target
 *      smoothing (labels become (N₊+1)/(N₊+2) and 1/(N₋+2)) and a tiny L2 pull toward the identity (a=1, b=0),
 *      so degenerate inputs (one distinct score, separable labels) still give a finite, sensible fit.
 *    - Isotonic regression (pool adjacent violators): the non-decreasing map that best fits the labels, stored as
 *      compact breakpoints with linear interpolation between them and flat outside them.
 * 3. The level shrunk toward the training click rate (shrinkLevel), by how many validation clicks there are: a
 *    level fitted on 20 clicks is mostly noise, one fitted on 5,000 is not.
 * 4. The chooser (`auto`): none, Platt (also with its slope held at 1) or isotonic, by held-out validation log loss
 *    (see chooseCalibrator). Isotonic is offered only with MIN_ISOTONIC_CLICKS validation clicks.
 * 5. Cross-fitting (crossFittedCalibration): the served model's validation metrics are measured on scores each
 *    calibrated by a fit that never saw them, since a calibrator judged on its own rows always looks good.
 *
 * A calibrator is a small JSON object (contracts' `Calibrator`) stored in the model artifact; `applyCalibrator` is
 * the one function every scoring path calls.
 *
 * Sample weights (optional everywhere, absent = every row weighs 1): every fit weighs a row as if it appeared w
 * times — Platt's log likelihood and its smoothed targets' counts, isotonic's blocks (weight sums and weighted
 * clicks), and `auto`'s held-out comparison. Weights all exactly 1 take the unweighted path, bit for bit. The
 * downsampling correction needs none: a model trained on weighted rows with non-clicks kept at rate r (their weights
 * unchanged) sees the weighted odds of a click multiplied by 1/r, which the same correction undoes.
 */

/** Probabilities are kept this far from 0 and 1 before a logit and in isotonic outputs. */
const EDGE = 1e-6;
/** Platt's L2 pull toward the identity (absolute, in nats: negligible beside any real sample's log likelihood). */
const PLATT_L2 = 1e-3;
const PLATT_MAX_ITERATIONS = 50;
/** Fewer validation rows than this (or a fold without both classes): `auto` keeps the raw scores. */
const MIN_ROWS_TO_CHOOSE = 100;
/** How much lower (in nats, summed over the validation rows) a richer map's held-out log loss must be to replace the shift. */
const CHOICE_MARGIN_NATS = 2;
/**
 * The training click rate's worth, in validation clicks, when the level is shrunk (shrinkLevel). A level measured
 * from C clicks has a relative standard error of about 1/√C; 100 pseudo-clicks say we trust the training rate to
 * about 10% for the validation period next to it. So validation's own level wins once it is measured more precisely
 * than that (past 100 clicks), and loses when it is not: 20 clicks (22% noise) move the level a sixth of the way
 * from the training rate, 5,000 clicks (1.4%) 98% of the way. A real drift of the base rate (a later validation
 * window with half the clicks) is followed as soon as validation has the clicks to show it.
 */
export const PRIOR_CLICKS = 100;
/**
 * Validation clicks (Kish-effective with weights) isotonic needs to be offered. Isotonic fits a rate per block of
 * scores from that block's clicks alone; at 200 clicks a map of 5 blocks has 40 clicks per block, a relative error of
 * 1/√40 ≈ 16% each — about the coarsest map that still says more than Platt's level and slope, which use all the
 * clicks for each of their two parameters. Below it the chooser's held-out halves (100 clicks each) compare noise.
 */
export const MIN_ISOTONIC_CLICKS = 200;
/**
 * Folds of the cross-fitted validation scores: each fold is calibrated by a fit on the other four, so every fit sees
 * 80% of the validation clicks (its shrinkage weight and its noise close to the served calibrator's, fitted on all),
 * at five fits' cost — small next to scoring the rows.
 */
export const CROSS_FIT_FOLDS = 5;

export const IDENTITY_CALIBRATOR: Calibrator = { method: 'none' };

function clamp(p: number): number {
  return p < EDGE ? EDGE : p > 1 - EDGE ? 1 - EDGE : p;
}

function logit(p: number): number {
  const q = clamp(p);
  return Math.log(q / (1 - q));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Negative downsampling

/** The true click rate of a prediction made by a model trained with negatives kept at rate r (r = 1: unchanged). */
export function correctNegativeSampling(p: number, rate: number): number {
  if (rate >= 1) return p;
  return p / (p + (1 - p) / rate);
}

/**
 * The training rows a model trained with negativeSamplingRate r sees: every click and each non-click with
 * probability r, drawn once from the seeded stream (a fixed subsample, as if the logs had been downsampled
 * upstream; every epoch shuffles the same rows). Row indices in ascending order; r = 1 keeps all rows.
 */
export function sampleNegatives(labels: ArrayLike<number>, rate: number, seed: number): Int32Array {
  const n = labels.length;
  if (rate >= 1) return Int32Array.from({ length: n }, (_, i) => i);
  const rng = new SeededRandom(seed * 7_919 + 0x6e6567);
  const kept: number[] = [];
  for (let i = 0; i < n; i++) {
    // Draw for every row (clicks too), so which negatives survive doesn't depend on where the clicks are.
    const u = rng.next();
    if (labels[i] > 0.5 || u < rate) kept.push(i);
  }
  return Int32Array.from(kept);
}

// ---------------------------------------------------------------------------------------------------------------
// 2a. Platt scaling

/**
 * Fits sigmoid(a·logit(p) + b) to the labels: Newton's method on the smoothed-target log loss, with backtracking.
 * `interceptOnly` keeps a = 1 and fits b alone: a pure shift of the log-odds, what a model that over-predicts
 * everywhere by the same factor needs (and one parameter instead of two to estimate; see chooseCalibrator).
 */
export function fitPlatt(
  p: ArrayLike<number>,
  y: ArrayLike<number>,
  opts: { interceptOnly?: boolean } = {},
  weights?: Weights,
): Extract<Calibrator, { method: 'platt' }> {
  const n = p.length;
  const sw = effectiveWeights(weights, n);
  // Row weights: 1 each without sample weights (multiplying by 1 is exact, so the unweighted fit is unchanged).
  const rw = (i: number) => (sw ? sw[i] : 1);
  const f = new Float64Array(n);
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < n; i++) {
    f[i] = logit(p[i]);
    if (y[i] > 0.5) positives += rw(i);
    else negatives += rw(i);
  }
  const hi = (positives + 1) / (positives + 2);
  const lo = 1 / (negatives + 2);
  const t = (i: number) => (y[i] > 0.5 ? hi : lo);

  // Objective: Σ cross-entropy(t_i, sigmoid(a·f_i + b)) + λ/2·((a − 1)² + b²).
  const objective = (a: number, b: number) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const z = a * f[i] + b;
      // t·log(1+e^-z) + (1−t)·log(1+e^z), stably.
      const softplus = Math.log1p(Math.exp(-Math.abs(z)));
      const ce = t(i) * (softplus + Math.max(-z, 0)) + (1 - t(i)) * (softplus + Math.max(z, 0));
      sum += sw ? sw[i] * ce : ce;
    }
    return sum + (PLATT_L2 / 2) * ((a - 1) ** 2 + b * b);
  };

  let a = 1;
  let b = 0;
  let current = objective(a, b);
  for (let iteration = 0; iteration < PLATT_MAX_ITERATIONS; iteration++) {
    let ga = PLATT_L2 * (a - 1);
    let gb = PLATT_L2 * b;
    let haa = PLATT_L2;
    let hab = 0;
    let hbb = PLATT_L2;
    for (let i = 0; i < n; i++) {
      const q = sigmoid(a * f[i] + b);
      const r = sw ? sw[i] * (q - t(i)) : q - t(i);
      const w = sw ? sw[i] * q * (1 - q) : q * (1 - q);
      ga += r * f[i];
      gb += r;
      haa += w * f[i] * f[i];
      hab += w * f[i];
      hbb += w;
    }
    let da = 0;
    let db = gb / hbb;
    if (!opts.interceptOnly) {
      const det = haa * hbb - hab * hab;
      if (!(det > 0)) break;
      da = (hbb * ga - hab * gb) / det;
      db = (haa * gb - hab * ga) / det;
    }
    let step = 1;
    let next = objective(a - da, b - db);
    while (next > current && step > 1e-8) {
      step /= 2;
      next = objective(a - step * da, b - step * db);
    }
    if (next > current) break;
    a -= step * da;
    b -= step * db;
    const improvement = current - next;
    current = next;
    if (Math.abs(step * da) + Math.abs(step * db) < 1e-10 || improvement < 1e-12 * Math.max(1, current)) break;
  }
  return { method: 'platt', a, b };
}

// ---------------------------------------------------------------------------------------------------------------
// 2b. Isotonic regression

/**
 * Isotonic regression by pool-adjacent-violators: sort by score, pool equal scores, then merge neighbouring blocks
 * while a block's click rate is not above the one before it. Each block becomes at most two breakpoints (its lowest
 * and highest score, both at the block's click rate); scores between blocks interpolate linearly.
 *
 * Only the first block can have rate 0 and only the last rate 1 (block rates strictly increase); a 0 or 1 there is
 * an artefact of a finite sample, so it becomes half a click (or half a non-click) in the block, (½)/(w + 1), kept
 * monotone with its neighbour; everything is then clamped into [1e-6, 1 − 1e-6].
 */
export function fitIsotonic(p: ArrayLike<number>, y: ArrayLike<number>, weights?: Weights): Extract<Calibrator, { method: 'isotonic' }> {
  const n = p.length;
  if (n === 0) throw new Error('isotonic regression needs at least one row');
  // Weighted: a block's weight is its rows' weight sum and its clicks their weighted clicks (rows of weight 0 still
  // place breakpoints at their scores, at the rate of the block they join).
  const sw = effectiveWeights(weights, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => p[i] - p[j]);
  // Blocks as parallel stacks: weight, clicks, lowest and highest score.
  const weight: number[] = [];
  const clicks: number[] = [];
  const low: number[] = [];
  const high: number[] = [];
  for (let k = 0; k < n;) {
    const x = p[order[k]];
    let w = 0;
    let c = 0;
    for (; k < n && p[order[k]] === x; k++) {
      if (sw) {
        const wk = sw[order[k]];
        w += wk;
        c += y[order[k]] > 0.5 ? wk : 0;
      } else {
        w++;
        c += y[order[k]] > 0.5 ? 1 : 0;
      }
    }
    weight.push(w);
    clicks.push(c);
    low.push(x);
    high.push(x);
    // Pool while the previous block's rate is at least this one's.
    for (let top = weight.length - 1; top > 0 && clicks[top - 1] * weight[top] >= clicks[top] * weight[top - 1]; top--) {
      weight[top - 1] += weight[top];
      clicks[top - 1] += clicks[top];
      high[top - 1] = high[top];
      weight.pop();
      clicks.pop();
      low.pop();
      high.pop();
    }
  }
  const blocks = weight.length;
  // A block of weight 0 (weightless rows alone): no evidence, take its neighbour's rate below (or 0).
  const rate = weight.map((w, k) => (w > 0 ? clicks[k] / w : 0));
  if (rate[0] === 0) rate[0] = blocks > 1 ? Math.min(0.5 / (weight[0] + 1), rate[1]) : 0.5 / (weight[0] + 1);
  const last = blocks - 1;
  if (rate[last] === 1) rate[last] = 1 - (blocks > 1 ? Math.min(0.5 / (weight[last] + 1), 1 - rate[last - 1]) : 0.5 / (weight[last] + 1));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let k = 0; k < blocks; k++) {
    const v = clamp(rate[k]);
    xs.push(low[k]);
    ys.push(v);
    if (high[k] > low[k]) {
      xs.push(high[k]);
      ys.push(v);
    }
  }
  return { method: 'isotonic', x: xs, y: ys };
}

/** The isotonic map at one score: flat outside the breakpoints, linear between them. */
function interpolate(xs: readonly number[], ys: readonly number[], p: number): number {
  const last = xs.length - 1;
  if (p <= xs[0]) return ys[0];
  if (p >= xs[last]) return ys[last];
  // Largest k with xs[k] <= p (binary search; xs ascending, so k < last here).
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= p) lo = mid;
    else hi = mid;
  }
  const span = xs[hi] - xs[lo];
  return span > 0 ? ys[lo] + ((ys[hi] - ys[lo]) * (p - xs[lo])) / span : ys[lo];
}

// ---------------------------------------------------------------------------------------------------------------
// Applying a calibrator

/** One probability through a calibrator: the downsampling correction, then the fitted map. */
export function calibrateProbability(c: Calibrator, p: number): number {
  const q = c.negativeSamplingRate !== undefined ? correctNegativeSampling(p, c.negativeSamplingRate) : p;
  switch (c.method) {
    case 'none':
      return q;
    case 'platt':
      return sigmoid(c.a * logit(q) + c.b);
    case 'isotonic':
      return interpolate(c.x, c.y, q);
  }
}

/** Calibrates scores in place (what every scoring path calls on a model's raw predictions); returns them. */
export function applyCalibrator(c: Calibrator | undefined, scores: Float64Array): Float64Array {
  if (!c || (c.method === 'none' && (c.negativeSamplingRate === undefined || c.negativeSamplingRate >= 1))) return scores;
  for (let i = 0; i < scores.length; i++) scores[i] = calibrateProbability(c, scores[i]);
  return scores;
}

// ---------------------------------------------------------------------------------------------------------------
// 2c. The level, shrunk toward the training click rate

/** What a calibrator's level is shrunk toward. */
export interface LevelPrior {
  /**
   * The click rate of all training rows (weighted with sample weights), counted before negative downsampling: the
   * rate the model's corrected predictions aim at.
   */
  trainCtr: number;
}

interface ClickCounts {
  /** Weighted clicks and weight sum (the counts themselves without weights). */
  clicks: number;
  total: number;
  /** Kish's effective sample size (Σw)²/Σw²: n without weights. */
  effectiveRows: number;
  /** The clicks scaled to effectiveRows: as many unweighted clicks carry the same noise (the count without weights). */
  effectiveClicks: number;
}

function clickCounts(y: ArrayLike<number>, w: ArrayLike<number> | undefined): ClickCounts {
  let clicks = 0;
  let total = 0;
  let squares = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = w ? w[i] : 1;
    total += wi;
    squares += wi * wi;
    if (y[i] > 0.5) clicks += wi;
  }
  if (!w) return { clicks, total, effectiveRows: y.length, effectiveClicks: clicks };
  const effectiveRows = squares > 0 ? (total * total) / squares : 0;
  return { clicks, total, effectiveRows, effectiveClicks: total > 0 ? (clicks * effectiveRows) / total : 0 };
}

/**
 * Shrinks a fitted calibrator's level toward the training click rate, by how many validation clicks measured it
 * (empirical Bayes with a prior worth PRIOR_CLICKS pseudo-clicks at the training rate). In log-odds (≈ the log of the
 * rate at rare clicks), a level measured from C clicks has variance ≈ 1/C and the prior 1/PRIOR_CLICKS, so their
 * precision-weighted mean is
 *
 *   logit(level) = λ·logit(validation CTR) + (1 − λ)·logit(train CTR),   λ = C / (C + PRIOR_CLICKS).
 *
 * The fitted map is then shifted in log-odds until its mean on the validation rows is that level: Platt's intercept
 * b moves (its slope a stays, so a log-odds shift stays one), isotonic's breakpoint rates all move by the same
 * log-odds (still non-decreasing, still inside (0, 1)). The map's shape is validation's; only its level is shrunk.
 * Without clicks (λ = 0) the level is the training rate. `p` are the scores the map was fitted to.
 */
export function shrinkLevel(
  fitted: Calibrator,
  p: ArrayLike<number>,
  y: ArrayLike<number>,
  weights: Weights,
  prior: LevelPrior,
): { calibrator: Calibrator; shrinkage?: LevelShrinkage } {
  if (fitted.method === 'none') return { calibrator: fitted };
  const w = effectiveWeights(weights, p.length);
  const counts = clickCounts(y, w);
  if (!(counts.total > 0)) return { calibrator: fitted };
  const validationCtr = counts.clicks / counts.total;
  const trainCtr = clamp(prior.trainCtr);
  const validationWeight = counts.effectiveClicks / (counts.effectiveClicks + PRIOR_CLICKS);
  // λ = 0 (no clicks) must not multiply logit(0) = −∞.
  const level = clamp(validationWeight > 0 ? sigmoid(validationWeight * logit(validationCtr) + (1 - validationWeight) * logit(trainCtr)) : trainCtr);
  const calibrator = shiftedToLevel(fitted, p, w, counts.total, level);
  return {
    calibrator,
    shrinkage: {
      trainCtr: prior.trainCtr,
      validationCtr,
      validationClicks: counts.effectiveClicks,
      priorClicks: PRIOR_CLICKS,
      validationWeight,
      level,
    },
  };
}

/** The map shifted in log-odds so that its (weighted) mean over the scores `p` is `level`. */
function shiftedToLevel(
  c: Exclude<Calibrator, { method: 'none' }>,
  p: ArrayLike<number>,
  w: ArrayLike<number> | undefined,
  total: number,
  level: number,
): Calibrator {
  const n = p.length;
  if (c.method === 'platt') {
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) z[i] = c.a * logit(p[i]) + c.b;
    const delta = solveShift(level, (d) => {
      let mean = 0;
      let slope = 0;
      for (let i = 0; i < n; i++) {
        const q = sigmoid(z[i] + d);
        const wi = w ? w[i] : 1;
        mean += wi * q;
        slope += wi * q * (1 - q);
      }
      return [mean / total, slope / total];
    });
    return { ...c, b: c.b + delta };
  }
  // Isotonic: a row's calibrated score is linear in the breakpoint rates (interpolate), so the mean is Σ mass_k·y_k
  // with each breakpoint's mass gathered once from the rows.
  const mass = isotonicMass(c.x, p, w);
  const logits = c.y.map(logit);
  const shifted = (d: number) => logits.map((l) => clamp(sigmoid(l + d)));
  const delta = solveShift(level, (d) => {
    const ys = shifted(d);
    let mean = 0;
    let slope = 0;
    for (let k = 0; k < ys.length; k++) {
      mean += mass[k] * ys[k];
      slope += mass[k] * ys[k] * (1 - ys[k]);
    }
    return [mean / total, slope / total];
  });
  return { ...c, y: shifted(delta) };
}

/** How much of the rows' weight each isotonic breakpoint carries in `interpolate` (flat outside, linear between). */
function isotonicMass(xs: readonly number[], p: ArrayLike<number>, w: ArrayLike<number> | undefined): Float64Array {
  const mass = new Float64Array(xs.length);
  const last = xs.length - 1;
  for (let i = 0; i < p.length; i++) {
    const wi = w ? w[i] : 1;
    const q = p[i];
    if (q <= xs[0]) mass[0] += wi;
    else if (q >= xs[last]) mass[last] += wi;
    else {
      let lo = 0;
      let hi = last;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (xs[mid] <= q) lo = mid;
        else hi = mid;
      }
      const span = xs[hi] - xs[lo];
      const t = span > 0 ? (q - xs[lo]) / span : 0;
      mass[lo] += wi * (1 - t);
      mass[hi] += wi * t;
    }
  }
  return mass;
}

/**
 * The log-odds shift d at which meanAt(d) = level, meanAt increasing in d and returning [mean, d mean/dd]. Newton on
 * log(mean) (at rare clicks the mean is ≈ e^d times a constant, so one step nearly lands), kept inside a bisection
 * bracket, so it converges whatever the map.
 */
function solveShift(level: number, meanAt: (d: number) => [number, number]): number {
  let lo = -40;
  let hi = 40;
  let d = 0;
  for (let iteration = 0; iteration < 200; iteration++) {
    const [mean, slope] = meanAt(d);
    const gap = Math.log(mean) - Math.log(level);
    if (Math.abs(gap) < 1e-12) break;
    if (gap > 0) hi = d;
    else lo = d;
    let next = mean > 0 && slope > 0 ? d - gap / (slope / mean) : NaN;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - d) < 1e-13) break;
    d = next;
  }
  return d;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Choosing

export function fitCalibrator(method: CalibrationMethod, p: ArrayLike<number>, y: ArrayLike<number>, weights?: Weights): Calibrator {
  switch (method) {
    case 'none':
      return { method: 'none' };
    case 'platt':
      return fitPlatt(p, y, {}, weights);
    case 'isotonic':
      return fitIsotonic(p, y, weights);
  }
}

/** What `auto` compares: the three methods, with Platt in two forms (full, and a log-odds shift alone). */
export const CALIBRATION_CANDIDATES = ['none', 'plattIntercept', 'platt', 'isotonic'] as const;
export type CalibrationCandidate = (typeof CALIBRATION_CANDIDATES)[number];
/** The maps that may replace the log-odds shift when they earn it held-out. */
const RICHER_MAPS: readonly CalibrationCandidate[] = ['platt', 'isotonic'];

function fitCandidate(candidate: CalibrationCandidate, p: ArrayLike<number>, y: ArrayLike<number>, weights?: Weights): Calibrator {
  return candidate === 'plattIntercept' ? fitPlatt(p, y, { interceptOnly: true }, weights) : fitCalibrator(candidate, p, y, weights);
}

/** A candidate fitted to the rows, then (given a prior) its level shrunk toward the training click rate. */
function fitShrunk(
  candidate: CalibrationCandidate,
  p: ArrayLike<number>,
  y: ArrayLike<number>,
  weights: Weights,
  prior: LevelPrior | undefined,
): { calibrator: Calibrator; shrinkage?: LevelShrinkage } {
  const fitted = fitCandidate(candidate, p, y, weights);
  return prior ? shrinkLevel(fitted, p, y, weights, prior) : { calibrator: fitted };
}

/**
 * The candidate a stored calibrator was fitted as: the log-odds shift is stored as Platt with a = 1 exactly (its
 * slope is never moved, shrinking included), where a fitted slope is never exactly 1.
 */
export function candidateOf(c: Calibrator): CalibrationCandidate {
  return c.method === 'platt' && c.a === 1 ? 'plattIntercept' : c.method;
}

export interface CalibrationChoice {
  calibrator: Calibrator;
  /** The form fitted: `calibrator`'s method, with the log-odds shift told apart from full Platt (for cross-fitting). */
  candidate: CalibrationCandidate;
  /** What the config asked for. */
  requested: CalibrationSetting;
  /** `auto` only: held-out validation log loss of each candidate compared (2-fold cross-fitting), on which it chose. */
  heldOutLogloss?: Partial<Record<CalibrationCandidate, number>>;
  /** How the level was shrunk toward the training click rate (given a prior and a fitted map). */
  shrinkage?: LevelShrinkage;
  /** Why the chosen method is the one it is, in a sentence. */
  reason: string;
}

/**
 * Picks and fits the calibrator for `p` (a model's validation predictions, after any downsampling correction).
 *
 * `auto` chooses by held-out log loss, because a calibrator judged on the rows it was fitted to always looks good
 * (isotonic most of all: on its own rows it beats every other monotone map). So the validation rows are split in
 * two at random (a fixed seed, so the choice is deterministic; random rather than by position, so an order in the
 * file — time, interleaved sources — cannot put different rows in each half), each candidate is fitted on one half
 * and scored on the other and the other way round (2-fold cross-fitting: every row is scored once, by a fit that
 * never saw it), and the winner is refitted on all rows.
 *
 * The candidates are none, Platt, isotonic, and Platt with its slope held at 1 (b alone: a shift of the log-odds,
 * stored as an ordinary Platt calibrator with a = 1). The last is there because the common miscalibration is a
 * uniform over-prediction (models predicting 4–15% too many clicks everywhere): one parameter fits it, and costs
 * half as much held-out as Platt's two, whose slope (driven by the tails of the scores) adds noise of its own.
 * Isotonic is a candidate only with MIN_ISOTONIC_CLICKS validation clicks (Kish-effective with weights); a config
 * naming isotonic below that gets Platt, and the reason says so.
 *
 * The log-odds shift is the floor: `auto` always applies at least it, so the predicted clicks on validation equal the
 * observed clicks (or, given a prior, the shrunk level: see shrinkLevel). Held-out log loss alone cannot justify it: a 2% uniform under-prediction costs a few 1e-5 nats a
 * row, below any margin that keeps noise out (measured on the wide scenarios: lr predicting 1.4% too few clicks on
 * validation, 3.1% too few on test; fm on sparse high-cardinality data 8% too few, where the shift gained 1.5 nats
 * over 50,000 rows). Yet a ranking system bids and budgets on the level of its predictions, so the level is matched
 * to what validation observed, as ads teams do after every training. Its cost on scores that were already
 * calibrated is a shift by the noise of the validation clicks (1/√clicks in ratio, 1% at 10,000 clicks) — which at
 * rare clicks is large (22% at 20 clicks), hence the shrinkage toward the training click rate when a prior is given.
 * Platt's slope or isotonic replaces the shift only when its held-out log loss, summed over the validation rows, is
 * lower than the shift's by more than CHOICE_MARGIN_NATS (two nats in total, 2/n per row): on scores whose only flaw
 * is their level some refitted richer map still "wins" by chance, and such a win only moves the scores by
 * validation noise. In a simulation of this margin (CTR ≈ 0.15, 100 draws each, measured against the raw scores): on calibrated
 * scores a richer map was picked in 8% of draws at 20,000 validation rows and 4% at 50,000 (15% and 12% with a
 * one-nat margin). Among the maps that clear the margin the lowest held-out loss wins; ties go to the simpler one
 * (in the order of CALIBRATION_CANDIDATES). 'none' is reported beside them, as the evidence of what the shift did.
 *
 * Given a prior (the training click rate), every fit — each half's in the comparison, and the refit on all rows — has
 * its level shrunk toward it by its own clicks (shrinkLevel), so the comparison judges the maps as they will serve.
 *
 * Finally the refitted winner must not make the (whole) validation log loss worse than the raw scores; if it does,
 * the raw scores are kept. A method named in the config is fitted on all rows without a choice.
 *
 * Weighted rows: every fit and held-out log loss is weighted (a held-out loss per row is then per unit of weight),
 * and the margin is counted over Kish's effective sample size (Σw)²/Σw² rather than n: that many unweighted rows
 * carry the same noise, it is n when the weights are equal, and it does not grow when every weight is scaled up.
 */
export function chooseCalibrator(
  setting: CalibrationSetting,
  p: ArrayLike<number>,
  y: ArrayLike<number>,
  weights?: Weights,
  prior?: LevelPrior,
): CalibrationChoice {
  // Unit weights are no weights: the same sums, the same words, bit for bit.
  const w = effectiveWeights(weights, p.length);
  const n = p.length;
  const { clicks, total, effectiveRows, effectiveClicks } = clickCounts(y, w);
  if (n === 0 || !(clicks > 0) || !(total - clicks > 0)) {
    return {
      calibrator: IDENTITY_CALIBRATOR,
      candidate: 'none',
      requested: setting,
      reason: `validation has ${n === 0 ? 'no rows' : w ? 'only one class (by weight)' : 'only one class'}: nothing to fit`,
    };
  }
  const counted = w ? `${effectiveClicks.toPrecision(4)} effective weighted clicks` : `${clicks} clicks`;
  const isotonicOffered = effectiveClicks >= MIN_ISOTONIC_CLICKS;
  const shrunk = (s: LevelShrinkage | undefined) =>
    s
      ? `; level shrunk toward the training click rate ${s.trainCtr.toPrecision(3)} (validation ${s.validationCtr.toPrecision(3)}, weighed ${s.validationWeight.toFixed(2)} for its ${counted} against ${s.priorClicks} pseudo-clicks): ${s.level.toPrecision(3)}`
      : '';
  if (setting !== 'auto') {
    const candidate: CalibrationCandidate = setting === 'isotonic' && !isotonicOffered ? 'platt' : setting;
    const fitted = fitShrunk(candidate, p, y, w, prior);
    const why =
      candidate === setting
        ? `${setting} as configured`
        : `isotonic needs ${MIN_ISOTONIC_CLICKS} validation clicks, there are ${counted}: platt instead`;
    return { ...fitted, candidate, requested: setting, reason: why + shrunk(fitted.shrinkage) };
  }
  const halves = splitInHalves(n).map((rows) => ({ p: rows.map((i) => p[i]), y: rows.map((i) => y[i]), w: w ? rows.map((i) => w[i]) : undefined }));
  const oneClass = halves.some((h) => {
    const c = clickCounts(h.y, h.w);
    return !(c.clicks > 0) || !(c.total - c.clicks > 0);
  });
  if (n < MIN_ROWS_TO_CHOOSE || oneClass) {
    return {
      calibrator: IDENTITY_CALIBRATOR,
      candidate: 'none',
      requested: setting,
      reason: `too few validation rows (${n}, ${counted}) to choose a calibrator`,
    };
  }
  const candidates = CALIBRATION_CANDIDATES.filter((c) => c !== 'isotonic' || isotonicOffered);
  const heldOut: Partial<Record<CalibrationCandidate, number>> = {};
  for (const candidate of candidates) {
    let loss = 0;
    for (const [fit, score] of [
      [halves[0], halves[1]],
      [halves[1], halves[0]],
    ]) {
      const c = fitShrunk(candidate, fit.p, fit.y, fit.w, prior).calibrator;
      const scoreWeight = score.w ? score.w.reduce((sum, x) => sum + x, 0) : score.p.length;
      loss +=
        logLoss(
          score.p.map((q) => calibrateProbability(c, q)),
          score.y,
          score.w,
        ) * scoreWeight;
    }
    heldOut[candidate] = loss / total;
  }
  const shift = heldOut.plattIntercept!;
  let best: CalibrationCandidate = 'plattIntercept';
  for (const candidate of RICHER_MAPS) {
    const loss = heldOut[candidate];
    if (loss === undefined) continue;
    const clearsShift = (shift - loss) * effectiveRows > CHOICE_MARGIN_NATS;
    if (clearsShift && loss < heldOut[best]!) best = candidate;
  }
  const { calibrator, shrinkage } = fitShrunk(best, p, y, w, prior);
  const before = logLoss(p, y, w);
  const after = logLoss(
    Array.from(p, (q) => calibrateProbability(calibrator, q)),
    y,
    w,
  );
  const losses = candidates.map((m) => `${m} ${heldOut[m]!.toFixed(5)}`).join(', ');
  const notOffered = isotonicOffered ? '' : `; isotonic not offered (${counted}, it needs ${MIN_ISOTONIC_CLICKS})`;
  const weighted = w ? 'weighted ' : '';
  if (after > before) {
    return {
      calibrator: IDENTITY_CALIBRATOR,
      candidate: 'none',
      requested: setting,
      heldOutLogloss: heldOut,
      reason: `${best} refitted on all validation rows made its ${weighted}log loss worse (${after.toFixed(5)} > ${before.toFixed(5)}): raw scores kept${notOffered}`,
    };
  }
  const why =
    best === 'plattIntercept'
      ? w
        ? `log-odds shift to ${shrinkage ? 'a level between the training click rate and the observed (weighted) validation clicks (see below)' : 'the observed (weighted) validation clicks'}; no richer map beat its held-out weighted validation log loss by more than ${CHOICE_MARGIN_NATS} nats over ${effectiveRows.toFixed(0)} effective rows (per unit weight: ${losses})`
        : `log-odds shift to ${shrinkage ? 'a level between the training click rate and the observed validation clicks (see below)' : 'the observed validation clicks'}; no richer map beat its held-out validation log loss by more than ${CHOICE_MARGIN_NATS} nats in total (per row: ${losses})`
      : `${best} had the lowest held-out ${weighted}validation log loss (per ${w ? 'unit weight' : 'row'}: ${losses})`;
  return {
    calibrator,
    candidate: best,
    requested: setting,
    heldOutLogloss: heldOut,
    ...(shrinkage ? { shrinkage } : {}),
    reason: why + notOffered + shrunk(shrinkage),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Cross-fitting

/**
 * The fold (0..folds−1) of each of n rows: a seeded shuffle dealt round-robin, so folds differ by at most one row and
 * an order in the file (time, interleaved sources) cannot put different rows in each. It depends on n alone, so a
 * model and its baseline scored on the same rows share their folds, and their per-row losses pair.
 */
export function crossFitFolds(n: number, folds = CROSS_FIT_FOLDS): Uint8Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new SeededRandom(0x78666974).shuffle(order);
  const fold = new Uint8Array(n);
  for (let k = 0; k < n; k++) fold[order[k]] = k % folds;
  return fold;
}

/**
 * Validation scores calibrated out of sample: each fold's rows through `candidate` fitted (and, given a prior, shrunk
 * by its own clicks) on the other folds' rows. What the served model's validation metrics are measured on: a
 * calibrator fitted on the very rows it is scored on flatters them (in-sample Platt can never do worse than the
 * best constant, so a model without signal would read NE < 1); cross-fitted, it reads NE ≥ 1 as it should.
 *
 * Only the fit is cross-fitted, not `auto`'s choice of method: that choice was made held-out already, among at most
 * four maps and with a margin, so re-choosing per fold would cost four times the fits to remove a bias of a few nats.
 * `none` needs no fit: the scores come back as given. Deterministic (crossFitFolds).
 */
export function crossFittedCalibration(
  candidate: CalibrationCandidate,
  p: ArrayLike<number>,
  y: ArrayLike<number>,
  weights?: Weights,
  prior?: LevelPrior,
  folds = CROSS_FIT_FOLDS,
): Float64Array {
  const n = p.length;
  const out = Float64Array.from(p);
  if (candidate === 'none' || n === 0) return out;
  const w = effectiveWeights(weights, n);
  const foldOf = crossFitFolds(n, folds);
  for (let k = 0; k < folds; k++) {
    const fit: number[] = [];
    const held: number[] = [];
    for (let i = 0; i < n; i++) (foldOf[i] === k ? held : fit).push(i);
    if (held.length === 0 || fit.length === 0) continue;
    const c = fitShrunk(
      candidate,
      fit.map((i) => p[i]),
      fit.map((i) => y[i]),
      w ? fit.map((i) => w[i]) : undefined,
      prior,
    ).calibrator;
    for (const i of held) out[i] = calibrateProbability(c, p[i]);
  }
  return out;
}

/** Log loss and calibration ratio of a set of predictions (weighted when given weights): a calibrator's before/after evidence. */
export function calibrationSummary(p: ArrayLike<number>, y: ArrayLike<number>, weights?: Weights): { logloss: number; calibration: number } {
  return { logloss: logLoss(p, y, weights), calibration: calibrationRatio(p, y, weights) };
}

/** Row indices 0..n−1 in two random halves (fixed seed), each in ascending order. */
function splitInHalves(n: number): [number[], number[]] {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new SeededRandom(0x63616c).shuffle(order);
  const half = Math.ceil(n / 2);
  return [Array.from(order.subarray(0, half)).sort((a, b) => a - b), Array.from(order.subarray(half)).sort((a, b) => a - b)];
}
