import type { BaseRate, DataChecks, ExperimentResult, StopReason } from '../../contracts';
import { bestOn } from '../../contracts/decision-metrics';
import { BENCH_TRUST_SCENARIOS } from '../../ranking/data/wide-scenarios';
import { computeUsed, trainSecondsUsed } from '../../workflows/planner';
import { goalMark, type GoalStatus, type RunResult } from '../quality/report';
import { commitLine, machineLine, type BenchStamp, type LoadRange } from '../stamp';
import type { CampaignOutcome, Strategy } from './campaign';
import { costModelError } from './cost-check';
import type { Resumed } from './progress';
import { isRealScenario } from './real-logs';
import {
  benchRecommendation,
  medianWithinBand,
  RESEARCH_RATIO_BAND,
  researchCalibration,
  researchChecks,
  type PickSummary,
  type ResearchCalibration,
  type ResearchCheck,
} from './recommendation';

/**
 * The agent bench's results, goals and markdown. Pure functions of the numbers: the harness (bench/agent.ts) fills an
 * AgentBenchReport scenario by scenario; tests feed made-up ones. Every contender is measured the same way — its final
 * test NE from the product's metrics (ranking/metrics.ts): for a campaign, the test NE of its recommendation, chosen
 * on validation as the workflow chooses it (bench/agent/recommendation.ts; no recommendation: a constant predictor at
 * the training click rate, what keeping today's serving scores); for a peer, its predictions file through
 * bench/peers/measure.ts.
 */

/** Issue 10's goals for the agent. */
export const AGENT_GOALS = {
  /** The agent is no worse than Optuna-tuned LightGBM on at least this share of the scenarios (3 of 4). */
  optunaShare: 0.75,
  /** The agent reaches random search's mean final NE within this much compute (full-run equivalents). */
  reachWithin: 6,
  /** A second agent campaign on the same data gets back to the first one's final NE within this many full runs. */
  warmWithin: 3,
};

export interface ExperimentRow {
  id: string;
  phase: string;
  family: string;
  title: string;
  technique?: string;
  ne?: number;
  validationNe?: number;
  trainSeconds: number;
  attempts: number;
  /** A probe on a row sample: its NE is not comparable with full runs and never the final NE. */
  probe?: boolean;
  promotedTo?: string;
  failed?: string;
}

/**
 * After each full run (completion order): its test NE, the test NE of what the campaign would recommend had it stopped
 * there (chosen on validation; reports written before validation decided: the best full-run NE so far), and the
 * compute spent so far.
 */
export interface CurvePoint {
  experiment: number;
  ne?: number;
  bestNe?: number;
  compute: number;
}

export interface CampaignRun {
  strategy: Strategy;
  seed: number;
  status: 'ok' | 'failed';
  error?: string;
  stopReason?: StopReason;
  /**
   * Test NE of the campaign's recommendation, chosen on validation (probes never count); with no recommendation, a
   * constant predictor's at the training click rate. (Reports written before validation decided: the best full run's.)
   */
  finalNe?: number;
  /** The recommended run (absent when nothing is recommended). */
  best?: { id: string; title: string; family: string };
  /** The recommendation, as the workflow decides it (absent in reports written before validation decided). */
  recommendation?: PickSummary;
  /** The lowest test NE among the full runs: what selecting on test would have reported, for contrast. */
  bestTestNe?: number;
  /** The training rows' click rate and the test rows' (a constant predictor's prediction and what it meets). */
  trainCtr?: number;
  testCtr?: number;
  /** A constant predictor at the training click rate, scored on test. */
  constantNe?: number;
  /** Full runs whose hypothesis came from the research step: expected vs measured gains (agent). */
  research?: ResearchCheck[];
  baselineNe?: number;
  /** (baselineNe − finalNe) / (baselineNe − oracleNe). */
  gainCaptured?: number;
  /** Training seconds of every run, probes and failed attempts included (workflows/planner.ts trainSecondsUsed). */
  trainSeconds: number;
  wallSeconds: number;
  /** workflows/planner.ts computeUsed: every attempt of every run, a probe at its row fraction. */
  fullRunEquivalents: number;
  fullRuns: number;
  probes: number;
  /** Attempts beyond each run's first (the retry policy at work). */
  retries: number;
  probeRows?: number;
  researchSeconds?: number;
  /** The cost model's median |log2(predicted / measured)| over the campaign's runs (bench/agent/cost-check.ts). */
  costModelError?: number;
  curve: CurvePoint[];
  experiments: ExperimentRow[];
}

export interface MeanSd {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  sd: number;
  n: number;
}

export interface RandomSummary {
  seeds: number[];
  /** Final test NE per seed that finished, in seed order. */
  finalNe: number[];
  ne?: MeanSd;
  gainCaptured?: MeanSd;
  trainSeconds?: MeanSd;
  wallSeconds?: MeanSd;
  fullRunEquivalents?: MeanSd;
  failed: number;
}

export type PeerRun = RunResult & { gainCaptured?: number; trainSeconds?: number; fullRunEquivalents?: number };

export type AgentGoalId =
  | 'vs-optuna'
  | 'vs-ftrl'
  | 'vs-random'
  | 'reach-random'
  | 'warm-start'
  | 'fresh-rows'
  | 'vs-constant'
  | 'research-3x'
  | 'drift-reported'
  | 'real-vs-defaults'
  | 'real-vs-optuna';
const GOAL_IDS: AgentGoalId[] = [
  'vs-optuna',
  'vs-ftrl',
  'vs-random',
  'reach-random',
  'warm-start',
  'fresh-rows',
  'vs-constant',
  'research-3x',
  'drift-reported',
  'real-vs-defaults',
  'real-vs-optuna',
];
export interface AgentGoalResult {
  id: AgentGoalId;
  goal: string;
  status: GoalStatus;
  /** The measured value the verdict is computed from. */
  value?: number | string;
  detail: string;
}

export interface Reach {
  /** Full runs (the baseline is the first) until the best-so-far NE was at or below the target. */
  experiments: number;
  /** Compute spent by then, full-run equivalents (probes and retries included). */
  compute: number;
}

/** The agent's second campaign on the same data, run on the insights database its first campaign wrote. */
export interface WarmStart {
  run: CampaignRun;
  /** The first campaign's final NE: the mark the second one should get back to. */
  target?: number;
  /** When the second campaign's best-so-far NE first reached the mark (to within 1e-9). */
  reach?: Reach | 'never';
}

export interface AgentScenarioResult {
  scenario: {
    name: string;
    /** Position in the named scenarios: seeds derive from it, so a scenario's seeds don't depend on the selection. */
    index: number;
    description?: string;
    dir: string;
    rows: { train: number; validation: number; test: number };
    validationFraction: number;
    oracleNe?: number;
    /**
     * wide: the wide planted scenarios, judged by issue 10's goals; trust: real logs' hard cases (rare clicks, drift,
     * small data), judged by issue 22's (absent: wide, as in reports written before the trust scenarios); real: a real
     * public log (bench/agent/real-logs.ts, no planted truth), judged by issue 27's goals and issue 22's.
     */
    kind?: 'wide' | 'trust' | 'real';
    /** A real log: where it came from (the pinned package and file), its CSV's sha256 and the time split's cut. */
    source?: { package: string; file: string; csvSha256: string; testFrom: string; title: string };
    /** The search space's families when they differ from the run's options (real logs search the whole space). */
    families?: string[];
    /** The generator planted drift (the click rate and an effect change over time): the data checks must report it. */
    plantedDrift?: boolean;
  };
  /** The agent campaign's baseline NE (every campaign trains the same baseline; peers' gain is measured from it). */
  baselineNe?: number;
  /** A constant predictor at the training click rate: its prediction, the test click rate and its test NE. */
  constant?: { trainCtr: number; testCtr: number; ne?: number };
  /** Rows, clicks and click rate of each split, as describeData measures them. */
  baseRates?: { train: BaseRate; validation: BaseRate; test: BaseRate };
  /** The agent campaign's data checks (the smallest detectable NE change; drift findings), as the workflow makes them. */
  dataChecks?: DataChecks;
  /**
   * How well the research step's expected gains predicted measured ones: the full runs of the agent's campaigns (the
   * first and the warm start, each config once) whose hypothesis came from research.
   */
  research?: { checks: ResearchCheck[]; calibration: ResearchCalibration };
  /** The agent's recommendation scored on rows no campaign ever saw (bench/agent/fresh.ts), or why it was not. */
  fresh?: FreshCheck | { unavailable: string };
  agent: CampaignRun;
  random: { runs: CampaignRun[]; summary: RandomSummary };
  peers: PeerRun[];
  /** A real log: each family's default config, one full run each (bench/agent/real-logs.ts runFamilyDefault). */
  familyDefaults?: PeerRun[];
  /** When the agent's best-so-far NE first reached random search's mean final NE. */
  agentReachesRandomMean?: Reach | 'never';
  /** The warm start, measured (absent in reports of runs before it was). */
  warmStart?: WarmStart;
  goals: AgentGoalResult[];
}

