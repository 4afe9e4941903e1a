import { z } from 'zod';
import { fieldOfName } from './data';

export const MODEL_FAMILIES = ['lr', 'fm', 'dcn'] as const;
export const ModelFamily = z.enum(MODEL_FAMILIES);
export type ModelFamily = z.infer<typeof ModelFamily>;

export const DenseTransform = z.enum(['none', 'log', 'bucketize', 'standardize']);
export type DenseTransform = z.infer<typeof DenseTransform>;

/**
 * What a dense field becomes (per field in `fields`, or for every dense field through `denseTransform`):
 * - `none`: the raw value, one weight; `log`: sign(x)·ln(1 + |x|); `standardize`: (x − mean) / sd, both fitted on train;
 * - `bucketize`: the log bucket ⌊2·ln(1 + x)⌋ as a categorical value (one weight per bucket);
 * - `quantile`: `buckets` equal-frequency buckets whose boundaries are fitted on train (stored in the artifact).
 * A missing value is 0 for the numeric ones and its own bucket for the bucketed ones.
 */
export const FIELD_TRANSFORMS = ['none', 'log', 'bucketize', 'quantile', 'standardize'] as const;
export const FieldTransform = z.enum(FIELD_TRANSFORMS);
export type FieldTransform = z.infer<typeof FieldTransform>;
/** Transforms that turn a dense field into a categorical slot (hashed like a categorical value). */
export const BUCKETED_TRANSFORMS: readonly FieldTransform[] = ['bucketize', 'quantile'];
export const DEFAULT_QUANTILE_BUCKETS = 16;

/**
 * A field as a config names it: a slot (I1.., C1..: Criteo's I1..I13 and C1..C26, a wide table's more), or with a
 * declared schema a column (`user_country`) or one value of a multi-valued column (`interests[2]`). Which names exist
 * depends on the data: the model contract checks the shape of slot names only, and whoever puts a model and its data
 * together (ExperimentInput, CampaignInput, `rankwright train`) checks the rest and turns them into slots
 * (contracts/field-names.ts) before anything trains.
 */
export const FieldRef = z.string().min(1, 'expected a field name').max(120);

const SLOT_SHAPE = /^[IC]\d+$/;
const isCategoricalField = (name: string) => /^C\d+$/.test(name);
const isDenseField = (name: string) => /^I\d+$/.test(name);
/** Shaped like a slot but no slot of any table (C0, I007). */
const unknownSlot = (name: string) => SLOT_SHAPE.test(name) && !fieldOfName(name);
const unknownFieldMessage = (name: string) => `unknown field ${JSON.stringify(name)} (fields are numbered from 1: I1.., C1..)`;

/**
 * An explicit cross: the values of two or three different fields are hashed together into one extra sparse feature
 * (a dense field takes part through its bucket: its quantile bucket under `quantile`, else its log bucket).
 */
export const FeatureCross = z
  .union([z.tuple([FieldRef, FieldRef]), z.tuple([FieldRef, FieldRef, FieldRef])])
  .refine((fields) => new Set(fields).size === fields.length, { message: 'a cross needs two different fields, or three different fields' })
  .superRefine((fields, ctx) => {
    fields.forEach((name, i) => {
      if (unknownSlot(name)) ctx.addIssue({ code: 'custom', path: [i], message: unknownFieldMessage(name) });
    });
  });
export type FeatureCross = z.infer<typeof FeatureCross>;

/** Knobs of one field; which apply depends on the field's kind (dense I…, categorical C…). */
export const FieldKnobs = z
  .object({
    /** Dense fields only: overrides the config's `denseTransform` for this field. */
    transform: FieldTransform.optional(),
    /** Dense fields under `quantile` only: number of equal-frequency buckets (default 16). */
    buckets: z.number().int().min(2).max(1024).optional(),
    /**
     * Categorical fields only: the field gets its own table of 2^hashBits rows (no collisions with other fields), or
     * `auto`: its own table sized from the field's distinct values on train (see `hashSpace`).
     */
    hashBits: z.union([z.number().int().min(8).max(24), z.literal('auto')]).optional(),
    /** Leave the field out of the model entirely (no crosses may use it). */
    drop: z.boolean().optional(),
    /**
     * List (multiCategorical) columns only: how FM and DCN pool the embeddings of a row's values into the field's one
     * embedding — `mean` (the default: a row's number of values does not scale the field) or `sum`.
     */
    pooling: z.enum(['mean', 'sum']).optional(),
  })
  .strict();
