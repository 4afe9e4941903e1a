import * as fs from 'node:fs';
import { CATEGORICAL_FIELDS, DENSE_FIELDS } from '../../contracts';
import { fieldSeed, hashFieldValue, murmur3Bytes } from '../hash';
import { BadRowFailure, TrainingFailure } from '../failure';
import {
  CATEGORICAL_COUNT,
  DENSE_COUNT,
  MAX_NAMES_PER_FIELD,
  MISSING_CATEGORICAL,
  RowBlock,
  RowBlockBuilder,
  UNKNOWN_LABEL,
  ValueNames,
  concatBlocks,
} from './rows';

/**
 * Streaming reader of Criteo-format TSV: `label \t I1..I13 \t C1..C26`, empty = missing. The file is read in
 * chunks of bytes and yields chunks of rows, so a file bigger than memory can be scanned (scoring streams it end to end; training
 * keeps the compact columnar rows, ~157 bytes a row, and `maxTrainRows` caps what it keeps).
 */

export const COLUMNS_WITH_LABEL = 1 + DENSE_COUNT + CATEGORICAL_COUNT; // 40
export const COLUMNS_WITHOUT_LABEL = DENSE_COUNT + CATEGORICAL_COUNT; // 39
/** How many malformed-row examples a report keeps. */
export const BAD_ROW_EXAMPLES = 20;

export interface BadRowExample {
  file: string;
  line: number;
  problem: string;
}

export interface BadRowReport {
  count: number;
  rowsSeen: number;
  examples: BadRowExample[];
}

export interface CriteoReadOptions {
  /** Stop after this many good rows. */
  maxRows?: number;
  /** Accept 39-column rows (no label), as in Criteo's unlabeled test file; their label is UNKNOWN_LABEL. */
  allowMissingLabel?: boolean;
  /** Above this share of malformed rows the read fails with a bad-data TrainingFailure. */
  maxBadRowFraction: number;
  /** The first malformed row fails the read at once (a BadRowFailure naming file:line), whatever the share. */
  strict?: boolean;
  /** Where readable value names are collected (for segments). */
  valueNames?: ValueNames;
  chunkRows?: number;
  /** Bytes per read (1 MiB); tests use a few bytes so that reads end mid-line, mid-CRLF and mid-character. */
  readBytes?: number;
}

const INTEGER = /^-?\d+$/;
// Control characters other than tab/CR (which the split and readline consume) mean binary data.
// eslint-disable-next-line no-control-regex
const BINARY = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Refuses paths with ".." segments or NUL bytes (the same rule as contracts' DataPath). */
export function assertSafePath(p: string, what = 'path'): void {
  if (typeof p !== 'string' || p.length === 0) throw new Error(`${what}: expected a file path`);
  if (p.split(/[\\/]/).includes('..')) throw new Error(`${what} ${JSON.stringify(p)}: must not contain ".." segments`);
  if (p.includes('\0')) throw new Error(`${what}: must not contain NUL bytes`);
}

/** Parses one line into `builder`; returns a problem description when the row is malformed (nothing appended). */
export function parseCriteoLine(line: string, builder: RowBlockBuilder, allowMissingLabel: boolean, names?: ValueNames): string | null {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line.includes('\uFFFD')) return 'invalid UTF-8 (undecodable bytes)';
  if (BINARY.test(line)) return 'binary data (control characters)';
  const cols = line.split('\t');
  let label: number;
  let offset: number;
  if (cols.length === COLUMNS_WITH_LABEL) {
    const l = cols[0];
    if (l !== '0' && l !== '1') return `expected label 0 or 1 in column 1, got ${quote(l)}`;
    label = l === '1' ? 1 : 0;
    offset = 1;
  } else if (cols.length === COLUMNS_WITHOUT_LABEL && allowMissingLabel) {
    label = UNKNOWN_LABEL;
    offset = 0;
  } else {
    const want = allowMissingLabel ? `${COLUMNS_WITH_LABEL} (or ${COLUMNS_WITHOUT_LABEL} without a label)` : `${COLUMNS_WITH_LABEL}`;
    return `expected ${want} tab-separated columns (label, I1..I13, C1..C26), got ${cols.length}`;
  }
  for (let f = 0; f < DENSE_COUNT; f++) {
    const v = cols[offset + f];
    if (v !== '' && !INTEGER.test(v)) return `expected an integer or empty in ${DENSE_FIELDS[f]} (column ${offset + f + 1}), got ${quote(v)}`;
  }
  const row = builder.appendRow(label);
  for (let f = 0; f < DENSE_COUNT; f++) {
    const v = cols[offset + f];
    builder.setDense(row, f, v === '' ? NaN : Number(v));
  }
  for (let f = 0; f < CATEGORICAL_COUNT; f++) {
    const v = cols[offset + DENSE_COUNT + f];
    if (v === '') {
      builder.setCategorical(row, f, MISSING_CATEGORICAL);
      continue;
    }
    let h = hashFieldValue(DENSE_COUNT + f, v);
    if (h === MISSING_CATEGORICAL) h = 1;
    builder.setCategorical(row, f, h);
    if (names) {
      const m = names[f];
      if (m.size < MAX_NAMES_PER_FIELD && !m.has(h)) m.set(h, v);
    }
  }
  return null;
}

