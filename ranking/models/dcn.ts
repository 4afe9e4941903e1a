import type { DcnConfig } from '../../contracts';
import { type DenseKernels, OnnxRuntimeKernels, TfjsWasmKernels, denseKernelsFor, loadTfjsWasm } from '../kernels';
import type { EncodedRows, ListPool } from '../features';
import { SeededRandom } from '../rng';
import { RankingModel, StepResult, Tensor, logitLoss, sigmoid } from './model';
import { ResidentDenseStack, type StackLayer } from './dcn-resident';
import { OnnxDenseStack } from './dcn-onnx-stack';
import { type PooledFields, pooledFields, slotCoefficients } from './pooling';

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPS = 1e-8;
const EMBEDDING_INIT = 0.05;
/**
 * Adam's ε on embedding rows. Lazy Adam gives a row seen once a step of about 3·lr whatever its gradient (m̂/√v̂ of
 * a single gradient, with the bias correction of the global step count), so every rare value moved as far as the
 * most frequent one and the embeddings memorised the long tail (train NE ≈ 0.75 against validation ≈ 0.95 after
 * one pass over 100k rows of wide-sparse-highcard). An ε near the size of one example's share of a batch-mean
 * gradient (the median touched row's was ~1e-4 there) damps rows with little evidence and leaves frequent rows,
 * whose summed gradients are larger, at Adam's step. Tried 1e-8 (Adam's usual), 1e-5, 1e-4, 1e-3 on 100k rows:
 * 1e-4 was best (test NE 0.9530 against 0.9592).
 */
const EMBEDDING_ADAM_EPS = 1e-4;
/**
 * The wide part (Wide & Deep, Cheng et al. 2016): one weight per hashed value, summed into the logit, trained per
 * example with fm's linear AdaGrad (initial accumulator 3, step 0.05). A value's own effect then needs no detour
 * through an 8-wide embedding and the layers above it; where the signal sits in rare values (wide-sparse-highcard)
 * that detour left the DCN 0.011 NE behind plain `lr`. Measured on 100k rows, with the ε above: test NE 0.9469
 * against 0.9592 on wide-sparse-highcard, 0.8244 against 0.8378 on wide-crosses.
 */
const WIDE_ADAGRAD_INITIAL = 3;
const WIDE_LEARNING_RATE = 0.05;
const SCORE_BATCH = 1024;

/**
 * One layer of the network and where its parameters sit in `dense` (from `at` on, in this order):
 * - `cross`: full rank, W (D×D), b (D);
 * - `lowRankCross`: V (D×r), U (r×D), b (D) — DCN-v2's W ≈ V·U, so z = (x·V)·U + b;
 * - `mlp`: W (in×out), b (out), then ReLU;
 * - `output`: w (in), b (1): the logit.
 * Artifacts name the parameters p0, p1, … in this order, so a full-rank network's names are what they always were.
 */
interface Layer {
  kind: 'cross' | 'lowRankCross' | 'mlp' | 'output';
  inDim: number;
  outDim: number;
  /** lowRankCross only: r. */
  rank: number;
  at: number;
}

/** A typed array that grows to the largest size asked for and hands out a view of exactly `n` values. */
class Scratch {
  private buf = new Float32Array(0);
  view(n: number): Float32Array {
    if (this.buf.length < n) this.buf = new Float32Array(n);
    return this.buf.subarray(0, n);
  }
}

/**
 * DCN-v2 (Wang et al. 2021, stacked form) on hashed embeddings, DLRM-style inputs:
 *   x0 = [embedding of each categorical slot ‖ transformed dense values]
 *   x_{l+1} = x0 ⊙ (x_l·W_l + b_l) + x_l        (full-rank cross layers, crossRank `full`)
 *   x_{l+1} = x0 ⊙ ((x_l·V_l)·U_l + b_l) + x_l  (low-rank cross layers, crossRank r: V_l is D×r, U_l is r×D)
 *   h = ReLU MLP(x_L);  logit = h·w_o + b_o + Σ wide[value]   (a wide part: one weight per hashed value)
 * trained with Adam on mini-batches (lazy Adam on embedding rows: only rows the batch touched are updated; the wide
 * weights with per-example AdaGrad).
 *
 * Split of work: the dense matrix products run as one batched product per layer and direction — X·W forward,
 * dY·Wᵀ and Xᵀ·dY backward — in `DenseKernels` (gpu.js on a GPU; on a CPU tfjs-wasm or tiled TypeScript, see
 * denseKernelsFor in ranking/kernels/index.ts); embedding gathers/scatters, elementwise gating, the 1-wide output layer, sigmoid/log loss and
 * the optimizer are typed-array loops — memory-bound or tiny, where a kernel launch and copy cost more. Those loops
 * write into buffers kept between steps, and so do the kernels (their `out`): a step allocates no typed arrays.
 * On tfjs-wasm (by default) the cross layers and the MLP instead run as tfjs ops on tensors resident in wasm memory for
 * the step (dcn-resident.ts): there the gating and the other elementwise work between products are wasm kernels too,
 * and only x0, the hidden output, x0's gradient and the weight gradients cross between wasm and TypeScript.
 */
