import * as fs from 'node:fs';
import { parse as parseCsv } from 'csv-parse';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { DEFAULT_MAX_VALUES, columnSpec, schemaLayout, timeOrderColumn, type DeclaredData, type SchemaLayout } from '../../contracts';
import { hashFieldValue } from '../hash';
import { BadRowFailure, TrainingFailure } from '../failure';
import { BAD_ROW_EXAMPLES, badDataFailure, statDataFile, type BadRowReport } from './criteo-reader';
import { MAX_NAMES_PER_FIELD, MISSING_CATEGORICAL, activeFields, emptyBlock, type RowBlock, type RowWidths, type ValueNames } from './rows';

/**
 * Reader of a team's own table with a declared schema (contracts/schema.ts): TSV or CSV with a header row, or Parquet.
 * Each row is laid onto the engine's fields (schemaLayout: as many as the table has, at least Criteo's 13 + 26)
 * exactly as the Criteo reader fills them — a categorical value of slot Ck is hashed with its feature number, the
 * table's dense width + (k − 1) (13 + (k − 1) unless the table has more dense columns), a real value hashing to 0 is
 * stored as 1 — so the rest of the engine cannot tell a declared table from a Criteo file. A multi-valued column hashes every value with its first
 * slot's field number (a bag of values: the same value lands on the same hash row whichever slot it sits in).
 *
 * readDeclaredData holds a table in memory; past the in-memory limit the loader streams it through the row cache
 * instead (readDeclaredChunks, TimeSplitRouter; ranking/data/load-data.ts). CSV and TSV are streamed through csv-parse; Parquet is read one row group at a time, declared
 * columns only. Malformed rows are skipped and counted as for Criteo (maxBadRowFraction, strict), every problem
 * naming the column and the row (the 1-based physical line for CSV/TSV, header = line 1; the 1-based row for Parquet).
 */

export type Split = 'train' | 'validation' | 'test';

/**
 * A table read into memory has more training rows than the in-memory limit: the loader catches it and streams the
 * table through the row cache instead.
 */
export class InMemoryLimitExceeded extends TrainingFailure {
  constructor(message: string) {
    super('resource', message);
  }
}

/**
 * Rows of a table read chunk by chunk (out of core), routed by their time: each chunk's rows before the validation (or
 * test) bound go on to training, capped at maxTrainRows (the earliest, as in memory); the validation and test rows are
 * kept here, in file order. Where the latest share of train by time validates (a time split without validationFrom,
 * or a table with a time column and no validation file), a first pass over the file's times finds where that share
 * begins (`latest`, see latestTrainCut) and this pass routes by it, so the rows are those the in-memory read takes.
 */
export class TimeSplitRouter {
  readonly validation: RowBlock[] = [];
  readonly test: RowBlock[] = [];
  trainRows = 0;
  /** Rows routed: none after a read that found a valid row cache (its rows were not read). */
  routed = 0;
  /** Rows before testFrom seen so far, in file order: the index latestCut's cut names. */
  private beforeTest = 0;

  constructor(
    private readonly bounds: TimeBounds,
    private readonly maxTrainRows?: number,
  ) {}

  /** Forgets what was routed: a file read again (a row cache rebuilt) is routed from its first row. */
  reset(): void {
    this.validation.length = 0;
    this.test.length = 0;
    this.trainRows = this.routed = this.beforeTest = 0;
  }

  /** The chunk's training rows; its validation and test rows are kept. */
  route(block: RowBlock, times: Float64Array): RowBlock {
    this.routed += block.rows;
    const where: Record<Split, number[]> = { train: [], validation: [], test: [] };
    for (let r = 0; r < block.rows; r++) {
      const split = this.splitOf(times[r]);
      if (split === 'train' && this.maxTrainRows !== undefined && this.trainRows + where.train.length >= this.maxTrainRows) continue;
      where[split].push(r);
    }
    if (where.validation.length) this.validation.push(takeRows(block, where.validation));
    if (where.test.length) this.test.push(takeRows(block, where.test));
    this.trainRows += where.train.length;
    return takeRows(block, where.train);
  }

  private splitOf(t: number): Split {
    const { testFrom, validationFrom, latest } = this.bounds;
    if (t >= testFrom) return 'test';
    if (validationFrom !== undefined) return t >= validationFrom ? 'validation' : 'train';
    const i = this.beforeTest++;
    if (Number.isNaN(t)) t = -Infinity; // no time: the earliest, as latestTrainCut counts it
    return latest && (t > latest.time || (t === latest.time && i >= latest.fromRow)) ? 'validation' : 'train';
  }
}

