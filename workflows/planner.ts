import type { CampaignInput, ExperimentResult, ProbeScale, ProposedExperiment, StopReason } from '../contracts';
import { bestOn, decisionNe, type DecisionBasis } from '../contracts/decision-metrics';
import { canonicalConfigKey, canonicalCrosses } from '../contracts/canonical-config';
import { familyPortfolio, PORTFOLIO_TECHNIQUE_PREFIX, TRAINER_TECHNIQUE_PREFIX, trainerPortfolio } from '../contracts/portfolio';
import { computeOf, REFERENCE_PROBE } from '../contracts/probe';
import { DEFAULT_MAX_ATTEMPTS } from '../contracts/experiment';

/**
 * The REA-style campaign plan, free of Temporal so the same code drives a workflow (durably) and the agent
 * benchmark (in process). Deterministic: every decision is a function of the input and the results so far.
 *
 *   validation   — single hypotheses against the baseline; with probes on, screened first on a row sample and only
 *                  the ones that beat the best model's probe run in full (successive halving)
 *   combination  — stack what won by a significant margin
 *   exploitation — tune the best
 *
 * Random search (strategy "random") runs one phase over the whole budget with the random designer.
 *
 * The budget counts compute (PlanOptions.countCompute): every attempt of a run is one full run, a probe its row
 * fraction. Campaigns recorded before that counted experiments, and replay that way.
 *
 * Every choice here (the best model, the target, a phase's stall, the probes' bar) reads validation NE
 * (PlanOptions.decideOn): test rows are scored for information and confirm the chosen model once, at the end.
 * Campaigns recorded before decided on test NE, and replay that way.
 *
 * A portfolio before a ladder (PlanOptions.portfolio): the validation phase's first round — its probe round, or its
 * first waves of full runs where the data is too small to probe — starts with every family of the search space at its
 * own defaults (contracts/portfolio.ts), and the designer's ideas fill the rest. A family that loses its probe is
 * screened like any other idea; on small-data probes (contracts/probe.ts) the families run in full before the round. Campaigns recorded before let the designer alone choose, and replay that way.
 */
export type DesignPhase = 'validation' | 'combination' | 'exploitation';

/** Share of the experiments left at the start of a phase that the phase may spend. */
export type PhaseShares = Record<DesignPhase, number>;
/**
 * Validation only has to find which single ideas win; the big steps come from stacking them (combination), so
 * combination gets the larger share. With 12 experiments: baseline, 4 validation, 4 combination, 3 exploitation.
 */
export const PHASE_SHARES: PhaseShares = { validation: 0.35, combination: 0.45, exploitation: 1 };
/** The shares of the first release, kept so campaigns recorded with them replay unchanged (see patched() use). */
export const PHASE_SHARES_V1: PhaseShares = { validation: 0.5, combination: 0.4, exploitation: 1 };

export interface PlanState {
  phaseIndex: number;
  /** Budget used (experiments, or compute with countCompute) at which the current phase ends. */
  phaseLimit?: number;
  /** Whether the validation phase's probe round has run (campaigns that probe). */
  screened?: boolean;
  /** Best NE (on the decision basis) when the current phase started, for the stall check. */
  phaseStartBestNe?: number;
}

export interface PlanOps {
  /** Every full experiment so far (baseline included), in completion order. */
  results(): ExperimentResult[];
  /** Every probe so far (campaigns that probe). */
  probes?(): ExperimentResult[];
  /** Called once when a phase starts; `note` says why when the previous phase stalled and the campaign went on. */
  onPhase(phase: DesignPhase, note?: string): Promise<void>;
  /** Research hypotheses no experiment or probe has run yet (see PlanOptions.stallNeedsExhaustion). */
  untried?(): string[];
  /** Called before each wave: the pause gate and the continue-as-new point of a workflow. */
  beforeWave(): Promise<void>;
  design(phase: DesignPhase, count: number): Promise<ProposedExperiment[]>;
  /**
   * Runs proposals in parallel until all have finished; results must be visible through results() after — or,
   * given a probe scale, trains them as probes on that row sample and makes them visible through probes().
   */
  run(phase: DesignPhase, proposals: ProposedExperiment[], probe?: ProbeScale): Promise<void>;
  /** Called after a probe round: its probes (the reference first) and the ones promoted to full runs. */
  onScreened?(round: { reference?: ExperimentResult; probes: ExperimentResult[]; promoted: ExperimentResult[] }): Promise<void>;
}

