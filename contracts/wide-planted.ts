import { z } from 'zod';
import { CATEGORICAL_FIELDS, DENSE_FIELDS } from './data';

/**
 * Options of the full-width planted-truth generator (`rankwright generate`): all 26 categorical and 13 dense Criteo
 * fields, streamed to files. Every option is optional; per-field properties are drawn from the seed inside the
 * given ranges unless a field is pinned under `categorical.fields` / `dense.fields`. Truth terms are given either as
 * a count (the fields are then chosen by seed) or as an explicit list.
 */

const CategoricalField = z.enum(CATEGORICAL_FIELDS as [string, ...string[]], {
  error: (issue) => `expected a categorical field C1..C26, got ${JSON.stringify(issue.input)}`,
});
const DenseField = z.enum(DENSE_FIELDS as [string, ...string[]], {
  error: (issue) => `expected a dense field I1..I13, got ${JSON.stringify(issue.input)}`,
});

/** A closed range [low, high] a per-field property is drawn from (uniformly; cardinality log-uniformly). */
const range = (min: number, max: number, fallback: [number, number]) =>
  z
    .tuple([z.number().min(min).max(max), z.number().min(min).max(max)])
    .refine(([lo, hi]) => lo <= hi, { message: 'expected [low, high] with low <= high' })
    .default(fallback);

/**
 * A truth term given as a count (fields chosen by seed) or as an explicit list. Dispatching on the input's shape
 * (instead of a union) makes a bad list item report its own field ("crosses.0.fields.1: …"), not "expected number".
 */
function countOrList<C extends z.ZodType, L extends z.ZodType>(count: C, list: L) {
  return z.custom<z.input<C> | z.input<L>>().transform((value, ctx): z.output<C> | z.output<L> => {
    const result = (Array.isArray(value) ? list : count).safeParse(value);
    if (result.success) return result.data as z.output<C> | z.output<L>;
    for (const issue of result.error.issues) ctx.addIssue({ ...(issue as z.core.$ZodRawIssue), path: issue.path });
    return z.NEVER;
  });
}

export const WideCategoricalField = z
  .object({
    /** Distinct values (Zipf-distributed). */
    cardinality: z.number().int().min(2).max(100_000).optional(),
    /** Zipf exponent of value frequencies (0 = uniform). */
    zipf: z.number().min(0).max(3).optional(),
    missingRate: z.number().min(0).max(0.95).optional(),
    /** Standard deviation of the per-value main effect on the logit (0 = the field carries no main effect). */
    effectSd: z.number().min(0).max(3).optional(),
    /**
     * How fast effects fade down the popularity order: value rank r's main effect and interaction factors are scaled
     * by (1 + r/10)^−tailDecay (0 = rare values matter as much as popular ones, so much of the signal sits in values
     * too rare to learn from; larger = the signal concentrates on values a model sees often).
     */
    tailDecay: z.number().min(0).max(3).optional(),
  })
  .strict();

export const WideDenseField = z
  .object({
    /** Mean of log1p(count) for non-zero rows. */
    logMean: z.number().min(0).max(12).optional(),
    /** Standard deviation of log1p(count): the heaviness of the tail. */
    logSd: z.number().min(0.05).max(4).optional(),
    /** Share of present values that are exactly 0. */
    zeroRate: z.number().min(0).max(0.99).optional(),
    missingRate: z.number().min(0).max(0.95).optional(),
    /** Logit change per standard deviation of log1p(count) (the monotone main effect). */
    slope: z.number().min(-3).max(3).optional(),
  })
  .strict();

export const WideCross = z
  .object({
    fields: z.tuple([CategoricalField, CategoricalField]),
    /** Rank of the planted interaction ⟨u_a[value_a], u_b[value_b]⟩. */
    rank: z.number().int().min(1).max(16).optional(),
    /** Standard deviation of the term on the logit (factors are centred and scaled under the value frequencies). */
    strength: z.number().min(0).max(5).optional(),
  })
  .strict()
  .refine((c) => c.fields[0] !== c.fields[1], { message: 'a cross needs two different fields', path: ['fields'] });

