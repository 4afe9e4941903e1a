/**
 * Ranking metrics as pure functions over (predicted probability, label) arrays. NE follows He et al. 2014
 * ("Practical Lessons from Predicting Clicks on Ads at Facebook"): mean log loss divided by the entropy of the
 * background CTR of the same examples, so a model that only knows the average CTR scores exactly 1.
 */

type Probabilities = ArrayLike<number>;
type Labels = ArrayLike<number>;
/**
 * Per-example sample weights (a RowBlock's / EncodedRows' `weights`): every metric weighs an example by its weight,
 * as if it appeared that many times. Absent means every example weighs 1. Weights that are all exactly 1 take the
 * unweighted code path, so such metrics are bit-identical to unweighted ones.
 */
export type Weights = ArrayLike<number> | undefined;

/** The weights to weigh by: undefined when absent or all exactly 1 (the unweighted path then runs, bit for bit). */
export function effectiveWeights(w: Weights, n: number): ArrayLike<number> | undefined {
  if (!w) return undefined;
  if (w.length !== n) throw new Error(`weights (${w.length}) and labels (${n}) differ in length`);
  for (let i = 0; i < n; i++) if (w[i] !== 1) return w;
  return undefined;
}

/** Probabilities are clipped here before log: a hard 0/1 prediction would otherwise make one example infinite. */
export const PROBABILITY_EPSILON = 1e-7;

function clipProbability(p: number): number {
  return p < PROBABILITY_EPSILON ? PROBABILITY_EPSILON : p > 1 - PROBABILITY_EPSILON ? 1 - PROBABILITY_EPSILON : p;
}

/** Log loss of one example (natural log). */
export function exampleLogLoss(p: number, label: number): number {
  const q = clipProbability(p);
  return label > 0.5 ? -Math.log(q) : -Math.log(1 - q);
}

/** Mean log loss (natural log); weighted: Σ w·loss / Σ w. */
export function logLoss(p: Probabilities, y: Labels, weights?: Weights): number {
  requireSameLength(p, y);
  const w = effectiveWeights(weights, y.length);
  if (w) {
    let sum = 0;
    let total = 0;
    for (let i = 0; i < p.length; i++) {
      if (w[i] === 0) continue; // a weightless row is not there (even where its loss is huge)
      sum += w[i] * exampleLogLoss(p[i], y[i]);
      total += w[i];
    }
    return sum / total;
  }
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += exampleLogLoss(p[i], y[i]);
  return sum / p.length;
}

/** Entropy (nats) of a Bernoulli with rate `ctr`: the log loss of always predicting the background CTR. */
export function backgroundEntropy(ctr: number): number {
  if (ctr <= 0 || ctr >= 1) return 0;
  return -(ctr * Math.log(ctr) + (1 - ctr) * Math.log(1 - ctr));
}

/** Share of examples clicked; weighted: Σ w·y / Σ w (the background CTR of a weighted NE). */
export function clickThroughRate(y: Labels, weights?: Weights): number {
  const w = effectiveWeights(weights, y.length);
  if (w) {
    let clicks = 0;
    let total = 0;
    for (let i = 0; i < y.length; i++) {
      clicks += w[i] * y[i];
      total += w[i];
    }
    return total > 0 ? clicks / total : 0;
  }
  let clicks = 0;
  for (let i = 0; i < y.length; i++) clicks += y[i];
  return y.length ? clicks / y.length : 0;
}

/** Clicks among the examples; weighted: Σ w·y (the weighted clicks a weighted CTR is made of). */
export function clickCount(y: Labels, weights?: Weights): number {
  const w = effectiveWeights(weights, y.length);
  let clicks = 0;
  for (let i = 0; i < y.length; i++) clicks += w ? w[i] * y[i] : y[i];
  return clicks;
}

/** Normalized entropy: mean log loss / entropy of the background CTR. NaN when every label is the same. */
export function normalizedEntropy(p: Probabilities, y: Labels, weights?: Weights): number {
  const h = backgroundEntropy(clickThroughRate(y, weights));
  return h > 0 ? logLoss(p, y, weights) / h : NaN;
}

/**
 * Standard error of NE, from the variance of per-example log loss (the background entropy is treated as fixed,
 * which is accurate for the sample sizes we evaluate on). Two models' NEs differ significantly when the gap is
 * several standard errors; for paired comparisons on the same test set this is conservative.
 */
export function normalizedEntropyStdErr(p: Probabilities, y: Labels, weights?: Weights): number {
  return perExampleStdErr(y, (i) => exampleLogLoss(p[i], y[i]), weights);
}