export interface PlanOptions {
  shares?: PhaseShares;
  /** The budget counts compute (retries and probes), not experiments. */
  countCompute?: boolean;
  /** Screen validation ideas as probes at this scale (agent strategy; needs PlanOps.probes). */
  probe?: ProbeScale;
  /**
   * A stalled phase ends the campaign only when no research hypothesis is left untried; otherwise the campaign goes
   * on to its next phase. (Campaigns recorded before stopped at the first stall.)
   */
  stallNeedsExhaustion?: boolean;
  /** The rows decisions read (default validation; campaigns recorded before validation metrics: test). */
  decideOn?: DecisionBasis;
  /**
   * The validation phase tries every family of the search space at its defaults first (the portfolio), as probes
   * where the campaign probes and as full runs where it doesn't. (Campaigns recorded before did not.)
   */
  portfolio?: boolean;
  /** The trainSeconds budget counts failed attempts' training too (see trainSecondsUsed). */
  failedAttemptSeconds?: boolean;
  /**
   * A warm start goes ahead of the pending portfolio only while none has run: a second one (another similar data set's
   * winner) waits behind the families the portfolio has yet to measure. (Campaigns recorded before put one first in
   * every wave, and replay that way.)
   */
  warmStartOnce?: boolean;
}

export function phasesFor(strategy: CampaignInput['strategy']): DesignPhase[] {
  return strategy === 'random' ? ['validation'] : ['validation', 'combination', 'exploitation'];
}

/** The best finished run: the lowest NE on the decision basis (validation unless a recorded campaign says test). */
export function bestResult(results: ExperimentResult[], decideOn: DecisionBasis = 'validation'): ExperimentResult | undefined {
  return bestOn(results, decideOn);
}

/**
 * Training seconds of every run: full experiments and probes, and with `failedAttempts` the seconds their failed
 * attempts trained before failing (FailureReport.trainSeconds: a run that diverged late, or a retried one, cost that
 * much too). Campaigns recorded before failures carried their seconds count finished runs only, and replay so.
 */
export function trainSecondsUsed(results: ExperimentResult[], probes: ExperimentResult[] = [], failedAttempts = false): number {
  const failed = (r: ExperimentResult) => (r.attempts ?? []).reduce((s, a) => s + (a.failure?.trainSeconds ?? 0), 0);
  return [...results, ...probes].reduce((s, r) => s + r.trainSeconds + (failedAttempts ? failed(r) : 0), 0);
}

/**
 * How many attempts each run of a wave may take so that the wave cannot take the campaign past its experiment budget
 * (campaigns that count compute: every attempt is a run). Each run's first attempt is paid for — the planner launched
 * the wave within the budget — and what is left after them is shared evenly as retries, so the last waves of a
 * campaign retry less or not at all rather than spend more than the user gave. A probe's attempt costs its row
 * fraction.
 */
export function attemptsWithinBudget(budget: number, used: number, waveSize: number, attemptCost = 1): number {
  const firstAttempts = waveSize * attemptCost;
  const retries = Math.floor((budget - used - firstAttempts) / firstAttempts + 1e-9);
  return Math.max(1, Math.min(DEFAULT_MAX_ATTEMPTS, 1 + retries));
}

/** Compute used in full-run equivalents: every attempt of every run, a probe at its row fraction. */
export function computeUsed(results: ExperimentResult[], probes: ExperimentResult[] = []): number {
  // Rounded so that sums of fractions (0.2 × 5) compare exactly with whole budgets.
  return Math.round([...results, ...probes].reduce((s, r) => s + computeOf(r), 0) * 1e6) / 1e6;
}

/** Budget used, in the unit the budget counts. */
function budgetUsed(results: ExperimentResult[], probes: ExperimentResult[], countCompute: boolean): number {
  return countCompute ? computeUsed(results, probes) : results.length;
}

/** Why the budget or the target ends the campaign now, if it does. */
export function budgetStop(
  input: CampaignInput,
  results: ExperimentResult[],
  probes: ExperimentResult[] = [],
  countCompute = false,
  decideOn: DecisionBasis = 'validation',
  failedAttemptSeconds = false,
): StopReason | undefined {
  const best = bestResult(results, decideOn);
  const bestNe = best && decisionNe(best, decideOn);
  if (input.budget.targetNe !== undefined && bestNe !== undefined && bestNe <= input.budget.targetNe) return 'target-reached';
  // Counting compute, what is left must still pay for a full run.
  const spent = countCompute ? computeUsed(results, probes) > input.budget.experiments - 1 + 1e-9 : results.length >= input.budget.experiments;
  if (spent) return 'budget-experiments';
  if (input.budget.trainSeconds !== undefined && trainSecondsUsed(results, probes, failedAttemptSeconds) >= input.budget.trainSeconds)
    return 'budget-train-seconds';
  return undefined;
}