export const WideThreeWay = z
  .object({
    fields: z.tuple([CategoricalField, CategoricalField, CategoricalField]),
    rank: z.number().int().min(1).max(16).optional(),
    strength: z.number().min(0).max(5).optional(),
  })
  .strict()
  .refine((c) => new Set(c.fields).size === 3, { message: 'a three-way cross needs three different fields', path: ['fields'] });

export const WideDenseCategorical = z
  .object({
    dense: DenseField,
    categorical: CategoricalField,
    /** The slope of log1p(dense) varies by categorical value with this standard deviation (logit per sd). */
    strength: z.number().min(0).max(5).optional(),
  })
  .strict();

export const WideBump = z
  .object({
    /** Centre in log1p(count) units. */
    centre: z.number().min(0).max(15),
    width: z.number().min(0.05).max(5).default(0.35),
    /** Logit change at the centre (negative = a dip). */
    height: z.number().min(-5).max(5),
  })
  .strict();

export const WideDenseShape = z.object({ field: DenseField, bumps: z.array(WideBump).min(1).max(8) }).strict();

/**
 * Drift over time (rows are then in time order): training covers the period τ ∈ [0, 1), the validation file (when
 * there is one) the next `validationSpan`, the test file the `testSpan` after it. A row's click probability is the
 * truth at its time: the test rows' truth, and so the oracle in meta.json, is the test period's.
 */
export const WideDrift = z
  .object({
    /**
     * The click rate at the last training row over the first (0.5: it halves across training); the same log-linear
     * trend carries on through validation and test. `baseCtr` stays the average over training.
     */
    ctrRatio: z.number().min(0.05).max(20).default(0.5),
    /** Length of the validation file's period, as a share of training's (it follows training). */
    validationSpan: z.number().min(0).max(5).default(0.1),
    /** Length of the test file's period, as a share of training's (it follows validation). */
    testSpan: z.number().min(0.01).max(5).default(0.5),
    /**
     * A planted interaction term whose sign turns over time, named as meta.json's ablations name terms ("C3×C17",
     * "I4×C9", "C1×C5×C20", "shape(I2)"): weighted 1 − 2τ, so +1 at the first training row, 0 halfway through
     * training and −1 from the last training row on.
     */
    flip: z.string().max(40).optional(),
    /**
     * Categorical fields whose popularity order turns over (new advertisers, new content winning share): at time τ a
     * share min(1, share·τ) of the field's values are drawn from the reversed order, the long tail becoming the head.
     */
    populationShift: z
      .array(z.object({ field: CategoricalField, share: z.number().min(0).max(1) }).strict())
      .max(26)
      .default([]),
  })
  .strict();
export type WideDrift = z.infer<typeof WideDrift>;

/** The click rate at the start of training under a drift: what makes the average over training `baseCtr`. */
export function driftStartCtr(baseCtr: number, ctrRatio: number): number {
  return ctrRatio === 1 ? baseCtr : (baseCtr * Math.log(ctrRatio)) / (ctrRatio - 1);
}

/** The end of the last period (test's) on the drift's time axis. */
export function driftEnd(drift: WideDrift, validationRows: number): number {
  return 1 + (validationRows > 0 ? drift.validationSpan : 0) + drift.testSpan;
}

