import { strict as assert } from 'node:assert';
import { FmConfig } from '../../contracts';
import type { EncodedRows } from '../../ranking/features';
import { ReferenceKernels } from '../../ranking/kernels';
import { FactorizationMachine } from '../../ranking/models/fm';
import { logitLoss, sigmoid } from '../../ranking/models/model';
import { SeededRandom } from '../../ranking/rng';
import { rowFeatures } from '../support/encoded-row';

/**
 * FM keeps parameters and AdaGrad accumulators interleaved for speed; this is the same FM on separate w, v, G_w, G_v
 * tables, written plainly. Both must leave bit-identical tensors (float32 rounding of every accumulator included).
 */
function referenceFm(config: FmConfig, tableRows: number, data: EncodedRows, order: Int32Array, init: { v: Float32Array }) {
  const k = config.embeddingDim;
  const bias = tableRows;
  const w = new Float32Array(bias + 1);
  const v = init.v.slice();
  const gw = new Float32Array(bias + 1).fill(3);
  const gv = new Float32Array((bias + 1) * k).fill(300);
  const lr = config.learningRate;
  const m = data.catSlots + data.denseSlots;
  for (const r of order) {
    const { idx, val } = rowFeatures(data, r);
    let logit = w[bias];
    const sum = new Float64Array(k);
    let sumSq = 0;
    for (let f = 0; f < m; f++) {
      logit += w[idx[f]] * val[f];
      for (let c = 0; c < k; c++) {
        const t = v[idx[f] * k + c] * val[f];
        sum[c] += t;
        sumSq += t * t;
      }
    }
    let pair = 0;
    for (let c = 0; c < k; c++) pair += sum[c] * sum[c];
    logit += 0.5 * (pair - sumSq);
    logitLoss(logit, data.labels[r]);
    let g = sigmoid(logit) - data.labels[r];
    if (config.gradientClip !== undefined) g = Math.max(-config.gradientClip, Math.min(config.gradientClip, g));
    gw[bias] += g * g;
    w[bias] -= (lr * g) / Math.sqrt(gw[bias]);
    for (let f = 0; f < m; f++) {
      const i = idx[f];
      const x = val[f];
      const gwi = g * x + config.l2 * w[i];
      gw[i] += gwi * gwi;
      w[i] -= (lr * gwi) / Math.sqrt(gw[i]);
      for (let c = 0; c < k; c++) {
        const vic = v[i * k + c];
        const gvc = g * x * (sum[c] - vic * x) + config.l2 * vic;
        gv[i * k + c] += gvc * gvc;
        v[i * k + c] = vic - (lr * gvc) / Math.sqrt(gv[i * k + c]);
      }
    }
  }
  return { w, v, gw, gv };
}

function rows(seed: number, count: number, tableRows: number): EncodedRows {
  const rng = new SeededRandom(seed);
  const catSlots = 5;
  const denseSlots = 2;
  // Few table rows: a row's slots often share one, so the same row is updated twice in an example.
  const catIndex = Int32Array.from({ length: count * catSlots }, () => Math.floor(rng.next() * rng.next() * tableRows));
  const denseValue = Float32Array.from({ length: count * denseSlots }, () => (rng.next() - 0.3) * 3);
  const labels = Uint8Array.from({ length: count }, () => (rng.next() < 0.3 ? 1 : 0));
  return { rows: count, catSlots, catIndex, denseSlots, denseValue, denseIndex: Int32Array.from([2, 9]), labels };
}

describe('FM training loop', () => {
  for (const extra of [{}, { l2: 0.01, gradientClip: 0.3, embeddingDim: 4 }]) {
    it(`leaves exactly the tensors of the plainly written FM ${JSON.stringify(extra)}`, async () => {
      const tableRows = 48;
      const config = FmConfig.parse({ family: 'fm', hashBits: 8, ...extra });
      const data = rows(5, 2000, tableRows);
      const order = Int32Array.from({ length: data.rows }, (_, i) => i);
      new SeededRandom(9).shuffle(order);
      const model = new FactorizationMachine(config, new ReferenceKernels(), tableRows);
      const init = model.stateTensors() as { v: Float32Array };
      const expected = referenceFm(config, tableRows, data, order, init);
      for (let start = 0; start < data.rows; start += 256) await model.trainStep(data, order, start, Math.min(data.rows, start + 256), 1);
      const state = model.stateTensors();
      for (const name of ['w', 'v', 'gw', 'gv'] as const) assert.deepEqual([...state[name]], [...expected[name]], name);
    });
  }
});
