import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { BAD_ROW_EXAMPLES_KEPT, CATEGORICAL_FIELDS, CriteoData, DataConfig, type BadRows, type DataConfigInput } from '../../contracts';
import { parseOrExplain } from '../../contracts/errors';
import { BadRowReport, assertSafePath, readCriteoFile } from './criteo-reader';
import { plantedScenario } from './planted';
import { RowBlock, ValueNames, activeFields, newValueNames, sliceRows } from './rows';

/** A dataset ready for experiments: three splits in the shared row representation, plus what is known about it. */
export interface LoadedDataset {
  kind: 'planted' | 'criteo';
  fingerprint: string;
  config: DataConfig;
  train: RowBlock;
  validation: RowBlock;
  test: RowBlock;
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
  const { train, test, validation, strict: _strict, ...options } = config;
  h.update('criteo\n' + canonicalJson(options));
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
    const fd = await fs.promises.open(file, 'r');
    try {
      const chunk = Buffer.alloc(Math.min(st.size, 1 << 20));
      await fd.read(chunk, 0, chunk.length, 0);
      h.update(chunk);
      if (st.size > chunk.length) {
        await fd.read(chunk, 0, chunk.length, st.size - chunk.length);
        h.update(chunk);
      }
    } finally {
      await fd.close();
    }
  }
  return `criteo:${h.digest('hex').slice(0, 32)}`;
}

const CACHE_SIZE = 2;
const cache = new Map<string, Promise<LoadedDataset>>();

/**
 * Loads (or generates) a dataset, cached per process by fingerprint (LRU of the last two): a worker runs many
 * experiments on the same data and should read or generate it once.
 */
export async function loadDataset(input: DataConfigInput | DataConfig): Promise<LoadedDataset> {
  const config = parseOrExplain(DataConfig, input, 'data config');
  const fingerprint = await dataFingerprint(config);
  // A strict load fails where a lenient one skips: they are cached apart (same fingerprint, same rows when both load).
  const key = 'strict' in config && config.strict ? `${fingerprint}:strict` : fingerprint;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const loading = ('planted' in config ? loadPlanted(config, fingerprint) : loadCriteo(config, fingerprint)).catch((e) => {
    cache.delete(key);
    throw e;
  });
  cache.set(key, loading);
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return loading;
}

export function clearDatasetCache(): void {
  cache.clear();
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

async function loadCriteo(config: CriteoData, fingerprint: string): Promise<LoadedDataset> {
  const valueNames = newValueNames();
  const opts = { maxBadRowFraction: config.maxBadRowFraction, strict: !!config.strict, valueNames };
  const train = await readCriteoFile(config.train, { ...opts, maxRows: config.maxTrainRows });
  let trainBlock = train.block;
  let validation: RowBlock;
  const reports: FileBadRows[] = [{ split: 'train', file: config.train, report: train.badRows }];
  if (config.validation) {
    const v = await readCriteoFile(config.validation, opts);
    validation = v.block;
    reports.push({ split: 'validation', file: config.validation, report: v.badRows });
  } else {
    // The last validationFraction of train, by position (Criteo files are in time order: validate on the latest).
    const cut = Math.floor(trainBlock.rows * (1 - config.validationFraction));
    validation = sliceRows(trainBlock, cut, trainBlock.rows);
    trainBlock = sliceRows(trainBlock, 0, cut);
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
  const i = CATEGORICAL_FIELDS.indexOf(name);
  if (i < 0) throw new Error(`${JSON.stringify(name)} is not a categorical field (expected C1..C26)`);
  return i;
}
