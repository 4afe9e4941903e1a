import type { ExperimentResult, StopReason } from '../../contracts';
import { bestResult, computeUsed, trainSecondsUsed } from '../../workflows/planner';
import { goalMark, type GoalStatus, type RunResult } from '../quality/report';
import { commitLine, machineLine, type BenchStamp, type LoadRange } from '../stamp';
import type { CampaignOutcome, Strategy } from './campaign';

/**
 * The agent bench's results, goals and markdown. Pure functions of the numbers: the harness (bench/agent.ts) fills an
 * AgentBenchReport scenario by scenario; tests feed made-up ones. Every contender is measured the same way — its final
 * test NE from the product's metrics (ranking/metrics.ts): a campaign's best full run's ExperimentResult.metrics.ne,
 * a peer's predictions file through bench/peers/measure.ts.
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

/** After each full run (completion order): its NE, the best full-run NE so far and the compute spent so far. */
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
  /** Test NE of the campaign's best full run (what it would recommend; probes never count). */
  finalNe?: number;
  best?: { id: string; title: string; family: string };
  baselineNe?: number;
  /** (baselineNe − finalNe) / (baselineNe − oracleNe). */
  gainCaptured?: number;
  /** Sum of ExperimentResult.trainSeconds over every run, probes included (the product's own accounting). */
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

export type AgentGoalId = 'vs-optuna' | 'vs-ftrl' | 'vs-random' | 'reach-random' | 'warm-start';
const GOAL_IDS: AgentGoalId[] = ['vs-optuna', 'vs-ftrl', 'vs-random', 'reach-random', 'warm-start'];
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
  };
  /** The agent campaign's baseline NE (every campaign trains the same baseline; peers' gain is measured from it). */
  baselineNe?: number;
  agent: CampaignRun;
  random: { runs: CampaignRun[]; summary: RandomSummary };
  peers: PeerRun[];
  /** When the agent's best-so-far NE first reached random search's mean final NE. */
  agentReachesRandomMean?: Reach | 'never';
  /** The warm start, measured (absent in reports of runs before it was). */
  warmStart?: WarmStart;
  goals: AgentGoalResult[];
}

