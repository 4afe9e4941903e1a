import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CATEGORICAL_FIELDS, DENSE_FIELDS } from '../../contracts';
import { exportJobData, float32Text, type JobDataFiles } from '../../ranking/data/job-export';
import { clearDatasetCache, loadDataset, type LoadedDataset } from '../../ranking/data/load-data';
import { CATEGORICAL_COUNT, DENSE_COUNT, MISSING_CATEGORICAL, type RowBlock } from '../../ranking/data/rows';
import { normalizedEntropy } from '../../ranking/metrics';
import { ensureTrainerVenv } from '../support/trainer-venv';
import { writePlantedSplits } from '../support/planted-files';

const TRAIN_PY = path.resolve(__dirname, '..', '..', 'examples', 'trainers', 'lightgbm', 'train.py');
const PLANTED = { planted: { seed: 11, trainRows: 5_000, validationRows: 2_000, testRows: 3_000, missingRate: 0.1 } };

function readTsv(file: string): { header: string[]; rows: string[][] } {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.pop(), '', `${file} ends with a newline`);
  return { header: lines[0].split('\t'), rows: lines.slice(1).map((l) => l.split('\t')) };
}

/** Every cell of a TSV reads back to the block's value (dense as float32, categorical hashes, empty when missing). */
function assertRoundTrip(file: string, block: RowBlock, files: JobDataFiles): void {
  const { header, rows } = readTsv(file);
  assert.deepEqual(
    header,
    files.columns.map((c) => c.name),
  );
  assert.equal(rows.length, block.rows);
  for (let r = 0; r < block.rows; r++) {
    const cells = rows[r];
    assert.equal(cells.length, files.columns.length, `row ${r} has every column`);
    files.columns.forEach((c, k) => {
      const cell = cells[k];
      if (c.role === 'label') assert.equal(cell, String(block.labels[r]));
      else if (c.role === 'weight') assert.equal(Math.fround(Number(cell)), block.weights ? block.weights[r] : 1);
      else if (c.role === 'dense') {
        const v = block.dense[r * DENSE_COUNT + DENSE_FIELDS.indexOf(c.slot)];
        if (Number.isNaN(v)) assert.equal(cell, '', `row ${r} ${c.slot}: missing is empty`);
        else assert.equal(Math.fround(Number(cell)), v, `row ${r} ${c.slot}: ${cell} reads back as ${v}`);
      } else {
        const h = block.categorical[r * CATEGORICAL_COUNT + CATEGORICAL_FIELDS.indexOf(c.slot)];
        assert.equal(cell, h === MISSING_CATEGORICAL ? '' : String(h), `row ${r} ${c.slot}`);
      }
    });
  }
}

