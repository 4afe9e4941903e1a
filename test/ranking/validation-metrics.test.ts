import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationMetrics } from '../../contracts';
import { plantedScenario, trainExperiment, writeCriteoTsv } from '../../ranking';
import { PRIOR_CLICKS } from '../../ranking/calibration';
import { evaluateJob, jobPaths, prepareJob, readExternalModel } from '../../ranking/external-job';
import { normalizedEntropy, normalizedEntropyStdErr } from '../../ranking/metrics';
import { SeededRandom } from '../../ranking/rng';

/**
 * The served model's metrics on the validation rows (what a campaign decides on): cross-fitted calibration, so a
 * model without signal cannot read better than a constant; standard errors; the paired comparison with the baseline
 * on the same rows, its scores made the same way; external trainers' predictions as delivered.
 */

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'rw-validation-metrics-'));

/**
 * Criteo TSV rows whose labels ignore every feature: clicks at `ctr`, 13 counts and 26 categorical values (30 per
 * field) drawn independently of them. Any signal a model finds here is noise.
 */
function writeNoSignalTsv(file: string, rows: number, ctr: number, seed: number): number {
  const rng = new SeededRandom(seed);
  const lines: string[] = [];
  let clicks = 0;
  for (let r = 0; r < rows; r++) {
    const label = rng.next() < ctr ? 1 : 0;
    clicks += label;
    const cols: string[] = [String(label)];
    for (let i = 0; i < 13; i++) cols.push(String(Math.floor(rng.next() * 20)));
    for (let c = 0; c < 26; c++) cols.push((0x10000000 + c * 0x10000 + Math.floor(rng.next() * 30)).toString(16));
    lines.push(cols.join('\t'));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return clicks;
}

/** A Criteo data config of train, validation and test files in `dir` (the tests write them). */
function criteoFiles(dir: string) {
  return {
    format: 'criteo-tsv' as const,
    train: path.join(dir, 'train.tsv'),
    validation: path.join(dir, 'validation.tsv'),
    test: path.join(dir, 'test.tsv'),
  };
}

describe('validation metrics of the served model', function () {
  this.timeout(300_000);

  it('no signal at 0.5% CTR: the served model reads NE ≥ 1 on validation, where its in-sample calibration reads lower', async () => {
    const data = criteoFiles(tmp());
    const trainClicks = writeNoSignalTsv(data.train, 40_000, 0.005, 1);
    const validationClicks = writeNoSignalTsv(data.validation, 8_000, 0.005, 2);
    writeNoSignalTsv(data.test, 8_000, 0.005, 3);
    for (const calibration of ['platt', 'auto'] as const) {
      const r = await trainExperiment({ data, model: { family: 'lr', calibration } });
      const v = ValidationMetrics.parse(r.validationMetrics);
      const report = r.calibration!;
      const line = `${calibration}: ${report.method} (${report.reason}); validation NE in-sample ${report.validation.after.ne.toFixed(4)}, cross-fitted ${v.ne.toFixed(4)} ± ${v.neStdErr.toFixed(4)}, AUC ${v.auc.toFixed(3)}; test NE ${r.metrics.ne.toFixed(4)}`;
      if (process.env.RANKWRIGHT_TEST_VERBOSE) console.log(`      ${line}`);
      assert.equal(v.examples, 8_000);
      assert.equal(v.clicks, validationClicks);
      assert.ok(Math.abs(v.ctr - validationClicks / 8_000) < 1e-12);
      assert.ok(v.ne >= 0.99, line);
      assert.ok(report.validation.after.ne < v.ne, `the in-sample calibration flatters: ${line}`);
      assert.ok(v.neStdErr > 0 && Number.isFinite(v.neStdErr));
      assert.equal(v.neDeltaStdErr, undefined, 'no baseline given');
      // The level was shrunk toward the training rows' click rate, by validation's ~40 clicks against the prior's 100.
      const s = report.shrinkage!;
      assert.equal(s.trainCtr, trainClicks / 40_000);
      assert.equal(s.validationClicks, validationClicks);
      assert.ok(Math.abs(s.validationWeight - validationClicks / (validationClicks + PRIOR_CLICKS)) < 1e-12);
      assert.equal(report.crossFitFolds, 5);
      // Test metrics are scored as before, for information.
      assert.equal(r.metrics.examples, 8_000);
    }
  });

  it('the training click rate the level shrinks toward counts every training row, streamed from disk or held', async () => {
    const data = criteoFiles(tmp());
    const trainClicks = writeNoSignalTsv(data.train, 20_000, 0.01, 4);
    writeNoSignalTsv(data.validation, 4_000, 0.01, 5);
    writeNoSignalTsv(data.test, 4_000, 0.01, 6);
    const model = { family: 'lr' as const, epochs: 1, calibration: 'isotonic' as const };
    const held = await trainExperiment({ data, model });
    const streamed = await trainExperiment({ data, model, maxInMemoryTrainRows: 5_000 });
    for (const r of [held, streamed]) {
      assert.equal(r.calibration!.shrinkage!.trainCtr, trainClicks / 20_000);
      // ~40 validation clicks: too few for isotonic, which falls back to Platt and says why.
      assert.equal(r.calibration!.method, 'platt');
      assert.match(r.calibration!.reason, /isotonic needs 200 validation clicks/);
    }
  });

  it('with the baseline: neDeltaStdErr on validation, the baseline cross-fitted the same way (itself pairs to exactly 0)', async () => {
    const s = plantedScenario({ trainRows: 12_000, validationRows: 4_000, testRows: 4_000, baseCtr: 0.05 });
    const data = criteoFiles(tmp());
    await writeCriteoTsv(data.train, s.train, s.valueNames);
    await writeCriteoTsv(data.validation, s.validation, s.valueNames);
    await writeCriteoTsv(data.test, s.test, s.valueNames);
    const model = { family: 'lr' as const, epochs: 1 };
    const baseline = await trainExperiment({ data, model, segmentField: 'C2' });
    const b = baseline.validationMetrics!;
    assert.ok(b.segments && b.segments.length > 0 && b.segments.every((g) => g.field === 'C2'));
    assert.ok(b.ne < 1, `planted signal shows on validation: NE ${b.ne}`);

    // Trained again (deterministic): the same raw scores, cross-fitted on the same folds with the same prior.
    const again = await trainExperiment({ data, model, baselineArtifact: baseline.artifact });
    assert.equal(again.validationMetrics!.ne, b.ne);
    assert.equal(again.validationMetrics!.neDeltaStdErr, 0);

    const other = await trainExperiment({ data, model: { family: 'fm', epochs: 1 }, baselineArtifact: baseline.artifact });
    const v = ValidationMetrics.parse(other.validationMetrics);
    assert.ok(v.neDeltaStdErr! > 0 && Number.isFinite(v.neDeltaStdErr!));
    // Paired on the same rows: sharper than treating the two NEs as independent.
    assert.ok(v.neDeltaStdErr! < Math.hypot(v.neStdErr, b.neStdErr), `paired ${v.neDeltaStdErr} vs unpaired ${Math.hypot(v.neStdErr, b.neStdErr)}`);
    // The test-set pairing is unchanged beside it.
    assert.ok(other.neDeltaStdErr! > 0);
  });

  it('an external trainer: validation metrics from its predictions as delivered, paired with built-in and external baselines', async () => {
    const planted = { planted: { trainRows: 3_000, validationRows: 2_000, testRows: 2_000, baseCtr: 0.05 } };
    const builtIn = await trainExperiment({ data: planted, model: { family: 'lr', epochs: 1 } });
    const s = plantedScenario(planted.planted);

    const deliver = async (jobId: string, scale: number) => {
      const spec = await prepareJob(planted, jobId, {});
      const out = jobPaths(jobId).outputs;
      assert.equal(spec.outputs.validationPredictions, out.validationPredictions);
      fs.writeFileSync(out.model, 'opaque');
      // The planted truth, slightly off: a good external model.
      const lines = (t: Float64Array) => Array.from(t, (p) => Math.min(0.999, p * scale).toPrecision(7)).join('\n') + '\n';
      fs.writeFileSync(out.validationPredictions, lines(s.validationTruth));
      fs.writeFileSync(out.testPredictions, lines(s.testTruth));
      return evaluateJob({
        data: planted,
        jobId,
        trainer: { kind: 'command', name: 'fake' },
        params: {},
        baselineArtifact: builtIn.artifact,
        seconds: 1,
      });
    };
    const first = await deliver('ext-1', 1.1);
    const v = ValidationMetrics.parse(first.validationMetrics);
    const delivered = Float64Array.from(s.validationTruth, (p) => Number(Math.min(0.999, p * 1.1).toPrecision(7)));
    assert.ok(Math.abs(v.ne - normalizedEntropy(delivered, s.validation.labels)) < 1e-12, 'used as delivered: no calibration of Rankwright');
    assert.ok(Math.abs(v.neStdErr - normalizedEntropyStdErr(delivered, s.validation.labels)) < 1e-12);
    assert.ok(v.neDeltaStdErr! > 0, 'paired with the built-in baseline, cross-fitted');
    const stored = await readExternalModel(first.artifact);
    assert.equal(stored!.validationScores!.length, 2_000);

    // Against an external baseline: its stored validation predictions (the same ones pair to 0).
    const spec = await prepareJob(planted, 'ext-2', {});
    fs.writeFileSync(spec.outputs.model, 'opaque');
    fs.copyFileSync(jobPaths('ext-1').outputs.validationPredictions, spec.outputs.validationPredictions);
    fs.copyFileSync(jobPaths('ext-1').outputs.testPredictions, spec.outputs.testPredictions);
    const second = await evaluateJob({
      data: planted,
      jobId: 'ext-2',
      trainer: { kind: 'command', name: 'fake' },
      params: {},
      baselineArtifact: first.artifact,
      seconds: 1,
    });
    assert.equal(second.validationMetrics!.neDeltaStdErr, 0);
  });
});