export class DeepCrossNetwork implements RankingModel {
  readonly family = 'dcn' as const;
  private readonly d: number;
  private readonly tableRows: number;
  private inputDim = 0;
  private embedding: Float32Array;
  /** The wide part: one weight per table row (a hashed value), summed into the logit beside the deep part. */
  private wide: Float32Array;
  private wideG: Float32Array;
  private embM: Float32Array;
  private embV: Float32Array;
  /** Dense parameters in layer order (see Layer). Same index for m, v and grads. */
  private dense: Float32Array[] = [];
  private denseM: Float32Array[] = [];
  private denseV: Float32Array[] = [];
  /**
   * Gradients of the parameters the loops accumulate (biases, the output layer), zeroed each step; a weight matrix's
   * slot is replaced by what weightGradient returns.
   */
  private grads: Float32Array[] = [];
  private layers: Layer[] = [];
  private crossCount: number;
  private adamStep = 0;
  /**
   * The sparse embedding update's scratch, sized by the batch, not the table: `touched` lists the table rows this step
   * touched in first-touch order, `touchedGrad` holds their gradients packed in that order (d values each), and
   * `slotOf[t]` is row t's place in the list — valid only where touched[slotOf[t]] === t below the step's count (a
   * sparse set, so nothing is cleared between steps). A table-sized gradient array put every slot's gradient on its
   * own cache line far from the last; packed, the norm and Adam read them in order.
   */
  private touched = new Int32Array(0);
  private touchedGrad = new Float32Array(0);
  private slotOf: Int32Array;
  /** Zero bias of the low-rank projection x·V (it has none; the kernels' affine takes one). */
  private zeroRankBias: Float32Array;
  // Per-step buffers (rows × width), reused, so a step allocates no arrays: x0, each cross layer's product z, its
  // low-rank projection and its output, each hidden layer's output, the logits, and the backward pass's gradients
  // (two of each kind that a layer's input gradient writes, alternating: a layer reads the one the layer above wrote).
  private x0Buf = new Scratch();
  private crossOut: Scratch[] = [];
  private crossZ: Scratch[] = [];
  private crossProjection: Scratch[] = [];
  private hiddenOut: Scratch[] = [];
  private logitBuf = new Float64Array(0);
  private hiddenBack = [new Scratch(), new Scratch()];
  private crossBack = [new Scratch(), new Scratch()];
  private dtBuf = new Scratch();
  private dLogitBuf = new Scratch();
  private dhBuf = new Scratch();
  private dzBuf = new Scratch();
  private dx0Buf = new Scratch();
  /** The last step or prediction queued (see exclusive). */
  private busy: Promise<unknown> = Promise.resolve();
  /** What runs the layers' matrix products: the given kernels on a GPU backend, a faster CPU path otherwise. */
  private mm: DenseKernels;
  /**
   * On tfjs-wasm (unless its kernels say otherwise): the cross layers and the MLP as tfjs ops on tensors resident in
   * wasm memory for a step (see dcn-resident.ts); null runs them product by product through `mm` with loops between.
   * Undefined until the first step or prediction decides (loading tfjs is asynchronous).
   */
  private resident: ResidentDenseStack | OnnxDenseStack | null | undefined = undefined;
  private residentOut = new Scratch();
  /** The categorical slots as fields when the spec has lists (null without: one embedding per slot). */
  private readonly fields: PooledFields | null;
  /** With lists: the gathered rows' slot coefficients (rows × catSlots), which the backward scatter reuses. */
  private coefBuf = new Float64Array(0);

  /** x0's width: one embedding per field (a list is one), then the numeric dense values. */
  get inputWidth(): number {
    return this.inputDim;
  }

