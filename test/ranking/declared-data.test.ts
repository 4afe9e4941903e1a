import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig, schemaLayout, type DeclaredData } from '../../contracts';
import { checkDataAccess } from '../../activities/data-access';
import { clearDatasetCache, dataFingerprint, loadDataset, type LoadedDataset } from '../../ranking/data/load-data';
import { CATEGORICAL_COUNT, DENSE_COUNT, MISSING_CATEGORICAL, type RowBlock } from '../../ranking/data/rows';
import { BadRowFailure, TrainingFailure } from '../../ranking/failure';
import { hashFieldValue } from '../../ranking/hash';
import { describeValidationSplit, validationSplitOf } from '../../ranking/learning-curve';
import { trainExperiment } from '../../ranking/experiment';
import { dataTraitsOf } from '../../store/insights/traits';
import { DECLARED_SCHEMA, writeDeclaredTables, type DeclaredConfigInput } from '../support/declared-tables';

let dir: string;
let n = 0;
/** A fresh file under the test's folder. */
const file = (name: string, text: string) => {
  const p = path.join(dir, `${n++}-${name}`);
  fs.writeFileSync(p, text);
  return p;
};

async function failureOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error);
    return e;
  }
  assert.fail('expected the load to fail');
}

function sameBlock(a: RowBlock, b: RowBlock, what: string): void {
  assert.equal(a.rows, b.rows, `${what}: rows`);
  assert.deepEqual(a.labels, b.labels, `${what}: labels`);
  assert.deepEqual(a.categorical, b.categorical, `${what}: categorical`);
  assert.deepEqual(a.weights, b.weights, `${what}: weights`);
  // NaN ≠ NaN for deepEqual on typed arrays: compare bit patterns.
  assert.deepEqual(
    new Uint32Array(a.dense.buffer, a.dense.byteOffset, a.dense.length),
    new Uint32Array(b.dense.buffer, b.dense.byteOffset, b.dense.length),
    `${what}: dense`,
  );
}

const cat = (b: RowBlock, row: number, slot: number) => b.categorical[row * CATEGORICAL_COUNT + slot];
const den = (b: RowBlock, row: number, slot: number) => b.dense[row * DENSE_COUNT + slot];
const h = (field: number, v: string) => hashFieldValue(field, v) || 1;

