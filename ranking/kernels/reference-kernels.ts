import type { DenseKernels } from './dense-kernels';
import { affineReference, crossLayerReference, fmInteractionReference, inputGradientReference, weightGradientReference } from './reference';

/** The reference twins behind the DenseKernels interface (the baseline every benchmark compares against). */
export class ReferenceKernels implements DenseKernels {
  readonly backend = 'reference';
  async affine(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number, relu: boolean) {
    return affineReference(x, w, b, rows, inDim, outDim, relu);
  }
  async crossLayer(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number) {
    return crossLayerReference(x0, xl, w, b, rows, dim);
  }
  async inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number) {
    return inputGradientReference(dy, w, rows, inDim, outDim);
  }
  async weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number) {
    return weightGradientReference(x, dy, rows, inDim, outDim);
  }
  async fmInteraction(e: Float32Array, rows: number, fields: number, dim: number) {
    return fmInteractionReference(e, rows, fields, dim);
  }
  destroy(): void {}
}
