import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExperimentResult, ModelConfig, type LearningCurvePoint, type ModelConfigInput, type TrainingProgress } from '../../contracts';
import { loadModelArtifact, plantedScenario, trainExperiment, writeCriteoTsv } from '../../ranking';
import { describeEarlyStopping, downsampleCurve, resolveEvaluateEvery } from '../../ranking/learning-curve';
import { recordCheckpoints, removeTestCheckpoints, resumeFrom, testSlot } from '../support/checkpoints';
import { runCli } from '../support/processes';

/**
 * Training decided by validation: evaluations, early stopping with patience, the best weights restored, the learning
 * curve in the result and the artifact, and resume from a checkpoint with all of it on.
 */

/** Small planted data an FM with a wide embedding and a high step overfits within a few epochs (best: epoch 3). The step is high because AdaGrad starts fm slow on purpose.*/
const tiny = { planted: { trainRows: 3_000, validationRows: 2_000, testRows: 2_000 } };
const overfitting = { family: 'fm' as const, embeddingDim: 16, learningRate: 0.5, batchSize: 64, epochs: 15 };

const bestOf = (curve: LearningCurvePoint[]) => curve.reduce((a, b) => (b.validationNe < a.validationNe ? b : a));

describe('training decided by validation (early stopping)', function () {
  it('an overfitting FM stops early and keeps the best weights (the model of a run that ended at the best epoch)', async () => {
    const events: TrainingProgress[] = [];
    const r = await trainExperiment({ data: tiny, model: { ...overfitting, patience: 2 }, onProgress: (p) => events.push(p) });
    const es = r.earlyStopping;
    const curve = r.learningCurve;
    assert.equal(es.stoppedEarly, true);
    assert.ok(es.epochsRun < overfitting.epochs, `ran ${es.epochsRun} of ${overfitting.epochs} epochs`);
    // One evaluation per epoch (47 steps per epoch is short), each with both NEs of the same weights.
    assert.equal(es.evaluateEvery, 47);
    assert.equal(es.evaluations, es.epochsRun);
    assert.deepEqual(
      curve.map((p) => p.step),
      curve.map((_, i) => (i + 1) * 47),
    );
    assert.deepEqual(
      events.filter((p) => p.validationNe !== undefined).map((p) => p.validationNe),
      curve.map((p) => p.validationNe),
      'every evaluation is also a progress event (what the triage agent and the dashboard read)',
    );
    // Overfitting, visibly: train NE keeps falling while validation NE rises past the best.
    const best = bestOf(curve);
    const last = curve.at(-1)!;
    assert.ok(last.trainNe < best.trainNe && last.validationNe > best.validationNe + 0.01, JSON.stringify(curve));
    assert.equal(es.bestStep, best.step);
    assert.equal(es.bestEpoch, best.epoch);
    assert.equal(es.bestValidationNe, best.validationNe);
    // Restore worked: the final model's validation NE (measured again after the restore) is the best, not the last.
    assert.equal(r.validationNe, best.validationNe);
    assert.ok(r.validationNe < last.validationNe);
    // ... and it is exactly the model a run that stopped at the best epoch ends with.
    const short = await trainExperiment({ data: tiny, model: { ...overfitting, epochs: best.epoch, patience: 0 } });
    assert.deepEqual(r.metrics, short.metrics);
    assert.equal(short.validationNe, r.validationNe);
    assert.equal(short.earlyStopping.stoppedEarly, false);
  });

  it('patience is honoured exactly: the run stops after `patience` evaluations without improvement', async () => {
    const curves: LearningCurvePoint[][] = [];
    for (const patience of [1, 3]) {
      const r = await trainExperiment({ data: tiny, model: { ...overfitting, patience } });
      const curve = r.learningCurve;
      const bestIndex = curve.findIndex((p) => p.step === r.earlyStopping.bestStep);
      assert.equal(r.earlyStopping.stoppedEarly, true);
      assert.equal(curve.length - 1 - bestIndex, patience, `patience ${patience}: ${JSON.stringify(curve)}`);
      assert.ok(curve.slice(bestIndex + 1).every((p) => p.validationNe >= curve[bestIndex].validationNe));
      assert.equal(r.earlyStopping.patience, patience);
      curves.push(curve);
    }
    // Evaluation does not disturb training: the shorter run's curve is a prefix of the longer one's.
    assert.deepEqual(curves[1].slice(0, curves[0].length), curves[0]);
  });

  it('patience 0 never stops early but still keeps the best weights', async () => {
    const r = await trainExperiment({ data: tiny, model: { ...overfitting, epochs: 5, patience: 0 } });
    assert.equal(r.earlyStopping.stoppedEarly, false);
    assert.equal(r.earlyStopping.epochsRun, 5);
    assert.equal(r.learningCurve.length, 5);
    assert.ok(r.earlyStopping.bestStep < 5 * 47);
    assert.equal(r.validationNe, bestOf(r.learningCurve).validationNe);
  });

  it('a steadily improving LR runs all its epochs and keeps the last weights', async () => {
    const r = await trainExperiment({ data: tiny, model: { family: 'lr', learningRate: 0.02, batchSize: 64, epochs: 5 } });
    const curve = r.learningCurve;
    assert.equal(r.earlyStopping.stoppedEarly, false);
    assert.equal(r.earlyStopping.epochsRun, 5);
    assert.equal(curve.length, 5);
    for (let i = 1; i < curve.length; i++) assert.ok(curve[i].validationNe < curve[i - 1].validationNe, JSON.stringify(curve));
    assert.equal(r.earlyStopping.bestStep, curve.at(-1)!.step);
    assert.equal(r.validationNe, curve.at(-1)!.validationNe);
    // Underfitting, visibly: train and validation NE stay close (no gap opens).
    assert.ok(Math.abs(curve.at(-1)!.trainNe - curve.at(-1)!.validationNe) < 0.1, JSON.stringify(curve.at(-1)));
  });

  it('minDelta: gains smaller than it use up patience, yet the lowest NE is still what is kept', async () => {
    const r = await trainExperiment({
      data: tiny,
      model: { family: 'lr', learningRate: 0.02, batchSize: 64, epochs: 5, patience: 1, minDelta: 0.1 },
    });
    // Every epoch improves by ~0.01, far less than 0.1: the second evaluation ends the run, and its weights are kept.
    assert.equal(r.earlyStopping.stoppedEarly, true);
    assert.equal(r.earlyStopping.evaluations, 2);
    assert.equal(r.earlyStopping.bestStep, r.learningCurve[1].step);
    assert.ok(r.learningCurve[1].validationNe < r.learningCurve[0].validationNe);
  });

  it('evaluateEvery evaluates inside epochs (and always at an epoch end)', async () => {
    const r = await trainExperiment({ data: tiny, model: { ...overfitting, epochs: 2, evaluateEvery: 20, patience: 0 } });
    assert.deepEqual(
      r.learningCurve.map((p) => [p.epoch, p.step]),
      [
        [1, 20],
        [1, 40],
        [1, 47],
        [2, 67],
        [2, 87],
        [2, 94],
      ],
    );
    assert.equal(r.earlyStopping.evaluateEvery, 20);
  });

  it('the curve and the decision are in the result (contract-valid) and in the artifact; the split is stated', async () => {
    const r = await trainExperiment({ data: tiny, model: { ...overfitting, patience: 2 } });
    assert.deepEqual(r.validation, { source: 'planted', rows: 2_000 });
    const { header } = await loadModelArtifact(r.artifact);
    assert.deepEqual(header.learningCurve, r.learningCurve);
    assert.deepEqual(header.earlyStopping, r.earlyStopping);
    assert.deepEqual(header.validation, r.validation);
    // What the workflow records (ExperimentResult) takes them as they are.
    const parsed = ExperimentResult.parse({
      experimentId: 'x',
      phase: 'adhoc',
      status: 'succeeded',
      config: ModelConfig.parse(overfitting),
      trainSeconds: r.trainSeconds,
      modelBytes: r.modelBytes,
      attempts: [],
      validation: r.validation,
      earlyStopping: r.earlyStopping,
      learningCurve: r.learningCurve,
    });
    assert.deepEqual(parsed.learningCurve, r.learningCurve);
    const line = describeEarlyStopping(r.earlyStopping, r.validation);
    assert.match(
      line,
      /^stopped early at epoch \d+ after 2 evaluations without improvement \(best validation NE 0\.\d{4} at step \d+, epoch 3; \d+ evaluations\); validation: the planted validation rows \(2000\)$/,
    );
  });

  describe('on Criteo-format files through the real loader', () => {
    let dir: string;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-early-stopping-'));
      const s = plantedScenario({ trainRows: 3_000, validationRows: 1_000, testRows: 1_000 });
      await writeCriteoTsv(path.join(dir, 'train.tsv'), s.train, s.valueNames);
      await writeCriteoTsv(path.join(dir, 'validation.tsv'), s.validation, s.valueNames);
      await writeCriteoTsv(path.join(dir, 'test.tsv'), s.test, s.valueNames);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('validates on the held-out tail of train and says so', async () => {
      const data = { format: 'criteo-tsv' as const, train: path.join(dir, 'train.tsv'), test: path.join(dir, 'test.tsv'), validationFraction: 0.2 };
      const r = await trainExperiment({ data, model: { ...overfitting, patience: 1 } });
      assert.deepEqual(r.validation, { source: 'train-tail', fraction: 0.2, rows: 600 });
      assert.equal(r.earlyStopping.stoppedEarly, true);
      assert.equal(r.validationNe, bestOf(r.learningCurve).validationNe);
      assert.match(describeEarlyStopping(r.earlyStopping, r.validation), /; validation: last 20% of train \(600 rows\)$/);
    });

    it('validates on a validation file when one is given', async () => {
      const data = {
        format: 'criteo-tsv' as const,
        train: path.join(dir, 'train.tsv'),
        validation: path.join(dir, 'validation.tsv'),
        test: path.join(dir, 'test.tsv'),
      };
      const r = await trainExperiment({ data, model: { ...overfitting, patience: 1 } });
      assert.deepEqual(r.validation, { source: 'file', file: data.validation, rows: 1_000 });
      assert.equal(r.earlyStopping.stoppedEarly, true);
    });
  });

  describe('resume with early stopping on', () => {
    after(removeTestCheckpoints);
    for (const model of [
      { ...overfitting, evaluateEvery: 20, checkpointEvery: 7, patience: 2 },
      {
        family: 'dcn' as const,
        embeddingDim: 16,
        learningRate: 0.01,
        batchSize: 64,
        mlp: [32],
        crossLayers: 1,
        epochs: 8,
        checkpointEvery: 11,
        patience: 1,
      },
    ] satisfies ModelConfigInput[]) {
      it(`${model.family}: resuming from checkpoints before and after the best evaluation ends with the same model, curve and decision`, async () => {
        const slot = testSlot(`early-stopping-${model.family}`);
        const { request, saved: checkpoints } = recordCheckpoints(slot);
        const full = await trainExperiment({ data: tiny, model, ...request });
        assert.equal(full.earlyStopping.stoppedEarly, true);
        const bestStep = full.earlyStopping.bestStep;
        const before = checkpoints.filter((c) => c.step < bestStep).at(-1);
        const after = checkpoints.filter((c) => c.step > bestStep).at(-1);
        assert.ok(before && after, `checkpoints at ${checkpoints.map((c) => c.step).join(',')}, best at ${bestStep}`);
        for (const cp of [before, after]) {
          const resumed = await trainExperiment({ data: tiny, model, ...resumeFrom(slot, cp) });
          assert.equal(resumed.artifact, full.artifact, `resume from step ${cp.step}`);
          assert.deepEqual(resumed.metrics, full.metrics);
          assert.deepEqual(resumed.learningCurve, full.learningCurve);
          assert.deepEqual(resumed.earlyStopping, full.earlyStopping);
          assert.equal(resumed.validationNe, full.validationNe);
        }
      });
    }
  });
});

