import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { readCriteoFile } from '../../ranking/data/criteo-reader';
import { TrainingFailure } from '../../ranking/failure';
import { CATEGORICAL_COUNT, DENSE_COUNT, MISSING_CATEGORICAL, UNKNOWN_LABEL } from '../../ranking/data/rows';

const fixture = (...p: string[]) => path.join('test', 'fixtures', ...p);

async function failureOf(p: Promise<unknown>): Promise<TrainingFailure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TrainingFailure, `expected a TrainingFailure, got ${e}`);
    return e;
  }
  assert.fail('expected the read to fail');
}

describe('Criteo TSV reader', () => {
  it('reads labels, integer dense values and hashed categoricals; empty = missing', async () => {
    const { block, badRows } = await readCriteoFile(fixture('criteo', 'train.tsv'), { maxBadRowFraction: 0 });
    assert.equal(block.rows, 40);
    assert.equal(badRows.count, 0);
    // First fixture row: 0	51	3	1	20	(9 empty)	c7ed32d9 ...
    assert.equal(block.labels[0], 0);
    assert.deepEqual([...block.dense.slice(0, 4)], [51, 3, 1, 20]);
    assert.ok(Number.isNaN(block.dense[4]), 'empty dense value is NaN');
    assert.notEqual(block.categorical[0], MISSING_CATEGORICAL);
    assert.equal(block.categorical[CATEGORICAL_COUNT - 1], MISSING_CATEGORICAL);
    assert.equal(block.dense.length, 40 * DENSE_COUNT);
  });

  it('reads 39-column rows (no label) only when asked to', async () => {
    const { block } = await readCriteoFile(fixture('criteo', 'unlabeled.tsv'), { maxBadRowFraction: 0, allowMissingLabel: true });
    assert.equal(block.rows, 12);
    assert.equal(block.labels[0], UNKNOWN_LABEL);
    const f = await failureOf(readCriteoFile(fixture('criteo', 'unlabeled.tsv'), { maxBadRowFraction: 0 }));
    assert.match(f.message, /unlabeled\.tsv has no valid rows: .*line 1: expected 40 tab-separated columns .* got 39/);
  });

  const cases: [string, RegExp][] = [
    ['wrong-columns.tsv', /expected 40 tab-separated columns \(label, I1\.\.I13, C1\.\.C26\), got 30/],
    ['bad-label.tsv', /expected label 0 or 1 in column 1, got "2"/],
    ['non-numeric-dense.tsv', /expected an integer or empty in I3 \(column 4\), got "abc"/],
    ['invalid-utf8.tsv', /invalid UTF-8/],
    ['binary.tsv', /binary data/],
  ];
  for (const [file, expectation] of cases) {
    it(`counts and reports a malformed row: ${file} (file, line, what was expected)`, async () => {
      // 10 good rows + 1 bad row at line 6: 9% bad.
      const ok = await readCriteoFile(fixture('bad', file), { maxBadRowFraction: 0.2 });
      assert.equal(ok.block.rows, 10);
      assert.equal(ok.badRows.count, 1);
      assert.equal(ok.badRows.examples[0].line, 6);
      assert.match(ok.badRows.examples[0].problem, expectation);
      const f = await failureOf(readCriteoFile(fixture('bad', file), { maxBadRowFraction: 0.05 }));
      assert.equal(f.failureClass, 'bad-data');
      assert.match(f.message, new RegExp(`bad[\\\\/]${file.replace('.', '\\.')}:6: `));
      assert.match(f.message, expectation);
      assert.match(f.message, /1 of 11 rows are malformed/);
      assert.equal(f.toReport().failureClass, 'bad-data');
    });
  }

  it('fails clearly on an empty file, a file of garbage and a missing file', async () => {
    assert.match((await failureOf(readCriteoFile(fixture('bad', 'empty.tsv'), { maxBadRowFraction: 1 }))).message, /empty\.tsv is empty/);
    assert.match(
      (await failureOf(readCriteoFile(fixture('bad', 'all-bad.tsv'), { maxBadRowFraction: 1 }))).message,
      /no valid rows: all 2 rows are malformed; first: line 1/,
    );
    assert.match((await failureOf(readCriteoFile(fixture('bad', 'nope.tsv'), { maxBadRowFraction: 1 }))).message, /does not exist/);
  });

  it('refuses paths with ".." segments', async () => {
    await assert.rejects(readCriteoFile('test/../test/fixtures/criteo/train.tsv', { maxBadRowFraction: 0 }), /must not contain "\.\." segments/);
  });

  it('stops at maxRows', async () => {
    const { block } = await readCriteoFile(fixture('criteo', 'train.tsv'), { maxBadRowFraction: 0, maxRows: 7, chunkRows: 3 });
    assert.equal(block.rows, 7);
  });
});
