import { z } from 'zod';
import { FieldName } from './data';

export const MODEL_FAMILIES = ['lr', 'fm', 'dcn'] as const;
export const ModelFamily = z.enum(MODEL_FAMILIES);
export type ModelFamily = z.infer<typeof ModelFamily>;

export const DenseTransform = z.enum(['none', 'log', 'bucketize', 'standardize']);
export type DenseTransform = z.infer<typeof DenseTransform>;

/** An explicit categorical cross: the pair's values are hashed together into one extra sparse feature. */
export const FeatureCross = z.tuple([FieldName, FieldName]).refine(([a, b]) => a !== b, { message: 'a cross needs two different fields' });
export type FeatureCross = z.infer<typeof FeatureCross>;

/** Keys every family shares, so the planner can sweep them uniformly. */
const common = {
  hashBits: z.number().int().min(8).max(24).default(18),
  /** The most epochs to train: validation stops a run earlier (see `patience`). */
  epochs: z.number().int().min(1).max(50).default(2),
  /**
   * Early stopping: evaluations in a row without a validation-NE improvement (of more than `minDelta`) after which
   * training stops. 0 never stops early. Either way the weights with the lowest validation NE are the ones kept.
   */
  patience: z.number().int().min(0).max(100).default(2),
  /**
   * Steps between validation evaluations; an epoch's last step always evaluates too. Omitted: once per epoch when an
   * epoch has at most 2,000 steps; a longer epoch is evaluated m = min(4, ⌈steps/2000⌉) times, every ⌈steps/m⌉ steps
   * (validation costs a bounded share of the run however big the data).
   */
  evaluateEvery: z.number().int().min(1).optional(),
  /** Validation NE must fall below the best by more than this (absolute) to reset `patience`. */
  minDelta: z.number().min(0).max(0.1).default(0),
  /** FTRL alpha for lr, AdaGrad step for fm, Adam step for dcn. */
  learningRate: z.number().gt(0).max(10),
  l2: z.number().min(0).max(10).default(0),
  batchSize: z.number().int().min(1).max(8192).default(256),
  crosses: z.array(FeatureCross).max(32).default([]),
  denseTransform: DenseTransform.default('log'),
  /** Gradients are clipped to this norm (set by the retry policy after a divergence). */
  gradientClip: z.number().positive().max(1000).optional(),
  /** Learning-rate decay per epoch (1 = constant). */
  lrDecay: z.number().gt(0).max(1).default(1),
  seed: z.number().int().min(0).default(1),
  /** Steps between checkpoints (a step is one batch; for lr one batch of `batchSize` examples). */
  checkpointEvery: z.number().int().min(1).default(200),
};

export const LrConfig = z
  .object({
    family: z.literal('lr'),
    ...common,
    learningRate: common.learningRate.default(0.1),
    ftrlBeta: z.number().min(0).max(10).default(1),
    l1: z.number().min(0).max(10).default(0.5),
  })
  .strict();

export const FmConfig = z
  .object({
    family: z.literal('fm'),
    ...common,
    learningRate: common.learningRate.default(0.05),
    embeddingDim: z.number().int().min(1).max(128).default(8),
  })
  .strict();

export const DcnConfig = z
  .object({
    family: z.literal('dcn'),
    ...common,
    learningRate: common.learningRate.default(0.003),
    embeddingDim: z.number().int().min(1).max(64).default(8),
    crossLayers: z.number().int().min(0).max(6).default(2),
    mlp: z.array(z.number().int().min(1).max(1024)).max(6).default([64, 32]),
  })
  .strict();

export const ModelConfig = z.discriminatedUnion('family', [LrConfig, FmConfig, DcnConfig]);
export type ModelConfig = z.infer<typeof ModelConfig>;
export type ModelConfigInput = z.input<typeof ModelConfig>;
export type LrConfig = z.infer<typeof LrConfig>;
export type FmConfig = z.infer<typeof FmConfig>;
export type DcnConfig = z.infer<typeof DcnConfig>;