  constructor(
    private config: DcnConfig,
    kernels: DenseKernels,
    catSlots: number,
    private denseSlots: number,
    /** Rows of the feature spec's table (featureTableRows). */
    tableRows = 2 ** config.hashBits,
    /** The spec's list fields (listPoolsOf): each list is one embedding of x0, its values' embeddings pooled. */
    pools: readonly ListPool[] = [],
  ) {
    this.mm = denseKernelsFor(kernels);
    this.d = config.embeddingDim;
    this.tableRows = tableRows;
    this.fields = pooledFields(catSlots, pools);
    this.inputDim = (this.fields ? this.fields.catFields : catSlots) * this.d + denseSlots;
    const rng = new SeededRandom(config.seed * 131 + 17);
    this.embedding = new Float32Array(this.tableRows * this.d);
    for (let i = 0; i < this.embedding.length; i++) this.embedding[i] = (rng.next() * 2 - 1) * EMBEDDING_INIT;
    this.wide = new Float32Array(this.tableRows);
    this.wideG = new Float32Array(this.tableRows).fill(WIDE_ADAGRAD_INITIAL);
    this.embM = new Float32Array(this.embedding.length);
    this.embV = new Float32Array(this.embedding.length);
    this.slotOf = new Int32Array(this.tableRows);
    const D = this.inputDim;
    // Absent in configs parsed before the knob existed (they are full rank): see contracts/model.ts's CrossRank.
    const rank = config.crossRank ?? 'full';
    this.crossCount = config.crossLayers;
    this.zeroRankBias = new Float32Array(rank === 'full' ? 0 : rank);
    for (let l = 0; l < config.crossLayers; l++) {
      if (rank === 'full') {
        // Glorot-uniform W (small: the layer starts close to the identity residual x_{l+1} ≈ x_l).
        this.addLayer('cross', D, D, 0, [uniform(D * D, Math.sqrt(6 / (D + D)), rng)]);
      } else {
        // Glorot-uniform V and U each: V·U starts smaller than a full-rank Glorot W, so the layer starts close to the
        // identity residual too. (Scaling V·U to a Glorot W's variance instead moved wide-crosses' test NE by < 0.001
        // over 4 seeds at rank 32.)
        const scale = Math.sqrt(6 / (D + rank));
        this.addLayer('lowRankCross', D, D, rank, [uniform(D * rank, scale, rng), uniform(rank * D, scale, rng)]);
      }
      this.crossOut.push(new Scratch());
      this.crossZ.push(new Scratch());
      this.crossProjection.push(new Scratch());
    }
    let prev = D;
    for (const h of config.mlp) {
      this.addLayer('mlp', prev, h, 0, [uniform(prev * h, Math.sqrt(6 / prev), rng)]); // He-uniform for ReLU
      this.hiddenOut.push(new Scratch());
      prev = h;
    }
    this.addLayer('output', prev, 1, 0, [uniform(prev, Math.sqrt(6 / (prev + 1)), rng)]);
  }

  /** Appends a layer: its weight matrices (already initialised), then a zero bias of outDim. */
  private addLayer(kind: Layer['kind'], inDim: number, outDim: number, rank: number, weights: Float32Array[]): void {
    this.layers.push({ kind, inDim, outDim, rank, at: this.dense.length });
    for (const w of [...weights, new Float32Array(outDim)]) {
      this.dense.push(w);
      this.denseM.push(new Float32Array(w.length));
      this.denseV.push(new Float32Array(w.length));
      this.grads.push(new Float32Array(w.length));
    }
  }

  /** Gathers x0 for rows (given by `rowOf`) into the x0 buffer. */
  private gather(data: EncodedRows, rows: number, rowOf: (i: number) => number): Float32Array {
    if (this.fields) return this.gatherPooled(data, this.fields, rows, rowOf);
    const { catSlots, catIndex, denseSlots, denseValue } = data;
    const D = this.inputDim;
    const d = this.d;
    const x0 = this.x0Buf.view(rows * D);
    const emb = this.embedding;
    for (let i = 0; i < rows; i++) {
      const r = rowOf(i);
      let at = i * D;
      for (let s = 0; s < catSlots; s++) {
        const src = catIndex[r * catSlots + s] * d;
        for (let c = 0; c < d; c++) x0[at++] = emb[src + c];
      }
      for (let s = 0; s < denseSlots; s++) x0[at++] = denseValue[r * denseSlots + s];
    }
    return x0;
  }

