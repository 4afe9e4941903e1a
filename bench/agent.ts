/**
 * `npm run bench:agent`: on each wide planted scenario (39 columns, known oracle NE) and each of real logs' hard cases
 * (the trust scenarios: rare clicks, drift, small data), in one run, side by side:
 *
 *   - the agent (strategy 'agent', heuristic sub-agents) with a budget of BUDGET experiments;
 *   - random search (strategy 'random') at the same budget, over several seeds (mean ± sd);
 *   - a constant predictor at the training click rate (what shipping nothing, keeping today's serving, scores);
 *   - the textbook FTRL script (bench/peers/textbook-ftrl.ts);
 *   - LightGBM tuned by Optuna's TPE sampler with BUDGET trials (bench/peers/optuna_lightgbm.py, bench venv);
 *   - when named in --peers (not by default), Vowpal Wabbit's FTRL, the textbook recipe (bench/peers/vw_ftrl.py).
 *
 * Campaigns run in process through the planner the workflow uses (bench/agent/campaign.ts) and read the scenario's
 * files through the real loader. A campaign's result is its recommendation, decided as the workflow decides it: on
 * validation, by the heuristic evaluator and the default floor, confirmed on test once (bench/agent/recommendation.ts).
 * Every contender is measured by its test NE from the product's metrics. Research's expected gains are compared with
 * the gains its runs measured on validation. Writes agent.json and agent.md (after every scenario, so an interrupted
 * run keeps what it finished) and prints the tables.
 *
 *   npx tsx bench/agent.ts [--scenarios a,b] [--rows N] [--seeds 5] [--budget 12] [--peers ftrl-script,optuna-lightgbm,vw-ftrl]
 *                          [--cap-seconds 14400] [--out DIR] [--data-dir DIR] [--families lr,fm]
 *                          [--probe-min-rows N] [--full] [--quick] [--render] [--real-logs] [--real-logs-dir DIR]
 *                          [--processes N] [--merge DIR,DIR] [--resume] [--progress DIR]
 *
 * Real public logs (issue 27): `real:open-bandit`, `real:movielens-100k`, `real:movielens-latest-small` (bench/agent/
 * real-logs.ts; fetched by bench/real-logs/fetch.ts into .bench/real-logs, or --real-logs-dir). A plain run ends with
 * them; --real-logs runs them alone (or adds them to --scenarios). On each, beside the agent, random search and the
 * peers (which read the loader's splits written as Criteo TSVs): each family's default, one full run each. Campaigns
 * there search lr, fm and dcn unless --families is given; --rows does not cut them. No oracle: gain and fresh rows n/a.
 *
 * By default the first four wide scenarios are cut to DEFAULT_SCALE (100k train rows, families lr and fm) and the
 * three trust scenarios run at their own size (their sizes are their point: small-data stays small): a few hours
 * here. --full runs the wide ones at their own size (500k train rows) over the product's whole search space (lr, fm,
 * dcn): many hours on a 2-core machine. --rows N: N train rows for every scenario, trust ones included (validation
 * and test keep their ratio; separate data directory). --budget: or BENCH_AGENT_BUDGET. --families lr,fm: the search
 * space's families for both strategies (a run that can't afford random search's dcn draws says so in its options).
 * --probe-min-rows: the agent's budget.probeMinRows. --quick: a smoke run (the first wide scenario at 3,000 rows and
 * small-data at its own 30,000; a trust scenario larger than that is cut to it; 2 seeds, budget 4) unless those are
 * given. --out: where agent.json/.md go (default bench/results). --render: rewrite agent.md from agent.json in --out.
 * --processes N: the scenarios dealt over N processes run at once (bench/agent/processes.ts), merged into one report
 * (--merge does the same by hand for runs started apart). --resume: continue the last run where it stopped — every
 * finished piece (a scenario's agent campaigns, each random seed, each peer, each family default) is kept in the
 * run's own folder (named by its commit and options) under --progress (default .bench/agent-progress, or
 * DIR/progress under --out DIR) and reused only by a run of the same commit and options (bench/agent/progress.ts);
 * without it a run starts over.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CriteoData, ModelFamily, type DataConfig } from '../contracts';
import { runBenchCampaign, type CampaignOutcome, type Strategy } from './agent/campaign';
import { ensureFreshRows, scoreArtifactOn, scoreConstant } from './agent/fresh';
import { DEFAULT_PEERS, PEER_IDS, runPeer, type PeerId } from './agent/peers';
import { runInProcesses, splitScenarios } from './agent/processes';
import { prepareProgress, RunProgress } from './agent/progress';
import { DEFAULT_FAMILIES, ensureRealScenario, isRealScenario, REAL_SCENARIOS, runFamilyDefault, type RealScenario } from './agent/real-logs';
import {
  agentMarkdown,
  failedCampaign,
  freshCheck,
  gainCaptured,
  goalLines,
  overallGoals,
  reach,
  scenarioGoals,
  scenarioResearch,
  summarizeCampaign,
  summarizeRandom,
  realTable,
  summaryTable,
  trustTable,
  warmStart,
  type AgentBenchReport,
  type AgentScenarioResult,
  type CampaignRun,
  type PeerRun,
} from './agent/report';
import { goalMark } from './quality/report';
import type { RunContext } from './quality/contenders';
import type { ScenarioFiles } from './quality/report';
import { DEFAULT_SCENARIOS, SCENARIO_NAMES, TRUST_SCENARIOS, ensureScenarioFiles } from './quality/scenarios';
import { isWideScenarioName, namedWideScenario } from '../ranking/data/wide-scenarios';
import { BENCH_DIR, REPO_ROOT, ensurePythonVenv } from './peers/python-venv';
import { benchStamp, namedList, sampleLoad, writeResultFiles } from './stamp';

const log = (line: string) => process.stderr.write(`[agent] ${line}\n`);

export const DEFAULT_RESULTS = path.join(REPO_ROOT, 'bench', 'results');
const QUICK = { rows: 3000, seeds: 2, budget: 4, trustRows: 30_000 };
/** A plain run: the first four wide scenarios, then the three trust scenarios. */
export const PLAIN_SCENARIOS: string[] = [...DEFAULT_SCENARIOS.slice(0, 4), ...TRUST_SCENARIOS, ...REAL_SCENARIOS];
/** Every scenario --scenarios accepts: the planted ones, then the real logs (`real:NAME`, bench/agent/real-logs.ts). */
export const ALL_SCENARIOS: string[] = [...SCENARIO_NAMES, ...REAL_SCENARIOS];
/** --quick: the first wide scenario and the smallest trust scenario (small-data, at its own 30k rows). */
export const QUICK_SCENARIOS: string[] = [DEFAULT_SCENARIOS[0], 'small-data'];
/**
 * The scale a plain run uses. At the scenarios' own 500k rows a DCN run takes 20–44 minutes on 2 cores, so random
 * search drawing DCN a third of the time over 5 seeds × 4 scenarios, beside 12 LightGBM trials per scenario, would
 * take most of a day; at this scale the whole comparison takes about an hour and every contender still sees all 39
 * columns.
 */