/** The agent's pick on fresh rows of the same planted truth, against its reported test NE. */
export interface FreshCheck {
  /** The run scored (its artifact), or 'constant' when nothing was recommended (a constant at the training click rate). */
  pick: string;
  rows: number;
  clicks: number;
  ne: number;
  neStdErr: number;
  /** The pick's reported test NE and its standard error. */
  reportedNe: number;
  reportedStdErr?: number;
  /** The pick's artifact scored again on the test file the same way as on the fresh rows: checks like is compared with like. */
  testRescored?: number;
  /** (fresh NE − reported NE) / √(SE_fresh² + SE_test²): the two row sets are independent. */
  z?: number;
  /** |z| ≤ 2. */
  withinNoise?: boolean;
}

export const FRESH_Z = 2;

/** The fresh-rows comparison from the two measurements. */
export function freshCheck(
  pick: string,
  fresh: { rows: number; ctr: number; ne: number; neStdErr: number },
  reportedNe: number,
  reportedStdErr: number | undefined,
  testRescored?: number,
): FreshCheck {
  const se = reportedStdErr !== undefined ? Math.sqrt(fresh.neStdErr ** 2 + reportedStdErr ** 2) : undefined;
  const z = se !== undefined && se > 0 ? (fresh.ne - reportedNe) / se : undefined;
  return {
    pick,
    rows: fresh.rows,
    clicks: Math.round(fresh.ctr * fresh.rows),
    ne: fresh.ne,
    neStdErr: fresh.neStdErr,
    reportedNe,
    ...(reportedStdErr !== undefined ? { reportedStdErr } : {}),
    ...(testRescored !== undefined ? { testRescored } : {}),
    ...(z !== undefined ? { z, withinNoise: Math.abs(z) <= FRESH_Z } : {}),
  };
}

export interface AgentBenchReport extends BenchStamp {
  loadAverage?: LoadRange;
  python?: { versions: Record<string, string>; venvSeconds: number; venvInstalled: boolean } | { error: string };
  options: {
    scenarios: string[];
    rows?: number;
    /** --rows was given: the trust scenarios were cut to it too (else they ran at their own size, --quick cutting the large ones). */
    rowsGiven?: boolean;
    families?: string[];
    /** --families was given: the real logs searched it too (else lr, fm and dcn). */
    familiesGiven?: boolean;
    probeMinRows?: number;
    seeds: number;
    budget: number;
    peers: string[];
    capSeconds: number;
    quick: boolean;
  };
  /** 'running' while scenarios are still to come (the file is rewritten after each one). */
  state: 'running' | 'complete';
  scenarios: AgentScenarioResult[];
  /** The goals over every scenario so far. */
  goals: AgentGoalResult[];
  /** When the scenarios ran in several processes at once (bench/agent.ts --merge): each one's scenarios and stamp. */
  parts?: { scenarios: string[]; date: string; loadAverage?: LoadRange }[];
  /** --resume: pieces (campaigns, peers) kept from an earlier process of this run, same commit and options. */
  resumed?: Resumed;
}

export function gainCaptured(baselineNe: number | undefined, ne: number | undefined, oracleNe: number | undefined): number | undefined {
  if (baselineNe === undefined || ne === undefined || oracleNe === undefined || !(baselineNe > oracleNe)) return undefined;
  return (baselineNe - ne) / (baselineNe - oracleNe);
}

export function meanSd(values: number[]): MeanSd | undefined {
  if (!values.length) return undefined;
  const mean = values.reduce((s, x) => s + x, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, sd, n: values.length };
}

function row(r: ExperimentResult): ExperimentRow {
  return {
    id: r.experimentId,
    phase: r.phase,
    family: r.config.family,
    title: r.hypothesis?.title ?? '',
    technique: r.hypothesis?.technique,
    ne: r.metrics?.ne,
    validationNe: r.validationNe,
    trainSeconds: r.trainSeconds,
    attempts: r.attempts.length,
    ...(r.probe ? { probe: true } : {}),
    ...(r.promotedTo ? { promotedTo: r.promotedTo } : {}),
    ...(r.failure ? { failed: r.failure.failureClass } : {}),
  };
}

/**
 * A finished campaign's numbers. Its final NE is its recommendation's test NE, decided as the workflow decides it
 * (bench/agent/recommendation.ts); each curve point is the recommendation had the campaign stopped after that full run.
 */
export function summarizeCampaign(outcome: CampaignOutcome, oracleNe: number | undefined): CampaignRun {
  const { results, probes, timeline } = outcome;
  const { campaignId } = outcome;
  const base = results.find((r) => r.phase === 'baseline');
  const baselineNe = base?.metrics?.ne;
  const curve: CurvePoint[] = [];
  const fullSoFar: ExperimentResult[] = [];
  timeline.forEach((r, i) => {
    if (r.probe) return;
    fullSoFar.push(r);
    const bestNe = benchRecommendation(campaignId, fullSoFar, outcome.trainCtr)?.testNe;
    curve.push({ experiment: curve.length + 1, ne: r.metrics?.ne, bestNe, compute: computeUsed(timeline.slice(0, i + 1)) });
  });
  const recommendation = benchRecommendation(campaignId, results, outcome.trainCtr);
  const finalNe = recommendation?.testNe;
  const bestOnTest = bestOn(results, 'test');
  const research = outcome.research ? researchChecks(results, outcome.research) : undefined;
  return {
    strategy: outcome.strategy,
    seed: outcome.seed,
    status: finalNe === undefined ? 'failed' : 'ok',
    ...(finalNe === undefined ? { error: base?.metrics ? 'no recommendation and no constant predictor to score' : 'no full run succeeded' } : {}),
    stopReason: outcome.stopReason,
    finalNe,
    best: recommendation?.id ? { id: recommendation.id, title: recommendation.title ?? '', family: recommendation.family ?? '' } : undefined,
    ...(recommendation ? { recommendation } : {}),
    ...(bestOnTest?.metrics ? { bestTestNe: bestOnTest.metrics.ne } : {}),
    ...(outcome.trainCtr !== undefined ? { trainCtr: outcome.trainCtr } : {}),
    ...(base?.metrics ? { testCtr: base.metrics.ctr } : {}),
    ...(recommendation?.constantNe !== undefined ? { constantNe: recommendation.constantNe } : {}),
    ...(research ? { research } : {}),
    baselineNe,
    gainCaptured: gainCaptured(baselineNe, finalNe, oracleNe),
    trainSeconds: round(trainSecondsUsed(results, probes, true), 2),
    wallSeconds: round(outcome.wallSeconds, 1),
    fullRunEquivalents: computeUsed(results, probes),
    fullRuns: results.length,
    probes: probes.length,
    retries: timeline.reduce((s, r) => s + Math.max(0, r.attempts.length - 1), 0),
    ...(outcome.probeScale ? { probeRows: outcome.probeScale.trainRows } : {}),
    ...(outcome.researchSeconds !== undefined ? { researchSeconds: outcome.researchSeconds } : {}),
    ...costModelField(timeline),
    curve,
    experiments: timeline.map(row),
  };
}

