import { strict as assert } from 'node:assert';
import { DcnConfig } from '../../contracts';
import type { EncodedRows } from '../../ranking/features';
import {
  OnnxRuntimeKernels,
  ReferenceKernels,
  TfjsWasmKernels,
  TiledKernels,
  denseKernelsFor,
  kernelsFor,
  onnxRuntimeAvailable,
  tfjsWasmAvailable,
  type DenseKernels,
} from '../../ranking/kernels';
import { requestedDenseCpuMode } from '../../ranking/kernels';
import { affineReference, crossLayerReference, inputGradientReference, weightGradientReference } from '../../ranking/kernels/reference';
import { TILE, gemm, gemmTN, transpose } from '../../ranking/kernels/tiled';
import { DeepCrossNetwork } from '../../ranking/models/dcn';
import { SeededRandom } from '../../ranking/rng';
import { assertCloseTo, randomFloats } from '../support/float-compare';

/**
 * The CPU dense paths (tiled TypeScript, tfjs-wasm, ONNX Runtime) against their reference twins, on random shapes that include
 * sizes below, at and off multiples of the 4×4 tile (edges run through their own loops), and DCN trained on each
 * path against DCN trained on the twins.
 *
 * Tolerance as in kernels.test.ts: float32 arithmetic against the twins' float64 accumulation; a dot product of K
 * terms of magnitude ≤ 1 carries ~K·2^-24·Σ|terms| of rounding (≤ ~1e-4 at K ≈ 100 with values up to 1 here),
 * while an indexing error is O(0.1).
 */
const ABS_TOL = 2e-4;
const REL_TOL = 1e-4;

const random = randomFloats;

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assertCloseTo(actual, expected, what, ABS_TOL, REL_TOL);
}

/** Random shapes: each dimension from 1 to ~2.5 tiles of 4 plus a few DCN-like widths, seeded. */
function randomShapes(count: number, seed: number): { rows: number; inDim: number; outDim: number }[] {
  const rng = new SeededRandom(seed);
  const pick = () => 1 + Math.floor(rng.next() * (TILE * 10));
  const shapes = [
    { rows: 1, inDim: 1, outDim: 1 },
    { rows: TILE, inDim: TILE, outDim: TILE },
    { rows: TILE + 1, inDim: 2 * TILE - 1, outDim: TILE + 3 },
    { rows: 37, inDim: 45, outDim: 45 }, // DCN-like: a cross layer at an odd width
    { rows: 67, inDim: 45, outDim: 13 },
  ];
  for (let i = 0; i < count; i++) shapes.push({ rows: pick(), inDim: pick(), outDim: pick() });
  return shapes;
}

