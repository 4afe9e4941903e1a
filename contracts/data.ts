import { z } from 'zod';
import { DeclaredSchema, TimeSplit, columnSpec, schemaProblems } from './schema';

/** Criteo layout: label, 13 integer ("dense") features I1..I13, 26 hashed categorical features C1..C26. */
export const DENSE_FIELDS = Array.from({ length: 13 }, (_, i) => `I${i + 1}`);
export const CATEGORICAL_FIELDS = Array.from({ length: 26 }, (_, i) => `C${i + 1}`);
export const FIELD_NAMES = [...DENSE_FIELDS, ...CATEGORICAL_FIELDS];
export const FieldName = z.enum(FIELD_NAMES as [string, ...string[]]);

/**
 * The engine's name of dense field i (0-based): I1, I2, …; a declared table may have any number of them, so past
 * Criteo's 13 they go on (I14, …). Likewise C1, C2, … for categorical fields.
 */
export const denseFieldName = (i: number): string => `I${i + 1}`;
export const categoricalFieldName = (i: number): string => `C${i + 1}`;

/** A field name's kind and 0-based index (`C27` → categorical 26), or undefined when it is not shaped like one. */
export function fieldOfName(name: string): { kind: 'dense' | 'categorical'; index: number } | undefined {
  const m = /^([IC])([1-9]\d{0,5})$/.exec(name);
  if (!m) return undefined;
  return { kind: m[1] === 'I' ? 'dense' : 'categorical', index: Number(m[2]) - 1 };
}

/**
 * A path given in a config. Relative paths resolve against the working directory of the process that reads them
 * (the worker); `..` segments are refused so a config can't reach outside the tree it names.
 */
export const DataPath = z
  .string()
  .min(1, 'expected a file path')
  .max(4096)
  .refine((p) => !p.split(/[\\/]/).includes('..'), { message: 'path must not contain ".." segments' })
  .refine((p) => !p.includes('\0'), { message: 'path must not contain NUL bytes' });

export const CriteoData = z
  .object({
    format: z.literal('criteo-tsv'),
    train: DataPath,
    test: DataPath,
    validation: DataPath.optional(),
    /** When no validation file is given, the last `validationFraction` of train (by position) validates. */
    validationFraction: z.number().min(0).max(0.5).default(0.1),
    /** Above this share of malformed rows the job fails as bad data. */
    maxBadRowFraction: z.number().min(0).max(1).default(0.01),
    /** Optional cap on rows read from train (useful for quick experiments on big files). */
    maxTrainRows: z.number().int().positive().optional(),
    /** Any malformed row fails the run (bad data, naming file:line) instead of being skipped and counted. */
    strict: z.boolean().optional(),
  })
  .strict();
export type CriteoData = z.infer<typeof CriteoData>;

/** How many malformed-row examples a bad-row summary keeps (histories and events stay small). */
export const BAD_ROW_EXAMPLES_KEPT = 5;

/** One malformed row: where it is (the path as the config gave it, 1-based line) and what was wrong. */
export const BadRowExample = z.object({ file: z.string(), line: z.number().int().min(1), problem: z.string().max(500) });
export type BadRowExample = z.infer<typeof BadRowExample>;

/**
 * The malformed rows a load skipped: the total, the count per file read (train / validation / test) and the first
 * few examples in reading order. Planted data reads no files: no files, count 0.
 */
export const BadRows = z.object({
  count: z.number().int().min(0),
  files: z.array(
    z.object({
      split: z.enum(['train', 'validation', 'test']),
      file: z.string(),
      /** Lines read from this file (good and bad). */
      rows: z.number().int().min(0),
      badRows: z.number().int().min(0),
    }),
  ),
  examples: z.array(BadRowExample).max(BAD_ROW_EXAMPLES_KEPT),
});
export type BadRows = z.infer<typeof BadRows>;