export const WideScenarioOptions = z
  .object({
    /** A label for reports; named scenarios set it. */
    name: z.string().max(100).optional(),
    description: z.string().max(1000).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    trainRows: z.number().int().min(100).max(200_000_000).default(500_000),
    /** 0 = no validation.tsv (then a consumer validates on the tail of train). */
    validationRows: z.number().int().min(0).max(50_000_000).default(50_000),
    testRows: z.number().int().min(100).max(50_000_000).default(100_000),
    /** Average click probability (Criteo-like: 0.03–0.25; real ads logs 0.001–0.01); the bias is fitted to it. */
    baseCtr: z.number().min(0.001).max(0.5).default(0.1),
    categorical: z
      .object({
        cardinality: range(2, 100_000, [10, 100_000]),
        zipf: range(0, 3, [0.8, 1.3]),
        missingRate: range(0, 0.95, [0, 0.3]),
        effectSd: range(0, 3, [0, 0.35]),
        tailDecay: range(0, 3, [0.2, 0.6]),
        /** Per-field pins (e.g. {"C6":{"cardinality":4}}); anything not pinned is drawn from the ranges. */
        fields: z.partialRecord(CategoricalField, WideCategoricalField).default({}),
      })
      .strict()
      .prefault({}),
    dense: z
      .object({
        logMean: range(0, 12, [0.5, 4]),
        logSd: range(0.05, 4, [0.6, 1.6]),
        zeroRate: range(0, 0.99, [0, 0.4]),
        missingRate: range(0, 0.95, [0, 0.45]),
        /** Per-field monotone slopes are drawn as N(0, slopeSd²). */
        slopeSd: z.number().min(0).max(3).default(0.2),
        /** Correlation of log counts through a shared per-row activity level (0 = independent fields). */
        correlation: z.number().min(0).max(0.95).default(0.4),
        fields: z.partialRecord(DenseField, WideDenseField).default({}),
      })
      .strict()
      .prefault({}),
    /** Low-rank pairwise crosses between categorical fields: a count (fields by seed) or explicit pairs. */
    crosses: countOrList(z.number().int().min(0).max(30), z.array(WideCross).max(30)).default(3),
    /** Defaults for crosses that do not say (and for counted ones). */
    crossRank: z.number().int().min(1).max(16).default(4),
    crossStrength: z.number().min(0).max(5).default(0.6),
    /** Dense × categorical interactions (a dense slope that varies by categorical value). */
    denseCategorical: countOrList(z.number().int().min(0).max(13), z.array(WideDenseCategorical).max(13)).default(2),
    denseCategoricalStrength: z.number().min(0).max(5).default(0.4),
    /** Three-way crosses (low-rank trilinear terms): a count or explicit triples. */
    threeWay: countOrList(z.number().int().min(0).max(5), z.array(WideThreeWay).max(5)).default(1),
    threeWayRank: z.number().int().min(1).max(16).default(3),
    threeWayStrength: z.number().min(0).max(5).default(0.6),
    /** Non-monotone dense effects (bumps and dips in log1p(count)): a count of fields or explicit shapes. */
    denseShapes: countOrList(z.number().int().min(0).max(13), z.array(WideDenseShape).max(13)).default(2),
    denseShapeHeight: z.number().min(0).max(5).default(0.6),
    /** Share of labels flipped after the click is drawn (true probability ε + (1 − 2ε)·p). */
    labelNoise: z.number().min(0).max(0.45).default(0),
    /** Drift over time (absent: every row is drawn from the same truth, in no particular order). */
    drift: WideDrift.optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.labelNoise >= o.baseCtr)
      ctx.addIssue({
        code: 'custom',
        path: ['labelNoise'],
        message: `must be below baseCtr (${o.baseCtr}): flipped labels alone would exceed the base rate`,
      });
    if (o.drift) {
      // The click rate along the whole timeline must stay a rate the bias can be fitted to.
      const start = driftStartCtr(o.baseCtr, o.drift.ctrRatio);
      const end = start * Math.pow(o.drift.ctrRatio, driftEnd(o.drift, o.validationRows));
      const [lo, hi] = [Math.min(start, end), Math.max(start, end)];
      if (hi > 0.9 || lo <= o.labelNoise || lo < 0.0005)
        ctx.addIssue({
          code: 'custom',
          path: ['drift', 'ctrRatio'],
          message: `the click rate would run from ${start.toPrecision(3)} to ${end.toPrecision(3)} over the timeline; keep it within (max(labelNoise, 0.0005), 0.9]`,
        });
    }
  });
export type WideScenarioOptions = z.infer<typeof WideScenarioOptions>;
export type WideScenarioInput = z.input<typeof WideScenarioOptions>;
