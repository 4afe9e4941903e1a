import { strict as assert } from 'node:assert';
import { DcnConfig } from '../../contracts';
import type { EncodedRows } from '../../ranking/features';
import { TfjsWasmKernels, loadTfjsWasm } from '../../ranking/kernels';
import { DeepCrossNetwork } from '../../ranking/models/dcn';
import { syntheticRows } from '../support/encoded-row';
import { assertCloseTo } from '../support/float-compare';

/**
 * On tfjs-wasm the DCN runs its cross layers and MLP as tfjs ops on tensors kept in wasm memory for the step
 * (ranking/models/dcn-resident.ts). That path computes in float32 where the interface path's loops compute x0·z + x and
 * the bias sums in float64, so the two agree to float32 rounding, not bit for bit: these tests train the same model
 * both ways and compare, for full-rank and low-rank cross layers, and check the resident path leaves no tensor behind.
 */

/** 300 rows, 5 categorical slots over a 1,024-row table, 3 dense values; labels depend on the first slot. */
function rows(): EncodedRows {
  return syntheticRows({ rows: 300, catSlots: 5, denseSlots: 3, tableRows: 1024, seed: 11, clickModulus: 3 });
}

interface Trained {
  losses: number[];
  p: Float64Array;
  weights: Record<string, Float32Array>;
  kernelNames: string[];
}

/** Three epochs of 128-row batches (the last one partial), then scores every row; records the tfjs kernels that ran. */
async function train(residentStack: boolean, crossRank: 'full' | number): Promise<Trained> {
  const tf = await loadTfjsWasm();
  const config = DcnConfig.parse({ family: 'dcn', hashBits: 10, embeddingDim: 4, crossLayers: 2, crossRank, mlp: [11, 6], batchSize: 128, seed: 4 });
  const data = rows();
  const model = new DeepCrossNetwork(config, new TfjsWasmKernels({ residentStack }), data.catSlots, data.denseSlots);
  const order = Int32Array.from({ length: data.rows }, (_, i) => (i * 7) % data.rows);
  const losses: number[] = [];
  const p = new Float64Array(data.rows);
  const profile = await tf.profile(async () => {
    for (let epoch = 0; epoch < 3; epoch++) {
      for (let s = 0; s < data.rows; s += config.batchSize)
        losses.push((await model.trainStep(data, order, s, Math.min(data.rows, s + config.batchSize), 1)).lossSum);
    }
    await model.predict(data, 0, data.rows, p);
  });
  const weights = Object.fromEntries(Object.entries(model.weightTensors()).map(([k, v]) => [k, Float32Array.from(v as Float32Array)]));
  return { losses, p, weights, kernelNames: profile.kernelNames };
}

describe('DCN resident stack on tfjs-wasm: the interface path to float32 rounding, nothing leaked', function () {
  this.timeout(60_000);

  for (const crossRank of ['full', 3] as const) {
    it(`crossRank ${crossRank}: losses, weights and scores match the interface path's within float32 rounding`, async () => {
      const tf = await loadTfjsWasm();
      const tensorsBefore = tf.memory().numTensors;
      const resident = await train(true, crossRank);
      assert.equal(tf.memory().numTensors, tensorsBefore, 'every tensor of the resident steps and scoring was released');
      const reference = await train(false, crossRank);
      // Which path ran: the resident stack multiplies with tfjs's fused matMul (bias, ReLU inside), the interface none.
      assert.ok(resident.kernelNames.includes('_FusedMatMul'), `resident kernels: ${resident.kernelNames.join(', ')}`);
      assert.ok(!reference.kernelNames.includes('_FusedMatMul'), `interface kernels: ${reference.kernelNames.join(', ')}`);

      assert.equal(resident.losses.length, reference.losses.length);
      resident.losses.forEach((l, i) =>
        assert.ok(Math.abs(l - reference.losses[i]) <= 1e-4 * reference.losses[i], `step ${i} loss ${l} vs ${reference.losses[i]}`),
      );
      // Nine Adam steps amplify last-bit differences a little; still far below a learning step's size (lr 1e-3).
      for (const [k, w] of Object.entries(reference.weights)) assertCloseTo(resident.weights[k], w, k, 1e-5, 1e-4);
      assertCloseTo(Float32Array.from(resident.p), Float32Array.from(reference.p), 'scores', 1e-5, 1e-4);
      // Not two untrained models: the loss fell.
      assert.ok(reference.losses.at(-1)! / 44 < reference.losses[0] / 128, 'mean loss fell');
    });
  }

  it('a resident pass that scores rows between training steps leaves training unchanged', async () => {
    const config = DcnConfig.parse({
      family: 'dcn',
      hashBits: 10,
      embeddingDim: 4,
      crossLayers: 2,
      crossRank: 3,
      mlp: [11, 6],
      batchSize: 128,
      seed: 4,
    });
    const data = rows();
    const run = async (scoreBetween: boolean) => {
      const model = new DeepCrossNetwork(config, new TfjsWasmKernels(), data.catSlots, data.denseSlots);
      const order = Int32Array.from({ length: data.rows }, (_, i) => i);
      const losses: number[] = [];
      const scratch = new Float64Array(data.rows);
      for (let s = 0; s < data.rows; s += config.batchSize) {
        losses.push((await model.trainStep(data, order, s, Math.min(data.rows, s + config.batchSize), 1)).lossSum);
        if (scoreBetween) await model.predict(data, 0, data.rows, scratch);
      }
      return losses;
    };
    assert.deepEqual(await run(true), await run(false));
  });
});