export const DEFAULT_SCALE: { rows: number; families: ModelFamily[] } = { rows: 100_000, families: ['lr', 'fm'] };

export interface AgentBenchOptions {
  scenarios: string[];
  /** Train rows of the wide scenarios (and of the trust ones when `rowsGiven`): undefined, their own. */
  rows?: number;
  /** --rows was given: it applies to the trust scenarios too (else they keep their own size). */
  rowsGiven?: boolean;
  seeds: number;
  budget: number;
  peers: PeerId[];
  capSeconds: number;
  quick: boolean;
  out: string;
  dataDir?: string;
  /** The search space's families, for the agent and random search alike (default: the product's, lr, fm, dcn). */
  families?: ModelFamily[];
  /** budget.probeMinRows for the agent (default: the product's). */
  probeMinRows?: number;
  /** --families was given: it applies to the real logs too (else they search the product's whole space). */
  familiesGiven?: boolean;
  /** Where the real logs are fetched to and cached (default .bench/real-logs). */
  realLogsDir?: string;
  /** Continue the last run from its progress folder instead of starting over (bench/agent/progress.ts). */
  resume?: boolean;
  /** Where finished pieces are kept (default: .bench/agent-progress, or PROGRESS under a non-default --out). */
  progressDir?: string;
}

function positiveInt(value: string | undefined, what: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= min)) throw new Error(`${what} expects an integer ≥ ${min}, got ${value}`);
  return n;
}