export async function runPlan(input: CampaignInput, state: PlanState, ops: PlanOps, options: PlanOptions = {}): Promise<StopReason> {
  const phases = phasesFor(input.strategy);
  const shares = options.shares ?? PHASE_SHARES;
  const countCompute = !!options.countCompute;
  const decideOn = options.decideOn ?? 'validation';
  const probes = () => ops.probes?.() ?? [];
  const used = () => budgetUsed(ops.results(), probes(), countCompute);
  const stopNow = () => budgetStop(input, ops.results(), probes(), countCompute, decideOn, !!options.failedAttemptSeconds);
  let note: string | undefined;
  while (state.phaseIndex < phases.length) {
    const phase = phases[state.phaseIndex];
    const isLast = state.phaseIndex === phases.length - 1;
    if (state.phaseLimit === undefined) {
      const left = input.budget.experiments - used();
      const share = isLast ? left : Math.max(1, Math.ceil(left * shares[phase]));
      state.phaseLimit = used() + share;
      const bestSoFar = bestResult(ops.results(), decideOn);
      state.phaseStartBestNe = bestSoFar && decisionNe(bestSoFar, decideOn);
      await ops.onPhase(phase, note);
      note = undefined;
    }
    if (phase === 'validation' && options.probe && ops.probes && !state.screened) {
      const stop = stopNow();
      if (stop) return stop;
      // The last point where the workflow may continue as new before the round; a continued run comes back here.
      await ops.beforeWave();
      const screened = await screenWithProbes(input, state.phaseLimit, ops, options.probe, used, decideOn, !!options.portfolio);
      state.screened = true;
      // The round spent the validation phase: ideas that lost their probes are not re-run in full. Without a round
      // (too little budget to screen), the phase runs its ideas in full.
      if (screened) state.phaseLimit = used();
    }
    for (;;) {
      const stop = stopNow();
      if (stop) return stop;
      const allowance = Math.min(Math.floor(state.phaseLimit - used() + 1e-9), input.budget.parallel);
      if (allowance <= 0) break;
      await ops.beforeWave();
      const portfolio = phase === 'validation' && options.portfolio ? pendingPortfolio(input, ops) : [];
      const proposals = await withPortfolio(portfolio, allowance, (count) => ops.design(phase, count), warmFirst(ops, options));
      // A designer with nothing new to try ends the phase early rather than repeating itself.
      if (proposals.length === 0) break;
      await ops.run(phase, proposals);
    }
    const stop = stopNow();
    if (stop) return stop;
    if (state.phaseIndex > 0 && stalled(input, state, ops.results(), decideOn)) {
      const untried = options.stallNeedsExhaustion ? (ops.untried?.() ?? []) : [];
      if (untried.length === 0) return 'stalled';
      note = `the ${phase} phase stalled, but ${untried.length} research hypothes${untried.length === 1 ? 'is is' : 'es are'} untried (${untried.slice(0, 3).join('; ')}): going on`;
    }
    state.phaseIndex += 1;
    state.phaseLimit = undefined;
  }
  return 'plan-complete';
}

/** A phase stalls when it improved the best NE by less than `stallGain` (relative). */
function stalled(input: CampaignInput, state: PlanState, results: ExperimentResult[], decideOn: DecisionBasis): boolean {
  const before = state.phaseStartBestNe;
  const best = bestResult(results, decideOn);
  const after = best && decisionNe(best, decideOn);
  if (before === undefined || after === undefined) return false;
  return (before - after) / before < input.budget.stallGain;
}

/** The most ideas one probe round screens (a designer answers at most 32). */
export const MAX_PROBED_IDEAS = 24;

/**
 * The validation phase as one round of successive halving. Half of the phase's budget buys probes: a reference
 * probe of the best model so far and as many ideas as the rest pays for, all on the same row sample. The other half
 * runs in full the ideas whose probe beat the reference on validation NE, best first. Test NE never decides here.
 * Returns whether a round ran.
 */
