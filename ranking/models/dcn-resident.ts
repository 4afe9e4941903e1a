/**
 * The DCN's dense stack (cross layers and ReLU MLP, not the 1-wide output layer) as tfjs-wasm ops on tensors that stay
 * in wasm memory for the whole step: x0 goes in once, the hidden layer's output and, after the backward pass, x0's
 * gradient and the weight gradients come out; everything between (x0 ⊙ z + x_l, dz = dx ⊙ x0, the residual adds,
 * ReLU masks, bias sums, transposes) runs as wasm kernels instead of TypeScript loops over read-out copies. Why
 * (bench/results/dense.md, last section): on the 2-core bench machine V8's typed-array loops cost ~1.5–2 ns per value
 * touched, and a low-rank step touched ~50 values per x0 value in them, as much CPU as its matrix products.
 *
 * The arithmetic is float32 throughout (the loops computed x0·z + x in float64 and rounded once, and summed bias
 * gradients in float64 per row), so its numbers differ from DeepCrossNetwork's loop path in the last bits; the loop
 * path stays for the other kernels and as the reference (test/ranking/dcn-resident.test.ts compares the two).
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { loadTfjsWasm } from '../kernels';

type Tf = Awaited<ReturnType<typeof loadTfjsWasm>>;

/** A layer of the stack and its parameters (the model's own arrays, read at each step). */
export interface StackLayer {
  kind: 'cross' | 'lowRankCross' | 'mlp';
  /** cross: [W (D×D), b]; lowRankCross: [V (D×r), U (r×D), b]; mlp: [W (in×out), b]. */
  params: Float32Array[];
  /** Where the layer's gradients go, one per param, same shapes. */
  grads: Float32Array[];
  inDim: number;
  outDim: number;
  rank: number;
}

/** What one training forward pass keeps for the backward pass (disposed at the end of the step). */
interface Kept {
  x0: Tensor;
  /** Per layer: its input, its product input t (x·V at low rank), its z (cross) or output (mlp). */
  inputs: Tensor[];
  ts: (Tensor | null)[];
  outs: Tensor[];
  weights: Tensor[][];
}

export class ResidentDenseStack {
  private kept: Kept | null = null;
  /**
   * Weights uploaded once for a run of scoring passes (holdWeights … releaseWeights): the parameters do not change
   * between them, and a weight tensor XNNPACK has seen keeps its packed copy (tfjs-wasm caches the product's operator
   * by its B tensor), so each batch after the first skips both the upload and the packing.
   */
  private held: Tensor[][] | null = null;

  constructor(
    private readonly tf: Tf,
    private readonly layers: readonly StackLayer[],
    private readonly inputDim: number,
  ) {}

  /** The layers' weights (not biases) as tensors, and the biases as 1-D tensors, uploaded once per pass. */
  private upload(): Tensor[][] {
    const tf = this.tf;
    return this.layers.map((layer) => {
      const p = layer.params;
      if (layer.kind === 'lowRankCross')
        return [tf.tensor2d(p[0], [layer.inDim, layer.rank]), tf.tensor2d(p[1], [layer.rank, layer.outDim]), tf.tensor1d(p[2])];
      return [tf.tensor2d(p[0], [layer.inDim, layer.outDim]), tf.tensor1d(p[1])];
    });
  }

  /**
   * Runs the stack on x0 (rows × inputDim) and copies the last layer's output into `out` (rows × its width). With
   * `keep`, holds what backward needs until backward (or the next forward) releases it.
   */
  forward(x0Values: Float32Array, rows: number, keep: boolean, out: Float32Array): Float32Array {
    const tf = this.tf;
    this.release();
    const weights = !keep && this.held ? this.held : this.upload();
    const kept: Kept = { x0: tf.tensor2d(x0Values, [rows, this.inputDim]), inputs: [], ts: [], outs: [], weights };
    let x = kept.x0;
    this.layers.forEach((layer, l) => {
      const w = kept.weights[l];
      let next: Tensor;
      // Bias and ReLU run inside XNNPACK's product (tfjs's fused matMul): no pass of their own.
      if (layer.kind === 'mlp') {
        next = tf.fused.matMul({ a: x, b: w[0], bias: w[1], activation: 'relu' });
        kept.ts.push(null);
        kept.outs.push(next);
      } else {
        const t = layer.kind === 'lowRankCross' ? tf.matMul(x, w[0]) : null;
        const z = tf.fused.matMul({ a: t ?? x, b: w[layer.kind === 'lowRankCross' ? 1 : 0], bias: w[w.length - 1] });
        next = tf.tidy(() => tf.add(tf.mul(kept.x0, z), x));
        kept.ts.push(t);
        kept.outs.push(z);
      }
      kept.inputs.push(x);
      x = next;
    });
    out.set(heapView(tf, x));
    if (keep) {
      kept.inputs.push(x);
      this.kept = kept;
    } else {
      disposeKept(kept, weights !== this.held);
      x.dispose();
    }
    return out;
  }