function quote(v: string): string {
  return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
}

/** Bytes read from the file at a time. */
const READ_BYTES = 1 << 20;
/** Tab positions kept per line: one more than a labeled row has, so any longer row is still counted (and refused). */
const MAX_TABS = COLUMNS_WITH_LABEL;
const TAB = 9;
const LF = 10;
const CR = 13;
const MINUS = 45;
const ZERO = 48;
/** Dense values with more digits than this may pass 2^53: they go through Number() so they round as the string path did. */
const EXACT_DIGITS = 15;
const CATEGORICAL_SEEDS = Int32Array.from({ length: CATEGORICAL_COUNT }, (_, f) => fieldSeed(DENSE_COUNT + f));
// Module-local copies of imported values the per-byte code uses: imports compile to getters on the exporting module,
// and a getter call per field showed up as a tenth of the parse in profiles.
const DENSE = DENSE_COUNT;
const CATEGORICAL = CATEGORICAL_COUNT;
const MISSING = MISSING_CATEGORICAL;
const NAMES_CAP = MAX_NAMES_PER_FIELD;
const NO_LABEL = UNKNOWN_LABEL;
const hashBytes = murmur3Bytes;

/**
 * Which hashes a field's value names (a Map) has seen, as an open-addressing set of int32s: asking the Map itself
 * costs a boxed number per lookup for hashes ≥ 2^31 (half of them), and that was most of a parse's time. Only a
 * hash the set has not seen goes to the Map, with exactly the Map's old rule (below the cap, not there yet), so the
 * names are the ones the string reader kept. It holds at most the Map's keys plus one per value first seen after
 * the Map filled up — and a full Map stops being looked at.
 */
const RECENT_SLOTS = 2048;

class SeenHashes {
  /**
   * A direct-mapped cache of recently seen hashes in front of the set: a field with tens of thousands of values makes
   * every set lookup a cache miss, while most rows carry one of its few frequent values, which this small table holds.
   */
  private recent = new Int32Array(RECENT_SLOTS);
  private slots = new Int32Array(1024);
  private count = 0;
  /** The Map's size when this set last agreed with it (a Map changed elsewhere is read again). */
  mapSize = 0;

  constructor(names: Map<number, string>) {
    for (const h of names.keys()) this.add(h);
    this.mapSize = names.size;
  }

