import type { DesignRequest } from '../../contracts/agents';
import { analyzeInteractions } from '../design-context';
import type { PhaseCandidates } from './candidate';
import { clippedRetryCandidates, crossCandidates, denseTransformCandidates, familyCandidates, researchCandidates } from './ideas';
import { knobsFor, lineSearch } from './line-search';
import { warmStartCandidates } from './warm-start';

/**
 * Validation: single changes to the baseline, so each result says whether one idea helps on its own. Every
 * candidate is centred on the baseline (its parent), knobs are probed one step each way only (no bisection:
 * "does this knob matter at all?"), and diverged runs get a clipped retry because their idea was never measured.
 */
export function validationCandidates(req: DesignRequest): PhaseCandidates {
  const center = req.baseline;
  const signal = analyzeInteractions(req.fieldPairSignal, center.config.crosses);
  const knobs = knobsFor(3).filter((k) => ['learningRate', 'hashBits', 'epochs', 'l2'].includes(k.key));
  return {
    candidates: [
      ...warmStartCandidates(req, 1),
      ...researchCandidates(req, 1),
      ...crossCandidates(req, center, signal, 1, Math.max(req.count, 4)),
      ...familyCandidates(req, center, signal, 1),
      ...denseTransformCandidates(req, center, 1),
      ...knobs.flatMap((k) => lineSearch(req, center, k, 1, true)),
      ...clippedRetryCandidates(req, 1),
    ],
  };
}
