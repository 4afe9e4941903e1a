import { strict as assert } from 'node:assert';
import { DcnConfig } from '../../contracts';
import type { EncodedRows } from '../../ranking/features';
import { TfjsWasmKernels, type DenseKernels } from '../../ranking/kernels';
import { DeepCrossNetwork } from '../../ranking/models/dcn';
import { SeededRandom } from '../../ranking/rng';
import { syntheticRows } from '../support/encoded-row';
import { randomFloats } from '../support/float-compare';

/**
 * A DCN training step writes every product into buffers it keeps between steps (the kernels' `out`), so a step
 * allocates nothing. These tests pin that this changes no number: the kernels' results through `out` are bit-equal to
 * the arrays they would allocate, and a DCN trained that way matches, bit for bit, one whose kernels ignore `out`,
 * also when predictions (which reuse the same buffers at a larger batch) run between its steps.
 */

/**
 * The same kernels with `out` dropped: every product allocates its result, as before the buffers were kept. It also
 * hides the optional fused forms (crossGated, inputGradientPlus), so the model runs its own loops: the fused read-outs
 * must give the same bits.
 */
class AllocatingKernels implements DenseKernels {
  constructor(private readonly k: DenseKernels) {}
  get backend(): string {
    return this.k.backend;
  }
  affine(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number, relu: boolean) {
    return this.k.affine(x, w, b, rows, inDim, outDim, relu);
  }
  crossLayer(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number) {
    return this.k.crossLayer(x0, xl, w, b, rows, dim);
  }
  inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number) {
    return this.k.inputGradient(dy, w, rows, inDim, outDim);
  }
  weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number) {
    return this.k.weightGradient(x, dy, rows, inDim, outDim);
  }
  fmInteraction(e: Float32Array, rows: number, fields: number, dim: number) {
    return this.k.fmInteraction(e, rows, fields, dim);
  }
  destroy(): void {
    this.k.destroy();
  }
}

/** 300 rows, 5 categorical slots over a 1,024-row table, 3 dense values; labels depend on the first slot. */
function rows(): EncodedRows {
  return syntheticRows({ rows: 300, catSlots: 5, denseSlots: 3, tableRows: 1024, seed: 7, clickModulus: 3 });
}

interface Trained {
  losses: number[];
  norms: number[];
  p: Float64Array;
  weights: Record<string, Float32Array>;
}

/** Two epochs of 128-row batches (the last one partial), optionally scoring all rows after every step; then scores. */
async function train(kernels: DenseKernels, crossRank: 'full' | number, scoreBetweenSteps: boolean): Promise<Trained> {
  const config = DcnConfig.parse({ family: 'dcn', hashBits: 10, embeddingDim: 4, crossLayers: 2, crossRank, mlp: [11, 6], batchSize: 128, seed: 9 });
  const data = rows();
  const model = new DeepCrossNetwork(config, kernels, data.catSlots, data.denseSlots);
  const order = Int32Array.from({ length: data.rows }, (_, i) => (i * 7) % data.rows);
  const losses: number[] = [];
  const norms: number[] = [];
  const scratch = new Float64Array(data.rows);
  for (let epoch = 0; epoch < 2; epoch++) {
    for (let s = 0; s < data.rows; s += config.batchSize) {
      const { lossSum, gradNorm } = await model.trainStep(data, order, s, Math.min(data.rows, s + config.batchSize), 1);
      losses.push(lossSum);
      norms.push(gradNorm);
      if (scoreBetweenSteps) await model.predict(data, 0, data.rows, scratch);
    }
  }
  const p = new Float64Array(data.rows);
  await model.predict(data, 0, data.rows, p);
  const weights = Object.fromEntries(Object.entries(model.weightTensors()).map(([k, v]) => [k, Float32Array.from(v as Float32Array)]));
  return { losses, norms, p, weights };
}

function assertSame(got: Trained, want: Trained, what: string): void {
  assert.deepEqual(got.losses, want.losses, `${what}: losses`);
  assert.deepEqual(got.norms, want.norms, `${what}: gradient norms`);
  assert.deepEqual(Array.from(got.p), Array.from(want.p), `${what}: predictions`);
  for (const [k, w] of Object.entries(want.weights))
    assert.ok(Buffer.compare(Buffer.from(got.weights[k].buffer), Buffer.from(w.buffer)) === 0, `${what}: ${k}`);
}

describe('DCN step buffers: kept between steps, no number changes', function () {
  this.timeout(60_000);

  it('tfjs-wasm kernels write into a dirty `out`, return it, and give bit-for-bit what they allocate without it', async () => {
    const k = new TfjsWasmKernels();
    const rng = new SeededRandom(3);
    const [rowsN, inDim, outDim] = [37, 45, 13];
    const x = randomFloats(rowsN * inDim, rng);
    const w = randomFloats(inDim * outDim, rng);
    const b = randomFloats(outDim, rng);
    const dy = randomFloats(rowsN * outDim, rng);
    const x0 = randomFloats(rowsN * inDim, rng);
    const wc = randomFloats(inDim * inDim, rng);
    const bc = randomFloats(inDim, rng);
    const dirty = (n: number) => new Float32Array(n).fill(123);
    const cases: [string, (out?: Float32Array) => Promise<Float32Array>, number][] = [
      ['affine', (out) => k.affine(x, w, b, rowsN, inDim, outDim, false, out), rowsN * outDim],
      ['affine relu', (out) => k.affine(x, w, b, rowsN, inDim, outDim, true, out), rowsN * outDim],
      ['crossLayer', (out) => k.crossLayer(x0, x, wc, bc, rowsN, inDim, out), rowsN * inDim],
      ['inputGradient', (out) => k.inputGradient(dy, w, rowsN, inDim, outDim, out), rowsN * inDim],
      ['weightGradient', (out) => k.weightGradient(x, dy, rowsN, inDim, outDim, out), inDim * outDim],
    ];
    for (const [name, run, n] of cases) {
      const allocated = await run();
      const out = dirty(n);
      const got = await run(out);
      assert.equal(got, out, `${name} returns the caller's buffer`);
      assert.deepEqual(Array.from(got), Array.from(allocated), `${name}: same values through out`);
      assert.ok(!allocated.every((v) => v === 123), `${name} computed something`);
    }
  });

  for (const crossRank of ['full', 3] as const) {
    it(`crossRank ${crossRank}: training on kept buffers, with scoring between steps, matches allocating kernels bit for bit`, async () => {
      // The interface path (residentStack off): the resident stack is a different float32 path, dcn-resident.test.ts.
      const interfacePath = () => new TfjsWasmKernels({ residentStack: false });
      const want = await train(new AllocatingKernels(interfacePath()), crossRank, false);
      assertSame(await train(interfacePath(), crossRank, false), want, 'kept buffers');
      assertSame(await train(interfacePath(), crossRank, true), want, 'kept buffers, scoring between steps');
      // The model learnt something (the comparison above is not between two untrained models).
      assert.ok(want.losses.at(-1)! / 44 < want.losses[0] / 128, `mean loss fell: ${want.losses[0] / 128} → ${want.losses.at(-1)! / 44}`);
    });
  }
});
