/**
 * The textbook FTRL-Proximal click model (McMahan et al. 2013, Algorithm 1), one pass over a Criteo TSV: 2^22 hashed
 * features (each categorical value hashed with its field, each dense count bucketed by ⌊log2(1+x)⌋ and hashed with
 * its field, plus a bias), α = 0.05, β = 1, L1 = 0.5, L2 = 1.
 *
 * It is the speed peer users compare Rankwright's `lr` with, so it is written the way a careful author writes it:
 * the file is read as bytes in large chunks and each field is hashed straight from its bytes (FNV-1a, the same
 * hash of the same "C7:value" text a string version computes, so the features are those of the plain version);
 * weights live in typed arrays, and a row allocates nothing.
 *
 * With `--schema`, it reads a declared CSV table instead (a header, then comma-separated cells, unquoted): each
 * column by its role in the schema — a categorical value hashed as "name:value", a dense value by the same log2
 * bucket as a Criteo count, each value of a list ("|" or the schema's separator) its own "name:value" feature, every
 * value of the list (the recipe has no cap), an empty list the column's missing feature; columns the schema does not
 * read are skipped.
 *
 *   npx tsx bench/peers/textbook-ftrl.ts [--schema SCHEMA.json] TRAIN TEST PREDICTIONS.txt  (one probability per test row)
 */
import * as fs from 'node:fs';
import type { DeclaredSchema } from '../../contracts';

const [D, ALPHA, BETA, L1, L2] = [2 ** 22, 0.05, 1, 0.5, 1];
const DENSE = 13;
const FIELDS = DENSE + 26; // I1..I13, then C1..C26
const [TAB, NEWLINE, CR, COMMA, QUOTE, DOT, MINUS] = [9, 10, 13, 44, 34, 46, 45];
const FNV_PRIME = 0x01000193;
/** Most features a declared row may have (its columns plus its lists' values). */
const MAX_FEATURES = 1 << 12;

const z = new Float64Array(D);
const n = new Float64Array(D);
/** The current row's feature indices (x[0] = 0 is the bias), their weights and count, reused by every row. */
const x = new Int32Array(MAX_FEATURES);
const w = new Float64Array(MAX_FEATURES);
let features = FIELDS + 1;

/** FNV-1a continued from state `h` over the characters of `s` (ASCII: the same as over its bytes). */
function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}
/** Each feature column's hash state after its "name:" prefix ("I1:", "C1:", or a declared column's name). */
const prefixes = (names: string[]) => Int32Array.from(names, (name) => fnv(0x811c9dc5, `${name}:`));
/** 64 log2 buckets per column hold every value below 2^64; each bucket's feature ("I3:5") is hashed once up front. */
const BUCKETS = 64;
const bucketFeatures = (prefix: Int32Array) =>
  Int32Array.from({ length: prefix.length * BUCKETS }, (_, k) => fnv(prefix[k >> 6], String(k & 63)) & (D - 1));
const CRITEO_NAMES = Array.from({ length: FIELDS }, (_, f) => (f < DENSE ? `I${f + 1}` : `C${f - DENSE + 1}`));
/** The file's columns: Criteo's fields, or (declared mode) the header's, replaced per file. */
let PREFIX = prefixes(CRITEO_NAMES);
let DENSE_INDEX = bucketFeatures(PREFIX);

/** The feature of dense column `f` whose text is buf[start, end): empty = the column's "missing" feature. */
function denseIndex(f: number, buf: Buffer, start: number, end: number): number {
  if (start >= end) return PREFIX[f] & (D - 1);
  const negative = buf[start] === MINUS;
  let v = 0;
  let digits = 0;
  let i = negative ? start + 1 : start;
  for (; i < end && digits <= 9; i++, digits++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  // A fraction leaves the bucket of the integer part (1 + x reaches 2^k exactly when 1 + ⌊x⌋ does, x ≥ 0).
  if (i < end && buf[i] === DOT) for (i++; i < end && buf[i] >= 48 && buf[i] <= 57; i++);
  // Up to 9 digits (and a fraction): ⌊log2(1+v)⌋ of an integer below 2^31 is its highest set bit, exactly; a negative
  // value is bucket 0. Anything else goes through Number().
  if (i === end && digits > 0 && digits <= 9) return DENSE_INDEX[(f << 6) + (negative ? 0 : 31 - Math.clz32(1 + v))];
  const bucket = Math.floor(Math.log2(1 + Math.max(0, Number(buf.toString('latin1', start, end)))));
  return bucket >= 0 && bucket < BUCKETS ? DENSE_INDEX[(f << 6) + bucket] : fnv(PREFIX[f], String(bucket)) & (D - 1);
}

/** Fills x from the line buf[start, end) and returns its label; missing trailing fields are empty. */
function parseRow(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && buf[i] !== TAB) i++;
  const label = i - start === 1 && (buf[start] === 48 || buf[start] === 49) ? buf[start] - 48 : Number(buf.toString('latin1', start, i));
  for (let f = 0; f < FIELDS; f++) {
    const from = Math.min(i + 1, end);
    i = from;
    if (f < DENSE) {
      while (i < end && buf[i] !== TAB) i++;
      x[f + 1] = denseIndex(f, buf, from, i);
    } else {
      let h = PREFIX[f];
      for (let b = buf[i]; i < end && b !== TAB; b = buf[++i]) h = Math.imul(h ^ b, FNV_PRIME);
      x[f + 1] = h & (D - 1);
    }
  }
  features = FIELDS + 1;
  return label;
}