/** Where a table's rows go by time: test from `testFrom` (Infinity: a test file), validation by a bound or a cut. */
export interface TimeBounds {
  testFrom: number;
  validationFrom?: number;
  latest?: LatestCut;
}

/** A time split's bounds. */
export function splitBounds(split: NonNullable<DeclaredData['split']>): TimeBounds {
  return {
    testFrom: parseIsoBound(split.testFrom),
    ...(split.validationFrom === undefined ? {} : { validationFrom: parseIsoBound(split.validationFrom) }),
  };
}

/**
 * Where the latest `fraction` of a table's training rows begins, as latestRows cuts them (by time, equal times in file
 * order): every row later than `time`, and the rows at `time` from the `fromRow`-th training row (file order) on.
 * Found from the training rows' times alone (8 bytes a row), so a table too big for memory is cut as one held there.
 */
export interface LatestCut {
  time: number;
  fromRow: number;
}

export function latestCut(times: Float64Array, fraction: number): LatestCut {
  const cut = Math.floor(times.length * (1 - fraction));
  if (cut >= times.length) return { time: Infinity, fromRow: 0 };
  const sorted = Float64Array.from(times).sort();
  const time = sorted[cut];
  // Of the rows at `time`, the first (cut − rows earlier than it) stay in training, in file order.
  let earlier = cut;
  while (earlier > 0 && sorted[earlier - 1] === time) earlier--;
  let keep = cut - earlier;
  for (let r = 0; r < times.length; r++) {
    if (times[r] !== time) continue;
    if (keep === 0) return { time, fromRow: r };
    keep--;
  }
  return { time, fromRow: times.length };
}

/** Rows of a Parquet file, from its footer (nothing else is read); 0 when it can't be read (the read says why). */
export async function parquetRowCount(file: string): Promise<number> {
  const { parquetMetadataAsync } = await import('hyparquet');
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    return Number((await parquetMetadataAsync(fileBuffer(handle, size))).num_rows);
  } catch {
    return 0;
  } finally {
    await handle.close();
  }
}

export interface DeclaredSplits {
  train: RowBlock;
  validation: RowBlock;
  test: RowBlock;
  /** Each split's row times (RowTimes), when the table has an order column (ReadPlan.orderColumn). */
  times?: RowTimes;
  valueNames: ValueNames;
  active: { categorical: number[]; dense: number[] };
  reports: { split: Split; file: string; report: BadRowReport }[];
}

/**
 * When each row happened, in ms since the epoch, aligned with the rows of each split's block: the order column's
 * value, or (a row without one) the time of the nearest earlier row of its file that has one — a log's rows are
 * written in time order, so a gap keeps its place. A file with no time at all is NaN throughout.
 */
export interface RowTimes {
  column: string;
  train: Float64Array;
  validation: Float64Array;
  test: Float64Array;
}

/**
 * A declared table's rows, held and split the way the config says. `limit`: most rows read from train. Without a
 * validation file or split.validationFrom, the latest `validationFraction` of the training rows validate: the latest
 * by the order column when the table has one (ReadPlan.orderColumn), else the last by position.
 */
