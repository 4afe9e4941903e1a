import type { DenseKernels } from './dense-kernels';
import { fmInteractionReference } from './reference';
import { gemm, gemmTN, transpose } from './tiled';

/**
 * The dense kernels as tiled float32 matrix products in plain TypeScript (./tiled.ts): one batched product per layer
 * and direction (X·W, dY·Wᵀ, Xᵀ·dY), no kernel launch, no copies. A CPU backend that needs nothing installed.
 */
export class TiledKernels implements DenseKernels {
  readonly backend: string = 'tiled';
  /** Transposed-operand scratch (Wᵀ for input gradients, xᵀ for weight gradients), grown to the largest call. */
  private scratch = new Float32Array(0);

  private scratchOf(n: number): Float32Array {
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    return this.scratch;
  }

  async affine(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number, relu: boolean) {
    const y = gemm(x, w, b, rows, inDim, outDim, new Float32Array(rows * outDim));
    if (relu) for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
    return y;
  }

  async crossLayer(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number) {
    const y = gemm(xl, w, b, rows, dim, dim, new Float32Array(rows * dim));
    for (let i = 0; i < y.length; i++) y[i] = x0[i] * y[i] + xl[i];
    return y;
  }

  async inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number) {
    const wt = transpose(w, inDim, outDim, this.scratchOf(inDim * outDim));
    return gemm(dy, wt, null, rows, outDim, inDim, new Float32Array(rows * inDim));
  }

  async weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number) {
    return gemmTN(x, dy, rows, inDim, outDim, new Float32Array(inDim * outDim), this.scratchOf(rows * inDim));
  }

  async fmInteraction(e: Float32Array, rows: number, fields: number, dim: number) {
    // Memory-bound (O(fields·dim) per row, nothing to reuse across a tile): the reference loop is the whole job.
    return fmInteractionReference(e, rows, fields, dim);
  }

  destroy(): void {
    this.scratch = new Float32Array(0);
  }
}