// Declared mode: what each cell of a row is, from the schema and the file's header.
const [SKIP, LABEL, DENSE_CELL, CATEGORICAL_CELL, LIST_CELL] = [0, 1, 2, 3, 4];
let cellRole = new Uint8Array(0);
/** Per cell: its column's index into PREFIX / DENSE_INDEX (feature columns only). */
let cellColumn = new Int32Array(0);
let cellSeparator = new Uint8Array(0);

/** Sets the cells' roles from the header line buf[start, end) and the schema. */
function readHeader(schema: DeclaredSchema, buf: Buffer, start: number, end: number): void {
  const names = buf.toString('utf8', start, end).split(',');
  const roleOf = (name: string) => {
    const spec = schema.columns[name];
    return typeof spec === 'string' ? { role: spec } : spec;
  };
  for (const name of Object.keys(schema.columns))
    if (roleOf(name).role !== 'ignore' && !names.includes(name))
      throw new Error(`no column ${JSON.stringify(name)} in the header (${names.join(', ')})`);
  const roles: Record<string, number> = { label: LABEL, dense: DENSE_CELL, categorical: CATEGORICAL_CELL, multiCategorical: LIST_CELL };
  cellRole = Uint8Array.from(names, (name) => (schema.columns[name] ? (roles[roleOf(name).role] ?? SKIP) : SKIP));
  const featureNames = names.filter((_, c) => cellRole[c] >= DENSE_CELL);
  cellColumn = Int32Array.from(names, (name) => featureNames.indexOf(name));
  cellSeparator = Uint8Array.from(names, (name) => (roleOf(name)?.separator ?? ',').charCodeAt(0));
  PREFIX = prefixes(featureNames);
  DENSE_INDEX = bucketFeatures(PREFIX);
}

/** Fills x from the CSV line buf[start, end) by the header's roles and returns its label. */
function parseDeclaredRow(buf: Buffer, start: number, end: number): number {
  let label = 0;
  let k = 1;
  let i = start;
  for (let c = 0; c < cellRole.length; c++, i++) {
    const from = Math.min(i, end);
    if (buf[from] === QUOTE && from < end) throw new Error('a quoted CSV cell: this script reads plain cells only');
    const role = cellRole[c];
    if (role === CATEGORICAL_CELL) {
      let h = PREFIX[cellColumn[c]];
      for (let b = buf[i]; i < end && b !== COMMA; b = buf[++i]) h = Math.imul(h ^ b, FNV_PRIME);
      x[k++] = h & (D - 1);
    } else if (role === LIST_CELL) {
      const prefix = PREFIX[cellColumn[c]];
      const separator = cellSeparator[c];
      const first = k;
      let h = prefix;
      let empty = true;
      for (; ; i++) {
        const b = i < end ? buf[i] : COMMA;
        if (b === COMMA || b === separator) {
          if (!empty) {
            if (k === MAX_FEATURES) throw new Error(`a row with over ${MAX_FEATURES} features`);
            x[k++] = h & (D - 1);
          }
          if (b === COMMA) break;
          h = prefix;
          empty = true;
        } else {
          h = Math.imul(h ^ b, FNV_PRIME);
          empty = false;
        }
      }
      if (k === first) x[k++] = prefix & (D - 1); // an empty list: the column's missing feature
    } else {
      while (i < end && buf[i] !== COMMA) i++;
      if (role === DENSE_CELL) x[k++] = denseIndex(cellColumn[c], buf, from, i);
      else if (role === LABEL)
        label = i - from === 1 && (buf[from] === 48 || buf[from] === 49) ? buf[from] - 48 : Number(buf.toString('latin1', from, i));
    }
  }
  features = k;
  return label;
}