export async function readDeclaredData(config: DeclaredData, valueNames: ValueNames, limit: number): Promise<DeclaredSplits> {
  const plan = planOf(config);
  const base = { config, plan, valueNames, strict: !!config.strict, maxBadRowFraction: config.maxBadRowFraction };
  const withTime = plan.orderColumn >= 0;
  const reports: DeclaredSplits['reports'] = [];
  // A time split reads the whole file (its test and validation rows come after the training rows) and caps the
  // training rows once they are split off: capping the file would cut the later rows and leave no test.
  const maxRows = config.split ? undefined : config.maxTrainRows;
  const train = await readTable(config.train, { ...base, maxRows, limit, withTime });
  reports.push({ split: 'train', file: config.train, report: train.badRows });
  let trainBlock: RowBlock;
  let validation: RowBlock | undefined;
  let test: RowBlock;
  // Row indices into train.block of each split's rows (those cut from the training file), in file order.
  let trainRows: number[];
  let validationRows: number[] | undefined;
  let testRows: number[] | undefined;
  if (config.split) {
    const split = config.split;
    const testFrom = parseIsoBound(split.testFrom);
    const validationFrom = split.validationFrom === undefined ? undefined : parseIsoBound(split.validationFrom);
    const times = train.times!;
    const where: Record<Split, number[]> = { train: [], validation: [], test: [] };
    for (let r = 0; r < train.block.rows; r++) {
      const t = times[r];
      where[t >= testFrom ? 'test' : validationFrom !== undefined && t >= validationFrom ? 'validation' : 'train'].push(r);
    }
    const none = (what: string) =>
      new TrainingFailure('bad-data', `${config.train}: no rows have ${split.by} ${what} (split ${JSON.stringify(split)}); check the dates`);
    if (!where.test.length) throw none(`≥ testFrom ${split.testFrom}`);
    if (!where.train.length) throw none(`before ${split.validationFrom ? `validationFrom ${split.validationFrom}` : `testFrom ${split.testFrom}`}`);
    if (validationFrom !== undefined && !where.validation.length)
      throw none(`in [validationFrom ${split.validationFrom}, testFrom ${split.testFrom})`);
    testRows = where.test;
    test = takeRows(train.block, where.test);
    if (validationFrom !== undefined) {
      validationRows = where.validation;
      validation = takeRows(train.block, where.validation);
    } else if (!config.validation) {
      const cut = latestRows(where.train, times, config.validationFraction);
      validationRows = cut.latest;
      validation = takeRows(train.block, cut.latest);
      where.train = cut.earlier;
    }
    // maxTrainRows (a probe's rows, or the user's cap) keeps the earliest training rows, as it does on a file.
    trainRows = config.maxTrainRows !== undefined ? where.train.slice(0, config.maxTrainRows) : where.train;
    trainBlock = takeRows(train.block, trainRows);
  } else {
    trainBlock = train.block;
    trainRows = range(0, trainBlock.rows);
    if (!config.validation) {
      if (train.times && train.times.some((t) => !Number.isNaN(t))) {
        // The table has a time column: the latest rows by it validate, wherever they sit in the file.
        const cut = latestRows(trainRows, train.times, config.validationFraction);
        validationRows = cut.latest;
        trainRows = cut.earlier;
        validation = takeRows(train.block, cut.latest);
        trainBlock = takeRows(train.block, cut.earlier);
      } else {
        // No time: the last validationFraction of train by position, as for Criteo files (logs are written in time order).
        const cut = Math.floor(trainBlock.rows * (1 - config.validationFraction));
        validationRows = range(cut, trainBlock.rows);
        trainRows = range(0, cut);
        validation = takeRows(trainBlock, validationRows);
        trainBlock = takeRows(trainBlock, trainRows);
      }
    }
  }
  let validationTimes: Float64Array | undefined;
  if (!validation) {
    const file = config.validation!;
    const v = await readTable(file, { ...base, withTime });
    validation = v.block;
    validationTimes = v.times;
    reports.push({ split: 'validation', file, report: v.badRows });
  }
  let testTimes: Float64Array | undefined;
  if (!config.split) {
    const file = config.test!;
    const t = await readTable(file, { ...base, withTime });
    test = t.block;
    testTimes = t.times;
    reports.push({ split: 'test', file, report: t.badRows });
  }
  const times: RowTimes | undefined = train.times
    ? {
        column: plan.columns[plan.orderColumn].name,
        train: pickTimes(train.times, trainRows),
        validation: validationTimes ?? pickTimes(train.times, validationRows ?? []),
        test: testTimes ?? pickTimes(train.times, testRows ?? []),
      }
    : undefined;
  return { train: trainBlock, validation, test: test!, ...(times ? { times } : {}), valueNames, active: activeFields(trainBlock), reports };
}

/**
 * `rows` (file order) cut into the earlier (1 − fraction) and the latest `fraction` of them by time (stable: equal
 * times keep file order); both parts keep file order, so the training rows' order is the file's whatever the cut.
 */
export function latestRows(rows: readonly number[], times: Float64Array, fraction: number): { earlier: number[]; latest: number[] } {
  const order = [...rows].sort((a, b) => times[a] - times[b] || a - b);
  const cut = Math.floor(order.length * (1 - fraction));
  let size = 0;
  for (const r of rows) size = Math.max(size, r + 1);
  const late = new Uint8Array(size);
  for (let i = cut; i < order.length; i++) late[order[i]] = 1;
  return { earlier: rows.filter((r) => !late[r]), latest: rows.filter((r) => late[r]) };
}

function pickTimes(times: Float64Array, rows: readonly number[]): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = times[rows[i]];
  return out;
}

/** A row without a time takes the nearest earlier row's (leading ones the first known time); none known: all NaN. */
function fillTimeGaps(times: Float64Array): Float64Array {
  let first = NaN;
  for (const t of times)
    if (!Number.isNaN(t)) {
      first = t;
      break;
    }
  if (Number.isNaN(first)) return times;
  let last = first;
  for (let i = 0; i < times.length; i++) {
    if (Number.isNaN(times[i])) times[i] = last;
    else last = times[i];
  }
  return times;
}

// ---------------------------------------------------------------------------------------------------------------
// The plan: which columns are read, and what each one fills.

type Cell = unknown;

