/**
 * The interface the models use for dense batched work. Two implementations: the reference twins (plain TS) and
 * gpu.js kernels on the selected backend. Every method returns a Promise so threaded webasm and webgpu kernels
 * (both asynchronous) fit the same call sites, and so training yields to the event loop between kernels.
 */
export interface DenseKernels {
  /** The backend that actually runs the kernels ('reference' for the twins). */
  readonly backend: string;
  affine(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number, relu: boolean): Promise<Float32Array>;
  crossLayer(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number): Promise<Float32Array>;
  inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number): Promise<Float32Array>;
  weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number): Promise<Float32Array>;
  fmInteraction(e: Float32Array, rows: number, fields: number, dim: number): Promise<Float32Array>;
  destroy(): void;
}
