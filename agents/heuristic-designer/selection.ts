import type { DesignRequest, ProposedExperiment } from '../../contracts/agents';
import type { ModelConfig } from '../../contracts/model';
import { canonicalConfigKey, canonicalCrosses } from '../../contracts/canonical-config';
import { knownConfigKeys, trackRecordMultiplier } from '../design-context';
import { costModelFor, describePrediction, predictTrainingSeconds, relativeCost, type CostModel } from '../cost-model';
import { tieBreaker } from '../../ranking/rng';
import { technique } from '../techniques';
import { fmt, type Candidate } from './candidate';

/**
 * The selector every phase shares: a candidate's prior is adjusted by the track record of its technique on similar
 * data (the insights) and by its predicted training cost (agents/cost-model.ts: measured on this campaign's runs and
 * the insights' where there are some) relative to the phase's reference run, then the `count` best untried
 * configs are picked greedily. One selector for all phases, so "what is worth a slot" means the same thing throughout
 * a campaign and only the candidates and their priors differ by phase.
 */

/** Each further pick of the same technique is discounted, so a batch covers several ideas. */
const SAME_TECHNIQUE_DISCOUNT = 0.75;
/** Score ∝ cost^-0.25: a 20x slower family needs ~2x the expected gain to be picked over LR. */
const COST_EXPONENT = 0.25;

function score(req: DesignRequest, candidate: Candidate, reference: ModelConfig, costs: CostModel): number {
  const cost = relativeCost(costs, candidate.config, reference);
  // Only a more expensive run pays: a cheaper one gets no bonus, or cheap ideas would crowd out the phase's main move
  // (e.g. stacking every winner onto an expensive winning family).
  // A re-run of this data's best earlier run rests on its own measured result: the track record of its technique
  // (warm starts adapted from other data, re-runs cut short by a killed worker) says nothing about it.
  const record = candidate.rerun ? 1 : trackRecordMultiplier(req.insights, candidate.technique);
  return (candidate.prior * record) / Math.pow(Math.max(cost, 1), COST_EXPONENT);
}

function expectedEffectOf(candidate: Candidate, reference: ModelConfig, costs: CostModel): string {
  const base = candidate.expectedEffect ?? safeTechniqueEffect(candidate.technique);
  const predicted = predictTrainingSeconds(costs, candidate.config);
  const cost = relativeCost(costs, candidate.config, reference);
  return `${base}; predicted training ${describePrediction(predicted)}, ${fmt(cost)}x the reference run`.slice(0, 300);
}

function safeTechniqueEffect(id: string): string {
  try {
    return technique(id).expectedEffect;
  } catch {
    return 'small NE change expected';
  }
}

/** Greedy pick: highest adjusted score first, seeded tie-break, never a known or repeated config. */
export function selectProposals(req: DesignRequest, candidates: Candidate[], reference: ModelConfig): ProposedExperiment[] {
  const known = knownConfigKeys(req);
  const ownRuns = new Set([req.baseline, ...req.history].map((r) => canonicalConfigKey(r.config)));
  // A family switch ("Switch lr → fm (same features)") is not worth a slot once this campaign measured that family on
  // the same crosses — the first wave's portfolio runs every family at its defaults — whatever its other knobs.
  const familyOn = (c: ModelConfig) => `${c.family}|${JSON.stringify(canonicalCrosses(c.crosses))}`;
  const measuredFamilies = new Set([req.baseline, ...req.history, ...(req.screened ?? [])].map((r) => familyOn(r.config)));
  const costs = costModelFor(req);
  const pool = candidates.map((c) => ({ c, key: canonicalConfigKey(c.config), base: score(req, c, reference, costs) }));
  const used = new Map<string, number>();
  const picked: ProposedExperiment[] = [];
  while (picked.length < req.count) {
    let bestItem: (typeof pool)[number] | undefined;
    let bestScore = -Infinity;
    for (const item of pool) {
      if (item.c.rerun ? ownRuns.has(item.key) : known.has(item.key)) continue;
      if (item.c.technique.startsWith('family-') && measuredFamilies.has(familyOn(item.c.config))) continue;
      const s = item.base * Math.pow(SAME_TECHNIQUE_DISCOUNT, used.get(item.c.technique) ?? 0);
      const better =
        s > bestScore + 1e-12 ||
        (Math.abs(s - bestScore) <= 1e-12 && bestItem && tieBreaker(req.seed, item.key) < tieBreaker(req.seed, bestItem.key));
      if (better) {
        bestItem = item;
        bestScore = s;
      }
    }
    if (!bestItem) break;
    known.add(bestItem.key);
    ownRuns.add(bestItem.key);
    used.set(bestItem.c.technique, (used.get(bestItem.c.technique) ?? 0) + 1);
    picked.push({
      model: bestItem.c.config,
      hypothesis: {
        title: bestItem.c.title.slice(0, 200),
        technique: bestItem.c.technique,
        rationale: bestItem.c.rationale.slice(0, 600),
        expectedEffect: expectedEffectOf(bestItem.c, reference, costs),
        parents: [...new Set(bestItem.c.parents)].slice(0, 20),
        ...(bestItem.c.expectedGain !== undefined ? { expectedGain: bestItem.c.expectedGain } : {}),
      },
    });
  }
  return picked;
}