/**
 * Standard error of NE(a) − NE(b) for two models scored on the same examples. Paired: each example's difficulty is
 * shared by both models and cancels in the per-example loss difference, so this is many times smaller than the
 * unpaired sqrt(se_a² + se_b²) — what makes a 1% NE gain on a mid-sized test set detectable at all.
 */
export function pairedNormalizedEntropyStdErr(a: Probabilities, b: Probabilities, y: Labels, weights?: Weights): number {
  requireSameLength(a, y);
  requireSameLength(b, y);
  return perExampleStdErr(y, (i) => exampleLogLoss(a[i], y[i]) - exampleLogLoss(b[i], y[i]), weights);
}

/**
 * Standard error of the mean of a per-example quantity, in NE units (divided by the background entropy).
 *
 * Weighted, the mean is m = Σ wᵢvᵢ / Σ wᵢ, a ratio of two sums over the examples (the independent sampling units),
 * and its standard error is the usual linearised (sandwich / ratio-estimator) one with weights held fixed:
 *   se² = n/(n−1) · Σ wᵢ²(vᵢ − m)² / (Σ wᵢ)²,
 * n counting examples of non-zero weight. Why this one: it is invariant to rescaling every weight (importance weights
 * have no natural unit, so multiplying them by 100 must not shrink the error tenfold, as the frequency-weight
 * estimator Σ wᵢ(vᵢ − m)² / ((Σ wᵢ − 1)·Σ wᵢ) would), it grows as the weights grow uneven (Kish's effective sample
 * size), and with every weight 1 it is exactly the unweighted formula. Read as frequency weights (w = 3: three
 * identical examples) it is conservative: it treats the three as one draw, not three independent ones.
 */
function perExampleStdErr(y: Labels, value: (i: number) => number, weights?: Weights): number {
  const w = effectiveWeights(weights, y.length);
  if (w) return weightedStdErr(y, value, w);
  const n = y.length;
  const h = backgroundEntropy(clickThroughRate(y));
  if (n < 2 || h <= 0) return NaN;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = value(i);
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / n;
  const variance = Math.max(0, (sumSq - n * mean * mean) / (n - 1));
  return Math.sqrt(variance / n) / h;
}

function weightedStdErr(y: Labels, value: (i: number) => number, w: ArrayLike<number>): number {
  const h = backgroundEntropy(clickThroughRate(y, w));
  let n = 0;
  let total = 0;
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    if (w[i] === 0) continue;
    n++;
    total += w[i];
    sum += w[i] * value(i);
  }
  if (n < 2 || h <= 0 || !(total > 0)) return NaN;
  const mean = sum / total;
  let squares = 0;
  for (let i = 0; i < y.length; i++) {
    if (w[i] === 0) continue;
    const d = w[i] * (value(i) - mean);
    squares += d * d;
  }
  return Math.sqrt(((n / (n - 1)) * squares) / (total * total)) / h;
}

/**
 * Exact ROC AUC, tie-aware: examples with equal predictions share their average rank (Mann–Whitney U), so a
 * constant predictor scores exactly 0.5. NaN when only one class is present.
 *
 * Weighted: every (click, non-click) pair counts with the product of their weights, a tied pair half — the AUC of
 * the examples repeated their weight's number of times. Per group of tied scores (ascending):
 * Σ W₊(group)·(W₋(below) + W₋(group)/2) / (W₊·W₋).
 */
export function auc(p: Probabilities, y: Labels, weights?: Weights): number {
  requireSameLength(p, y);
  const w = effectiveWeights(weights, y.length);
  const n = p.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const pv = Float64Array.from(p as ArrayLike<number>);
  order.sort((a, b) => pv[a] - pv[b]);
  if (w) return weightedAuc(pv, y, w, order);
  let positives = 0;
  let rankSumPositives = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && pv[order[j + 1]] === pv[order[i]]) j++;
    const averageRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let k = i; k <= j; k++) {
      if (y[order[k]] > 0.5) {
        positives++;
        rankSumPositives += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}

function weightedAuc(pv: Float64Array, y: Labels, w: ArrayLike<number>, order: Int32Array): number {
  const n = pv.length;
  let positives = 0;
  let negatives = 0;
  let pairs = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && pv[order[j + 1]] === pv[order[i]]) j++;
    let groupPositives = 0;
    let groupNegatives = 0;
    for (let k = i; k <= j; k++) {
      if (y[order[k]] > 0.5) groupPositives += w[order[k]];
      else groupNegatives += w[order[k]];
    }
    pairs += groupPositives * (negatives + groupNegatives / 2);
    positives += groupPositives;
    negatives += groupNegatives;
    i = j + 1;
  }
  if (!(positives > 0) || !(negatives > 0)) return NaN;
  return pairs / (positives * negatives);
}

