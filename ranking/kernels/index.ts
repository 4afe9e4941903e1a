import type { DenseKernels } from './dense-kernels';
import { GpuKernels } from './gpu-kernels';
import { ReferenceKernels } from './reference-kernels';
import { gpuBackend } from './backend';

export type { DenseKernels } from './dense-kernels';
export { GpuKernels } from './gpu-kernels';
export { ReferenceKernels } from './reference-kernels';
export { gpuBackend, availableBackends, probeBackend, selectGpuBackendAsync, requestedGpuMode } from './backend';

let shared: DenseKernels | null = null;

/** The process-wide kernels on the selected backend (kernels are cached inside, so sharing amortises compiles). */
export function sharedKernels(): DenseKernels {
  if (!shared) shared = new GpuKernels(gpuBackend());
  return shared;
}

/** Kernels for an explicit backend ('reference' = the plain TS twins). */
export function kernelsFor(backend: string, opts: { threads?: number } = {}): DenseKernels {
  return backend === 'reference' ? new ReferenceKernels() : new GpuKernels(backend, opts);
}
