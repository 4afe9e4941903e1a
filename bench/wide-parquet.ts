import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  OracleScore,
  WIDE_DECLARED_COLUMNS,
  WIDE_DECLARED_SCHEMA,
  WIDE_DECLARED_VERSION,
  type WideDeclaredOptions,
  type WideDeclaredSplit,
  wideDeclaredCells,
  wideDeclaredRows,
} from './quality/wide-declared';

/**
 * The wide declared table (bench/quality/wide-declared.ts: 104 columns, 3 lists) as Parquet files, for the out-of-core
 * bench: train, validation and test written row group by row group with hyparquet-writer (a devDependency; the bench
 * venv has no pyarrow), so a 10M-row file never sits in memory. Categoricals and lists are STRING (a list as its
 * "|"-separated text, which the schema's separator splits, as in the CSV), dense columns DOUBLE, the label INT32;
 * empty cells are nulls. Generated once per options into `dir` and reused while meta.json matches.
 */

/** Rows per row group: what the reader holds of the declared columns at a time. */
export const PARQUET_ROW_GROUP = 100_000;

export interface WideParquetMeta {
  format: 'rankwright-wide-declared-parquet';
  generatorVersion: number;
  options: WideDeclaredOptions;
  data: { format: 'parquet'; train: string; validation: string; test: string; schema: typeof WIDE_DECLARED_SCHEMA };
  splits: Record<WideDeclaredSplit, { file: string; rows: number; bytes: number; oracleNe: number }>;
  oracle: { ne: number };
}

const LABEL = WIDE_DECLARED_COLUMNS[0];

function roleOf(column: string): string {
  const spec = WIDE_DECLARED_SCHEMA.columns[column];
  return typeof spec === 'string' ? spec : spec.role;
}

async function writeSplit(
  options: WideDeclaredOptions,
  dir: string,
  split: WideDeclaredSplit,
): Promise<WideParquetMeta['splits'][WideDeclaredSplit]> {
  // Node resolves the package to its node entry, which adds a file writer that flushes every MiB; the types this
  // project's module resolution reads are the browser entry's, without it.
  const writerModule = await import('hyparquet-writer');
  const { ParquetWriter, schemaFromColumnData } = writerModule;
  const { fileWriter } = writerModule as unknown as { fileWriter(file: string): ConstructorParameters<typeof ParquetWriter>[0]['writer'] };
  const file = `${split}.parquet`;
  const partial = path.join(dir, file + '.partial');
  const types = WIDE_DECLARED_COLUMNS.map((c) => (c === LABEL ? 'INT32' : roleOf(c) === 'dense' ? 'DOUBLE' : 'STRING'));
  const schema = schemaFromColumnData({ columnData: WIDE_DECLARED_COLUMNS.map((name, i) => ({ name, data: [], type: types[i] as never })) });
  // No column statistics: the reader doesn't use them, and they cost a sixth of the writing time.
  const writer = new ParquetWriter({ writer: fileWriter(partial), schema, statistics: false });
  const score = new OracleScore(false);
  let columns: unknown[][] = WIDE_DECLARED_COLUMNS.map(() => []);
  const flush = async () => {
    if (!columns[0].length) return;
    await writer.write({ columnData: WIDE_DECLARED_COLUMNS.map((name, i) => ({ name, data: columns[i] })), rowGroupSize: PARQUET_ROW_GROUP });
    columns = WIDE_DECLARED_COLUMNS.map(() => []);
  };
  for (const row of wideDeclaredRows(options, split)) {
    score.add(row.probability, row.label);
    const cells = wideDeclaredCells(row);
    for (let i = 0; i < cells.length; i++) {
      const text = cells[i];
      columns[i].push(i === 0 ? row.label : text === '' ? null : types[i] === 'DOUBLE' ? Number(text) : text);
    }
    if (columns[0].length === PARQUET_ROW_GROUP) await flush();
  }
  await flush();
  await writer.finish();
  return { file, rows: score.n, bytes: fs.statSync(partial).size, oracleNe: score.summary().ne };
}

/** Writes (or reuses) the Parquet table for `options` in `dir`; meta.json last, so its presence means complete. */
export async function ensureWideParquet(
  options: WideDeclaredOptions,
  dir: string,
  log: (line: string) => void = () => {},
): Promise<{ meta: WideParquetMeta; reused: boolean; seconds: number }> {
  const metaFile = path.join(dir, 'meta.json');
  try {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as WideParquetMeta;
    const complete = Object.values(meta.splits).every((s) => fs.statSync(path.join(dir, s.file), { throwIfNoEntry: false })?.size === s.bytes);
    if (meta.generatorVersion === WIDE_DECLARED_VERSION && JSON.stringify(meta.options) === JSON.stringify(options) && complete)
      return { meta, reused: true, seconds: 0 };
  } catch {
    // nothing complete here: write it
  }
  const started = performance.now();
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(metaFile, { force: true });
  const splits = {} as WideParquetMeta['splits'];
  for (const split of ['train', 'validation', 'test'] as const) {
    log(
      `writing ${split}.parquet (${(split === 'train' ? options.trainRows : split === 'validation' ? options.validationRows : options.testRows).toLocaleString('en-US')} rows)…`,
    );
    splits[split] = await writeSplit(options, dir, split);
  }
  for (const s of Object.values(splits)) fs.renameSync(path.join(dir, s.file + '.partial'), path.join(dir, s.file));
  const meta: WideParquetMeta = {
    format: 'rankwright-wide-declared-parquet',
    generatorVersion: WIDE_DECLARED_VERSION,
    options,
    data: { format: 'parquet', train: splits.train.file, validation: splits.validation.file, test: splits.test.file, schema: WIDE_DECLARED_SCHEMA },
    splits,
    oracle: { ne: splits.test.oracleNe },
  };
  fs.writeFileSync(metaFile, JSON.stringify(meta, null, 2) + '\n');
  return { meta, reused: false, seconds: (performance.now() - started) / 1000 };
}