async function screenWithProbes(
  input: CampaignInput,
  phaseLimit: number,
  ops: PlanOps,
  probe: ProbeScale,
  used: () => number,
  decideOn: DecisionBasis,
  portfolio: boolean,
): Promise<boolean> {
  let families = portfolio ? pendingPortfolio(input, ops) : [];
  if (families.length && probe.rowFraction > input.budget.probeFraction) {
    // A small-data probe (more than probeFraction of too few rows) ranks ideas within a family, but not families: a
    // family's capacity needs the rows a probe takes away (on a real log of 72k rows the DCN's default lost its 18k-row
    // probe to LR and FM and beat both in full). So on small data the portfolio runs in full, before the round.
    const affordable = families.slice(0, Math.max(0, Math.floor(phaseLimit - used() + 1e-9)));
    await inWaves(affordable, input.budget.parallel, (wave) => ops.run('validation', wave));
    families = [];
  }
  const ideas = Math.min(MAX_PROBED_IDEAS, Math.floor((phaseLimit - used()) / 2 / probe.rowFraction) - 1);
  const best = bestResult(ops.results(), decideOn);
  // Too little budget to screen, or no model to screen against: the phase runs its ideas in full.
  if (ideas < 2 || !best) return false;
  const proposals = await withPortfolio(families, ideas, (count) => ops.design('validation', count));
  if (proposals.length === 0) return false;
  const reference: ProposedExperiment = {
    model: best.config,
    hypothesis: {
      title: `Reference probe: ${best.hypothesis?.title ?? best.experimentId}`.slice(0, 200),
      technique: REFERENCE_PROBE,
      rationale: `The best model so far (${best.experimentId}) on the probe rows: an idea of this round earns a full run only if its probe beats this one on validation NE.`,
      expectedEffect: 'the bar every probe of the round must clear',
      parents: [best.experimentId],
    },
  };
  const before = ops.probes!().length;
  await inWaves([reference, ...proposals], input.budget.parallel, (wave) => ops.run('validation', wave, probe));
  const round = ops.probes!().slice(before);
  const bar = round.find((p) => p.hypothesis?.technique === REFERENCE_PROBE && p.status === 'succeeded')?.validationNe;
  const winners = round
    .filter((p) => p.hypothesis?.technique !== REFERENCE_PROBE && p.status === 'succeeded' && p.validationNe !== undefined)
    .filter((p) => bar === undefined || p.validationNe! < bar)
    .sort((a, b) => a.validationNe! - b.validationNe! || a.experimentId.localeCompare(b.experimentId));
  const promoted = winners.slice(0, Math.max(0, Math.floor(phaseLimit - used() + 1e-9)));
  const fullRuns: ProposedExperiment[] = promoted.map((p) => ({
    model: p.config,
    // A search-space trainer's probe is promoted to a full run of the same trainer at the same knobs.
    ...(p.externalJob && trainerOf(input, p) ? { trainer: p.externalJob.name, trainerParams: p.externalJob.params } : {}),
    hypothesis: {
      ...p.hypothesis!,
      parents: [...p.hypothesis!.parents, p.experimentId].slice(-20),
      rationale: `${probeEvidence(p, bar)} ${p.hypothesis!.rationale}`.slice(0, 600),
    },
  }));
  const seen = ops.results().length;
  await inWaves(fullRuns, input.budget.parallel, (wave) => ops.run('validation', wave));
  for (const run of ops.results().slice(seen)) {
    const from = promoted.find((p) => run.hypothesis?.parents.includes(p.experimentId));
    if (from) from.promotedTo = run.experimentId;
  }
  await ops.onScreened?.({
    reference: round.find((p) => p.hypothesis?.technique === REFERENCE_PROBE),
    probes: round.filter((p) => p.hypothesis?.technique !== REFERENCE_PROBE),
    promoted,
  });
  return true;
}

/**
 * The portfolio entries no run or probe of this campaign has measured yet: each family of the search space at its
 * defaults on the baseline's features (contracts/portfolio.ts). The baseline's own family is usually among the
 * measured (a default baseline is its family's default).
 */