/** Calibration: predicted clicks / observed clicks (ideal 1.0; > 1 over-predicts); weighted: Σ w·p / Σ w·y. */
export function calibration(p: Probabilities, y: Labels, weights?: Weights): number {
  const w = effectiveWeights(weights, y.length);
  if (w) {
    let predicted = 0;
    let observed = 0;
    for (let i = 0; i < p.length; i++) {
      predicted += w[i] * p[i];
      observed += w[i] * y[i];
    }
    return observed > 0 ? predicted / observed : NaN;
  }
  let predicted = 0;
  let observed = 0;
  for (let i = 0; i < p.length; i++) {
    predicted += p[i];
    observed += y[i];
  }
  return observed > 0 ? predicted / observed : NaN;
}

export interface SegmentNe {
  field: string;
  value: string;
  count: number;
  ne: number;
}

/**
 * NE per segment (rows sharing one value of a field), for the `top` most frequent values. Each segment is
 * normalised by its own background CTR, so a segment NE says how much the model knows beyond that segment's
 * average; segments whose labels are all equal (NE undefined) are left out.
 *
 * Weighted: a segment's NE is weighted (against its weighted CTR), and "most frequent" is the largest weight sum;
 * `count` stays the segment's row count (the contract's count is an integer).
 */
export function segmentNormalizedEntropy(
  p: Probabilities,
  y: Labels,
  segmentKeys: ArrayLike<string>,
  field: string,
  top = 10,
  weights?: Weights,
): SegmentNe[] {
  const w = effectiveWeights(weights, y.length);
  if (w) return weightedSegmentNe(p, y, segmentKeys, field, top, w);
  const groups = new Map<string, number[]>();
  for (let i = 0; i < p.length; i++) {
    const key = segmentKeys[i];
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  }
  const ranked = [...groups.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1));
  const out: SegmentNe[] = [];
  for (const [value, rows] of ranked) {
    if (out.length >= top) break;
    const ps = rows.map((r) => p[r]);
    const ys = rows.map((r) => y[r]);
    const ne = normalizedEntropy(ps, ys);
    if (Number.isFinite(ne)) out.push({ field, value, count: rows.length, ne });
  }
  return out;
}

function weightedSegmentNe(
  p: Probabilities,
  y: Labels,
  segmentKeys: ArrayLike<string>,
  field: string,
  top: number,
  w: ArrayLike<number>,
): SegmentNe[] {
  const groups = new Map<string, { rows: number[]; weight: number }>();
  for (let i = 0; i < p.length; i++) {
    const key = segmentKeys[i];
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { rows: [], weight: 0 }));
    g.rows.push(i);
    g.weight += w[i];
  }
  const ranked = [...groups.entries()].sort((a, b) => b[1].weight - a[1].weight || (a[0] < b[0] ? -1 : 1));
  const out: SegmentNe[] = [];
  for (const [value, { rows }] of ranked) {
    if (out.length >= top) break;
    const ne = normalizedEntropy(
      rows.map((r) => p[r]),
      rows.map((r) => y[r]),
      rows.map((r) => w[r]),
    );
    if (Number.isFinite(ne)) out.push({ field, value, count: rows.length, ne });
  }
  return out;
}

/** Relative NE change vs a baseline: (ne − base) / base. Negative is an improvement. */
export function relativeNeChange(ne: number, baselineNe: number): number {
  return (ne - baselineNe) / baselineNe;
}

/** Regret on planted data: NE − oracle (Bayes-optimal) NE; 0 is the best any model can do. */
export function regret(ne: number, oracleNe: number): number {
  return ne - oracleNe;
}

/** Share of the achievable gain captured: (NE_base − NE) / (NE_base − NE_oracle); 1 = reached the oracle. */
export function gainCaptured(ne: number, baselineNe: number, oracleNe: number): number {
  const achievable = baselineNe - oracleNe;
  return achievable !== 0 ? (baselineNe - ne) / achievable : NaN;
}

function requireSameLength(p: ArrayLike<number>, y: ArrayLike<number>): void {
  if (p.length !== y.length) throw new Error(`predictions (${p.length}) and labels (${y.length}) differ in length`);
}
