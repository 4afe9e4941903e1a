import type { ExperimentResult, Guardrails, RecommendationFloor } from '../contracts';
import { decisionNe, type DecisionBasis } from '../contracts/decision-metrics';
import { floorViolations, guardrailViolations } from './guardrails';
import { bestResult } from './planner';

/** What the workflow enforces around the evaluator's advice (guardrails, and deciding on validation, the floor). */
export interface RecommendationRules {
  guardrails: Guardrails;
  floor: RecommendationFloor;
  decideOn: DecisionBasis;
}

/** Each candidate's broken constraints (floor first, then guardrails), and the baseline's floor. */
export interface Eligibility {
  violations: Map<string, string[]>;
  baselineFloor: string[];
}

export function eligibility(base: ExperimentResult, candidates: ExperimentResult[], rules: RecommendationRules): Eligibility {
  const floorOf = (e: ExperimentResult) => (rules.decideOn === 'validation' ? floorViolations(e, rules.floor) : []);
  return {
    violations: new Map(candidates.map((c) => [c.experimentId, [...floorOf(c), ...guardrailViolations(c, base, rules.guardrails, rules.decideOn)]])),
    baselineFloor: floorOf(base),
  };
}

/**
 * The workflow's part of the recommendation, given the evaluator's advice (`advised`, an experiment id or null):
 *   - `candidate`: the advised candidate, when it breaks nothing;
 *   - `baseline`: keep the baseline, when no eligible candidate was advised and the baseline clears the floor;
 *   - `none`: nothing clears the floor — no recommendation; `best` (the best of all, baseline included) is what a
 *     human may override to.
 * `halt` names the best candidate when it beats the baseline but breaks a guardrail (a human must look first).
 * Pure and deterministic: the workflow and the agent benchmark decide with it alike.
 */
export type RecommendationDecision =
  | { kind: 'candidate'; pick: ExperimentResult; halt?: { candidate: ExperimentResult; broken: string[] } }
  | { kind: 'baseline'; halt?: { candidate: ExperimentResult; broken: string[] } }
  | { kind: 'none'; best: ExperimentResult; broken: string[] };

export function decideRecommendation(
  base: ExperimentResult,
  candidates: ExperimentResult[],
  advised: string | null,
  rules: RecommendationRules,
  { violations, baselineFloor }: Eligibility = eligibility(base, candidates, rules),
): RecommendationDecision {
  const { decideOn } = rules;
  const eligible = (id: string | null) => !!id && candidates.some((c) => c.experimentId === id) && violations.get(id)!.length === 0;
  const pick = candidates.find((c) => c.experimentId === (eligible(advised) ? advised : null));
  if (!pick && baselineFloor.length > 0) {
    // Nothing clears the floor: a campaign never recommends a model that is no better than no model.
    const best = bestResult([base, ...candidates], decideOn) ?? base;
    return { kind: 'none', best, broken: best === base ? baselineFloor : (violations.get(best.experimentId) ?? baselineFloor) };
  }
  const bestOverall = bestResult(candidates, decideOn);
  const broken = bestOverall ? violations.get(bestOverall.experimentId)! : [];
  const bestNe = bestOverall && decisionNe(bestOverall, decideOn);
  const baseNe = decisionNe(base, decideOn);
  const halt =
    bestOverall && bestNe !== undefined && baseNe !== undefined && bestNe < baseNe && broken.length > 0
      ? { candidate: bestOverall, broken }
      : undefined;
  return pick ? { kind: 'candidate', pick, ...(halt ? { halt } : {}) } : { kind: 'baseline', ...(halt ? { halt } : {}) };
}
