import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CampaignInput, DataConfig, ModelFamily, type ExperimentResult } from '../../contracts';
import { loadDataset } from '../../ranking';
import { writeCriteoTsv } from '../../ranking/data/criteo-writer';
import { BENCH_DIR } from '../peers/python-venv';
import { DEFAULT_VALIDATION_FRACTION } from '../quality/scenarios';
import type { ScenarioFiles } from '../quality/report';
import { fetchRealLogs, REAL_LOGS, type RealLogResult } from '../real-logs/fetch';
import { runExperiment } from './campaign';
import type { PeerRun } from './report';

/**
 * The real public logs in the agent bench (issue 27, item 4): `real:NAME` for each log bench/real-logs/fetch.ts
 * fetches (pinned PyPI packages, sha256-checked). Campaigns read its declared-CSV data config (time split) through
 * the real loader, as a user's campaign would. The peers read Criteo-layout TSVs, so the bench writes them from what
 * that loader made of the config: the same train / validation / test rows (the time split, validation the latest 10%
 * of train), each column in the engine slot the schema gave it (a multiCategorical column in its slots, one kept
 * value each). No planted truth: no oracle NE, no gain captured, no fresh rows.
 */

export const REAL_PREFIX = 'real:';
export const REAL_SCENARIOS: string[] = REAL_LOGS.map((s) => `${REAL_PREFIX}${s.name}`);
export const REAL_LOGS_DIR = path.join(BENCH_DIR, 'real-logs');

export function isRealScenario(name: string): boolean {
  return REAL_SCENARIOS.includes(name);
}

export interface RealScenario {
  /** The declared-CSV data config every campaign and family default reads (train path absolute). */
  data: DataConfig;
  /** Criteo-layout TSVs of the loader's three splits, for the peers (validation given as a file). */
  files: ScenarioFiles;
  /** What was fetched: the package, the CSV's sha256, the split. */
  source: { package: string; file: string; csvSha256: string; testFrom: string; title: string };
}

