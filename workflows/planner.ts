import type { CampaignInput, ExperimentResult, ProposedExperiment, StopReason } from '../contracts';

/**
 * The REA-style campaign plan, free of Temporal so the same code drives a workflow (durably) and the agent
 * benchmark (in process). Deterministic: every decision is a function of the input and the results so far.
 *
 *   validation   — single hypotheses against the baseline
 *   combination  — stack what won by a significant margin
 *   exploitation — tune the best
 *
 * Random search (strategy "random") runs one phase over the whole budget with the random designer.
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
  /** Experiment count at which the current phase ends (set when the phase starts). */
  phaseLimit?: number;
  /** Best NE when the current phase started, for the stall check. */
  phaseStartBestNe?: number;
}

export interface PlanOps {
  /** Every experiment so far (baseline included), in completion order. */
  results(): ExperimentResult[];
  /** Called once when a phase starts. */
  onPhase(phase: DesignPhase): Promise<void>;
  /** Called before each wave: the pause gate and the continue-as-new point of a workflow. */
  beforeWave(): Promise<void>;
  design(phase: DesignPhase, count: number): Promise<ProposedExperiment[]>;
  /** Runs proposals in parallel until all have finished; results must be visible through results() after. */
  run(phase: DesignPhase, proposals: ProposedExperiment[]): Promise<void>;
}

export function phasesFor(strategy: CampaignInput['strategy']): DesignPhase[] {
  return strategy === 'random' ? ['validation'] : ['validation', 'combination', 'exploitation'];
}

export function bestResult(results: ExperimentResult[]): ExperimentResult | undefined {
  let best: ExperimentResult | undefined;
  for (const r of results) {
    if (r.status !== 'succeeded' || !r.metrics) continue;
    if (!best || r.metrics.ne < best.metrics!.ne) best = r;
  }
  return best;
}

export function trainSecondsUsed(results: ExperimentResult[]): number {
  return results.reduce((s, r) => s + r.trainSeconds, 0);
}

/** Why the budget or the target ends the campaign now, if it does. */
export function budgetStop(input: CampaignInput, results: ExperimentResult[]): StopReason | undefined {
  const best = bestResult(results);
  if (input.budget.targetNe !== undefined && best?.metrics && best.metrics.ne <= input.budget.targetNe) return 'target-reached';
  if (results.length >= input.budget.experiments) return 'budget-experiments';
  if (input.budget.trainSeconds !== undefined && trainSecondsUsed(results) >= input.budget.trainSeconds) return 'budget-train-seconds';
  return undefined;
}

export async function runPlan(input: CampaignInput, state: PlanState, ops: PlanOps, shares: PhaseShares = PHASE_SHARES): Promise<StopReason> {
  const phases = phasesFor(input.strategy);
  while (state.phaseIndex < phases.length) {
    const phase = phases[state.phaseIndex];
    const isLast = state.phaseIndex === phases.length - 1;
    if (state.phaseLimit === undefined) {
      const used = ops.results().length;
      const left = input.budget.experiments - used;
      const share = isLast ? left : Math.max(1, Math.ceil(left * shares[phase]));
      state.phaseLimit = used + share;
      state.phaseStartBestNe = bestResult(ops.results())?.metrics?.ne;
      await ops.onPhase(phase);
    }
    for (;;) {
      const stop = budgetStop(input, ops.results());
      if (stop) return stop;
      const allowance = Math.min(state.phaseLimit - ops.results().length, input.budget.parallel);
      if (allowance <= 0) break;
      await ops.beforeWave();
      const proposals = (await ops.design(phase, allowance)).slice(0, allowance);
      // A designer with nothing new to try ends the phase early rather than repeating itself.
      if (proposals.length === 0) break;
      await ops.run(phase, proposals);
    }
    const stop = budgetStop(input, ops.results());
    if (stop) return stop;
    if (state.phaseIndex > 0 && stalled(input, state, ops.results())) return 'stalled';
    state.phaseIndex += 1;
    state.phaseLimit = undefined;
  }
  return 'plan-complete';
}

/** A phase stalls when it improved the best NE by less than `stallGain` (relative). */
function stalled(input: CampaignInput, state: PlanState, results: ExperimentResult[]): boolean {
  const before = state.phaseStartBestNe;
  const after = bestResult(results)?.metrics?.ne;
  if (before === undefined || after === undefined) return false;
  return (before - after) / before < input.budget.stallGain;
}