interface ColumnPlan {
  name: string;
  role: 'label' | 'weight' | 'dense' | 'categorical' | 'multiCategorical' | 'timestamp';
  /** dense: its I slot (0-based); categorical / multiCategorical: its first C slot (0-based). */
  slot: number;
  /** categorical / multiCategorical: the field number its values are hashed with (dense width + first C slot). */
  field: number;
  separator: string;
  maxValues: number;
}

export interface ReadPlan {
  layout: SchemaLayout;
  /** The columns read, in a fixed order (the layout's: sorted by name). */
  columns: ColumnPlan[];
  /** Index into `columns` of the split column (a time split), or -1. */
  splitColumn: number;
  /** Index into `columns` of the column that orders rows in time (contracts/drift.ts timeOrderColumn), or -1. */
  orderColumn: number;
}

export function planOf(config: DeclaredData): ReadPlan {
  const layout = schemaLayout(config.schema);
  const columns: ColumnPlan[] = [];
  for (const name of Object.keys(config.schema.columns).sort()) {
    const spec = columnSpec(config.schema.columns[name]);
    if (spec.role === 'ignore') continue;
    let slot = -1;
    if (spec.role === 'dense') slot = layout.dense.findIndex((s) => s.column === name);
    if (spec.role === 'categorical' || spec.role === 'multiCategorical') slot = layout.categorical.findIndex((s) => s.column === name);
    columns.push({
      name,
      role: spec.role,
      slot,
      // The hash seed's field number: the feature number of the column's first slot (13 + slot in a Criteo-width table).
      field: layout.widths.dense + slot,
      separator: spec.separator ?? ',',
      maxValues: spec.role === 'multiCategorical' ? (spec.maxValues ?? DEFAULT_MAX_VALUES) : 1,
    });
  }
  const splitColumn = config.split ? columns.findIndex((c) => c.name === config.split!.by) : -1;
  const order = timeOrderColumn(config);
  const orderColumn = order === undefined ? -1 : columns.findIndex((c) => c.name === order);
  return { layout, columns, splitColumn, orderColumn };
}

// ---------------------------------------------------------------------------------------------------------------
// Rows: a growable block (with weights and row times), filled one parsed row at a time.

class Rows {
  rows = 0;
  labels = new Uint8Array(1024);
  dense: Float32Array;
  categorical: Uint32Array;
  weights: Float32Array | null;
  times: Float64Array | null;

  constructor(
    private readonly widths: RowWidths,
    withWeights: boolean,
    withTimes: boolean,
  ) {
    this.dense = new Float32Array(1024 * widths.dense);
    this.categorical = new Uint32Array(1024 * widths.categorical);
    this.weights = withWeights ? new Float32Array(1024) : null;
    this.times = withTimes ? new Float64Array(1024) : null;
  }

  append(row: ParsedRow): void {
    if (this.rows === this.labels.length) this.grow();
    const r = this.rows++;
    this.labels[r] = row.label;
    this.dense.set(row.dense, r * this.widths.dense);
    this.categorical.set(row.categorical, r * this.widths.categorical);
    if (this.weights) this.weights[r] = row.weight;
    if (this.times) this.times[r] = row.time;
  }

  build(): { block: RowBlock; times?: Float64Array } {
    const n = this.rows;
    const block: RowBlock = {
      rows: n,
      denseWidth: this.widths.dense,
      categoricalWidth: this.widths.categorical,
      labels: this.labels.slice(0, n),
      dense: this.dense.slice(0, n * this.widths.dense),
      categorical: this.categorical.slice(0, n * this.widths.categorical),
      ...(this.weights ? { weights: this.weights.slice(0, n) } : {}),
    };
    return this.times ? { block, times: this.times.slice(0, n) } : { block };
  }

  private grow(): void {
    const cap = this.labels.length * 2;
    const grown = <T extends Uint8Array | Float32Array | Uint32Array | Float64Array>(a: T, per: number, make: new (n: number) => T): T => {
      const b = new make(cap * per);
      b.set(a as never);
      return b;
    };
    this.labels = grown(this.labels, 1, Uint8Array);
    this.dense = grown(this.dense, this.widths.dense, Float32Array);
    this.categorical = grown(this.categorical, this.widths.categorical, Uint32Array);
    if (this.weights) this.weights = grown(this.weights, 1, Float32Array);
    if (this.times) this.times = grown(this.times, 1, Float64Array);
  }
}

/** One row being parsed: filled cell by cell, appended only when every cell is good. */
interface ParsedRow {
  label: number;
  weight: number;
  time: number;
  dense: Float32Array;
  categorical: Uint32Array;
  /** Value names met in this row: slot, hash, value (kept when the row is). */
  names: [number, number, string][];
}

