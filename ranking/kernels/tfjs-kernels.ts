import * as path from 'node:path';
import type { DenseKernels } from './dense-kernels';
import { fmInteractionReference } from './reference';
import { transpose } from './tiled';

/**
 * The dense kernels on TensorFlow.js's WebAssembly backend (`@tensorflow/tfjs-backend-wasm`: XNNPACK's SIMD matrix
 * products, compiled ahead of time, shipped as .wasm files in the package). On a CPU it multiplies DCN's shapes
 * several times faster than gpu.js webasm or tiled TypeScript (bench/dense.ts measures all of them in one run),
 * because its inner loops are hand-tuned f32x4 micro-kernels that neither gpu.js's generated code nor V8's scalar
 * JIT reach. It is optional: the packages are loaded on first use, and `tfjsWasmAvailable()` says whether they are
 * installed, so the engine falls back to TiledKernels without them (kernels/index.ts).
 *
 * Every product is one batched call per layer and direction (X·W, dY·Wᵀ, Xᵀ·dY);
 * inputs are copied into wasm memory and the result read out of it into the caller's buffer (see resultOf); every
 * tensor is disposed before the call returns, so nothing leaks.
 */

// The packages' types are only needed here; loading them lazily keeps them optional at run time.
type Tf = typeof import('@tensorflow/tfjs-core');

let loading: Promise<Tf> | null = null;

/** Whether the tfjs packages can be loaded in this process (devDependencies: absent from a production install). */
export function tfjsWasmAvailable(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-core');
    require.resolve('@tensorflow/tfjs-backend-wasm');
    return true;
  } catch {
    return false;
  }
}

/** Loads tfjs-core with the wasm backend active (once per process: tfjs's backend registry is global). */
export function loadTfjsWasm(): Promise<Tf> {
  if (!loading) {
    loading = (async () => {
      const tf: Tf = await import('@tensorflow/tfjs-core');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // The .wasm binaries ship in the package's dist/: point the loader there so nothing is fetched.
      wasm.setWasmPaths(`${path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}${path.sep}`);
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs-backend-wasm did not initialise');
      await tf.ready();
      return tf;
    })();
  }
  return loading;
}

export class TfjsWasmKernels implements DenseKernels {
  readonly backend = 'tfjs-wasm';
  /**
   * Whether a DCN on these kernels runs its dense stack as tfjs ops on tensors kept in wasm memory for the step
   * (ranking/models/dcn-resident.ts) instead of one product at a time through this interface with TypeScript loops
   * between them. On by default; off leaves the interface path, which tests compare it with.
   */
  readonly residentStack: boolean;

  constructor(opts: { residentStack?: boolean } = {}) {
    this.residentStack = opts.residentStack ?? true;
  }
  /**
   * Transposed-operand scratch. matMul's transpose flags take tfjs-wasm off its fast path: measured on DCN's
   * 256×312·312×312 shapes, dY·Wᵀ with transposeB ran ~5× slower than the plain product; transposing W (or x) in
   * TypeScript costs O(dim²) (or O(rows·dim)) against the product's O(rows·dim²), so the backward products run
   * as plain A·B too.
   */
  private scratch = new Float32Array(0);

  private scratchOf(n: number): Float32Array {
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    return this.scratch;
  }

  // Bias, ReLU and the cross gating run in one TypeScript pass over the product as it is read out of wasm memory: a
  // tfjs op each would allocate a tensor in wasm memory and walk the output again (measured: the interface cost ~2× raw
  // matMul on DCN's shapes with them as tfjs ops).
  async affine(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number, relu: boolean, out?: Float32Array) {
    const tf = await loadTfjsWasm();
    const t = tf.tidy(() => tf.matMul(tf.tensor2d(x, [rows, inDim]), tf.tensor2d(w, [inDim, outDim])));
    try {
      const p = resultOf(tf, t);
      const y = out ?? new Float32Array(rows * outDim);
      for (let r = 0, at = 0; r < rows; r++) {
        for (let j = 0; j < outDim; j++, at++) {
          const v = p[at] + b[j];
          y[at] = relu && v < 0 ? 0 : v;
        }
      }
      return y;
    } finally {
      t.dispose();
    }
  }

