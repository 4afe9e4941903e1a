import { strict as assert } from 'node:assert';
import { GpuKernels, availableBackends } from '../../ranking/kernels';
import { requestedGpuMode } from '../../ranking/kernels/backend';
import {
  affineReference,
  crossLayerReference,
  fmInteractionReference,
  inputGradientReference,
  weightGradientReference,
} from '../../ranking/kernels/reference';
import { SeededRandom } from '../../ranking/rng';

/**
 * Tolerance: kernels compute in float32 (webasm: IEEE f32; GL/WebGPU: f32 shaders) while the twins accumulate in
 * float64. A dot product of K terms of magnitude ≤ 1 in float32 carries a rounding error of about K·2^-24·Σ|terms|,
 * i.e. ~1e-5 for K ≤ 100 here; 1e-4 absolute + 1e-4 relative leaves headroom for reassociation (SIMD lanes,
 * threads) while still catching any indexing or formula error (those are O(0.1)).
 */
const ABS_TOL = 1e-4;
const REL_TOL = 1e-4;

function random(n: number, rng: SeededRandom): Float32Array {
  return Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tol = ABS_TOL + REL_TOL * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) assert.fail(`${what}[${i}]: ${actual[i]} vs reference ${expected[i]} (tolerance ${tol})`);
  }
}

describe('gpu.js kernels vs their reference twins', function () {
  const backends = availableBackends();

  it('finds at least the cpu and webasm backends on this machine', () => {
    assert.ok(backends.includes('cpu'), `backends: ${backends}`);
    assert.ok(backends.includes('webasm'), `backends: ${backends}`);
  });

  it('parses RANKWRIGHT_GPU_MODE and rejects unknown modes', () => {
    assert.equal(requestedGpuMode({}), 'auto');
    assert.equal(requestedGpuMode({ RANKWRIGHT_GPU_MODE: 'WebAsm' }), 'webasm');
    assert.throws(() => requestedGpuMode({ RANKWRIGHT_GPU_MODE: 'cuda' }), /not one of auto\|gpu\|webgpu\|headlessgl\|webasm\|cpu/);
  });

  // Shapes: a full batch, an odd partial batch, and dims that are not multiples of the SIMD width.
  const shapes = [
    { rows: 64, inDim: 36, outDim: 16 },
    { rows: 7, inDim: 13, outDim: 5 },
  ];
  const variants: { name: string; threads: number }[] = [];
  for (const b of availableBackends()) {
    variants.push({ name: b, threads: 0 });
    if (b === 'webasm') variants.push({ name: b, threads: 2 });
  }
  for (const { name, threads } of variants) {
    it(`every kernel matches its twin on ${name}${threads ? ' (threaded)' : ''}`, async () => {
      const kernels = new GpuKernels(name, { threads });
      const rng = new SeededRandom(42);
      try {
        for (const { rows, inDim, outDim } of shapes) {
          const x = random(rows * inDim, rng);
          const w = random(inDim * outDim, rng);
          const b = random(outDim, rng);
          const dy = random(rows * outDim, rng);
          for (const relu of [false, true]) {
            assertClose(await kernels.affine(x, w, b, rows, inDim, outDim, relu), affineReference(x, w, b, rows, inDim, outDim, relu), `affine relu=${relu}`);
          }
          const x0 = random(rows * inDim, rng);
          const wc = random(inDim * inDim, rng);
          const bc = random(inDim, rng);
          assertClose(await kernels.crossLayer(x0, x, wc, bc, rows, inDim), crossLayerReference(x0, x, wc, bc, rows, inDim), 'crossLayer');
          assertClose(await kernels.inputGradient(dy, w, rows, inDim, outDim), inputGradientReference(dy, w, rows, inDim, outDim), 'inputGradient');
          assertClose(await kernels.weightGradient(x, dy, rows, inDim, outDim), weightGradientReference(x, dy, rows, inDim, outDim), 'weightGradient');
          const fields = 5;
          const dim = 4;
          const e = random(rows * fields * dim, rng);
          assertClose(await kernels.fmInteraction(e, rows, fields, dim), fmInteractionReference(e, rows, fields, dim), 'fmInteraction');
        }
        // Kernels are compiled once per (operation, shape) and reused.
        const compiled = kernels.compiledKernels;
        const x = random(7 * 13, rng);
        await kernels.affine(x, random(13 * 5, rng), random(5, rng), 7, 13, 5, false);
        assert.equal(kernels.compiledKernels, compiled, 'same shape → no new kernel');
      } finally {
        kernels.destroy();
      }
    });
  }

  it('the reference FM identity equals the explicit pairwise sum', () => {
    const rng = new SeededRandom(1);
    const fields = 4;
    const dim = 3;
    const e = random(fields * dim, rng);
    let explicit = 0;
    for (let f = 0; f < fields; f++) for (let g = f + 1; g < fields; g++) for (let k = 0; k < dim; k++) explicit += e[f * dim + k] * e[g * dim + k];
    assert.ok(Math.abs(fmInteractionReference(e, 1, fields, dim)[0] - explicit) < 1e-6);
  });
});