describe('CPU dense paths (tiled TypeScript, tfjs-wasm, ONNX Runtime) vs their reference twins', function () {
  this.timeout(60_000);

  it('gemm, gemmTN and transpose match the plain definitions on random shapes, tile edges included', () => {
    const rng = new SeededRandom(11);
    for (const { rows, inDim, outDim } of randomShapes(12, 5)) {
      const a = random(rows * inDim, rng);
      const b = random(inDim * outDim, rng);
      const bias = random(outDim, rng);
      const what = `${rows}×${inDim}·${inDim}×${outDim}`;
      assertClose(
        gemm(a, b, bias, rows, inDim, outDim, new Float32Array(rows * outDim)),
        affineReference(a, b, bias, rows, inDim, outDim, false),
        `gemm ${what}`,
      );
      // Output buffers are overwritten, not accumulated into: a dirty buffer gives the same answer.
      assertClose(
        gemm(a, b, null, rows, inDim, outDim, new Float32Array(rows * outDim).fill(9)),
        affineReference(a, b, new Float32Array(outDim), rows, inDim, outDim, false),
        `gemm no bias ${what}`,
      );
      const dy = random(rows * outDim, rng);
      const scratch = new Float32Array(rows * inDim + 5);
      assertClose(
        gemmTN(a, dy, rows, inDim, outDim, new Float32Array(inDim * outDim).fill(-3), scratch),
        weightGradientReference(a, dy, rows, inDim, outDim),
        `gemmTN ${what}`,
      );
      const t = transpose(b, inDim, outDim, new Float32Array(inDim * outDim));
      for (let i = 0; i < inDim; i++) for (let j = 0; j < outDim; j++) assert.equal(t[j * inDim + i], b[i * outDim + j]);
    }
  });

  const paths: { name: string; make: () => DenseKernels }[] = [{ name: 'tiled', make: () => new TiledKernels() }];
  if (tfjsWasmAvailable()) paths.push({ name: 'tfjs-wasm', make: () => new TfjsWasmKernels() });
  if (onnxRuntimeAvailable()) paths.push({ name: 'onnxruntime', make: () => new OnnxRuntimeKernels() });

  it('tfjs-wasm and onnxruntime-node are installed here (devDependencies), so their kernels are checked below', () => {
    assert.ok(tfjsWasmAvailable(), 'npm install brings @tensorflow/tfjs-core and @tensorflow/tfjs-backend-wasm');
    assert.ok(onnxRuntimeAvailable(), 'npm install brings onnxruntime-node');
  });

  for (const { name, make } of paths) {
    it(`every dense kernel on ${name} matches its twin on random shapes (incl. non-multiples of the tile)`, async () => {
      const k = make();
      const rng = new SeededRandom(23);
      try {
        for (const { rows, inDim, outDim } of randomShapes(10, 9)) {
          const what = `${name} ${rows}×${inDim}→${outDim}`;
          const x = random(rows * inDim, rng);
          const w = random(inDim * outDim, rng);
          const b = random(outDim, rng);
          const dy = random(rows * outDim, rng);
          for (const relu of [false, true]) {
            assertClose(
              await k.affine(x, w, b, rows, inDim, outDim, relu),
              affineReference(x, w, b, rows, inDim, outDim, relu),
              `${what} affine relu=${relu}`,
            );
          }
          const x0 = random(rows * inDim, rng);
          const wc = random(inDim * inDim, rng);
          const bc = random(inDim, rng);
          assertClose(await k.crossLayer(x0, x, wc, bc, rows, inDim), crossLayerReference(x0, x, wc, bc, rows, inDim), `${what} crossLayer`);
          assertClose(await k.inputGradient(dy, w, rows, inDim, outDim), inputGradientReference(dy, w, rows, inDim, outDim), `${what} inputGradient`);
          assertClose(
            await k.weightGradient(x, dy, rows, inDim, outDim),
            weightGradientReference(x, dy, rows, inDim, outDim),
            `${what} weightGradient`,
          );
          // The fused forms, where a path has them: the same numbers as the plain product and the caller's loop.
          if (k.crossGated) {
            const z = new Float32Array(rows * inDim);
            const gated = await k.crossGated(x, wc, bc, x0, x, rows, inDim, inDim, z, new Float32Array(rows * inDim));
            assertClose(z, affineReference(x, wc, bc, rows, inDim, inDim, false), `${what} crossGated z`);
            assertClose(gated, crossLayerReference(x0, x, wc, bc, rows, inDim), `${what} crossGated`);
          }
          if (k.inputGradientPlus) {
            const addend = random(rows * inDim, rng);
            const plus = inputGradientReference(dy, w, rows, inDim, outDim).map((v, i) => v + addend[i]);
            assertClose(
              await k.inputGradientPlus(dy, w, addend, rows, inDim, outDim, new Float32Array(rows * inDim)),
              plus,
              `${what} inputGradientPlus`,
            );
          }
        }
        // Operands and results as views into larger buffers (the model's step scratch): read and written in place,
        // nothing outside the view touched.
        {
          const [rows, inDim, outDim] = [7, 6, 5];
          const big = random(200, rng);
          const x = big.subarray(3, 3 + rows * inDim);
          const w = big.subarray(60, 60 + inDim * outDim);
          const b = big.subarray(100, 100 + outDim);
          const outer = new Float32Array(rows * outDim + 8).fill(7);
          const out = outer.subarray(4, 4 + rows * outDim);
          const y = await k.affine(x, w, b, rows, inDim, outDim, false, out);
          assertClose(y, affineReference(x, w, b, rows, inDim, outDim, false), `${name} affine on views`);
          for (const i of [0, 1, 2, 3, outer.length - 4, outer.length - 1])
            assert.equal(outer[i], 7, `${name} wrote outside its output view at ${i}`);
        }
        // After the larger shapes grew the transpose scratch, a small call must not read stale scratch.
        const x = random(3 * 5, rng);
        const w = random(5 * 2, rng);
        assertClose(
          await k.inputGradient(new Float32Array(6).fill(0.5), w, 3, 5, 2),
          inputGradientReference(new Float32Array(6).fill(0.5), w, 3, 5, 2),
          `${name} after scratch grew`,
        );
        assertClose(
          await k.weightGradient(x, new Float32Array(6).fill(0.25), 3, 5, 2),
          weightGradientReference(x, new Float32Array(6).fill(0.25), 3, 5, 2),
          `${name} gemmTN after scratch grew`,
        );
      } finally {
        k.destroy();
      }
    });
  }

  describe('DCN trained on each CPU path matches DCN trained on the twins', () => {
    /** 300 rows (one full 128-row batch, a second, and a partial one), 5 categorical slots, 3 dense. */
    function rows(): EncodedRows {
      const rng = new SeededRandom(3);
      const n = 300;
      const catSlots = 5;
      const denseSlots = 3;
      const table = 2 ** 10;
      const catIndex = Int32Array.from({ length: n * catSlots }, () => Math.floor(rng.next() * table));
      const labels = Uint8Array.from({ length: n }, (_, r) => (catIndex[r * catSlots] % 3 === 0 ? 1 : rng.next() < 0.2 ? 1 : 0));
      return {
        rows: n,
        catSlots,
        catIndex,
        denseSlots,
        denseValue: Float32Array.from({ length: n * denseSlots }, () => rng.next() * 2 - 1),
        denseIndex: new Int32Array(0),
        labels,
      };
    }

    async function trainAndScore(kernels: DenseKernels): Promise<{ p: Float64Array; losses: number[] }> {
      const config = DcnConfig.parse({ family: 'dcn', hashBits: 10, embeddingDim: 4, crossLayers: 2, mlp: [11, 6], batchSize: 128, seed: 5 });
      const data = rows();
      const model = new DeepCrossNetwork(config, kernels, data.catSlots, data.denseSlots);
      const order = Int32Array.from({ length: data.rows }, (_, i) => i);
      const losses: number[] = [];
      for (let epoch = 0; epoch < 2; epoch++) {
        for (let s = 0; s < data.rows; s += config.batchSize)
          losses.push((await model.trainStep(data, order, s, Math.min(data.rows, s + config.batchSize), 1)).lossSum);
      }
      const p = new Float64Array(data.rows);
      await model.predict(data, 0, data.rows, p);
      return { p, losses };
    }

    for (const name of ['tiled', ...(tfjsWasmAvailable() ? ['tfjs-wasm'] : []), ...(onnxRuntimeAvailable() ? ['onnxruntime'] : [])]) {
      it(`${name}: same losses and predictions as the reference twins after 6 steps, up to float32 rounding`, async () => {
        const twin = await trainAndScore(new ReferenceKernels());
        const got = await trainAndScore(kernelsFor(name));
        // Six Adam steps amplify rounding a little; a wrong product would move losses by O(1) and predictions by O(0.1).
        got.losses.forEach((l, i) =>
          assert.ok(Math.abs(l - twin.losses[i]) <= 1e-3 * Math.abs(twin.losses[i]), `step ${i} loss ${l} vs ${twin.losses[i]}`),
        );
        for (let i = 0; i < got.p.length; i++) assert.ok(Math.abs(got.p[i] - twin.p[i]) <= 1e-4, `row ${i}: ${got.p[i]} vs ${twin.p[i]}`);
      });
    }
  });

  describe('denseKernelsFor: which path runs DCN products', () => {
    const saved = process.env.RANKWRIGHT_DENSE_CPU;
    afterEach(() => {
      if (saved === undefined) delete process.env.RANKWRIGHT_DENSE_CPU;
      else process.env.RANKWRIGHT_DENSE_CPU = saved;
    });

    it('keeps the given kernels for the reference twins and for gpu.js when asked (RANKWRIGHT_DENSE_CPU=gpujs)', () => {
      const ref = new ReferenceKernels();
      assert.equal(denseKernelsFor(ref), ref);
      // A kernels object whose backend is a GPU one is returned as is: gpu.js stays the GPU path.
      const gpuLike = { ...ref, backend: 'headlessgl' } as DenseKernels;
      assert.equal(denseKernelsFor(gpuLike), gpuLike);
      process.env.RANKWRIGHT_DENSE_CPU = 'gpujs';
      const webasmLike = { ...ref, backend: 'webasm' } as DenseKernels;
      assert.equal(denseKernelsFor(webasmLike), webasmLike);
    });

    it('swaps gpu.js on a CPU backend for the fastest CPU dense path installed under auto', () => {
      delete process.env.RANKWRIGHT_DENSE_CPU;
      const webasmLike = { ...new ReferenceKernels(), backend: 'webasm' } as DenseKernels;
      assert.equal(denseKernelsFor(webasmLike).backend, onnxRuntimeAvailable() ? 'onnxruntime' : tfjsWasmAvailable() ? 'tfjs-wasm' : 'tiled');
    });

    it('parses RANKWRIGHT_DENSE_CPU and rejects unknown values', () => {
      assert.equal(requestedDenseCpuMode({}), 'auto');
      assert.equal(requestedDenseCpuMode({ RANKWRIGHT_DENSE_CPU: 'Tiled' }), 'tiled');
      assert.throws(() => requestedDenseCpuMode({ RANKWRIGHT_DENSE_CPU: 'mkl' }), /not one of auto\|onnxruntime\|tfjs-wasm\|tiled\|gpujs/);
    });
  });
});
