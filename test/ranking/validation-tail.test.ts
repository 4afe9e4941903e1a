import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig, timeOrderColumn, type DeclaredData } from '../../contracts';
import { clearDatasetCache } from '../../ranking';
import { measureDrift } from '../../ranking/data/describe';
import { loadDataset } from '../../ranking/data/load-data';

/**
 * Without a validation file (or split.validationFrom), validation is the latest slice of train: by the time column
 * when a declared table has one (with or without a time split), by position otherwise (Criteo logs are written in
 * time order; the out-of-core path is checked against the in-memory one in out-of-core.test.ts and drift.test.ts).
 */
describe('the validation tail of train is its latest rows', () => {
  let dir: string;
  // Row i happened on day order[i] of March 2026: the file is not in time order.
  const days = [7, 2, 9, 0, 5, 8, 1, 3, 6, 4, 11, 10];
  const iso = (day: number) => `2026-03-${String(day + 1).padStart(2, '0')}T12:00:00Z`;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-tail-'));
    // `x` is the row's day, so every block's dense column says which rows it holds.
    const lines = ['label,ts,x,country', ...days.map((d, i) => `${i % 2},${iso(d)},${d},c${i % 3}`)];
    fs.writeFileSync(path.join(dir, 'train.csv'), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'test.csv'), `label,ts,x,country\n1,${iso(20)},20,c1\n0,${iso(21)},21,c2\n`);
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    clearDatasetCache();
  });

  const dayOf = (block: { rows: number; dense: Float32Array }) => Array.from({ length: block.rows }, (_, r) => block.dense[r * 13]);
  const schema = { columns: { label: 'label', ts: 'timestamp', x: 'dense', country: 'categorical' } } as const;

  it('a table with a timestamp column and no split: the latest rows by time validate; train keeps file order', async () => {
    const d = await loadDataset({
      format: 'csv',
      train: path.join(dir, 'train.csv'),
      test: path.join(dir, 'test.csv'),
      schema,
      validationFraction: 0.25,
    });
    // 12 rows, cut = 9: the 3 latest days (11, 10, 9) validate, in file order.
    assert.deepEqual(dayOf(d.validation), [9, 11, 10]);
    assert.deepEqual(dayOf(d.train), [7, 2, 0, 5, 8, 1, 3, 6, 4]);
    // Each split's row times come along, aligned with its rows.
    assert.equal(d.rowTimes!.column, 'ts');
    assert.deepEqual(
      Array.from(d.rowTimes!.validation),
      [9, 11, 10].map((x) => Date.parse(iso(x))),
    );
    assert.deepEqual(
      Array.from(d.rowTimes!.train),
      dayOf(d.train).map((x) => Date.parse(iso(x))),
    );
    assert.deepEqual(
      Array.from(d.rowTimes!.test),
      [20, 21].map((x) => Date.parse(iso(x))),
    );
    // The drift measurement orders train by time: its slices run from the earliest rows to the latest.
    const drift = measureDrift(d);
    assert.equal(drift.order, 'timestamp');
    assert.equal(drift.timeColumn, 'ts');
    const trainSlices = drift.slices.filter((s) => s.split === 'train');
    assert.equal(trainSlices[0].from, new Date(iso(0)).toISOString());
    assert.equal(trainSlices.at(-1)!.to, new Date(iso(8)).toISOString());
    assert.equal(drift.slices.find((s) => s.split === 'validation')!.from, new Date(iso(9)).toISOString());
  });

  it('with a time split and no validationFrom: the latest training rows by time validate', async () => {
    const d = await loadDataset({
      format: 'csv',
      train: path.join(dir, 'train.csv'),
      schema,
      split: { by: 'ts', testFrom: iso(10) },
      validationFraction: 0.2,
    });
    // Train before day 10: 10 rows, cut = 8: days 8 and 9 validate.
    assert.deepEqual(dayOf(d.test), [11, 10]);
    assert.deepEqual(dayOf(d.validation), [9, 8]);
    assert.deepEqual(dayOf(d.train), [7, 2, 0, 5, 1, 3, 6, 4]);
    assert.deepEqual(
      Array.from(d.rowTimes!.validation),
      [9, 8].map((x) => Date.parse(iso(x))),
    );
  });

  it('no time column (or several, without a split), and Criteo files: the last rows by position', async () => {
    const noTime = { columns: { label: 'label', ts: 'ignore', x: 'dense', country: 'categorical' } } as const;
    const twoTimes = { columns: { label: 'label', ts: 'timestamp', x: 'timestamp', country: 'categorical' } } as const;
    const files = { format: 'csv' as const, train: path.join(dir, 'train.csv'), test: path.join(dir, 'test.csv'), validationFraction: 0.25 };
    const d = await loadDataset({ ...files, schema: noTime });
    assert.deepEqual(dayOf(d.validation), [4, 11, 10]);
    assert.equal(d.rowTimes, undefined);
    assert.equal(measureDrift(d).order, 'position');
    assert.equal(timeOrderColumn(DataConfig.parse({ ...files, schema: twoTimes })), undefined);
    const two = await loadDataset({ ...files, schema: twoTimes });
    assert.equal(two.validation.rows, 3);
    assert.equal(two.rowTimes, undefined);
    assert.equal(timeOrderColumn(DataConfig.parse({ ...files, schema })), 'ts');
    const criteo = { format: 'criteo-tsv', train: 'test/fixtures/criteo/train.tsv', test: 'test/fixtures/criteo/test.tsv' } as const;
    assert.equal(timeOrderColumn(DataConfig.parse(criteo)), undefined);
  });

  it('a row without a time keeps its place in the file: it takes the time of the row before it', async () => {
    const file = path.join(dir, 'gaps.csv');
    // Days 0, (none), 5, (none), 1, 2, 3, 4: the gaps sit at days 0 and 5.
    const rows = [
      [0, iso(0)],
      [100, ''],
      [5, iso(5)],
      [101, ''],
      [1, iso(1)],
      [2, iso(2)],
      [3, iso(3)],
      [4, iso(4)],
    ] as const;
    fs.writeFileSync(file, ['label,ts,x,country', ...rows.map(([x, t]) => `0,${t},${x},a`)].join('\n') + '\n');
    const config: DeclaredData = DataConfig.parse({
      format: 'csv',
      train: file,
      test: path.join(dir, 'test.csv'),
      schema,
      validationFraction: 0.25,
    }) as DeclaredData;
    const d = await loadDataset(config);
    // By time: 0, 0 (row 100), 1, 2, 3, 4, 5, 5 (row 101): the two latest are day 5 and the row after it.
    assert.deepEqual(dayOf(d.validation), [5, 101]);
    assert.deepEqual(dayOf(d.train), [0, 100, 1, 2, 3, 4]);
  });
});