export type FieldKnobs = z.infer<typeof FieldKnobs>;

/**
 * Per-field knobs keyed by field name (a slot I1.., C1.., or a declared schema's column: FieldRef); a knob that
 * does not fit a slot's kind is refused here, a column's by the data-aware check (contracts/field-names.ts).
 */
export const FieldSettings = z.record(FieldRef, FieldKnobs).superRefine((fields, ctx) => {
  for (const [name, knobs] of Object.entries(fields)) {
    if (!SLOT_SHAPE.test(name)) continue; // a column name: checked against the data's schema
    if (unknownSlot(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: unknownFieldMessage(name) });
    } else if (isCategoricalField(name)) {
      for (const knob of ['transform', 'buckets'] as const)
        if (knobs[knob] !== undefined)
          ctx.addIssue({ code: 'custom', path: [name, knob], message: `${name} is categorical: ${knob} applies to dense fields (I1..) only` });
    } else if (knobs.pooling !== undefined) {
      ctx.addIssue({ code: 'custom', path: [name, 'pooling'], message: `${name} is dense: pooling applies to list (multiCategorical) columns only` });
    } else if (knobs.hashBits !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [name, 'hashBits'],
        message: `${name} is dense: hashBits applies to categorical fields (C1..) only (a bucketed dense field is sized by hashSpace)`,
      });
    }
  }
});
export type FieldSettings = z.infer<typeof FieldSettings>;

/**
 * Where hashed features go. `shared` (the default, what every config before per-field knobs meant): one table of
 * 2^hashBits rows for every slot without its own `fields.F.hashBits`. `per-field`: every categorical field, cross and
 * bucketed dense field gets its own table sized from its distinct values on train, 2^clamp(⌈log2 n⌉ + 4, 8, hashBits)
 * (≥ 16 buckets a value, i.e. ≈ 6% of values share a bucket, until capped by `hashBits`, which so still bounds memory).
 */
export const HASH_SPACES = ['shared', 'per-field'] as const;
export const HashSpace = z.enum(HASH_SPACES);
export type HashSpace = z.infer<typeof HashSpace>;

/** Checks across keys of a model config: knobs that need another key's value, crosses of dropped fields. */
function checkFieldKnobs(config: { fields?: FieldSettings; crosses: FeatureCross[]; denseTransform: FieldTransform }, ctx: z.RefinementCtx): void {
  const fields = config.fields ?? {};
  for (const [name, knobs] of Object.entries(fields)) {
    const transform = knobs.transform ?? config.denseTransform;
    // A column's kind is known from the data only: its buckets are checked there (contracts/field-names.ts).
    if (knobs.buckets !== undefined && isDenseField(name) && transform !== 'quantile')
      ctx.addIssue({
        code: 'custom',
        path: ['fields', name, 'buckets'],
        message: `${name}: buckets applies to the quantile transform, and ${name}'s transform is ${transform}`,
      });
  }
  config.crosses.forEach((cross, i) => {
    const dropped = cross.filter((f) => fields[f]?.drop);
    if (dropped.length)
      ctx.addIssue({
        code: 'custom',
        path: ['crosses', i],
        message: `cross ${cross.join('×')} uses ${dropped.join(', ')}, which ${dropped.length > 1 ? 'are' : 'is'} dropped`,
      });
  });
}

export const CALIBRATION_METHODS = ['none', 'platt', 'isotonic'] as const;
export const CalibrationMethod = z.enum(CALIBRATION_METHODS);
export type CalibrationMethod = z.infer<typeof CalibrationMethod>;
/** A config's choice: one method, or `auto` (chosen on validation). */
export const CalibrationSetting = z.enum(['auto', ...CALIBRATION_METHODS]);
export type CalibrationSetting = z.infer<typeof CalibrationSetting>;

const CalibrationQuality = z.object({ logloss: z.number(), ne: z.number(), calibration: z.number() });

/**
 * How a fitted calibrator's level (its mean click rate on validation) was shrunk toward the training click rate
 * (ranking/calibration.ts, shrinkLevel): in log-odds, validation's rate weighs validationClicks / (validationClicks +
 * priorClicks), the training rate the rest. Few validation clicks leave the level near the training rate.
 */