function costModelField(timeline: readonly ExperimentResult[]): { costModelError?: number } {
  const error = costModelError(timeline);
  return error === undefined ? {} : { costModelError: round(error, 2) };
}

/** A campaign that threw (infrastructure, a failed baseline): reported, never a number. */
export function failedCampaign(strategy: Strategy, seed: number, error: string, wallSeconds: number): CampaignRun {
  return {
    strategy,
    seed,
    status: 'failed',
    error,
    trainSeconds: 0,
    wallSeconds: round(wallSeconds, 1),
    fullRunEquivalents: 0,
    fullRuns: 0,
    probes: 0,
    retries: 0,
    curve: [],
    experiments: [],
  };
}

export function summarizeRandom(runs: CampaignRun[]): RandomSummary {
  const ok = runs.filter((r) => r.status === 'ok' && r.finalNe !== undefined);
  const gains = ok.map((r) => r.gainCaptured).filter((g): g is number => g !== undefined);
  return {
    seeds: runs.map((r) => r.seed),
    finalNe: ok.map((r) => r.finalNe!),
    ne: meanSd(ok.map((r) => r.finalNe!)),
    gainCaptured: meanSd(gains),
    trainSeconds: meanSd(ok.map((r) => r.trainSeconds)),
    wallSeconds: meanSd(ok.map((r) => r.wallSeconds)),
    fullRunEquivalents: meanSd(ok.map((r) => r.fullRunEquivalents)),
    failed: runs.length - ok.length,
  };
}

/** The first point of a campaign's curve whose best-so-far NE is at or below `target`, or 'never'. */
export function reach(run: CampaignRun, target: number): Reach | 'never' {
  const point = run.curve.find((p) => p.bestNe !== undefined && p.bestNe <= target);
  return point ? { experiments: point.experiment, compute: point.compute } : 'never';
}

/** The second campaign against the first one's final NE (a retrained winner reproduces its NE: training is deterministic). */
export function warmStart(first: CampaignRun, again: CampaignRun): WarmStart {
  const target = first.status === 'ok' ? first.finalNe : undefined;
  if (target === undefined) return { run: again };
  return { run: again, target, ...(again.status === 'ok' ? { reach: reach(again, target + 1e-9) } : {}) };
}

const fmt = (x: number | undefined, digits = 4) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const signed = (x: number, digits = 4) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(1)}%`);
const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** Issue 22's goals, on the trust scenarios. */
export const TRUST_GOALS = {
  /** Research's expected gains within this factor of the measured ones (the median ratio). */
  researchWithin: RESEARCH_RATIO_BAND,
};

/** Kinds of data-check findings that report drift (contracts/drift.ts DriftFindingKind, less few-clicks). */
export const DRIFT_FINDING_KINDS = ['test-base-rate', 'validation-test-base-rate', 'base-rate-trend', 'field-shift'];

export const GOAL_TEXT: Record<AgentGoalId, string> = {
  'vs-optuna': `agent no worse than Optuna-tuned LightGBM (test NE ≤) on ≥ ${AGENT_GOALS.optunaShare * 100}% of the scenarios (3 of 4)`,
  'vs-ftrl': 'agent never worse than the textbook FTRL script (test NE ≤, every scenario)',
  'vs-random': "agent better than random search's mean (test NE <, every scenario)",
  'reach-random': `agent reaches random search's mean final NE within ${AGENT_GOALS.reachWithin} full-run equivalents (every scenario)`,
  'warm-start': `a second agent campaign on the same data reaches the first one's final NE within ${AGENT_GOALS.warmWithin} experiments (full runs, its baseline the first; every scenario)`,
  'fresh-rows': `the agent's recommendation scored on rows no campaign ever saw matches its reported test NE within noise (|Δ| ≤ ${FRESH_Z} SE; every scenario without drift)`,
  'vs-constant':
    "the agent's pick never worse than a constant predictor at the training click rate on test (test NE ≤; no recommendation keeps today's serving, scored as that constant; every trust scenario and real log)",
  'research-3x': `research expectations within ${TRUST_GOALS.researchWithin}x of what experiments measure (median expected / measured validation gain in [1/${TRUST_GOALS.researchWithin}, ${TRUST_GOALS.researchWithin}]; every trust scenario and real log)`,
  'drift-reported': "drift is reported: the campaign's data checks name the planted drift (every scenario with planted drift)",
  'real-vs-defaults':
    "on real logs, the agent's pick at least as good as every family's default (test NE ≤ lr, fm and dcn defaults, one full run each; every real log)",
  'real-vs-optuna': `on real logs, the agent's pick at least as good as Optuna-tuned LightGBM at the same budget (test NE ≤; every real log)`,
};

/** The same goals as verdicts on one scenario. */
export const SCENARIO_GOAL_TEXT: Record<AgentGoalId, string> = {
  'vs-optuna': 'agent no worse than Optuna-tuned LightGBM (test NE ≤)',
  'vs-ftrl': 'agent no worse than the textbook FTRL script (test NE ≤)',
  'vs-random': "agent better than random search's mean (test NE <)",
  'reach-random': `agent reaches random search's mean final NE within ${AGENT_GOALS.reachWithin} full-run equivalents`,
  'warm-start': `a second agent campaign on the same data reaches the first one's final NE within ${AGENT_GOALS.warmWithin} experiments (full runs)`,
  'fresh-rows': `the agent's recommendation scored on rows no campaign ever saw matches its reported test NE within noise (|Δ| ≤ ${FRESH_Z} SE)`,
  'vs-constant': "the agent's pick no worse than a constant predictor at the training click rate on test (test NE ≤)",
  'research-3x': `research expectations within ${TRUST_GOALS.researchWithin}x of what experiments measure (median expected / measured)`,
  'drift-reported': "the campaign's data checks report the planted drift",
  'real-vs-defaults': "the agent's pick at least as good as every family's default (test NE ≤)",
  'real-vs-optuna': "the agent's pick at least as good as Optuna-tuned LightGBM (test NE ≤)",
};

const okPeer = (s: Pick<AgentScenarioResult, 'peers'>, id: string) => s.peers.find((p) => p.id === id && p.status === 'ok' && p.metrics);

/**
 * The goals on one scenario's numbers: issue 10's five on a wide scenario, issue 22's on a trust one (the pick against
 * a constant, research expectations, and drift where it was planted). A goal whose inputs are missing is 'unchecked'.
 */
export function scenarioGoals(s: Omit<AgentScenarioResult, 'goals'>): AgentGoalResult[] {
  const kind = s.scenario.kind;
  const goals = kind === 'real' ? [...realGoals(s), ...trustGoals(s)] : kind === 'trust' ? trustGoals(s) : wideGoals(s);
  return s.fresh ? [...goals, freshGoal(s.fresh)] : goals;
}

function freshGoal(f: FreshCheck | { unavailable: string }): AgentGoalResult {
  const id: AgentGoalId = 'fresh-rows';
  const goal = SCENARIO_GOAL_TEXT[id];
  if ('unavailable' in f) return { id, goal, status: 'unchecked', detail: f.unavailable };
  const what = f.pick === 'constant' ? 'no recommendation (a constant at the training click rate)' : f.pick;
  const numbers = `${what}: NE ${fmt(f.ne)} ± ${fmt(f.neStdErr)} on ${count(f.rows)} fresh rows (${count(f.clicks)} clicks) vs ${fmt(f.reportedNe)}${f.reportedStdErr !== undefined ? ` ± ${fmt(f.reportedStdErr)}` : ''} reported on test${f.testRescored !== undefined ? ` (its artifact rescored on test: ${fmt(f.testRescored)})` : ''}`;
  if (f.withinNoise === undefined) return { id, goal, status: 'unchecked', detail: `${numbers}; no standard error to judge by` };
  return {
    id,
    goal,
    status: f.withinNoise ? 'pass' : 'miss',
    value: round(f.z!, 3),
    detail: `${numbers} (${f.z! >= 0 ? '+' : '−'}${Math.abs(f.z!).toFixed(2)} SE)`,
  };
}

