import { strict as assert } from 'node:assert';
import { FmConfig } from '../../contracts';
import type { EncodedRows } from '../../ranking/features';
import { GpuKernels, ReferenceKernels, availableBackends } from '../../ranking/kernels';
import { FactorizationMachine } from '../../ranking/models/fm';
import { requestedGpuMode } from '../../ranking/kernels/backend';
import {
  affineReference,
  crossLayerReference,
  fmInteractionReference,
  inputGradientReference,
  weightGradientReference,
} from '../../ranking/kernels/reference';
import { SeededRandom } from '../../ranking/rng';
import { rowFeatures } from '../support/encoded-row';
import { assertCloseTo, randomFloats } from '../support/float-compare';

/**
 * Tolerance: kernels compute in float32 (webasm: IEEE f32; GL/WebGPU: f32 shaders) while the twins accumulate in
 * float64. A dot product of K terms of magnitude ≤ 1 in float32 carries a rounding error of about K·2^-24·Σ|terms|,
 * i.e. ~1e-5 for K ≤ 100 here; 1e-4 absolute + 1e-4 relative leaves headroom for reassociation (SIMD lanes,
 * threads) while still catching any indexing or formula error (those are O(0.1)).
 */
const ABS_TOL = 1e-4;
const REL_TOL = 1e-4;

const random = randomFloats;

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assertCloseTo(actual, expected, what, ABS_TOL, REL_TOL);
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
            assertClose(
              await kernels.affine(x, w, b, rows, inDim, outDim, relu),
              affineReference(x, w, b, rows, inDim, outDim, relu),
              `affine relu=${relu}`,
            );
          }
          const x0 = random(rows * inDim, rng);
          const wc = random(inDim * inDim, rng);
          const bc = random(inDim, rng);
          assertClose(await kernels.crossLayer(x0, x, wc, bc, rows, inDim), crossLayerReference(x0, x, wc, bc, rows, inDim), 'crossLayer');
          assertClose(await kernels.inputGradient(dy, w, rows, inDim, outDim), inputGradientReference(dy, w, rows, inDim, outDim), 'inputGradient');
          assertClose(
            await kernels.weightGradient(x, dy, rows, inDim, outDim),
            weightGradientReference(x, dy, rows, inDim, outDim),
            'weightGradient',
          );
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

  describe('fm.predictWithKernel (batch scoring through the fmInteraction kernel) vs the reference prediction', () => {
    /**
     * The reference is the FM's own float64 forward pass (predict on the reference backend: the fused per-row loop
     * training uses), checked here against the explicit pairwise formula. predictWithKernel gathers the embeddings
     * into float32 and sums the interaction term in float32 on the backend: with 9 fields × 8 factors of magnitude
     * ≤ 1 the logit error is ~1e-5 at most, and a probability moves by at most ¼ of that (σ' ≤ ¼); measured: 3e-7
     * on webasm, 7e-8 on cpu. 2e-5 absolute on the probability leaves headroom for reassociation while any indexing
     * error (a wrong field, factor, row or batch offset) moves probabilities by O(0.01) — nudging one factor of one
     * embedding by 0.01 already moves a probability by 2e-3.
     */
    const PROB_TOL = 2e-5;
    const config = FmConfig.parse({ family: 'fm', hashBits: 10, embeddingDim: 8, seed: 3 });
    const bias = 2 ** config.hashBits;
    const k = config.embeddingDim;

    /** 2,085 rows: one full scoring batch of 2,048 and a partial one; 6 categorical and 3 dense slots. */
    function rowsAndWeights() {
      const rng = new SeededRandom(7);
      const rows = 2085;
      const catSlots = 6;
      const denseSlots = 3;
      const data: EncodedRows = {
        rows,
        catSlots,
        catIndex: Int32Array.from({ length: rows * catSlots }, () => Math.floor(rng.next() * bias)),
        denseSlots,
        denseValue: Float32Array.from({ length: rows * denseSlots }, () => rng.next() * 4 - 2),
        denseIndex: Int32Array.from([bias - 3, bias - 2, bias - 1]),
        labels: new Uint8Array(rows),
      };
      // Weights far from the tiny initial ones, so the interaction term spans a wide range of probabilities.
      const w = Float32Array.from({ length: bias + 1 }, () => rng.next() - 0.5);
      const v = Float32Array.from({ length: (bias + 1) * k }, () => (rng.next() - 0.5) * 1.2);
      return { data, w, v };
    }

    function fm(kernels: ReferenceKernels | GpuKernels, w: Float32Array, v: Float32Array): FactorizationMachine {
      const model = new FactorizationMachine(config, kernels);
      model.loadWeights({ w, v });
      return model;
    }

    /** The textbook FM: bias + Σ w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j, in float64. */
    function explicitProbability(data: EncodedRows, w: Float32Array, v: Float32Array, r: number): number {
      const { idx, val } = rowFeatures(data, r);
      let logit = w[bias];
      for (let f = 0; f < idx.length; f++) logit += w[idx[f]] * val[f];
      for (let f = 0; f < idx.length; f++)
        for (let g = f + 1; g < idx.length; g++) for (let c = 0; c < k; c++) logit += v[idx[f] * k + c] * v[idx[g] * k + c] * val[f] * val[g];
      return 1 / (1 + Math.exp(-logit));
    }

    const { data, w, v } = rowsAndWeights();
    const start = 3;
    let reference: Float64Array;

    before(async () => {
      reference = new Float64Array(data.rows).fill(NaN);
      await fm(new ReferenceKernels(), w, v).predict(data, start, data.rows, reference);
    });

    it('the reference prediction is the explicit FM formula, and the test data spans a wide range of probabilities', () => {
      for (const r of [start, start + 1, 1000, 2047, 2048, 2049, data.rows - 1]) {
        assert.ok(
          Math.abs(reference[r] - explicitProbability(data, w, v, r)) < 1e-9,
          `row ${r}: ${reference[r]} vs ${explicitProbability(data, w, v, r)}`,
        );
      }
      const scored = Array.from(reference.subarray(start));
      assert.ok(Math.min(...scored) < 0.05 && Math.max(...scored) > 0.95, `probabilities ${Math.min(...scored)}…${Math.max(...scored)}`);
    });

    for (const { name, threads } of [{ name: 'reference', threads: 0 }, ...variants]) {
      it(`equals the reference prediction within ${PROB_TOL} on ${name}${threads ? ' (threaded)' : ''}`, async () => {
        const kernels = name === 'reference' ? new ReferenceKernels() : new GpuKernels(name, { threads });
        try {
          const out = new Float64Array(data.rows).fill(NaN);
          await fm(kernels, w, v).predictWithKernel(data, start, data.rows, out);
          for (let r = 0; r < start; r++) assert.ok(Number.isNaN(out[r]), `row ${r} before the range was written`);
          for (let r = start; r < data.rows; r++) {
            const diff = Math.abs(out[r] - reference[r]);
            if (!(diff <= PROB_TOL)) assert.fail(`row ${r}: ${out[r]} vs reference ${reference[r]} (tolerance ${PROB_TOL})`);
          }
        } finally {
          kernels.destroy();
        }
      });
    }
  });
});
