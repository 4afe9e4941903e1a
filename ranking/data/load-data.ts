import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import {
  BAD_ROW_EXAMPLES_KEPT,
  CriteoData,
  DEFAULT_MAX_VALUES,
  DataConfig,
  DeclaredData,
  columnSpec,
  schemaLayout,
  type BadRows,
  type DataConfigInput,
  fieldOfName,
  timeOrderColumn,
} from '../../contracts';
import { parseOrExplain } from '../../contracts/errors';
import { TrainingFailure } from '../failure';
import { BadRowReport, assertSafePath, readCriteoChunks, readCriteoFile } from './criteo-reader';
import {
  InMemoryLimitExceeded,
  TimeSplitRouter,
  latestTrainCut,
  splitBounds,
  parquetRowCount,
  readDeclaredChunks,
  readDeclaredData,
  type RowTimes,
} from './declared-reader';
import { plantedScenario } from './planted';
import { RowCacheInvalid, RowCacheReader, RowCacheWriter, hashFileEnds, rowCachePath, sourceIdentity, type SourceIdentity } from './row-cache';
import { moveToSharedMemory, openSharedDataset, type DatasetShare, type SharedDatasetImage } from './shared-dataset';
import { fetchSharedRowCache, shareRowCache, type RowCacheOrigin } from './shared-row-cache';
import {
  CRITEO_WIDTHS,
  MISSING_CATEGORICAL,
  emptyBlock,
  RowBlock,
  ValueNames,
  activeFields,
  concatBlocks,
  newValueNames,
  rowsView,
  sliceRows,
  type RowWidths,
} from './rows';

/** A dataset ready for experiments: three splits in the shared row representation, plus what is known about it. */
export interface LoadedDataset {
  /** 'criteo' for any data read from files (a Criteo file or a declared table: `config.format` tells them apart). */
  kind: 'planted' | 'criteo';
  fingerprint: string;
  config: DataConfig;
  /**
   * The training rows — all of them, or, when the training set is too big to hold (`trainOnDisk`), an evenly spaced
   * sample of at most TRAIN_SAMPLE_ROWS of them: what feature statistics, descriptions and probes are computed from.
   */
  train: RowBlock;
  /** Set when the training rows live in a row cache on disk and training streams them (out-of-core). */
  trainOnDisk?: TrainRowsOnDisk;
  validation: RowBlock;
  test: RowBlock;
  /**
   * Declared tables with a column that orders rows in time (the time split's, or the schema's only timestamp
   * column): each split's row times, aligned with its block. Everything else is in time order by position (Criteo
   * logs, planted files), and its validation rows, cut from train, are its last.
   */
  rowTimes?: RowTimes;
  valueNames: ValueNames;
  active: { categorical: number[]; dense: number[] };
  /** Planted data only: the true click probability of each test / validation row, and the oracle's scores. */
  testTruth?: Float64Array;
  validationTruth?: Float64Array;
  oracle?: { ne: number; logloss: number; auc: number };
  plantedCrosses?: [string, string][];
  /** Malformed rows skipped while reading the files: per file, in total, and the first few examples. */
  badRows: BadRows;
}

/** Stable JSON (sorted keys) so equal configs fingerprint equally. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * Fingerprint of a data config: of the generator options (planted), or of each file's size, mtime and its first
 * and last MiB (criteo: cheap on 10 GB files, and changes whenever the file is rewritten) plus the split options.
 */
export async function dataFingerprint(input: DataConfigInput | DataConfig): Promise<string> {
  const config = parseOrExplain(DataConfig, input, 'data config');
  const h = createHash('sha256');
  if ('planted' in config) {
    h.update('planted\n' + canonicalJson(config.planted));
    return `planted:${h.digest('hex').slice(0, 32)}`;
  }
  // `strict` decides whether a bad row is fatal, not what the data is: a strict run that succeeds read the same rows.
  if (config.format !== 'criteo-tsv') {
    const { train, test, validation, strict: _strict, schema, ...options } = config;
    h.update('declared\n' + canonicalJson({ ...options, schema: canonicalSchema(schema) }));
    await hashDataFiles(h, { train, validation, test });
    return `declared:${h.digest('hex').slice(0, 32)}`;
  }
  const { train, test, validation, strict: _strict, ...options } = config;
  h.update('criteo\n' + canonicalJson(options));
  await hashDataFiles(h, { train, validation, test });
  return `criteo:${h.digest('hex').slice(0, 32)}`;
}

