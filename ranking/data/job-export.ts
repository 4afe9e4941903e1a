import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { categoricalFieldName, denseFieldName, fieldOfName } from '../../contracts';
import type { LoadedDataset, TrainRowsOnDisk } from './load-data';
import { MISSING_CATEGORICAL, RowBlock, UNKNOWN_LABEL } from './rows';

/**
 * The data hand-off to external trainers: a loaded dataset's three splits as plain TSV files any trainer can read
 * (Python, R, a shell script), with a header line, plus `data.json` describing them. One directory per dataset,
 * written once and shared by every job on it.
 */

/** One column of the exported TSVs, in file order. */
export interface JobColumn {
  /** The header name: `label`, `weight`, or the slot's display name (a declared schema's column name). */
  name: string;
  /** The engine slot (`I3`, `C7`), or `label` / `weight`. */
  slot: string;
  role: 'label' | 'weight' | 'dense' | 'categorical';
}

/** What an export wrote (also `data.json` in its directory): absolute paths, columns and row counts. */
export interface JobDataFiles {
  dir: string;
  train: string;
  validation: string;
  test: string;
  columns: JobColumn[];
  rows: { train: number; validation: number; test: number };
}

export interface ExportJobDataOptions {
  /** Slot (`I3`, `C7`) → the column name to write in the header; a slot not named here is written as itself. */
  labels?: Record<string, string>;
}

/** Rows formatted into one string before it is written (≈1–2 MiB of text at 40 columns). */
const WRITE_ROWS = 4096;
const SPLITS = ['train', 'validation', 'test'] as const;
type Split = (typeof SPLITS)[number];

/** Exports in flight in this process, by directory: a second caller waits for the first instead of writing again. */
const inFlight = new Map<string, Promise<JobDataFiles>>();

/**
 * Writes the dataset's train, validation and test rows as `train.tsv`, `validation.tsv` and `test.tsv` under `dir`
 * (created when missing) and `data.json` describing them; returns that description.
 *
 * Columns: `label` (0/1; empty when unknown), `weight` (only when the dataset's rows carry weights), then one per
 * active dense slot and one per active categorical slot. Dense values are the shortest text that reads back as the
 * same float32 (empty when missing); categorical values are the 32-bit hash in decimal (empty when missing).
 *
 * Idempotent: when `data.json` already describes these files (same columns and rows) and they exist, it is returned
 * without writing anything. Safe with concurrent callers, in this process or others: every file is written under a
 * temporary name and renamed into place, `data.json` last, so a reader never sees a partial file.
 *
 * An out-of-core dataset (`trainOnDisk`) has its training rows streamed from its row cache, chunk by chunk.
 */
export async function exportJobData(dataset: LoadedDataset, dir: string, opts: ExportJobDataOptions = {}): Promise<JobDataFiles> {
  const absDir = path.resolve(dir);
  const running = inFlight.get(absDir);
  if (running) await running.catch(() => undefined);
  const work = exportOnce(dataset, absDir, opts);
  inFlight.set(absDir, work);
  try {
    return await work;
  } finally {
    if (inFlight.get(absDir) === work) inFlight.delete(absDir);
  }
}