/** The fetched log (reused while its CSV's sha256 is the one its summary.json recorded), else fetched now. */
async function fetched(name: string, dir: string, log: (line: string) => void): Promise<RealLogResult> {
  const summaryFile = path.join(dir, name, 'summary.json');
  if (fs.existsSync(summaryFile)) {
    const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as RealLogResult;
    const csv = path.join(dir, name, `${name}.csv`);
    if (fs.existsSync(csv) && sha256File(csv) === summary.csvSha256) {
      log(`${name}: reusing ${csv} (sha256 ${summary.csvSha256.slice(0, 12)}…)`);
      return summary;
    }
  }
  log(`${name}: fetching into ${dir} (bench/real-logs/fetch.ts)`);
  const [r] = await fetchRealLogs({ out: dir, only: [name], check: false, log: (s) => log(s.trim()) });
  return r;
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * A real log, ready for the bench: fetched (or reused) under `dir` (default .bench/real-logs), its data config, and
 * the peers' TSVs (written once per CSV: `peers-<sha256 prefix>/`).
 */
export async function ensureRealScenario(scenario: string, opts: { dir?: string; log?: (line: string) => void } = {}): Promise<RealScenario> {
  const log = opts.log ?? (() => {});
  if (!isRealScenario(scenario)) throw new Error(`unknown real log ${scenario} (known: ${REAL_SCENARIOS.join(', ')})`);
  const name = scenario.slice(REAL_PREFIX.length);
  const dir = path.resolve(opts.dir ?? REAL_LOGS_DIR);
  const r = await fetched(name, dir, log);
  // The path the config carries was relative to the fetch's working directory: make it absolute.
  const data = DataConfig.parse({ ...r.config, train: path.join(dir, name, `${name}.csv`) });
  const peersDir = path.join(dir, name, `peers-${r.csvSha256.slice(0, 12)}`);
  const meta = path.join(peersDir, 'meta.json');
  let rows: ScenarioFiles['rows'];
  if (fs.existsSync(meta)) rows = (JSON.parse(fs.readFileSync(meta, 'utf8')) as { rows: ScenarioFiles['rows'] }).rows;
  else {
    const started = performance.now();
    const d = await loadDataset(data);
    fs.mkdirSync(peersDir, { recursive: true });
    for (const split of ['train', 'validation', 'test'] as const) {
      const file = path.join(peersDir, `${split}.tsv`);
      await writeCriteoTsv(`${file}.tmp`, d[split], d.valueNames);
      fs.renameSync(`${file}.tmp`, file);
    }
    rows = { train: d.train.rows, validation: d.validation.rows, test: d.test.rows };
    fs.writeFileSync(meta, `${JSON.stringify({ csvSha256: r.csvSha256, config: data, rows }, null, 2)}\n`);
    log(`${name}: the loader's splits written as Criteo TSVs for the peers in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return {
    data,
    files: {
      name: scenario,
      source: `real public log (bench/real-logs/fetch.ts: ${r.source.package})`,
      description: `${r.title}; time split, test from ${r.testFrom}`,
      dir: path.join(dir, name),
      train: path.join(peersDir, 'train.tsv'),
      validation: path.join(peersDir, 'validation.tsv'),
      test: path.join(peersDir, 'test.tsv'),
      rows,
      validationFraction: DEFAULT_VALIDATION_FRACTION,
    },
    source: { package: r.source.package, file: r.source.file, csvSha256: r.csvSha256, testFrom: r.testFrom, title: r.title },
  };
}

/** The families whose default each real log is measured with. */
export const DEFAULT_FAMILIES: ModelFamily[] = [...ModelFamily.options];

/**
 * One full run of a family's default config (`{"model":{"family":F}}`, what `rankwright train` trains with it: the same
 * trainer, on a training thread as a worker runs it), on the scenario's data; its test NE from the product's metrics.
 */
export async function runFamilyDefault(family: ModelFamily, data: DataConfig, opts: { campaignId: string }): Promise<PeerRun> {
  const id = `default-${family}`;
  const label = `Rankwright ${family} (its defaults, one full run)`;
  const started = performance.now();
  // As a campaign reads a config: the model and the segment field in engine terms (CampaignInput's transform).
  const input = CampaignInput.parse({ campaignId: opts.campaignId, data, baseline: { family }, approvers: ['bench'], agents: 'heuristic' });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `rankwright-bench-${id}-`));
  const previousHome = process.env.RANKWRIGHT_HOME;
  process.env.RANKWRIGHT_HOME = home;
  let result: ExperimentResult;
  try {
    result = await runExperiment({
      experimentId: `${opts.campaignId}-${id}`,
      campaignId: opts.campaignId,
      phase: 'default',
      data: input.data,
      proposal: {
        model: input.baseline,
        hypothesis: {
          title: `${family} defaults`,
          technique: 'baseline',
          rationale: 'The family as shipped.',
          expectedEffect: 'reference NE',
          parents: [],
        },
      },
      segmentField: input.segmentField,
    });
  } finally {
    if (previousHome === undefined) delete process.env.RANKWRIGHT_HOME;
    else process.env.RANKWRIGHT_HOME = previousHome;
    fs.rmSync(home, { recursive: true, force: true });
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const m = result.metrics;
  if (result.status !== 'succeeded' || !m)
    return { id, label, kind: 'rankwright', status: 'failed', wallSeconds, note: result.failure?.message ?? 'no metrics' };
  return {
    id,
    label,
    kind: 'rankwright',
    status: 'ok',
    wallSeconds,
    trainSeconds: result.trainSeconds,
    fullRunEquivalents: result.attempts.length,
    metrics: {
      ne: m.ne,
      neStdErr: result.neStdErr ?? NaN,
      auc: m.auc,
      logloss: m.logloss,
      calibration: m.calibration,
      ctr: m.ctr,
      rows: m.examples,
    },
    ...(result.validationMetrics ? { detail: { validationNe: result.validationMetrics.ne } } : {}),
    ...(result.attempts.length > 1 ? { note: `${result.attempts.length} attempts (the retry policy)` } : {}),
  };
}