  async crossLayer(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number, out?: Float32Array) {
    const tf = await loadTfjsWasm();
    const t = tf.tidy(() => tf.matMul(tf.tensor2d(xl, [rows, dim]), tf.tensor2d(w, [dim, dim])));
    try {
      const p = resultOf(tf, t);
      const y = out ?? new Float32Array(rows * dim);
      for (let r = 0, at = 0; r < rows; r++) for (let j = 0; j < dim; j++, at++) y[at] = x0[at] * (p[at] + b[j]) + xl[at];
      return y;
    } finally {
      t.dispose();
    }
  }

  async crossGated(
    t: Float32Array,
    w: Float32Array,
    b: Float32Array,
    x0: Float32Array,
    xl: Float32Array,
    rows: number,
    inDim: number,
    dim: number,
    z: Float32Array | null,
    out: Float32Array,
  ) {
    const tf = await loadTfjsWasm();
    const product = tf.tidy(() => tf.matMul(tf.tensor2d(t, [rows, inDim]), tf.tensor2d(w, [inDim, dim])));
    try {
      const p = resultOf(tf, product);
      // z rounded to float32 before the gating, as a stored z would be (training's backward pass reads that one).
      if (z) {
        for (let r = 0, at = 0; r < rows; r++) {
          for (let j = 0; j < dim; j++, at++) {
            const zi = Math.fround(p[at] + b[j]);
            z[at] = zi;
            out[at] = x0[at] * zi + xl[at];
          }
        }
      } else {
        for (let r = 0, at = 0; r < rows; r++) for (let j = 0; j < dim; j++, at++) out[at] = x0[at] * Math.fround(p[at] + b[j]) + xl[at];
      }
      return out;
    } finally {
      product.dispose();
    }
  }

  async inputGradientPlus(dy: Float32Array, w: Float32Array, addend: Float32Array, rows: number, inDim: number, outDim: number, out: Float32Array) {
    const tf = await loadTfjsWasm();
    const wt = transpose(w, inDim, outDim, this.scratchOf(inDim * outDim));
    const product = tf.tidy(() => tf.matMul(tf.tensor2d(dy, [rows, outDim]), tf.tensor2d(wt.subarray(0, inDim * outDim), [outDim, inDim])));
    try {
      const p = resultOf(tf, product);
      for (let i = 0; i < rows * inDim; i++) out[i] = p[i] + addend[i];
      return out;
    } finally {
      product.dispose();
    }
  }

  async inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number, out?: Float32Array) {
    const tf = await loadTfjsWasm();
    const wt = transpose(w, inDim, outDim, this.scratchOf(inDim * outDim));
    return copyOut(
      tf,
      tf.tidy(() => tf.matMul(tf.tensor2d(dy, [rows, outDim]), tf.tensor2d(wt.subarray(0, inDim * outDim), [outDim, inDim]))),
      out,
    );
  }

  async weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number, out?: Float32Array) {
    const tf = await loadTfjsWasm();
    const xt = transpose(x, rows, inDim, this.scratchOf(rows * inDim));
    return copyOut(
      tf,
      tf.tidy(() => tf.matMul(tf.tensor2d(xt.subarray(0, rows * inDim), [inDim, rows]), tf.tensor2d(dy, [rows, outDim]))),
      out,
    );
  }

  async fmInteraction(e: Float32Array, rows: number, fields: number, dim: number) {
    // Memory-bound and O(fields·dim) per row: copying into wasm memory would cost as much as the loop.
    return fmInteractionReference(e, rows, fields, dim);
  }

  destroy(): void {
    /* tidy already released every tensor; the backend stays loaded for the process */
  }
}

type TfTensor = import('@tensorflow/tfjs-core').Tensor;

/**
 * The tensor's values where they lie: a view of wasm memory (BackendWasm.typedArrayFromHeap), valid only until the
 * next tfjs allocation, so callers copy out of it at once. readSync/dataSync would first copy the values into a new
 * array of their own, an allocation per product that the garbage collector then has to reclaim.
 */
function resultOf(tf: Tf, t: TfTensor): Float32Array {
  const backend = tf.backend() as { typedArrayFromHeap?: (t: TfTensor) => Float32Array };
  return backend.typedArrayFromHeap ? backend.typedArrayFromHeap(t) : (t.dataSync() as Float32Array);
}

/** Copies the tensor's values into `out` (or a new array) and disposes the tensor. */
function copyOut(tf: Tf, t: TfTensor, out?: Float32Array): Float32Array {
  try {
    const p = resultOf(tf, t);
    if (!out) return p.slice();
    out.set(p);
    return out;
  } finally {
    t.dispose();
  }
}
