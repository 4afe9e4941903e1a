import type { DesignRequest } from '../contracts/agents';
import { analyzeInteractions, bestRun, hasDivergedRuns, improvedOnThisData, significantWinners } from './design-context';

/**
 * The research source of the hypothesis engine: what ranking teams try, when, and what it usually buys. Designers
 * (LLM and heuristic) cite an entry's id in Hypothesis.technique; the insights database records outcomes per id,
 * so the next campaign knows which techniques won on similar data.
 */
export interface Technique {
  id: string;
  description: string;
  /** Pure precondition on the request: is this worth trying now? */
  applies(req: DesignRequest): boolean;
  expectedEffect: string;
  /** Prior ordering weight: rough typical relative NE gain in percent when the precondition holds. */
  prior: number;
  phases: ReadonlyArray<DesignRequest['phase']>;
}

const best = (req: DesignRequest) => bestRun(req).config;
const residual = (req: DesignRequest) => analyzeInteractions(req.fieldPairSignal, best(req).crosses);

export const TECHNIQUES: readonly Technique[] = [
  {
    id: 'feature-cross',
    description: "Hash a pair of categorical fields together into one extra sparse feature, so a linear model can learn the pair's joint effect.",
    applies: (req) => residual(req).matters && best(req).crosses.length < req.searchSpace.maxCrosses,
    expectedEffect: 'NE -0.5% to -3% when the pair carries a real interaction; ~5% more training time per cross',
    prior: 1.0,
    phases: ['validation', 'combination', 'exploitation'],
  },
  {
    id: 'family-fm',
    description: 'Factorization machine: learns a low-rank embedding per feature value and all pairwise interactions at once.',
    applies: (req) => req.searchSpace.families.includes('fm') && best(req).family === 'lr',
    expectedEffect: 'NE -1% to -4% when many field pairs interact; ~3x the training time of LR',
    prior: 0.8,
    phases: ['validation', 'combination'],
  },
  {
    id: 'family-dcn',
    description: 'DCN-v2: embeddings, explicit cross layers and an MLP; learns higher-order and dense non-linear effects.',
    applies: (req) => req.searchSpace.families.includes('dcn') && best(req).family !== 'dcn',
    expectedEffect: 'NE -1% to -5% on rich interaction structure; ~20x the training time of LR',
    prior: 0.9,
    phases: ['validation', 'combination'],
  },
  {
    id: 'embedding-dim',
    description: 'Change the embedding size of FM/DCN: larger captures more interaction structure, smaller regularizes.',
    applies: (req) => best(req).family !== 'lr',
    expectedEffect: 'NE -0.2% to -1%; cost grows roughly linearly with the dimension',
    prior: 0.3,
    phases: ['exploitation'],
  },
  {
    id: 'hash-size',
    description: 'Change the number of hash buckets (2^hashBits): more bits mean fewer collisions between feature values.',
    applies: () => true,
    expectedEffect: 'NE -0.1% to -0.5% when collisions hurt (many crosses, high cardinality); model bytes double per bit',
    prior: 0.2,
    phases: ['validation', 'exploitation'],
  },
  {
    id: 'warm-start',
    description:
      'Start from what earlier campaigns learned: re-run the best winner on this data (and stack on it), or adapt the winner of similar data.',
    applies: (req) => req.insights.some((i) => i.outcome === 'won' || improvedOnThisData(i, req.dataFingerprint)),
    expectedEffect: "reaches the earlier campaign's NE at once on the same data; on similar data, its gain if the data behaves alike",
    prior: 1,
    phases: ['validation'],
  },
  {
    id: 'drop-field',
    description: 'Leave a field out of the model (fields.F.drop): one whose values only let the model fit noise.',
    applies: () => true,
    expectedEffect: 'NE -0.05% to -0.3% when permutation importance says the field hurts on validation',
    prior: 0.1,
    phases: ['validation'],
  },
  {
    id: 'dense-transform',
    description: 'Transform the integer (dense) features: log, bucketize (piecewise constant, captures non-linear effects) or standardize.',
    applies: () => true,
    expectedEffect: 'NE -0.2% to -1.5% when dense features act non-linearly',
    prior: 0.35,
    phases: ['validation'],
  },
  {
    id: 'regularization-l2',
    description: 'Add or strengthen L2 weight decay against overfitting of rare feature values.',
    applies: () => true,
    expectedEffect: 'NE -0.1% to -0.5% when the model overfits; better calibration',
    prior: 0.15,
    phases: ['validation', 'exploitation'],
  },
  {
    id: 'regularization-l1',
    description: "Tune FTRL's L1 strength: sparser, smaller models, less noise from rare values.",
    applies: (req) => best(req).family === 'lr',
    expectedEffect: 'NE ±0.3%, model bytes down when L1 grows',
    prior: 0.12,
    phases: ['exploitation'],
  },
  {
    id: 'learning-rate',
    description: 'Sweep the learning rate on a log scale (x0.5 / x2 around the best, bisect once a direction lost).',
    applies: () => true,
    expectedEffect: 'NE -0.2% to -2% when the step size is off; cheap (same cost)',
    prior: 0.45,
    phases: ['validation', 'exploitation'],
  },
  {
    id: 'lr-decay',
    description: 'Decay the learning rate per epoch so later epochs refine instead of oscillating.',
    applies: (req) => best(req).epochs > 1 || req.searchSpace.epochs[1] > 1,
    expectedEffect: 'NE -0.1% to -0.5% with several epochs; same cost',
    prior: 0.15,
    phases: ['exploitation'],
  },
  {
    id: 'more-epochs',
    description: 'Train for more passes over the data when the model is still improving at the end of training.',
    applies: (req) => best(req).epochs < req.searchSpace.epochs[1],
    expectedEffect: 'NE -0.2% to -1% if underfit; training time grows linearly',
    prior: 0.3,
    phases: ['validation', 'exploitation'],
  },
  {
    id: 'dcn-depth',
    description: 'Change the number of DCN cross layers (interaction order).',
    applies: (req) => best(req).family === 'dcn',
    expectedEffect: 'NE -0.1% to -0.8%; cost grows per layer',
    prior: 0.15,
    phases: ['exploitation'],
  },
  {
    id: 'dcn-rank',
    description: 'Change the rank of low-rank DCN cross layers (W ≈ V·U): a higher rank fits more interactions, a lower one trains faster.',
    applies: (req) => best(req).family === 'dcn',
    expectedEffect: 'NE ±0.5% around full rank; cost of the cross layers grows with the rank',
    prior: 0.08,
    phases: ['exploitation'],
  },
  {
    id: 'gradient-clipping',
    description: 'Clip gradients to a maximum norm (and lower the step) after a divergence, so a higher learning rate stays stable.',
    applies: (req) => hasDivergedRuns(req),
    expectedEffect: 'turns a diverged run into a converged one; NE effect follows the learning rate',
    prior: 0.25,
    phases: ['validation', 'combination', 'exploitation'],
  },
  {
    id: 'calibration',
    description: 'Fix a miscalibrated best model (predicted/observed clicks away from 1) with stronger L2 and a decaying learning rate.',
    applies: (req) => {
      const c = bestRun(req).calibration;
      return c !== undefined && Math.abs(c - 1) > 0.05;
    },
    expectedEffect: 'calibration closer to 1.0, small NE gain (log loss penalises miscalibration)',
    prior: 0.3,
    phases: ['exploitation'],
  },
  {
    id: 'stack-winners',
    description: 'Combine the changes that each beat the baseline significantly (union of winning crosses, the winning family, winning knobs).',
    applies: (req) => significantWinners(req).length >= 1,
    expectedEffect: 'NE close to the sum of the individual gains when the changes are complementary',
    prior: 1.2,
    phases: ['combination'],
  },
  {
    id: 'random-search',
    description: 'A uniformly random point of the search space (the benchmark strategy the agent must beat).',
    applies: () => true,
    expectedEffect: 'unknown; calibrates how much the designer adds over chance',
    prior: 0,
    phases: ['validation', 'combination', 'exploitation'],
  },
];

export const TECHNIQUE_IDS = TECHNIQUES.map((t) => t.id);

export function technique(id: string): Technique {
  const found = TECHNIQUES.find((t) => t.id === id);
  if (!found) throw new Error(`unknown technique ${id}`);
  return found;
}

/** Techniques whose precondition holds for this request and phase (what an LLM designer is offered). */
export function applicableTechniques(req: DesignRequest): Technique[] {
  return TECHNIQUES.filter((t) => t.id !== 'random-search' && t.phases.includes(req.phase) && t.applies(req));
}
