import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ingestGoals, ingestMarkdown, type IngestReport } from '../../bench/ingest';
import { measurePredictions } from '../../bench/peers/measure';
import { runTextbookFtrl } from '../../bench/peers/textbook-ftrl';
import { runVwFtrl, type RunContext } from '../../bench/quality/contenders';
import { writeCriteoTsv } from '../../ranking/data/criteo-writer';
import { plantedScenario } from '../../ranking/data/planted';
import { ensureVowpalWabbitVenv } from '../support/trainer-venv';

// Vowpal Wabbit's FTRL, `lr`'s speed peer (bench/peers/vw_ftrl.py), run end to end in the tests' own small venv
// (.rankwright-test/vw-venv, vowpalwabbit at the bench's pin, installed from PyPI when missing); and the ingest
// bench's goals and report with VW run and not run. No timing is asserted: speeds are the bench's to report.

describe('Vowpal Wabbit FTRL peer', function () {
  let dir: string;
  let ctx: RunContext;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-vw-peer-'));
    const s = plantedScenario({ seed: 5, trainRows: 8_000, validationRows: 100, testRows: 3_000 });
    const files = { train: path.join(dir, 'train.tsv'), test: path.join(dir, 'test.tsv') };
    await writeCriteoTsv(files.train, s.train, s.valueNames);
    await writeCriteoTsv(files.test, s.test, s.valueNames);
    ctx = {
      files: { name: 'planted', source: 'planted', dir, ...files, rows: { train: 8_000, validation: 0, test: 3_000 }, validationFraction: 0.1 },
      workDir: dir,
      capSeconds: 120,
      rankwrightHome: path.join(dir, 'home'),
      log: () => {},
    };
  });

  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('trains one pass with the textbook recipe and lands where the textbook FTRL does', async function () {
    // The first time, pip installs the wheel (a few MiB) into a fresh venv.
    this.timeout(300_000);
    const { python } = ensureVowpalWabbitVenv();
    const r = await runVwFtrl(ctx, { python });
    assert.equal(r.status, 'ok', r.note);
    const d = r.detail as Record<string, number | string>;
    assert.equal(d.trainRows, 8_000);
    assert.equal(d.testRows, 3_000);
    assert.equal(d.vowpalwabbit, '9.11.9');
    assert.match(String(d.args), /--ftrl --ftrl_alpha 0.05 --ftrl_beta 1 --l1 0.5 --l2 1 .*-b 22 --passes 1/);
    for (const k of ['examplesPerSec', 'examplesPerSecWithConversion', 'trainSeconds', 'convertTrainSeconds'])
      assert.ok(typeof d[k] === 'number' && Number.isFinite(d[k]) && d[k] > 0, `${k}: ${d[k]}`);
    assert.ok(d.examplesPerSecWithConversion < d.examplesPerSec, 'the conversion costs time of its own');
    // Measured by the shared measure, like every peer; better than a constant predictor (NE 1).
    assert.equal(r.metrics!.rows, 3_000);
    assert.ok(r.metrics!.ne < 0.95, `VW NE ${r.metrics!.ne}`);
    assert.ok(r.metrics!.auc > 0.6, `AUC ${r.metrics!.auc}`);
    // Same features, same hyperparameters, same single pass: the textbook script's NE, up to hashing and rounding.
    const textbook = path.join(dir, 'textbook.predictions.txt');
    await runTextbookFtrl(ctx.files.train, ctx.files.test, textbook);
    const t = await measurePredictions(textbook, ctx.files.test);
    assert.ok(Math.abs(r.metrics!.ne - t.ne) < 0.01, `VW NE ${r.metrics!.ne} against the textbook's ${t.ne}`);
    // Its converted files and model lived in a temporary folder under the work dir, removed after.
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.vw')),
      [],
    );
  });

  it('without Vowpal Wabbit it is reported as not run, with the reason', async function () {
    const r = await runVwFtrl(ctx, { python: path.join(dir, 'no-such-python') });
    assert.equal(r.status, 'failed');
    assert.match(r.note ?? '', /^not run, no Vowpal Wabbit: .*no-such-python/);
  });
});

