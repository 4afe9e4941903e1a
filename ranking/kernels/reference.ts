/**
 * Reference twins of the dense kernels: the plain TypeScript specification every gpu.js kernel is tested against.
 * Layouts are row-major: activations are rows × dim, a weight matrix W is inDim × outDim (W[i*outDim + j]).
 * They accumulate in float64 and store float32, so a kernel (float32 arithmetic) differs only by its rounding.
 */

/** y = x·W + b, optionally followed by ReLU. */
export function affineReference(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  rows: number,
  inDim: number,
  outDim: number,
  relu: boolean,
): Float32Array {
  const y = new Float32Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < outDim; j++) {
      let s = b[j];
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * w[i * outDim + j];
      y[r * outDim + j] = relu && s < 0 ? 0 : s;
    }
  }
  return y;
}

/** One DCN-v2 cross layer: x_{l+1} = x0 ⊙ (x_l·W + b) + x_l. */
export function crossLayerReference(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number): Float32Array {
  const y = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) {
      let s = b[j];
      for (let i = 0; i < dim; i++) s += xl[r * dim + i] * w[i * dim + j];
      y[r * dim + j] = x0[r * dim + j] * s + xl[r * dim + j];
    }
  }
  return y;
}

/** Back-propagation to a layer's input: dx = dy·Wᵀ (rows × inDim). */
export function inputGradientReference(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number): Float32Array {
  const dx = new Float32Array(rows * inDim);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inDim; i++) {
      let s = 0;
      for (let j = 0; j < outDim; j++) s += dy[r * outDim + j] * w[i * outDim + j];
      dx[r * inDim + i] = s;
    }
  }
  return dx;
}

/** Gradient of a weight matrix summed over the batch: dW = xᵀ·dy (inDim × outDim). */
export function weightGradientReference(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number): Float32Array {
  const dw = new Float32Array(inDim * outDim);
  for (let i = 0; i < inDim; i++) {
    for (let j = 0; j < outDim; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * inDim + i] * dy[r * outDim + j];
      dw[i * outDim + j] = s;
    }
  }
  return dw;
}

/**
 * Factorization-machine pairwise term per row, from the row's field embeddings e (rows × fields × dim, already
 * scaled by feature values): Σ_{f<g} ⟨e_f, e_g⟩ = ½ Σ_k ((Σ_f e_fk)² − Σ_f e_fk²), Rendle's O(fields·dim) identity.
 */
export function fmInteractionReference(e: Float32Array, rows: number, fields: number, dim: number): Float32Array {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let k = 0; k < dim; k++) {
      let sum = 0;
      let sumSq = 0;
      for (let f = 0; f < fields; f++) {
        const v = e[(r * fields + f) * dim + k];
        sum += v;
        sumSq += v * v;
      }
      total += 0.5 * (sum * sum - sumSq);
    }
    out[r] = total;
  }
  return out;
}
