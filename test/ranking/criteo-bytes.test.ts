import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { BAD_ROW_EXAMPLES, BadRowReport, CriteoReadOptions, badDataFailure, parseCriteoLine, readCriteoFile } from '../../ranking/data/criteo-reader';
import { BadRowFailure } from '../../ranking/failure';
import { hashFieldValue, murmur3Bytes, fieldSeed, murmur3String } from '../../ranking/hash';
import { RowBlock, RowBlockBuilder, ValueNames, concatBlocks, newValueNames } from '../../ranking/data/rows';
import { SeededRandom } from '../../ranking/rng';

/**
 * The byte reader against the reader it replaced: readline over the UTF-8 text, one parseCriteoLine per line. Both
 * must give the same rows (labels, dense values with NaN and −0, categorical hashes), the same value names and the
 * same bad-row reports and failures, whatever the bytes and wherever the reads end.
 */
async function stringReader(file: string, opts: CriteoReadOptions): Promise<{ block: RowBlock; badRows: BadRowReport }> {
  const bad: BadRowReport = { count: 0, rowsSeen: 0, examples: [] };
  const builder = new RowBlockBuilder(16);
  let good = 0;
  let lineNo = 0;
  const stream = fs.createReadStream(file, { encoding: 'utf8' });
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      lineNo++;
      bad.rowsSeen++;
      const problem = parseCriteoLine(line, builder, !!opts.allowMissingLabel, opts.valueNames);
      if (problem) {
        if (opts.strict) throw new BadRowFailure(file, lineNo, problem);
        bad.count++;
        if (bad.examples.length < BAD_ROW_EXAMPLES) bad.examples.push({ file, line: lineNo, problem });
        if (bad.rowsSeen >= 1000 && bad.count / bad.rowsSeen > Math.max(opts.maxBadRowFraction, 0.5))
          throw badDataFailure(file, bad, opts.maxBadRowFraction);
        continue;
      }
      good++;
      if (opts.maxRows !== undefined && good >= opts.maxRows) break;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  if (good === 0) throw new Error(`no valid rows`);
  if (bad.count / bad.rowsSeen > opts.maxBadRowFraction) throw badDataFailure(file, bad, opts.maxBadRowFraction);
  return { block: concatBlocks([builder.build()]), badRows: bad };
}

type Outcome = { block: RowBlock; badRows: BadRowReport; names: ValueNames } | { error: string };

async function outcome(
  read: (opts: CriteoReadOptions) => Promise<{ block: RowBlock; badRows: BadRowReport }>,
  opts: CriteoReadOptions,
): Promise<Outcome> {
  const names = newValueNames();
  try {
    const r = await read({ ...opts, valueNames: names });
    return { ...r, names };
  } catch (e) {
    // The byte reader words "no valid rows" at more length; what matters is that both fail on the same files.
    const m = (e as Error).message;
    return { error: /no valid rows/.test(m) ? 'no valid rows' : m };
  }
}

function assertSameOutcome(actual: Outcome, expected: Outcome, what: string): void {
  if ('error' in expected || 'error' in actual) {
    assert.deepEqual(actual, expected, what);
    return;
  }
  const a = actual.block;
  const e = expected.block;
  assert.equal(a.rows, e.rows, `${what}: rows`);
  assert.deepEqual([...a.labels], [...e.labels], `${what}: labels`);
  assert.deepEqual([...a.categorical], [...e.categorical], `${what}: categorical hashes`);
  assert.equal(a.dense.length, e.dense.length);
  // Object.is: NaN equals NaN, and −0 must stay −0.
  for (let i = 0; i < e.dense.length; i++) assert.ok(Object.is(a.dense[i], e.dense[i]), `${what}: dense[${i}] ${a.dense[i]} vs ${e.dense[i]}`);
  assert.deepEqual(actual.badRows, expected.badRows, `${what}: bad rows`);
  assert.deepEqual(
    actual.names.map((m) => [...m]),
    expected.names.map((m) => [...m]),
    `${what}: value names`,
  );
}

const DENSE_GOOD = ['', '0', '7', '-3', '-0', '0012', '123456789012345', '1234567890123456789', '-98765432109876543210', '99999999999999999999999'];
const DENSE_BAD = ['abc', '1.5', '-', '+3', '1e3', ' 4', '０'];
const CATS = ['', 'a', 'ab', 'abc', 'abcd', '68fd1e64', '0123456789abcdef', 'x y', '"q"', '\\'];
const NON_ASCII = ['é', 'naïve', '中文', '😀', '\uFFFD', '\uFEFF'];

function row(rng: SeededRandom, labeled = true): string[] {
  const pick = <T>(xs: T[]) => xs[Math.floor(rng.next() * xs.length)];
  const cols: string[] = labeled ? [rng.next() < 0.3 ? '1' : '0'] : [];
  for (let f = 0; f < 13; f++) cols.push(pick(DENSE_GOOD));
  for (let f = 0; f < 26; f++) cols.push(pick(rng.next() < 0.004 ? NON_ASCII : CATS));
  return cols;
}

