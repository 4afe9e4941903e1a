import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeclaredSchema } from '../../contracts';
import { normalizedEntropy } from '../../ranking/metrics';
import {
  WIDE_DECLARED_COLUMNS,
  ensureWideDeclared,
  wideDeclaredCells,
  wideDeclaredOptions,
  wideDeclaredRows,
} from '../../bench/quality/wide-declared';

// The quality bench's wide declared table (bench/quality/wide-declared.ts): its shape, its determinism, and an
// oracle NE that is the true probabilities' NE on the written test rows.

describe('quality bench: the wide declared table', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-wide-declared-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes 104 columns by a valid declared schema, and meta.json holds the true probabilities’ NE on test', function () {
    const options = wideDeclaredOptions(2000);
    const { meta, reused } = ensureWideDeclared(options, path.join(dir, 'a'));
    assert.equal(reused, false);
    const schema = DeclaredSchema.parse(meta.data.schema);
    assert.equal(Object.keys(schema.columns).length, 104);
    const header = fs.readFileSync(path.join(dir, 'a', 'test.csv'), 'utf8').split('\n', 1)[0];
    assert.deepEqual(header.split(','), WIDE_DECLARED_COLUMNS);
    assert.deepEqual(Object.fromEntries(Object.entries(meta.splits).map(([k, s]) => [k, s.rows])), { train: 2000, validation: 200, test: 500 });

    // The rows the file holds are the generator's rows, and the oracle is their probabilities' NE.
    // (The generator reuses one row object: each is read as it is yielded.)
    const rows = Array.from(wideDeclaredRows(options, 'test'), (r) => ({ p: r.probability, y: r.label, line: wideDeclaredCells(r).join(',') }));
    const lines = fs
      .readFileSync(path.join(dir, 'a', 'test.csv'), 'utf8')
      .trimEnd()
      .split('\n')
      .slice(1);
    assert.deepEqual(
      lines,
      rows.map((r) => r.line),
    );
    assert.ok(
      Math.abs(
        meta.oracle.ne -
          normalizedEntropy(
            rows.map((r) => r.p),
            rows.map((r) => r.y),
          ),
      ) < 1e-12,
    );
    // The planted truth is strong enough to measure models against: well below a constant predictor's NE of 1.
    assert.ok(meta.oracle.ne < 0.9 && meta.oracle.ne > 0.5, `oracle NE ${meta.oracle.ne}`);
  });

  it('is deterministic: the same options write the same bytes, more train rows extend the same stream, a damaged file is rewritten', function () {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    ensureWideDeclared(wideDeclaredOptions(2000), a);
    ensureWideDeclared(wideDeclaredOptions(2000), b);
    for (const f of ['train.csv', 'validation.csv', 'test.csv'])
      assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), f);
    assert.equal(ensureWideDeclared(wideDeclaredOptions(2000), a).reused, true);

    const c = path.join(dir, 'c');
    ensureWideDeclared(wideDeclaredOptions(3000), c);
    const small = fs.readFileSync(path.join(a, 'train.csv'), 'utf8');
    assert.ok(fs.readFileSync(path.join(c, 'train.csv'), 'utf8').startsWith(small));

    fs.appendFileSync(path.join(a, 'train.csv'), '1\n');
    assert.equal(ensureWideDeclared(wideDeclaredOptions(2000), a).reused, false);
    assert.equal(fs.readFileSync(path.join(a, 'train.csv'), 'utf8'), small);
  });
});
