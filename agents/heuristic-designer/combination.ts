import type { DesignRequest, ExperimentSummary } from '../../contracts/agents';
import type { SearchSpace } from '../../contracts/campaign';
import type { ModelConfig, ModelFamily } from '../../contracts/model';
import { canonicalCrosses } from '../../contracts/canonical-config';
import { analyzeInteractions, bestRun, significantWinners } from '../design-context';
import { clampToSearchSpace, type ModelConfigDraft } from '../search-space';
import { compareNe, formatPercent } from '../significance';
import { FAMILY_SPECIFIC_KEYS, SHARED_KEYS, crossName, modify, switchFamily, type Candidate, type PhaseCandidates } from './candidate';
import { crossCandidates, denseTransformCandidates, familyCandidates, fitRemedyCandidates, researchCandidates } from './ideas';
import { knobsFor, lineSearch } from './line-search';

/**
 * Combination: stack the significant winners of validation. Each winner is reduced to its change from the baseline
 * (a `ConfigDelta`), and the deltas are applied onto each other — all at once, pairwise, on each winning family, on
 * the richest family, on the cheap baseline — so a result can tell which changes add up and which interfere.
 * Without any significant winner there is nothing to stack, and the phase keeps exploring single changes instead.
 */

export interface ConfigDelta {
  run: ExperimentSummary;
  family: ModelFamily;
  crossesAdded: ModelConfig['crosses'];
  keys: Partial<Record<string, unknown>>;
}

export function deltaFromBaseline(baseline: ModelConfig, run: ExperimentSummary): ConfigDelta {
  const base = canonicalCrosses(baseline.crosses).map(crossName);
  const crossesAdded = run.config.crosses.filter((c) => !base.includes(crossName([...c].sort())));
  const keys: Record<string, unknown> = {};
  const all = [...SHARED_KEYS, ...FAMILY_SPECIFIC_KEYS] as string[];
  for (const key of all) {
    const mine = (run.config as Record<string, unknown>)[key];
    const theirs = (baseline as Record<string, unknown>)[key];
    if (mine !== undefined && JSON.stringify(mine) !== JSON.stringify(theirs)) keys[key] = mine;
  }
  return { run, family: run.config.family, crossesAdded, keys };
}

/** Apply another winner's change on top of a target config (crosses united, knobs the target kept at baseline). */
export function applyDelta(target: ModelConfig, baseline: ModelConfig, delta: ConfigDelta, space: SearchSpace): ModelConfig {
  const draft: Record<string, unknown> = { ...target, crosses: [...target.crosses, ...delta.crossesAdded] };
  for (const [key, value] of Object.entries(delta.keys)) {
    const familySpecific = (FAMILY_SPECIFIC_KEYS as readonly string[]).includes(key);
    if (familySpecific && !(delta.family === target.family && target.family === baseline.family)) continue;
    const targetChangedIt = JSON.stringify((target as Record<string, unknown>)[key]) !== JSON.stringify((baseline as Record<string, unknown>)[key]);
    if (key === 'fields') {
      // Field knobs of different winners touch different fields: merge them (the target's own knob wins a clash).
      draft.fields = { ...(value as object), ...(target.fields ?? {}) };
    } else if (!targetChangedIt) draft[key] = value;
  }
  return clampToSearchSpace(draft as ModelConfigDraft, space);
}