describe('ingest bench: the VW goals', function () {
  const report = (vw: IngestReport['vw']): IngestReport => ({
    stamp: {
      commit: 'c'.repeat(40),
      dirtyFiles: 0,
      date: '2026-12-06T00:00:00Z',
      machine: { cpu: 'x', cores: 2, memoryGiB: 8, node: 'v20', platform: 'linux' },
    },
    quick: true,
    files: { train: 'train.tsv', test: 'test.tsv', trainRows: 100_000, testRows: 20_000, trainMiB: 23 },
    textbook: { wallSeconds: 1, trainRows: 100_000, testRows: 20_000, testNe: 0.9001, examplesPerSec: 100_000 },
    vw,
    lrPass: {
      wallSeconds: 2,
      loadSeconds: 0.5,
      trainSeconds: 1,
      otherSeconds: 0.2,
      startupSeconds: 0.3,
      trainRows: 90_000,
      testRows: 20_000,
      testNe: 0.899,
      peakRssMiB: 300,
    },
    dcnEpoch: {
      wallSeconds: 9,
      loadSeconds: 0.5,
      trainSeconds: 7.5,
      otherSeconds: 0.5,
      startupSeconds: 0.5,
      trainRows: 90_000,
      testRows: 20_000,
      testNe: 0.85,
      peakRssMiB: 400,
    },
    parse: { seconds: 0.4, rows: 120_000, megabytesPerSec: 60 },
    rates: { rows: 90_000, lrExamplesPerSec: 200_000, fmExamplesPerSec: 150_000, encodeSeconds: 0.1 },
    ratio: 2,
    samples: { textbook: [1], lrPass: [2], vw: vw.status === 'ok' ? [vw.trainSeconds] : [], dcnEpoch: [9] },
    goals: [],
  });

  it('lr against VW like for like: training against training, whole run against whole run, and test NE', function () {
    const r = report({
      status: 'ok',
      version: '9.11.9',
      args: '--ftrl',
      wallSeconds: 2.5,
      convertTrainSeconds: 1.5,
      convertTestSeconds: 0.3,
      trainSeconds: 0.5,
      testSeconds: 0.2,
      trainRows: 100_000,
      examplesPerSec: 250_000,
      examplesPerSecWithConversion: 50_000,
      testNe: 0.9,
    });
    const goals = ingestGoals(r);
    const training = goals.find((g) => g.name === 'LR training vs Vowpal Wabbit FTRL training, examples/s')!;
    // LR's training loop: 200,000 examples/s against VW's 250,000.
    assert.equal(training.measured, 0.8);
    assert.equal(training.met, false);
    assert.match(
      training.why!,
      /LR 200,000 examples\/s training one shuffled pass over 90,000 encoded rows against VW's 250,000 .*its parser included/,
    );
    const whole = goals.find((g) => g.name === 'LR whole pass vs Vowpal Wabbit FTRL whole run, examples/s')!;
    // 100,000 train-file rows: LR's 2 s pass is 50,000 examples/s, VW's 2.5 s run 40,000.
    assert.equal(whole.measured, 1.25);
    assert.equal(whole.met, true);
    assert.equal(whole.peer!.value, 40_000);
    // Its reason is given only when missed: VW's run twice as fast would be.
    const slower = ingestGoals({
      ...r,
      vw: { ...(r.vw as Extract<IngestReport['vw'], { status: 'ok' }>), wallSeconds: 1, convertTrainSeconds: 0.3 },
    });
    const missed = slower.find((g) => g.name === whole.name)!;
    assert.equal(missed.met, false);
    assert.match(missed.why!, /LR 50,000 examples\/s over its whole pass .* against VW's 100,000 over its whole run \(1\.00 s: 0\.30 s converting/);
    // The DCN epoch: 9 s against the textbook's 1 s pass, over the 5x goal.
    const dcn = goals.find((g) => g.name === 'DCN one epoch vs textbook FTRL, wall time incl. parse')!;
    assert.equal(dcn.measured, 9);
    assert.equal(dcn.met, false);
    assert.match(dcn.why!, /9\.00 s against 1\.00 s: training one epoch over 90,000 rows .* 7\.50 s, 12,000 examples\/s; test NE 0\.85/);
    const ne = goals.find((g) => /Vowpal Wabbit FTRL, test NE/.test(g.name))!;
    assert.equal(ne.measured, -0.111); // (0.899 − 0.9) / 0.9, in percent
    assert.equal(ne.met, true);
    r.goals = goals;
    const md = ingestMarkdown(r);
    assert.match(md, /\| VW test NE \| 0\.9 \|/);
    assert.match(md, /VW training, one pass over its own format .* 250,000 examples\/s; 50,000 with the conversion; 40,000 over the whole run/);
  });

  it('VW not run: its goals are left out and the report says why', function () {
    const r = report({ status: 'not run', reason: 'pip install vowpalwabbit==9.11.9 exited 1' });
    r.goals = ingestGoals(r);
    assert.deepEqual(
      r.goals.map((g) => g.name),
      ['LR one pass vs textbook FTRL, wall time incl. parse', 'DCN one epoch vs textbook FTRL, wall time incl. parse', 'FM training rate vs LR'],
    );
    assert.match(ingestMarkdown(r), /\| Vowpal Wabbit FTRL \| not run: pip install vowpalwabbit==9\.11\.9 exited 1 \|/);
  });
});