function newParsedRow(widths: RowWidths): ParsedRow {
  return { label: 0, weight: 1, time: NaN, dense: new Float32Array(widths.dense), categorical: new Uint32Array(widths.categorical), names: [] };
}

/** Parses the row's cells (in plan.columns order) into `row`; returns the problem of the first bad cell, or null. */
function parseRow(plan: ReadPlan, cells: Cell[], row: ParsedRow): string | null {
  row.dense.fill(NaN);
  row.categorical.fill(MISSING_CATEGORICAL);
  row.names.length = 0;
  row.weight = 1;
  row.time = NaN;
  for (let i = 0; i < plan.columns.length; i++) {
    const c = plan.columns[i];
    const v = cells[i];
    switch (c.role) {
      case 'label': {
        const l = labelOf(v);
        if (l === null) return `column ${JSON.stringify(c.name)}: expected a label 0 or 1 (or true / false), got ${show(v)}`;
        row.label = l;
        break;
      }
      case 'weight': {
        const w = numberOf(v);
        if (w === null || Number.isNaN(w) || w < 0) return `column ${JSON.stringify(c.name)}: expected a weight (a number ≥ 0), got ${show(v)}`;
        row.weight = w;
        break;
      }
      case 'dense': {
        const x = numberOf(v);
        if (x === null) return `column ${JSON.stringify(c.name)}: expected a number, got ${show(v)}`;
        row.dense[c.slot] = x; // NaN when missing
        break;
      }
      case 'timestamp': {
        if (isMissing(v)) {
          if (i === plan.splitColumn) return `column ${JSON.stringify(c.name)}: the split column is empty (expected a time)`;
          break;
        }
        const t = timeOf(v);
        if (t === null) return `column ${JSON.stringify(c.name)}: expected a time (ISO 8601, or epoch seconds / milliseconds), got ${show(v)}`;
        if (i === plan.orderColumn) row.time = t;
        break;
      }
      case 'categorical': {
        if (isMissing(v)) break;
        setCategorical(row, c.slot, c.field, stringOf(v));
        break;
      }
      case 'multiCategorical': {
        const values = valuesOf(v, c.separator, c.maxValues);
        for (let k = 0; k < values.length; k++) setCategorical(row, c.slot + k, c.field, values[k]);
        break;
      }
    }
  }
  return null;
}

function setCategorical(row: ParsedRow, slot: number, field: number, value: string): void {
  let h = hashFieldValue(field, value);
  if (h === MISSING_CATEGORICAL) h = 1;
  row.categorical[slot] = h;
  row.names.push([slot, h, value]);
}

function isMissing(v: Cell): boolean {
  return v === null || v === undefined || v === '' || (typeof v === 'string' && v.trim() === '');
}

function labelOf(v: Cell): 0 | 1 | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return v === 0n ? 0 : v === 1n ? 1 : null;
  if (typeof v === 'number') return v === 0 ? 0 : v === 1 ? 1 : null;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true') return 1;
    if (s === 'false') return 0;
    if (s === '') return null;
    const n = Number(s);
    return n === 0 ? 0 : n === 1 ? 1 : null;
  }
  return null;
}

/** A number cell: NaN when missing; null when it is not a number. Booleans read as 0 / 1. */
function numberOf(v: Cell): number | null {
  if (isMissing(v)) return NaN;
  if (typeof v === 'number') return Number.isNaN(v) || Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

const ISO = /^\d{4}-\d{2}-\d{2}/;
const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Milliseconds since the epoch, or null: ISO 8601 (without an offset: UTC), epoch seconds (< 1e11) or ms, a Date. */
export function timeOf(v: Cell): number | null {
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.getTime() : null;
  if (typeof v === 'bigint') return epochMs(Number(v));
  if (typeof v === 'number') return Number.isFinite(v) ? epochMs(v) : null;
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (NUMERIC.test(s)) return epochMs(Number(s));
  return ISO.test(s) ? parseIsoUtc(s) : null;
}

function epochMs(n: number): number {
  return Math.abs(n) < 1e11 ? n * 1000 : n;
}

/** An ISO 8601 date or date-time; one without a time zone is read as UTC (not the worker's local time). */
function parseIsoUtc(s: string): number | null {
  let iso = s.replace(/^(\d{4}-\d{2}-\d{2}) (\d)/, '$1T$2');
  if (/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(iso)) iso += 'Z';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

function parseIsoBound(s: string): number {
  const t = parseIsoUtc(s);
  if (t === null) throw new TrainingFailure('bad-data', `split: ${JSON.stringify(s)} is not an ISO 8601 date`);
  return t;
}

function stringOf(v: Cell): string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return String(v);
}

/** A multi-valued cell's kept values: split (a string) or its elements (a list), trimmed, distinct, non-empty, in order. */
function valuesOf(v: Cell, separator: string, maxValues: number): string[] {
  if (isMissing(v)) return [];
  const parts = Array.isArray(v) ? v.filter((x) => x !== null && x !== undefined).map(stringOf) : stringOf(v).split(separator);
  const out: string[] = [];
  for (const p of parts) {
    const s = p.trim();
    if (s && !out.includes(s)) out.push(s);
    if (out.length === maxValues) break;
  }
  return out;
}

function show(v: Cell): string {
  if (v === null || v === undefined || v === '') return 'empty';
  const s = typeof v === 'string' ? v : stringOf(v);
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s);
}