export function combinationCandidates(req: DesignRequest): PhaseCandidates {
  const winners = significantWinners(req);
  const best = bestRun(req);
  const baseline = req.baseline.config;
  const space = req.searchSpace;
  if (!winners.length) {
    // Nothing to stack. Keep exploring around the best run with the ideas validation did not get to.
    const signal = analyzeInteractions(req.fieldPairSignal, best.config.crosses);
    return {
      note: 'no experiment beat the baseline by more than 2 standard errors, so there is nothing to stack; exploring untried single changes instead',
      candidates: [
        ...fitRemedyCandidates(req, best, 1),
        ...researchCandidates(req, 0.8),
        ...crossCandidates(req, best, signal, 0.8, req.count),
        ...familyCandidates(req, best, signal, 0.8),
        ...denseTransformCandidates(req, best, 0.6),
        ...knobsFor(3).flatMap((k) => lineSearch(req, best, k, 0.6)),
      ],
    };
  }
  const gains = new Map(winners.map((w) => [w.experimentId, compareNe(w, req.baseline)!]));
  const gainText = (w: ExperimentSummary) => `${w.experimentId} ${formatPercent(gains.get(w.experimentId)!.relativeNeChange)}`;
  const deltas = winners.map((w) => deltaFromBaseline(baseline, w));
  const top = winners[0];
  const ids = winners.map((w) => w.experimentId);
  const candidates: Candidate[] = [];

  // A: everything that won, stacked onto the best winner.
  let stacked = top.config;
  for (const delta of deltas.slice(1)) stacked = applyDelta(stacked, baseline, delta, space);
  candidates.push({
    config: stacked,
    technique: 'stack-winners',
    title: `Stack all ${winners.length} significant winners onto ${top.experimentId}`,
    rationale: `Each beat the baseline by >2 standard errors (${winners.map(gainText).join(', ')}); complementary changes should add up.`,
    parents: ids,
    prior: 1.5,
  });

  // B: each winning family with the union of the winning crosses.
  const unionCrosses = deltas.flatMap((d) => d.crossesAdded);
  const crossWinners = deltas.filter((d) => d.crossesAdded.length > 0);
  for (const family of [...new Set(winners.map((w) => w.config.family))].filter((f) => f !== baseline.family)) {
    const familyWinner = winners.find((w) => w.config.family === family)!;
    if (!unionCrosses.length) break;
    candidates.push({
      config: modify(familyWinner.config, { crosses: [...familyWinner.config.crosses, ...unionCrosses] }, space),
      technique: 'stack-winners',
      title: `${family} with the ${canonicalCrosses(unionCrosses).length} winning crosses`,
      rationale: `${gainText(familyWinner)} won as a family change and ${crossWinners.map((d) => gainText(d.run)).join(', ') || 'the crosses'} won as crosses; an explicit cross still helps an embedding model on rare pairs.`,
      parents: [familyWinner.experimentId, ...crossWinners.map((d) => d.run.experimentId)],
      prior: 1.3,
    });
  }

  // B2: the richest allowed family not tried yet, with every winning cross — REA's move to a bigger model once the
  // winning features are known (a DCN learns the interactions no single cross captured, and dense non-linearities).
  const richest = (['dcn', 'fm'] as const).find((f) => space.families.includes(f));
  const triedFamilies = new Set([req.baseline, ...req.history].map((r) => r.config.family));
  if (richest && !triedFamilies.has(richest)) {
    candidates.push({
      config: modify(switchFamily(top.config, richest, space), { crosses: [...top.config.crosses, ...unionCrosses] }, space),
      technique: `family-${richest}`,
      title: `${richest} with the ${canonicalCrosses([...top.config.crosses, ...unionCrosses]).length} winning crosses`,
      rationale: `The winners (${winners.map(gainText).join(', ')}) show interactions matter; ${richest} learns the pairs no explicit cross covers.`,
      parents: ids,
      prior: 1.4,
    });
  }

  // C: the cheap family with all winning crosses (tells whether the expensive family is needed at all).
  if (crossWinners.length >= 1) {
    candidates.push({
      config: modify(baseline, { crosses: [...baseline.crosses, ...unionCrosses] }, space),
      technique: 'feature-cross',
      title: `${baseline.family} baseline with all ${canonicalCrosses(unionCrosses).length} winning crosses`,
      rationale: `Union of the crosses that won (${crossWinners.map((d) => gainText(d.run)).join(', ')}) at baseline cost.`,
      parents: crossWinners.map((d) => d.run.experimentId),
      prior: 0.5,
    });
  }

  // D: pairwise stacks, best winner + one other winner (isolates interference between changes).
  for (const delta of deltas.slice(1)) {
    const share = Math.max(0.1, gains.get(delta.run.experimentId)!.neGain / Math.max(1e-12, gains.get(top.experimentId)!.neGain));
    candidates.push({
      config: applyDelta(top.config, baseline, delta, space),
      technique: 'stack-winners',
      title: `${top.experimentId} + the change of ${delta.run.experimentId}`,
      rationale: `Pairwise stack of the two winners ${gainText(top)} and ${gainText(delta.run)}.`,
      parents: [top.experimentId, delta.run.experimentId],
      prior: 0.9 * Math.min(1, share),
    });
  }

  // E: residual interactions still present on the current best model, crossed into the full stack.
  const stackedRun = { ...best, config: stacked, experimentId: best.experimentId };
  const residual = analyzeInteractions(req.fieldPairSignal, stacked.crosses);
  // Strong pairs that validation had no slot for: all of them onto the stack at once, ranked above the plain stack
  // (it is a superset backed by the residual signal; the plain stack beside it tells whether the extra pairs helped),
  // then singly, so a bad one can be told apart.
  const untested = residual.strongPairs.slice(0, 4).map((p) => p.fields);
  if (untested.length >= 2) {
    candidates.push({
      config: modify(stacked, { crosses: [...stacked.crosses, ...untested] }, space),
      technique: 'feature-cross',
      title: `Stack + the ${untested.length} remaining interacting pairs (${untested.map(crossName).join(', ')})`,
      rationale: `The residual signal on the best model still shows ${untested.map(crossName).join(', ')} well above the noise floor; validation had no slot for them.`,
      parents: [...ids],
      prior: 1.6,
    });
  }
  candidates.push(...crossCandidates(req, stackedRun, residual, 0.8, 2).map((c) => ({ ...c, parents: [...ids] })));

  // F: the best winner's own learning curve: the remedy when it over- or under-fits.
  candidates.push(...fitRemedyCandidates(req, top, 0.8));

  // G: when the batch is larger than the ideas above, start tuning the best winner.
  candidates.push(...knobsFor(2).flatMap((k) => lineSearch(req, top, k, 0.5)));
  return { candidates };
}
