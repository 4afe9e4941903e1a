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
  destroy(): void;
}