// ---------------------------------------------------------------------------------------------------------------
// Files: one table read into one block, bad rows counted.

interface TableOptions {
  /**
   * Streamed reading: every `chunkRows` good rows (and the rest at the end) go to `onChunk` as a block of their own
   * instead of growing one block, so a table of any size is read in flat memory.
   */
  onChunk?: (chunk: { block: RowBlock; times?: Float64Array }) => Promise<void>;
  chunkRows?: number;
  config: DeclaredData;
  plan: ReadPlan;
  valueNames: ValueNames;
  strict: boolean;
  maxBadRowFraction: number;
  /** Stop after this many good rows. */
  maxRows?: number;
  /** Most good rows held: past it the read fails (declared tables are held in memory). */
  limit?: number;
  /** Keep each row's time (the order column's): a time split reads its test rows from train; validation cuts the latest. */
  withTime: boolean;
}

/** Counts rows, keeps good ones, enforces strict / the bad-row share / the row limits. */
class TableSink {
  readonly bad: BadRowReport = { count: 0, rowsSeen: 0, examples: [] };
  rows: Rows;
  private readonly row: ParsedRow;
  good = 0;

  constructor(
    private readonly file: string,
    private readonly opts: TableOptions,
  ) {
    this.row = newParsedRow(opts.plan.layout.widths);
    this.rows = new Rows(opts.plan.layout.widths, opts.plan.layout.weight !== undefined, opts.withTime);
  }

  /** Takes one row (its cells in plan order, or a problem found before its cells); returns false when reading should stop. */
  take(line: number, cells: Cell[] | string): boolean {
    this.bad.rowsSeen++;
    const problem = typeof cells === 'string' ? cells : parseRow(this.opts.plan, cells, this.row);
    if (problem) {
      this.badRow(line, problem);
      return true;
    }
    this.rows.append(this.row);
    const names = this.opts.valueNames;
    for (const [slot, h, value] of this.row.names) {
      const m = names[slot];
      if (m.size < MAX_NAMES_PER_FIELD && !m.has(h)) m.set(h, value);
    }
    this.good++;
    if (this.opts.limit !== undefined && this.good > this.opts.limit)
      throw new InMemoryLimitExceeded(
        `${this.file}: more than ${this.opts.limit} rows, over the in-memory limit of ${this.opts.limit} training rows (the loader streams it through the row cache instead)`,
      );
    return this.opts.maxRows === undefined || this.good < this.opts.maxRows;
  }

  badRow(line: number, problem: string): void {
    if (this.opts.strict) throw new BadRowFailure(this.file, line, problem);
    this.bad.count++;
    if (this.bad.examples.length < BAD_ROW_EXAMPLES) this.bad.examples.push({ file: this.file, line, problem });
    // Fail early on files that are clearly not the declared table instead of reading all of it.
    if (this.bad.rowsSeen >= 1000 && this.bad.count / this.bad.rowsSeen > Math.max(this.opts.maxBadRowFraction, 0.5))
      throw badDataFailure(this.file, this.bad, this.opts.maxBadRowFraction);
  }

  /** A streamed read's chunk is full: the reader hands it on (awaited) before reading on. */
  get chunkFull(): boolean {
    return this.opts.onChunk !== undefined && this.rows.rows >= (this.opts.chunkRows ?? 65_536);
  }

  /** Hands the rows read so far to onChunk and starts a new chunk. */
  async flush(): Promise<void> {
    if (!this.opts.onChunk || this.rows.rows === 0) return;
    const built = this.rows.build();
    this.rows = new Rows(this.opts.plan.layout.widths, this.opts.plan.layout.weight !== undefined, this.opts.withTime);
    await this.opts.onChunk(built);
  }

