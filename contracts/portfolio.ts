import type { SearchSpace } from './campaign';
import type { ExternalTrainer } from './trainer';
import { ModelConfig, type ModelFamily } from './model';

/**
 * The portfolio: every family of the search space at its own defaults, on the baseline's features, for the first
 * wave of a campaign to give each family a fair shot before crosses are stacked on one (issue 27). A family switch
 * built from the baseline (the designer's "Switch lr → fm (same features)") inherits the baseline's hash table and
 * epochs — an FM or a DCN with LR's 2^22 rows and two passes — which is not what the family's own default trains,
 * and on data too small to probe it competed, full run against full run, with cheap crosses ordered by expected gain
 * per unit of cost: the DCN that beat every other pick on a real log was never tried.
 *
 * Each family's config is the engine's default for it (ModelConfig's per-family defaults, chosen on the wide bench
 * scenarios: hash table size, step size, L2, epochs, embedding size, DCN layers), sized into the campaign's search
 * space (hash bits, epochs, step size, embedding size clamped to its ranges), on the baseline's features: its field
 * knobs and dense transform, its crosses, its calibration and negative sampling, its seed. Pure (a workflow builds
 * it): the same input always gives the same configs.
 */
export const PORTFOLIO_TECHNIQUE_PREFIX = 'family-';

/** The keys a portfolio config takes from the baseline: what the data is, not how a family learns it. */
const FEATURE_KEYS = ['crosses', 'denseTransform', 'fields', 'hashSpace', 'calibration', 'negativeSamplingRate', 'seed', 'checkpointEvery'] as const;

function clamp(value: number, [lo, hi]: readonly [number, number]): number {
  return Math.min(Math.max(value, lo), Math.max(lo, hi));
}

/** `family` at its engine defaults, clamped into `space`, on the baseline's features. */
export function familyDefault(family: ModelFamily, baseline: ModelConfig, space: SearchSpace): ModelConfig {
  const draft: Record<string, unknown> = { family };
  for (const key of FEATURE_KEYS) if (baseline[key] !== undefined) draft[key] = baseline[key];
  if ((draft.crosses as unknown[] | undefined)?.length) draft.crosses = (draft.crosses as unknown[]).slice(0, space.maxCrosses);
  const defaults = ModelConfig.parse(draft);
  const sized: Record<string, unknown> = {
    ...defaults,
    hashBits: Math.round(clamp(defaults.hashBits, [Math.max(8, space.hashBits[0]), Math.min(24, space.hashBits[1])])),
    epochs: Math.round(clamp(defaults.epochs, [Math.max(1, space.epochs[0]), Math.min(50, space.epochs[1])])),
    learningRate: clamp(defaults.learningRate, [Math.max(1e-8, space.learningRate[family][0]), Math.min(10, space.learningRate[family][1])]),
  };
  if (defaults.family !== 'lr') {
    const top = defaults.family === 'fm' ? 128 : 64;
    sized.embeddingDim = Math.round(clamp(defaults.embeddingDim, [Math.max(1, space.embeddingDim[0]), Math.min(top, space.embeddingDim[1])]));
  }
  return ModelConfig.parse(sized);
}

/** One proposal per family of the search space, in its order: the family's default (see familyDefault). */
export function familyPortfolio(
  baseline: ModelConfig,
  space: SearchSpace,
): Array<{ family: ModelFamily; model: ModelConfig; title: string; rationale: string }> {
  return space.families.flatMap((family) => {
    // A config the contract refuses never stops a workflow: that family is left to the designer.
    let model: ModelConfig;
    try {
      model = familyDefault(family, baseline, space);
    } catch {
      return [];
    }
    return [
      {
        family,
        model,
        title: `Portfolio: ${family} at its defaults`,
        rationale:
          `Every family of the search space gets a fair shot in the first wave, at its own defaults on the baseline's features, ` +
          `before crosses are stacked on one: which family fits this data is measured, not assumed from costs.`,
      },
    ];
  });
}

/** The technique of a search-space trainer's runs (`trainer-lightgbm`): the portfolio's, and its knob moves'. */
export const TRAINER_TECHNIQUE_PREFIX = 'trainer-';

/**
 * One proposal per trainer of the search space (searchSpace.trainers), in its order: the trainer at its `params` (its
 * own defaults when empty) — trees beside the built-in families, measured on the same validation rows. `model` is
 * the baseline's config: an external run's result keeps one shape, and says nothing about the trainer's model.
 */
export function trainerPortfolio(
  baseline: ModelConfig,
  space: SearchSpace,
): Array<{ trainer: ExternalTrainer; model: ModelConfig; title: string; rationale: string }> {
  return (space.trainers ?? []).map((trainer) => ({
    trainer,
    model: baseline,
    title: `Portfolio: trainer ${trainer.name} at its ${Object.keys(trainer.params).length ? 'declared knobs' : 'defaults'}`,
    rationale:
      `The search space lists the worker's ${trainer.name} trainer beside the built-in families: it gets one run in the first wave, ` +
      `judged on validation like any run, so a model of another kind (trees where dense effects are bumpy) is measured, not assumed.`,
  }));
}
