import type { DenseKernels } from './dense-kernels';
import { GpuKernels } from './gpu-kernels';
import { ReferenceKernels } from './reference-kernels';
import { TiledKernels } from './tiled-kernels';
import { TfjsWasmKernels, tfjsWasmAvailable } from './tfjs-kernels';
import { OnnxRuntimeKernels, onnxRuntimeAvailable } from './onnx-kernels';
import { gpuBackend } from './backend';

export type { DenseKernels } from './dense-kernels';
export { GpuKernels } from './gpu-kernels';
export { ReferenceKernels } from './reference-kernels';
export { TiledKernels } from './tiled-kernels';
export { TfjsWasmKernels, tfjsWasmAvailable, loadTfjsWasm } from './tfjs-kernels';
export { OnnxRuntimeKernels, onnxRuntimeAvailable } from './onnx-kernels';
export { gpuBackend, availableBackends, probeBackend, selectGpuBackendAsync, requestedGpuMode } from './backend';

let shared: DenseKernels | null = null;

/** The process-wide kernels on the selected backend (kernels are cached inside, so sharing amortises compiles). */
export function sharedKernels(): DenseKernels {
  if (!shared) shared = new GpuKernels(gpuBackend());
  return shared;
}

/** Kernels for an explicit backend ('reference' = the plain TS twins, 'tiled', 'tfjs-wasm', 'onnxruntime', or a gpu.js mode). */
export function kernelsFor(backend: string, opts: { threads?: number } = {}): DenseKernels {
  if (backend === 'reference') return new ReferenceKernels();
  if (backend === 'tiled') return new TiledKernels();
  if (backend === 'tfjs-wasm') return new TfjsWasmKernels();
  if (backend === 'onnxruntime') return new OnnxRuntimeKernels();
  return new GpuKernels(backend, opts);
}

export const DENSE_CPU_MODES = ['auto', 'onnxruntime', 'tfjs-wasm', 'tiled', 'gpujs'] as const;
export type DenseCpuMode = (typeof DENSE_CPU_MODES)[number];

/** RANKWRIGHT_DENSE_CPU: what runs DCN's matrix products when gpu.js is on a CPU backend (default auto). */
export function requestedDenseCpuMode(env: NodeJS.ProcessEnv = process.env): DenseCpuMode {
  const raw = (env.RANKWRIGHT_DENSE_CPU ?? 'auto').trim().toLowerCase() || 'auto';
  if (!(DENSE_CPU_MODES as readonly string[]).includes(raw)) {
    throw new Error(`RANKWRIGHT_DENSE_CPU=${JSON.stringify(raw)} is not one of ${DENSE_CPU_MODES.join('|')}`);
  }
  return raw as DenseCpuMode;
}

/** gpu.js backends that run on the CPU (their matrix products are the slow path bench/dense.ts measures). */
const GPUJS_CPU_BACKENDS = new Set(['webasm', 'cpu']);
let cpuDense: DenseKernels | null = null;

/**
 * The kernels for batched matrix products (DCN's layers), given the kernels the model was handed. On a GPU backend
 * (headlessgl, webgl, webgpu) and for the reference twins that is the same object: gpu.js stays the GPU path. When
 * gpu.js runs on the CPU (webasm, cpu) it is swapped, under RANKWRIGHT_DENSE_CPU=auto, for the fastest CPU path
 * installed: ONNX Runtime (native MLAS GEMM), else tfjs-wasm (XNNPACK in WebAssembly), else tiled TypeScript. Measured
 * in bench/dense.ts (bench/results/dense.md): gpu.js webasm multiplies DCN's shapes well over an order of magnitude
 * slower than tfjs-wasm, which needs several times ONNX Runtime's CPU time. `gpujs` keeps gpu.js on the CPU too. The
 * choice is made and logged once per process.
 */
export function denseKernelsFor(kernels: DenseKernels): DenseKernels {
  if (!GPUJS_CPU_BACKENDS.has(kernels.backend)) return kernels;
  const mode = requestedDenseCpuMode();
  if (mode === 'gpujs') return kernels;
  if (!cpuDense) {
    const { dense, why } = cpuDenseFor(mode);
    cpuDense = dense;
    process.stderr.write(
      `rankwright: dense products on ${cpuDense.backend} (${why}; gpu.js backend ${kernels.backend}; RANKWRIGHT_DENSE_CPU=${mode})\n`,
    );
  }
  return cpuDense;
}

function cpuDenseFor(mode: Exclude<DenseCpuMode, 'gpujs'>): { dense: DenseKernels; why: string } {
  if (mode === 'onnxruntime') {
    if (!onnxRuntimeAvailable()) throw new Error('RANKWRIGHT_DENSE_CPU=onnxruntime but onnxruntime-node is not installed');
    return { dense: new OnnxRuntimeKernels(), why: 'requested' };
  }
  if (mode === 'tfjs-wasm') {
    if (!tfjsWasmAvailable())
      throw new Error('RANKWRIGHT_DENSE_CPU=tfjs-wasm but @tensorflow/tfjs-core and @tensorflow/tfjs-backend-wasm are not installed');
    return { dense: new TfjsWasmKernels(), why: 'requested' };
  }
  if (mode === 'tiled') return { dense: new TiledKernels(), why: 'requested' };
  if (onnxRuntimeAvailable()) return { dense: new OnnxRuntimeKernels(), why: 'auto: onnxruntime-node is installed' };
  if (tfjsWasmAvailable()) return { dense: new TfjsWasmKernels(), why: 'auto: onnxruntime-node is not installed, tfjs-wasm is' };
  return { dense: new TiledKernels(), why: 'auto: neither onnxruntime-node nor tfjs-wasm is installed' };
}
