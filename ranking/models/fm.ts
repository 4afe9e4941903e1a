import type { FmConfig } from '../../contracts';
import type { DenseKernels } from '../kernels';
import type { EncodedRows } from '../features';
import { SeededRandom } from '../rng';
import { RankingModel, StepResult, Tensor, logitLoss, sigmoid } from './model';

/**
 * AdaGrad's initial accumulators G0: a coordinate's step is lr·g/√(G0 + Σg²), so G0 sets how far a value seen once
 * or twice can move. With a small G0 (it was 0.1) every rare value took a near-full step on its first row, and its
 * factors lined up with the other rare values of the same row: after one pass over the wide scenarios train NE was
 * 0.52–0.70 against validation NE ≈ 0.93, and a second pass only memorised more. A larger G0 leaves frequent values
 * (whose Σg² soon dwarfs it) at the full rate and damps the long tail, like FTRL's β. The factors get the larger one,
 * because a factor's gradient is small (g times the other factors) and its damage is pairwise. Tried on the wide
 * scenarios (500k rows, 39 fields): linear 1, 3, 10; factors 1, 10, 30, 100, 300. Against G0 0.1 and one epoch,
 * these values and two epochs improved test NE by 0.007–0.019 on all five scenarios (the quality bench,
 * bench/results/quality.md), and the second epoch now helps instead of hurting by 0.013–0.04. Factors' 100 beat 300
 * by 0.001–0.01 where crosses are strong; 300 beat 100 by 0.002 where the signal sits in rare values.
 */
const ADAGRAD_INITIAL_LINEAR = 3;
const ADAGRAD_INITIAL_FACTORS = 300;
const INIT_SD = 0.01;
/** Rows per kernel call when batch-scoring. */
const SCORE_BATCH = 2048;
const CPU_BACKENDS = new Set(['cpu', 'webasm', 'reference']);

/**
 * Factorization machine (Rendle 2010) on hashed features, trained with per-coordinate AdaGrad.
 *
 * Training is per example in typed-array loops: each row gathers ~15 embedding rows and updates the same rows,
 * ~200 multiply-adds — far below what pays for a kernel launch plus copying the gathered embeddings in and the
 * sums back out (measured: the gpu.js fmInteraction kernel is at best break-even with the loop at this size).
 * Batch scoring on a GPU backend gathers embeddings and runs the interaction term through the fmInteraction
 * kernel; on CPU backends (cpu, webasm, reference) a fused per-row loop is used instead, because the bench
 * measured the gather + copy into the kernel at ~2× the cost of the fused loop's whole work.
 */
export class FactorizationMachine implements RankingModel {
  readonly family = 'fm' as const;
  private readonly k: number;
  private readonly bias: number;
  private w: Float32Array;
  private v: Float32Array;
  private gw: Float32Array;
  private gv: Float32Array;

  constructor(
    private config: FmConfig,
    private kernels: DenseKernels,
    /** Rows of the feature spec's table (featureTableRows); one extra row after it is the bias. */
    tableRows = 2 ** config.hashBits,
  ) {
    this.k = config.embeddingDim;
    this.bias = tableRows;
    this.w = new Float32Array(this.bias + 1);
    this.v = new Float32Array((this.bias + 1) * this.k);
    this.gw = new Float32Array(this.bias + 1).fill(ADAGRAD_INITIAL_LINEAR);
    this.gv = new Float32Array((this.bias + 1) * this.k).fill(ADAGRAD_INITIAL_FACTORS);
    const rng = new SeededRandom(config.seed * 31 + 7);
    for (let i = 0; i < this.v.length; i++) this.v[i] = rng.gaussian() * INIT_SD;
  }

  async trainStep(data: EncodedRows, order: Int32Array, start: number, end: number, lrScale: number): Promise<StepResult> {
    const lr = this.config.learningRate * lrScale;
    const { l2 } = this.config;
    const clip = this.config.gradientClip;
    const k = this.k;
    const { labels } = data;
    const m = data.catSlots + data.denseSlots;
    const idx = new Int32Array(m);
    const val = new Float64Array(m);
    const sum = new Float64Array(k);
    const { w, v, gw, gv } = this;
    let lossSum = 0;
    let gradSq = 0;
    for (let e = start; e < end; e++) {
      const r = order[e];
      gatherRow(data, r, idx, val);
      const logit = this.forwardLogit(idx, val, sum);
      const y = labels[r];
      lossSum += logitLoss(logit, y);
      if (!Number.isFinite(logit)) return { lossSum: NaN, gradNorm: NaN };
      let g = sigmoid(logit) - y;
      if (clip !== undefined) g = g > clip ? clip : g < -clip ? -clip : g;
      gradSq += g * g;
      // AdaGrad on the intercept, the linear weights and the factors of the row's features.
      gw[this.bias] += g * g;
      w[this.bias] -= (lr * g) / Math.sqrt(gw[this.bias]);
      for (let f = 0; f < m; f++) {
        const i = idx[f];
        const x = val[f];
        const gwi = g * x + l2 * w[i];
        gw[i] += gwi * gwi;
        w[i] -= (lr * gwi) / Math.sqrt(gw[i]);
        const base = i * k;
        for (let c = 0; c < k; c++) {
          const vic = v[base + c];
          const gvc = g * x * (sum[c] - vic * x) + l2 * vic;
          gv[base + c] += gvc * gvc;
          v[base + c] = vic - (lr * gvc) / Math.sqrt(gv[base + c]);
        }
      }
    }
    // gradNorm: norm of the batch's logit gradients (p − y).
    return { lossSum, gradNorm: Math.sqrt(gradSq) };
  }