/** The research checks of the agent's campaigns (the first, then its warm start), each config once. */
export function scenarioResearch(runs: (CampaignRun | undefined)[]): { checks: ResearchCheck[]; calibration: ResearchCalibration } | undefined {
  const seen = new Set<string>();
  const checks: ResearchCheck[] = [];
  let any = false;
  for (const run of runs) {
    if (!run?.research) continue;
    any = true;
    for (const c of run.research) {
      const key = c.config ?? `${c.title}\u0000${c.expectedGain}`;
      if (seen.has(key)) continue;
      seen.add(key);
      checks.push(c);
    }
  }
  return any ? { checks, calibration: researchCalibration(checks) } : undefined;
}

const ratioText = (r: number | 'unbounded' | undefined) => (r === undefined ? '—' : r === 'unbounded' ? 'unbounded' : `${r.toPrecision(2)}x`);

function calibrationText(c: ResearchCalibration): string {
  return `median expected / measured ${ratioText(c.medianRatio)} over ${c.n} run${c.n === 1 ? '' : 's'}, ${c.within3x} within ${TRUST_GOALS.researchWithin}x${c.noGain ? `, ${c.noGain} measured no gain` : ''}${c.withinNoise !== undefined ? `; ${c.withinNoise} within 2 SE of the measurement` : ''}`;
}

function pickText(p: PickSummary | undefined): string {
  if (!p) return '—';
  if (p.kind === 'none') return 'none (no recommendation: nothing clears the floor)';
  return `${p.kind === 'baseline' ? 'the baseline kept' : `${p.id}`} (${p.family}${p.kind === 'candidate' && p.title ? ` "${p.title}"` : ''})`;
}

/** Two results within this many standard errors of each other (unpaired: √(SE₁² + SE₂²)) are called within noise. */
export const NOISE_Z = 2;

/** How the agent's pick compares with another contender's test NE: the difference and whether it is within noise. */
function versus(agentNe: number, agentSe: number | undefined, other: PeerRun): { d: number; text: string } {
  const ne = other.metrics!.ne;
  const d = agentNe - ne;
  const se = Math.sqrt((agentSe ?? 0) ** 2 + (Number.isFinite(other.metrics!.neStdErr) ? other.metrics!.neStdErr : 0) ** 2);
  const noise = se > 0 ? `, ${Math.abs(d) <= NOISE_Z * se ? 'within noise' : 'beyond noise'}: ${(Math.abs(d) / se).toFixed(1)} SE` : '';
  return { d, text: `${other.id} ${fmt(ne)} (${signed(d)}${noise})` };
}

/** Issue 27's goals on a real log: the agent's pick against each family's default and against Optuna-LightGBM. */
function realGoals(s: Omit<AgentScenarioResult, 'goals'>): AgentGoalResult[] {
  const agentNe = s.agent.status === 'ok' ? s.agent.finalNe : undefined;
  const agentSe = s.agent.recommendation?.testNeStdErr;
  const pick = `pick ${pickText(s.agent.recommendation)} test NE ${fmt(agentNe)}${agentSe !== undefined ? ` ± ${fmt(agentSe)}` : ''}`;
  const goals: AgentGoalResult[] = [];
  {
    const id: AgentGoalId = 'real-vs-defaults';
    const defaults = s.familyDefaults ?? [];
    const ok = defaults.filter((d) => d.status === 'ok' && d.metrics);
    const notOk = defaults.filter((d) => !(d.status === 'ok' && d.metrics));
    if (agentNe === undefined || !ok.length)
      goals.push({
        id,
        goal: SCENARIO_GOAL_TEXT[id],
        status: 'unchecked',
        detail: agentNe === undefined ? `agent ${s.agent.error ?? 'failed'}` : 'no family default finished',
      });
    else {
      const vs = ok.map((d) => versus(agentNe, agentSe, d));
      const worst = Math.max(...vs.map((v) => v.d));
      const missing = notOk.length ? `; not measured: ${notOk.map((d) => `${d.id} ${d.status}`).join(', ')}` : '';
      goals.push({
        id,
        goal: SCENARIO_GOAL_TEXT[id],
        status: worst > 0 ? 'miss' : notOk.length ? 'unchecked' : 'pass',
        value: round(worst, 6),
        detail: `${pick}; vs ${vs.map((v) => v.text).join(', ')}${missing}`,
      });
    }
  }
  {
    const id: AgentGoalId = 'real-vs-optuna';
    const optuna = okPeer(s, 'optuna-lightgbm');
    if (agentNe === undefined || !optuna)
      goals.push({
        id,
        goal: SCENARIO_GOAL_TEXT[id],
        status: 'unchecked',
        detail:
          agentNe === undefined
            ? `agent ${s.agent.error ?? 'failed'}`
            : `Optuna-LightGBM ${s.peers.find((p) => p.id === 'optuna-lightgbm')?.status ?? 'not run'}`,
      });
    else {
      const v = versus(agentNe, agentSe, optuna);
      goals.push({ id, goal: SCENARIO_GOAL_TEXT[id], status: v.d <= 0 ? 'pass' : 'miss', value: round(v.d, 6), detail: `${pick}; vs ${v.text}` });
    }
  }
  return goals;
}

function trustGoals(s: Omit<AgentScenarioResult, 'goals'>): AgentGoalResult[] {
  const goals: AgentGoalResult[] = [];
  const agentNe = s.agent.status === 'ok' ? s.agent.finalNe : undefined;
  const constantNe = s.constant?.ne ?? s.agent.constantNe;
  {
    const id: AgentGoalId = 'vs-constant';
    if (agentNe === undefined || constantNe === undefined)
      goals.push({
        id,
        goal: SCENARIO_GOAL_TEXT[id],
        status: 'unchecked',
        detail: agentNe === undefined ? `agent ${s.agent.error ?? 'failed'}` : 'no constant predictor to compare with (test click rate 0 or 1?)',
      });
    else {
      const d = agentNe - constantNe;
      const rec = s.agent.recommendation;
      goals.push({
        id,
        goal: SCENARIO_GOAL_TEXT[id],
        status: d <= 1e-12 ? 'pass' : 'miss',
        value: round(d, 6),
        detail:
          rec?.kind === 'none'
            ? `no recommendation: today's serving is kept, a constant at test NE ${fmt(constantNe)}`
            : `pick ${pickText(rec)} test NE ${fmt(agentNe)} vs constant ${fmt(constantNe)} (${signed(d)})`,
      });
    }
  }
  {
    const id: AgentGoalId = 'research-3x';
    const c = s.research?.calibration;
    const within = c ? medianWithinBand(c) : undefined;
    goals.push(
      !c || within === undefined
        ? {
            id,
            goal: SCENARIO_GOAL_TEXT[id],
            status: 'unchecked',
            detail: s.research ? 'no full run came from a research hypothesis' : 'no research step ran',
          }
        : {
            id,
            goal: SCENARIO_GOAL_TEXT[id],
            status: within ? 'pass' : 'miss',
            value: c.medianRatio === 'unbounded' ? 'unbounded' : round(c.medianRatio!, 4),
            detail: calibrationText(c),
          },
    );
  }
  if (s.scenario.plantedDrift) {
    const id: AgentGoalId = 'drift-reported';
    const findings = s.dataChecks?.findings;
    if (!findings) goals.push({ id, goal: SCENARIO_GOAL_TEXT[id], status: 'unchecked', detail: 'no data checks (the agent campaign failed?)' });
    else {
      const drift = findings.filter((f) => DRIFT_FINDING_KINDS.includes(f.kind));
      goals.push({
        id,
        goal: SCENARIO_GOAL_TEXT[id],
        status: drift.length ? 'pass' : 'miss',
        value: drift.length,
        detail: drift.length
          ? `${drift.length} drift finding${drift.length === 1 ? '' : 's'}: ${drift.map((f) => `${f.kind} (${f.severity})`).join(', ')}`
          : `none among ${findings.length} finding${findings.length === 1 ? '' : 's'}${findings.length ? ` (${findings.map((f) => f.kind).join(', ')})` : ''}`,
      });
    }
  }
  return goals;
}

