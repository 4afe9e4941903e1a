import { GPU } from 'gpu.js';
import type { DenseKernels } from './dense-kernels';
import { webasmThreads } from './backend';

/**
 * gpu.js kernels for the dense batched work of the models, each the twin of a function in ./reference.ts.
 *
 * Kernel creation (parse, transpile, compile to wasm/GLSL/WGSL) costs milliseconds, so kernels are created once
 * per (operation, shape) and reused: a training run sees two or three batch shapes (full batches, the last
 * partial one, scoring batches). Dimensions are compile-time constants, so loops have fixed bounds (needed by
 * the GL backends, and it lets webasm vectorise). Sources are strings so no transpiler touches them.
 *
 * Outputs are 2-D [outDim, rows]: consecutive threads walk a row's output columns, so the inner products read
 * W[i*outDim + thread.x] contiguously across SIMD lanes (measured ~1.5× faster on webasm than a 1-D output with
 * a division per cell). On webasm, async mode splits kernels of ≥4096 cells over a worker pool (threads).
 */

const SOURCES = {
  affine: `function (x, w, b) {
    let s = b[this.thread.x];
    for (let i = 0; i < this.constants.inDim; i++) {
      s += x[this.thread.y * this.constants.inDim + i] * w[i * this.constants.outDim + this.thread.x];
    }
    if (this.constants.relu > 0) { return Math.max(s, 0); }
    return s;
  }`,
  crossLayer: `function (x0, xl, w, b) {
    let s = b[this.thread.x];
    for (let i = 0; i < this.constants.dim; i++) {
      s += xl[this.thread.y * this.constants.dim + i] * w[i * this.constants.dim + this.thread.x];
    }
    const at = this.thread.y * this.constants.dim + this.thread.x;
    return x0[at] * s + xl[at];
  }`,
  inputGradient: `function (dy, w) {
    let s = 0;
    for (let j = 0; j < this.constants.outDim; j++) {
      s += dy[this.thread.y * this.constants.outDim + j] * w[this.thread.x * this.constants.outDim + j];
    }
    return s;
  }`,
  weightGradient: `function (x, dy) {
    let s = 0;
    for (let r = 0; r < this.constants.rows; r++) {
      s += x[r * this.constants.inDim + this.thread.y] * dy[r * this.constants.outDim + this.thread.x];
    }
    return s;
  }`,
  fmInteraction: `function (e) {
    let total = 0;
    for (let k = 0; k < this.constants.dim; k++) {
      let sum = 0;
      let sumSq = 0;
      for (let f = 0; f < this.constants.fields; f++) {
        const v = e[(this.thread.x * this.constants.fields + f) * this.constants.dim + k];
        sum += v;
        sumSq += v * v;
      }
      total += 0.5 * (sum * sum - sumSq);
    }
    return total;
  }`,
};

type KernelFn = ((...args: Float32Array[]) => unknown) & { destroy?: () => void; kernel?: { constructor: { name: string } } };

export class GpuKernels implements DenseKernels {
  readonly backend: string;
  private gpu: GPU;
  private kernels = new Map<string, KernelFn>();
  private asyncMode: boolean;
  private poolSize: number;

  /** `mode` is a gpu.js mode ('webasm', 'cpu', 'headlessgl', 'webgpu', 'gpu'). */
  constructor(mode: string, opts: { threads?: number } = {}) {
    this.gpu = new GPU({ mode: mode as never });
    const threads = opts.threads ?? webasmThreads();
    // Threads only pay on webasm (other backends resolve synchronously); webgpu is async by nature.
    this.asyncMode = mode === 'webgpu' || (mode === 'webasm' && threads > 1);
    this.poolSize = Math.max(1, threads);
    this.backend = mode;
  }

  private kernel(name: keyof typeof SOURCES, output: number[], constants: Record<string, number>): KernelFn {
    const key = `${name}:${output.join('x')}:${Object.values(constants).join(',')}`;
    let k = this.kernels.get(key);
    if (!k) {
      const loopMax = Math.max(1000, ...Object.values(constants));
      k = this.gpu.createKernel(
        SOURCES[name] as never,
        {
          output,
          constants,
          loopMaxIterations: loopMax,
          precision: 'single',
          tactic: 'precision',
          asyncMode: this.asyncMode,
          poolSize: this.poolSize,
        } as never,
      ) as never as KernelFn;
      this.kernels.set(key, k);
    }
    return k;
  }

  async affine(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number, relu: boolean) {
    const k = this.kernel('affine', [outDim, rows], { inDim, outDim, relu: relu ? 1 : 0 });
    return flatten(await k(x, w, b), rows, outDim);
  }

  async crossLayer(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number) {
    const k = this.kernel('crossLayer', [dim, rows], { dim });
    return flatten(await k(x0, xl, w, b), rows, dim);
  }

  async inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number) {
    const k = this.kernel('inputGradient', [inDim, rows], { inDim, outDim });
    return flatten(await k(dy, w), rows, inDim);
  }

  async weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number) {
    const k = this.kernel('weightGradient', [outDim, inDim], { rows, inDim, outDim });
    return flatten(await k(x, dy), inDim, outDim);
  }

  async fmInteraction(e: Float32Array, rows: number, fields: number, dim: number) {
    const k = this.kernel('fmInteraction', [rows], { fields, dim });
    const out = (await k(e)) as Float32Array;
    return out instanceof Float32Array ? out : Float32Array.from(out as ArrayLike<number>);
  }

  /** Number of compiled kernels (tests check shapes are reused, not recompiled). */
  get compiledKernels(): number {
    return this.kernels.size;
  }

  destroy(): void {
    for (const k of this.kernels.values()) {
      try {
        k.destroy?.();
      } catch {
        /* already released */
      }
    }
    this.kernels.clear();
    // destroy() may throw or return a promise that rejects; either way the kernels are already released.
    try {
      Promise.resolve(this.gpu.destroy()).catch(() => undefined);
    } catch {
      /* already released */
    }
  }
}

/** A 2-D kernel result is an array of row views; copy into one row-major buffer. */
function flatten(result: unknown, rows: number, cols: number): Float32Array {
  if (result instanceof Float32Array) return result;
  const rowsOut = result as Float32Array[];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(rowsOut[r], r * cols);
  return out;
}