  /**
   * Adds `h` (never 0: 0 marks an empty slot, and a hash never is 0); returns false when it was already there. Kept
   * small (the recent check, then the set) so that the parse loop inlines it; growing is a call of its own.
   */
  add(h: number): boolean {
    const key = h | 0;
    const r = key & (RECENT_SLOTS - 1);
    if (this.recent[r] === key) return false;
    this.recent[r] = key;
    const slots = this.slots;
    const mask = slots.length - 1;
    let i = Math.imul(key, 0x9e3779b1) >>> 0;
    for (;;) {
      i &= mask;
      const k = slots[i];
      if (k === key) return false;
      if (k === 0) break;
      i++;
    }
    slots[i] = key;
    if (++this.count * 2 > slots.length) this.grow();
    return true;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    const mask = this.slots.length - 1;
    for (const k of old) {
      if (k === 0) continue;
      let j = Math.imul(k, 0x9e3779b1) >>> 0;
      for (j &= mask; this.slots[j] !== 0; j = (j + 1) & mask);
      this.slots[j] = k;
    }
  }
}

const seenHashes = new WeakMap<Map<number, string>, SeenHashes>();

function seenHashesOf(names: Map<number, string>): SeenHashes {
  let seen = seenHashes.get(names);
  if (!seen || seen.mapSize !== names.size) seenHashes.set(names, (seen = new SeenHashes(names)));
  return seen;
}

/** Where the line scanner stopped: the line's end (before CR/LF), where the next line starts, and what it saw. */
interface LineScan {
  end: number;
  next: number;
  tabs: number;
  /** A byte ≥ 0x80 (the line is decoded as UTF-8 and parsed as a string). */
  nonAscii: boolean;
  /** A control character other than tab (binary data). */
  binary: boolean;
}

/**
 * Scans the line at `from` for its end and its tabs (positions into `tabs`). Line ends are readline's: LF, CRLF, or a
 * lone CR. Returns false when the line may continue past `limit` (more bytes are needed); at EOF the last line ends there.
 */
function scanLine(buf: Uint8Array, from: number, limit: number, eof: boolean, tabs: Int32Array, out: LineScan): boolean {
  let nt = 0;
  let nonAscii = false;
  let binary = false;
  for (let p = from; p < limit; p++) {
    const c = buf[p];
    if (c >= 0x20 && c < 0x7f) continue;
    if (c === TAB) {
      if (nt < MAX_TABS) tabs[nt] = p;
      nt++;
    } else if (c === LF || c === CR) {
      if (c === CR && p + 1 === limit && !eof) return false; // a CRLF may straddle the read
      out.end = p;
      out.next = c === CR && p + 1 < limit && buf[p + 1] === LF ? p + 2 : p + 1;
      out.tabs = nt;
      out.nonAscii = nonAscii;
      out.binary = binary;
      return true;
    } else if (c >= 0x80) nonAscii = true;
    else binary = true;
  }
  if (!eof) return false;
  out.end = out.next = limit;
  out.tabs = nt;
  out.nonAscii = nonAscii;
  out.binary = binary;
  return true;
}

/** A line's values as parsed, before they are appended: its label, dense values and categorical values' byte spans. */
interface ParsedRow {
  label: number;
  dense: Float64Array;
  /** Categorical field f's value is buf[spans[2f], spans[2f + 1]) (empty: missing). */
  spans: Int32Array;
}

/**
 * The common line in one pass over its bytes: a label 0 or 1, 13 integers (or empty) of at most EXACT_DIGITS
 * characters and 26 printable ASCII values, tab-separated. Returns where the next line starts, its values in `row`; or
 * −1 for any other line, or one that may go on past the bytes read: nothing is appended then, and the careful path
 * (scanLine, then parseCriteoBytes or parseCriteoLine) reads it, words its problem or waits for more bytes. A line the
 * common path takes is one the careful path parses to the same values: scanning its tabs first, then its values, was
 * a quarter of a load.
 */
