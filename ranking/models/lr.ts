import type { LrConfig } from '../../contracts';
import type { EncodedRows } from '../features';
import { RankingModel, StepResult, Tensor, logitLoss, sigmoid } from './model';

// Module-local copies: an imported function is reached through a getter on its module, once per example here.
const loss = logitLoss;
const sigmoidOf = sigmoid;

/**
 * Hashed logistic regression trained with FTRL-Proximal (McMahan et al. 2013, "Ad Click Prediction: a View from
 * the Trenches", Algorithm 1): per-coordinate learning rates α/(β+√n_i), L1 for sparsity, L2, and weights
 * computed lazily from (z, n). Sparse per-example updates are plain typed-array loops: there is no dense batched
 * work here for a kernel (a row touches ~15 of 2^18 coordinates), and a kernel launch costs more than the row.
 * One "step" is `batchSize` consecutive examples, each applied online as in the paper.
 */
export class FtrlLogisticRegression implements RankingModel {
  readonly family = 'lr' as const;
  /**
   * FTRL's per-coordinate state, interleaved: z_i at 2i, n_i at 2i + 1. Every update reads and writes both, and a row's
   * coordinates are scattered over a table far larger than the caches, so one cache line per coordinate instead of two
   * is most of what a training step costs. Checkpoints still hold them as `z` and `n`.
   */
  private zn: Float64Array;
  private readonly bias: number;
  /** α of the latest step (lrDecay changes it per epoch); weights are a function of (z, n, α). */
  private alpha: number;
  /** Set by loadWeights: the weights are these, no longer a function of (z, n). */
  private loaded?: { weightIndex: Int32Array; weightValue: Float64Array };

  /** `tableRows`: rows of the feature spec's table (featureTableRows); one extra coordinate after it is the intercept. */
  constructor(
    private config: LrConfig,
    tableRows = 2 ** config.hashBits,
  ) {
    this.bias = tableRows;
    this.zn = new Float64Array(2 * (this.bias + 1));
    this.alpha = config.learningRate;
  }

  private weight(i: number, alpha: number): number {
    const z = this.zn[2 * i];
    const { l1, l2, ftrlBeta } = this.config;
    // The intercept is not L1-regularised (it should be free to match the base CTR).
    const l1i = i === this.bias ? 0 : l1;
    if (Math.abs(z) <= l1i) return 0;
    return -(z - Math.sign(z) * l1i) / ((ftrlBeta + Math.sqrt(this.zn[2 * i + 1])) / alpha + l2);
  }

  /**
   * FTRL per example, in the order of Algorithm 1: the row's weights from (z, n), the prediction, then (z, n) per
   * coordinate. It is `weight()` and the update written out in one loop per row (categorical slots, dense slots, the
   * intercept, in that order, so sums round as before), with √n_i taken once for both the weight and σ_i, and a
   * categorical feature's value 1 not multiplied in — the same arithmetic as the textbook loop, without its calls.
   */
  async trainStep(data: EncodedRows, order: Int32Array, start: number, end: number, lrScale: number): Promise<StepResult> {
    const alpha = (this.alpha = this.config.learningRate * lrScale);
    const { catSlots, denseSlots, catIndex, denseValue, denseIndex, labels, weights } = data;
    const { l1, l2, ftrlBeta: beta } = this.config;
    const clip = this.config.gradientClip;
    const hasClip = clip !== undefined;
    const { zn, bias } = this;
    const m = catSlots + denseSlots;
    const idx = new Int32Array(m);
    const val = new Float64Array(m);
    const w = new Float64Array(m + 1);
    // √n_i and the n_i it was taken of: a coordinate twice in a row (a collision) is updated twice, and its second
    // update must see the n_i the first one left.
    const sqrtN = new Float64Array(m + 1);
    const nAt = new Float64Array(m + 1);
    for (let s = 0; s < denseSlots; s++) idx[catSlots + s] = denseIndex[s];
    let lossSum = 0;
    let gradSq = 0;
    let weightSum = 0;
    for (let e = start; e < end; e++) {
      const r = order[e];
      // Sample weight: the loss gradient g is multiplied by it (before clipping: the clip bounds the step taken).
      // A row of weight 0 is skipped whole — g = 0 would leave n_i unchanged and z_i too, up to the sign of a zero —
      // so training with weight-0 rows is exactly training without them.
      const rowWeight = weights ? weights[r] : 1;
      if (weights) {
        weightSum += rowWeight;
        if (rowWeight === 0) continue;
      }
      const catRow = r * catSlots;
      for (let s = 0; s < catSlots; s++) idx[s] = catIndex[catRow + s];
      const denseRow = r * denseSlots;
      for (let s = 0; s < denseSlots; s++) val[catSlots + s] = denseValue[denseRow + s];
      let logit = 0;
      for (let k = 0; k < m; k++) {
        const i = 2 * idx[k];
        const zi = zn[i];
        const ni = zn[i + 1];
        const sq = Math.sqrt(ni);
        sqrtN[k] = sq;
        nAt[k] = ni;
        const wk = Math.abs(zi) <= l1 ? 0 : -(zi - Math.sign(zi) * l1) / ((beta + sq) / alpha + l2);
        w[k] = wk;
        logit += k < catSlots ? wk : wk * val[k];
      }
      {
        // The intercept: no L1.
        const zi = zn[2 * bias];
        const ni = zn[2 * bias + 1];
        const sq = Math.sqrt(ni);
        sqrtN[m] = sq;
        nAt[m] = ni;
        const wk = zi === 0 ? 0 : -zi / ((beta + sq) / alpha + l2);
        w[m] = wk;
        logit += wk;
      }
      const y = labels[r];
      let g = sigmoidOf(logit) - y;
      if (weights) {
        lossSum += rowWeight * loss(logit, y);
        g *= rowWeight;
      } else {
        lossSum += loss(logit, y);
      }
      gradSq += g * g;
      for (let k = 0; k <= m; k++) {
        const i = 2 * (k < m ? idx[k] : bias);
        let gi = k < catSlots || k === m ? g : g * val[k];
        if (hasClip) gi = gi > clip ? clip : gi < -clip ? -clip : gi;
        const ni = zn[i + 1];
        const sigma = (Math.sqrt(ni + gi * gi) - (ni === nAt[k] ? sqrtN[k] : Math.sqrt(ni))) / alpha;
        zn[i] += gi - sigma * w[k];
        zn[i + 1] = ni + gi * gi;
      }
    }
    // gradNorm: norm of the batch's logit gradients (p − y), weighted w·(p − y) — what FTRL scales per coordinate.
    return weights ? { lossSum, gradNorm: Math.sqrt(gradSq), weightSum } : { lossSum, gradNorm: Math.sqrt(gradSq) };
  }