/** Issue 10's five goals on a wide scenario. */
function wideGoals(s: Omit<AgentScenarioResult, 'goals'>): AgentGoalResult[] {
  const agentNe = s.agent.status === 'ok' ? s.agent.finalNe : undefined;
  const goals: AgentGoalResult[] = [];
  const vsPeer = (id: AgentGoalId, peerId: string, label: string) => {
    const peer = okPeer(s, peerId);
    if (agentNe === undefined || !peer) {
      const why = [
        agentNe === undefined ? `agent ${s.agent.error ?? 'failed'}` : '',
        peer ? '' : `${label} ${s.peers.find((p) => p.id === peerId)?.status ?? 'not run'}`,
      ];
      goals.push({ id, goal: SCENARIO_GOAL_TEXT[id], status: 'unchecked', detail: `needs both results (${why.filter(Boolean).join(', ')})` });
      return;
    }
    const d = agentNe - peer.metrics!.ne;
    goals.push({
      id,
      goal: SCENARIO_GOAL_TEXT[id],
      status: d <= 0 ? 'pass' : 'miss',
      value: round(d, 6),
      detail: `agent ${fmt(agentNe)} vs ${label} ${fmt(peer.metrics!.ne)} (${signed(d)})`,
    });
  };
  vsPeer('vs-optuna', 'optuna-lightgbm', 'Optuna-LightGBM');
  vsPeer('vs-ftrl', 'ftrl-script', 'textbook FTRL');

  const randomNe = s.random.summary.ne;
  if (agentNe === undefined || !randomNe) {
    const why = agentNe === undefined ? `agent ${s.agent.error ?? 'failed'}` : 'no random search campaign finished';
    goals.push({ id: 'vs-random', goal: SCENARIO_GOAL_TEXT['vs-random'], status: 'unchecked', detail: why });
    goals.push({ id: 'reach-random', goal: SCENARIO_GOAL_TEXT['reach-random'], status: 'unchecked', detail: why });
    return [...goals, warmStartGoal(s)];
  }
  const d = agentNe - randomNe.mean;
  goals.push({
    id: 'vs-random',
    goal: SCENARIO_GOAL_TEXT['vs-random'],
    status: d < 0 ? 'pass' : 'miss',
    value: round(d, 6),
    detail: `agent ${fmt(agentNe)} vs random ${fmt(randomNe.mean)} ± ${fmt(randomNe.sd)} over ${randomNe.n} seeds (${signed(d)})`,
  });
  const r = s.agentReachesRandomMean ?? reach(s.agent as CampaignRun, randomNe.mean);
  goals.push({
    id: 'reach-random',
    goal: SCENARIO_GOAL_TEXT['reach-random'],
    status: r !== 'never' && r.compute <= AGENT_GOALS.reachWithin + 1e-9 ? 'pass' : 'miss',
    value: r === 'never' ? 'never' : r.compute,
    detail:
      r === 'never'
        ? `never within the budget (best ${fmt(agentNe)} vs random mean ${fmt(randomNe.mean)})`
        : `after ${r.experiments} full run(s), ${r.compute} full-run equivalents of compute${randomNoBetterThanBaseline(s) ? ` (no random search run beat the baseline, NE ${fmt(s.baselineNe)}: the agent's baseline reaches its mean)` : ''}`,
  });
  return [...goals, warmStartGoal(s)];
}

/** Judged on full runs, as the issue words it ("within 3 experiments"); the compute it took, probes included, is shown. */
function warmStartGoal(s: Omit<AgentScenarioResult, 'goals'>): AgentGoalResult {
  const id: AgentGoalId = 'warm-start';
  const goal = SCENARIO_GOAL_TEXT[id];
  const w = s.warmStart;
  if (!w) return { id, goal, status: 'unchecked', detail: 'not measured by this run' };
  if (w.target === undefined) return { id, goal, status: 'unchecked', detail: `the first campaign ${s.agent.error ?? 'failed'}` };
  if (!w.reach) return { id, goal, status: 'unchecked', detail: `the second campaign ${w.run.error ?? 'failed'}` };
  if (w.reach === 'never')
    return {
      id,
      goal,
      status: 'miss',
      value: 'never',
      detail: `never within its budget (best ${fmt(w.run.finalNe)} vs the first campaign's ${fmt(w.target)})`,
    };
  const at = w.run.curve[w.reach.experiments - 1];
  return {
    id,
    goal,
    status: w.reach.experiments <= AGENT_GOALS.warmWithin ? 'pass' : 'miss',
    value: w.reach.experiments,
    detail: `at its full run ${w.reach.experiments} (${w.reach.compute} full-run equivalents of compute, probes included): NE ${fmt(at?.bestNe)} vs the first campaign's ${fmt(w.target)}`,
  };
}

/** The goals over the scenarios they apply to (wide or trust), from each scenario's verdicts. */
export function overallGoals(scenarios: AgentScenarioResult[]): AgentGoalResult[] {
  const applies = (id: AgentGoalId, s: AgentScenarioResult) => s.goals.some((g) => g.id === id);
  return GOAL_IDS.filter((id) => scenarios.some((s) => applies(id, s))).map((id) => {
    const per = scenarios.filter((s) => applies(id, s)).map((s) => ({ name: s.scenario.name, g: s.goals.find((g) => g.id === id) }));
    const passed = per.filter((p) => p.g?.status === 'pass').map((p) => p.name);
    const missed = per.filter((p) => p.g?.status === 'miss').map((p) => p.name);
    const unchecked = per.filter((p) => !p.g || p.g.status === 'unchecked').map((p) => p.name);
    const n = per.length;
    const list = (what: string, names: string[]) => (names.length ? `${what}: ${names.join(', ')}` : '');
    const detail = [`${passed.length} of ${n} scenarios`, list('missed on', missed), list('not checked on', unchecked)].filter(Boolean).join('; ');
    let status: GoalStatus;
    if (n === 0) status = 'unchecked';
    else if (id === 'vs-optuna') {
      const need = Math.ceil(AGENT_GOALS.optunaShare * n - 1e-9);
      status = passed.length >= need ? 'pass' : passed.length + unchecked.length < need ? 'miss' : 'unchecked';
      return { id, goal: GOAL_TEXT[id], status, value: `${passed.length}/${n}`, detail: `${detail} (needs ${need} of ${n})` };
    } else status = missed.length ? 'miss' : unchecked.length ? 'unchecked' : 'pass';
    return { id, goal: GOAL_TEXT[id], status, value: `${passed.length}/${n}`, detail };
  });
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Random search never beat the baseline: its mean is the baseline's NE, which the agent "reaches" with its baseline. */
function randomNoBetterThanBaseline(s: Pick<AgentScenarioResult, 'baselineNe' | 'random'>): boolean {
  const mean = s.random.summary.ne?.mean;
  return mean !== undefined && s.baselineNe !== undefined && mean >= s.baselineNe - 1e-12;
}

function warmText(s: AgentScenarioResult): string {
  const r = s.warmStart?.reach;
  if (r === undefined) return '—';
  return r === 'never' ? 'never' : `${r.experiments} (${r.compute} full-run eq.)`;
}

function reachText(s: AgentScenarioResult): string {
  const r = s.agentReachesRandomMean;
  if (r === undefined) return '—';
  if (r === 'never') return 'never';
  return `${r.experiments} (${r.compute} full-run eq.${randomNoBetterThanBaseline(s) ? "; random search's mean is the baseline's NE" : ''})`;
}

/** The one table across scenarios (what README's agent section shows). */
export function summaryTable(report: AgentBenchReport): string[] {
  const optunaLabel = `Optuna-LightGBM (${report.options.budget} trials)`;
  return [
    `| scenario | oracle NE | baseline NE | agent | random: mean ± sd (${report.options.seeds} seeds) | textbook FTRL | ${optunaLabel} | gain captured: agent / random / Optuna | compute, full-run eq.: agent / random | agent experiments to random's mean | second campaign: experiments to the first's final NE |`,
    '|---|---:|---:|---:|---:|---:|---:|---|---|---|---|',
    ...report.scenarios.map((s) => {
      const rnd = s.random.summary;
      const ftrl = okPeer(s, 'ftrl-script');
      const optuna = okPeer(s, 'optuna-lightgbm');
      const peerCell = (id: string, p: PeerRun | undefined) =>
        p ? fmt(p.metrics!.ne) : (s.peers.find((x) => x.id === id)?.status ?? 'not run').toUpperCase();
      const real = s.scenario.kind === 'real';
      const gains = real ? 'n/a' : `${pct(s.agent.gainCaptured)} / ${pct(rnd.gainCaptured?.mean)} / ${pct(optuna?.gainCaptured)}`;
      return `| ${s.scenario.name} | ${real ? 'n/a' : fmt(s.scenario.oracleNe)} | ${fmt(s.baselineNe)} | **${s.agent.status === 'ok' ? fmt(s.agent.finalNe) : 'FAILED'}** | ${rnd.ne ? `${fmt(rnd.ne.mean)} ± ${fmt(rnd.ne.sd)}` : 'FAILED'} | ${peerCell('ftrl-script', ftrl)} | ${peerCell('optuna-lightgbm', optuna)} | ${gains} | ${fmt(s.agent.fullRunEquivalents, 1)} / ${fmt(rnd.fullRunEquivalents?.mean, 1)} | ${reachText(s)} | ${warmText(s)} |`;
    }),
  ];
}

const count = (x: number | undefined) => (x === undefined ? '—' : Math.round(x).toLocaleString('en-US'));

function verdictText(p: PickSummary | undefined): string {
  if (!p) return '—';
  if (p.kind === 'none') return 'nothing to confirm';
  if (!p.confirmation) return '—';
  const c = p.confirmation;
  const change = `${c.relativeNeChange > 0 ? '+' : c.relativeNeChange < 0 ? '−' : ''}${(100 * Math.abs(c.relativeNeChange)).toFixed(2)}% vs baseline`;
  return `${c.confirmed ? 'confirmed' : 'NOT confirmed'}${p.kind === 'candidate' ? ` (${change}${c.significant ? ', significant' : c.worseBeyondNoise ? ', worse beyond noise' : ', within noise'})` : ''}`;
}

function findingsText(checks: DataChecks | undefined): string {
  if (!checks) return '—';
  if (!checks.findings.length) return 'none';
  return checks.findings.map((f) => `${f.kind} (${f.severity})`).join(', ');
}

/**
 * Every scenario side by side, as issue 22 asks: the agent's recommendation (chosen on validation) against a constant
 * predictor at the training click rate, the textbook FTRL script and Optuna-tuned LightGBM on test, and how well
 * research's expected gains predicted the measured ones.
 */
export function trustTable(report: AgentBenchReport): string[] {
  return [
    "| scenario | clicks: train / validation / test | CTR: train → test | constant predictor | agent's pick | its validation NE ± SE | its test NE | on test | random search: picks' test NE | textbook FTRL | Optuna-LightGBM | research: expected / measured | data findings |",
    '|---|---|---|---:|---|---:|---:|---|---:|---:|---:|---|---|',
    ...report.scenarios.map((s) => {
      const r = s.baseRates;
      const rec = s.agent.recommendation;
      const ftrl = okPeer(s, 'ftrl-script');
      const optuna = okPeer(s, 'optuna-lightgbm');
      const peerCell = (id: string, p: PeerRun | undefined) =>
        p ? fmt(p.metrics!.ne) : (s.peers.find((x) => x.id === id)?.status ?? 'not run').toUpperCase();
      const ctr = s.constant ? `${pctCtr(s.constant.trainCtr)} → ${pctCtr(s.constant.testCtr)}` : '—';
      const rnd = s.random.summary.ne;
      const research = s.research ? (s.research.calibration.n ? calibrationText(s.research.calibration) : 'no research run') : '—';
      const validation =
        rec?.validationNe !== undefined
          ? `${fmt(rec.validationNe)}${rec.validationNeStdErr !== undefined ? ` ± ${fmt(rec.validationNeStdErr)}` : ''}`
          : '—';
      return `| ${s.scenario.name}${s.scenario.kind === 'trust' ? ' (trust)' : ''} | ${r ? `${count(r.train.clicks)} / ${count(r.validation.clicks)} / ${count(r.test.clicks)}` : '—'} | ${ctr} | ${fmt(s.constant?.ne)} | ${escapeCell(pickText(rec))} | ${validation} | **${s.agent.status === 'ok' ? fmt(s.agent.finalNe) : 'FAILED'}** | ${verdictText(rec)} | ${rnd ? `${fmt(rnd.mean)} ± ${fmt(rnd.sd)}` : 'FAILED'} | ${peerCell('ftrl-script', ftrl)} | ${peerCell('optuna-lightgbm', optuna)} | ${research} | ${escapeCell(findingsText(s.dataChecks))} |`;
    }),
  ];
}

/**
 * The real logs side by side (issue 27): the agent's pick (chosen on validation) against random search, Optuna-tuned
 * LightGBM, a constant predictor and each family's default, all on the time split's test rows; empty when the run had
 * no real log.
 */
export function realTable(report: AgentBenchReport): string[] {
  const real = report.scenarios.filter((s) => s.scenario.kind === 'real');
  if (!real.length) return [];
  const ne = (p: PeerRun | undefined) =>
    p ? (p.status === 'ok' && p.metrics ? `${fmt(p.metrics.ne)} ± ${fmt(p.metrics.neStdErr)}` : p.status.toUpperCase()) : 'not run';
  return [
    `| real log | train / validation / test rows (clicks) | constant predictor | agent's pick | its test NE ± SE | random search: mean ± sd (${report.options.seeds} seeds) | Optuna-LightGBM (${report.options.budget} trials) | lr default | fm default | dcn default | verdict |`,
    '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|',
    ...real.map((s) => {
      const rows = s.scenario.rows;
      const clicks = s.baseRates;
      const split = (n: number, c: number | undefined) => `${count(n)}${c !== undefined ? ` (${count(c)})` : ''}`;
      const rec = s.agent.recommendation;
      const rnd = s.random.summary.ne;
      const def = (f: string) => ne(s.familyDefaults?.find((d) => d.id === `default-${f}`));
      const verdict = s.goals
        .filter((g) => g.id === 'real-vs-defaults' || g.id === 'real-vs-optuna' || g.id === 'vs-constant')
        .map((g) => `${g.id} ${goalMark(g.status)}`)
        .join('; ');
      return `| ${s.scenario.name} | ${split(rows.train, clicks?.train.clicks)} / ${split(rows.validation, clicks?.validation.clicks)} / ${split(rows.test, clicks?.test.clicks)} | ${fmt(s.constant?.ne)} | ${escapeCell(pickText(rec))} | **${s.agent.status === 'ok' ? `${fmt(s.agent.finalNe)}${rec?.testNeStdErr !== undefined ? ` ± ${fmt(rec.testNeStdErr)}` : ''}` : 'FAILED'}** | ${rnd ? `${fmt(rnd.mean)} ± ${fmt(rnd.sd)}` : 'FAILED'} | ${ne(s.peers.find((p) => p.id === 'optuna-lightgbm'))} | ${def('lr')} | ${def('fm')} | ${def('dcn')} | ${escapeCell(verdict)} |`;
    }),
  ];
}

function pctCtr(ctr: number): string {
  const p = ctr * 100;
  return `${p >= 10 ? p.toFixed(1) : p.toPrecision(2)}%`;
}

export function goalLines(goals: AgentGoalResult[]): string[] {
  return goals.map((g) => `- ${goalMark(g.status)} ${g.goal}: ${g.detail}`);
}

function campaignRow(label: string, r: CampaignRun, real = false): string {
  if (r.status !== 'ok')
    return `| ${label} | FAILED | | ${fmt(r.trainSeconds, 1)} | ${fmt(r.wallSeconds, 1)} | ${fmt(r.fullRunEquivalents, 2)} | ${escapeCell(r.error ?? '')} |`;
  const notes = [
    r.recommendation ? `pick: ${pickText(r.recommendation)}` : `best: ${r.best?.family} "${r.best?.title}"`,
    `${r.fullRuns} full runs${r.probes ? `, ${r.probes} probes on ${r.probeRows?.toLocaleString('en-US')} rows` : ''}${r.retries ? `, ${r.retries} retries` : ''}`,
    `stop: ${r.stopReason}`,
    ...(r.costModelError !== undefined ? [`cost model median |log2(predicted/measured)| ${fmt(r.costModelError, 2)}`] : []),
  ].join('; ');
  return `| ${label} | ${fmt(r.finalNe)} | ${real ? 'n/a' : pct(r.gainCaptured)} | ${fmt(r.trainSeconds, 1)} | ${fmt(r.wallSeconds, 1)} | ${fmt(r.fullRunEquivalents, 2)} | ${escapeCell(notes)} |`;
}

function peerRow(p: PeerRun, real = false): string {
  const ne = p.status === 'ok' && p.metrics ? fmt(p.metrics.ne) : p.status.toUpperCase();
  return `| ${p.label} | ${ne} | ${real ? 'n/a' : pct(p.gainCaptured)} | ${fmt(p.trainSeconds, 1)} | ${fmt(p.wallSeconds, 1)} | ${fmt(p.fullRunEquivalents, 0)} | ${escapeCell(p.note ?? '')} |`;
}

/** One campaign's pick: chosen on validation, its test NE, the constant it must beat, confirmOnTest's verdict. */
function pickRow(label: string, r: CampaignRun): string {
  const p = r.recommendation;
  if (r.status !== 'ok' || !p) return `| ${label} | ${r.status !== 'ok' ? 'FAILED' : '—'} | | | | | ${fmt(r.bestTestNe)} |`;
  const validation =
    p.validationNe !== undefined ? `${fmt(p.validationNe)}${p.validationNeStdErr !== undefined ? ` ± ${fmt(p.validationNeStdErr)}` : ''}` : '—';
  const verdict =
    p.kind === 'none' ? `no recommendation (floor: ${p.broken?.join('; ') ?? '—'}; best ${p.best ?? '—'})` : (p.confirmation?.note ?? '—');
  const halt = p.halt ? ` Halts for review first: ${p.halt.id} beat the baseline on validation but breaks ${p.halt.broken.join('; ')}.` : '';
  return `| ${label} | ${escapeCell(pickText(p))} | ${validation} | ${fmt(p.testNe)} | ${fmt(p.constantNe)} | ${escapeCell(verdict + halt)} | ${fmt(r.bestTestNe)} |`;
}

function researchLine(c: ResearchCheck): string {
  const pc = (x: number) => `${x > 0 ? '−' : x < 0 ? '+' : ''}${(100 * Math.abs(x)).toFixed(2)}%`;
  const measured =
    c.measuredGain === undefined
      ? 'not measured'
      : `NE ${pc(c.measuredGain)}${c.measuredStdErr !== undefined ? ` ± ${(100 * c.measuredStdErr).toFixed(2)}%` : ''} measured`;
  const ratio =
    (c.measuredGain === undefined
      ? ''
      : c.ratio !== undefined
        ? `: ${c.ratio.toPrecision(2)}x${c.within3x ? '' : ' (outside 3x)'}`
        : ': no gain measured') + (c.withinNoise === undefined ? '' : c.withinNoise ? ', within 2 SE' : ', beyond 2 SE');
  return `- ${c.id} "${c.title}": NE ${pc(c.expectedGain)} expected, ${measured}${ratio}${c.via === 'config' ? ' (matched to research by its config)' : ''}`;
}

/** Research's expectations over every scenario's runs together. */
function pooledResearch(report: AgentBenchReport): string[] {
  const checks = report.scenarios.flatMap((s) => s.research?.checks ?? []);
  if (!checks.length) return [];
  return ['', `Research expectations over every scenario: ${calibrationText(researchCalibration(checks))}.`];
}

function curveText(r: CampaignRun): string {
  return r.curve.map((p) => `${fmt(p.bestNe)} (${p.compute})`).join(' → ') || '—';
}

/**
 * A report written before its run ended (after each scenario, or merged from parts that were stopped): which of the
 * planned scenarios it holds and which it does not, so a partial table is never read as the whole run.
 */
export function partialNote(report: AgentBenchReport): string {
  if (report.state !== 'running') return '';
  const done = new Set(report.scenarios.map((s) => s.scenario.name));
  const missing = report.options.scenarios.filter((n) => !done.has(n));
  if (!missing.length) return ' **Partial: the run was still going when this was written.**';
  return ` **Partial: ${done.size} of ${report.options.scenarios.length} scenarios finished${done.size ? ` (${[...done].join(', ')})` : ''}; not finished when this was written: ${missing.join(', ')}.**`;
}

export function agentMarkdown(report: AgentBenchReport): string {
  const o = report.options;
  const py = report.python;
  const lines = [
    '# Agent benchmark',
    '',
    commitLine(report),
    machineLine(report, report.loadAverage),
    py
      ? 'error' in py
        ? `Python peers: unavailable (${py.error}).`
        : `Python peers (bench venv .bench/venv): ${Object.entries(py.versions)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}.`
      : 'Python peers: not run.',
    `Run: scenarios ${o.scenarios.join(', ')}${o.rows ? `, **--rows ${o.rows}** (train rows; validation and test keep their ratio${o.scenarios.some(isRealScenario) ? '; the real logs at their own size' : ''}${o.scenarios.some((n) => (BENCH_TRUST_SCENARIOS as string[]).includes(n)) && !o.rowsGiven ? `; the trust scenarios at their own size${o.quick ? ', those over 30,000 train rows cut to that' : ''}` : ''})` : ''}${o.quick ? ' (**--quick** smoke run)' : ''}${o.rows === undefined && !o.quick ? ', every scenario at its own size (**--full**: the wide ones at their 500k train rows)' : ''}${o.families ? `; search space families **${o.families.join(', ')}** (agent and random alike${o.scenarios.some(isRealScenario) && !o.familiesGiven ? '; the real logs search lr, fm and dcn' : ''})` : "; search space: the product's families, **lr, fm and dcn** (agent and random alike)"}${o.probeMinRows ? `; probeMinRows ${o.probeMinRows}` : ''}; budget ${o.budget} experiments; random search over ${o.seeds} seeds; peers ${o.peers.join(', ') || 'none'} (cap ${o.capSeconds} s each).${report.parts && report.parts.length > 1 ? ` The scenarios ran in ${report.parts.length} processes at once (${report.parts.map((p) => p.scenarios.join(' + ')).join(' | ')}), so wall and train seconds are those of a machine running several benches.` : ''}${partialNote(report)}${report.resumed ? ` Resumed (--resume): ${report.resumed.pieces} of its pieces (a scenario's agent campaigns, a random seed, a peer) were kept from an earlier process of this run at the same commit and options, the first finished ${report.resumed.since}; their wall seconds are that process's.` : ''}`,
    '',
    "Every number is final test NE measured by the product's metrics (ranking/metrics.ts): for a campaign, the test NE of its recommendation (probes never count; no recommendation: a constant predictor at the training click rate, what keeping today's serving scores); for a peer, its predictions file through bench/peers/measure.ts. Gain captured = (baseline NE − NE) / (baseline NE − oracle NE), baseline = the campaign's baseline experiment (the agent's, for peers). Compute is in full-run equivalents (workflows/planner.ts computeUsed: every attempt, a probe at its row fraction; Optuna: one per trial). Train s = the product's own accounting (workflows/planner.ts trainSecondsUsed: every run and probe, and what failed attempts trained before failing; Optuna: its trials' training); wall s = everything, from start to finish. Campaigns run in process through workflows/planner.ts as new campaigns run (heuristic sub-agents, research step, probes where the data is large enough, budget counted in compute, the retry policy), with stallGain 0 so that every campaign spends its budget; seeds are 1000 × the scenario's index + k. A campaign's recommendation is decided as the workflow decides it, for the agent and random search alike: the heuristic evaluator ranks the full runs on validation (NE with paired standard errors) and advises, workflows/recommendation.ts decideRecommendation enforces the default floor (validation NE below a constant's, AUC above 0.5, calibration in band; no guardrails), and workflows/test-confirmation.ts confirmOnTest compares the pick with the baseline on test once; Optuna picks its trial by validation log loss. The agent's second campaign runs on the same data with the insights database its first campaign wrote (its warm start), at the same budget and seed, and is judged by the full runs it needs to get back to the first campaign's final NE.",
    ...(report.scenarios.length > 0 && report.scenarios.every((s) => !s.agent.recommendation)
      ? [
          '',
          "**Written before campaigns decided on validation: a campaign's final NE here is its best full run's test NE (selected on test), not a recommendation's.**",
        ]
      : []),
    '',
    ...summaryTable(report),
    '',
    "Picks on validation against a constant predictor, every scenario (constant predictor: the training click rate for every row, scored on test, contracts/decision-metrics.ts constantPredictorNe; research: the agent's full runs whose hypothesis came from the research step, expected relative NE gain against the one measured on validation vs the baseline; data findings: the workflow's data checks, drift and detectable change):",
    '',
    ...trustTable(report),
    ...pooledResearch(report),
    ...(report.scenarios.some((s) => s.scenario.kind === 'real')
      ? [
          '',
          "Real public logs (bench/real-logs: fetched from pinned PyPI packages; time split, test never selected on; the campaigns search lr, fm and dcn unless --families says otherwise). Each family's default is one full run of the product's default config for it (what `rankwright train` trains); Optuna-LightGBM and the other peers read the loader's own train / validation / test rows written as Criteo-layout TSVs. No planted truth: oracle NE, gain captured and the fresh-rows check are n/a. Test NE ± its standard error; within noise = the difference is at most 2 unpaired standard errors:",
          '',
          ...realTable(report),
        ]
      : []),
    '',
    '## Goals',
    '',
    ...goalLines(report.goals),
    '',
  ];
  for (const s of report.scenarios) {
    const sc = s.scenario;
    const rnd = s.random.summary;
    const real = sc.kind === 'real';
    lines.push(
      `## ${sc.name}`,
      '',
      `${sc.description ? `${sc.description.replace(/\.?$/, '.')} ` : ''}${sc.rows.train.toLocaleString('en-US')} train / ${sc.rows.validation.toLocaleString('en-US')} validation${sc.rows.validation ? '' : ` (the last ${sc.validationFraction * 100}% of train validates)`} / ${sc.rows.test.toLocaleString('en-US')} test rows; oracle NE ${real ? 'n/a (a real log: no planted truth)' : fmt(sc.oracleNe)}; baseline NE ${fmt(s.baselineNe)}.${sc.source ? ` From ${sc.source.package} (${sc.source.file}); CSV sha256 ${sc.source.csvSha256.slice(0, 16)}…; test from ${sc.source.testFrom}.` : ''}${sc.families ? ` Search space: ${sc.families.join(', ')}.` : real ? " Search space: lr, fm, dcn (the product's)." : ''}`,
      '',
      '| contender | final test NE | gain captured | train s | wall s | full-run eq. | notes |',
      '|---|---:|---:|---:|---:|---:|---|',
      campaignRow(`agent (seed ${s.agent.seed})`, s.agent, real),
      ...(s.warmStart ? [campaignRow(`agent, second campaign on the same data (warm start)`, s.warmStart.run, real)] : []),
      rnd.ne
        ? `| random search, mean ± sd of ${rnd.ne.n} seeds | ${fmt(rnd.ne.mean)} ± ${fmt(rnd.ne.sd)} | ${real ? 'n/a' : pct(rnd.gainCaptured?.mean)} | ${fmt(rnd.trainSeconds?.mean, 1)} | ${fmt(rnd.wallSeconds?.mean, 1)} | ${fmt(rnd.fullRunEquivalents?.mean, 2)} | per seed: ${s.random.runs.map((r) => `${r.seed}: ${r.status === 'ok' ? fmt(r.finalNe) : 'FAILED'}`).join(', ')}${rnd.failed ? `; ${rnd.failed} failed` : ''} |`
        : `| random search | FAILED | | | | | ${escapeCell(s.random.runs.map((r) => `${r.seed}: ${r.error ?? r.status}`).join('; '))} |`,
      ...s.peers.map((p) => peerRow(p, real)),
      ...(s.familyDefaults ?? []).map((p) => peerRow(p, real)),
      '',
      `Agent, the test NE of what it would recommend had it stopped after each full run (compute so far): ${curveText(s.agent)}. Reaches random search's mean: ${reachText(s)}.`,
      '',
      ...(s.agent.recommendation
        ? [
            `Picks (selected on validation, confirmed on test; constant predictor at the training click rate${s.constant ? `, ${pctCtr(s.constant.trainCtr)} on a test click rate of ${pctCtr(s.constant.testCtr)}` : ''}):`,
            '',
            '| campaign | pick | validation NE ± SE | test NE | constant predictor | on test (confirmOnTest) | best full run on test (selection on test, for contrast) |',
            '|---|---|---:|---:|---:|---|---:|',
            pickRow(`agent (seed ${s.agent.seed})`, s.agent),
            ...(s.warmStart ? [pickRow('agent, second campaign', s.warmStart.run)] : []),
            ...s.random.runs.map((r) => pickRow(`random (seed ${r.seed})`, r)),
            '',
          ]
        : []),
      ...(real ? ['On rows no campaign ever saw: n/a (a real log has no planted truth to draw fresh rows from).', ''] : []),
      ...(s.fresh
        ? [
            `On rows no campaign ever saw (the planted test stream continued, as many rows as test): ${'unavailable' in s.fresh ? `not measured (${s.fresh.unavailable}).` : `${freshGoal(s.fresh).detail}.`}`,
            '',
          ]
        : []),
      ...(s.research
        ? [
            `Research expectations against measured validation gains: ${s.research.calibration.n ? `${calibrationText(s.research.calibration)}.` : 'no full run came from a research hypothesis.'}`,
            '',
            ...s.research.checks.map(researchLine),
            ...(s.research.checks.length ? [''] : []),
          ]
        : []),
      ...(s.dataChecks
        ? [
            `Data checks${s.dataChecks.detectable.length ? ` (smallest detectable NE change: ${s.dataChecks.detectable.map((d) => `${d.split} ${(100 * d.relativeNeChange).toFixed(1)}% on ${count(d.clicks)} clicks`).join(', ')})` : ''}: ${s.dataChecks.findings.length ? '' : 'no findings.'}`,
            '',
            ...s.dataChecks.findings.map((f) => `- ${f.severity} ${f.kind}: ${f.message}`),
            ...(s.dataChecks.findings.length ? [''] : []),
          ]
        : []),
      ...(s.warmStart
        ? [
            `Second campaign, on the insights database the first one wrote: ${curveText(s.warmStart.run)}. First full runs: ${
              s.warmStart.run.experiments
                .filter((e) => !e.probe)
                .slice(0, AGENT_GOALS.warmWithin)
                .map((e) => `${e.family} "${e.title}" (${e.technique ?? '—'}, NE ${fmt(e.ne)})`)
                .join('; ') || '—'
            }. Reaches the first campaign's final NE (${fmt(s.warmStart.target)}): ${warmText(s)}.`,
            '',
          ]
        : []),
      'Goals:',
      '',
      ...goalLines(s.goals),
      '',
    );
  }
  return lines.join('\n');
}
