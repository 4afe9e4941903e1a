import { DesignRequest, DesignResponse, type ExperimentSummary, type ProposedExperiment } from '../../contracts/agents';
import { bestRun } from '../design-context';
import { designRandomly } from '../random-designer';
import type { PhaseCandidates } from './candidate';
import { combinationCandidates } from './combination';
import { exploitationCandidates } from './exploitation';
import { selectProposals } from './selection';
import { validationCandidates } from './validation';

/**
 * The deterministic hypothesis designer (what most users run). Each phase generates scored candidates from the
 * evidence in the request — residual interaction signal, significant winners, line searches around the best — and a
 * shared selector picks the `count` best untried ones, preferring cheap experiments and techniques with a good track
 * record on similar data.
 *
 * This file only dispatches: one module per phase (validation.ts, combination.ts, exploitation.ts), the ideas and
 * line search they share (ideas.ts, line-search.ts), and the selector (selection.ts).
 */

const CANDIDATES_BY_PHASE: Record<DesignRequest['phase'], (req: DesignRequest) => PhaseCandidates> = {
  validation: validationCandidates,
  combination: combinationCandidates,
  exploitation: exploitationCandidates,
};

/**
 * Propose `count` experiments for the request's phase: validation = single changes to the baseline; combination =
 * stacks of the significant winners; exploitation = line searches around the best run. Deterministic per request.
 */
export function designHeuristically(input: DesignRequest): DesignResponse {
  const req = DesignRequest.parse(input);
  const generated = CANDIDATES_BY_PHASE[req.phase](req);
  // Costs are relative to what the phase builds on: the baseline while validating, the best run after that.
  const reference = req.phase === 'validation' ? req.baseline.config : bestRun(req).config;
  const proposals = selectProposals(req, generated.candidates, reference);
  if (generated.note) {
    for (const p of proposals) p.hypothesis.rationale = `${p.hypothesis.rationale} (Note: ${generated.note}.)`.slice(0, 600);
  }
  // Every idea already tried (a small space or a long campaign): fill with untried random points, labelled as such.
  if (proposals.length < req.count) {
    const filler = designRandomly({ ...req, count: req.count - proposals.length, history: [...req.history, ...proposals.map(toSummary(req))] });
    proposals.push(...filler.proposals);
  }
  return DesignResponse.parse({ proposals, source: 'heuristic' });
}

/** Pretend proposals already ran, so the random filler does not repeat them. */
function toSummary(req: DesignRequest) {
  return (p: ProposedExperiment, i: number): ExperimentSummary => ({
    experimentId: `proposed-${i}`,
    phase: req.phase,
    family: p.model.family,
    config: p.model,
    status: 'failed',
  });
}