  /**
   * gather with lists: a field's embedding is Σ_s a_s·e_s over its slots (slotCoefficients: 1 for a one-slot field;
   * 1/n or 1 for a list's present values, 0 for its empty positions), summed in float64 and stored as float32.
   */
  private gatherPooled(data: EncodedRows, fields: PooledFields, rows: number, rowOf: (i: number) => number): Float32Array {
    const { catSlots, catIndex, denseSlots, denseValue } = data;
    const { start, catFields } = fields;
    const D = this.inputDim;
    const d = this.d;
    const x0 = this.x0Buf.view(rows * D);
    const emb = this.embedding;
    if (this.coefBuf.length < rows * catSlots) this.coefBuf = new Float64Array(rows * catSlots);
    const coef = this.coefBuf;
    const acc = new Float64Array(d);
    for (let i = 0; i < rows; i++) {
      const r = rowOf(i);
      const rowAt = r * catSlots;
      const coefAt = i * catSlots;
      slotCoefficients(fields, catIndex, rowAt, coef.subarray(coefAt, coefAt + catSlots));
      let at = i * D;
      for (let f = 0; f < catFields; f++) {
        const s0 = start[f];
        const s1 = start[f + 1];
        if (s1 - s0 === 1) {
          const src = catIndex[rowAt + s0] * d;
          for (let c = 0; c < d; c++) x0[at++] = emb[src + c];
          continue;
        }
        acc.fill(0);
        for (let s = s0; s < s1; s++) {
          const a = coef[coefAt + s];
          if (a === 0) continue;
          const src = catIndex[rowAt + s] * d;
          for (let c = 0; c < d; c++) acc[c] += emb[src + c] * a;
        }
        for (let c = 0; c < d; c++) x0[at++] = acc[c];
      }
      for (let s = 0; s < denseSlots; s++) x0[at++] = denseValue[r * denseSlots + s];
    }
    return x0;
  }

  /** Adds each row's wide logit (the sum of its values' weights) to the deep part's. */
  private addWide(data: EncodedRows, rows: number, rowOf: (i: number) => number, logits: Float64Array): void {
    const { catSlots, catIndex } = data;
    for (let i = 0; i < rows; i++) {
      const r = rowOf(i);
      let s = 0;
      for (let k = 0; k < catSlots; k++) s += this.wide[catIndex[r * catSlots + k]];
      logits[i] += s;
    }
  }

  /**
   * The whole dense stack in one go where the kernels allow it (decided once): tfjs ops on tensors resident in wasm
   * memory on tfjs-wasm, two ONNX graphs a step on ONNX Runtime.
   */
  private async residentStack(): Promise<ResidentDenseStack | OnnxDenseStack | null> {
    if (this.resident !== undefined) return this.resident;
    const onnx = this.mm instanceof OnnxRuntimeKernels && this.mm.denseStack;
    if (!onnx && !(this.mm instanceof TfjsWasmKernels && this.mm.residentStack)) return (this.resident = null);
    const hidden: StackLayer[] = this.layers.slice(0, -1).map((layer) => {
      const n = layer.kind === 'lowRankCross' ? 3 : 2;
      return {
        kind: layer.kind as 'cross' | 'lowRankCross' | 'mlp',
        params: this.dense.slice(layer.at, layer.at + n),
        grads: this.grads.slice(layer.at, layer.at + n),
        inDim: layer.inDim,
        outDim: layer.outDim,
        rank: layer.rank,
      };
    });
    if (!hidden.length) return (this.resident = null);
    if (onnx) return (this.resident = await OnnxDenseStack.create(hidden, this.inputDim));
    return (this.resident = new ResidentDenseStack(await loadTfjsWasm(), hidden, this.inputDim));
  }

