import { z } from 'zod';

/**
 * A declared schema: a team's own table (TSV or CSV with a header row, or Parquet) whose columns are named and given
 * roles. The engine numbers its fields (dense I1, I2, …; categorical C1, C2, …), as many as the table has: a schema is
 * *laid out* onto field numbers (schemaLayout below) and every place a person reads or writes a field name — model
 * configs, hypotheses, the report, `rankwright score` — speaks the column names.
 */
export const COLUMN_ROLES = ['label', 'weight', 'dense', 'categorical', 'multiCategorical', 'timestamp', 'ignore'] as const;
export const ColumnRole = z.enum(COLUMN_ROLES);
export type ColumnRole = z.infer<typeof ColumnRole>;

/**
 * Criteo's widths: a declared table's rows are never narrower (ranking/data/rows.ts), so the field numbers and hashes of
 * a table laid out when the engine had only these slots stay what they were.
 */
export const CRITEO_DENSE_SLOTS = 13;
export const CRITEO_CATEGORICAL_SLOTS = 26;
/** Values a multi-valued column keeps per row by default (each takes one categorical slot). */
export const DEFAULT_MAX_VALUES = 4;
/** The most values a multi-valued column may keep per row (a sanity bound on one column's width, not on the table). */
export const MAX_LIST_VALUES = 256;

/** Slot names (I1, C7) are the engine's own words: a declared column may not take one, or a name would mean two things. */
const SLOT_NAME = /^[IC]\d+$/;

export const ColumnName = z
  .string()
  .min(1, 'expected a column name')
  .max(100)
  .refine((n) => ![...n].some((ch) => ch < ' ' || ch === '×'), { message: 'a column name may not contain control characters or "×"' })
  .refine((n) => !SLOT_NAME.test(n), {
    message: 'names like I1 or C7 are the Criteo preset\'s slot names; use format "criteo-tsv" for Criteo files, or another column name',
  });

export const ColumnSpec = z
  .object({
    role: ColumnRole,
    /** multiCategorical only: what separates a cell's values (default ","). */
    separator: z.string().min(1).max(8).optional(),
    /** multiCategorical only: how many distinct values of a row are kept, in order of appearance (default 4). */
    maxValues: z.number().int().min(1).max(MAX_LIST_VALUES).optional(),
  })
  .strict();
export type ColumnSpec = z.infer<typeof ColumnSpec>;

export const DeclaredSchema = z
  .object({
    /** Column name → its role, or {role, separator, maxValues}. Columns of the file that are not listed are not read. */
    columns: z.record(ColumnName, z.union([ColumnRole, ColumnSpec])),
  })
  .strict();
export type DeclaredSchema = z.infer<typeof DeclaredSchema>;

/** An ISO 8601 date or date-time ("2026-03-01", "2026-03-01T12:00:00Z"). */
export const IsoTime = z
  .string()
  .max(40)
  .refine((s) => /^\d{4}-\d{2}-\d{2}/.test(s) && Number.isFinite(Date.parse(s)), {
    message: 'expected an ISO 8601 date or date-time, e.g. "2026-03-01"',
  });

/** A split by time: rows with `by` before `testFrom` train (and validate), rows at or after it test. */
export const TimeSplit = z
  .object({
    by: ColumnName,
    testFrom: IsoTime,
    /** Rows in [validationFrom, testFrom) validate; without it the latest `validationFraction` of the train rows do. */
    validationFrom: IsoTime.optional(),
  })
  .strict();
export type TimeSplit = z.infer<typeof TimeSplit>;

export function columnSpec(spec: ColumnRole | ColumnSpec): ColumnSpec {
  return typeof spec === 'string' ? { role: spec } : spec;
}

/** One engine slot a column occupies. */
export interface SlotOfColumn {
  /** The engine slot: I1, I2, … or C1, C2, … (as many as the table needs). */
  slot: string;
  column: string;
  /** multiCategorical: which kept value (0-based) this slot holds. */
  value?: number;
}