function parseCommonLine(buf: Uint8Array, from: number, limit: number, eof: boolean, row: ParsedRow): number {
  if (from + 1 >= limit) return -1;
  const label = buf[from] - ZERO;
  if ((label !== 0 && label !== 1) || buf[from + 1] !== TAB) return -1;
  row.label = label;
  const dense = row.dense;
  let p = from + 2;
  for (let f = 0; f < DENSE; f++) {
    const s = p;
    const negative = p < limit && buf[p] === MINUS;
    if (negative) p++;
    let v = 0;
    for (; p < limit; p++) {
      const d = buf[p] - ZERO;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    // Past the bytes read, not an integer ("-" alone, another character, a line end), or too many digits: careful path.
    if (p >= limit || buf[p] !== TAB || (negative && p === s + 1) || p - s > EXACT_DIGITS) return -1;
    dense[f] = p === s ? NaN : negative ? -v : v;
    p++;
  }
  const spans = row.spans;
  for (let f = 0; f < CATEGORICAL; f++) {
    const s = p;
    let c = 0;
    for (; p < limit; p++) {
      c = buf[p];
      if (c < 0x20 || c >= 0x7f) break;
    }
    spans[2 * f] = s;
    spans[2 * f + 1] = p;
    if (f < CATEGORICAL - 1) {
      if (p >= limit || c !== TAB) return -1;
      p++;
    } else if (p >= limit) {
      // The last line may end without a line end; any other line needs the bytes after it.
      return eof ? limit : -1;
    } else if (c === LF) {
      return p + 1;
    } else if (c === CR) {
      // CRLF or a lone CR (readline's line ends); a CR that ends the bytes read may be half of a CRLF.
      if (p + 1 < limit) return buf[p + 1] === LF ? p + 2 : p + 1;
      return eof ? limit : -1;
    } else return -1;
  }
  return -1;
}

/**
 * Parses one ASCII line `buf[start, scan.end)` (tabs at `tabs`) into `row` straight from the bytes: the same values
 * and problem descriptions as parseCriteoLine on its string, without splitting it or allocating per field (a string
 * is made only when a problem quotes a value). Returns the problem, or null when `row` holds the line's values.
 */
function parseCriteoBytes(buf: Buffer, start: number, scan: LineScan, tabs: Int32Array, allowMissingLabel: boolean, row: ParsedRow): string | null {
  const end = scan.end;
  if (scan.binary) return 'binary data (control characters)';
  const cols = scan.tabs + 1;
  let label: number;
  let first: number; // index of I1 among the columns
  if (cols === COLUMNS_WITH_LABEL) {
    const l = buf[start];
    if (tabs[0] !== start + 1 || (l !== ZERO && l !== ZERO + 1))
      return `expected label 0 or 1 in column 1, got ${quote(buf.toString('latin1', start, tabs[0]))}`;
    label = l - ZERO;
    first = 1;
  } else if (cols === COLUMNS_WITHOUT_LABEL && allowMissingLabel) {
    label = NO_LABEL;
    first = 0;
  } else {
    const want = allowMissingLabel ? `${COLUMNS_WITH_LABEL} (or ${COLUMNS_WITHOUT_LABEL} without a label)` : `${COLUMNS_WITH_LABEL}`;
    return `expected ${want} tab-separated columns (label, I1..I13, C1..C26), got ${cols}`;
  }
  // Column c spans [c ? tabs[c − 1] + 1 : start, tabs[c]); the last one ends at the line's end.
  const dense = row.dense;
  for (let f = 0; f < DENSE; f++) {
    const c = first + f;
    const s = c === 0 ? start : tabs[c - 1] + 1;
    const e = tabs[c];
    if (s === e) {
      dense[f] = NaN;
      continue;
    }
    const negative = buf[s] === MINUS;
    let v = 0;
    let p = negative ? s + 1 : s;
    let ok = p < e;
    for (; p < e; p++) {
      const d = buf[p] - ZERO;
      if (d < 0 || d > 9) {
        ok = false;
        break;
      }
      v = v * 10 + d;
    }
    if (!ok) return `expected an integer or empty in ${DENSE_FIELDS[f]} (column ${c + 1}), got ${quote(buf.toString('latin1', s, e))}`;
    dense[f] = e - s > EXACT_DIGITS ? Number(buf.toString('latin1', s, e)) : negative ? -v : v;
  }
  row.label = label;
  const last = first + DENSE + CATEGORICAL - 1;
  for (let f = 0; f < CATEGORICAL; f++) {
    const c = first + DENSE + f;
    row.spans[2 * f] = tabs[c - 1] + 1;
    row.spans[2 * f + 1] = c === last ? end : tabs[c];
  }
  return null;
}

/** Appends a parsed row: its values written straight into the builder's arrays, its categorical values hashed and named. */
function appendParsedRow(buf: Buffer, row: ParsedRow, builder: RowBlockBuilder, names: ValueNames | undefined, seen: (SeenHashes | null)[]): void {
  const r = builder.appendRow(row.label);
  const denseOut = builder.dense;
  const categoricalOut = builder.categorical;
  const { dense, spans } = row;
  for (let f = 0, o = r * DENSE; f < DENSE; f++, o++) denseOut[o] = dense[f];
  for (let f = 0, o = r * CATEGORICAL; f < CATEGORICAL; f++, o++) {
    const s = spans[2 * f];
    const e = spans[2 * f + 1];
    if (s === e) {
      categoricalOut[o] = MISSING;
      continue;
    }
    let h = hashBytes(buf, s, e, CATEGORICAL_SEEDS[f]);
    if (h === MISSING) h = 1;
    categoricalOut[o] = h;
    const fieldSeen = names && seen[f];
    if (fieldSeen && fieldSeen.add(h)) {
      const m = names[f];
      if (m.size < NAMES_CAP && !m.has(h)) m.set(h, buf.toString('latin1', s, e));
      // Full: no value of this field will be named any more, so its set can stop growing.
      if (m.size >= NAMES_CAP) seen[f] = null;
      else fieldSeen.mapSize = m.size;
    }
  }
}

/**
 * Reads a Criteo TSV as a stream of row chunks. Malformed rows are skipped, counted and reported (file + line +
 * what was expected); the bad-row threshold is enforced at the end, and early once enough rows were seen.
 *
 * The file is read as bytes and parsed in place (parseCriteoBytes): tabs and line ends are found by byte, integers
 * and hashes computed from the bytes. A line with a byte ≥ 0x80 is decoded as UTF-8 and parsed by parseCriteoLine, so
 * non-ASCII values hash (and invalid UTF-8 is reported) exactly as when the whole file was read as text.
 */
/** A data file's stat, after checking it is a safe path to a non-empty regular file (bad data naming it otherwise). */
export async function statDataFile(file: string, expected: string): Promise<fs.Stats> {
  assertSafePath(file, 'data file');
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    throw new TrainingFailure('bad-data', `data file ${file} does not exist or cannot be read`);
  }
  if (!stat.isFile()) throw new TrainingFailure('bad-data', `data file ${file} is not a regular file`);
  if (stat.size === 0) throw new TrainingFailure('bad-data', `data file ${file} is empty: expected ${expected}`);
  return stat;
}