/** Mostly good rows with every kind of trouble mixed in, as bytes. */
function trickyFile(seed: number, rows: number, eol: string, trailing: boolean): Buffer {
  const rng = new SeededRandom(seed);
  const lines: (string | Buffer)[] = [];
  for (let i = 0; i < rows; i++) {
    const cols = row(rng, rng.next() > 0.05);
    const t = rng.next();
    if (t < 0.03) cols[1 + Math.floor(rng.next() * 13)] = DENSE_BAD[Math.floor(rng.next() * DENSE_BAD.length)];
    else if (t < 0.05) cols[0] = ['2', '', '01', 'yes', 'é'][Math.floor(rng.next() * 5)];
    else if (t < 0.07) cols.splice(Math.floor(rng.next() * cols.length), 1 + Math.floor(rng.next() * 3));
    else if (t < 0.08) cols.push('extra');
    else if (t < 0.09) cols[20] = 'bin\u0001ary';
    else if (t < 0.1) cols[20] = 'del\u007f';
    else if (t < 0.11) {
      // Invalid UTF-8 in a value: a lone continuation byte, a truncated sequence.
      lines.push(
        Buffer.concat([Buffer.from(cols.slice(0, 20).join('\t') + '\tab'), Buffer.from([0x80, 0xc3]), Buffer.from('\t' + cols.slice(21).join('\t'))]),
      );
      continue;
    } else if (t < 0.12) {
      lines.push('');
      continue;
    } else if (t < 0.13) cols[30] = 'lone\rCR';
    lines.push(cols.join('\t'));
  }
  const parts: Buffer[] = [];
  lines.forEach((l, i) => {
    parts.push(typeof l === 'string' ? Buffer.from(l, 'utf8') : l);
    if (i < lines.length - 1 || trailing) parts.push(Buffer.from(eol));
  });
  return Buffer.concat(parts);
}

describe('Criteo TSV byte reader', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-criteo-bytes-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, bytes: Buffer | string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  it('hashes bytes as murmur3String hashes their string (ASCII and every byte below 0x100)', () => {
    const rng = new SeededRandom(5);
    for (let n = 0; n < 2000; n++) {
      const len = Math.floor(rng.next() * 24);
      const bytes = Buffer.alloc(len + 6);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng.next() * (n % 2 ? 0x80 : 0x100));
      const seed = fieldSeed(n % 39);
      assert.equal(murmur3Bytes(bytes, 3, 3 + len, seed), murmur3String(bytes.toString('latin1', 3, 3 + len), seed));
    }
    assert.equal(murmur3Bytes(Buffer.from('68fd1e64'), 0, 8, fieldSeed(13)), hashFieldValue(13, '68fd1e64'));
  });

  for (const [eol, trailing] of [
    ['\n', true],
    ['\n', false],
    ['\r\n', true],
    ['\r\n', false],
  ] as const) {
    it(`matches the string reader on tricky rows (${JSON.stringify(eol)} line ends${trailing ? '' : ', no trailing newline'}), reads ending anywhere`, async () => {
      const file = write(`tricky-${eol.length}-${trailing}.tsv`, trickyFile(eol.length * 10 + (trailing ? 1 : 0), 200, eol, trailing));
      for (const allowMissingLabel of [false, true]) {
        const opts = { maxBadRowFraction: 1, allowMissingLabel };
        const expected = await outcome((o) => stringReader(file, o), opts);
        assert.ok(!('error' in expected) && expected.badRows.count > 10 && expected.block.rows > 100, 'the file mixes good and bad rows');
        for (const readBytes of [7, 61, 1000, undefined]) {
          assertSameOutcome(await outcome((o) => readCriteoFile(file, o), { ...opts, readBytes, chunkRows: 37 }), expected, `readBytes ${readBytes}`);
        }
      }
    });
  }

  it('matches the string reader when every read is one to three bytes', async () => {
    for (const eol of ['\n', '\r\n']) {
      const file = write(`small-${eol.length}.tsv`, trickyFile(7 + eol.length, 25, eol, false));
      const expected = await outcome((o) => stringReader(file, o), { maxBadRowFraction: 1 });
      for (const readBytes of [1, 2, 3]) {
        assertSameOutcome(await outcome((o) => readCriteoFile(file, o), { maxBadRowFraction: 1, readBytes }), expected, `readBytes ${readBytes}`);
      }
    }
  });

  it('fails and stops as the string reader did: strict, the bad-row share, maxRows', async () => {
    const file = write('strict.tsv', trickyFile(99, 300, '\n', true));
    for (const opts of [
      { maxBadRowFraction: 1, strict: true },
      { maxBadRowFraction: 0.01 },
      { maxBadRowFraction: 1, maxRows: 50 },
      { maxBadRowFraction: 1, maxRows: 1 },
    ]) {
      const expected = await outcome((o) => stringReader(file, o), opts);
      for (const readBytes of [5, undefined]) {
        assertSameOutcome(await outcome((o) => readCriteoFile(file, o), { ...opts, readBytes }), expected, JSON.stringify(opts));
      }
    }
  });

  it('fails early on a file of garbage, as the string reader did', async () => {
    const lines = Array.from({ length: 1500 }, (_, i) => (i % 10 === 0 ? row(new SeededRandom(i)).join('\t') : `garbage ${i}`));
    const file = write('garbage.tsv', lines.join('\n'));
    const expected = await outcome((o) => stringReader(file, o), { maxBadRowFraction: 0.1 });
    assert.ok('error' in expected && /1000 of 1[01]\d\d rows|of 1000 rows/.test(expected.error), 'error' in expected ? expected.error : '');
    assertSameOutcome(await outcome((o) => readCriteoFile(file, o), { maxBadRowFraction: 0.1, readBytes: 777 }), expected, 'garbage');
  });

  it('reads lone CRs, blank lines and a final CR as line ends (as readline does)', async () => {
    const good = row(new SeededRandom(1)).join('\t');
    const file = write('cr.tsv', `${good}\r${good}\r\r\n\n${good}\r`);
    const expected = await outcome((o) => stringReader(file, o), { maxBadRowFraction: 1 });
    assert.ok(!('error' in expected) && expected.block.rows === 3 && expected.badRows.rowsSeen === 5);
    for (const readBytes of [1, 2, 3, undefined])
      assertSameOutcome(await outcome((o) => readCriteoFile(file, o), { maxBadRowFraction: 1, readBytes }), expected, 'CR');
  });
});