/** The bench's command line (parseArgs options). */
export const CLI_OPTIONS = {
  scenarios: { type: 'string' },
  rows: { type: 'string' },
  seeds: { type: 'string' },
  budget: { type: 'string' },
  peers: { type: 'string' },
  'cap-seconds': { type: 'string', default: String(4 * 3600) },
  out: { type: 'string', default: DEFAULT_RESULTS },
  'data-dir': { type: 'string' },
  families: { type: 'string' },
  'probe-min-rows': { type: 'string' },
  'real-logs': { type: 'boolean', default: false },
  'real-logs-dir': { type: 'string' },
  quick: { type: 'boolean', default: false },
  full: { type: 'boolean', default: false },
  render: { type: 'boolean', default: false },
  merge: { type: 'string' },
  processes: { type: 'string' },
  resume: { type: 'boolean', default: false },
  progress: { type: 'string' },
} as const;

export function parseOptions(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): AgentBenchOptions & { render: boolean; merge?: string[]; processes: number } {
  const { values } = parseArgs({
    args: argv,
    options: CLI_OPTIONS,
  });
  const quick = values.quick!;
  const named = namedList(values.scenarios, ALL_SCENARIOS, 'scenario');
  // --real-logs: the real logs alone, or added to the named scenarios.
  const scenarios = values['real-logs']
    ? [...new Set([...(named ?? []), ...REAL_SCENARIOS])]
    : (named ?? (quick ? QUICK_SCENARIOS : PLAIN_SCENARIOS));
  const full = values.full!;
  if (full && quick) throw new Error('--full and --quick contradict each other');
  const rows = positiveInt(values.rows, '--rows', 1000) ?? (quick ? QUICK.rows : full ? undefined : DEFAULT_SCALE.rows);
  const seeds = positiveInt(values.seeds, '--seeds') ?? (quick ? QUICK.seeds : 5);
  const budget = positiveInt(values.budget ?? env.BENCH_AGENT_BUDGET, '--budget', 2) ?? (quick ? QUICK.budget : 12);
  const peers = (values.peers === 'none' ? [] : (namedList(values.peers, PEER_IDS, 'peer') ?? [...DEFAULT_PEERS])) as PeerId[];
  const families =
    (namedList(values.families, ModelFamily.options, 'family') as ModelFamily[] | undefined) ?? (full ? undefined : DEFAULT_SCALE.families);
  const probeMinRows = positiveInt(values['probe-min-rows'], '--probe-min-rows', 1000);
  const capSeconds = Number(values['cap-seconds']);
  if (!(capSeconds > 0)) throw new Error(`--cap-seconds expects a positive number, got ${values['cap-seconds']}`);
  return {
    scenarios,
    rows,
    ...(values.rows !== undefined ? { rowsGiven: true } : {}),
    seeds,
    budget,
    peers,
    capSeconds,
    quick,
    out: path.resolve(values.out!),
    dataDir: values['data-dir'] ? path.resolve(values['data-dir']) : undefined,
    ...(families ? { families } : {}),
    ...(values.families !== undefined ? { familiesGiven: true } : {}),
    ...(probeMinRows ? { probeMinRows } : {}),
    ...(values['real-logs-dir'] ? { realLogsDir: path.resolve(values['real-logs-dir']) } : {}),
    ...(values.resume ? { resume: true } : {}),
    progressDir: values.progress ? path.resolve(values.progress) : defaultProgressDir(path.resolve(values.out!)),
    render: values.render!,
    merge: values.merge?.split(',').map((d) => path.resolve(d.trim())),
    processes: positiveInt(values.processes, '--processes') ?? 1,
  };
}

/** Where runs keep their finished pieces for --resume: beside the bench's data for the default --out, else under --out. */
export function defaultProgressDir(out: string): string {
  return out === DEFAULT_RESULTS ? path.join(BENCH_DIR, 'agent-progress') : path.join(out, 'progress');
}

/**
 * A run's own progress folder under the root: its commit and a hash of its options in the name, so that a run of
 * another commit or other options (a --quick run beside a --full one) never empties or reads another run's pieces.
 */
