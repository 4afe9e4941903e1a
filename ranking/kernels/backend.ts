import * as os from 'node:os';
import { GPU } from 'gpu.js';

/**
 * Which gpu.js backend runs the dense kernels, from RANKWRIGHT_GPU_MODE (auto|gpu|webgpu|headlessgl|webasm|cpu).
 *
 * `auto` tries the fastest that works here: headlessgl (needs the optional native `gl` module and a display),
 * then webasm (WebAssembly + f32x4 SIMD, threaded under gpu.js's async contract), then cpu. Each candidate is
 * probed by compiling and running a tiny kernel, because `new GPU({mode})` throws for unsupported modes and a
 * mode can also construct and then fail at first run. WebGPU has no synchronous probe (an adapter answers
 * asynchronously), so `auto` upgrades to it only through `selectGpuBackendAsync` when an adapter answers.
 * The choice is logged once on stderr.
 */

export const GPU_MODES = ['auto', 'gpu', 'webgpu', 'headlessgl', 'webasm', 'cpu'] as const;
export type GpuMode = (typeof GPU_MODES)[number];

let chosen: string | null = null;

export function requestedGpuMode(env: NodeJS.ProcessEnv = process.env): GpuMode {
  const raw = (env.RANKWRIGHT_GPU_MODE ?? 'auto').trim().toLowerCase() || 'auto';
  if (!(GPU_MODES as readonly string[]).includes(raw)) {
    throw new Error(`RANKWRIGHT_GPU_MODE=${JSON.stringify(raw)} is not one of ${GPU_MODES.join('|')}`);
  }
  return raw as GpuMode;
}

/**
 * Threads for webasm kernels (RANKWRIGHT_GPU_THREADS; default 1 = synchronous SIMD). Measured in bench/engine.ts
 * on 2 cores: threading DCN's 256-row batches over the worker pool made training ~1.7× slower (the per-call
 * hand-off to workers outweighs kernels this short), so threads are opt-in for large batches / many cores.
 */
export function webasmThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.RANKWRIGHT_GPU_THREADS;
  if (raw !== undefined && raw.trim() !== '' && Number.isFinite(Number(raw))) return Math.max(0, Math.floor(Number(raw)));
  return 1;
}

export function cpuCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Runs a tiny kernel on `mode`; returns the backend that actually ran it, or null when the mode doesn't work. */
export function probeBackend(mode: string): string | null {
  let gpu: GPU | null = null;
  try {
    gpu = new GPU({ mode: mode as never });
    const k = gpu.createKernel('function(a) { return a[this.thread.x] * 2; }' as never, { output: [4] } as never) as never as ((
      a: Float32Array,
    ) => ArrayLike<number>) & {
      kernel?: { constructor: { name: string } };
    };
    const out = k(new Float32Array([1, 2, 3, 4]));
    if (!out || typeof (out as { then?: unknown }).then === 'function') return null;
    if (Math.abs(out[3] - 8) > 1e-6) return null;
    return backendName(k.kernel?.constructor?.name ?? mode);
  } catch {
    return null;
  } finally {
    // destroy() may throw or return a promise that rejects: a failed backend may not destroy cleanly, and there is
    // nothing left to release either way.
    try {
      Promise.resolve(gpu?.destroy()).catch(() => undefined);
    } catch {
      /* nothing to release */
    }
  }
}

/** Maps gpu.js kernel class names to mode names. */
export function backendName(kernelClass: string): string {
  const map: Record<string, string> = {
    CPUKernel: 'cpu',
    WebAssemblyKernel: 'webasm',
    HeadlessGLKernel: 'headlessgl',
    WebGLKernel: 'webgl',
    WebGL2Kernel: 'webgl2',
    WebGPUKernel: 'webgpu',
  };
  return map[kernelClass] ?? kernelClass;
}

/** Backends that work on this machine (for tests and benchmarks), in speed order. */
export function availableBackends(): string[] {
  const out: string[] = [];
  for (const mode of ['headlessgl', 'webasm', 'cpu']) {
    const got = probeBackend(mode);
    if (got === mode) out.push(mode);
  }
  return out;
}

/** The backend dense kernels use in this process (selected once, logged once). */
export function gpuBackend(): string {
  if (chosen) return chosen;
  const mode = requestedGpuMode();
  let picked: string | null = null;
  let why: string;
  if (mode === 'auto') {
    for (const candidate of ['headlessgl', 'webasm', 'cpu']) {
      picked = probeBackend(candidate);
      if (picked === candidate) break;
      picked = null;
    }
    why = 'auto: fastest backend that ran a probe kernel';
  } else if (mode === 'webgpu') {
    // Explicitly requested: trust the flag; kernels will fail loudly if no adapter answers.
    if (!GPU.isWebGPUSupported)
      throw new Error('RANKWRIGHT_GPU_MODE=webgpu but WebGPU is not supported in this process (no navigator.gpu / webgpu module)');
    picked = 'webgpu';
    why = 'requested';
  } else {
    picked = probeBackend(mode);
    if (!picked) throw new Error(`RANKWRIGHT_GPU_MODE=${mode} but gpu.js cannot run that backend here`);
    why = mode === 'gpu' ? "gpu.js's own choice for mode 'gpu'" : 'requested';
  }
  chosen = picked ?? 'cpu';
  process.stderr.write(`rankwright: gpu.js backend ${chosen} (${why}; RANKWRIGHT_GPU_MODE=${mode})\n`);
  return chosen;
}

/** Like gpuBackend, but under `auto` upgrades to WebGPU when an adapter actually answers. */
export async function selectGpuBackendAsync(): Promise<string> {
  if (chosen) return chosen;
  if (requestedGpuMode() === 'auto' && GPU.isWebGPUSupported) {
    try {
      if (await GPU.isWebGPUAvailable()) {
        chosen = 'webgpu';
        process.stderr.write('rankwright: gpu.js backend webgpu (auto: a WebGPU adapter answered)\n');
        return chosen;
      }
    } catch {
      /* no adapter: fall through to the synchronous chain */
    }
  }
  return gpuBackend();
}
