/**
 * The interface the models use for dense batched work. Two implementations: the reference twins (plain TS) and
 * gpu.js kernels on the selected backend. Every method returns a Promise so threaded webasm and webgpu kernels
 * (both asynchronous) fit the same call sites, and so training yields to the event loop between kernels.
 */
export interface DenseKernels {
  /** The backend that actually runs the kernels ('reference' for the twins). */
  readonly backend: string;
  // `out`, where given (rows × outDim, or inDim × outDim for weightGradient), is a buffer of the caller's that an
  // implementation may write the result into and return, so a training step allocates no arrays; one that does not use
  // it returns a new array. Callers take the returned array either way. `out` must not alias an input.
  affine(
    x: Float32Array,
    w: Float32Array,
    b: Float32Array,
    rows: number,
    inDim: number,
    outDim: number,
    relu: boolean,
    out?: Float32Array,
  ): Promise<Float32Array>;
  crossLayer(
    x0: Float32Array,
    xl: Float32Array,
    w: Float32Array,
    b: Float32Array,
    rows: number,
    dim: number,
    out?: Float32Array,
  ): Promise<Float32Array>;
  inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number, out?: Float32Array): Promise<Float32Array>;
  weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number, out?: Float32Array): Promise<Float32Array>;
  fmInteraction(e: Float32Array, rows: number, fields: number, dim: number): Promise<Float32Array>;
  // Optional fused forms, for an implementation that reads each product out of its own memory (tfjs-wasm): the
  // elementwise work a DCN layer does next runs in that same pass instead of one more walk over rows × dim values each.
  // A caller without them runs the plain product and its own loop, with the same arithmetic (so the same bits).
  /**
   * A cross layer's forward from its product's input t (rows × inDim: x_l at full rank, x_l·V at low rank):
   * z = t·W + b stored as float32 (into `z` where given: training keeps it for the backward pass), and
   * x_{l+1} = x0 ⊙ z + x_l into `out`, returned. Neither may alias an input.
   */
  crossGated?(
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
  ): Promise<Float32Array>;
  /** dy·Wᵀ + addend (rows × inDim) into `out`, returned: a layer's input gradient plus the residual path's. */
  inputGradientPlus?(
    dy: Float32Array,
    w: Float32Array,
    addend: Float32Array,
    rows: number,
    inDim: number,
    outDim: number,
    out: Float32Array,
  ): Promise<Float32Array>;
  destroy(): void;
}