/** The row parser for a file: Criteo's layout, or a declared CSV whose first line (its header) sets the roles. */
function rowReader(schema: DeclaredSchema | undefined): (buf: Buffer, start: number, end: number) => number | null {
  if (!schema) return parseRow;
  let header = true;
  return (buf, start, end) => {
    if (!header) return parseDeclaredRow(buf, start, end);
    readHeader(schema, buf, start, end);
    header = false;
    return null;
  };
}

/** p(click) of the row in x; leaves each feature's weight in w for the update. */
function predict(): number {
  let wx = 0;
  for (let k = 0; k < features; k++) {
    const i = x[k];
    const zi = z[i];
    w[k] = Math.abs(zi) <= L1 ? 0 : -(zi - Math.sign(zi) * L1) / ((BETA + Math.sqrt(n[i])) / ALPHA + L2);
    wx += w[k];
  }
  return 1 / (1 + Math.exp(-Math.max(-35, Math.min(35, wx))));
}

function update(p: number, y: number): void {
  const g = p - y;
  for (let k = 0; k < features; k++) {
    const i = x[k];
    const sigma = (Math.sqrt(n[i] + g * g) - Math.sqrt(n[i])) / ALPHA;
    z[i] += g - sigma * w[k];
    n[i] += g * g;
  }
}

/** Calls `row` on every non-empty line of `file` (a trailing \r dropped), read in 4 MiB chunks. */
function forEachLine(file: string, row: (buf: Buffer, start: number, end: number) => void): void {
  const fd = fs.openSync(file, 'r');
  let buf = Buffer.allocUnsafe(1 << 22);
  let filled = 0; // bytes at the start of buf not yet handed out: a partial line carried over
  try {
    for (;;) {
      if (filled === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]); // a line longer than buf
      const got = fs.readSync(fd, buf, filled, buf.length - filled, null);
      const end = filled + got;
      const view = buf.subarray(0, end);
      let start = 0;
      for (let nl = view.indexOf(NEWLINE); nl >= 0 || (got === 0 && start < end); nl = view.indexOf(NEWLINE, start)) {
        const stop = nl >= 0 ? nl : end; // at end of file, the last line may have no newline
        const lineEnd = stop > start && buf[stop - 1] === CR ? stop - 1 : stop;
        if (lineEnd > start) row(buf, start, lineEnd);
        start = stop + 1;
      }
      if (got === 0) return;
      buf.copyWithin(0, start, end);
      filled = end - start;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Trains one pass on `train`, writes one prediction per `test` row to `out`; a declared CSV table with `schema`. */
export async function runTextbookFtrl(
  train: string,
  test: string,
  out: string,
  schema?: DeclaredSchema,
): Promise<{ trainRows: number; testRows: number }> {
  z.fill(0);
  n.fill(0);
  let trainRows = 0;
  const trainRow = rowReader(schema);
  forEachLine(train, (buf, start, end) => {
    const y = trainRow(buf, start, end);
    if (y === null) return;
    update(predict(), y);
    trainRows++;
  });
  let testRows = 0;
  let pending: string[] = [];
  const fd = fs.openSync(out, 'w');
  const testRow = rowReader(schema);
  try {
    forEachLine(test, (buf, start, end) => {
      if (testRow(buf, start, end) === null) return;
      pending.push(predict().toPrecision(7));
      testRows++;
      if (pending.length === 1 << 16) {
        fs.writeSync(fd, pending.join('\n') + '\n');
        pending = [];
      }
    });
    if (pending.length) fs.writeSync(fd, pending.join('\n') + '\n');
  } finally {
    fs.closeSync(fd);
  }
  return { trainRows, testRows };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const schemaAt = args.indexOf('--schema');
  const schemaPath = schemaAt >= 0 ? args.splice(schemaAt, 2)[1] : undefined;
  const [train, test, out] = args;
  if (!train || !test || !out || (schemaAt >= 0 && !schemaPath)) {
    process.stderr.write('usage: textbook-ftrl.ts [--schema SCHEMA.json] TRAIN TEST PREDICTIONS.txt\n');
    process.exit(2);
  }
  const schema = schemaPath ? (JSON.parse(fs.readFileSync(schemaPath, 'utf8')) as DeclaredSchema) : undefined;
  runTextbookFtrl(train, test, out, schema).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