  finish(): { block: RowBlock; times?: Float64Array; badRows: BadRowReport } {
    const bad = this.bad;
    if (this.good === 0) {
      const why =
        bad.count > 0 ? `all ${bad.count} rows are malformed; first: line ${bad.examples[0].line}: ${bad.examples[0].problem}` : 'it holds no rows';
      throw new TrainingFailure('bad-data', `data file ${this.file} has no valid rows: ${why}`);
    }
    if (bad.count / bad.rowsSeen > this.opts.maxBadRowFraction) throw badDataFailure(this.file, bad, this.opts.maxBadRowFraction);
    // Streamed: the rows went (and the rest go) to onChunk; nothing is held here.
    if (this.opts.onChunk) return { block: emptyBlock(0, this.opts.plan.layout.widths), badRows: bad };
    const built = this.rows.build();
    if (built.times) fillTimeGaps(built.times);
    return { ...built, badRows: bad };
  }
}

async function readTable(file: string, opts: TableOptions): Promise<{ block: RowBlock; times?: Float64Array; badRows: BadRowReport }> {
  const stat = await statDataFile(file, describeFormat(opts.config.format));
  const sink = new TableSink(file, opts);
  if (opts.config.format === 'parquet') await readParquet(file, stat.size, opts.plan, sink);
  else await readDelimited(file, opts.config.format, opts.plan, sink);
  const done = sink.finish();
  await sink.flush();
  return done;
}

/**
 * Where the latest validationFraction of a table's training rows by time begins (a time split without validationFrom,
 * or a table with a time column and no validation file: see readDeclaredData). One pass over the training file keeps
 * only the times of the rows before testFrom (8 bytes a row), so the routing pass that follows cuts what the in-memory
 * read would. A row without a time counts as the earliest.
 */
export async function latestTrainCut(config: DeclaredData): Promise<LatestCut> {
  const testFrom = config.split ? splitBounds(config.split).testFrom : Infinity;
  let times = new Float64Array(1 << 16);
  let n = 0;
  const onChunk = async ({ times: chunk }: { times?: Float64Array }) => {
    for (const t of chunk!) {
      if (t >= testFrom) continue;
      if (n === times.length) {
        const grown = new Float64Array(times.length * 2);
        grown.set(times);
        times = grown;
      }
      times[n++] = Number.isNaN(t) ? -Infinity : t;
    }
  };
  // A time split caps its training rows after routing; a table without one caps the file (as readDeclaredData does).
  await readDeclaredChunks(config.train, config, onChunk, config.split ? {} : { maxRows: config.maxTrainRows });
  return latestCut(times.subarray(0, n), config.validationFraction);
}

/**
 * A declared table's file read chunk by chunk (flat memory), with the table's own layout: what scoring a next day's
 * file and the out-of-core row cache read. `features only` plans read no label, weight or time column (a file to
 * score need not have them); bad rows follow `config.strict` and `maxBadRowFraction` as for a whole read.
 */
export async function readDeclaredChunks(
  file: string,
  config: DeclaredData,
  onChunk: (chunk: { block: RowBlock; times?: Float64Array }) => Promise<void>,
  opts: { chunkRows?: number; valueNames?: ValueNames; featuresOnly?: boolean; maxRows?: number } = {},
): Promise<BadRowReport> {
  const full = planOf(config);
  const plan: ReadPlan = opts.featuresOnly
    ? { ...full, columns: full.columns.filter((c) => c.slot >= 0), splitColumn: -1, orderColumn: -1, layout: { ...full.layout, weight: undefined } }
    : full;
  const valueNames = opts.valueNames ?? plan.layout.categorical.map(() => new Map<number, string>());
  while (valueNames.length < plan.layout.widths.categorical) valueNames.push(new Map());
  const withTime = plan.orderColumn >= 0;
  const { badRows } = await readTable(file, {
    config,
    plan,
    valueNames,
    strict: !!config.strict,
    maxBadRowFraction: config.maxBadRowFraction,
    withTime,
    maxRows: opts.maxRows,
    onChunk,
    chunkRows: opts.chunkRows,
  });
  return badRows;
}

function describeFormat(format: DeclaredData['format']): string {
  return format === 'parquet' ? 'a Parquet file' : `${format === 'csv' ? 'CSV' : 'TSV'} with a header row naming its columns`;
}

function missingColumn(file: string, column: string, has: string[]): TrainingFailure {
  const shown = has.length > 60 ? [...has.slice(0, 60), `… ${has.length - 60} more`] : has;
  return new TrainingFailure(
    'bad-data',
    `data file ${file}: column ${JSON.stringify(column)} declared in the schema is not in the file; the file's columns are: ${shown.map((c) => JSON.stringify(c)).join(', ')}`,
  );
}