describe('job data export (the hand-off to external trainers)', function () {
  let dir: string;
  let ds: LoadedDataset;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-job-export-'));
    ds = await loadDataset(PLANTED);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes the three splits with a header, active columns only, missing values empty', async () => {
    const out = path.join(dir, 'plain');
    const files = await exportJobData(ds, out, { labels: { I1: 'price', C2: 'country' } });
    assert.deepEqual(files.rows, { train: ds.train.rows, validation: ds.validation.rows, test: ds.test.rows });
    assert.equal(files.train, path.join(out, 'train.tsv'));
    assert.deepEqual(
      files.columns.map((c) => c.role),
      ['label', ...ds.active.dense.map(() => 'dense'), ...ds.active.categorical.map(() => 'categorical')],
      'no weight column without weights; dense before categorical',
    );
    assert.deepEqual(
      files.columns.slice(1).map((c) => c.slot),
      [...ds.active.dense.map((f) => DENSE_FIELDS[f]), ...ds.active.categorical.map((f) => CATEGORICAL_FIELDS[f])],
    );
    assert.ok(ds.active.dense.includes(0) && ds.active.categorical.includes(1), 'the planted data uses I1 and C2');
    assert.equal(files.columns.find((c) => c.slot === 'I1')!.name, 'price');
    assert.equal(files.columns.find((c) => c.slot === 'C2')!.name, 'country');
    assert.equal(files.columns.find((c) => c.slot === 'C1')!.name, 'C1', 'an unnamed slot keeps its own name');
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'data.json'), 'utf8')), files);
    assertRoundTrip(files.train, ds.train, files);
    assertRoundTrip(files.validation, ds.validation, files);
    assertRoundTrip(files.test, ds.test, files);
    const { rows } = readTsv(files.test);
    assert.ok(
      rows.some((r) => r.includes('')),
      'missing values (missingRate 0.1) appear as empty cells',
    );
    assert.deepEqual(fs.readdirSync(out).sort(), ['data.json', 'test.tsv', 'train.tsv', 'validation.tsv'], 'no temporary files left');
  });

  it('is a no-op when the files are already there, and safe to run concurrently', async () => {
    const out = path.join(dir, 'twice');
    const [a, b] = await Promise.all([exportJobData(ds, out), exportJobData(ds, out)]);
    assert.deepEqual(a, b);
    const mtimes = () => ['data.json', 'train.tsv', 'validation.tsv', 'test.tsv'].map((f) => fs.statSync(path.join(out, f)).mtimeMs);
    const before = mtimes();
    await new Promise((r) => setTimeout(r, 30));
    const again = await exportJobData(ds, out);
    assert.deepEqual(again, a);
    assert.deepEqual(mtimes(), before, 'nothing rewritten');
    // Other column names are another export: rewritten in place.
    const renamed = await exportJobData(ds, out, { labels: { C1: 'site' } });
    assert.equal(renamed.columns.find((c) => c.slot === 'C1')!.name, 'site');
    assert.equal(readTsv(renamed.train).header.includes('site'), true);
    assert.deepEqual(fs.readdirSync(out).sort(), ['data.json', 'test.tsv', 'train.tsv', 'validation.tsv']);
  });

  it('writes a weight column only when the rows carry weights', async () => {
    const weigh = (b: RowBlock, seed: number): RowBlock => ({
      ...b,
      weights: Float32Array.from({ length: b.rows }, (_, r) => ((r * 7 + seed) % 5) * 0.3 + 0.1),
    });
    // Weights on validation and test only: train writes 1 for every row.
    const weighted: LoadedDataset = { ...ds, validation: weigh(ds.validation, 1), test: weigh(ds.test, 2) };
    const files = await exportJobData(weighted, path.join(dir, 'weighted'));
    assert.deepEqual(
      files.columns.slice(0, 2).map((c) => [c.name, c.role]),
      [
        ['label', 'label'],
        ['weight', 'weight'],
      ],
    );
    assertRoundTrip(files.validation, weighted.validation, files);
    assertRoundTrip(files.train, weighted.train, files);
    assert.ok(readTsv(files.train).rows.every((r) => r[1] === '1'));
  });

  it('keeps display names unique and TSV-safe', async () => {
    const files = await exportJobData(ds, path.join(dir, 'names'), { labels: { I1: 'label', C1: 'a\tb', C2: 'a b' } });
    const names = files.columns.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
    assert.equal(files.columns.find((c) => c.slot === 'I1')!.name, 'label__I1');
    assert.equal(files.columns.find((c) => c.slot === 'C2')!.name, 'a b__C2');
    assert.ok(names.every((n) => !/[\t\n]/.test(n)));
  });

  it('prints float32 values as their shortest round-trip text', () => {
    for (const v of [0, 1, -3, 0.1, 1 / 3, 1e-7, 123456.789, 3.4e38, -2.5e-30, 16777217, Infinity]) {
      const f = Math.fround(v);
      const text = float32Text(f);
      assert.equal(Math.fround(Number(text)), f, `${text} reads back as ${f}`);
      assert.ok(text.length <= 15, text);
    }
    assert.equal(float32Text(Math.fround(0.1)), '0.1');
    assert.equal(float32Text(NaN), '');
  });

  describe('out-of-core training rows', function () {
    const previousChunkRows = process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
    after(() => {
      if (previousChunkRows === undefined) delete process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS;
      else process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = previousChunkRows;
      clearDatasetCache();
    });

    it('streams the training rows from the row cache, the same files as when held in memory', async () => {
      process.env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS = '1024';
      const data = await writePlantedSplits(dir, { trainRows: 5_000, validationRows: 500, testRows: 500 }, 'c-');
      const held = await loadDataset(data);
      const streamed = await loadDataset(data, { maxInMemoryTrainRows: 1_000 });
      assert.ok(streamed.trainOnDisk && !held.trainOnDisk);
      const a = await exportJobData(held, path.join(dir, 'held'));
      const b = await exportJobData(streamed, path.join(dir, 'streamed'));
      assert.equal(b.rows.train, 5_000);
      assert.deepEqual(a.columns, b.columns);
      for (const split of ['train', 'validation', 'test'] as const)
        assert.equal(fs.readFileSync(b[split], 'utf8'), fs.readFileSync(a[split], 'utf8'), `${split}.tsv`);
    });
  });
});

