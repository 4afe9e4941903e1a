import { strict as assert } from 'node:assert';
import { DcnConfig } from '../../contracts';
import type { EncodedRows } from '../../ranking/features';
import { OnnxRuntimeKernels, ReferenceKernels } from '../../ranking/kernels';
import type { DenseKernels } from '../../ranking/kernels';
import { DeepCrossNetwork } from '../../ranking/models/dcn';
import { syntheticRows } from '../support/encoded-row';
import { assertCloseTo } from '../support/float-compare';

/**
 * On ONNX Runtime the DCN runs its cross layers and MLP as two ONNX graphs a step (ranking/models/dcn-onnx-stack.ts):
 * float32 throughout, where the interface path's loops compute x0·z + x and the bias sums in float64, so the two agree
 * to float32 rounding, not bit for bit. These tests train the same model both ways — and on the reference twins — and
 * compare, for full-rank and low-rank cross layers and an MLP-less stack, and check that scoring between steps leaves
 * training unchanged (the graphs keep what backward needs in buffers that scoring must not touch).
 */

function rows(): EncodedRows {
  return syntheticRows({ rows: 300, catSlots: 5, denseSlots: 3, tableRows: 1024, seed: 11, clickModulus: 3 });
}

interface Trained {
  losses: number[];
  p: Float64Array;
  weights: Record<string, Float32Array>;
}

/** Three epochs of 128-row batches (the last one partial), then scores every row. */
async function train(kernels: DenseKernels, config: DcnConfig, scoreBetween = false): Promise<Trained> {
  const data = rows();
  const model = new DeepCrossNetwork(config, kernels, data.catSlots, data.denseSlots);
  const order = Int32Array.from({ length: data.rows }, (_, i) => (i * 7) % data.rows);
  const losses: number[] = [];
  const p = new Float64Array(data.rows);
  for (let epoch = 0; epoch < 3; epoch++) {
    for (let s = 0; s < data.rows; s += config.batchSize) {
      losses.push((await model.trainStep(data, order, s, Math.min(data.rows, s + config.batchSize), 1)).lossSum);
      if (scoreBetween) await model.predict(data, 0, 200, new Float64Array(200));
    }
  }
  await model.predict(data, 0, data.rows, p);
  const weights = Object.fromEntries(Object.entries(model.weightTensors()).map(([k, v]) => [k, Float32Array.from(v as Float32Array)]));
  return { losses, p, weights };
}

function assertSameTraining(got: Trained, want: Trained, what: string): void {
  assert.equal(got.losses.length, want.losses.length);
  got.losses.forEach((l, i) => assert.ok(Math.abs(l - want.losses[i]) <= 1e-4 * want.losses[i], `${what}: step ${i} loss ${l} vs ${want.losses[i]}`));
  // Nine Adam steps amplify last-bit differences a little; still far below a learning step's size (lr 1e-3).
  for (const [k, w] of Object.entries(want.weights)) assertCloseTo(got.weights[k], w, `${what} ${k}`, 1e-5, 1e-4);
  assertCloseTo(Float32Array.from(got.p), Float32Array.from(want.p), `${what} scores`, 1e-5, 1e-4);
}

describe('DCN dense stack on ONNX Runtime: the interface path and the twins to float32 rounding', function () {
  this.timeout(60_000);

  const shapes = [
    { name: 'full rank', crossRank: 'full', crossLayers: 2, mlp: [11, 6] },
    { name: 'crossRank 3', crossRank: 3, crossLayers: 2, mlp: [11, 6] },
    { name: 'cross layers only (no MLP)', crossRank: 'full', crossLayers: 3, mlp: [] },
    { name: 'MLP only (no cross layer)', crossRank: 'full', crossLayers: 0, mlp: [9] },
  ] as const;
  const configOf = (shape: Omit<(typeof shapes)[number], 'name'>) =>
    DcnConfig.parse({ family: 'dcn', hashBits: 10, embeddingDim: 4, batchSize: 128, seed: 4, ...shape, mlp: [...shape.mlp] });
  for (const { name, ...shape } of shapes) {
    it(`${name}: losses, weights and scores match the interface path's and the twins'`, async () => {
      const config = configOf(shape);
      // Which path ran: the stack calls none of the kernels' per-product methods, the interface path calls them.
      const counted = (denseStack: boolean) => {
        const k = new OnnxRuntimeKernels({ denseStack });
        let calls = 0;
        for (const m of ['affine', 'crossLayer', 'crossGated', 'inputGradient', 'inputGradientPlus', 'weightGradient'] as const) {
          const f = k[m].bind(k) as (...a: unknown[]) => Promise<Float32Array>;
          (k as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => (calls++, f(...a));
        }
        return { k, calls: () => calls };
      };
      const viaStack = counted(true);
      const stack = await train(viaStack.k, config);
      assert.equal(viaStack.calls(), 0, 'the stack ran every product');
      const viaProducts = counted(false);
      const perProduct = await train(viaProducts.k, config);
      assert.ok(viaProducts.calls() > 0, 'the interface path ran product by product');
      const twins = await train(new ReferenceKernels(), config);
      assertSameTraining(stack, perProduct, 'stack vs interface');
      assertSameTraining(stack, twins, 'stack vs twins');
      // Not two untrained models: the loss fell.
      assert.ok(stack.losses.at(-1)! / 44 < stack.losses[0] / 128, 'mean loss fell');
    });
  }

  it('scoring between training steps leaves training unchanged', async () => {
    const { name: _lowRank, ...lowRank } = shapes[1]; // low rank, cross layers and an MLP
    const config = configOf(lowRank);
    const plain = await train(new OnnxRuntimeKernels(), config);
    const scored = await train(new OnnxRuntimeKernels(), config, true);
    assert.deepEqual(scored.losses, plain.losses);
    assert.deepEqual(scored.p, plain.p);
  });
});
