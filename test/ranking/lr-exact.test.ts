import { strict as assert } from 'node:assert';
import { LrConfig } from '../../contracts';
import type { EncodedRows } from '../../ranking/features';
import { logitLoss, sigmoid } from '../../ranking/models/model';
import { FtrlLogisticRegression } from '../../ranking/models/lr';
import { SeededRandom } from '../../ranking/rng';
import { rowFeatures } from '../support/encoded-row';

/**
 * The LR training loop is written out for speed; this is FTRL-Proximal as it was written before, coordinate by
 * coordinate through a weight function. Both must leave bit-identical (z, n), losses and predictions, collisions
 * inside a row (a coordinate updated twice) and gradient clipping included.
 */
function referenceFtrl(config: LrConfig, tableRows: number, data: EncodedRows, order: Int32Array, epochs: number) {
  const bias = tableRows;
  const z = new Float64Array(bias + 1);
  const n = new Float64Array(bias + 1);
  const alpha = config.learningRate;
  const weight = (i: number) => {
    const l1 = i === bias ? 0 : config.l1;
    if (Math.abs(z[i]) <= l1) return 0;
    return -(z[i] - Math.sign(z[i]) * l1) / ((config.ftrlBeta + Math.sqrt(n[i])) / alpha + config.l2);
  };
  let lossSum = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (const r of order) {
      const { idx, val } = rowFeatures(data, r);
      idx.push(bias);
      val.push(1);
      const w = idx.map(weight);
      let logit = 0;
      for (let k = 0; k < idx.length; k++) logit += w[k] * val[k];
      lossSum += logitLoss(logit, data.labels[r]);
      const g = sigmoid(logit) - data.labels[r];
      for (let k = 0; k < idx.length; k++) {
        let gi = g * val[k];
        if (config.gradientClip !== undefined) gi = Math.max(-config.gradientClip, Math.min(config.gradientClip, gi));
        const sigma = (Math.sqrt(n[idx[k]] + gi * gi) - Math.sqrt(n[idx[k]])) / alpha;
        z[idx[k]] += gi - sigma * w[k];
        n[idx[k]] += gi * gi;
      }
    }
  }
  return { z, n, lossSum };
}

function rows(seed: number, count: number, tableRows: number): EncodedRows {
  const rng = new SeededRandom(seed);
  const catSlots = 6;
  const denseSlots = 2;
  const catIndex = new Int32Array(count * catSlots);
  // Few rows in the table: slots of one row often share a coordinate, and dense slots share theirs with categoricals.
  for (let i = 0; i < catIndex.length; i++) catIndex[i] = Math.floor(rng.next() * rng.next() * tableRows);
  const denseValue = Float32Array.from({ length: count * denseSlots }, () => (rng.next() - 0.3) * 4);
  const labels = Uint8Array.from({ length: count }, () => (rng.next() < 0.3 ? 1 : 0));
  return { rows: count, catSlots, catIndex, denseSlots, denseValue, denseIndex: Int32Array.from([3, 5]), labels };
}

describe('LR (FTRL) training loop', () => {
  for (const extra of [{}, { gradientClip: 0.2 }, { l1: 0, learningRate: 0.3 }]) {
    it(`leaves exactly the (z, n) of the per-coordinate FTRL ${JSON.stringify(extra)}`, async () => {
      const tableRows = 64;
      const config = LrConfig.parse({ family: 'lr', hashBits: 8, ...extra });
      const data = rows(7, 3000, tableRows);
      const order = Int32Array.from({ length: data.rows }, (_, i) => i);
      new SeededRandom(3).shuffle(order);
      const model = new FtrlLogisticRegression(config, tableRows);
      let lossSum = 0;
      for (let epoch = 0; epoch < 2; epoch++) {
        for (let start = 0; start < data.rows; start += 256)
          lossSum += (await model.trainStep(data, order, start, Math.min(data.rows, start + 256), 1)).lossSum;
      }
      const expected = referenceFtrl(config, tableRows, data, order, 2);
      const state = model.stateTensors();
      assert.deepEqual([...state.z], [...expected.z]);
      assert.deepEqual([...state.n], [...expected.n]);
      // Loss sums are added per step here, per example there: equal up to the order of additions.
      assert.ok(Math.abs(lossSum - expected.lossSum) < 1e-9 * expected.lossSum);
    });
  }
});