  /** Uploads the weights for the scoring passes that follow, until releaseWeights (training passes upload their own). */
  holdWeights(): void {
    this.releaseWeights();
    this.held = this.upload();
  }

  releaseWeights(): void {
    for (const t of this.held?.flat() ?? []) t.dispose();
    this.held = null;
  }

  /**
   * Back-propagates dh (the last layer's output gradient, rows × its width) through the stack kept by the last
   * forward: writes each layer's gradients into its `grads` arrays and x0's gradient into `dx0` (rows × inputDim).
   */
  backward(dhValues: Float32Array, rows: number, dx0Out: Float32Array): Float32Array {
    const tf = this.tf;
    const kept = this.kept;
    if (!kept) throw new Error('ResidentDenseStack.backward without a kept forward pass');
    tf.tidy(() => {
      const ones = tf.ones([1, rows]) as Tensor;
      const last = this.layers[this.layers.length - 1];
      let dx = tf.tensor2d(dhValues, [rows, last.outDim]);
      let dx0: Tensor | null = null;
      for (let l = this.layers.length - 1; l >= 0; l--) {
        const layer = this.layers[l];
        const w = kept.weights[l];
        const x = kept.inputs[l];
        if (layer.kind === 'mlp') {
          const dy = tf.mul(dx, tf.step(kept.outs[l]));
          this.readGrad(layer, 0, tf.matMul(tf.transpose(x), dy));
          this.readGrad(layer, 1, tf.matMul(ones, dy));
          dx = tf.matMul(dy, tf.transpose(w[0]));
          continue;
        }
        // x_{l+1} = x0 ⊙ z + x_l: dz = dx ⊙ x0, dx0 += dx ⊙ z, and dx flows on to x_l through the residual.
        const dz = tf.mul(dx, kept.x0);
        const viaZ = tf.mul(dx, kept.outs[l]);
        dx0 = dx0 ? tf.add(dx0, viaZ) : viaZ;
        this.readGrad(layer, layer.params.length - 1, tf.matMul(ones, dz));
        let back: Tensor;
        if (layer.kind === 'cross') {
          this.readGrad(layer, 0, tf.matMul(tf.transpose(x), dz));
          back = tf.matMul(dz, tf.transpose(w[0]));
        } else {
          // z = t·U + b with t = x·V: dU = tᵀ·dz, dt = dz·Uᵀ, dV = xᵀ·dt, dx = dt·Vᵀ.
          this.readGrad(layer, 1, tf.matMul(tf.transpose(kept.ts[l]!), dz));
          const dt = tf.matMul(dz, tf.transpose(w[1]));
          this.readGrad(layer, 0, tf.matMul(tf.transpose(x), dt));
          back = tf.matMul(dt, tf.transpose(w[0]));
        }
        dx = tf.add(back, dx);
      }
      dx0Out.set(heapView(tf, dx0 ? tf.add(dx0, dx) : dx));
    });
    this.release();
    return dx0Out;
  }

  private readGrad(layer: StackLayer, k: number, g: Tensor): void {
    layer.grads[k].set(heapView(this.tf, g));
  }

  /** Frees what the last training forward kept (a forward without backward, e.g. a step that stopped on a NaN loss). */
  release(): void {
    if (this.kept) disposeKept(this.kept);
    this.kept = null;
  }
}

function disposeKept(k: Kept, weightsToo = true): void {
  k.x0.dispose();
  for (const t of [...k.inputs, ...k.outs, ...k.ts, ...(weightsToo ? k.weights.flat() : [])]) t?.dispose();
}

/** The tensor's values where they lie in wasm memory (valid until the next tfjs allocation: copy out at once). */
function heapView(tf: Tf, t: Tensor): Float32Array {
  const backend = tf.backend() as { typedArrayFromHeap?: (t: Tensor) => Float32Array };
  return backend.typedArrayFromHeap ? backend.typedArrayFromHeap(t) : (t.dataSync() as Float32Array);
}
