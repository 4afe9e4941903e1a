import { strict as assert } from 'node:assert';
import { ModelConfig, type ModelConfigInput } from '../../contracts';
import { chooseCalibrator, fitIsotonic, fitPlatt } from '../../ranking/calibration';
import { plantedScenario } from '../../ranking/data/planted';
import type { LoadedDataset } from '../../ranking/data/load-data';
import { concatBlocks, sliceRows, type RowBlock } from '../../ranking/data/rows';
import { evaluate } from '../../ranking/experiment';
import { buildFeatureSpec, encodeRows, takeEncodedRows, type EncodedRows, type FeatureSpec } from '../../ranking/features';
import { sharedKernels } from '../../ranking/kernels';
import { ReferenceKernels } from '../../ranking/kernels/reference-kernels';
import {
  auc,
  calibration,
  clickThroughRate,
  logLoss,
  normalizedEntropy,
  normalizedEntropyStdErr,
  pairedNormalizedEntropyStdErr,
  segmentNormalizedEntropy,
} from '../../ranking/metrics';
import { createModel } from '../../ranking/models/create-model';
import { FactorizationMachine } from '../../ranking/models/fm';
import { FtrlLogisticRegression } from '../../ranking/models/lr';
import type { RankingModel } from '../../ranking/models/model';
import { SeededRandom } from '../../ranking/rng';
import { runTrainingLoop } from '../../ranking/trainer';

/**
 * Sample weights (RowBlock.weights, carried into EncodedRows.weights): every metric weighs a row by its weight, every
 * family multiplies a row's loss gradient by it, and weights all 1 change nothing, bit for bit.
 */

/** Small random scores, labels, integer weights 0..3 and segment keys; scores with ties on purpose (AUC's tie rule). */
function scored(n: number, seed: number) {
  const rng = new SeededRandom(seed);
  const p = Float64Array.from({ length: n }, () => Math.round(rng.next() * 40) / 41 + 0.01);
  const y = Uint8Array.from(p, (q) => (rng.next() < q ? 1 : 0));
  const w = Float32Array.from({ length: n }, () => Math.floor(rng.next() * 4));
  const keys = Array.from({ length: n }, () => `s${Math.floor(rng.next() * 4)}`);
  return { p, y, w, keys };
}

/** Each row repeated its weight's number of times (a weight-0 row dropped). */
function duplicated(p: Float64Array, y: Uint8Array, w: Float32Array, keys: string[]) {
  const dp: number[] = [];
  const dy: number[] = [];
  const dk: string[] = [];
  for (let i = 0; i < p.length; i++)
    for (let k = 0; k < w[i]; k++) {
      dp.push(p[i]);
      dy.push(y[i]);
      dk.push(keys[i]);
    }
  return { p: Float64Array.from(dp), y: Uint8Array.from(dy), keys: dk };
}

