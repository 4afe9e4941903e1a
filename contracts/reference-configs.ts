import { ModelConfig, type ModelConfigInput } from './model';

/**
 * Named reference model configs: well-known recipes the product can train as they are, so a benchmark (or a user)
 * can put "the thing everyone compares against" beside Rankwright's defaults and be sure it is the same model.
 */

/**
 * The textbook FTRL-Proximal click model (McMahan et al. 2013; the recipe of the well-known Criteo/Avazu Kaggle
 * scripts): one pass of hashed logistic regression over 2^22 features (every categorical value hashed with its
 * field, every dense count bucketed on a log scale and hashed with its field, plus a bias), α = 0.05, β = 1,
 * L1 = 0.5, L2 = 1 — trained with Rankwright's own `lr`. bench/peers/textbook-ftrl.ts is the standalone version
 * of the same recipe (written for speed); the quality bench shows both. Differences that remain: Rankwright buckets a count as
 * ⌊2·ln(1+x)⌋ (the script: ⌊log2(1+x)⌋), shuffles the training order, leaves the intercept unregularised, and keeps
 * its validation-side steps (validation NE, and calibration where the config's default enables it).
 */
export const TEXTBOOK_FTRL = Object.freeze({
  family: 'lr',
  hashBits: 22,
  denseTransform: 'bucketize',
  learningRate: 0.05,
  ftrlBeta: 1,
  l1: 0.5,
  l2: 1,
  epochs: 1,
} as const) satisfies ModelConfigInput;

/** Reference configs by name (what a bench's or a tool's `--config NAME` selects). */
export const REFERENCE_CONFIGS = Object.freeze({ 'textbook-ftrl': TEXTBOOK_FTRL }) satisfies Record<string, ModelConfigInput>;
export type ReferenceConfigName = keyof typeof REFERENCE_CONFIGS;

/** A reference config by name, parsed (defaults filled in); throws naming the known ones for any other name. */
export function referenceConfig(name: string): ModelConfig {
  const config = (REFERENCE_CONFIGS as Record<string, ModelConfigInput>)[name];
  if (!config) throw new Error(`unknown reference config ${JSON.stringify(name)} (known: ${Object.keys(REFERENCE_CONFIGS).join(', ')})`);
  return ModelConfig.parse(config);
}