/**
 * A schema as it reads the data: every column as {role, ...} with multiCategorical defaults filled in, ignored
 * columns left out (they are not read), so spellings of the same schema fingerprint alike.
 */
function canonicalSchema(schema: DeclaredData['schema']): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  for (const [name, given] of Object.entries(schema.columns)) {
    const spec = columnSpec(given);
    if (spec.role === 'ignore') continue;
    columns[name] =
      spec.role === 'multiCategorical'
        ? { role: spec.role, separator: spec.separator ?? ',', maxValues: spec.maxValues ?? DEFAULT_MAX_VALUES }
        : { role: spec.role };
  }
  return { columns };
}

/** Each data file's identity (size, mtime, first and last MiB) into the fingerprint, in train, validation, test order. */
async function hashDataFiles(h: ReturnType<typeof createHash>, files: { train: string; validation?: string; test?: string }): Promise<void> {
  const { train, validation, test } = files;
  for (const [role, file] of [
    ['train', train],
    ['validation', validation],
    ['test', test],
  ] as const) {
    if (!file) continue;
    assertSafePath(file, `data.${role}`);
    h.update(`\n${role}:`);
    const st = await fs.promises.stat(file).catch(() => null);
    if (!st) {
      h.update('missing');
      continue;
    }
    h.update(`${st.size}:${st.mtimeMs}:`);
    await hashFileEnds(h, file, st.size);
  }
}

/** Training rows kept on disk (a row cache) and streamed chunk by chunk, with what is small enough to hold. */
export interface TrainRowsOnDisk {
  cache: RowCacheReader;
  /** Rows [0, rows) of the cache train (when validation is cut from train, the rest of the cache validates). */
  rows: number;
  /** The training rows' labels (1 byte a row): class balance, negative sampling and the train-NE sample need them. */
  labels: Uint8Array;
  /** How this load came by the cache: parsed the file, found it in the home, or fetched it from the shared store. */
  origin: RowCacheOrigin;
}

/**
 * Bytes a training row costs when trained in memory: its RowBlock (157), its encoding (~4 bytes a slot) and the
 * transient copies of reading and sampling. A training set over the budget's worth of rows is streamed from disk.
 */
export const IN_MEMORY_BYTES_PER_TRAIN_ROW = 400;
/** The memory budget training holds rows within unless told otherwise (trainExperiment's default budget). */
const DEFAULT_DATA_BUDGET_BYTES = 1.5 * 2 ** 30;
/** Rows of the sample that stands in for `train` when it is streamed (feature statistics, descriptions, probes). */
export const TRAIN_SAMPLE_ROWS = 262_144;

/** Training rows held in memory under a memory budget; beyond them training streams from a row cache. */
export function inMemoryTrainRows(budgetBytes: number): number {
  return Math.max(1, Math.floor(budgetBytes / IN_MEMORY_BYTES_PER_TRAIN_ROW));
}

/** The default limit: RANKWRIGHT_IN_MEMORY_TRAIN_ROWS when set, else the default budget's worth of rows (~4M). */
export function defaultInMemoryTrainRows(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.RANKWRIGHT_IN_MEMORY_TRAIN_ROWS);
  return Number.isFinite(v) && v >= 1 ? Math.floor(v) : inMemoryTrainRows(DEFAULT_DATA_BUDGET_BYTES);
}

export interface LoadOptions {
  /**
   * Most training rows held in memory (default: defaultInMemoryTrainRows()). A larger training file is parsed once
   * into a row cache under the Rankwright home and streamed from it (`trainOnDisk`).
   */
  maxInMemoryTrainRows?: number;
}