export async function* readCriteoChunks(file: string, opts: CriteoReadOptions): AsyncGenerator<{ block: RowBlock; badRows: BadRowReport }> {
  await statDataFile(file, 'Criteo TSV rows (label, I1..I13, C1..C26)');

  const chunkRows = opts.chunkRows ?? 65_536;
  const readBytes = Math.max(1, opts.readBytes ?? READ_BYTES);
  const allowMissingLabel = !!opts.allowMissingLabel;
  const bad: BadRowReport = { count: 0, rowsSeen: 0, examples: [] };
  let builder = new RowBlockBuilder(Math.min(chunkRows, 65_536));
  let good = 0;
  let lineNo = 0;
  const tabs = new Int32Array(MAX_TABS);
  const parsed: ParsedRow = { label: 0, dense: new Float64Array(DENSE), spans: new Int32Array(2 * CATEGORICAL) };
  const scan: LineScan = { end: 0, next: 0, tabs: 0, nonAscii: false, binary: false };
  const names = opts.valueNames;
  const seen = names ? names.map((m) => (m.size < MAX_NAMES_PER_FIELD ? seenHashesOf(m) : null)) : [];
  // buf[at, filled) holds bytes read but not yet parsed: at most the start of one line between reads.
  let buf = Buffer.allocUnsafe(Math.max(readBytes, 1024));
  let at = 0;
  let filled = 0;
  let eof = false;
  const handle = await fs.promises.open(file, 'r');
  try {
    reading: while (!eof) {
      if (at > 0) {
        buf.copy(buf, 0, at, filled);
        filled -= at;
        at = 0;
      }
      if (buf.length - filled < readBytes) {
        const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, filled + readBytes));
        buf.copy(grown, 0, 0, filled);
        buf = grown;
      }
      const { bytesRead } = await handle.read(buf, filled, readBytes, null);
      filled += bytesRead;
      eof = bytesRead === 0;
      while (at < filled) {
        let problem: string | null = null;
        const next = parseCommonLine(buf, at, filled, eof, parsed);
        if (next >= 0) {
          appendParsedRow(buf, parsed, builder, names, seen);
          at = next;
        } else {
          if (!scanLine(buf, at, filled, eof, tabs, scan)) break;
          if (scan.nonAscii) problem = parseCriteoLine(buf.toString('utf8', at, scan.end), builder, allowMissingLabel, names);
          else {
            problem = parseCriteoBytes(buf, at, scan, tabs, allowMissingLabel, parsed);
            if (!problem) appendParsedRow(buf, parsed, builder, names, seen);
          }
          at = scan.next;
        }
        lineNo++;
        bad.rowsSeen++;
        if (problem) {
          if (opts.strict) throw new BadRowFailure(file, lineNo, problem);
          bad.count++;
          if (bad.examples.length < BAD_ROW_EXAMPLES) bad.examples.push({ file, line: lineNo, problem });
          // Fail early on files that are clearly not Criteo TSV instead of scanning gigabytes of garbage.
          if (bad.rowsSeen >= 1000 && bad.count / bad.rowsSeen > Math.max(opts.maxBadRowFraction, 0.5))
            throw badDataFailure(file, bad, opts.maxBadRowFraction);
          continue;
        }
        good++;
        if (builder.rows >= chunkRows) {
          yield { block: builder.finish(), badRows: bad };
          builder = new RowBlockBuilder(Math.min(chunkRows, 65_536));
        }
        if (opts.maxRows !== undefined && good >= opts.maxRows) break reading;
      }
    }
  } finally {
    await handle.close();
  }
  if (good === 0) {
    const why =
      bad.count > 0 ? `all ${bad.count} rows are malformed; first: line ${bad.examples[0].line}: ${bad.examples[0].problem}` : 'it holds no rows';
    throw new TrainingFailure('bad-data', `data file ${file} has no valid rows: ${why}`);
  }
  if (bad.count / bad.rowsSeen > opts.maxBadRowFraction) throw badDataFailure(file, bad, opts.maxBadRowFraction);
  if (builder.rows > 0) yield { block: builder.finish(), badRows: bad };
}

/** Reads a whole file into one block (training data). */
export async function readCriteoFile(file: string, opts: CriteoReadOptions): Promise<{ block: RowBlock; badRows: BadRowReport }> {
  const blocks: RowBlock[] = [];
  let badRows: BadRowReport = { count: 0, rowsSeen: 0, examples: [] };
  for await (const chunk of readCriteoChunks(file, opts)) {
    blocks.push(chunk.block);
    badRows = chunk.badRows;
  }
  return { block: concatBlocks(blocks), badRows };
}

export function badDataFailure(file: string, bad: BadRowReport, maxFraction: number): TrainingFailure {
  const share = bad.count / Math.max(1, bad.rowsSeen);
  const examples = bad.examples
    .slice(0, 5)
    .map((e) => `  ${e.file}:${e.line}: ${e.problem}`)
    .join('\n');
  return new TrainingFailure(
    'bad-data',
    `${file}: ${bad.count} of ${bad.rowsSeen} rows are malformed (${(share * 100).toFixed(2)}% > maxBadRowFraction ${(maxFraction * 100).toFixed(2)}%); first problems:\n${examples}`,
  );
}

export { CATEGORICAL_FIELDS, DENSE_FIELDS };