  /** Forward pass; keeps what backward needs. */
  private async forward(x0: Float32Array, rows: number, keep: boolean) {
    const resident = await this.residentStack();
    if (resident) {
      const width = this.layers[this.layers.length - 1].inDim;
      const h = await resident.forward(x0, rows, keep, this.residentOut.view(rows * width));
      return { xs: [], zs: [], projections: [], hs: [h], logits: this.outputLogits(h, rows) };
    }
    const D = this.inputDim;
    const xs: Float32Array[] = [x0];
    const zs: Float32Array[] = [];
    const projections: (Float32Array | undefined)[] = [];
    let x = x0;
    for (let l = 0; l < this.crossCount; l++) {
      const layer = this.layers[l];
      const p = layer.at;
      const out = this.crossOut[l].view(rows * D);
      if (!keep && layer.kind === 'cross') {
        x = await this.mm.crossLayer(x0, x, this.dense[p], this.dense[p + 1], rows, D, out);
      } else {
        // Training keeps z_l = t·W + b for the backward pass (t = x_l, or x_l·V at low rank, kept too).
        let t = x;
        let w = this.dense[p];
        let b = this.dense[p + 1];
        let projection: Float32Array | undefined;
        if (layer.kind === 'lowRankCross') {
          const r = layer.rank;
          projection = await this.mm.affine(x, this.dense[p], this.zeroRankBias, rows, D, r, false, this.crossProjection[l].view(rows * r));
          [t, w, b] = [projection, this.dense[p + 1], this.dense[p + 2]];
        }
        let z = this.crossZ[l].view(rows * D);
        const inDim = t.length / rows;
        if (this.mm.crossGated) {
          x = await this.mm.crossGated(t, w, b, x0, x, rows, inDim, D, keep ? z : null, out);
        } else {
          z = await this.mm.affine(t, w, b, rows, inDim, D, false, z);
          x = crossGate(x0, z, x, out);
        }
        zs.push(z);
        projections.push(projection);
      }
      xs.push(x);
    }
    const hs: Float32Array[] = [x];
    let h = x;
    for (let m = this.crossCount; m < this.layers.length - 1; m++) {
      const layer = this.layers[m];
      const out = this.hiddenOut[m - this.crossCount].view(rows * layer.outDim);
      h = await this.mm.affine(h, this.dense[layer.at], this.dense[layer.at + 1], rows, layer.inDim, layer.outDim, true, out);
      hs.push(h);
    }
    return { xs, zs, projections, hs, logits: this.outputLogits(h, rows) };
  }

  /** Output layer (outDim 1): a dot product per row, cheaper in a loop than a kernel launch. */
  private outputLogits(h: Float32Array, rows: number): Float64Array {
    const last = this.layers[this.layers.length - 1];
    const wo = this.dense[last.at];
    const bo = this.dense[last.at + 1][0];
    if (this.logitBuf.length < rows) this.logitBuf = new Float64Array(rows);
    const logits = this.logitBuf.subarray(0, rows);
    for (let r = 0; r < rows; r++) {
      let s = bo;
      for (let i = 0; i < last.inDim; i++) s += h[r * last.inDim + i] * wo[i];
      logits[r] = s;
    }
    return logits;
  }