const CACHE_SIZE = 2;

/** A cached dataset, and the share it was acquired from (dropped there when it leaves the cache). */
interface CachedDataset {
  dataset: Promise<LoadedDataset>;
  share?: DatasetShare;
}
const cache = new Map<string, CachedDataset>();
let share: DatasetShare | undefined;

/**
 * Makes this thread's loads go through a share with the other threads of the process (a training-pool thread calls
 * it once, at its start): a dataset another thread holds is opened from its shared memory instead of loaded again,
 * and one this thread loads is published for the others. Without a share (the main thread) loads are private.
 */
export function shareDatasetsThrough(s: DatasetShare | undefined): void {
  share = s;
}

/**
 * Loads (or generates) a dataset, cached per thread by fingerprint (LRU of the last two): a worker runs many
 * experiments on the same data and should read or generate it once. Through a share (shareDatasetsThrough) the
 * threads of a process hold one copy between them, loaded once even when several ask for it at the same time.
 */
export async function loadDataset(input: DataConfigInput | DataConfig, opts: LoadOptions = {}): Promise<LoadedDataset> {
  const config = parseOrExplain(DataConfig, input, 'data config');
  const fingerprint = await dataFingerprint(config);
  const limit = opts.maxInMemoryTrainRows ?? defaultInMemoryTrainRows();
  // A strict load fails where a lenient one skips: they are cached apart (same fingerprint, same rows when both load).
  // So are loads under another in-memory limit (the same rows, held or streamed).
  const key = `${'strict' in config && config.strict ? `${fingerprint}:strict` : fingerprint}:${'planted' in config ? '' : limit}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit.dataset;
  }
  const load = () =>
    'planted' in config
      ? loadPlanted(config, fingerprint)
      : config.format === 'criteo-tsv'
        ? loadCriteo(config, fingerprint, limit)
        : loadDeclared(config, fingerprint, limit);
  const entry: CachedDataset = share ? { dataset: loadThroughShare(share, key, load), share } : { dataset: load() };
  entry.dataset = entry.dataset.catch((e) => {
    // A failed load holds nothing in the share (loadThroughShare dropped it); a later call tries again.
    if (cache.get(key) === entry) cache.delete(key);
    throw e;
  });
  cache.set(key, entry);
  while (cache.size > CACHE_SIZE) {
    const [oldest, evicted] = cache.entries().next().value as [string, CachedDataset];
    cache.delete(oldest);
    dropWhenLoaded(oldest, evicted);
  }
  return entry.dataset;
}

/** Empties this thread's dataset cache; datasets held through a share are dropped there (freed if no thread holds them). */
export function clearDatasetCache(): void {
  for (const [key, entry] of cache) dropWhenLoaded(key, entry);
  cache.clear();
}

/**
 * One cache entry is one hold on the share: dropped once its load has settled (a load still in flight publishes
 * first, then drops; a failed one has dropped already). A job still using the dataset keeps its memory alive.
 */
function dropWhenLoaded(key: string, entry: CachedDataset): void {
  const s = entry.share;
  if (s)
    entry.dataset.then(
      () => s.drop(key),
      () => {},
    );
}

/** Opens the dataset another thread holds under `key`, or loads it here and publishes it in shared memory. */
async function loadThroughShare(s: DatasetShare, key: string, load: () => Promise<LoadedDataset>): Promise<LoadedDataset> {
  const image = await s.acquire(key);
  if (image) {
    try {
      return await openSharedDataset(image);
    } catch (e) {
      s.drop(key);
      throw e;
    }
  }
  // Threads waiting for this load take it over when it fails (the drop), so they never wait forever.
  let dataset: LoadedDataset;
  let published: SharedDatasetImage;
  try {
    dataset = await load();
    published = moveToSharedMemory(dataset);
  } catch (e) {
    s.drop(key);
    throw e;
  }
  s.publish(key, published);
  return dataset;
}

async function loadPlanted(config: Extract<DataConfig, { planted: unknown }>, fingerprint: string): Promise<LoadedDataset> {
  const s = plantedScenario(config.planted);
  return {
    kind: 'planted',
    fingerprint,
    config,
    train: s.train,
    validation: s.validation,
    test: s.test,
    valueNames: s.valueNames,
    active: { categorical: s.activeCategorical, dense: s.activeDense },
    testTruth: s.testTruth,
    validationTruth: s.validationTruth,
    oracle: s.oracle,
    plantedCrosses: s.plantedCrosses,
    badRows: { count: 0, files: [], examples: [] },
  };
}

async function loadCriteo(config: CriteoData, fingerprint: string, limit: number): Promise<LoadedDataset> {
  const valueNames = newValueNames();
  const opts = { maxBadRowFraction: config.maxBadRowFraction, strict: !!config.strict, valueNames };
  const source = criteoSource(config, opts);
  const train = await readTrain(source, limit);
  if ('onDisk' in train) return loadOnDisk(config, fingerprint, source, train.onDisk, train.badRows, train.origin);
  let trainBlock = train.block;
  let validation: RowBlock;
  const reports: FileBadRows[] = [{ split: 'train', file: config.train, report: train.badRows }];
  if (config.validation) {
    const v = await readCriteoFile(config.validation, opts);
    validation = v.block;
    reports.push({ split: 'validation', file: config.validation, report: v.badRows });
  } else {
    // The last validationFraction of train, by position (Criteo files are in time order: validate on the latest).
    // Views of the rows read, not copies: nothing writes to loaded rows, and copying both splits was a tenth of a load.
    const cut = Math.floor(trainBlock.rows * (1 - config.validationFraction));
    validation = rowsView(trainBlock, cut, trainBlock.rows);
    trainBlock = rowsView(trainBlock, 0, cut);
  }
  const test = await readCriteoFile(config.test, opts);
  reports.push({ split: 'test', file: config.test, report: test.badRows });
  return {
    kind: 'criteo',
    fingerprint,
    config,
    train: trainBlock,
    validation,
    test: test.block,
    valueNames,
    active: activeFields(trainBlock),
    badRows: summarizeBadRows(reports),
  };
}

/**
 * A team's own table with a declared schema. Its rows fill the same slots, hashes and value names as a Criteo file's
 * (see declared-reader.ts). Held in memory while its training rows fit `limit`; past it (estimated beforehand, or
 * found while reading) its training file goes through the same checksummed row cache as a big Criteo file, with its
 * weights, and epochs stream it. A time split routes the rows by time as they are read (TimeSplitRouter); without
 * validationFrom, a first pass over the file finds where the latest share of train by time begins.
 */
async function loadDeclared(config: DeclaredData, fingerprint: string, limit: number): Promise<LoadedDataset> {
  const layout = schemaLayout(config.schema);
  const streamed = async () => {
    const valueNames = newValueNames(layout.widths.categorical);
    const router = await timeRouterOf(config);
    const source = declaredSource(config, valueNames, router);
    // Limit 0: to disk from the first chunk (a valid cache of the file is used as it is).
    const train = await readTrain(source, 0);
    if (!('onDisk' in train)) throw new Error('a streamed declared table did not produce a row cache');
    // A cache hit read no rows: the validation and test rows the router keeps come from the file once more.
    if (router && !router.routed) await source.read(config.train, async () => {});
    return loadOnDisk(config, fingerprint, source, train.onDisk, train.badRows, train.origin, router && routedRows(config, router));
  };
  if ((await estimateDeclaredRows(config)) > limit * 1.1) return streamed();
  let read: Awaited<ReturnType<typeof readDeclaredData>>;
  try {
    read = await readDeclaredData(config, newValueNames(layout.widths.categorical), limit);
  } catch (e) {
    if (e instanceof InMemoryLimitExceeded) return streamed();
    throw e;
  }
  return {
    kind: 'criteo',
    fingerprint,
    config,
    train: read.train,
    validation: read.validation,
    test: read.test,
    ...(read.times ? { rowTimes: read.times } : {}),
    valueNames: read.valueNames,
    active: read.active,
    badRows: summarizeBadRows(read.reports),
  };
}

type ReadOpts = { maxBadRowFraction: number; strict: boolean; valueNames: ValueNames };
type TrainRead = { block: RowBlock; badRows: BadRowReport } | { onDisk: RowCacheReader; badRows: BadRowReport; origin: RowCacheOrigin };

/** A data file read chunk by chunk, whatever its format: what the row cache is written from. */
interface ChunkSource {
  /** Feeds every chunk of `file` (good rows only) to onChunk, in order; resolves with the file's bad-row report. */
  read(file: string, onChunk: (block: RowBlock) => Promise<void>, maxRows?: number): Promise<BadRowReport>;
}

/** A training file, how it is read, and what identifies its row cache. */
interface TrainSource extends ChunkSource {
  file: string;
  /** Where the reader puts readable names of categorical values. */
  valueNames: ValueNames;
  maxRows?: number;
  widths: RowWidths;
  /** Rows carry sample weights (a declared table's weight column): the cache keeps them. */
  weighted?: boolean;
  /** What shaped the rows besides the file: a cache is only used for the same options. */
  cacheOptions: Record<string, unknown>;
}

function criteoSource(config: CriteoData, opts: ReadOpts): TrainSource {
  return {
    file: config.train,
    valueNames: opts.valueNames,
    maxRows: config.maxTrainRows,
    widths: CRITEO_WIDTHS,
    cacheOptions: { maxRows: config.maxTrainRows ?? null, maxBadRowFraction: config.maxBadRowFraction, strict: !!config.strict },
    async read(file, onChunk, maxRows) {
      let badRows: BadRowReport = { count: 0, rowsSeen: 0, examples: [] };
      for await (const chunk of readCriteoChunks(file, { ...opts, maxRows })) {
        badRows = chunk.badRows;
        await onChunk(chunk.block);
      }
      return badRows;
    },
  };
}

/**
 * How a streamed table's rows are routed by time, if they are: a time split's bounds, and where no validationFrom or
 * validation file says which rows validate but the rows have times, the latest share of train by time (found by a
 * first pass, as the in-memory read cuts it). Without a time column the last rows of the cache by position validate.
 */
async function timeRouterOf(config: DeclaredData): Promise<TimeSplitRouter | undefined> {
  const cutsLatest = !config.validation && (config.split ? config.split.validationFrom === undefined : timeOrderColumn(config) !== undefined);
  if (!config.split && !cutsLatest) return undefined;
  const bounds = config.split ? splitBounds(config.split) : { testFrom: Infinity };
  return new TimeSplitRouter(
    { ...bounds, ...(cutsLatest ? { latest: await latestTrainCut(config) } : {}) },
    // A time split caps the training rows it routes; a table without one is capped as it is read.
    config.split ? config.maxTrainRows : undefined,
  );
}

/** The validation and test rows a router kept, or the failure of a split that leaves one of them empty. */
function routedRows(config: DeclaredData, router: TimeSplitRouter): { validation?: RowBlock; test?: RowBlock } {
  const split = config.split;
  const none = (what: string) =>
    new TrainingFailure('bad-data', `${config.train}: no rows have ${split!.by} ${what} (split ${JSON.stringify(split)}); check the dates`);
  if (split && !router.test.length) throw none(`≥ testFrom ${split.testFrom}`);
  if (split?.validationFrom !== undefined && !router.validation.length)
    throw none(`in [validationFrom ${split.validationFrom}, testFrom ${split.testFrom})`);
  return {
    ...(router.test.length ? { test: concatBlocks(router.test) } : {}),
    ...(router.validation.length ? { validation: concatBlocks(router.validation) } : {}),
  };
}

function declaredSource(config: DeclaredData, valueNames: ValueNames, router?: TimeSplitRouter): TrainSource {
  return {
    file: config.train,
    valueNames,
    maxRows: config.maxTrainRows,
    widths: schemaLayout(config.schema).widths,
    weighted: schemaLayout(config.schema).weight !== undefined,
    // The schema shapes the rows (roles, slots, separators): another schema over the same file is another cache.
    cacheOptions: {
      format: config.format,
      schema: canonicalJson(config.schema),
      maxRows: config.maxTrainRows ?? null,
      maxBadRowFraction: config.maxBadRowFraction,
      strict: !!config.strict,
    },
    // Routed by time: a time split reads the whole file (its later rows validate and test) and caps the training rows
    // it routes; a table without a split is capped as it is read.
    read: (file, onChunk, maxRows) => {
      if (!router || file !== config.train) return readDeclaredChunks(file, config, async ({ block }) => onChunk(block), { valueNames, maxRows });
      router.reset();
      return readDeclaredChunks(file, config, async ({ block, times }) => onChunk(router.route(block, times!)), {
        valueNames,
        ...(config.split ? {} : { maxRows: config.maxTrainRows }),
      });
    },
  };
}

/** A whole file through a chunk source, held in memory. */
async function readWhole(source: ChunkSource, file: string): Promise<{ block: RowBlock; badRows: BadRowReport }> {
  const blocks: RowBlock[] = [];
  const badRows = await source.read(file, async (block) => void blocks.push(block));
  return { block: concatBlocks(blocks), badRows };
}

/**
 * Reads the training file: into memory while it fits `limit` rows; past it, into a row cache on disk (the rows read
 * so far go there first). A file that evidently won't fit (estimated from the line length of its first MiB) goes to
 * disk from the first chunk, and a valid cache of a file too big to hold is used without parsing the text at all:
 * the home's, or else (for a file that evidently won't fit) the shared store's (RANKWRIGHT_STORE; not `fromStore` when
 * rebuilding a cache that failed its checks). A cache parsed here is shared through the store in the background.
 */
async function readTrain(train: TrainSource, limit: number, fromStore = true): Promise<TrainRead> {
  const { cacheOptions } = train;
  const source = await sourceIdentity(train.file).catch(() => null);
  // No identity (missing file, ...): the reader below says what is wrong with the file.
  if (!source) return readWhole({ read: (file, onChunk) => train.read(file, onChunk, train.maxRows) }, train.file);
  const cachePath = rowCachePath(train.file, cacheOptions);
  const existing = await RowCacheReader.open(cachePath, source, cacheOptions).catch((e) => {
    if (e instanceof RowCacheInvalid) return null;
    throw e;
  });
  if (existing && existing.rows > limit) return { onDisk: existing, badRows: existing.trailer.badRows, origin: 'home' };
  await existing?.close();

  const estimated = Math.min(await estimateRows(source), train.maxRows ?? Infinity);
  const toDisk = estimated > limit * 1.1;
  // The store is asked only about a file that evidently won't fit: a lookup hashes the whole file.
  const fetched = fromStore && toDisk ? await fetchSharedRowCache(cachePath, source, cacheOptions, limit) : undefined;
  if (fetched) return { onDisk: fetched, badRows: fetched.trailer.badRows, origin: 'store' };
  let writer: RowCacheWriter | null = toDisk ? new RowCacheWriter(cachePath, train.widths, train.weighted) : null;
  let blocks: RowBlock[] = [];
  let held = 0;
  let badRows: BadRowReport;
  try {
    badRows = await train.read(
      train.file,
      async (block) => {
        if (writer) {
          await writer.append(block);
          return;
        }
        blocks.push(block);
        held += block.rows;
        if (held > limit) {
          writer = new RowCacheWriter(cachePath, train.widths, train.weighted);
          for (const b of blocks) await writer.append(b);
          blocks = [];
        }
      },
      train.maxRows,
    );
    if (!writer) return { block: concatBlocks(blocks), badRows };
    await (writer as RowCacheWriter).finish({ source, options: cacheOptions, badRows });
  } catch (e) {
    await (writer as RowCacheWriter | null)?.abort();
    throw e;
  }
  const reader = await RowCacheReader.open(cachePath, source, cacheOptions);
  if (reader.rows > limit) {
    shareRowCache(reader, source, cacheOptions);
    return { onDisk: reader, badRows, origin: 'parsed' };
  }
  // The estimate sent a file that fits to disk (long lines at its head): hold it after all, as when it was read.
  const chunks: RowBlock[] = [];
  const buffer = reader.newChunkBuffer();
  for (let c = 0; c < reader.chunks; c++) chunks.push(sliceRows(await reader.readChunk(c, buffer), 0, reader.chunkRowsOf(c)));
  return { block: concatBlocks(chunks), badRows };
}

/** Training rows a declared table probably holds: Parquet says in its footer; CSV and TSV are estimated as text. */
async function estimateDeclaredRows(config: DeclaredData): Promise<number> {
  const source = await sourceIdentity(config.train).catch(() => null);
  if (!source) return 0; // the read says what is wrong with the file
  const rows = config.format === 'parquet' ? await parquetRowCount(config.train) : await estimateRows(source);
  return Math.min(rows, config.maxTrainRows ?? Infinity);
}

/** Rows a file probably holds: its size over the mean line length of its first MiB. */
async function estimateRows(source: SourceIdentity): Promise<number> {
  const fd = await fs.promises.open(source.path, 'r');
  try {
    const head = Buffer.alloc(Math.min(source.size, 1 << 20));
    const { bytesRead } = await fd.read(head, 0, head.length, 0);
    let lines = 0;
    for (let i = 0; i < bytesRead; i++) if (head[i] === 10) lines++;
    return lines === 0 ? 1 : Math.round((source.size * lines) / bytesRead);
  } finally {
    await fd.close();
  }
}

/**
 * The dataset of a training file in a row cache: one pass over the cache checks every chunk, collects the training
 * rows' labels, which fields are active, and an evenly spaced sample of rows (`train`); the validation rows (the
 * file, or the cache's tail) and test rows are read into memory. A cache that fails its checks is rebuilt once.
 */
async function loadOnDisk(
  config: CriteoData | DeclaredData,
  fingerprint: string,
  train: TrainSource,
  reader: RowCacheReader,
  trainBad: BadRowReport,
  origin: RowCacheOrigin,
  routed?: { validation?: RowBlock; test?: RowBlock },
): Promise<LoadedDataset> {
  if (reader.rows === 0)
    throw new TrainingFailure('bad-data', `${config.train}: no training rows (${'split' in config ? 'check the split dates' : 'an empty file'})`);
  // Validation rows held apart (a validation file, or a time split's): every cached row trains.
  const heldApart = config.validation !== undefined || routed?.validation !== undefined;
  const scanOf = (r: RowCacheReader) => scanCache(r, heldApart ? 0 : config.validationFraction);
  let scanned: Awaited<ReturnType<typeof scanCache>>;
  try {
    scanned = await scanOf(reader);
  } catch (e) {
    await reader.close();
    if (!(e instanceof RowCacheInvalid)) throw e;
    // A corrupt chunk: rebuild from the text (limit 0 forces the cache; the rebuilt one is checked once more). Not from
    // the store: a copy fetched from there may be what was corrupt (the rebuilt one replaces it there).
    await fs.promises.rm(reader.file, { force: true });
    const again = await readTrain(train, 0, false);
    if (!('onDisk' in again)) throw new Error('row cache rebuild did not produce a cache', { cause: e });
    reader = again.onDisk;
    trainBad = again.badRows;
    origin = again.origin;
    scanned = await scanOf(reader);
  }
  const reports: FileBadRows[] = [{ split: 'train', file: config.train, report: trainBad }];
  let validation = routed?.validation ?? scanned.tail;
  if (config.validation) {
    const v = await readWhole(train, config.validation);
    validation = v.block;
    reports.push({ split: 'validation', file: config.validation, report: v.badRows });
  }
  // The test rows: a time split's, or the test file's.
  let test: { block: RowBlock };
  if (routed?.test) test = { block: routed.test };
  else {
    const read = await readWhole(train, config.test!);
    reports.push({ split: 'test', file: config.test!, report: read.badRows });
    test = read;
  }
  return {
    kind: 'criteo',
    fingerprint,
    config,
    train: scanned.sample,
    trainOnDisk: { cache: reader, rows: scanned.trainRows, labels: scanned.labels, origin },
    validation,
    test: test.block,
    valueNames: train.valueNames,
    active: scanned.active,
    badRows: summarizeBadRows(reports),
  };
}

/** One pass over a cache: its training rows' labels, active fields, a sample, and its last `validationFraction` rows. */
async function scanCache(reader: RowCacheReader, validationFraction: number) {
  const total = reader.rows;
  // Without validation rows held apart, the last validationFraction of the rows validates (as when held in memory).
  const trainRows = Math.floor(total * (1 - validationFraction));
  const labels = new Uint8Array(trainRows);
  const sampleRows = Math.min(trainRows, TRAIN_SAMPLE_ROWS);
  const { dense: D, categorical: C } = reader.widths;
  const sample = emptyBlock(sampleRows, reader.widths, reader.weighted);
  const tailBlocks: RowBlock[] = [];
  const cat = new Uint8Array(C);
  const den = new Uint8Array(D);
  const buffer = reader.newChunkBuffer();
  let next = 0; // next sample index
  for (let c = 0, start = 0; c < reader.chunks; c++) {
    const block = await reader.readChunk(c, buffer);
    const trainEnd = Math.max(0, Math.min(block.rows, trainRows - start));
    if (trainEnd > 0) labels.set(block.labels.subarray(0, trainEnd), start);
    for (let r = 0; r < trainEnd; r++) {
      for (let f = 0; f < C; f++) if (block.categorical[r * C + f] !== MISSING_CATEGORICAL) cat[f] = 1;
      for (let f = 0; f < D; f++) if (!Number.isNaN(block.dense[r * D + f])) den[f] = 1;
    }
    // Sample row i is training row ⌊i·trainRows/sampleRows⌋ (evenly spaced, in order).
    for (; next < sampleRows; next++) {
      const row = Math.floor((next * trainRows) / sampleRows);
      if (row >= start + trainEnd) break;
      const r = row - start;
      sample.labels[next] = block.labels[r];
      sample.dense.set(block.dense.subarray(r * D, (r + 1) * D), next * D);
      sample.categorical.set(block.categorical.subarray(r * C, (r + 1) * C), next * C);
      if (sample.weights) sample.weights[next] = block.weights![r];
    }
    if (trainEnd < block.rows) tailBlocks.push(sliceRows(block, trainEnd, block.rows));
    start += block.rows;
  }
  return {
    trainRows,
    labels,
    sample,
    tail: concatBlocks(tailBlocks.length ? tailBlocks : [sliceRows(sample, 0, 0)]),
    active: { categorical: [...cat.keys()].filter((f) => cat[f]), dense: [...den.keys()].filter((f) => den[f]) },
  };
}

interface FileBadRows {
  split: BadRows['files'][number]['split'];
  file: string;
  report: BadRowReport;
}

/** The reader's per-file reports as one small summary: counts per file, the first examples in reading order. */
export function summarizeBadRows(reports: FileBadRows[]): BadRows {
  return {
    count: reports.reduce((n, r) => n + r.report.count, 0),
    files: reports.map((r) => ({ split: r.split, file: r.file, rows: r.report.rowsSeen, badRows: r.report.count })),
    examples: reports.flatMap((r) => r.report.examples).slice(0, BAD_ROW_EXAMPLES_KEPT),
  };
}

export function categoricalFieldIndex(name: string): number {
  const field = fieldOfName(name);
  if (field?.kind !== 'categorical') throw new Error(`${JSON.stringify(name)} is not a categorical field (expected C1, C2, …)`);
  return field.index;
}