export function runProgressDir(root: string, commit: string, key: string): string {
  return path.join(root, `${commit.slice(0, 12)}-${createHash('sha1').update(key).digest('hex').slice(0, 8)}`);
}

/** This run's progress folder: one place for the single process and for the parent of --processes. */
function progressFolder(opts: AgentBenchOptions, commit: string): string {
  return runProgressDir(opts.progressDir ?? defaultProgressDir(opts.out), commit, runKey({ options: reportOptions(opts) }));
}

/** The options a report records: what the run is, beside its commit. */
function reportOptions(opts: AgentBenchOptions): AgentBenchReport['options'] {
  return {
    scenarios: opts.scenarios,
    rows: opts.rows,
    ...(opts.rowsGiven ? { rowsGiven: true } : {}),
    ...(opts.familiesGiven ? { familiesGiven: true } : {}),
    seeds: opts.seeds,
    budget: opts.budget,
    peers: opts.peers,
    capSeconds: opts.capSeconds,
    quick: opts.quick,
    ...(opts.families ? { families: opts.families } : {}),
    ...(opts.probeMinRows ? { probeMinRows: opts.probeMinRows } : {}),
  };
}

/**
 * A scenario's train rows in this run (undefined: its own). The wide scenarios get `rows`; a trust scenario keeps its
 * own size (its point: rare clicks need rows, small data must stay small) unless --rows was given, and --quick cuts one
 * larger than QUICK.trustRows to that.
 */
export function rowsFor(name: string, opts: Pick<AgentBenchOptions, 'rows' | 'rowsGiven' | 'quick'>): number | undefined {
  if (isRealScenario(name)) return undefined; // a real log is read whole: its size is its own
  if (!TRUST_SCENARIOS.includes(name) || opts.rowsGiven) return opts.rows;
  const own = isWideScenarioName(name) ? namedWideScenario(name).trainRows : undefined;
  return opts.quick && own !== undefined && own > QUICK.trustRows ? QUICK.trustRows : undefined;
}

/** A scenario's index among every scenario the bench knows (the planted ones, then the real logs). */
export function scenarioIndex(scenario: string): number {
  return ALL_SCENARIOS.indexOf(scenario);
}

/** Seeds differ per scenario and per run: 1000 × the scenario's index among the named ones + k (the agent: k = 0). */
export function seedFor(scenario: string, k: number): number {
  return 1000 * scenarioIndex(scenario) + k;
}

/**
 * The search space's families for a scenario: the options' (--families, or DEFAULT_SCALE's for a plain run), except
 * on a real log without --families, where campaigns search the product's whole space (lr, fm, dcn): a real log is
 * small (≤ 80k train rows), and the agent is judged there against every family's default.
 */
export function familiesFor(name: string, opts: Pick<AgentBenchOptions, 'families' | 'familiesGiven'>): ModelFamily[] | undefined {
  return isRealScenario(name) && !opts.familiesGiven ? undefined : opts.families;
}

