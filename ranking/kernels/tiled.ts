/**
 * Tiled float32 matrix products in plain TypeScript: the CPU path when no faster dense backend is installed, and the
 * building blocks of TiledKernels. Same layouts as ./reference.ts (row-major; W is inDim × outDim).
 *
 * Why this shape: gpu.js compiles one scalar dot product per output cell, which on webasm re-reads a strided column
 * of W for every cell (no reuse across rows or columns). Here the output is computed in 4×4 register tiles: each step
 * of the inner loop loads 4 values of A and 4 of B and does 16 multiply-adds into locals (V8 keeps them in
 * registers), so memory traffic per multiply-add drops ~8× against the one-cell loop; the tile's 16 sums are stored
 * once. Edges (rows or columns not a multiple of 4) run through a one-cell loop. Xᵀ·dY and dY·Wᵀ transpose one
 * operand first (O(rows·dim), against O(rows·dim²) for the product) and reuse the same tile.
 * Sums are float64 in registers and stored as float32, as the reference does, in the same k order.
 */
export const TILE = 4;

/** out[M×N] = A[M×K]·B[K×N] (+ bias[N] broadcast over rows), written into `out` (overwritten). */
export function gemm(a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number, out: Float32Array): Float32Array {
  const m4 = m - (m % TILE);
  const n4 = n - (n % TILE);
  for (let r = 0; r < m4; r += TILE) {
    const a0 = r * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let j = 0; j < n4; j += TILE) {
      const v0 = bias ? bias[j] : 0;
      const v1 = bias ? bias[j + 1] : 0;
      const v2 = bias ? bias[j + 2] : 0;
      const v3 = bias ? bias[j + 3] : 0;
      // prettier-ignore
      let c00 = v0, c01 = v1, c02 = v2, c03 = v3, c10 = v0, c11 = v1, c12 = v2, c13 = v3,
        c20 = v0, c21 = v1, c22 = v2, c23 = v3, c30 = v0, c31 = v1, c32 = v2, c33 = v3;
      for (let p = 0, bp = j; p < k; p++, bp += n) {
        const b0 = b[bp];
        const b1 = b[bp + 1];
        const b2 = b[bp + 2];
        const b3 = b[bp + 3];
        const x0 = a[a0 + p];
        const x1 = a[a1 + p];
        const x2 = a[a2 + p];
        const x3 = a[a3 + p];
        // prettier-ignore
        { c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
          c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
          c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
          c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3; }
      }
      const o = r * n + j;
      // prettier-ignore
      { out[o] = c00; out[o + 1] = c01; out[o + 2] = c02; out[o + 3] = c03;
        out[o + n] = c10; out[o + n + 1] = c11; out[o + n + 2] = c12; out[o + n + 3] = c13;
        out[o + 2 * n] = c20; out[o + 2 * n + 1] = c21; out[o + 2 * n + 2] = c22; out[o + 2 * n + 3] = c23;
        out[o + 3 * n] = c30; out[o + 3 * n + 1] = c31; out[o + 3 * n + 2] = c32; out[o + 3 * n + 3] = c33; }
    }
    for (let j = n4; j < n; j++) for (let rr = r; rr < r + TILE; rr++) out[rr * n + j] = cell(a, b, bias, rr, j, k, n);
  }
  for (let r = m4; r < m; r++) for (let j = 0; j < n; j++) out[r * n + j] = cell(a, b, bias, r, j, k, n);
  return out;
}

/** One output cell (the edges the 4×4 tiles leave). */
function cell(a: Float32Array, b: Float32Array, bias: Float32Array | null, r: number, j: number, k: number, n: number): number {
  let s = bias ? bias[j] : 0;
  const ar = r * k;
  for (let p = 0, bp = j; p < k; p++, bp += n) s += a[ar + p] * b[bp];
  return s;
}

/**
 * out[K×N] = Aᵀ·B for A[M×K], B[M×N] (a weight gradient: xᵀ·dy summed over the batch's M rows), overwritten.
 * `scratch` (≥ M·K floats) holds Aᵀ.
 */
export function gemmTN(a: Float32Array, b: Float32Array, m: number, k: number, n: number, out: Float32Array, scratch: Float32Array): Float32Array {
  return gemm(transpose(a, m, k, scratch), b, null, k, m, n, out);
}

/** Bᵀ for B[K×N], into out[N×K]. */
export function transpose(b: Float32Array, k: number, n: number, out: Float32Array): Float32Array {
  for (let i = 0; i < k; i++) {
    const bi = i * n;
    for (let j = 0; j < n; j++) out[j * k + i] = b[bi + j];
  }
  return out;
}
