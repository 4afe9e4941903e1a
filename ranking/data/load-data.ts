import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { CATEGORICAL_FIELDS, CriteoData, DataConfig, type DataConfigInput } from '../../contracts';
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
  badRows: BadRowReport[];
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
  const { train, test, validation, ...options } = config;
  h.update('criteo\n' + canonicalJson(options));
  for (const [role, file] of [['train', train], ['validation', validation], ['test', test]] as const) {
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
  const hit = cache.get(fingerprint);
  if (hit) {
    cache.delete(fingerprint);
    cache.set(fingerprint, hit);
    return hit;
  }
  const loading = ('planted' in config ? loadPlanted(config, fingerprint) : loadCriteo(config, fingerprint)).catch((e) => {
    cache.delete(fingerprint);
    throw e;
  });
  cache.set(fingerprint, loading);
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
    badRows: [],
  };
}

async function loadCriteo(config: CriteoData, fingerprint: string): Promise<LoadedDataset> {
  const valueNames = newValueNames();
  const opts = { maxBadRowFraction: config.maxBadRowFraction, valueNames };
  const train = await readCriteoFile(config.train, { ...opts, maxRows: config.maxTrainRows });
  let trainBlock = train.block;
  let validation: RowBlock;
  const badRows = [train.badRows];
  if (config.validation) {
    const v = await readCriteoFile(config.validation, opts);
    validation = v.block;
    badRows.push(v.badRows);
  } else {
    // The last validationFraction of train, by position (Criteo files are in time order: validate on the latest).
    const cut = Math.floor(trainBlock.rows * (1 - config.validationFraction));
    validation = sliceRows(trainBlock, cut, trainBlock.rows);
    trainBlock = sliceRows(trainBlock, 0, cut);
  }
  const test = await readCriteoFile(config.test, opts);
  badRows.push(test.badRows);
  return {
    kind: 'criteo',
    fingerprint,
    config,
    train: trainBlock,
    validation,
    test: test.block,
    valueNames,
    active: activeFields(trainBlock),
    badRows,
  };
}

export function categoricalFieldIndex(name: string): number {
  const i = CATEGORICAL_FIELDS.indexOf(name);
  if (i < 0) throw new Error(`${JSON.stringify(name)} is not a categorical field (expected C1..C26)`);
  return i;
}
