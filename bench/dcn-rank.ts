/**
 * DCN cross-layer rank sweep: on each wide planted scenario, the default DCN trained with each `crossRank` (full and
 * low ranks) through the engine's own trainExperiment (validation early stopping and calibration included), side by
 * side: test NE, validation NE, regret against the scenario's oracle, and the training run's CPU-seconds
 * (process.cpuUsage around trainExperiment: load, encode, train, evaluate and score, so a shared machine's load does
 * not count the way wall time would). This is how the default rank is chosen (contracts/model.ts, CrossRank).
 * Prints a markdown table and JSON lines; writes nothing under bench/results.
 *
 *   npx tsx bench/dcn-rank.ts [--scenarios a,b] [--ranks full,64,32,16] [--rows 100000] [--seed 1] [--cross-layers N]
 *
 * --cross-layers: every run's crossLayers (default: the config default); the rank is the only other change.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DcnConfig, type CrossRank } from '../contracts';
import { ensureScenarioFiles, SCENARIO_NAMES } from './quality/scenarios';
import { BENCH_WIDE_SCENARIOS } from '../ranking/data/wide-scenarios';
import { namedList } from './stamp';

interface RankRun {
  scenario: string;
  rank: CrossRank;
  crossLayers: number;
  testNe: number;
  validationNe: number;
  oracleNe: number;
  cpuSeconds: number;
  trainRows: number;
}

function parseRank(text: string): CrossRank {
  if (text === 'full') return 'full';
  const r = Number(text);
  if (!Number.isInteger(r) || r < 1) throw new Error(`--ranks: ${JSON.stringify(text)} is neither "full" nor a positive integer`);
  return r;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      ranks: { type: 'string', default: 'full,64,32,16' },
      rows: { type: 'string', default: '100000' },
      seed: { type: 'string', default: '1' },
      'cross-layers': { type: 'string' },
    },
  });
  const scenarios = namedList(values.scenarios || undefined, SCENARIO_NAMES, 'scenario') ?? [...BENCH_WIDE_SCENARIOS];
  const ranks = values.ranks!.split(',').map((r) => parseRank(r.trim()));
  const rows = Number(values.rows);
  const crossLayers = values['cross-layers'] === undefined ? {} : { crossLayers: Number(values['cross-layers']) };
  // The engine's artifacts for this run only, in a throw-away home (set before the engine is loaded).
  process.env.RANKWRIGHT_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-dcn-rank-'));
  const { trainExperiment } = await import('../ranking');
  const runs: RankRun[] = [];
  for (const name of scenarios) {
    const files = await ensureScenarioFiles(name, { rows, log: (l) => process.stderr.write(`[dcn-rank] ${l}\n`) });
    for (const rank of ranks) {
      const c0 = process.cpuUsage();
      const result = await trainExperiment({
        data: { format: 'criteo-tsv', train: files.train, test: files.test, ...(files.validation ? { validation: files.validation } : {}) },
        model: { family: 'dcn', crossRank: rank, seed: Number(values.seed), ...crossLayers },
      });
      const used = process.cpuUsage(c0);
      const run: RankRun = {
        scenario: name,
        rank,
        crossLayers: crossLayers.crossLayers ?? DcnConfig.parse({ family: 'dcn' }).crossLayers,
        testNe: result.metrics.ne,
        validationNe: result.validationMetrics?.ne ?? result.validationNe,
        oracleNe: files.oracleNe ?? NaN,
        cpuSeconds: (used.user + used.system) / 1e6,
        trainRows: files.rows.train,
      };
      runs.push(run);
      process.stdout.write(`${JSON.stringify(run)}\n`);
    }
  }
  fs.rmSync(process.env.RANKWRIGHT_HOME, { recursive: true, force: true });
  process.stdout.write(`\n${rankTable(runs, ranks)}\n`);
}

/** One row per scenario: each rank's test NE (and its difference from full rank where full ran) and CPU-seconds. */
function rankTable(runs: RankRun[], ranks: CrossRank[]): string {
  const head = `| scenario | oracle NE | ${ranks.map((r) => `rank ${r}: test NE (Δ vs full) / validation NE / CPU-s`).join(' | ')} |`;
  const lines = [head, `|---|---:|${ranks.map(() => '---:|').join('')}`];
  for (const scenario of [...new Set(runs.map((r) => r.scenario))]) {
    const mine = runs.filter((r) => r.scenario === scenario);
    const full = mine.find((r) => r.rank === 'full');
    const cells = ranks.map((rank) => {
      const r = mine.find((x) => x.rank === rank);
      if (!r) return '—';
      const delta = full && rank !== 'full' ? ` (${r.testNe - full.testNe >= 0 ? '+' : ''}${(r.testNe - full.testNe).toFixed(4)})` : '';
      return `${r.testNe.toFixed(4)}${delta} / ${r.validationNe.toFixed(4)} / ${r.cpuSeconds.toFixed(0)}`;
    });
    lines.push(`| ${scenario} | ${mine[0].oracleNe.toFixed(4)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