/** Options of the planted-truth generator: every option optional, deterministic by seed. */
export const PlantedOptions = z
  .object({
    seed: z.number().int().min(0).default(7),
    trainRows: z.number().int().min(100).max(5_000_000).default(60_000),
    validationRows: z.number().int().min(100).max(1_000_000).default(10_000),
    testRows: z.number().int().min(100).max(1_000_000).default(20_000),
    /** How many of C1..C26 carry values (the rest are empty). */
    categoricalFields: z.number().int().min(2).max(26).default(8),
    /** How many of I1..I13 carry values. */
    denseFields: z.number().int().min(0).max(13).default(4),
    cardinality: z.number().int().min(2).max(1_000_000).default(200),
    /** Zipf exponent of categorical value frequencies (0 = uniform). */
    zipf: z.number().min(0).max(3).default(1.1),
    /** Number of planted pairwise interactions between categorical fields, or explicit pairs. */
    crosses: z.union([z.number().int().min(0).max(10), z.array(z.tuple([z.string(), z.string()])).max(10)]).default(2),
    crossStrength: z.number().min(0).max(5).default(1.5),
    /** Strength of non-linear effects of dense features (0 = linear). */
    denseNonlinearity: z.number().min(0).max(5).default(1),
    missingRate: z.number().min(0).max(0.9).default(0.05),
    /** Shift of the test distribution relative to train (0 = none). */
    drift: z.number().min(0).max(1).default(0),
    baseCtr: z.number().gt(0).lt(0.5).default(0.1),
  })
  .strict();
export type PlantedOptions = z.infer<typeof PlantedOptions>;

export const PlantedData = z.object({ planted: PlantedOptions }).strict();
export type PlantedData = z.infer<typeof PlantedData>;

/**
 * A team's own table with a declared schema (contracts/schema.ts): TSV or CSV with a header row, or Parquet. Either a
 * test file or a time split (`split`) says which rows test.
 */
export const DeclaredData = z
  .object({
    format: z.enum(['tsv', 'csv', 'parquet']),
    train: DataPath,
    test: DataPath.optional(),
    validation: DataPath.optional(),
    schema: DeclaredSchema,
    split: TimeSplit.optional(),
    validationFraction: z.number().min(0).max(0.5).default(0.1),
    maxBadRowFraction: z.number().min(0).max(1).default(0.01),
    maxTrainRows: z.number().int().positive().optional(),
    strict: z.boolean().optional(),
  })
  .strict()
  .superRefine((data, ctx) => {
    for (const p of schemaProblems(data.schema)) ctx.addIssue({ code: 'custom', path: ['schema', ...p.path], message: p.message });
    if (!data.test && !data.split)
      ctx.addIssue({ code: 'custom', path: ['test'], message: 'expected a test file, or a time split ("split": {"by": COLUMN, "testFrom": DATE})' });
    if (data.test && data.split)
      ctx.addIssue({
        code: 'custom',
        path: ['split'],
        message: 'give a test file or a time split, not both (a split takes its test rows from train)',
      });
    if (data.split) {
      const spec = data.schema.columns[data.split.by];
      if (!spec || columnSpec(spec).role !== 'timestamp')
        ctx.addIssue({
          code: 'custom',
          path: ['split', 'by'],
          message: `split.by: ${JSON.stringify(data.split.by)} is not a column with role "timestamp" in the schema`,
        });
      if (data.validation && data.split.validationFrom)
        ctx.addIssue({ code: 'custom', path: ['split', 'validationFrom'], message: 'give a validation file or split.validationFrom, not both' });
      if (data.split.validationFrom && Date.parse(data.split.validationFrom) >= Date.parse(data.split.testFrom))
        ctx.addIssue({ code: 'custom', path: ['split', 'validationFrom'], message: 'split.validationFrom must be before split.testFrom' });
    }
  });
export type DeclaredData = z.infer<typeof DeclaredData>;

export const DataConfig = z.union([CriteoData, PlantedData, DeclaredData]);
export type DataConfig = z.infer<typeof DataConfig>;
export type DataConfigInput = z.input<typeof DataConfig>;
