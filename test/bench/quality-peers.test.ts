import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelConfig } from '../../contracts';
import { REFERENCE_CONFIGS, TEXTBOOK_FTRL, referenceConfig } from '../../contracts/reference-configs';
import { writeCriteoTsv } from '../../ranking/data/criteo-writer';
import { plantedScenario } from '../../ranking/data/planted';
import { auc, calibration, normalizedEntropy } from '../../ranking/metrics';
import { measurePredictions, measureScores } from '../../bench/peers/measure';
import { runTextbookFtrl } from '../../bench/peers/textbook-ftrl';
import { WIDE_DECLARED_SCHEMA, ensureWideDeclared, wideDeclaredOptions } from '../../bench/quality/wide-declared';

// The quality bench's TypeScript peers and its one measuring function. No Python here: the bench venv is the
// bench's business, never a test's.

describe('quality bench: peers and the shared measure', function () {
  let dir: string;
  let files: { train: string; test: string };
  let testLabels: Uint8Array;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-quality-peers-'));
    const s = plantedScenario({ seed: 5, trainRows: 8_000, validationRows: 100, testRows: 3_000 });
    files = { train: path.join(dir, 'train.tsv'), test: path.join(dir, 'test.tsv') };
    await writeCriteoTsv(files.train, s.train, s.valueNames);
    await writeCriteoTsv(files.test, s.test, s.valueNames);
    testLabels = s.test.labels;
  });

  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the textbook FTRL script trains one pass and beats the constant predictor', async function () {
    const out = path.join(dir, 'ftrl.predictions.txt');
    const r = await runTextbookFtrl(files.train, files.test, out);
    assert.deepEqual(r, { trainRows: 8_000, testRows: 3_000 });
    const m = await measurePredictions(out, files.test);
    // A constant prediction at the test CTR scores NE 1 and AUC 0.5 exactly.
    assert.ok(m.ne < 0.95, `textbook FTRL NE ${m.ne} should beat the constant predictor (1)`);
    assert.ok(m.auc > 0.6, `AUC ${m.auc}`);
    // Deterministic: a second run writes the same predictions.
    const again = path.join(dir, 'ftrl.again.txt');
    await runTextbookFtrl(files.train, files.test, again);
    assert.equal(fs.readFileSync(again, 'utf8'), fs.readFileSync(out, 'utf8'));
  });

  it('the textbook FTRL script reads bytes as a line reader would: CRLF, blank lines, short rows, no final newline, lines across its 4 MiB chunks', async function () {
    // Copies of train to over 5 MiB (lines cross the script's 4 MiB chunks), with LF endings and again with CRLF,
    // blank lines and no final newline: the chunks break inside different lines, the predictions must agree.
    const train = fs.readFileSync(files.train, 'utf8');
    const copies = Math.ceil((5 * 2 ** 20) / train.length);
    const lf = path.join(dir, 'train.lf.tsv');
    fs.writeFileSync(lf, train.repeat(copies));
    assert.ok(fs.statSync(lf).size > 4 * 2 ** 20);
    const crlf = path.join(dir, 'train.crlf.tsv');
    fs.writeFileSync(
      crlf,
      '\n' +
        train
          .repeat(copies)
          .trimEnd()
          .replace(/\n/g, '\r\n')
          .replace(/\r\n(?=1\t)/, '\r\n\r\n\n'),
    );
    const [a, b] = [path.join(dir, 'lf.predictions.txt'), path.join(dir, 'crlf.predictions.txt')];
    assert.deepEqual(await runTextbookFtrl(lf, files.test, a), { trainRows: 8_000 * copies, testRows: 3_000 });
    assert.deepEqual(await runTextbookFtrl(crlf, files.test, b), { trainRows: 8_000 * copies, testRows: 3_000 });
    assert.equal(fs.readFileSync(b, 'utf8'), fs.readFileSync(a, 'utf8'));

    // A row cut short has its missing fields empty, like a row that names them empty; a dense count goes by its
    // log2 bucket, so 2.5 (through Number()) is 2's feature and -7 is 0's: two spellings of the same rows, the same
    // features, the same predictions.
    const rows = train.split('\n').slice(0, 300);
    const spell = (cut: (cols: string[]) => string[], float: string, negative: string) =>
      rows.map((r, i) =>
        cut(r.split('\t'))
          .map((v, f) => (f === 1 && i % 4 === 1 ? float : f === 2 && i % 4 === 2 ? negative : v))
          .join('\t'),
      );
    const short = spell((cols) => cols.slice(0, 20), '2.5', '-7');
    const padded = spell((cols) => [...cols.slice(0, 20), ...Array<string>(20).fill('')], '2', '0');
    fs.writeFileSync(path.join(dir, 'short.tsv'), short.join('\n'));
    fs.writeFileSync(path.join(dir, 'padded.tsv'), padded.join('\n') + '\n');
    await runTextbookFtrl(path.join(dir, 'short.tsv'), files.test, a);
    await runTextbookFtrl(path.join(dir, 'padded.tsv'), files.test, b);
    assert.equal(fs.readFileSync(b, 'utf8'), fs.readFileSync(a, 'utf8'));
  });

  it('the textbook FTRL script reads a declared CSV by its header and schema: column order and unread columns change nothing', async function () {
    const table = path.join(dir, 'declared');
    const { meta } = ensureWideDeclared(wideDeclaredOptions(20_000), table);
    const [train, test] = [path.join(table, 'train.csv'), path.join(table, 'test.csv')];
    const out = path.join(dir, 'declared.predictions.txt');
    assert.deepEqual(await runTextbookFtrl(train, test, out, WIDE_DECLARED_SCHEMA), { trainRows: 20_000, testRows: 5000 });
    const m = await measurePredictions(out, test, { csvLabelColumn: 'clicked' });
    assert.equal(m.rows, 5000);
    // One pass over 20,000 rows of 100+ hashed columns overfits its long tails (NE near 1), but it ranks by the truth.
    assert.ok(m.auc > 0.6 && m.ne > meta.oracle.ne - 0.05, `AUC ${m.auc}, NE ${m.ne} vs oracle ${meta.oracle.ne}`);

    // The same table with its columns reversed and a column the schema does not name: the same features.
    const shuffle = (file: string) => {
      const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      const moved = path.join(dir, `moved-${path.basename(file)}`);
      fs.writeFileSync(moved, lines.map((l, i) => [...l.split(',').reverse(), i ? 'x' : 'note'].join(',')).join('\n') + '\n');
      return moved;
    };
    const again = path.join(dir, 'declared.moved.txt');
    await runTextbookFtrl(shuffle(train), shuffle(test), again, WIDE_DECLARED_SCHEMA);
    assert.equal(fs.readFileSync(again, 'utf8'), fs.readFileSync(out, 'utf8'));

    // A quoted cell is refused rather than misread; a schema column the file lacks is named.
    const quoted = path.join(dir, 'quoted.csv');
    const [header, row] = fs.readFileSync(train, 'utf8').split('\n');
    fs.writeFileSync(quoted, `${header}\n${row.replace(',v', ',"v')}\n`);
    await assert.rejects(runTextbookFtrl(quoted, test, again, WIDE_DECLARED_SCHEMA), /a quoted CSV cell/);
    const schema = { columns: { ...WIDE_DECLARED_SCHEMA.columns, price: 'dense' as const } };
    await assert.rejects(runTextbookFtrl(train, test, again, schema), /no column "price" in the header/);
    await assert.rejects(measurePredictions(out, test, { csvLabelColumn: 'label' }), /no column "label" in its header/);
  });

  it('measures every predictions file with ranking/metrics.ts, against the test file labels', async function () {
    const scores = Array.from(testLabels, (y, i) => (y ? 0.3 : 0.1) + (i % 7) / 100);
    const file = path.join(dir, 'made-up.predictions.txt');
    fs.writeFileSync(file, scores.map((p) => p.toPrecision(7)).join('\n') + '\n');
    const m = await measurePredictions(file, files.test);
    assert.equal(m.rows, 3_000);
    assert.ok(Math.abs(m.ne - normalizedEntropy(scores, testLabels)) < 1e-9);
    assert.ok(Math.abs(m.auc - auc(scores, testLabels)) < 1e-12);
    assert.ok(Math.abs(m.calibration - calibration(scores, testLabels)) < 1e-9);

    const ctr = testLabels.reduce((a, y) => a + y, 0) / testLabels.length;
    const constant = measureScores(new Float64Array(testLabels.length).fill(ctr), testLabels);
    assert.ok(Math.abs(constant.ne - 1) < 1e-12);
    assert.ok(Math.abs(constant.calibration - 1) < 1e-12);
    assert.equal(constant.auc, 0.5);
  });

  it('refuses a predictions file that does not line up with the test file', async function () {
    const short = path.join(dir, 'short.txt');
    fs.writeFileSync(short, '0.1\n0.2\n');
    await assert.rejects(measurePredictions(short, files.test), /has 2 predictions, .* has 3000 rows/);
    const bad = path.join(dir, 'bad.txt');
    fs.writeFileSync(bad, '0.1\nNaN\n');
    await assert.rejects(measurePredictions(bad, files.test), /bad\.txt:2: "NaN" is not a probability/);
  });

  it('TEXTBOOK_FTRL is a valid lr config with the textbook recipe, selectable by name', function () {
    const parsed = ModelConfig.parse(TEXTBOOK_FTRL);
    assert.equal(parsed.family, 'lr');
    assert.deepEqual(
      { hashBits: parsed.hashBits, denseTransform: parsed.denseTransform, learningRate: parsed.learningRate, l2: parsed.l2, epochs: parsed.epochs },
      { hashBits: 22, denseTransform: 'bucketize', learningRate: 0.05, l2: 1, epochs: 1 },
    );
    assert.ok(parsed.family === 'lr' && parsed.ftrlBeta === 1 && parsed.l1 === 0.5);
    assert.deepEqual(referenceConfig('textbook-ftrl'), parsed);
    assert.deepEqual(Object.keys(REFERENCE_CONFIGS), ['textbook-ftrl']);
    assert.throws(() => referenceConfig('nope'), /unknown reference config "nope" \(known: textbook-ftrl\)/);
  });
});
