import * as path from 'node:path';
import { CriteoData } from '../../contracts';
import { ensureWideScenario } from '../../ranking/data/wide-planted';
import {
  BENCH_TRUST_SCENARIOS,
  BENCH_WIDE_SCENARIOS,
  WIDE_SCENARIOS,
  isWideScenarioName,
  resolveWideScenario,
} from '../../ranking/data/wide-scenarios';
import { BENCH_DIR, REPO_ROOT } from '../peers/python-venv';
import type { ScenarioFiles } from './report';
import { WIDE_DECLARED_SCENARIO, ensureWideDeclared, wideDeclaredOptions } from './wide-declared';

/**
 * The quality bench's data: the wide planted scenarios (ranking/data/wide-scenarios.ts, the same files and
 * meta.json `rankwright generate --scenario NAME` writes) under .bench/data/, generated once per machine and
 * reused while meta.json matches.
 */

export const DATA_DIR = path.join(BENCH_DIR, 'data');

/** Rankwright's own default: without validation.tsv it validates on the last fraction of train. */
export const DEFAULT_VALIDATION_FRACTION = CriteoData.parse({ format: 'criteo-tsv', train: 't', test: 't' }).validationFraction;

/** Every named Criteo-layout scenario, and the ones the bench runs by default (≥ 500k train rows each). */
export const SCENARIO_NAMES = Object.keys(WIDE_SCENARIOS);
/**
 * What the quality bench can run: those, and the wide declared table (bench/quality/wide-declared.ts: a team's own
 * 104-column CSV), which runs when named (`--scenarios wide-declared`). The other benches read Criteo's layout only.
 */
export const QUALITY_SCENARIO_NAMES = [...SCENARIO_NAMES, WIDE_DECLARED_SCENARIO];
export const DEFAULT_SCENARIOS: string[] = [...BENCH_WIDE_SCENARIOS];
/** Real logs' hard cases (rare clicks, drift, small data), each at its own size: the agent bench runs them too. */
export const TRUST_SCENARIOS: string[] = [...BENCH_TRUST_SCENARIOS];

/**
 * Makes (or reuses) a scenario's files. `rows` overrides the train rows for a quick run (validation and test keep
 * their ratio to train, as `rankwright generate --rows` does); such data lives in its own directory. `dataDir`
 * replaces .bench/data (tests).
 */
export async function ensureScenarioFiles(
  name: string,
  opts: { rows?: number; dataDir?: string; log?: (line: string) => void } = {},
): Promise<ScenarioFiles> {
  const log = opts.log ?? (() => {});
  if (name === WIDE_DECLARED_SCENARIO) return ensureDeclaredFiles(opts.rows, opts.dataDir ?? DATA_DIR, log);
  if (!isWideScenarioName(name)) throw new Error(`unknown scenario ${JSON.stringify(name)} (known: ${QUALITY_SCENARIO_NAMES.join(', ')})`);
  const dir = path.join(opts.dataDir ?? DATA_DIR, opts.rows ? `${name}-rows${opts.rows}` : name);
  log(`${name}: files in ${path.relative(REPO_ROOT, dir)} (generated once, then reused)`);
  const { meta, reused, seconds } = await ensureWideScenario(resolveWideScenario(name, { rows: opts.rows }), dir);
  log(`${name}: ${reused ? 'reused' : `generated in ${seconds.toFixed(0)} s`}`);
  return {
    name,
    source: 'wide planted generator (ranking/data/wide-planted.ts)',
    description: meta.options.description,
    dir,
    train: path.join(dir, meta.data.train),
    validation: meta.data.validation ? path.join(dir, meta.data.validation) : undefined,
    test: path.join(dir, meta.data.test),
    rows: { train: meta.splits.train.rows, validation: meta.splits.validation?.rows ?? 0, test: meta.splits.test.rows },
    validationFraction: DEFAULT_VALIDATION_FRACTION,
    oracleNe: meta.oracle.ne,
  };
}

function ensureDeclaredFiles(rows: number | undefined, dataDir: string, log: (line: string) => void): ScenarioFiles {
  const name = WIDE_DECLARED_SCENARIO;
  const dir = path.join(dataDir, rows ? `${name}-rows${rows}` : name);
  log(`${name}: files in ${path.relative(REPO_ROOT, dir)} (generated once, then reused)`);
  const { meta, reused, seconds } = ensureWideDeclared(wideDeclaredOptions(rows), dir);
  log(`${name}: ${reused ? 'reused' : `generated in ${seconds.toFixed(0)} s`}`);
  return {
    name,
    source: 'wide declared generator (bench/quality/wide-declared.ts)',
    description: meta.options.description,
    dir,
    train: path.join(dir, meta.data.train),
    validation: path.join(dir, meta.data.validation),
    test: path.join(dir, meta.data.test),
    rows: { train: meta.splits.train.rows, validation: meta.splits.validation.rows, test: meta.splits.test.rows },
    validationFraction: DEFAULT_VALIDATION_FRACTION,
    oracleNe: meta.oracle.ne,
    declared: { format: meta.data.format, schema: meta.data.schema },
  };
}
