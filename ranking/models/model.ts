import type { ModelConfig, ModelFamily } from '../../contracts';
import type { EncodedRows } from '../features';

export type Tensor = Float32Array | Float64Array | Int32Array;

export interface StepResult {
  /**
   * Sum of per-example log loss of the batch, computed before the update (progressive validation); with sample
   * weights, Σ w·loss.
   */
  lossSum: number;
  /** With sample weights only: Σ w of the batch's rows (what lossSum is a sum over; without weights, the row count). */
  weightSum?: number;
  /** Norm of the step's gradient (see each family for exactly which gradient). */
  gradNorm: number;
}

/**
 * What the trainer needs from a model family. All state lives in named tensors plus a few scalars, so one
 * serialiser handles checkpoints (`stateTensors`: weights + optimizer state) and model artifacts (`weightTensors`).
 */
export interface RankingModel {
  readonly family: ModelFamily;
  /**
   * One optimisation step on rows order[start..end). `lrScale` is the epoch's learning-rate decay factor. Rows
   * with a sample weight (`data.weights`) have their loss gradient multiplied by it; without weights every family
   * runs exactly the arithmetic it ran before weights existed.
   */
  trainStep(data: EncodedRows, order: Int32Array, start: number, end: number, lrScale: number): Promise<StepResult>;
  /** Click probabilities of rows [start, end) into out[start..end). */
  predict(data: EncodedRows, start: number, end: number, out: Float64Array): Promise<void>;
  stateTensors(): Record<string, Tensor>;
  weightTensors(): Record<string, Tensor>;
  scalars(): Record<string, number>;
  loadState(tensors: Record<string, Tensor>, scalars: Record<string, number>): void;
  loadWeights(tensors: Record<string, Tensor>): void;
}

/**
 * Estimated bytes of parameters + optimizer state + the trainer's copy of the best-validation weights (the resource
 * check runs this before allocating anything). `catFields`: the categorical fields DCN embeds (pooledFieldCount: a
 * list is one; without lists, the categorical slots).
 */
export function estimateTrainingBytes(config: ModelConfig, catFields: number, denseSlots: number, tableRows = 2 ** config.hashBits): number {
  const rows = tableRows + 1;
  switch (config.family) {
    case 'lr':
      return rows * 2 * 8 + rows * 12; // FTRL z and n, float64; best weights as sparse (i32 index, f64 value) at worst dense
    case 'fm':
      return rows * (1 + config.embeddingDim) * 4 * 3; // weights + AdaGrad accumulators + best weights, float32
    case 'dcn': {
      const d = catFields * config.embeddingDim + denseSlots;
      // A cross layer is W (d×d) at full rank, V and U (d×r each) at rank r; a bias of d either way.
      const rank = config.crossRank ?? 'full';
      let dense = config.crossLayers * ((rank === 'full' ? d * d : 2 * d * rank) + d);
      let prev = d;
      for (const h of config.mlp) {
        dense += prev * h + h;
        prev = h;
      }
      dense += prev + 1;
      const embeddings = rows * config.embeddingDim;
      // params + Adam m and v + one gradient buffer for embeddings + the best weights' copy
      return (embeddings * 5 + dense * 4) * 4;
    }
  }
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Log loss of one example from its logit, numerically stable for large |z|. */
export function logitLoss(z: number, label: number): number {
  // log(1 + e^-|z|) + max(z,0) − y·z
  return Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - (label ? z : 0);
}
