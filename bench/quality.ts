/**
 * Quality benchmark: on each wide scenario, in one run, side by side — the textbook FTRL script, Rankwright's
 * TEXTBOOK_FTRL config and its lr / fm / dcn with defaults (through `rankwright train` + `rankwright score`), and
 * LightGBM with native categoricals and early stopping (bench venv .bench/venv, created on first use). Every
 * contender writes test predictions; one function measures them all. Writes bench/results/quality.md and .json.
 *
 *   npx tsx bench/quality.ts [--scenarios a,b] [--rows N] [--families lr,fm,dcn,textbook-ftrl]
 *                            [--peers ftrl-script,lightgbm] [--cap-seconds 1800] [--results DIR] [--parallel 1]
 *
 * --scenarios: the wide planted Criteo-layout scenarios by default; `wide-declared` (a 104-column CSV read by its
 * declared schema, bench/quality/wide-declared.ts) when named.
 * --rows N: quick run on N train rows (separate data directory; the report says so). --cap-seconds: per contender
 * (all its processes); a capped contender is stopped and reported as capped, never as a result. --parallel N: scenarios
 * run N at a time (each scenario's contenders still one after another); quality is unaffected, wall times are then
 * shared-machine times (the report gives the load average).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { FAMILIES, PEERS, type RunContext } from './quality/contenders';
import { checkGoals, goalMark, qualityMarkdown, type QualityReport, type ScenarioResult } from './quality/report';
import { DEFAULT_SCENARIOS, QUALITY_SCENARIO_NAMES, ensureScenarioFiles } from './quality/scenarios';
import { BENCH_DIR, REPO_ROOT, ensurePythonVenv } from './peers/python-venv';
import { benchStamp, git, namedList, sampleLoad, writeResultFiles } from './stamp';

const log = (line: string) => process.stderr.write(`[quality] ${line}\n`);

function list(value: string | undefined, all: string[], what: string, defaults = all): string[] {
  return namedList(value || undefined, all, what) ?? defaults;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      rows: { type: 'string' },
      families: { type: 'string' },
      peers: { type: 'string' },
      'cap-seconds': { type: 'string', default: '1800' },
      results: { type: 'string', default: path.join(REPO_ROOT, 'bench', 'results') },
      parallel: { type: 'string', default: '1' },
      // Re-checks the goals of the results already in --results and rewrites quality.md, running nothing: for when
      // the goal logic or the report changed after a long run.
      regoal: { type: 'boolean', default: false },
    },
  });
  if (values.regoal) return regoal(values.results!);
  const scenarios = list(values.scenarios, QUALITY_SCENARIO_NAMES, 'scenario', DEFAULT_SCENARIOS);
  const families = list(
    values.families,
    FAMILIES.map((f) => f.id),
    'family',
  );
  const peers = list(
    values.peers,
    PEERS.map((p) => p.id),
    'peer',
  );
  const rows = values.rows ? Number(values.rows) : undefined;
  if (rows !== undefined && !(Number.isInteger(rows) && rows >= 1000)) throw new Error(`--rows expects an integer ≥ 1000, got ${values.rows}`);
  const parallel = Number(values.parallel);
  if (!(Number.isInteger(parallel) && parallel >= 1)) throw new Error(`--parallel expects an integer ≥ 1, got ${values.parallel}`);
  const capSeconds = Number(values['cap-seconds']);
  if (!(capSeconds > 0)) throw new Error(`--cap-seconds expects a positive number, got ${values['cap-seconds']}`);

  const report: QualityReport = {
    ...benchStamp(),
    options: { scenarios, rows, families, peers, capSeconds, parallel },
    scenarios: [],
  };

  let python: string | undefined;
  let pythonError: string | undefined;
  if (peers.includes('lightgbm')) {
    try {
      const venv = ensurePythonVenv({ log });
      python = venv.python;
      report.python = { versions: venv.versions, venvSeconds: venv.seconds, venvInstalled: venv.installed };
    } catch (e) {
      pythonError = (e as Error).message.split('\n')[0];
      report.python = { error: pythonError };
      log(`bench venv unavailable, LightGBM will be reported as failed: ${(e as Error).message}`);
    }
  }

  // The product's artifacts for this run only: a fresh RANKWRIGHT_HOME under .bench/.
  const rankwrightHome = path.join(BENCH_DIR, 'rankwright-home');
  fs.rmSync(rankwrightHome, { recursive: true, force: true });
  fs.mkdirSync(rankwrightHome, { recursive: true });

  const contenders = [...PEERS.filter((p) => peers.includes(p.id)), ...FAMILIES.filter((f) => families.includes(f.id))];
  // Scenarios in order of the list, `parallel` at a time; the report keeps the list's order whatever finishes first.
  const done: (ScenarioResult | undefined)[] = scenarios.map(() => undefined);
  let next = 0;
  const runScenarios = async () => {
    while (next < scenarios.length) {
      const i = next++;
      done[i] = await runScenario(scenarios[i]);
      report.scenarios = done.filter((r): r is ScenarioResult => r !== undefined);
      writeResults(report, values.results!); // after every scenario: a long run leaves what it has
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, scenarios.length) }, runScenarios));
  log(`wrote ${path.join(values.results!, 'quality.md')} and quality.json`);

  async function runScenario(name: string): Promise<ScenarioResult> {
    const files = await ensureScenarioFiles(name, { rows, log });
    const workDir = path.join(BENCH_DIR, 'runs', path.basename(files.dir));
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.mkdirSync(workDir, { recursive: true });
    const ctx: RunContext = { files, workDir, capSeconds, python, pythonError, rankwrightHome, log };
    const result: ScenarioResult = {
      scenario: {
        name: files.name,
        source: files.source,
        description: files.description,
        dir: path.relative(REPO_ROOT, files.dir),
        rows: files.rows,
        validationFraction: files.validationFraction,
        oracleNe: files.oracleNe,
      },
      runs: [],
      goals: [],
    };
    for (const c of contenders) {
      log(`${name}: ${c.id} …`);
      sampleLoad(report);
      const r = await c.run(ctx);
      sampleLoad(report);
      result.runs.push(r);
      log(
        `${name}: ${c.id} ${r.status}${r.metrics ? ` NE ${r.metrics.ne.toFixed(5)} AUC ${r.metrics.auc.toFixed(4)} calibration ${r.metrics.calibration.toFixed(3)}` : ''} in ${r.wallSeconds.toFixed(1)} s${r.note ? ` (${r.note})` : ''}`,
      );
    }
    result.goals = checkGoals(result.runs);
    for (const g of result.goals) log(`${name}: ${goalMark(g.status)} ${g.goal}: ${g.detail}`);
    return result;
  }
}

function regoal(dir: string): void {
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'quality.json'), 'utf8')) as QualityReport;
  for (const s of report.scenarios) s.goals = checkGoals(s.runs);
  report.goalsRecheckedAt = { commit: git(['rev-parse', 'HEAD']) || 'unknown', date: new Date().toISOString() };
  writeResults(report, dir);
  log(`goals re-checked in ${path.join(dir, 'quality.md')} and quality.json (runs unchanged)`);
}

function writeResults(report: QualityReport, dir: string): void {
  writeResultFiles(dir, [
    ['quality.json', JSON.stringify(report, null, 2) + '\n'],
    ['quality.md', qualityMarkdown(report)],
  ]);
}

main().then(
  () => process.exit(0),
  (e) => {
    log(`failed: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