  async predict(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void> {
    const alpha = this.alpha;
    const { catSlots, denseSlots, catIndex, denseValue, denseIndex } = data;
    for (let r = start; r < end; r++) {
      let logit = this.weight(this.bias, alpha);
      for (let s = 0; s < catSlots; s++) logit += this.weight(catIndex[r * catSlots + s], alpha);
      for (let s = 0; s < denseSlots; s++) logit += this.weight(denseIndex[s], alpha) * denseValue[r * denseSlots + s];
      out[r] = sigmoidOf(logit);
    }
  }

  /** Copies (the state is interleaved): the trainer copies what it checkpoints anyway. */
  stateTensors(): Record<string, Tensor> {
    const rows = this.bias + 1;
    const z = new Float64Array(rows);
    const n = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      z[i] = this.zn[2 * i];
      n[i] = this.zn[2 * i + 1];
    }
    return { z, n };
  }

  /** The artifact keeps only non-zero weights (FTRL's L1 makes most of them zero): index + value pairs. */
  weightTensors(): Record<string, Tensor> {
    // Weights loaded with loadWeights (a scorer, or the trainer restoring its best weights) are what this model is.
    if (this.loaded) return { weightIndex: this.loaded.weightIndex.slice(), weightValue: this.loaded.weightValue.slice() };
    const alpha = this.alpha;
    const index: number[] = [];
    const value: number[] = [];
    for (let i = 0; i <= this.bias; i++) {
      if (this.zn[2 * i] === 0) continue;
      const w = this.weight(i, alpha);
      if (w !== 0) {
        index.push(i);
        value.push(w);
      }
    }
    return { weightIndex: Int32Array.from(index), weightValue: Float64Array.from(value) };
  }

  scalars(): Record<string, number> {
    return { alpha: this.alpha };
  }

  loadState(t: Record<string, Tensor>, scalars: Record<string, number>): void {
    this.alpha = scalars.alpha;
    const z = t.z as Float64Array;
    const n = t.n as Float64Array;
    for (let i = 0; i <= this.bias; i++) {
      this.zn[2 * i] = z[i];
      this.zn[2 * i + 1] = n[i];
    }
  }

  /** Scoring-only: rebuild (z, n) that reproduce the stored weights exactly is not needed; keep the weights. */
  loadWeights(t: Record<string, Tensor>): void {
    const w = new Float64Array(this.bias + 1);
    const index = t.weightIndex as Int32Array;
    const value = t.weightValue as Float64Array;
    for (let k = 0; k < index.length; k++) w[index[k]] = value[k];
    this.weight = (i: number) => w[i];
    this.loaded = { weightIndex: index.slice(), weightValue: value.slice() };
  }
}
