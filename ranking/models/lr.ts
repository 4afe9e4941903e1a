import type { LrConfig } from '../../contracts';
import type { EncodedRows } from '../features';
import { RankingModel, StepResult, Tensor, sigmoid } from './model';

// A module-local copy: an imported function is reached through a getter on its module, once per example here.
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
  /** The loaded weights by coordinate (the intercept last). */
  private loadedTable?: Float64Array;

  /** `tableRows`: rows of the feature spec's table (featureTableRows); one extra coordinate after it is the intercept. */
  constructor(
    private config: LrConfig,
    tableRows = 2 ** config.hashBits,
  ) {
    this.bias = tableRows;
    this.zn = new Float64Array(2 * (this.bias + 1));
    this.alpha = config.learningRate;
  }

  /**
   * FTRL per example, in the order of Algorithm 1: the row's weights from (z, n), the prediction, then (z, n) per
   * coordinate. It is the weight (weightReader) and the update written out in one loop per row (categorical slots, dense slots, the
   * intercept, in that order, so sums round as before), a categorical feature's value 1 not multiplied in — the same
   * arithmetic as the textbook loop, without its calls. Two shortcuts that leave every bit as it was: a coordinate
   * inside L1's dead zone (most of a hashed table's rare values) has weight 0, so neither its √n_i nor its σ_i is
   * needed (z_i += g_i − σ_i·0 is z_i += g_i); and one e^−|logit| serves both the probability and the example's loss.
   * √n_i is taken again in the update, after the rows' earlier coordinates, so a collision (one coordinate twice in a
   * row) sees the n_i its first update left.
   */
  async trainStep(data: EncodedRows, order: Int32Array, start: number, end: number, lrScale: number): Promise<StepResult> {
    const alpha = (this.alpha = this.config.learningRate * lrScale);
    const { catSlots, denseSlots, catIndex, denseValue, denseIndex, labels, weights } = data;
    const { l1, l2, ftrlBeta: beta } = this.config;
    const clip = this.config.gradientClip;
    const hasClip = clip !== undefined;
    const { zn, bias } = this;
    const w = this.rowWeights(catSlots + denseSlots + 1);
    const b = 2 * bias;
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
      const denseRow = r * denseSlots;
      let logit = 0;
      for (let s = 0; s < catSlots; s++) {
        const i = 2 * catIndex[catRow + s];
        const zi = zn[i];
        const wk = Math.abs(zi) <= l1 ? 0 : -(zi - Math.sign(zi) * l1) / ((beta + Math.sqrt(zn[i + 1])) / alpha + l2);
        w[s] = wk;
        logit += wk;
      }
      for (let s = 0; s < denseSlots; s++) {
        const i = 2 * denseIndex[s];
        const zi = zn[i];
        const wk = Math.abs(zi) <= l1 ? 0 : -(zi - Math.sign(zi) * l1) / ((beta + Math.sqrt(zn[i + 1])) / alpha + l2);
        w[catSlots + s] = wk;
        logit += wk * denseValue[denseRow + s];
      }
      {
        // The intercept: no L1.
        const zi = zn[b];
        const wk = zi === 0 ? 0 : -zi / ((beta + Math.sqrt(zn[b + 1])) / alpha + l2);
        w[catSlots + denseSlots] = wk;
        logit += wk;
      }
      const y = labels[r];
      // model.ts's sigmoid() and logitLoss(), written out to share e^−|logit|.
      const ez = Math.exp(-Math.abs(logit));
      let g = (logit >= 0 ? 1 / (1 + ez) : ez / (1 + ez)) - y;
      const exampleLoss = Math.log1p(ez) + Math.max(logit, 0) - (y ? logit : 0);
      if (weights) {
        lossSum += rowWeight * exampleLoss;
        g *= rowWeight;
      } else {
        lossSum += exampleLoss;
      }
      gradSq += g * g;
      const gc = hasClip ? (g > clip ? clip : g < -clip ? -clip : g) : g;
      for (let s = 0; s < catSlots; s++) this.update(2 * catIndex[catRow + s], gc, w[s], alpha);
      for (let s = 0; s < denseSlots; s++) {
        const gi = g * denseValue[denseRow + s];
        this.update(2 * denseIndex[s], hasClip ? (gi > clip ? clip : gi < -clip ? -clip : gi) : gi, w[catSlots + s], alpha);
      }
      this.update(b, gc, w[catSlots + denseSlots], alpha);
    }
    // gradNorm: norm of the batch's logit gradients (p − y), weighted w·(p − y) — what FTRL scales per coordinate.
    return weights ? { lossSum, gradNorm: Math.sqrt(gradSq), weightSum } : { lossSum, gradNorm: Math.sqrt(gradSq) };
  }

  /** FTRL's (z_i, n_i) update at zn[i], zn[i + 1] for gradient g_i and the weight w_i the prediction used. */
  private update(i: number, gi: number, wi: number, alpha: number): void {
    const ni = this.zn[i + 1];
    const g2 = gi * gi;
    this.zn[i] += wi === 0 ? gi : gi - ((Math.sqrt(ni + g2) - Math.sqrt(ni)) / alpha) * wi;
    this.zn[i + 1] = ni + g2;
  }

  /** The current row's weights, one per slot and the intercept; reused by every step. */
  private rowWeights(size: number): Float64Array {
    if (this.rowWeightBuffer.length < size) this.rowWeightBuffer = new Float64Array(size);
    return this.rowWeightBuffer;
  }
  private rowWeightBuffer = new Float64Array(0);

  async predict(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void> {
    const { catSlots, denseSlots, catIndex, denseValue, denseIndex } = data;
    const weightOf = this.weightReader();
    for (let r = start; r < end; r++) {
      let logit = weightOf(this.bias);
      for (let s = 0; s < catSlots; s++) logit += weightOf(catIndex[r * catSlots + s]);
      for (let s = 0; s < denseSlots; s++) logit += weightOf(denseIndex[s]) * denseValue[r * denseSlots + s];
      out[r] = sigmoidOf(logit);
    }
  }

  /**
   * Coordinate i's weight from (z_i, n_i, α), or the loaded weight, as a closure over the state and this step's α (V8 inlines it into
   * the scoring loop; a method call per coordinate re-read the config each time).
   */
  private weightReader(): (i: number) => number {
    const loaded = this.loadedTable;
    if (loaded) return (i) => loaded[i];
    const { zn, bias, alpha } = this;
    const { l1, l2, ftrlBeta: beta } = this.config;
    return (i) => {
      const z = zn[2 * i];
      // The intercept is not L1-regularised (it should be free to match the base CTR).
      const l1i = i === bias ? 0 : l1;
      if (Math.abs(z) <= l1i) return 0;
      return -(z - Math.sign(z) * l1i) / ((beta + Math.sqrt(zn[2 * i + 1])) / alpha + l2);
    };
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
    const weightOf = this.weightReader();
    const index: number[] = [];
    const value: number[] = [];
    for (let i = 0; i <= this.bias; i++) {
      if (this.zn[2 * i] === 0) continue;
      const w = weightOf(i);
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
    this.loadedTable = w;
    this.loaded = { weightIndex: index.slice(), weightValue: value.slice() };
  }
}
