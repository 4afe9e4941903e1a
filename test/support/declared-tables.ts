import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeclaredSchema, TimeSplit } from '../../contracts';

/**
 * A small planted table with named columns, written as CSV, TSV and Parquet (the same rows in each), for tests of
 * declared-schema data and of campaigns on it. The click probability has a real signal a model can learn:
 *
 *   logit = −1.6 + cross(user_country × ad_category) + Σ interest effects + 0.6·(price − 50)/30 − 0.02·(age − 40)
 *
 * where the country × category cross is strong (±1.2) and not additive, so a model with the cross beats one without.
 * `ts` spans four weeks (2026-02-01 .. 2026-03-01) in shuffled order, so "latest by time" and "last by position"
 * are different rows. `w` is a sample weight in [0.5, 2]. `note` is free text with commas and quotes (ignored).
 */

export type DeclaredFormat = 'csv' | 'tsv' | 'parquet';

export interface DeclaredTableOptions {
  /** Rows written (default 3000). */
  rows?: number;
  seed?: number;
  /** Formats written (default all three). */
  formats?: DeclaredFormat[];
  /** 'time' (default): one train file and a time split; 'files': train and test files, split at testFrom. */
  layout?: 'time' | 'files';
  /** Rows at or after this time test (default 2026-02-22). */
  testFrom?: string;
}

export interface DeclaredTables {
  files: Partial<Record<DeclaredFormat, { train: string; test?: string }>>;
  schema: DeclaredSchema;
  split?: TimeSplit;
  /** Ready DeclaredData configs (input form), one per format written. */
  configs: Partial<Record<DeclaredFormat, DeclaredConfigInput>>;
  /** The rows as written (train file first, then test when layout = 'files'). */
  rows: DeclaredRow[];
}

export interface DeclaredConfigInput {
  format: DeclaredFormat;
  train: string;
  test?: string;
  schema: DeclaredSchema;
  split?: TimeSplit;
  validationFraction?: number;
  maxBadRowFraction?: number;
  maxTrainRows?: number;
  strict?: boolean;
}

export interface DeclaredRow {
  clicked: 0 | 1;
  w: number;
  /** Milliseconds since the epoch. */
  ts: number;
  price: number | null;
  age: number | null;
  user_country: string;
  ad_category: string | null;
  interests: string[];
  note: string;
}

export const DECLARED_SCHEMA: DeclaredSchema = {
  columns: {
    clicked: 'label',
    w: 'weight',
    ts: 'timestamp',
    price: 'dense',
    age: 'dense',
    user_country: 'categorical',
    ad_category: 'categorical',
    interests: { role: 'multiCategorical', separator: '|', maxValues: 3 },
    note: 'ignore',
  },
};

/** Column order in the written files (not the schema's order: the reader must find columns by name). */
export const DECLARED_COLUMNS = ['ts', 'user_country', 'clicked', 'price', 'note', 'interests', 'age', 'ad_category', 'w'] as const;

const COUNTRIES = ['US', 'DE', 'FR', 'JP', 'BR', 'IN'];
const CATEGORIES = ['shoes', 'games', 'travel', 'food', 'books'];
const INTERESTS = ['sports', 'music', 'cooking', 'travel', 'tech', 'fashion', 'gaming'];
const INTEREST_EFFECT: Record<string, number> = { sports: 0.5, music: -0.3, cooking: 0.2, travel: 0.7, tech: -0.6, fashion: 0.1, gaming: 0.4 };
const START = Date.parse('2026-02-01T00:00:00Z');
const SPAN = 28 * 24 * 3600 * 1000;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The planted rows (deterministic by seed). */
export function plantedDeclaredRows(rows: number, seed: number): DeclaredRow[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  // Cross effects: a fixed, non-additive pattern (same for every seed, so the signal is always there).
  const cross = (c: number, k: number) => (((c * 7 + k * 3) % 5) - 2) * 0.6;
  const out: DeclaredRow[] = [];
  for (let i = 0; i < rows; i++) {
    const country = Math.floor(rnd() * COUNTRIES.length);
    const category = Math.floor(rnd() * CATEGORIES.length);
    const interests: string[] = [];
    const count = Math.floor(rnd() * 5); // 0..4 values, maybe repeated: the reader keeps up to 3 distinct
    for (let k = 0; k < count; k++) interests.push(pick(INTERESTS));
    const price = rnd() < 0.05 ? null : Math.round(rnd() * 10000) / 100;
    const age = rnd() < 0.05 ? null : 18 + Math.floor(rnd() * 50);
    const kept = [...new Set(interests)].slice(0, 3);
    const logit =
      -1.6 +
      cross(country, category) +
      kept.reduce((s, v) => s + INTEREST_EFFECT[v], 0) +
      (price === null ? 0 : (0.6 * (price - 50)) / 30) -
      (age === null ? 0 : 0.02 * (age - 40));
    const clicked = rnd() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    out.push({
      clicked,
      w: Math.round((0.5 + rnd() * 1.5) * 1000) / 1000,
      ts: START + Math.floor((rnd() * SPAN) / 1000) * 1000,
      price,
      age,
      user_country: COUNTRIES[country],
      ad_category: rnd() < 0.03 ? null : CATEGORIES[category],
      interests,
      note: pick(['plain', 'with, comma', 'said "hi"', '', 'a; b']),
    });
  }
  return out;
}