  async predict(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void> {
    if (CPU_BACKENDS.has(this.kernels.backend)) return this.predictFused(data, start, end, out);
    return this.predictWithKernel(data, start, end, out);
  }

  /** The same forward pass as training (one definition, so scores equal what training optimised). */
  private predictFused(data: EncodedRows, start: number, end: number, out: Float64Array): void {
    const m = data.catSlots + data.denseSlots;
    const idx = new Int32Array(m);
    const val = new Float64Array(m);
    const sum = new Float64Array(this.k);
    for (let r = start; r < end; r++) {
      gatherRow(data, r, idx, val);
      out[r] = sigmoid(this.forwardLogit(idx, val, sum));
    }
  }

  /**
   * FM logit of one gathered row: bias + Σ w_i x_i + ½ Σ_c [(Σ_i v_ic x_i)² − Σ_i (v_ic x_i)²]. Leaves Σ_i v_ic x_i
   * in `sum`, which the factor gradients reuse.
   */
  private forwardLogit(idx: Int32Array, val: Float64Array, sum: Float64Array): number {
    const k = this.k;
    const { w, v } = this;
    let logit = w[this.bias];
    sum.fill(0);
    let sumSq = 0;
    for (let f = 0; f < idx.length; f++) {
      const x = val[f];
      const base = idx[f] * k;
      logit += w[idx[f]] * x;
      for (let c = 0; c < k; c++) {
        const t = v[base + c] * x;
        sum[c] += t;
        sumSq += t * t;
      }
    }
    let pair = 0;
    for (let c = 0; c < k; c++) pair += sum[c] * sum[c];
    return logit + 0.5 * (pair - sumSq);
  }

  async predictWithKernel(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void> {
    const k = this.k;
    const { catSlots, denseSlots, catIndex, denseValue, denseIndex } = data;
    const fields = catSlots + denseSlots;
    for (let from = start; from < end; from += SCORE_BATCH) {
      const to = Math.min(end, from + SCORE_BATCH);
      const rows = to - from;
      // Gather (typed-array loop: a gather is memory-bound, no arithmetic for a kernel to speed up).
      const e = new Float32Array(rows * fields * k);
      const linear = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        const row = from + r;
        let lin = this.w[this.bias];
        for (let f = 0; f < fields; f++) {
          const i = f < catSlots ? catIndex[row * catSlots + f] : denseIndex[f - catSlots];
          const x = f < catSlots ? 1 : denseValue[row * denseSlots + f - catSlots];
          lin += this.w[i] * x;
          const dst = (r * fields + f) * k;
          for (let c = 0; c < k; c++) e[dst + c] = this.v[i * k + c] * x;
        }
        linear[r] = lin;
      }
      const pair = await this.kernels.fmInteraction(e, rows, fields, k);
      for (let r = 0; r < rows; r++) out[from + r] = sigmoid(linear[r] + pair[r]);
    }
  }

  stateTensors(): Record<string, Tensor> {
    return { w: this.w, v: this.v, gw: this.gw, gv: this.gv };
  }

  weightTensors(): Record<string, Tensor> {
    return { w: this.w, v: this.v };
  }

  scalars(): Record<string, number> {
    return {};
  }

  loadState(t: Record<string, Tensor>): void {
    this.w.set(t.w as Float32Array);
    this.v.set(t.v as Float32Array);
    this.gw.set(t.gw as Float32Array);
    this.gv.set(t.gv as Float32Array);
  }

  loadWeights(t: Record<string, Tensor>): void {
    this.w.set(t.w as Float32Array);
    this.v.set(t.v as Float32Array);
  }
}

/** A row as (feature index, value) pairs: categorical slots have value 1, dense slots their transformed value. */
function gatherRow(data: EncodedRows, r: number, idx: Int32Array, val: Float64Array): void {
  const { catSlots, denseSlots, catIndex, denseValue, denseIndex } = data;
  for (let s = 0; s < catSlots; s++) {
    idx[s] = catIndex[r * catSlots + s];
    val[s] = 1;
  }
  for (let s = 0; s < denseSlots; s++) {
    idx[catSlots + s] = denseIndex[s];
    val[catSlots + s] = denseValue[r * denseSlots + s];
  }
}