export interface SchemaLayout {
  /** Fields a row of this table has: at least Criteo's 13 dense and 26 categorical, more when the table needs them. */
  widths: { dense: number; categorical: number };
  /** Dense columns in slot order (I1, I2, …). */
  dense: SlotOfColumn[];
  /** Categorical slots in order (C1, C2, …); a multi-valued column has maxValues consecutive slots. */
  categorical: SlotOfColumn[];
  label: string;
  weight?: string;
  timestamps: string[];
  /** Engine slot → what a person reads: the column name, or `column[k]` for the k-th value of a multi-valued column. */
  labels: Record<string, string>;
  /** Column name → its slots (a multi-valued column's first slot first). */
  slots: Record<string, string[]>;
}

/**
 * Lays a schema onto the engine's slots: columns sorted by name (the same layout whatever order a config lists them
 * in, so a config's fingerprint and its slots agree), dense ones onto I1.., categorical ones onto C1..; a multi-valued
 * column takes maxValues consecutive slots. Throws a message naming the problem when the schema does not fit.
 * Pure and deterministic: used by workflows, the client and the engine alike.
 */
export function schemaLayout(schema: DeclaredSchema): SchemaLayout {
  const problems = schemaProblems(schema);
  if (problems.length) throw new Error(problems.map((p) => p.message).join('; '));
  const names = Object.keys(schema.columns).sort();
  const dense: SlotOfColumn[] = [];
  const categorical: SlotOfColumn[] = [];
  const labels: Record<string, string> = {};
  const slots: Record<string, string[]> = {};
  let label = '';
  let weight: string | undefined;
  const timestamps: string[] = [];
  for (const column of names) {
    const spec = columnSpec(schema.columns[column]);
    if (spec.role === 'label') label = column;
    else if (spec.role === 'weight') weight = column;
    else if (spec.role === 'timestamp') timestamps.push(column);
    else if (spec.role === 'dense') dense.push({ slot: `I${dense.length + 1}`, column });
    else if (spec.role === 'categorical') categorical.push({ slot: `C${categorical.length + 1}`, column });
    else if (spec.role === 'multiCategorical') {
      const count = spec.maxValues ?? DEFAULT_MAX_VALUES;
      for (let value = 0; value < count; value++) categorical.push({ slot: `C${categorical.length + 1}`, column, value });
    }
  }
  for (const s of [...dense, ...categorical]) {
    labels[s.slot] = s.value === undefined ? s.column : `${s.column}[${s.value + 1}]`;
    (slots[s.column] ??= []).push(s.slot);
  }
  const widths = { dense: Math.max(CRITEO_DENSE_SLOTS, dense.length), categorical: Math.max(CRITEO_CATEGORICAL_SLOTS, categorical.length) };
  return { widths, dense, categorical, label, weight, timestamps, labels, slots };
}

/** What is wrong with a schema as a whole (one label, at most one weight, role-specific options). */
export function schemaProblems(schema: DeclaredSchema): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const entries = Object.entries(schema.columns).map(([name, spec]) => [name, columnSpec(spec)] as const);
  const withRole = (role: ColumnRole) => entries.filter(([, s]) => s.role === role).map(([n]) => n);
  const labelColumns = withRole('label');
  if (labelColumns.length !== 1)
    problems.push({
      path: ['columns'],
      message: labelColumns.length
        ? `schema has ${labelColumns.length} label columns (${labelColumns.join(', ')}); exactly one column has role "label"`
        : 'schema has no label column; exactly one column has role "label" (0/1 clicks)',
    });
  const weights = withRole('weight');
  if (weights.length > 1)
    problems.push({ path: ['columns'], message: `schema has ${weights.length} weight columns (${weights.join(', ')}); at most one` });
  const dense = withRole('dense').length;
  let categorical = 0;
  for (const [name, spec] of entries) {
    if (spec.role === 'categorical') categorical += 1;
    if (spec.role === 'multiCategorical') categorical += spec.maxValues ?? DEFAULT_MAX_VALUES;
    else
      for (const option of ['separator', 'maxValues'] as const)
        if (spec[option] !== undefined)
          problems.push({
            path: ['columns', name, option],
            message: `${name}: ${option} applies to multiCategorical columns only, and ${name} is ${spec.role}`,
          });
  }
  if (dense + categorical === 0)
    problems.push({ path: ['columns'], message: 'schema has no feature columns (dense, categorical or multiCategorical)' });
  return problems;
}