export const LevelShrinkage = z.object({
  /** The training rows' click rate (all of them, before any negative downsampling: what the corrected model predicts). */
  trainCtr: z.number(),
  /** The validation rows' click rate (weighted with sample weights). */
  validationCtr: z.number(),
  /** The validation clicks the level was fitted from (Kish-effective with sample weights). */
  validationClicks: z.number(),
  /** The prior's worth, in pseudo-clicks at the training click rate. */
  priorClicks: z.number(),
  /** validationClicks / (validationClicks + priorClicks): validation's weight in the level. */
  validationWeight: z.number(),
  /** The calibrated mean click rate on validation after shrinking. */
  level: z.number(),
});
export type LevelShrinkage = z.infer<typeof LevelShrinkage>;

/** What a training result says about its calibration: the choice, and validation metrics before and after it. */
export const CalibrationReport = z.object({
  method: CalibrationMethod,
  requested: CalibrationSetting,
  /** The config's negativeSamplingRate (1: no correction). */
  negativeSamplingRate: z.number(),
  reason: z.string(),
  /** Held-out validation log loss of each candidate the `auto` chooser compared. */
  heldOutLogloss: z.record(z.string(), z.number()).optional(),
  /** How the fitted level was shrunk toward the training click rate (absent: not shrunk, or recorded before shrinking existed). */
  shrinkage: LevelShrinkage.optional(),
  /**
   * Folds the validation metrics were cross-fitted over: each fold scored by the same method fitted (and shrunk) on the
   * other folds. Absent where no fit was cross-fitted (method none) or on results recorded before.
   */
  crossFitFolds: z.number().int().optional(),
  /**
   * On all validation rows: `before` = the model's predictions (after the downsampling correction), `after` = through
   * the calibrator. `after` is in-sample for the calibrator (it was fitted on these rows), so it flatters; the
   * result's validation metrics (cross-fitted) and the test metrics do not.
   */
  validation: z.object({ rows: z.number().int(), before: CalibrationQuality, after: CalibrationQuality }),
});
export type CalibrationReport = z.infer<typeof CalibrationReport>;

/**
 * What turns a model's raw probability into a calibrated one, as stored in a model artifact (small JSON): first the
 * negative-downsampling correction (when `negativeSamplingRate` < 1), then the fitted map — identity, Platt's
 * sigmoid(a·logit(p) + b), or isotonic breakpoints (x ascending, y non-decreasing, linear between them, flat
 * outside). An artifact without one scores with its raw probabilities.
 */
const samplingCorrection = { negativeSamplingRate: z.number().gt(0).max(1).optional() };
export const Calibrator = z.discriminatedUnion('method', [
  z.object({ method: z.literal('none'), ...samplingCorrection }).strict(),
  z.object({ method: z.literal('platt'), a: z.number(), b: z.number(), ...samplingCorrection }).strict(),
  z
    .object({ method: z.literal('isotonic'), x: z.array(z.number()).min(1), y: z.array(z.number().gt(0).lt(1)).min(1), ...samplingCorrection })
    .strict()
    .refine((c) => c.x.length === c.y.length, { message: 'isotonic x and y differ in length' }),
]);
export type Calibrator = z.infer<typeof Calibrator>;

/** Keys every family shares, so the planner can sweep them uniformly. */
const common = {
  /** Rows of the shared hash table, 2^hashBits (default per family: the table's memory is per row × row width). */
  hashBits: z.number().int().min(8).max(24),
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
  /** L2 penalty (default per family: FTRL's closed form for lr and a per-step decay for fm and dcn are different scales). */
  l2: z.number().min(0).max(10),
  batchSize: z.number().int().min(1).max(8192).default(256),
  crosses: z.array(FeatureCross).max(32).default([]),
  /**
   * Every dense field's transform unless `fields` says otherwise. Default `quantile` (16 equal-frequency buckets
   * fitted on train): on the five wide bench scenarios it was the best or within noise of the best transform for lr
   * (bucketize 0.0003–0.002 NE behind, log 0.003–0.04 behind), because real counts have non-monotone effects.
   */
  denseTransform: FieldTransform.default('quantile'),
  /** Per-field knobs: transform, buckets, hashBits, drop (FieldKnobs). Absent: none. */
  fields: FieldSettings.optional(),
  /** Absent: `shared` (HashSpace). */
  hashSpace: HashSpace.optional(),
  /** Gradients are clipped to this norm (set by the retry policy after a divergence). */
  gradientClip: z.number().positive().max(1000).optional(),
  /** Learning-rate decay per epoch (1 = constant). */
  lrDecay: z.number().gt(0).max(1).default(1),
  seed: z.number().int().min(0).default(1),
  /**
   * The most steps between checkpoints (a step is one batch). Checkpoints are written by training time (the worker's
   * RANKWRIGHT_CHECKPOINT_MINUTES, default 3); this bound only makes them more frequent. Absent: by time alone.
   */
  checkpointEvery: z.number().int().min(1).optional(),
  /**
   * Post-hoc calibration fitted on the validation split and stored in the artifact (every score goes through it):
   * `auto` picks none / platt / isotonic by held-out validation log loss (ranking/calibration.ts).
   */
  calibration: CalibrationSetting.default('auto'),
  /**
   * Rate at which the trainer keeps non-click training rows (1 = all of them). Below 1 the trainer drops train
   * negatives with the seeded RNG (validation and test are untouched) and every prediction is corrected back to the
   * true click rate, p = p' / (p' + (1 − p') / r), before calibration.
   */
  negativeSamplingRate: z.number().gt(0).max(1).default(1),
};