  /**
   * Runs steps and predictions one at a time, in call order: they share the per-step buffers, and a caller may start
   * another before the last one's kernels have answered (e.g. a server scoring two requests with one model).
   */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const result = this.busy.then(run, run);
    this.busy = result.catch(() => undefined);
    return result;
  }

  trainStep(data: EncodedRows, order: Int32Array, start: number, end: number, lrScale: number): Promise<StepResult> {
    return this.exclusive(() => this.step(data, order, start, end, lrScale));
  }

  private async step(data: EncodedRows, order: Int32Array, start: number, end: number, lrScale: number): Promise<StepResult> {
    const rows = end - start;
    const D = this.inputDim;
    const d = this.d;
    const { catSlots, catIndex, labels } = data;
    const x0 = this.gather(data, rows, (i) => order[start + i]);
    const { xs, zs, projections, hs, logits } = await this.forward(x0, rows, true);
    this.addWide(data, rows, (i) => order[start + i], logits);

    let lossSum = 0;
    let weightSum = 0;
    const dLogit = this.dLogitBuf.view(rows);
    const { weights } = data;
    if (weights) {
      // Sample weights multiply each row's loss gradient here, before every backward product (the wide part, the
      // output layer, the kernels' dY·Wᵀ and Xᵀ·dY all start from dLogit), so no kernel needs to know about them.
      // The batch mean stays over rows (Σ w·loss / rows), not Σ w: the step size does not depend on the weights'
      // scale being normalised away, and weights all 1 give exactly the unweighted step.
      for (let r = 0; r < rows; r++) {
        const row = order[start + r];
        const y = labels[row];
        const w = weights[row];
        weightSum += w;
        if (w !== 0) lossSum += w * logitLoss(logits[r], y);
        dLogit[r] = ((sigmoid(logits[r]) - y) * w) / rows;
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const y = labels[order[start + r]];
        lossSum += logitLoss(logits[r], y);
        dLogit[r] = (sigmoid(logits[r]) - y) / rows; // gradient of the batch-mean loss
      }
    }
    if (!Number.isFinite(lossSum)) return { lossSum: NaN, gradNorm: NaN };
    // The wide part learns per example (AdaGrad on the unaveraged gradient, as fm's linear weights do).
    const wideLr = WIDE_LEARNING_RATE * lrScale;
    for (let r = 0; r < rows; r++) {
      const g = dLogit[r] * rows;
      const row = order[start + r];
      for (let s = 0; s < catSlots; s++) {
        const i = catIndex[row * catSlots + s];
        this.wideG[i] += g * g;
        this.wide[i] -= (wideLr * g) / Math.sqrt(this.wideG[i]);
      }
    }

    const grads = this.grads;
    for (const layer of this.layers) grads[layer.at + (layer.kind === 'lowRankCross' ? 2 : 1)].fill(0); // biases
    // Output layer.
    const last = this.layers[this.layers.length - 1];
    const hLast = hs[hs.length - 1];
    const gwo = grads[last.at].fill(0);
    const gbo = grads[last.at + 1];
    const wo = this.dense[last.at];
    const dh = this.dhBuf.view(rows * last.inDim);
    for (let r = 0; r < rows; r++) {
      const g = dLogit[r];
      gbo[0] += g;
      for (let i = 0; i < last.inDim; i++) {
        gwo[i] += hLast[r * last.inDim + i] * g;
        dh[r * last.inDim + i] = g * wo[i];
      }
    }
    const dx0 = this.dx0Buf.view(rows * D);
    if (this.resident instanceof OnnxDenseStack) {
      await this.resident.backward(dh, x0, hs[0], rows, dx0);
    } else if (this.resident) {
      this.resident.backward(dh, rows, dx0);
    } else {
      await this.loopBackward(xs, zs, projections, hs, dh, x0, dx0, rows);
    }

    // Scatter x0's embedding part into per-row embedding gradients (only touched rows, packed: see `touched`).
    let touchedCount = 0;
    if (this.touched.length < rows * catSlots) {
      this.touched = new Int32Array(rows * catSlots);
      this.touchedGrad = new Float32Array(rows * catSlots * d);
    }
    const { touched, touchedGrad, slotOf } = this;
    const fields = this.fields;
    for (let i = 0; i < rows; i++) {
      const r = order[start + i];
      for (let s = 0; s < catSlots; s++) {
        // With lists, a slot's gradient is its coefficient times its field's (an empty position has none: untouched).
        const a = fields ? this.coefBuf[i * catSlots + s] : 1;
        if (a === 0) continue;
        const t = catIndex[r * catSlots + s];
        let at = slotOf[t];
        if (at >= touchedCount || touched[at] !== t) {
          at = touchedCount++;
          slotOf[t] = at;
          touched[at] = t;
          touchedGrad.fill(0, at * d, at * d + d);
        }
        const base = at * d;
        if (!fields) {
          const src = i * D + s * d;
          for (let c = 0; c < d; c++) touchedGrad[base + c] += dx0[src + c];
        } else {
          const src = i * D + fields.fieldOf[s] * d;
          for (let c = 0; c < d; c++) touchedGrad[base + c] += a * dx0[src + c];
        }
      }
    }

    // L2, gradient norm, clipping.
    const l2 = this.config.l2;
    let sq = 0;
    for (let k = 0; k < grads.length; k++) {
      const g = grads[k];
      const w = this.dense[k];
      for (let i = 0; i < g.length; i++) {
        if (l2 > 0) g[i] += l2 * w[i];
        sq += g[i] * g[i];
      }
    }
    for (let j = 0; j < touchedCount; j++) {
      const base = touched[j] * d;
      for (let c = 0, g = j * d; c < d; c++, g++) {
        if (l2 > 0) touchedGrad[g] += l2 * this.embedding[base + c];
        sq += touchedGrad[g] ** 2;
      }
    }
    const gradNorm = Math.sqrt(sq);
    if (!Number.isFinite(gradNorm)) return weights ? { lossSum, gradNorm, weightSum } : { lossSum, gradNorm };
    const clip = this.config.gradientClip;
    const scale = clip !== undefined && gradNorm > clip ? clip / gradNorm : 1;

    // Adam.
    this.adamStep++;
    const t = this.adamStep;
    const lr = (this.config.learningRate * lrScale * Math.sqrt(1 - ADAM_BETA2 ** t)) / (1 - ADAM_BETA1 ** t);
    for (let k = 0; k < grads.length; k++) adamRange(this.dense[k], this.denseM[k], this.denseV[k], grads[k], 0, grads[k].length, scale, lr);
    adamRows(this.embedding, this.embM, this.embV, touchedGrad, touched, touchedCount, d, scale, lr);
    return weights ? { lossSum, gradNorm, weightSum } : { lossSum, gradNorm };
  }

  /** Backward through the MLP and cross layers product by product (the path without a resident stack). */
  private async loopBackward(
    xs: Float32Array[],
    zs: Float32Array[],
    projections: (Float32Array | undefined)[],
    hs: Float32Array[],
    dhOut: Float32Array,
    x0: Float32Array,
    dx0: Float32Array,
    rows: number,
  ): Promise<void> {
    const D = this.inputDim;
    const grads = this.grads;
    let dh = dhOut;
    // Hidden ReLU layers, last to first.
    for (let m = hs.length - 1; m >= 1; m--) {
      const layer = this.layers[this.crossCount + m - 1];
      const p = layer.at;
      const out = hs[m];
      reluBackward(dh, out);
      grads[p] = await this.mm.weightGradient(hs[m - 1], dh, rows, layer.inDim, layer.outDim, grads[p]);
      const db = grads[p + 1];
      for (let r = 0; r < rows; r++) for (let j = 0; j < layer.outDim; j++) db[j] += dh[r * layer.outDim + j];
      dh = await this.mm.inputGradient(dh, this.dense[p], rows, layer.inDim, layer.outDim, this.hiddenBack[m % 2].view(rows * layer.inDim));
    }
    // Cross layers, last to first: x_{l+1} = x0 ⊙ z_l + x_l, z_l = x_l·W_l + b_l (W_l = V_l·U_l at low rank).
    let dx: Float32Array = dh;
    dx0.fill(0);
    const dz = this.dzBuf.view(rows * D);
    for (let l = this.crossCount - 1; l >= 0; l--) {
      const layer = this.layers[l];
      const p = layer.at;
      const z = zs[l];
      const db = grads[layer.kind === 'lowRankCross' ? p + 2 : p + 1];
      crossGateBackward(dx, x0, z, dz, dx0, db, rows, D);
      const backOut = this.crossBack[l % 2].view(rows * D);
      // dx_l = (the product's input gradient) + dx_{l+1}: the residual path's gradient added on the way.
      if (layer.kind === 'cross') {
        grads[p] = await this.mm.weightGradient(xs[l], dz, rows, D, D, grads[p]);
        dx = await this.inputGradientPlus(dz, this.dense[p], dx, rows, D, D, backOut);
      } else {
        // z = t·U + b with t = x·V: dU = tᵀ·dz, dt = dz·Uᵀ, dV = xᵀ·dt, dx = dt·Vᵀ.
        const r = layer.rank;
        grads[p + 1] = await this.mm.weightGradient(projections[l]!, dz, rows, r, D, grads[p + 1]);
        const dt = await this.mm.inputGradient(dz, this.dense[p + 1], rows, r, D, this.dtBuf.view(rows * r));
        grads[p] = await this.mm.weightGradient(xs[l], dt, rows, D, r, grads[p]);
        dx = await this.inputGradientPlus(dt, this.dense[p], dx, rows, D, r, backOut);
      }
    }
    addInto(dx0, dx);
  }

  /** dy·Wᵀ + addend into `out` (fused into the product's read-out where the kernels can). */
  private async inputGradientPlus(
    dy: Float32Array,
    w: Float32Array,
    addend: Float32Array,
    rows: number,
    inDim: number,
    outDim: number,
    out: Float32Array,
  ) {
    if (this.mm.inputGradientPlus) return this.mm.inputGradientPlus(dy, w, addend, rows, inDim, outDim, out);
    return addInto(await this.mm.inputGradient(dy, w, rows, inDim, outDim, out), addend);
  }

  predict(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void> {
    return this.exclusive(() => this.score(data, start, end, out));
  }

  private async score(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void> {
    const resident = await this.residentStack();
    // tfjs-wasm keeps uploaded weights for the scoring batches; ONNX Runtime reads them where they are.
    const held = resident instanceof ResidentDenseStack ? resident : null;
    held?.holdWeights();
    try {
      for (let from = start; from < end; from += SCORE_BATCH) {
        const to = Math.min(end, from + SCORE_BATCH);
        const x0 = this.gather(data, to - from, (i) => from + i);
        const { logits } = await this.forward(x0, to - from, false);
        this.addWide(data, to - from, (i) => from + i, logits);
        for (let r = 0; r < to - from; r++) out[from + r] = sigmoid(logits[r]);
      }
    } finally {
      held?.releaseWeights();
    }
  }

  stateTensors(): Record<string, Tensor> {
    const t: Record<string, Tensor> = { embedding: this.embedding, embM: this.embM, embV: this.embV, wide: this.wide, wideG: this.wideG };
    this.dense.forEach((w, k) => {
      t[`p${k}`] = w;
      t[`m${k}`] = this.denseM[k];
      t[`v${k}`] = this.denseV[k];
    });
    return t;
  }

  weightTensors(): Record<string, Tensor> {
    const t: Record<string, Tensor> = { embedding: this.embedding, wide: this.wide };
    this.dense.forEach((w, k) => (t[`p${k}`] = w));
    return t;
  }

  scalars(): Record<string, number> {
    return { adamStep: this.adamStep };
  }

  loadState(t: Record<string, Tensor>, scalars: Record<string, number>): void {
    this.loadWeights(t);
    this.embM.set(t.embM as Float32Array);
    this.embV.set(t.embV as Float32Array);
    if (t.wideG) this.wideG.set(t.wideG as Float32Array);
    this.dense.forEach((_, k) => {
      this.denseM[k].set(t[`m${k}`] as Float32Array);
      this.denseV[k].set(t[`v${k}`] as Float32Array);
    });
    this.adamStep = scalars.adamStep;
  }

  loadWeights(t: Record<string, Tensor>): void {
    this.embedding.set(t.embedding as Float32Array);
    // Artifacts from before the wide part have none: their weights stay zero, so they score as they were trained.
    if (t.wide) this.wide.set(t.wide as Float32Array);
    this.dense.forEach((w, k) => w.set(t[`p${k}`] as Float32Array));
  }
}

function adamRange(w: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, from: number, to: number, scale: number, lr: number): void {
  for (let i = from; i < to; i++) {
    const gi = g[i] * scale;
    // The moments as stored (float32), kept in locals: the same numbers as reading m[i] and v[i] back, without the
    // reload after the store (measured ~30% of this loop).
    const mi = Math.fround(ADAM_BETA1 * m[i] + (1 - ADAM_BETA1) * gi);
    const vi = Math.fround(ADAM_BETA2 * v[i] + (1 - ADAM_BETA2) * gi * gi);
    m[i] = mi;
    v[i] = vi;
    w[i] -= (lr * mi) / (Math.sqrt(vi) + ADAM_EPS);
  }
}

/**
 * Lazy Adam on the embedding rows a step touched: adamRange's arithmetic, in the same order, on rows touched[0..count)
 * of width d, whose gradients lie packed in g (row j's at j·d).
 */
function adamRows(
  w: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  touched: Int32Array,
  count: number,
  d: number,
  scale: number,
  lr: number,
): void {
  for (let j = 0, k = 0; j < count; j++) {
    const base = touched[j] * d;
    for (let i = base; i < base + d; i++, k++) {
      const gi = g[k] * scale;
      const mi = Math.fround(ADAM_BETA1 * m[i] + (1 - ADAM_BETA1) * gi);
      const vi = Math.fround(ADAM_BETA2 * v[i] + (1 - ADAM_BETA2) * gi * gi);
      m[i] = mi;
      v[i] = vi;
      w[i] -= (lr * mi) / (Math.sqrt(vi) + EMBEDDING_ADAM_EPS);
    }
  }
}

/** n values uniform in (−scale, scale) from rng. */
function uniform(n: number, scale: number, rng: SeededRandom): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = (rng.next() * 2 - 1) * scale;
  return w;
}

