import type { FmConfig } from '../../contracts';
import type { DenseKernels } from '../kernels';
import type { EncodedRows } from '../features';
import type { ListPool } from '../features';
import { SeededRandom } from '../rng';
import { RankingModel, StepResult, Tensor, logitLoss, sigmoid } from './model';
import { type PooledFields, pooledFields, slotCoefficients } from './pooling';

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
// Module-local copies: an imported function is reached through a getter on its module, once per example here.
const loss = logitLoss;
const sigmoidOf = sigmoid;
const fround = Math.fround;

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
  /**
   * Parameters and AdaGrad accumulators interleaved by table row: `wg` holds (w_i, G_i) at 2i, 2i + 1, and `vg` holds
   * row i's k factors at 2k·i then their k accumulators. An update reads and writes both for every feature of a row,
   * scattered over tables far larger than the caches: adjacent, they cost one cache miss where apart they cost two.
   * Checkpoints and artifacts still hold `w`, `v`, `gw`, `gv` as separate tensors.
   */
  private wg: Float32Array;
  private vg: Float32Array;

  constructor(
    private config: FmConfig,
    private kernels: DenseKernels,
    /** Rows of the feature spec's table (featureTableRows); one extra row after it is the bias. */
    tableRows = 2 ** config.hashBits,
    /** The spec's list fields (listPoolsOf): each list's values' factors are pooled into one field. */
    private readonly pools: readonly ListPool[] = [],
  ) {
    this.k = config.embeddingDim;
    this.bias = tableRows;
    const rows = this.bias + 1;
    const k = this.k;
    this.wg = new Float32Array(2 * rows);
    this.vg = new Float32Array(2 * k * rows);
    for (let i = 0; i < rows; i++) this.wg[2 * i + 1] = ADAGRAD_INITIAL_LINEAR;
    const rng = new SeededRandom(config.seed * 31 + 7);
    // The same draws in the same order as a row-major v: row by row, factor by factor.
    for (let i = 0; i < rows; i++) {
      const base = 2 * k * i;
      for (let c = 0; c < k; c++) {
        this.vg[base + c] = rng.gaussian() * INIT_SD;
        this.vg[base + k + c] = ADAGRAD_INITIAL_FACTORS;
      }
    }
  }

  /** The row's fields when the spec has lists (null without: every slot is a field, the plain loops run). */
  private fieldsOf(data: EncodedRows): PooledFields | null {
    if (!this.pools.length) return null;
    if (this.pooled?.catSlots !== data.catSlots) this.pooled = { catSlots: data.catSlots, fields: pooledFields(data.catSlots, this.pools)! };
    return this.pooled.fields;
  }
  private pooled?: { catSlots: number; fields: PooledFields };

  async trainStep(data: EncodedRows, order: Int32Array, start: number, end: number, lrScale: number): Promise<StepResult> {
    const fields = this.fieldsOf(data);
    if (fields) return this.trainPooled(data, fields, order, start, end, lrScale);
    const lr = this.config.learningRate * lrScale;
    const { l2 } = this.config;
    const clip = this.config.gradientClip;
    const k = this.k;
    const { labels, weights } = data;
    const m = data.catSlots + data.denseSlots;
    const idx = new Int32Array(m);
    const val = new Float64Array(m);
    const sum = new Float64Array(k);
    const { wg, vg, bias } = this;
    let lossSum = 0;
    let gradSq = 0;
    let weightSum = 0;
    for (let e = start; e < end; e++) {
      const r = order[e];
      // Sample weight: multiplies the loss gradient g (before clipping, like the gradient itself). A row of weight
      // 0 is skipped whole: its L2 pull would still move the row's parameters, and a weightless row is not there.
      const rowWeight = weights ? weights[r] : 1;
      if (weights) {
        weightSum += rowWeight;
        if (rowWeight === 0) continue;
      }
      gatherRow(data, r, idx, val);
      const logit = this.forwardLogit(idx, val, sum);
      const y = labels[r];
      lossSum += weights ? rowWeight * loss(logit, y) : loss(logit, y);
      if (!Number.isFinite(logit)) return { lossSum: NaN, gradNorm: NaN };
      let g = sigmoidOf(logit) - y;
      if (weights) g *= rowWeight;
      if (clip !== undefined) g = g > clip ? clip : g < -clip ? -clip : g;
      gradSq += g * g;
      // AdaGrad on the intercept, the linear weights and the factors of the row's features.
      // An accumulator is rounded to float32 (fround, as storing it does) before its square root is taken.
      const gb = fround(wg[2 * bias + 1] + g * g);
      wg[2 * bias + 1] = gb;
      wg[2 * bias] -= (lr * g) / Math.sqrt(gb);
      for (let f = 0; f < m; f++) {
        const i = 2 * idx[f];
        const x = val[f];
        const gx = g * x;
        const gwi = gx + l2 * wg[i];
        const gi = fround(wg[i + 1] + gwi * gwi);
        wg[i + 1] = gi;
        wg[i] -= (lr * gwi) / Math.sqrt(gi);
        const base = k * i;
        const acc = base + k;
        for (let c = 0; c < k; c++) {
          const vic = vg[base + c];
          const gvc = gx * (sum[c] - vic * x) + l2 * vic;
          const a = fround(vg[acc + c] + gvc * gvc);
          vg[acc + c] = a;
          vg[base + c] = vic - (lr * gvc) / Math.sqrt(a);
        }
      }
    }
    // gradNorm: norm of the batch's logit gradients (p − y), weighted w·(p − y).
    return weights ? { lossSum, gradNorm: Math.sqrt(gradSq), weightSum } : { lossSum, gradNorm: Math.sqrt(gradSq) };
  }

  /**
   * trainStep with lists pooled. A row's fields are its one-slot fields, its lists and its numeric dense slots; field
   * f's factor vector is E_f = Σ_{i ∈ f} a_i·v_i (a_i: the slot's coefficient, or the dense value), and
   * logit = bias + Σ_slots w_i·x_i + ½·[|Σ_f E_f|² − Σ_f |E_f|²]: the pairwise term is over fields, so a list's values
   * do not interact with each other and the list counts once. The linear weights stay one per slot (x_i = 1 for every
   * categorical slot, empty positions included), as LR's. ∂logit/∂v_i = a_i·(S − E_f); an empty position (a_i = 0)
   * is not in the factor part, so its factors are not updated.
   */
  private trainPooled(data: EncodedRows, fields: PooledFields, order: Int32Array, start: number, end: number, lrScale: number): StepResult {
    const lr = this.config.learningRate * lrScale;
    const { l2 } = this.config;
    const clip = this.config.gradientClip;
    const k = this.k;
    const { labels, weights, catSlots } = data;
    const m = catSlots + data.denseSlots;
    const idx = new Int32Array(m);
    const val = new Float64Array(m);
    const coef = new Float64Array(m);
    const fieldOf = pooledFieldOf(fields, m, catSlots);
    const E = new Float64Array((fields.catFields + data.denseSlots) * k);
    const sum = new Float64Array(k);
    const { wg, vg, bias } = this;
    let lossSum = 0;
    let gradSq = 0;
    let weightSum = 0;
    for (let e = start; e < end; e++) {
      const r = order[e];
      const rowWeight = weights ? weights[r] : 1;
      if (weights) {
        weightSum += rowWeight;
        if (rowWeight === 0) continue;
      }
      gatherPooledRow(data, fields, r, idx, val, coef);
      const logit = this.forwardPooled(idx, val, coef, fieldOf, E, sum);
      const y = labels[r];
      lossSum += weights ? rowWeight * loss(logit, y) : loss(logit, y);
      if (!Number.isFinite(logit)) return { lossSum: NaN, gradNorm: NaN };
      let g = sigmoidOf(logit) - y;
      if (weights) g *= rowWeight;
      if (clip !== undefined) g = g > clip ? clip : g < -clip ? -clip : g;
      gradSq += g * g;
      const gb = fround(wg[2 * bias + 1] + g * g);
      wg[2 * bias + 1] = gb;
      wg[2 * bias] -= (lr * g) / Math.sqrt(gb);
      for (let f = 0; f < m; f++) {
        const i = 2 * idx[f];
        const gwi = g * val[f] + l2 * wg[i];
        const gi = fround(wg[i + 1] + gwi * gwi);
        wg[i + 1] = gi;
        wg[i] -= (lr * gwi) / Math.sqrt(gi);
        const a = coef[f];
        if (a === 0) continue;
        const ga = g * a;
        const base = k * i;
        const acc = base + k;
        const own = fieldOf[f] * k;
        for (let c = 0; c < k; c++) {
          const vic = vg[base + c];
          const gvc = ga * (sum[c] - E[own + c]) + l2 * vic;
          const acc2 = fround(vg[acc + c] + gvc * gvc);
          vg[acc + c] = acc2;
          vg[base + c] = vic - (lr * gvc) / Math.sqrt(acc2);
        }
      }
    }
    return weights ? { lossSum, gradNorm: Math.sqrt(gradSq), weightSum } : { lossSum, gradNorm: Math.sqrt(gradSq) };
  }

  /** The pooled FM logit of a gathered row (see trainPooled); leaves the field vectors in E and their sum in `sum`. */
  private forwardPooled(idx: Int32Array, val: Float64Array, coef: Float64Array, fieldOf: Int32Array, E: Float64Array, sum: Float64Array): number {
    const k = this.k;
    const { wg, vg } = this;
    let logit = wg[2 * this.bias];
    E.fill(0);
    for (let f = 0; f < idx.length; f++) {
      logit += wg[2 * idx[f]] * val[f];
      const a = coef[f];
      if (a === 0) continue;
      const base = 2 * k * idx[f];
      const own = fieldOf[f] * k;
      for (let c = 0; c < k; c++) E[own + c] += vg[base + c] * a;
    }
    sum.fill(0);
    let sumSq = 0;
    for (let j = 0; j < E.length; j += k) {
      for (let c = 0; c < k; c++) {
        const t = E[j + c];
        sum[c] += t;
        sumSq += t * t;
      }
    }
    let pair = 0;
    for (let c = 0; c < k; c++) pair += sum[c] * sum[c];
    return logit + 0.5 * (pair - sumSq);
  }

  /** Scores with lists pooled: the same forward pass as trainPooled, a row at a time (on every backend). */
  private predictPooled(data: EncodedRows, fields: PooledFields, start: number, end: number, out: Float64Array): void {
    const { catSlots } = data;
    const m = catSlots + data.denseSlots;
    const idx = new Int32Array(m);
    const val = new Float64Array(m);
    const coef = new Float64Array(m);
    const fieldOf = pooledFieldOf(fields, m, catSlots);
    const E = new Float64Array((fields.catFields + data.denseSlots) * this.k);
    const sum = new Float64Array(this.k);
    for (let r = start; r < end; r++) {
      gatherPooledRow(data, fields, r, idx, val, coef);
      out[r] = sigmoidOf(this.forwardPooled(idx, val, coef, fieldOf, E, sum));
    }
  }

  async predict(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void> {
    const fields = this.fieldsOf(data);
    if (fields) return this.predictPooled(data, fields, start, end, out);
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
      out[r] = sigmoidOf(this.forwardLogit(idx, val, sum));
    }
  }

  /**
   * FM logit of one gathered row: bias + Σ w_i x_i + ½ Σ_c [(Σ_i v_ic x_i)² − Σ_i (v_ic x_i)²]. Leaves Σ_i v_ic x_i
   * in `sum`, which the factor gradients reuse.
   */
  private forwardLogit(idx: Int32Array, val: Float64Array, sum: Float64Array): number {
    const k = this.k;
    const { wg, vg } = this;
    let logit = wg[2 * this.bias];
    sum.fill(0);
    let sumSq = 0;
    for (let f = 0; f < idx.length; f++) {
      const x = val[f];
      const base = 2 * k * idx[f];
      logit += wg[2 * idx[f]] * x;
      for (let c = 0; c < k; c++) {
        const t = vg[base + c] * x;
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
        let lin = this.wg[2 * this.bias];
        for (let f = 0; f < fields; f++) {
          const i = f < catSlots ? catIndex[row * catSlots + f] : denseIndex[f - catSlots];
          const x = f < catSlots ? 1 : denseValue[row * denseSlots + f - catSlots];
          lin += this.wg[2 * i] * x;
          const dst = (r * fields + f) * k;
          for (let c = 0; c < k; c++) e[dst + c] = this.vg[2 * k * i + c] * x;
        }
        linear[r] = lin;
      }
      const pair = await this.kernels.fmInteraction(e, rows, fields, k);
      for (let r = 0; r < rows; r++) out[from + r] = sigmoidOf(linear[r] + pair[r]);
    }
  }

  /** Copies, split out of the interleaved tables (the trainer copies what it checkpoints anyway). */
  stateTensors(): Record<string, Tensor> {
    return this.tensors(true);
  }

  weightTensors(): Record<string, Tensor> {
    return this.tensors(false);
  }

  private tensors(withAccumulators: boolean): Record<string, Tensor> {
    const rows = this.bias + 1;
    const k = this.k;
    const w = new Float32Array(rows);
    const v = new Float32Array(rows * k);
    const gw = withAccumulators ? new Float32Array(rows) : null;
    const gv = withAccumulators ? new Float32Array(rows * k) : null;
    for (let i = 0; i < rows; i++) {
      w[i] = this.wg[2 * i];
      if (gw) gw[i] = this.wg[2 * i + 1];
      const base = 2 * k * i;
      for (let c = 0; c < k; c++) {
        v[i * k + c] = this.vg[base + c];
        if (gv) gv[i * k + c] = this.vg[base + k + c];
      }
    }
    return gw && gv ? { w, v, gw, gv } : { w, v };
  }

  scalars(): Record<string, number> {
    return {};
  }

  loadState(t: Record<string, Tensor>): void {
    this.load(t.w as Float32Array, t.v as Float32Array, t.gw as Float32Array, t.gv as Float32Array);
  }

  loadWeights(t: Record<string, Tensor>): void {
    this.load(t.w as Float32Array, t.v as Float32Array);
  }

  private load(w: Float32Array, v: Float32Array, gw?: Float32Array, gv?: Float32Array): void {
    const k = this.k;
    for (let i = 0; i <= this.bias; i++) {
      this.wg[2 * i] = w[i];
      if (gw) this.wg[2 * i + 1] = gw[i];
      const base = 2 * k * i;
      for (let c = 0; c < k; c++) {
        this.vg[base + c] = v[i * k + c];
        if (gv) this.vg[base + k + c] = gv[i * k + c];
      }
    }
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

/** Per gathered item (categorical slots, then numeric dense slots), its field: a dense slot is a field of its own. */
function pooledFieldOf(fields: PooledFields, m: number, catSlots: number): Int32Array {
  const out = new Int32Array(m);
  out.set(fields.fieldOf);
  for (let s = catSlots; s < m; s++) out[s] = fields.catFields + s - catSlots;
  return out;
}

/** gatherRow, plus each item's factor coefficient: the slot's (slotCoefficients), a dense slot's value. */
function gatherPooledRow(data: EncodedRows, fields: PooledFields, r: number, idx: Int32Array, val: Float64Array, coef: Float64Array): void {
  gatherRow(data, r, idx, val);
  slotCoefficients(fields, data.catIndex, r * data.catSlots, coef);
  for (let s = data.catSlots; s < idx.length; s++) coef[s] = val[s];
}