export interface AgentBenchReport extends BenchStamp {
  loadAverage?: LoadRange;
  python?: { versions: Record<string, string>; venvSeconds: number; venvInstalled: boolean } | { error: string };
  options: {
    scenarios: string[];
    rows?: number;
    families?: string[];
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

/** A finished campaign's numbers. */
export function summarizeCampaign(outcome: CampaignOutcome, oracleNe: number | undefined): CampaignRun {
  const { results, probes, timeline } = outcome;
  const baselineNe = results.find((r) => r.phase === 'baseline')?.metrics?.ne;
  const best = bestResult(results);
  const curve: CurvePoint[] = [];
  let bestNe: number | undefined;
  timeline.forEach((r, i) => {
    if (r.probe) return;
    if (r.status === 'succeeded' && r.metrics && (bestNe === undefined || r.metrics.ne < bestNe)) bestNe = r.metrics.ne;
    curve.push({ experiment: curve.length + 1, ne: r.metrics?.ne, bestNe, compute: computeUsed(timeline.slice(0, i + 1)) });
  });
  const finalNe = best?.metrics?.ne;
  return {
    strategy: outcome.strategy,
    seed: outcome.seed,
    status: finalNe === undefined ? 'failed' : 'ok',
    ...(finalNe === undefined ? { error: 'no full run succeeded' } : {}),
    stopReason: outcome.stopReason,
    finalNe,
    best: best ? { id: best.experimentId, title: best.hypothesis?.title ?? '', family: best.config.family } : undefined,
    baselineNe,
    gainCaptured: gainCaptured(baselineNe, finalNe, oracleNe),
    trainSeconds: round(trainSecondsUsed(results, probes), 2),
    wallSeconds: round(outcome.wallSeconds, 1),
    fullRunEquivalents: computeUsed(results, probes),
    fullRuns: results.length,
    probes: probes.length,
    retries: timeline.reduce((s, r) => s + Math.max(0, r.attempts.length - 1), 0),
    ...(outcome.probeScale ? { probeRows: outcome.probeScale.trainRows } : {}),
    ...(outcome.researchSeconds !== undefined ? { researchSeconds: outcome.researchSeconds } : {}),
    curve,
    experiments: timeline.map(row),
  };
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

export const GOAL_TEXT: Record<AgentGoalId, string> = {
  'vs-optuna': `agent no worse than Optuna-tuned LightGBM (test NE ≤) on ≥ ${AGENT_GOALS.optunaShare * 100}% of the scenarios (3 of 4)`,
  'vs-ftrl': 'agent never worse than the textbook FTRL script (test NE ≤, every scenario)',
  'vs-random': "agent better than random search's mean (test NE <, every scenario)",
  'reach-random': `agent reaches random search's mean final NE within ${AGENT_GOALS.reachWithin} full-run equivalents (every scenario)`,
  'warm-start': `a second agent campaign on the same data reaches the first one's final NE within ${AGENT_GOALS.warmWithin} experiments (full runs, its baseline the first; every scenario)`,
};

/** The same goals as verdicts on one scenario. */
export const SCENARIO_GOAL_TEXT: Record<AgentGoalId, string> = {
  'vs-optuna': 'agent no worse than Optuna-tuned LightGBM (test NE ≤)',
  'vs-ftrl': 'agent no worse than the textbook FTRL script (test NE ≤)',
  'vs-random': "agent better than random search's mean (test NE <)",
  'reach-random': `agent reaches random search's mean final NE within ${AGENT_GOALS.reachWithin} full-run equivalents`,
  'warm-start': `a second agent campaign on the same data reaches the first one's final NE within ${AGENT_GOALS.warmWithin} experiments (full runs)`,
};

const okPeer = (s: Pick<AgentScenarioResult, 'peers'>, id: string) => s.peers.find((p) => p.id === id && p.status === 'ok' && p.metrics);

/** The four goals on one scenario's numbers. A goal whose contenders did not all finish is 'unchecked'. */
export function scenarioGoals(s: Omit<AgentScenarioResult, 'goals'>): AgentGoalResult[] {
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

/** The goals over all scenarios, from each scenario's verdicts. */
export function overallGoals(scenarios: AgentScenarioResult[]): AgentGoalResult[] {
  return GOAL_IDS.map((id) => {
    const per = scenarios.map((s) => ({ name: s.scenario.name, g: s.goals.find((g) => g.id === id) }));
    const passed = per.filter((p) => p.g?.status === 'pass').map((p) => p.name);
    const missed = per.filter((p) => p.g?.status === 'miss').map((p) => p.name);
    const unchecked = per.filter((p) => !p.g || p.g.status === 'unchecked').map((p) => p.name);
    const n = scenarios.length;
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
      return `| ${s.scenario.name} | ${fmt(s.scenario.oracleNe)} | ${fmt(s.baselineNe)} | **${s.agent.status === 'ok' ? fmt(s.agent.finalNe) : 'FAILED'}** | ${rnd.ne ? `${fmt(rnd.ne.mean)} ± ${fmt(rnd.ne.sd)}` : 'FAILED'} | ${peerCell('ftrl-script', ftrl)} | ${peerCell('optuna-lightgbm', optuna)} | ${pct(s.agent.gainCaptured)} / ${pct(rnd.gainCaptured?.mean)} / ${pct(optuna?.gainCaptured)} | ${fmt(s.agent.fullRunEquivalents, 1)} / ${fmt(rnd.fullRunEquivalents?.mean, 1)} | ${reachText(s)} | ${warmText(s)} |`;
    }),
  ];
}

export function goalLines(goals: AgentGoalResult[]): string[] {
  return goals.map((g) => `- ${goalMark(g.status)} ${g.goal}: ${g.detail}`);
}

function campaignRow(label: string, r: CampaignRun): string {
  if (r.status !== 'ok')
    return `| ${label} | FAILED | | ${fmt(r.trainSeconds, 1)} | ${fmt(r.wallSeconds, 1)} | ${fmt(r.fullRunEquivalents, 2)} | ${escapeCell(r.error ?? '')} |`;
  const notes = [
    `best: ${r.best?.family} "${r.best?.title}"`,
    `${r.fullRuns} full runs${r.probes ? `, ${r.probes} probes on ${r.probeRows?.toLocaleString('en-US')} rows` : ''}${r.retries ? `, ${r.retries} retries` : ''}`,
    `stop: ${r.stopReason}`,
  ].join('; ');
  return `| ${label} | ${fmt(r.finalNe)} | ${pct(r.gainCaptured)} | ${fmt(r.trainSeconds, 1)} | ${fmt(r.wallSeconds, 1)} | ${fmt(r.fullRunEquivalents, 2)} | ${escapeCell(notes)} |`;
}

function peerRow(p: PeerRun): string {
  const ne = p.status === 'ok' && p.metrics ? fmt(p.metrics.ne) : p.status.toUpperCase();
  return `| ${p.label} | ${ne} | ${pct(p.gainCaptured)} | ${fmt(p.trainSeconds, 1)} | ${fmt(p.wallSeconds, 1)} | ${fmt(p.fullRunEquivalents, 0)} | ${escapeCell(p.note ?? '')} |`;
}

function curveText(r: CampaignRun): string {
  return r.curve.map((p) => `${fmt(p.bestNe)} (${p.compute})`).join(' → ') || '—';
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
    `Run: scenarios ${o.scenarios.join(', ')}${o.rows ? `, **--rows ${o.rows}** (train rows; validation and test keep their ratio)` : ''}${o.quick ? ' (**--quick** smoke run)' : ''}${o.families ? `; search space families **${o.families.join(', ')}** (agent and random alike)` : ''}${o.probeMinRows ? `; probeMinRows ${o.probeMinRows}` : ''}; budget ${o.budget} experiments; random search over ${o.seeds} seeds; peers ${o.peers.join(', ') || 'none'} (cap ${o.capSeconds} s each).${report.parts && report.parts.length > 1 ? ` The scenarios ran in ${report.parts.length} processes at once (${report.parts.map((p) => p.scenarios.join(' + ')).join(' | ')}), so wall and train seconds are those of a machine running two benches.` : ''}${report.state === 'running' ? ' **Partial: the run was still going when this was written.**' : ''}`,
    '',
    "Every number is final test NE measured by the product's metrics (ranking/metrics.ts): for a campaign, its best full run's test NE (probes never count); for a peer, its predictions file through bench/peers/measure.ts. Gain captured = (baseline NE − NE) / (baseline NE − oracle NE), baseline = the campaign's baseline experiment (the agent's, for peers). Compute is in full-run equivalents (workflows/planner.ts computeUsed: every attempt, a probe at its row fraction; Optuna: one per trial). Train s = the product's ExperimentResult.trainSeconds summed over every run (Optuna: its trials' training); wall s = everything, from start to finish. Campaigns run in process through workflows/planner.ts as new campaigns run (heuristic sub-agents, research step, probes where the data is large enough, budget counted in compute, the retry policy), with stallGain 0 so that every campaign spends its budget; seeds are 1000 × the scenario's index + k. A campaign's final NE is that of the full run the product picks as best (workflows/planner.ts bestResult: the lowest test NE), for the agent and random search alike; Optuna picks its trial by validation log loss. The agent's second campaign runs on the same data with the insights database its first campaign wrote (its warm start), at the same budget and seed, and is judged by the full runs it needs to get back to the first campaign's final NE.",
    '',
    ...summaryTable(report),
    '',
    '## Goals',
    '',
    ...goalLines(report.goals),
    '',
  ];
  for (const s of report.scenarios) {
    const sc = s.scenario;
    const rnd = s.random.summary;
    lines.push(
      `## ${sc.name}`,
      '',
      `${sc.description ? `${sc.description.replace(/\.?$/, '.')} ` : ''}${sc.rows.train.toLocaleString('en-US')} train / ${sc.rows.validation.toLocaleString('en-US')} validation${sc.rows.validation ? '' : ` (the last ${sc.validationFraction * 100}% of train validates)`} / ${sc.rows.test.toLocaleString('en-US')} test rows; oracle NE ${fmt(sc.oracleNe)}; baseline NE ${fmt(s.baselineNe)}.`,
      '',
      '| contender | final test NE | gain captured | train s | wall s | full-run eq. | notes |',
      '|---|---:|---:|---:|---:|---:|---|',
      campaignRow(`agent (seed ${s.agent.seed})`, s.agent),
      ...(s.warmStart ? [campaignRow(`agent, second campaign on the same data (warm start)`, s.warmStart.run)] : []),
      rnd.ne
        ? `| random search, mean ± sd of ${rnd.ne.n} seeds | ${fmt(rnd.ne.mean)} ± ${fmt(rnd.ne.sd)} | ${pct(rnd.gainCaptured?.mean)} | ${fmt(rnd.trainSeconds?.mean, 1)} | ${fmt(rnd.wallSeconds?.mean, 1)} | ${fmt(rnd.fullRunEquivalents?.mean, 2)} | per seed: ${s.random.runs.map((r) => `${r.seed}: ${r.status === 'ok' ? fmt(r.finalNe) : 'FAILED'}`).join(', ')}${rnd.failed ? `; ${rnd.failed} failed` : ''} |`
        : `| random search | FAILED | | | | | ${escapeCell(s.random.runs.map((r) => `${r.seed}: ${r.error ?? r.status}`).join('; '))} |`,
      ...s.peers.map(peerRow),
      '',
      `Agent, best-so-far test NE after each full run (compute so far): ${curveText(s.agent)}. Reaches random search's mean: ${reachText(s)}.`,
      '',
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