/** The cross layer's gating, x_{l+1} = x0 ⊙ z + x_l, into `next`. Small functions: V8 optimises them on their own. */
function crossGate(x0: Float32Array, z: Float32Array, x: Float32Array, next: Float32Array): Float32Array {
  for (let i = 0; i < next.length; i++) next[i] = x0[i] * z[i] + x[i];
  return next;
}

/** Backward of the gating, one pass: dz = dx ⊙ x0, dx0 += dx ⊙ z, db += Σ_rows dz. */
function crossGateBackward(
  dx: Float32Array,
  x0: Float32Array,
  z: Float32Array,
  dz: Float32Array,
  dx0: Float32Array,
  db: Float32Array,
  rows: number,
  width: number,
): void {
  for (let r = 0, i = 0; r < rows; r++) {
    for (let j = 0; j < width; j++, i++) {
      const g = dx[i];
      const gz = Math.fround(g * x0[i]);
      dz[i] = gz;
      dx0[i] += g * z[i];
      db[j] += gz;
    }
  }
}

/** ReLU's derivative applied to dh in place: zero where the layer's output was not positive. */
function reluBackward(dh: Float32Array, out: Float32Array): void {
  for (let i = 0; i < dh.length; i++) if (out[i] <= 0) dh[i] = 0;
}

/** a += b element-wise; returns a. */
function addInto(a: Float32Array, b: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
  return a;
}