function cellText(row: DeclaredRow, column: (typeof DECLARED_COLUMNS)[number]): string {
  switch (column) {
    case 'ts':
      return new Date(row.ts).toISOString();
    case 'interests':
      return row.interests.join('|');
    case 'clicked':
      return String(row.clicked);
    default: {
      const v = row[column];
      return v === null ? '' : String(v);
    }
  }
}

const csvQuote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

function writeDelimited(file: string, rows: DeclaredRow[], format: 'csv' | 'tsv'): void {
  const sep = format === 'csv' ? ',' : '\t';
  const q = format === 'csv' ? csvQuote : (s: string) => s;
  const lines = [DECLARED_COLUMNS.join(sep), ...rows.map((r) => DECLARED_COLUMNS.map((c) => q(cellText(r, c))).join(sep))];
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

async function writeParquet(file: string, rows: DeclaredRow[]): Promise<void> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const data: Record<(typeof DECLARED_COLUMNS)[number], { data: unknown[]; type?: string }> = {
    ts: { data: rows.map((r) => new Date(r.ts)), type: 'TIMESTAMP' },
    user_country: { data: rows.map((r) => r.user_country), type: 'STRING' },
    clicked: { data: rows.map((r) => r.clicked === 1), type: 'BOOLEAN' },
    price: { data: rows.map((r) => r.price), type: 'DOUBLE' },
    note: { data: rows.map((r) => r.note), type: 'STRING' },
    // A LIST column: each cell is the list of values.
    interests: { data: rows.map((r) => r.interests) },
    // INT64: read back as bigint.
    age: { data: rows.map((r) => (r.age === null ? null : BigInt(r.age))), type: 'INT64' },
    ad_category: { data: rows.map((r) => r.ad_category), type: 'STRING' },
    w: { data: rows.map((r) => r.w), type: 'DOUBLE' },
  };
  const bytes = parquetWriteBuffer({
    // Several row groups, so the reader's per-group reading is exercised.
    rowGroupSize: Math.max(100, Math.ceil(rows.length / 4)),
    columnData: DECLARED_COLUMNS.map((name) => ({ name, ...data[name] })) as never,
  });
  fs.writeFileSync(file, new Uint8Array(bytes));
}

/** Writes the planted table in each format under `dir`; returns the paths, schema, split and ready configs. */
export async function writeDeclaredTables(dir: string, options: DeclaredTableOptions = {}): Promise<DeclaredTables> {
  const rows = plantedDeclaredRows(options.rows ?? 3000, options.seed ?? 1);
  const formats = options.formats ?? ['csv', 'tsv', 'parquet'];
  const testFrom = options.testFrom ?? '2026-02-22';
  const layout = options.layout ?? 'time';
  fs.mkdirSync(dir, { recursive: true });
  const cut = Date.parse(testFrom);
  const train = layout === 'files' ? rows.filter((r) => r.ts < cut) : rows;
  const test = layout === 'files' ? rows.filter((r) => r.ts >= cut) : [];
  const split: TimeSplit | undefined = layout === 'time' ? { by: 'ts', testFrom } : undefined;
  const files: DeclaredTables['files'] = {};
  const configs: DeclaredTables['configs'] = {};
  for (const format of formats) {
    const ext = format;
    const trainFile = path.join(dir, `train.${ext}`);
    const testFile = layout === 'files' ? path.join(dir, `test.${ext}`) : undefined;
    for (const [file, part] of [
      [trainFile, train],
      [testFile, test],
    ] as const) {
      if (!file) continue;
      if (format === 'parquet') await writeParquet(file, part);
      else writeDelimited(file, part, format);
    }
    files[format] = testFile ? { train: trainFile, test: testFile } : { train: trainFile };
    configs[format] = { format, train: trainFile, ...(testFile ? { test: testFile } : {}), schema: DECLARED_SCHEMA, ...(split ? { split } : {}) };
  }
  return { files, schema: DECLARED_SCHEMA, split, configs, rows: [...train, ...test] };
}