export function pendingPortfolio(input: CampaignInput, ops: Pick<PlanOps, 'results' | 'probes'>): ProposedExperiment[] {
  const results = ops.results();
  const runs = [...results, ...(ops.probes?.() ?? [])];
  // An external run's config is the baseline's and says nothing about its model: it measures its trainer, not a family.
  const measured = new Set(runs.filter((e) => !e.externalJob).map((e) => canonicalConfigKey(e.config)));
  const trained = new Set(runs.flatMap((e) => (e.externalJob ? [e.externalJob.name] : [])));
  const baseline = results.find((r) => r.phase === 'baseline');
  const trainers = trainerPortfolio(baseline?.config ?? input.baseline, input.searchSpace)
    .filter((p) => !trained.has(p.trainer.name))
    .map((p): ProposedExperiment => ({
      model: p.model,
      trainer: p.trainer.name,
      trainerParams: p.trainer.params,
      hypothesis: {
        title: p.title,
        technique: `${TRAINER_TECHNIQUE_PREFIX}${p.trainer.name}`,
        rationale: p.rationale,
        expectedEffect: `measures ${p.trainer.name} on this data; if it fits best, the later phases tune its knobs`,
        parents: baseline ? [baseline.experimentId] : [],
        designer: 'heuristic' as const,
      },
    }));
  const families = familyPortfolio(baseline?.config ?? input.baseline, input.searchSpace)
    .filter((p) => !measured.has(canonicalConfigKey(p.model)))
    .map((p) => ({
      model: p.model,
      hypothesis: {
        title: p.title,
        technique: `${PORTFOLIO_TECHNIQUE_PREFIX}${p.family}`,
        rationale: p.rationale,
        expectedEffect: `measures ${p.family} on this data at its defaults; the family that fits best is where the later phases build`,
        parents: baseline ? [baseline.experimentId] : [],
        // The plan's own deterministic rule: the heuristic's, whichever designer answers the rest of the wave.
        designer: 'heuristic' as const,
      },
    }));
  return [...families, ...trainers];
}

/** The search-space trainer that trained `run`, if one did (searchSpace.trainers, by name). */
export function trainerOf(input: CampaignInput, run: Pick<ExperimentResult, 'externalJob'>) {
  const name = run.externalJob?.name;
  return name === undefined ? undefined : input.searchSpace.trainers?.find((t) => t.name === name);
}

/** The technique of a designer's warm start (agents/heuristic-designer/warm-start.ts), which goes before the portfolio. */
const WARM_START = 'warm-start';
/** The most proposals one design call may ask for (DesignRequest.count). */
const MAX_DESIGN_COUNT = 32;

/**
 * Up to `count` proposals: the designer's first warm start (the best run an earlier campaign measured on this data, or a
 * similar data set's winner: what is known beats what is assumed), then the pending portfolio, then the designer's
 * other ideas. The designer does not know the portfolio: it is asked for as many more as the portfolio may take, and
 * its plain switch to a family the portfolio runs now (same technique, same crosses: "Switch lr → fm (same
 * features)") is left out so that one family does not take two slots.
 */
async function withPortfolio(
  portfolio: ProposedExperiment[],
  count: number,
  design: (count: number) => Promise<ProposedExperiment[]>,
  warmAhead = true,
): Promise<ProposedExperiment[]> {
  if (portfolio.length === 0) return (await design(count)).slice(0, count);
  const designed = await design(Math.min(MAX_DESIGN_COUNT, count + Math.min(count, portfolio.length)));
  // One warm start (the designer's best: a re-run on this data comes before a similar data set's winner) goes first.
  const warm = warmAhead ? designed.filter((p) => p.hypothesis.technique === WARM_START).slice(0, Math.min(1, count)) : [];
  const first = portfolio.slice(0, count - warm.length);
  const keys = new Set(first.map((p) => canonicalConfigKey(p.model)));
  const plainSwitch = (p: ProposedExperiment) =>
    first.some(
      (f) =>
        f.hypothesis.technique === p.hypothesis.technique &&
        f.model.family === p.model.family &&
        JSON.stringify(canonicalCrosses(f.model.crosses)) === JSON.stringify(canonicalCrosses(p.model.crosses)),
    );
  const others = designed.filter((p) => !warm.includes(p) && !keys.has(canonicalConfigKey(p.model)) && !plainSwitch(p));
  return [...warm, ...first, ...others].slice(0, count);
}

/** Whether a warm start may go ahead of the pending portfolio in the next wave (PlanOptions.warmStartOnce). */
function warmFirst(ops: Pick<PlanOps, 'results' | 'probes'>, options: PlanOptions): boolean {
  if (!options.warmStartOnce) return true;
  return ![...ops.results(), ...(ops.probes?.() ?? [])].some((r) => r.hypothesis?.technique === WARM_START);
}

/** What a promoted idea's probe measured, for its hypothesis (and so for the report and the designer). */
export function probeEvidence(p: ExperimentResult, bar: number | undefined): string {
  const ne = p.validationNe!.toFixed(4);
  const against = bar === undefined ? 'the reference probe failed' : `reference ${bar.toFixed(4)}`;
  return `Probe ${p.experimentId} on ${p.probe?.trainRows ?? '?'} rows: validation NE ${ne} (${against}).`;
}

async function inWaves<T>(items: T[], size: number, run: (wave: T[]) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await run(items.slice(i, i + size));
}