/** CSV (quoted fields) or TSV (tab-separated, no quoting), header first: streamed through csv-parse. */
async function readDelimited(file: string, format: 'csv' | 'tsv', plan: ReadPlan, sink: TableSink): Promise<void> {
  const csv = format === 'csv';
  const parser = fs.createReadStream(file).pipe(
    parseCsv({
      delimiter: csv ? ',' : '\t',
      quote: csv ? '"' : false,
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
    }),
  );
  // A record csv-parse cannot parse (a stray quote, ...) is skipped by it and reported here, as a bad row.
  const skipped: { line: number; problem: string }[] = [];
  parser.on('skip', (e: Error & { lines?: number }) => skipped.push({ line: e.lines ?? 0, problem: e.message.slice(0, 300) }));
  let index: number[] | null = null;
  let width = 0;
  const cells: Cell[] = new Array(plan.columns.length);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      for (const s of skipped.splice(0)) {
        sink.bad.rowsSeen++;
        sink.badRow(Math.max(1, s.line), `unreadable ${format.toUpperCase()} record: ${s.problem}`);
      }
      // The record's first physical line (a quoted field may span lines).
      let line = info.lines;
      if (csv) for (const f of record) for (let p = f.indexOf('\n'); p >= 0; p = f.indexOf('\n', p + 1)) line--;
      if (!index) {
        const header = record.map((h) => h.trim());
        index = plan.columns.map((c) => {
          const i = header.indexOf(c.name);
          if (i < 0) throw missingColumn(file, c.name, header);
          return i;
        });
        width = header.length;
        continue;
      }
      if (record.length !== width) {
        if (!sink.take(line, `expected ${width} ${csv ? 'comma' : 'tab'}-separated columns (as in the header), got ${record.length}`)) break;
        continue;
      }
      for (let i = 0; i < index.length; i++) cells[i] = record[index[i]];
      if (!sink.take(line, cells)) break;
      if (sink.chunkFull) await sink.flush();
    }
    for (const s of skipped.splice(0)) {
      sink.bad.rowsSeen++;
      sink.badRow(Math.max(1, s.line), `unreadable ${format.toUpperCase()} record: ${s.problem}`);
    }
  } finally {
    parser.destroy();
  }
  if (!index) throw new TrainingFailure('bad-data', `data file ${file} has no header row: expected ${describeFormat(format)}`);
}

/** A local file as hyparquet's AsyncBuffer (reads byte ranges; nothing held but what a row group needs). */
function fileBuffer(handle: fs.promises.FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end: number = size): Promise<ArrayBuffer> {
      const buf = new Uint8Array(Math.max(0, end - start));
      let at = 0;
      while (at < buf.length) {
        const { bytesRead } = await handle.read(buf, at, buf.length - at, start + at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return buf.buffer;
    },
  };
}

/** Parquet: the declared columns, one row group at a time. */
async function readParquet(file: string, size: number, plan: ReadPlan, sink: TableSink): Promise<void> {
  const { parquetMetadataAsync, parquetRead, parquetSchema } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  const handle = await fs.promises.open(file, 'r');
  try {
    const buffer = fileBuffer(handle, size);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (e) {
      throw new TrainingFailure('bad-data', `data file ${file} is not a readable Parquet file: ${(e as Error).message}`);
    }
    const has = parquetSchema(metadata).children.map((c) => c.element.name);
    for (const c of plan.columns) if (!has.includes(c.name)) throw missingColumn(file, c.name, has);
    const names = plan.columns.map((c) => c.name);
    const cells: Cell[] = new Array(names.length);
    let start = 0;
    for (const group of metadata.row_groups) {
      const rows = Number(group.num_rows);
      let groupRows: Record<string, unknown>[] = [];
      await parquetRead({
        file: buffer,
        metadata,
        columns: names,
        rowStart: start,
        rowEnd: start + rows,
        rowFormat: 'object',
        compressors,
        onComplete: (r) => {
          groupRows = r;
        },
      });
      for (let r = 0; r < groupRows.length; r++) {
        for (let i = 0; i < names.length; i++) cells[i] = groupRows[r][names[i]];
        if (!sink.take(start + r + 1, cells)) return;
        if (sink.chunkFull) await sink.flush();
      }
      start += rows;
    }
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

/** The given rows of a block, in the given order, as a new block. */
export function takeRows(block: RowBlock, rows: readonly number[]): RowBlock {
  const n = rows.length;
  const { denseWidth: D, categoricalWidth: C } = block;
  const out = emptyBlock(n, { dense: D, categorical: C }, !!block.weights);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    out.labels[i] = block.labels[r];
    out.dense.set(block.dense.subarray(r * D, (r + 1) * D), i * D);
    out.categorical.set(block.categorical.subarray(r * C, (r + 1) * C), i * C);
    if (out.weights) out.weights[i] = block.weights![r];
  }
  return out;
}