const close = (a: number, b: number, what: string, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe('sample weights: metrics', () => {
  it('integer weights give the metrics of the rows repeated that many times (NE, log loss, AUC, calibration, CTR, segment NE)', () => {
    for (const seed of [1, 2, 3]) {
      const { p, y, w, keys } = scored(600, seed);
      const d = duplicated(p, y, w, keys);
      close(normalizedEntropy(p, y, w), normalizedEntropy(d.p, d.y), 'NE');
      close(logLoss(p, y, w), logLoss(d.p, d.y), 'log loss');
      close(auc(p, y, w), auc(d.p, d.y), 'AUC');
      close(calibration(p, y, w), calibration(d.p, d.y), 'calibration');
      close(clickThroughRate(y, w), clickThroughRate(d.y), 'CTR');
      const segW = segmentNormalizedEntropy(p, y, keys, 'C1', 10, w);
      const segD = segmentNormalizedEntropy(d.p, d.y, d.keys, 'C1', 10);
      assert.deepEqual(
        segW.map((s) => s.value),
        segD.map((s) => s.value),
      );
      segW.forEach((s, i) => close(s.ne, segD[i].ne, `segment ${s.value} NE`));
    }
  });

  it('weights all 1 give bit-identical metrics to no weights', () => {
    const { p, y, keys } = scored(500, 4);
    const ones = new Float32Array(p.length).fill(1);
    const q = Float64Array.from(p, (x, i) => Math.min(0.99, x + (i % 7) * 0.01));
    assert.ok(Object.is(normalizedEntropy(p, y, ones), normalizedEntropy(p, y)));
    assert.ok(Object.is(logLoss(p, y, ones), logLoss(p, y)));
    assert.ok(Object.is(auc(p, y, ones), auc(p, y)));
    assert.ok(Object.is(calibration(p, y, ones), calibration(p, y)));
    assert.ok(Object.is(normalizedEntropyStdErr(p, y, ones), normalizedEntropyStdErr(p, y)));
    assert.ok(Object.is(pairedNormalizedEntropyStdErr(p, q, y, ones), pairedNormalizedEntropyStdErr(p, q, y)));
    assert.deepEqual(segmentNormalizedEntropy(p, y, keys, 'C1', 10, ones), segmentNormalizedEntropy(p, y, keys, 'C1', 10));
    assert.deepEqual(fitPlatt(p, y, {}, ones), fitPlatt(p, y));
    assert.deepEqual(fitIsotonic(p, y, ones), fitIsotonic(p, y));
    assert.deepEqual(chooseCalibrator('auto', p, y, ones), chooseCalibrator('auto', p, y));
  });

  it('NE standard errors: scale-invariant, the unweighted formula at equal weights, larger when weights are uneven', () => {
    const { p, y, w } = scored(2000, 5);
    const q = Float64Array.from(p, (x, i) => Math.min(0.99, Math.max(0.01, x + ((i % 5) - 2) * 0.02)));
    const w1 = Float32Array.from(w, (x) => x + 1);
    const scaled = Float32Array.from(w1, (x) => x * 64);
    const twos = new Float32Array(p.length).fill(2);
    close(normalizedEntropyStdErr(p, y, scaled), normalizedEntropyStdErr(p, y, w1), 'se scaled', 1e-9);
    close(pairedNormalizedEntropyStdErr(p, q, y, scaled), pairedNormalizedEntropyStdErr(p, q, y, w1), 'paired se scaled', 1e-9);
    close(normalizedEntropyStdErr(p, y, twos), normalizedEntropyStdErr(p, y), 'se at equal weights', 1e-9);
    close(pairedNormalizedEntropyStdErr(p, q, y, twos), pairedNormalizedEntropyStdErr(p, q, y), 'paired se at equal weights', 1e-9);
    // Weight-0 rows are not there: the same as the other rows alone.
    const kept = [...w.keys()].filter((i) => w[i] > 0);
    const sub = (a: ArrayLike<number>) => kept.map((i) => a[i]);
    close(normalizedEntropyStdErr(p, y, w), normalizedEntropyStdErr(sub(p), sub(y), sub(w)), 'se without weight-0 rows', 1e-12);
    // Few rows carrying most of the weight: a noisier mean.
    const uneven = Float32Array.from(w1, (_, i) => (i % 50 === 0 ? 100 : 1));
    assert.ok(normalizedEntropyStdErr(p, y, uneven) > normalizedEntropyStdErr(p, y) * 1.5);
  });

  it('Platt and isotonic fitted with integer weights equal the fits on the repeated rows', () => {
    const { p, y, w, keys } = scored(800, 6);
    const d = duplicated(p, y, w, keys);
    const a = fitPlatt(p, y, {}, w);
    const b = fitPlatt(d.p, d.y);
    close(a.a, b.a, 'platt a', 1e-6);
    close(a.b, b.b, 'platt b', 1e-6);
    // Isotonic: the same blocks and rates; weight-0 rows may add breakpoints at their scores (on the same map).
    const iso = fitIsotonic(p, y, w);
    const isoD = fitIsotonic(d.p, d.y);
    const at = (c: { x: number[]; y: number[] }, x: number) => {
      let k = 0;
      while (k + 1 < c.x.length && c.x[k + 1] <= x) k++;
      return c.y[k];
    };
    for (const x of new Set(d.p)) close(at(iso, x), at(isoD, x), `isotonic at ${x}`);
  });
});

/** A planted block encoded with its own spec. */
function planted(trainRows = 3000) {
  const s = plantedScenario({ seed: 11, trainRows, validationRows: 1000, testRows: 100, categoricalFields: 4, denseFields: 2, cardinality: 50 });
  return s;
}

function encodeWith(config: ModelConfig, train: RowBlock): { spec: FeatureSpec; data: EncodedRows } {
  const spec = buildFeatureSpec(config, train, { categorical: [0, 1, 2, 3], dense: [0, 1] });
  return { spec, data: encodeRows(train, spec) };
}

const CONFIGS: Record<'lr' | 'fm' | 'dcn', ModelConfigInput> = {
  lr: { family: 'lr', hashBits: 10 },
  fm: { family: 'fm', hashBits: 10, embeddingDim: 4 },
  dcn: { family: 'dcn', hashBits: 10, embeddingDim: 4, mlp: [8], crossLayers: 1, batchSize: 64, learningRate: 0.01 },
};

async function trainOnce(model: RankingModel, data: EncodedRows, order: Int32Array, batch: number): Promise<void> {
  for (let s = 0; s < order.length; s += batch) await model.trainStep(data, order, s, Math.min(order.length, s + batch), 1);
}

function shuffled(n: number, seed: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  new SeededRandom(seed).shuffle(order);
  return order;
}

describe('sample weights: test metrics of an experiment', () => {
  it('evaluate() on a weighted test block equals evaluate() on its rows repeated (examples stays the row count)', () => {
    const s = plantedScenario({ seed: 3, trainRows: 100, validationRows: 100, testRows: 400, categoricalFields: 3, cardinality: 6 });
    const rng = new SeededRandom(8);
    const weights = Float32Array.from({ length: s.test.rows }, () => Math.floor(rng.next() * 4));
    const scores = Float64Array.from(s.testTruth, (t) => Math.min(0.999, t * (0.8 + 0.4 * rng.next())));
    const repeated: RowBlock[] = [];
    const repeatedScores: number[] = [];
    for (let r = 0; r < s.test.rows; r++)
      for (let k = 0; k < weights[r]; k++) {
        repeated.push(sliceRows(s.test, r, r + 1));
        repeatedScores.push(scores[r]);
      }
    const dataset = { valueNames: s.valueNames } as unknown as LoadedDataset;
    const got = evaluate(scores, { ...s.test, weights }, dataset, 'C1');
    const want = evaluate(Float64Array.from(repeatedScores), concatBlocks(repeated), dataset, 'C1');
    for (const key of ['ne', 'logloss', 'auc', 'calibration', 'ctr'] as const) close(got[key], want[key], key);
    assert.equal(got.examples, s.test.rows);
    assert.ok(got.segments!.length >= 3);
    assert.deepEqual(
      got.segments!.map((g) => g.value),
      want.segments!.map((g) => g.value),
    );
    got.segments!.forEach((g, i) => close(g.ne, want.segments![i].ne, `segment ${g.value}`));
  });
});

describe('sample weights: training', () => {
  it('encoding and row selection carry the weights; blocks without weights encode without them', () => {
    const s = planted(500);
    const config = ModelConfig.parse(CONFIGS.lr);
    const plain = encodeWith(config, s.train);
    assert.equal('weights' in plain.data, false);
    const weights = Float32Array.from({ length: s.train.rows }, (_, i) => (i % 3) + 0.5);
    const data = encodeRows({ ...s.train, weights }, plain.spec);
    assert.equal(data.weights, weights);
    const taken = takeEncodedRows(data, Int32Array.from([4, 1, 7]));
    assert.deepEqual([...taken.weights!], [weights[4], weights[1], weights[7]]);
  });

  for (const family of ['lr', 'fm'] as const) {
    it(`${family}: rows of weight 0 leave exactly the model trained without them`, async () => {
      const s = planted(2000);
      const config = ModelConfig.parse({ ...CONFIGS[family], ...(family === 'fm' ? { l2: 0.01 } : {}) });
      const { spec, data } = encodeWith(config, s.train);
      const rng = new SeededRandom(9);
      const weights = Float32Array.from({ length: data.rows }, () => (rng.next() < 0.3 ? 0 : 1 + Math.floor(rng.next() * 3)));
      const weighted: EncodedRows = { ...data, weights };
      const kept = Int32Array.from([...weights.keys()].filter((i) => weights[i] > 0));
      const without = takeEncodedRows(weighted, kept); // keeps the kept rows' weights
      // The same visiting order of the kept rows; position in `without` of an original row index.
      const position = new Map([...kept].map((r, k) => [r, k]));
      const order = shuffled(data.rows, 4);
      const orderWithout = Int32Array.from([...order].filter((r) => weights[r] > 0).map((r) => position.get(r)!));
      const a = createModel(config, spec, sharedKernels());
      const b = createModel(config, spec, sharedKernels());
      assert.ok(a instanceof (family === 'lr' ? FtrlLogisticRegression : FactorizationMachine));
      // Per-example models: batch boundaries don't matter, so the batches need not line up.
      await trainOnce(a, weighted, order, 128);
      await trainOnce(b, without, orderWithout, 128);
      assert.deepEqual(a.stateTensors(), b.stateTensors());
    });
  }

  it('dcn: a batch of weight-0 rows moves nothing on a fresh model; weight-0 rows add no loss (see the comment)', async () => {
    // DCN steps on mini-batches: a weight-0 row still counts in the batch mean's divisor, and lazy Adam updates every
    // embedding row the batch touched (a zero gradient still decays its moments and moves it by the momentum it has).
    // So dropping weight-0 rows is not bit-exact; what holds exactly is below.
    const s = planted(500);
    const config = ModelConfig.parse(CONFIGS.dcn);
    const { spec, data } = encodeWith(config, s.train);
    const model = createModel(config, spec, sharedKernels());
    const before = structuredClone(model.weightTensors());
    const zero: EncodedRows = { ...data, weights: new Float32Array(data.rows) };
    const order = shuffled(data.rows, 2);
    const step = await model.trainStep(zero, order, 0, 64, 1);
    assert.equal(step.lossSum, 0);
    assert.equal(step.weightSum, 0);
    assert.deepEqual(model.weightTensors(), before);
    const half: EncodedRows = { ...data, weights: Float32Array.from({ length: data.rows }, (_, i) => i % 2) };
    const fresh = createModel(config, spec, sharedKernels());
    const r = await fresh.trainStep(
      half,
      Int32Array.from({ length: 64 }, (_, i) => i),
      0,
      64,
      1,
    );
    assert.equal(r.weightSum, 32);
    assert.ok(r.lossSum > 0 && Number.isFinite(r.lossSum));
  });

  for (const family of ['lr', 'fm', 'dcn'] as const) {
    it(`${family}: up-weighting clicks raises the mean predicted CTR`, async () => {
      const s = planted(3000);
      const config = ModelConfig.parse(CONFIGS[family]);
      const { spec, data } = encodeWith(config, s.train);
      const validation = encodeRows(s.validation, spec);
      const weighted: EncodedRows = { ...data, weights: Float32Array.from(data.labels, (y) => (y ? 4 : 1)) };
      const order = shuffled(data.rows, 3);
      const mean = async (d: EncodedRows) => {
        const model = createModel(config, spec, sharedKernels());
        for (let epoch = 0; epoch < (family === 'dcn' ? 2 : 1); epoch++) await trainOnce(model, d, order, config.batchSize);
        const p = new Float64Array(validation.rows);
        await model.predict(validation, 0, validation.rows, p);
        return p.reduce((x, q) => x + q, 0) / p.length;
      };
      const plain = await mean(data);
      const up = await mean(weighted);
      const ctr = clickThroughRate(data.labels);
      // Clicks weighing 4: the weighted CTR is 4c / (4c + 1 − c); the model should move well toward it.
      const target = (4 * ctr) / (3 * ctr + 1);
      assert.ok(up > plain + 0.3 * (target - ctr), `${family}: mean prediction ${up} weighted vs ${plain} (CTR ${ctr}, weighted ${target})`);
    });
  }

  for (const family of ['lr', 'fm', 'dcn'] as const) {
    it(`${family}: weights all 1 give bit-identical models, losses and validation results to no weights`, async () => {
      const s = planted(1500);
      const config = ModelConfig.parse({ ...CONFIGS[family], epochs: 2, evaluateEvery: 5, patience: 0 });
      const { spec, data } = encodeWith(config, s.train);
      const validation = encodeRows(s.validation, spec);
      const ones = (n: number) => new Float32Array(n).fill(1);
      const run = async (train: EncodedRows, val: EncodedRows) => {
        const model = createModel(config, spec, sharedKernels());
        const result = await runTrainingLoop(model, config, train, val, {});
        return { weights: model.weightTensors(), result };
      };
      const plain = await run(data, validation);
      const weighted = await run({ ...data, weights: ones(data.rows) }, { ...validation, weights: ones(validation.rows) });
      assert.deepEqual(weighted.weights, plain.weights);
      assert.ok(Object.is(weighted.result.validationNe, plain.result.validationNe));
      assert.deepEqual(weighted.result.learningCurve, plain.result.learningCurve);
      assert.deepEqual(weighted.result.earlyStopping, plain.result.earlyStopping);
      const strip = (ps: typeof plain.result.progress) => ps.map(({ elapsedMs: _e, ...rest }) => rest);
      assert.deepEqual(strip(weighted.result.progress), strip(plain.result.progress));
    });
  }

  it('dcn on the reference kernels: weights all 1 are bit-identical too', async () => {
    const s = planted(400);
    const config = ModelConfig.parse(CONFIGS.dcn);
    const { spec, data } = encodeWith(config, s.train);
    const order = shuffled(data.rows, 5);
    const a = createModel(config, spec, new ReferenceKernels());
    const b = createModel(config, spec, new ReferenceKernels());
    await trainOnce(a, data, order, 64);
    await trainOnce(b, { ...data, weights: new Float32Array(data.rows).fill(1) }, order, 64);
    assert.deepEqual(b.weightTensors(), a.weightTensors());
  });
});