describe('the example LightGBM trainer (examples/trainers/lightgbm/train.py)', function () {
  let python: string;
  let dir: string;
  let ds: LoadedDataset;
  let data: JobDataFiles;

  before(async function () {
    // A fresh checkout installs lightgbm, numpy and scipy wheels from PyPI: minutes on a slow link.
    this.timeout(15 * 60_000);
    python = ensureTrainerVenv().python;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-lightgbm-'));
    ds = await loadDataset(PLANTED);
    data = await exportJobData(ds, path.join(dir, 'data'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function runJob(jobId: string, params: Record<string, unknown>, jobData: JobDataFiles = data) {
    const out = path.join(dir, jobId);
    const outputs = {
      dir: out,
      model: path.join(out, 'model'),
      metrics: path.join(out, 'metrics.json'),
      validationPredictions: path.join(out, 'validation-predictions.txt'),
      testPredictions: path.join(out, 'test-predictions.txt'),
    };
    fs.mkdirSync(out, { recursive: true });
    const job = path.join(out, 'job.json');
    fs.writeFileSync(job, JSON.stringify({ jobId, params, data: jobData, outputs }, null, 2));
    const r = spawnSync(python, [TRAIN_PY, job], { encoding: 'utf8', timeout: 300_000 });
    return { ...r, outputs };
  }

  function predictions(file: string): number[] {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    return lines.map(Number);
  }

  it('trains on the exported data and predicts better than the base rate', function () {
    this.timeout(300_000);
    const r = runJob('job-1', { num_boost_round: 200, num_leaves: 15, min_data_in_leaf: 20 });
    assert.equal(r.status, 0, `train.py failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\[iteration 25\] valid logloss \d/, 'progress lines for a caller to tail');

    const test = predictions(r.outputs.testPredictions);
    assert.equal(test.length, ds.test.rows);
    assert.ok(
      test.every((p) => p > 0 && p < 1),
      'every prediction is a probability in (0, 1)',
    );
    const validation = predictions(r.outputs.validationPredictions);
    assert.equal(validation.length, ds.validation.rows);
    const ne = normalizedEntropy(test, ds.test.labels);
    assert.ok(ne < 1, `test NE ${ne} beats the base rate`);
    assert.ok(ne < 0.95, `test NE ${ne}: the planted signal is learned`);

    const metrics = JSON.parse(fs.readFileSync(r.outputs.metrics, 'utf8')) as {
      validation: { logloss: number; rows: number };
      bestIteration: number;
      seconds: number;
    };
    assert.equal(metrics.validation.rows, ds.validation.rows);
    assert.ok(metrics.validation.logloss > 0 && metrics.validation.logloss < 1);
    assert.ok(metrics.bestIteration >= 1 && metrics.bestIteration <= 200);
    assert.ok(metrics.seconds > 0);
    assert.match(fs.readFileSync(r.outputs.model, 'utf8'), /^tree\n/, 'a LightGBM text model');
  });

  it('refuses a param of the wrong type, naming it', function () {
    this.timeout(120_000);
    const r = runJob('job-bad', { num_leaves: 'many' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /num_leaves/);
    assert.ok(!fs.existsSync(r.outputs.testPredictions), 'no predictions from a refused job');
  });

  it('refuses a job whose data file is missing', function () {
    const bad = runJob('job-missing', {}, { ...data, train: path.join(dir, 'nowhere.tsv') });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /data\.train: file not found: .*nowhere\.tsv/);
  });
});
