import { DesignRequest, DesignResponse, type ProposedExperiment } from '../contracts/agents';
import { DenseTransform } from '../contracts/model';
import { canonicalConfigKey } from '../contracts/canonical-config';
import { activeCategoricalFields, knownConfigKeys } from './design-context';
import { proposalRandom } from '../ranking/rng';
import { clampToSearchSpace, embeddingDimRange, learningRateRange } from './search-space';

/** Draws before giving up on finding an untried config (a tiny search space can be exhausted). */
const DRAWS_PER_PROPOSAL = 50;

function uniformInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/**
 * Random search over the campaign's search space: the strategy the agent is benchmarked against. Family uniform,
 * learning rate log-uniform in the family's range, hashBits / embeddingDim / epochs uniform integers, a uniform number
 * of distinct random crosses between active fields (up to maxCrosses), a uniform dense transform. Seeded by
 * req.seed mixed with the history length, so each phase of a campaign draws new points and a rerun draws the same ones.
 */
export function designRandomly(input: DesignRequest): DesignResponse {
  const req = DesignRequest.parse(input);
  const space = req.searchSpace;
  // Seed and history length mixed, not added: with seed + length, seed 3 after two runs drew what seed 5 drew first,
  // so "independent" seeds of a benchmark replayed each other's draws one wave apart.
  const drawSeed = (Math.imul(req.seed, 0x9e3779b1) + req.history.length) >>> 0;
  const rand = proposalRandom(drawSeed);
  const fields = activeCategoricalFields(req);
  const allPairs: [string, string][] = [];
  for (let i = 0; i < fields.length; i++) for (let j = i + 1; j < fields.length; j++) allPairs.push([fields[i], fields[j]]);
  const known = knownConfigKeys(req);
  const proposals: ProposedExperiment[] = [];

  for (let draw = 0; proposals.length < req.count && draw < req.count * DRAWS_PER_PROPOSAL; draw++) {
    const family = space.families[Math.floor(rand() * space.families.length)];
    const [lrLo, lrHi] = learningRateRange(space, family);
    const learningRate = Math.exp(Math.log(lrLo) + rand() * (Math.log(lrHi) - Math.log(lrLo)));
    const hashBits = uniformInt(rand, space.hashBits[0], space.hashBits[1]);
    const epochs = uniformInt(rand, space.epochs[0], space.epochs[1]);
    const embeddingDim = family === 'lr' ? undefined : uniformInt(rand, ...embeddingDimRange(space, family));
    const crossCount = uniformInt(rand, 0, Math.min(space.maxCrosses, allPairs.length));
    // Partial Fisher-Yates: the first crossCount entries become a uniform sample without replacement.
    const pairs = [...allPairs];
    for (let i = 0; i < crossCount; i++) {
      const j = i + Math.floor(rand() * (pairs.length - i));
      [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
    }
    const denseTransform = DenseTransform.options[Math.floor(rand() * DenseTransform.options.length)];
    const model = clampToSearchSpace(
      { family, learningRate, hashBits, epochs, embeddingDim, crosses: pairs.slice(0, crossCount), denseTransform, seed: req.baseline.config.seed },
      space,
    );
    const key = canonicalConfigKey(model);
    if (known.has(key)) continue;
    known.add(key);
    const crossText = model.crosses.length ? `, ${model.crosses.length} random crosses` : '';
    proposals.push({
      model,
      hypothesis: {
        title:
          `Random search: ${model.family}, learning rate ${model.learningRate.toPrecision(3)}, ${model.hashBits} hash bits, ${model.epochs} epochs${crossText}`.slice(
            0,
            200,
          ),
        technique: 'random-search',
        rationale: `Uniform draw ${draw + 1} of the search space (seed ${drawSeed}); the benchmark the agent's designer has to beat.`,
        expectedEffect: 'Unknown by construction; averages what chance finds in this search space.',
        parents: [],
      },
    });
  }
  return DesignResponse.parse({ proposals, source: 'random' });
}
