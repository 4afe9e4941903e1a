import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDataset, measureFieldPairSignal, plantedScenario, scoreFile, trainExperiment, writeCriteoTsv } from '../../ranking';
import { encodeRows } from '../../ranking/features';
import { loadModelArtifact } from '../../ranking/model-artifact';
import { createModel } from '../../ranking/models/create-model';
import { ReferenceKernels } from '../../ranking/kernels';
import { runTrain } from '../../client/commands/train';
import { runScore } from '../../client/commands/score';
import { TrainingFailure } from '../../ranking/failure';
import { applyCalibrator } from '../../ranking/calibration';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'rw-facade-'));

/** Captures process.stdout / stderr writes during fn. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await fn(), out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

describe('engine facade', () => {
  const planted = { trainRows: 8_000, validationRows: 1_000, testRows: 2_000 };

  it('scoreFile writes one probability per row, in input order, for 39- and 40-column rows', async () => {
    const { artifact } = await trainExperiment({ data: { planted }, model: { family: 'fm', epochs: 1 } });
    const dir = tmp();
    const s = plantedScenario(planted);
    const input = path.join(dir, 'test.tsv');
    await writeCriteoTsv(input, s.test, s.valueNames, { withLabel: false });
    const out = path.join(dir, 'scores.txt');
    assert.deepEqual(await scoreFile(artifact, input, out), { rows: 2_000 });
    const scores = fs.readFileSync(out, 'utf8').trim().split('\n').map(Number);
    assert.equal(scores.length, 2_000);
    assert.ok(scores.every((p) => p > 0 && p < 1));
    // Same order as the rows: compare with scoring the in-memory test rows directly (reference kernels).
    const { header, tensors } = await loadModelArtifact(artifact);
    const model = createModel(header.config, header.featureSpec, new ReferenceKernels());
    model.loadWeights(tensors);
    const expected = new Float64Array(s.test.rows);
    await model.predict(encodeRows(s.test, header.featureSpec), 0, s.test.rows, expected);
    applyCalibrator(header.calibrator, expected); // score writes calibrated probabilities
    for (let i = 0; i < scores.length; i++) assert.ok(Math.abs(scores[i] - expected[i]) < 1e-5, `row ${i}: ${scores[i]} vs ${expected[i]}`);
    // 40-column input (with labels) scores the same rows identically.
    const labelled = path.join(dir, 'labelled.tsv');
    await writeCriteoTsv(labelled, s.test, s.valueNames);
    await scoreFile(artifact, labelled, path.join(dir, 'scores2.txt'));
    assert.equal(fs.readFileSync(path.join(dir, 'scores2.txt'), 'utf8'), fs.readFileSync(out, 'utf8'));
  });

  it('scoreFile fails on a malformed row without leaving a partial output', async () => {
    const { artifact } = await trainExperiment({ data: { planted }, model: { family: 'lr', epochs: 1 } });
    const out = path.join(tmp(), 'scores.txt');
    await assert.rejects(
      scoreFile(artifact, 'test/fixtures/bad/non-numeric-dense.tsv', out),
      (e: unknown) => e instanceof TrainingFailure && /:6: expected an integer/.test(e.message),
    );
    assert.equal(fs.existsSync(out), false);
    await assert.rejects(scoreFile('sha256:../../x', 'test/fixtures/criteo/test.tsv', out), /invalid artifact ref/);
  });

  it('measureFieldPairSignal ranks the planted crosses first for a model without them', async () => {
    const data = { planted: {} }; // the default scenario: 60k rows, 8 fields, 2 planted crosses
    const dataset = await loadDataset(data);
    const { artifact } = await trainExperiment({ data, model: { family: 'lr' } });
    const signal = await measureFieldPairSignal(data, artifact);
    assert.equal(signal.length, 28, '8 active fields → 28 pairs');
    const top = signal
      .slice(0, 2)
      .map((s) => s.fields.join('×'))
      .sort();
    assert.deepEqual(top, dataset.plantedCrosses!.map((c) => c.join('×')).sort());
    assert.ok(signal[0].strength >= signal[1].strength && signal[1].strength > signal[2].strength);
  });

  it('measureFieldPairSignal sees less missed signal once the model has the crosses', async () => {
    const data = { planted: {} };
    const dataset = await loadDataset(data);
    const without = await measureFieldPairSignal(data, (await trainExperiment({ data, model: { family: 'lr' } })).artifact);
    const withCrosses = await measureFieldPairSignal(
      data,
      (await trainExperiment({ data, model: { family: 'lr', crosses: dataset.plantedCrosses as [string, string][] } })).artifact,
    );
    const strength = (list: typeof without, pair: string[]) => list.find((s) => s.fields.join() === pair.join())!.strength;
    for (const pair of dataset.plantedCrosses!) assert.ok(strength(withCrosses, pair) < strength(without, pair), `${pair}`);
  });
});

describe('CLI commands', () => {
  it('runTrain --json prints {artifact, metrics, badRows, validation, earlyStopping, learningCurve, calibration, validationMetrics} on one line', async () => {
    const file = path.join(tmp(), 'exp.json');
    fs.writeFileSync(file, JSON.stringify({ data: { planted: { trainRows: 3000, validationRows: 500, testRows: 1000 } }, model: { family: 'lr' } }));
    const { code, out } = await capture(() => runTrain({ config: file, json: true }));
    assert.equal(code, 0);
    assert.equal(out.trim().split('\n').length, 1);
    const parsed = JSON.parse(out);
    assert.deepEqual(Object.keys(parsed), [
      'artifact',
      'metrics',
      'badRows',
      'validation',
      'earlyStopping',
      'learningCurve',
      'calibration',
      'validationMetrics',
    ]);
    assert.equal(typeof parsed.validationMetrics.neStdErr, 'number', 'the served model on validation, with its standard error');
    assert.deepEqual(parsed.badRows, { count: 0, files: [], examples: [] }, 'planted data reads no files');
    assert.match(parsed.artifact, /^sha256:[0-9a-f]{64}$/);
    for (const k of ['ne', 'auc', 'logloss', 'calibration']) assert.equal(typeof parsed.metrics[k], 'number');

    const scores = path.join(tmp(), 'scores.txt');
    const scored = await capture(() => runScore({ model: parsed.artifact, input: 'test/fixtures/criteo/unlabeled.tsv', out: scores }));
    assert.equal(scored.code, 0);
    assert.equal(fs.readFileSync(scores, 'utf8').trim().split('\n').length, 12);
  });

  it('runTrain names every bad field and exits 2 on an invalid config', async () => {
    const file = path.join(tmp(), 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ data: { planted: { trainRows: 5 } }, model: { family: 'fm', learningRate: -1, embeddingDim: 0 } }));
    const { code, err } = await capture(() => runTrain({ config: file, json: true }));
    assert.equal(code, 2);
    assert.match(err, /data\.planted\.trainRows/);
    assert.match(err, /model\.learningRate/);
    assert.match(err, /model\.embeddingDim/);
    const notJson = path.join(tmp(), 'x.json');
    fs.writeFileSync(notJson, '{');
    assert.equal((await capture(() => runTrain({ config: notJson, json: false }))).code, 2);
  });

  it('runTrain reports a classified failure with exit code 1', async () => {
    const file = path.join(tmp(), 'exp.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        data: { planted: { trainRows: 3000, validationRows: 500, testRows: 1000 } },
        model: { family: 'fm', learningRate: 10, denseTransform: 'log', epochs: 2, hashBits: 18 }, // explodes in its second epoch
      }),
    );
    const { code, err } = await capture(() => runTrain({ config: file, json: false }));
    assert.equal(code, 1);
    assert.match(err, /training failed \(diverged\)/);
  });
});