async function exportOnce(dataset: LoadedDataset, dir: string, opts: ExportJobDataOptions): Promise<JobDataFiles> {
  const disk = dataset.trainOnDisk;
  const weighted = [dataset.train, dataset.validation, dataset.test].some((b) => b.weights !== undefined);
  if (disk && weighted)
    throw new Error(
      'external trainers need the weighted training rows in memory, and this training set is streamed from a row cache ' +
        '(which holds no weights): set data.maxTrainRows so the training rows fit in memory',
    );
  const columns = jobColumns(dataset, weighted, opts.labels ?? {});
  const files: JobDataFiles = {
    dir,
    train: path.join(dir, 'train.tsv'),
    validation: path.join(dir, 'validation.tsv'),
    test: path.join(dir, 'test.tsv'),
    columns,
    rows: { train: disk ? disk.rows : dataset.train.rows, validation: dataset.validation.rows, test: dataset.test.rows },
  };
  const manifest = path.join(dir, 'data.json');
  if (await alreadyExported(manifest, files)) return files;

  await fs.promises.mkdir(dir, { recursive: true });
  const suffix = `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const temps: string[] = [];
  try {
    for (const split of SPLITS) {
      const tmp = files[split] + suffix;
      temps.push(tmp);
      const rows = await writeTsv(tmp, columns, blocksOf(dataset, split));
      if (rows !== files.rows[split]) throw new Error(`exporting ${split}: wrote ${rows} rows where the dataset has ${files.rows[split]}`);
    }
    for (const split of SPLITS) await fs.promises.rename(files[split] + suffix, files[split]);
    const tmp = manifest + suffix;
    temps.push(tmp);
    await fs.promises.writeFile(tmp, JSON.stringify(files, null, 2) + '\n');
    await fs.promises.rename(tmp, manifest);
  } finally {
    await Promise.all(temps.map((t) => fs.promises.rm(t, { force: true })));
  }
  return files;
}

/** The columns of an export, in file order; display names made unique and TSV-safe. */
function jobColumns(dataset: LoadedDataset, weighted: boolean, labels: Record<string, string>): JobColumn[] {
  const columns: JobColumn[] = [{ name: 'label', slot: 'label', role: 'label' }];
  if (weighted) columns.push({ name: 'weight', slot: 'weight', role: 'weight' });
  const slots: Omit<JobColumn, 'name'>[] = [
    ...dataset.active.dense.map((f) => ({ slot: denseFieldName(f), role: 'dense' as const })),
    ...dataset.active.categorical.map((f) => ({ slot: categoricalFieldName(f), role: 'categorical' as const })),
  ];
  const taken = new Set(columns.map((c) => c.name));
  for (const s of slots) {
    // A tab or line break in a name would break the header; a name another column has gets its slot appended.
    let name = (labels[s.slot] ?? s.slot).replace(/[\t\r\n]/g, ' ').trim() || s.slot;
    if (taken.has(name)) name = `${name}__${s.slot}`;
    taken.add(name);
    columns.push({ name, ...s });
  }
  return columns;
}

/** True when `data.json` describes exactly these files and they all exist. */
async function alreadyExported(manifest: string, files: JobDataFiles): Promise<boolean> {
  const text = await fs.promises.readFile(manifest, 'utf8').catch(() => null);
  if (text === null) return false;
  let existing: unknown;
  try {
    existing = JSON.parse(text);
  } catch {
    return false;
  }
  if (JSON.stringify(existing) !== JSON.stringify(files)) return false;
  const present = await Promise.all(
    SPLITS.map((s) =>
      fs.promises.stat(files[s]).then(
        (st) => st.isFile(),
        () => false,
      ),
    ),
  );
  return present.every(Boolean);
}

/** A split's rows as blocks: the block itself, or the row cache's chunks for out-of-core training rows. */
async function* blocksOf(dataset: LoadedDataset, split: Split): AsyncGenerator<RowBlock> {
  if (split === 'train' && dataset.trainOnDisk) yield* cacheBlocks(dataset.trainOnDisk);
  else yield dataset[split];
}

/** Training rows [0, disk.rows) of a row cache, one chunk at a time (views into one reused buffer). */
async function* cacheBlocks(disk: TrainRowsOnDisk): AsyncGenerator<RowBlock> {
  const cache = disk.cache;
  const buffer = cache.newChunkBuffer();
  for (let c = 0, start = 0; c < cache.chunks && start < disk.rows; c++) {
    const block = await cache.readChunk(c, buffer);
    const rows = Math.min(block.rows, disk.rows - start);
    yield rows === block.rows ? block : { ...block, rows };
    start += block.rows;
  }
}

/** Writes the header and every row of `blocks` to `file`, WRITE_ROWS rows per write; returns the rows written. */
async function writeTsv(file: string, columns: JobColumn[], blocks: AsyncIterable<RowBlock>): Promise<number> {
  const fh = await fs.promises.open(file, 'w');
  let written = 0;
  try {
    await fh.write(columns.map((c) => c.name).join('\t') + '\n');
    const dense = columns.filter((c) => c.role === 'dense').map((c) => fieldOfName(c.slot)!.index);
    const categorical = columns.filter((c) => c.role === 'categorical').map((c) => fieldOfName(c.slot)!.index);
    const weighted = columns.some((c) => c.role === 'weight');
    for await (const block of blocks) {
      for (let start = 0; start < block.rows; start += WRITE_ROWS) {
        const end = Math.min(block.rows, start + WRITE_ROWS);
        const lines: string[] = new Array<string>(end - start);
        const cells: string[] = new Array<string>(columns.length);
        for (let r = start; r < end; r++) {
          let k = 0;
          const label = block.labels[r];
          cells[k++] = label === UNKNOWN_LABEL ? '' : String(label);
          if (weighted) cells[k++] = block.weights ? float32Text(block.weights[r]) : '1';
          for (const f of dense) cells[k++] = float32Text(block.dense[r * block.denseWidth + f]);
          for (const f of categorical) {
            const h = block.categorical[r * block.categoricalWidth + f];
            cells[k++] = h === MISSING_CATEGORICAL ? '' : String(h);
          }
          lines[r - start] = cells.join('\t');
        }
        await fh.write(lines.join('\n') + '\n');
        written += end - start;
      }
    }
  } finally {
    await fh.close();
  }
  return written;
}

/**
 * The shortest decimal text that reads back (as float32) to the same float32 value; empty for NaN. Integers (most
 * Criteo counts) take the fast path.
 */
export function float32Text(v: number): string {
  if (Number.isNaN(v)) return '';
  if (Number.isInteger(v) && Math.abs(v) < 2 ** 24) return String(v);
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return trimExponent(s);
  }
  return trimExponent(v.toPrecision(9));
}

/** `1.5e+21` → `1.5e21`, kept readable by every float parser either way; only drops the redundant plus sign. */
function trimExponent(s: string): string {
  return s.replace('e+', 'e');
}