export async function runAgentBench(opts: AgentBenchOptions): Promise<AgentBenchReport> {
  const report: AgentBenchReport = {
    ...benchStamp(),
    options: reportOptions(opts),
    state: 'running',
    scenarios: [],
    goals: [],
  };
  let python: string | undefined;
  let pythonError: string | undefined;
  if (opts.peers.includes('optuna-lightgbm')) {
    try {
      const venv = ensurePythonVenv({ log });
      python = venv.python;
      report.python = { versions: venv.versions, venvSeconds: venv.seconds, venvInstalled: venv.installed };
    } catch (e) {
      pythonError = (e as Error).message.split('\n')[0];
      report.python = { error: pythonError };
      log(`bench venv unavailable, Optuna-LightGBM will be reported as failed: ${(e as Error).message}`);
    }
  }
  const runsDir = opts.out === DEFAULT_RESULTS ? path.join(BENCH_DIR, 'runs', 'agent') : path.join(opts.out, 'runs');
  const progressDir = progressFolder(opts, report.commit);
  prepareProgress(progressDir, opts.resume === true, log);
  const progress = new RunProgress(progressDir, { commit: report.commit, options: runKey(report) }, opts.resume === true, log);
  const ok = (r: { status: string }) => r.status !== 'failed';
  writeResults(report, opts.out);

  for (const name of opts.scenarios) {
    const trust = TRUST_SCENARIOS.includes(name);
    // A real log: its declared-CSV config for campaigns and family defaults, Criteo TSVs of the same splits for peers.
    const real: RealScenario | undefined = isRealScenario(name) ? await ensureRealScenario(name, { dir: opts.realLogsDir, log }) : undefined;
    const files = real ? real.files : await ensureScenarioFiles(name, { rows: rowsFor(name, opts), dataDir: opts.dataDir, log });
    // Read through the real loader, as a user's campaign config would name them.
    const data: DataConfig =
      real?.data ??
      CriteoData.parse({
        format: 'criteo-tsv',
        train: files.train,
        test: files.test,
        ...(files.validation ? { validation: files.validation } : {}),
      });
    const families = familiesFor(name, opts);
    // The agent campaign's outcome: its data checks and click rates describe the data every campaign reads.
    const outcomes: { agent?: CampaignOutcome } = {};
    const campaign = async (strategy: Strategy, seed: number, shared: { home?: string; label?: string } = {}): Promise<CampaignRun> => {
      const who = shared.label ?? strategy;
      log(`${name}: ${who} (seed ${seed}) …`);
      sampleLoad(report);
      const started = performance.now();
      try {
        const outcome = await runBenchCampaign({
          name: name.replace(/[^A-Za-z0-9_-]/g, '-'), // real:NAME → real-NAME in experiment ids
          data,
          strategy,
          seed,
          budget: opts.budget,
          families,
          probeMinRows: opts.probeMinRows,
          ...shared,
          log: (line) => log(`${name} ${who} s${seed}: ${line}`),
        });
        if (who === 'agent') outcomes.agent = outcome;
        const run = summarizeCampaign(outcome, files.oracleNe);
        const rec = run.recommendation;
        log(
          `${name}: ${who} (seed ${seed}) picks ${rec ? (rec.kind === 'none' ? 'nothing (no recommendation)' : rec.kind === 'baseline' ? 'the baseline' : rec.id) : '—'}: test NE ${run.finalNe?.toFixed(5)} (constant ${rec?.constantNe?.toFixed(5) ?? '—'}; best on test ${run.bestTestNe?.toFixed(5)}) in ${run.wallSeconds.toFixed(0)} s, compute ${run.fullRunEquivalents}`,
        );
        return run;
      } catch (e) {
        log(`${name}: ${who} (seed ${seed}) failed: ${(e as Error).stack ?? e}`);
        return failedCampaign(strategy, seed, (e as Error).message, (performance.now() - started) / 1000);
      } finally {
        sampleLoad(report);
      }
    };

    // The agent, then its second campaign on the same data: that one reads the insights database the first wrote
    // (its warm start) and is measured by how soon it gets back to the first one's final NE.
    // One piece for --resume: the second campaign needs the first one's insights, which live only while both run.
    const agentPiece = async (): Promise<AgentPiece> => {
      const insights = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-bench-insights-'));
      try {
        const agent = await campaign('agent', seedFor(name, 0), { home: insights });
        // While its artifacts exist: the agent's pick on rows no campaign ever saw (a real log has none to draw).
        const fresh = real ? undefined : await measureFresh(name, files, agent, outcomes.agent, { rows: rowsFor(name, opts), workDir: insights });
        if (fresh)
          log(
            `${name}: fresh rows: ${'unavailable' in fresh ? fresh.unavailable : `NE ${fresh.ne.toFixed(5)} vs ${fresh.reportedNe.toFixed(5)} reported`}`,
          );
        const facts = { baseRates: outcomes.agent?.baseRates, dataChecks: outcomes.agent?.dataChecks };
        const again = await campaign('agent', seedFor(name, 0), { home: insights, label: 'agent-again' });
        return { agent, again, ...(fresh ? { fresh } : {}), facts };
      } finally {
        fs.rmSync(insights, { recursive: true, force: true });
      }
    };
    const { agent, again, fresh, facts } = await progress.piece(name, 'agent', agentPiece, (p) => ok(p.agent) && ok(p.again));
    const randomRuns: CampaignRun[] = [];
    for (let k = 1; k <= opts.seeds; k++)
      randomRuns.push(await progress.piece(name, `random-${seedFor(name, k)}`, () => campaign('random', seedFor(name, k)), ok));
    const baselineNe = agent.baselineNe ?? randomRuns.find((r) => r.baselineNe !== undefined)?.baselineNe;

    const workDir = path.join(runsDir, path.basename(files.dir));
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.mkdirSync(workDir, { recursive: true });
    const ctx: RunContext = { files, workDir, capSeconds: opts.capSeconds, python, pythonError, rankwrightHome: workDir, log };
    const peers: PeerRun[] = [];
    for (const id of opts.peers) {
      log(`${name}: ${id} …`);
      sampleLoad(report);
      const r: PeerRun = await progress.piece(name, `peer-${id}`, () => runPeer(id, ctx, { trials: opts.budget, seed: seedFor(name, 0) }), ok);
      sampleLoad(report);
      r.gainCaptured = gainCaptured(baselineNe, r.metrics?.ne, files.oracleNe);
      if (id === 'optuna-lightgbm') {
        r.fullRunEquivalents = typeof r.detail?.trials === 'number' ? r.detail.trials : undefined;
        r.trainSeconds = typeof r.detail?.trainSeconds === 'number' ? r.detail.trainSeconds : undefined;
      } else r.fullRunEquivalents = 1;
      log(
        `${name}: ${id} ${r.status}${r.metrics ? ` NE ${r.metrics.ne.toFixed(5)}` : ''} in ${r.wallSeconds.toFixed(1)} s${r.note ? ` (${r.note})` : ''}`,
      );
      peers.push(r);
    }
    // A real log: each family's default, one full run each (the agent is judged against every one).
    const familyDefaults: PeerRun[] = [];
    if (real)
      for (const family of DEFAULT_FAMILIES) {
        log(`${name}: ${family} defaults …`);
        sampleLoad(report);
        const r = await progress.piece(
          name,
          `default-${family}`,
          () => runFamilyDefault(family, data, { campaignId: `bench-${path.basename(files.dir)}` }),
          ok,
        );
        sampleLoad(report);
        log(
          `${name}: ${family} defaults ${r.status}${r.metrics ? ` NE ${r.metrics.ne.toFixed(5)}` : ''} in ${r.wallSeconds.toFixed(1)} s${r.note ? ` (${r.note})` : ''}`,
        );
        familyDefaults.push(r);
      }

    const summary = summarizeRandom(randomRuns);
    const research = scenarioResearch([agent, again]);
    const measured = [agent, again, ...randomRuns].find((r) => r.trainCtr !== undefined && r.testCtr !== undefined);
    const constant =
      measured && measured.trainCtr !== undefined && measured.testCtr !== undefined
        ? { trainCtr: measured.trainCtr, testCtr: measured.testCtr, ...(measured.constantNe !== undefined ? { ne: measured.constantNe } : {}) }
        : undefined;
    const partial: Omit<AgentScenarioResult, 'goals'> = {
      scenario: {
        name,
        index: scenarioIndex(name),
        description: files.description,
        dir: path.relative(REPO_ROOT, files.dir),
        rows: files.rows,
        validationFraction: files.validationFraction,
        oracleNe: files.oracleNe,
        kind: real ? 'real' : trust ? 'trust' : 'wide',
        ...(real ? { source: real.source } : {}),
        ...(families ? { families } : {}),
        ...(isWideScenarioName(name) && namedWideScenario(name).drift ? { plantedDrift: true } : {}),
      },
      baselineNe,
      ...(constant ? { constant } : {}),
      ...(facts?.baseRates ? { baseRates: facts.baseRates } : {}),
      ...(facts?.dataChecks ? { dataChecks: facts.dataChecks } : {}),
      ...(research ? { research } : {}),
      ...(fresh ? { fresh } : {}),
      agent,
      random: { runs: randomRuns, summary },
      peers,
      ...(real ? { familyDefaults } : {}),
      agentReachesRandomMean: agent.status === 'ok' && summary.ne ? reach(agent, summary.ne.mean) : undefined,
      warmStart: warmStart(agent, again),
    };
    const result: AgentScenarioResult = { ...partial, goals: scenarioGoals(partial) };
    for (const g of result.goals) log(`${name}: ${goalMark(g.status)} ${g.goal}: ${g.detail}`);
    report.scenarios.push(result);
    report.goals = overallGoals(report.scenarios);
    const resumed = progress.resumed();
    if (resumed) report.resumed = resumed;
    writeResults(report, opts.out); // after every scenario: an interrupted run keeps what it finished
  }
  report.state = 'complete';
  writeResults(report, opts.out);
  return report;
}