describe('declared-schema data (CSV, TSV, Parquet)', function () {
  this.timeout(60_000);
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'declared-data-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => clearDatasetCache());

  it('reads the same table from CSV, TSV and Parquet into identical rows, weights and value names', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'same'), { rows: 2000, seed: 3 });
    const loaded: Record<string, LoadedDataset> = {};
    for (const f of ['csv', 'tsv', 'parquet'] as const) loaded[f] = await loadDataset(t.configs[f]!);
    const { csv, tsv, parquet } = loaded;
    for (const [name, other] of [
      ['TSV', tsv],
      ['Parquet', parquet],
    ] as const) {
      for (const split of ['train', 'validation', 'test'] as const) sameBlock(csv[split], other[split], `${name} ${split}`);
      assert.deepEqual(other.valueNames, csv.valueNames);
      assert.deepEqual(other.active, csv.active);
      assert.notEqual(other.fingerprint, csv.fingerprint);
    }
    assert.match(csv.fingerprint, /^declared:[0-9a-f]{32}$/);
    assert.equal(csv.badRows.count, 0);
    // Every row lands in exactly one split; rows at or after testFrom test.
    const testRows = t.rows.filter((r) => r.ts >= Date.parse('2026-02-22')).length;
    assert.equal(csv.test.rows, testRows);
    assert.equal(csv.train.rows + csv.validation.rows, 2000 - testRows);
    // The layout: dense age → I1, price → I2; categorical ad_category → C1, interests → C2..C4, user_country → C5.
    assert.deepEqual(csv.active, { categorical: [0, 1, 2, 3, 4], dense: [0, 1] });
    assert.equal(csv.valueNames[4].get(h(13 + 4, 'US')), 'US');
    assert.ok(csv.train.weights && csv.train.weights.every((w) => w >= 0.5 && w <= 2));
  });

  it('the engine itself takes column names (a cross, a segment field) and refuses an unknown one', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'engine'), { rows: 3000, seed: 4, formats: ['csv'] });
    const data = t.configs.csv!;
    const named = await trainExperiment({ data, model: { family: 'lr', crosses: [['user_country', 'ad_category']] }, segmentField: 'user_country' });
    const slots = await trainExperiment({ data, model: { family: 'lr', crosses: [['C5', 'C1']] }, segmentField: 'C5' });
    assert.deepEqual(named.metrics, slots.metrics, 'the same model, named by columns or by slots');
    assert.equal(named.artifact, slots.artifact);
    assert.ok(named.metrics.segments!.every((s) => s.field === 'user_country'));
    await assert.rejects(
      trainExperiment({ data, model: { family: 'lr', crosses: [['user_country', 'colour']] } }),
      /crosses\.0\.1: unknown field "colour"/,
    );
  });

  it('keeps rows in file order without a split: weights, labels, dense values; validation is the latest rows by ts', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'files'), { rows: 1000, seed: 5, layout: 'files', formats: ['parquet', 'csv'] });
    const trainRows = t.rows.filter((r) => r.ts < Date.parse('2026-02-22'));
    for (const f of ['parquet', 'csv'] as const) {
      const d = await loadDataset({ ...t.configs[f]!, validationFraction: 0.2 });
      const cut = Math.floor(trainRows.length * 0.8);
      // The file is in shuffled time order: the latest 20% by the timestamp column validate, both parts in file order.
      const byTime = [...trainRows.keys()].sort((a, b) => trainRows[a].ts - trainRows[b].ts || a - b);
      const late = new Set(byTime.slice(cut));
      assert.equal(d.train.rows, cut);
      assert.equal(d.validation.rows, trainRows.length - cut);
      assert.equal(d.test.rows, t.rows.length - trainRows.length);
      for (const [block, rows] of [
        [d.train, trainRows.filter((_, i) => !late.has(i))],
        [d.validation, trainRows.filter((_, i) => late.has(i))],
      ] as const) {
        rows.forEach((r, i) => {
          assert.equal(block.weights![i], Math.fround(r.w), `${f} row ${i} weight`);
          assert.equal(block.labels[i], r.clicked);
          if (r.age === null) assert.ok(Number.isNaN(den(block, i, 0)));
          else assert.equal(den(block, i, 0), r.age);
          if (r.price === null) assert.ok(Number.isNaN(den(block, i, 1)));
          else assert.equal(den(block, i, 1), Math.fround(r.price));
          assert.equal(cat(block, i, 0), r.ad_category === null ? MISSING_CATEGORICAL : h(13, r.ad_category));
        });
      }
      assert.deepEqual(validationSplitOf(d.config, d.validation.rows), { source: 'train-tail', fraction: 0.2, rows: d.validation.rows, by: 'ts' });
    }
  });

  it('lays a multi-valued column onto consecutive slots, every value hashed with its first slot (bag of values)', async () => {
    const csv = file('multi.csv', 'label,tags,x,country\n1,"a| b|a|c|d",1,US\n0,,2,DE\n1,b|a,3,\n');
    const schema = {
      columns: { label: 'label', tags: { role: 'multiCategorical', separator: '|', maxValues: 3 }, x: 'dense', country: 'categorical' },
    } as const;
    assert.deepEqual(schemaLayout(schema).slots, { country: ['C1'], tags: ['C2', 'C3', 'C4'], x: ['I1'] });
    const d = await loadDataset({ format: 'csv', train: csv, test: csv, validationFraction: 0, schema });
    const b = d.train;
    // Field number of C2 = 13 + 1: every tag value uses it, in whichever of C2..C4 it sits.
    assert.deepEqual([cat(b, 0, 1), cat(b, 0, 2), cat(b, 0, 3)], [h(14, 'a'), h(14, 'b'), h(14, 'c')]);
    assert.deepEqual([cat(b, 1, 1), cat(b, 1, 2), cat(b, 1, 3)], [0, 0, 0]);
    assert.deepEqual([cat(b, 2, 1), cat(b, 2, 2), cat(b, 2, 3)], [h(14, 'b'), h(14, 'a'), 0]);
    assert.equal(cat(b, 2, 1), cat(b, 0, 2), '"b" is the same hash in C2 and C3');
    assert.notEqual(h(14, 'b'), h(15, 'b'));
    assert.equal(cat(b, 0, 0), h(13, 'US'));
    assert.equal(cat(b, 2, 0), MISSING_CATEGORICAL);
    assert.equal(d.valueNames[1].get(h(14, 'a')), 'a');
    assert.equal(d.valueNames[2].get(h(14, 'b')), 'b');
    assert.equal(b.weights, undefined, 'no weight column, no weights');
  });

  describe('time split', () => {
    // id = row number; ts shuffled over 10 days; testFrom day 8.
    const days = [3, 9, 1, 8, 5, 2, 10, 7, 4, 6, 1, 9, 3];
    const table = () =>
      file(
        'split.csv',
        'id,y,ts,c\n' + days.map((d, i) => `${i},${i % 2},${d < 10 ? `2026-03-0${d}` : '2026-03-10'}T12:00:00Z,v${i % 3}`).join('\n') + '\n',
      );
    const schema = { columns: { id: 'dense', y: 'label', ts: 'timestamp', c: 'categorical' } } as const;
    const ids = (b: RowBlock) => Array.from({ length: b.rows }, (_, i) => den(b, i, 0));

    it('test = rows at or after testFrom; validation = rows in [validationFrom, testFrom)', async () => {
      const d = await loadDataset({
        format: 'csv',
        train: table(),
        schema,
        split: { by: 'ts', testFrom: '2026-03-08', validationFrom: '2026-03-06' },
      });
      assert.deepEqual(ids(d.test), [1, 3, 6, 11]);
      assert.deepEqual(ids(d.validation), [7, 9]);
      assert.deepEqual(ids(d.train), [0, 2, 4, 5, 8, 10, 12]);
      const split = validationSplitOf(d.config, d.validation.rows);
      assert.deepEqual(split, { source: 'time-window', by: 'ts', from: '2026-03-06', to: '2026-03-08', rows: 2 });
      assert.equal(describeValidationSplit(split), 'train rows with ts in [2026-03-06, 2026-03-08) (2 rows)');
    });

    it('without validationFrom, the latest validationFraction of train by time validates', async () => {
      const d = await loadDataset({ format: 'csv', train: table(), schema, split: { by: 'ts', testFrom: '2026-03-08' }, validationFraction: 0.3 });
      // Train before day 8: ids 0,2,4,5,7,8,9,10,12 (9 rows); cut = floor(9 · 0.7) = 6: the 3 latest (days 7, 6, 5) validate.
      assert.deepEqual(ids(d.validation), [4, 7, 9]);
      assert.deepEqual(ids(d.train), [0, 2, 5, 8, 10, 12]);
      assert.deepEqual(ids(d.test), [1, 3, 6, 11]);
      assert.equal(describeValidationSplit(validationSplitOf(d.config, d.validation.rows)), 'latest 30% of train by ts (3 rows)');
    });

    it('out of core, the latest share is cut the same way, equal times in file order', async () => {
      // Train before day 8 by time: days 1 (ids 2, 10), 2 (5), 3 (0, 12), 4 (8), 5 (4), 6 (9), 7 (7). A fraction of
      // 0.5 cuts at floor(9 · 0.5) = 4: inside day 3, so id 0 trains and id 12 (the later in the file) validates.
      const config = { format: 'csv' as const, train: table(), schema, split: { by: 'ts', testFrom: '2026-03-08' }, validationFraction: 0.5 };
      const inMemory = await loadDataset(config);
      assert.deepEqual(ids(inMemory.validation), [4, 7, 8, 9, 12]);
      for (const maxTrainRows of [undefined, 3]) {
        const streamed = await loadDataset({ ...config, ...(maxTrainRows ? { maxTrainRows } : {}) }, { maxInMemoryTrainRows: 2 });
        assert.ok(streamed.trainOnDisk, 'streamed');
        assert.deepEqual(ids(streamed.validation), [4, 7, 8, 9, 12]);
        assert.deepEqual(ids(streamed.test), [1, 3, 6, 11]);
        assert.equal(streamed.trainOnDisk.rows, maxTrainRows ?? 4, 'ids 0, 2, 5, 10, capped to the earliest in the file');
      }
    });

    it("maxTrainRows (a probe) caps the training rows after the split: test and validation are the full run's", async () => {
      const split = { by: 'ts', testFrom: '2026-03-08' } as const;
      const d = await loadDataset({ format: 'csv', train: table(), schema, split, validationFraction: 0.3, maxTrainRows: 4 });
      // Capping the file at 4 rows would leave no row at or after testFrom (the first 4 are days 3, 9, 1, 8: one test row).
      assert.deepEqual(ids(d.train), [0, 2, 5, 8]);
      assert.deepEqual(ids(d.validation), [4, 7, 9]);
      assert.deepEqual(ids(d.test), [1, 3, 6, 11]);
    });

    it('reads epoch seconds and milliseconds as times; an empty split column is a bad row naming it', async () => {
      const t0 = Date.parse('2026-03-01T00:00:00Z');
      const train = file('epochs.csv', `id,y,ts,c\n0,0,${t0 / 1000},a\n1,1,${t0 + 9 * 86400_000},b\n2,0,,c\n3,1,${t0 / 1000 + 3600},d\n`);
      const d = await loadDataset({
        format: 'csv',
        train,
        schema,
        split: { by: 'ts', testFrom: '2026-03-05' },
        maxBadRowFraction: 0.5,
        validationFraction: 0,
      });
      assert.deepEqual(ids(d.train), [0, 3]);
      assert.deepEqual(ids(d.test), [1]);
      assert.equal(d.badRows.count, 1);
      assert.deepEqual(d.badRows.examples[0], { file: train, line: 4, problem: 'column "ts": the split column is empty (expected a time)' });
    });
  });

  describe('bad rows', () => {
    const schema = { columns: { y: 'label', price: 'dense', w: 'weight', c: 'categorical' } } as const;
    const text = 'y,c,price,w\n1,a,1.5,1\n0,b,abc,1\n2,c,3,1\n1,"quoted, comma",4,-1\n0,e,5,2\n1,f,6,1\n0,g,7\n';

    it('skips and reports bad cells naming the column and the physical line (header = line 1)', async () => {
      const train = file('bad.csv', text);
      const d = await loadDataset({ format: 'csv', train, test: train, schema, maxBadRowFraction: 0.9, validationFraction: 0 });
      assert.equal(d.train.rows, 3);
      assert.deepEqual(
        d.badRows.examples.slice(0, 4).map((e) => [e.line, e.problem]),
        [
          [3, 'column "price": expected a number, got "abc"'],
          [4, 'column "y": expected a label 0 or 1 (or true / false), got "2"'],
          [5, 'column "w": expected a weight (a number ≥ 0), got "-1"'],
          [8, 'expected 4 comma-separated columns (as in the header), got 3'],
        ],
      );
      assert.equal(d.badRows.files[0].badRows, 4);
      assert.equal(d.badRows.files[0].rows, 7);
      // Over maxBadRowFraction: the load fails as bad data, listing them.
      clearDatasetCache();
      const f = await failureOf(loadDataset({ format: 'csv', train, test: train, schema, maxBadRowFraction: 0.1 }));
      assert.ok(f instanceof TrainingFailure && f.failureClass === 'bad-data');
      assert.match(f.message, /4 of 7 rows are malformed/);
      assert.match(f.message, /bad\.csv:3: column "price": expected a number, got "abc"/);
    });

    it('strict: the first bad row fails naming file:line and the column', async () => {
      const train = file('strict.tsv', text.replace(/,/g, '\t').replace('"quoted\t comma"', 'quoted'));
      const f = await failureOf(loadDataset({ format: 'tsv', train, test: train, schema, strict: true }));
      assert.ok(f instanceof BadRowFailure);
      assert.equal(f.line, 3);
      assert.match(f.message, /strict\.tsv:3: column "price": expected a number, got "abc"/);
    });

    it('Parquet: a bad cell names the column and the 1-based row', async () => {
      const { parquetWriteBuffer } = await import('hyparquet-writer');
      const train = path.join(dir, 'bad.parquet');
      const bytes = parquetWriteBuffer({
        rowGroupSize: 2,
        columnData: [
          { name: 'y', data: [1, 0, 1, 0, 5], type: 'INT32' },
          { name: 'price', data: ['1', '2.5', 'abc', null, '4'], type: 'STRING' },
          { name: 'w', data: [1, 1, 1, 1, 1], type: 'DOUBLE' },
          { name: 'c', data: [1n, 2n, 3n, 4n, 5n], type: 'INT64' },
        ],
      });
      fs.writeFileSync(train, new Uint8Array(bytes));
      const d = await loadDataset({ format: 'parquet', train, test: train, schema, maxBadRowFraction: 0.5, validationFraction: 0 });
      assert.deepEqual(
        d.badRows.examples.slice(0, 2).map((e) => [e.line, e.problem]),
        [
          [3, 'column "price": expected a number, got "abc"'],
          [5, 'column "y": expected a label 0 or 1 (or true / false), got "5"'],
        ],
      );
      assert.equal(d.train.rows, 3);
      assert.deepEqual([den(d.train, 0, 0), den(d.train, 1, 0)], [1, 2.5]);
      assert.ok(Number.isNaN(den(d.train, 2, 0)));
      // An INT64 categorical reads as its decimal string.
      assert.equal(cat(d.train, 1, 0), h(13, '2'));
    });
  });

  it('reads a gzip-compressed Parquet file (hyparquet-compressors), LIST cells and string-split cells alike', async () => {
    const zlib = await import('node:zlib');
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const train = path.join(dir, 'gzip.parquet');
    const bytes = parquetWriteBuffer({
      codec: 'GZIP',
      compressors: { GZIP: (input: Uint8Array) => new Uint8Array(zlib.gzipSync(input)) },
      columnData: [
        { name: 'y', data: [true, false, true], type: 'BOOLEAN' },
        { name: 'tags', data: [['x', 'y', 'x'], [], null] },
        { name: 'x', data: [0.5, -2, null], type: 'DOUBLE' },
      ],
    });
    fs.writeFileSync(train, new Uint8Array(bytes));
    const schema = { columns: { y: 'label', tags: { role: 'multiCategorical', maxValues: 2 }, x: 'dense' } } as const;
    const d = await loadDataset({ format: 'parquet', train, test: train, schema, validationFraction: 0 });
    assert.deepEqual([...d.train.labels], [1, 0, 1]);
    assert.deepEqual([cat(d.train, 0, 0), cat(d.train, 0, 1), cat(d.train, 1, 0), cat(d.train, 2, 0)], [h(13, 'x'), h(13, 'y'), 0, 0]);
    assert.deepEqual([den(d.train, 0, 0), den(d.train, 1, 0)], [0.5, -2]);
    // The same values as a comma-separated string in CSV hash identically.
    const csv = file('tags.csv', 'y,tags,x\ntrue,"x, y,x",0.5\n');
    const c = await loadDataset({ format: 'csv', train: csv, test: csv, schema, validationFraction: 0 });
    assert.deepEqual([cat(c.train, 0, 0), cat(c.train, 0, 1)], [h(13, 'x'), h(13, 'y')]);
  });

  it('a declared column missing from the file fails naming the column, the file and the columns it has', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'missing'), { rows: 200, formats: ['csv', 'parquet'] });
    for (const f of ['csv', 'parquet'] as const) {
      const config: DeclaredConfigInput = { ...t.configs[f]!, schema: { columns: { ...DECLARED_SCHEMA.columns, campaign_id: 'categorical' } } };
      const e = await failureOf(loadDataset(config));
      assert.ok(e instanceof TrainingFailure && e.failureClass === 'bad-data');
      assert.ok(e.message.includes(`data file ${t.files[f]!.train}: column "campaign_id" declared in the schema is not in the file`), e.message);
      assert.match(e.message, /the file's columns are: "ts", "user_country", "clicked", "price", "note", "interests", "age", "ad_category", "w"/);
    }
  });

  it('past the in-memory limit a table streams from the row cache; maxTrainRows caps the rows read', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'limit'), { rows: 600, formats: ['csv'], layout: 'files' });
    const streamed = await loadDataset(t.configs.csv!, { maxInMemoryTrainRows: 300 });
    assert.ok(streamed.trainOnDisk, 'over the limit: the training rows are on disk');
    const d = await loadDataset({ ...t.configs.csv!, maxTrainRows: 250 }, { maxInMemoryTrainRows: 300 });
    assert.equal(d.train.rows + d.validation.rows, 250);
    assert.equal(d.badRows.files[0].rows, 250);
  });

  it('a time split without validationFrom streams past the limit and cuts the latest training rows as in memory', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'limit-split'), { rows: 600, formats: ['csv'] });
    const inMemory = await loadDataset({ ...t.configs.csv!, maxTrainRows: 250 });
    const streamed = await loadDataset({ ...t.configs.csv!, maxTrainRows: 250 }, { maxInMemoryTrainRows: 300 });
    assert.ok(streamed.trainOnDisk && !inMemory.trainOnDisk, 'past the limit the training rows are on disk');
    assert.equal(streamed.trainOnDisk.rows, inMemory.train.rows);
    assert.deepEqual(streamed.validation.labels, inMemory.validation.labels, 'the same latest rows validate, in file order');
    assert.deepEqual(streamed.validation.categorical, inMemory.validation.categorical);
    assert.deepEqual(streamed.test.labels, inMemory.test.labels);
  });

  it('fingerprints the schema: a changed role or option changes it, another spelling of the same schema does not', async () => {
    const t = await writeDeclaredTables(path.join(dir, 'fp'), { rows: 200, formats: ['csv'] });
    const base = t.configs.csv!;
    const fp = (schema: DeclaredData['schema'], extra: Partial<DeclaredConfigInput> = {}) => dataFingerprint({ ...base, schema, ...extra });
    const same = await fp(DECLARED_SCHEMA);
    assert.equal(same, await dataFingerprint(base));
    const columns = DECLARED_SCHEMA.columns;
    assert.equal(
      await fp({ columns: { ...columns, price: { role: 'dense' }, interests: { role: 'multiCategorical', separator: '|', maxValues: 3 } } }),
      same,
    );
    assert.notEqual(await fp({ columns: { ...columns, age: 'categorical' } }), same);
    assert.notEqual(await fp({ columns: { ...columns, interests: { role: 'multiCategorical', separator: '|', maxValues: 2 } } }), same);
    assert.notEqual(await fp(DECLARED_SCHEMA, { split: { by: 'ts', testFrom: '2026-02-20' } }), same);
    assert.notEqual(await fp(DECLARED_SCHEMA, { format: 'tsv' }), same);
    assert.equal(await fp(DECLARED_SCHEMA, { strict: true }), same, 'strict decides failure, not the data');
  });

  it('data access checks, traits and the validation split cover declared configs', () => {
    const config = DataConfig.parse({
      format: 'parquet',
      train: path.join(dir, 'in', 'train.parquet'),
      validation: '/elsewhere/validation.parquet',
      test: path.join(dir, 'in', 'test.parquet'),
      schema: DECLARED_SCHEMA,
    });
    assert.throws(
      () => checkDataAccess(config, { RANKWRIGHT_DATA_DIRS: path.join(dir, 'in') }),
      /data\.validation: \/elsewhere\/validation\.parquet is outside/,
    );
    assert.deepEqual(dataTraitsOf(config, 0.1), { kind: 'declared', categoricalFields: 5, denseFields: 2, ctr: 0.1 });
    assert.deepEqual(validationSplitOf(config, 7), { source: 'file', file: '/elsewhere/validation.parquet', rows: 7 });
  });
});
