import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { CATEGORICAL_FIELDS, DENSE_FIELDS } from '../../contracts';
import { hashFieldValue } from '../hash';
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
 * Streaming reader of Criteo-format TSV: `label \t I1..I13 \t C1..C26`, empty = missing. The file is read through
 * a stream in chunks of rows, so a file bigger than memory can be scanned (scoring streams it end to end; training
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

/**
 * Reads a Criteo TSV as a stream of row chunks. Malformed rows are skipped, counted and reported (file + line +
 * what was expected); the bad-row threshold is enforced at the end, and early once enough rows were seen.
 */
export async function* readCriteoChunks(file: string, opts: CriteoReadOptions): AsyncGenerator<{ block: RowBlock; badRows: BadRowReport }> {
  assertSafePath(file, 'data file');
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    throw new TrainingFailure('bad-data', `data file ${file} does not exist or cannot be read`);
  }
  if (!stat.isFile()) throw new TrainingFailure('bad-data', `data file ${file} is not a regular file`);
  if (stat.size === 0) throw new TrainingFailure('bad-data', `data file ${file} is empty: expected Criteo TSV rows (label, I1..I13, C1..C26)`);

  const chunkRows = opts.chunkRows ?? 65_536;
  const bad: BadRowReport = { count: 0, rowsSeen: 0, examples: [] };
  let builder = new RowBlockBuilder(Math.min(chunkRows, 65_536));
  let good = 0;
  let lineNo = 0;
  const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
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
        // Fail early on files that are clearly not Criteo TSV instead of scanning gigabytes of garbage.
        if (bad.rowsSeen >= 1000 && bad.count / bad.rowsSeen > Math.max(opts.maxBadRowFraction, 0.5))
          throw badDataFailure(file, bad, opts.maxBadRowFraction);
        continue;
      }
      good++;
      if (builder.rows >= chunkRows) {
        yield { block: builder.build(), badRows: bad };
        builder = new RowBlockBuilder(Math.min(chunkRows, 65_536));
      }
      if (opts.maxRows !== undefined && good >= opts.maxRows) break;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  if (good === 0) {
    const why =
      bad.count > 0 ? `all ${bad.count} rows are malformed; first: line ${bad.examples[0].line}: ${bad.examples[0].problem}` : 'it holds no rows';
    throw new TrainingFailure('bad-data', `data file ${file} has no valid rows: ${why}`);
  }
  if (bad.count / bad.rowsSeen > opts.maxBadRowFraction) throw badDataFailure(file, bad, opts.maxBadRowFraction);
  if (builder.rows > 0) yield { block: builder.build(), badRows: bad };
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