/** A scenario's agent campaigns, kept together for --resume (the second reads the insights the first wrote). */
interface AgentPiece {
  agent: CampaignRun;
  again: CampaignRun;
  fresh?: AgentScenarioResult['fresh'];
  /** What the agent campaign's data checks found: they describe the data every campaign of the scenario reads. */
  facts: Pick<CampaignOutcome, 'baseRates' | 'dataChecks'>;
}

/** What a run is, for --resume and --merge: its commit aside, its options with the scenarios left out. */
export function runKey(report: Pick<AgentBenchReport, 'options'>): string {
  return JSON.stringify({ ...report.options, scenarios: [] });
}

/**
 * The agent's recommendation on rows no campaign ever saw (bench/agent/fresh.ts): its artifact scored on them, against
 * its reported test NE; with no recommendation, a constant at the training click rate on both. Undefined where it does
 * not apply (drifting rows); a failure is reported, never fatal.
 */
async function measureFresh(
  name: string,
  files: ScenarioFiles,
  agent: CampaignRun,
  outcome: CampaignOutcome | undefined,
  /** workDir: the agent campaign's RANKWRIGHT_HOME, where its artifacts are (scratch files go there too). */
  opts: { rows?: number; workDir: string },
): Promise<AgentScenarioResult['fresh']> {
  const rec = agent.recommendation;
  if (!rec || !outcome) return undefined;
  try {
    const rows = await ensureFreshRows(name, files, { rows: opts.rows, log });
    if (!rows || 'unavailable' in rows) return rows;
    if (rec.kind === 'none') {
      if (outcome.trainCtr === undefined) return { unavailable: 'no training click rate' };
      const onFresh = await scoreConstant(outcome.trainCtr, rows.file, opts.workDir);
      const onTest = await scoreConstant(outcome.trainCtr, files.test, opts.workDir);
      return freshCheck('constant', onFresh, onTest.ne, onTest.neStdErr, onTest.ne);
    }
    const artifact = outcome.results.find((r) => r.experimentId === rec.id)?.artifact;
    if (!artifact || rec.testNe === undefined) return { unavailable: `${rec.id} kept no model artifact` };
    // Artifacts are addressed in the campaign's RANKWRIGHT_HOME (the agent's: `workDir`).
    const previousHome = process.env.RANKWRIGHT_HOME;
    process.env.RANKWRIGHT_HOME = opts.workDir;
    try {
      const onFresh = await scoreArtifactOn(artifact, rows.file, opts.workDir);
      const onTest = await scoreArtifactOn(artifact, files.test, opts.workDir);
      return freshCheck(rec.id!, onFresh, rec.testNe, rec.testNeStdErr, onTest.ne);
    } finally {
      if (previousHome === undefined) delete process.env.RANKWRIGHT_HOME;
      else process.env.RANKWRIGHT_HOME = previousHome;
    }
  } catch (e) {
    log(`${name}: fresh rows failed: ${(e as Error).stack ?? e}`);
    return { unavailable: `failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

function writeResults(report: AgentBenchReport, dir: string): void {
  writeResultFiles(dir, [
    ['agent.json', JSON.stringify(report, null, 2) + '\n'],
    ['agent.md', agentMarkdown(report)],
  ]);
}

/** The tables and the goals, for stdout (README's agent section is generated from agent.json elsewhere). */
function printSummary(report: AgentBenchReport): void {
  const real = realTable(report);
  console.log([...summaryTable(report), '', ...trustTable(report), '', ...(real.length ? [...real, ''] : []), ...goalLines(report.goals)].join('\n'));
}

/** Rewrites agent.md from agent.json (the report code may have changed since the run). */
export function render(dir: string): AgentBenchReport {
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8')) as AgentBenchReport;
  if (!Array.isArray(report.scenarios) || !report.options?.seeds)
    throw new Error(`${path.join(dir, 'agent.json')} was written by an older agent bench (no scenarios/seeds): run the bench again`);
  fs.writeFileSync(path.join(dir, 'agent.md'), agentMarkdown(report));
  return report;
}

/**
 * One report from runs that split the scenarios over processes (`--scenarios a,b --out A` beside `--scenarios c,d
 * --out B`, then `--merge A,B --out bench/results`): they must share the commit and every option but the scenarios.
 * The goals are computed again over all scenarios; each part's stamp (date, load) is kept.
 */
export function merge(dirs: string[], out: string): AgentBenchReport {
  const parts = dirs.map((dir) => JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8')) as AgentBenchReport);
  const same = runKey;
  for (const [i, part] of parts.entries()) {
    if (part.commit !== parts[0].commit) throw new Error(`${dirs[i]} ran at commit ${part.commit}, ${dirs[0]} at ${parts[0].commit}: not one run`);
    if (same(part) !== same(parts[0])) throw new Error(`${dirs[i]} ran with other options than ${dirs[0]}: ${same(part)} vs ${same(parts[0])}`);
  }
  const scenarios = parts.flatMap((p) => p.scenarios);
  const report: AgentBenchReport = {
    ...parts[0],
    options: { ...parts[0].options, scenarios: parts.flatMap((p) => p.options.scenarios) },
    state: parts.every((p) => p.state === 'complete') ? 'complete' : 'running',
    scenarios,
    goals: overallGoals(scenarios),
    dirtyFiles: Math.max(...parts.map((p) => p.dirtyFiles)),
    loadAverage: parts.reduce<AgentBenchReport['loadAverage']>(
      (acc, p) => (p.loadAverage ? { min: Math.min(acc?.min ?? Infinity, p.loadAverage.min), max: Math.max(acc?.max ?? 0, p.loadAverage.max) } : acc),
      undefined,
    ),
    parts: parts.map((p) => ({ scenarios: p.options.scenarios, date: p.date, loadAverage: p.loadAverage })),
  };
  const resumed = parts.flatMap((p) => (p.resumed ? [p.resumed] : []));
  if (resumed.length) report.resumed = { pieces: resumed.reduce((n, r) => n + r.pieces, 0), since: resumed.map((r) => r.since).sort()[0] };
  else delete report.resumed;
  writeResults(report, out);
  return report;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.merge) {
    printSummary(merge(opts.merge, opts.out));
    return;
  }
  if (opts.render) {
    printSummary(render(opts.out));
    return;
  }
  const parts = splitScenarios(opts.scenarios, opts.processes);
  if (parts.length > 1) {
    // Each part a process of its own, then one report: as if one process had run them all, on more cores. The parts
    // share one progress folder (a scenario's pieces are its own): emptied here once unless resumed, then resumed by
    // every part.
    prepareProgress(progressFolder(opts, benchStamp().commit), opts.resume === true, log);
    // The bench venv is made here, once: parts creating it at once on a fresh clone race in pip, and one of them
    // would report Optuna-LightGBM as failed. Each part then finds it ready (or fails it with the same error).
    if (opts.peers.includes('optuna-lightgbm'))
      try {
        ensurePythonVenv({ log });
      } catch (e) {
        log(`bench venv unavailable: ${(e as Error).message}`);
      }
    const argv = [...process.argv.slice(2), ...(opts.resume ? [] : ['--resume']), '--progress', opts.progressDir ?? defaultProgressDir(opts.out)];
    const { dirs, failed } = await runInProcesses(__filename, argv, CLI_OPTIONS, parts, log);
    if (dirs.length) printSummary(merge(dirs, opts.out));
    if (failed.length) throw new Error(`${failed.join('; ')} failed: the report holds the scenarios that finished`);
    return;
  }
  log(
    `scenarios ${opts.scenarios.join(', ')} (train rows: ${opts.scenarios.map((n) => `${n} ${rowsFor(n, opts) ?? 'own size'}`).join(', ')}); budget ${opts.budget}; ${opts.seeds} random seeds; peers ${opts.peers.join(', ') || 'none'}; ${os.cpus().length} cores; results in ${opts.out}`,
  );
  const report = await runAgentBench(opts);
  log(`wrote ${path.join(opts.out, 'agent.md')} and agent.json`);
  printSummary(report);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e) => {
      log(`failed: ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