describe('rankwright train says how validation decided the run', () => {
  it('one line: stopped early at which epoch, the best validation NE and its step, the validation split', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-early-stopping-cli-'));
    try {
      const config = path.join(dir, 'exp.json');
      fs.writeFileSync(config, JSON.stringify({ data: tiny, model: { ...overfitting, patience: 2 } }));
      const { code, stdout, stderr } = await runCli(['train', '--config', config]);
      assert.equal(code, 0, stderr);
      assert.match(
        stdout,
        /^training {2}stopped early at epoch \d+ after 2 evaluations without improvement \(best validation NE 0\.\d{4} at step \d+, epoch \d+; \d+ evaluations\); validation: the planted validation rows \(2000\)$/m,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('learning-curve helpers', () => {
  const point = (i: number, ne = 1): LearningCurvePoint => ({ step: (i + 1) * 10, epoch: 1, examples: (i + 1) * 100, trainNe: ne, validationNe: ne });

  it('downsampling keeps at most the limit, the first, the last and the best point', () => {
    const curve = Array.from({ length: 1000 }, (_, i) => point(i, i === 333 ? 0.5 : 1));
    const out = downsampleCurve(curve, 200, curve[333]);
    assert.equal(out.length, 200);
    assert.equal(out[0], curve[0]);
    assert.equal(out.at(-1), curve[999]);
    assert.ok(out.includes(curve[333]));
    assert.ok(out.every((p, i) => i === 0 || p.step > out[i - 1].step));
    assert.deepEqual(downsampleCurve(curve.slice(0, 50)), curve.slice(0, 50));
  });

  it('a long run keeps a bounded curve in its result', async () => {
    // 47 steps per epoch evaluated at every step for 5 epochs: 235 evaluations, at most 200 points.
    const r = await trainExperiment({
      data: tiny,
      model: { family: 'lr', learningRate: 0.02, batchSize: 64, epochs: 5, evaluateEvery: 1, patience: 0 },
    });
    assert.equal(r.earlyStopping.evaluations, 235);
    assert.ok(r.learningCurve.length <= 200, `${r.learningCurve.length} points`);
    assert.equal(r.learningCurve.at(-1)!.step, 235);
    assert.equal(r.learningCurve[0].step, 1);
  });

  it('the automatic cadence: once per epoch up to 2000 steps, then at most 4 times per epoch', () => {
    assert.equal(resolveEvaluateEvery(undefined, 47), 47);
    assert.equal(resolveEvaluateEvery(undefined, 2000), 2000);
    assert.equal(resolveEvaluateEvery(undefined, 2001), 1001);
    assert.equal(resolveEvaluateEvery(undefined, 5000), 1667);
    assert.equal(resolveEvaluateEvery(undefined, 176_000), 44_000);
    assert.equal(resolveEvaluateEvery(20, 47), 20);
    assert.equal(resolveEvaluateEvery(100, 47), 47);
  });
});