export const LrConfig = z
  .object({
    family: z.literal('lr'),
    ...common,
    // Defaults chosen on the five wide bench scenarios (500k rows, all 39 fields; bench/quality.ts), where they beat
    // the textbook FTRL on every one: α = 0.05 and L2 = 1 as in the textbook recipe, 2^22 rows (2^18 was within
    // 0.0005 NE; FTRL's two float64 arrays make 2^22 cost 64 MiB).
    hashBits: common.hashBits.default(22),
    learningRate: common.learningRate.default(0.05),
    l2: common.l2.default(1),
    ftrlBeta: z.number().min(0).max(10).default(1),
    l1: z.number().min(0).max(10).default(0.5),
  })
  .strict()
  .superRefine(checkFieldKnobs);

export const FmConfig = z
  .object({
    family: z.literal('fm'),
    ...common,
    // 2^20 rows: a row is a weight and embeddingDim factors, each with an AdaGrad accumulator (≈ 75 MiB at k = 8).
    hashBits: common.hashBits.default(20),
    learningRate: common.learningRate.default(0.05),
    l2: common.l2.default(0),
    // Two passes, as lr: with AdaGrad's damped start for rare values (ranking/models/fm.ts) the second pass improved
    // validation NE on the wide scenarios instead of memorising the long tail; early stopping restores the first when
    // it does not, and a third pass was worse.
    epochs: common.epochs.default(2),
    embeddingDim: z.number().int().min(1).max(128).default(8),
  })
  .strict()
  .superRefine(checkFieldKnobs);

/**
 * The rank of the DCN's cross layers: `full` (a D×D matrix W per layer, D the input width) or r (DCN-v2's low-rank
 * layer, W ≈ U·Vᵀ with U, V of D×r, costing 2·D·r multiplies a row instead of D²: cheaper while r < D/2). Every
 * config and artifact written before the knob existed is full rank (ranking/model-artifact.ts reads a missing
 * crossRank as `full`).
 */
export const CROSS_RANK_MAX = 512;
const CROSS_RANK_MESSAGE = `crossRank is "full" or a whole number of dimensions from 1 to ${CROSS_RANK_MAX}`;
export const CrossRank = z.union(
  [z.literal('full'), z.number().int(CROSS_RANK_MESSAGE).min(1, CROSS_RANK_MESSAGE).max(CROSS_RANK_MAX, CROSS_RANK_MESSAGE)],
  { error: CROSS_RANK_MESSAGE },
);
export type CrossRank = z.infer<typeof CrossRank>;

export const DcnConfig = z
  .object({
    family: z.literal('dcn'),
    ...common,
    // 2^18 rows: a row is embeddingDim floats with two Adam moments, and the DCN's cost is its dense layers, not the table.
    hashBits: common.hashBits.default(18),
    learningRate: common.learningRate.default(0.003),
    l2: common.l2.default(0),
    // One pass: embeddings overfit on a second pass over the same rows, and a pass is the DCN's whole cost.
    epochs: common.epochs.default(1),
    embeddingDim: z.number().int().min(1).max(64).default(8),
    crossLayers: z.number().int().min(0).max(6).default(2),
    crossRank: CrossRank.default('full'),
    mlp: z.array(z.number().int().min(1).max(1024)).max(6).default([64, 32]),
  })
  .strict()
  .superRefine(checkFieldKnobs);

export const ModelConfig = z.discriminatedUnion('family', [LrConfig, FmConfig, DcnConfig]);
export type ModelConfig = z.infer<typeof ModelConfig>;
export type ModelConfigInput = z.input<typeof ModelConfig>;
export type LrConfig = z.infer<typeof LrConfig>;
export type FmConfig = z.infer<typeof FmConfig>;
export type DcnConfig = z.infer<typeof DcnConfig>;
