import { z } from 'zod';
import { FIELD_NAMES, type DataConfig } from './data';
import { columnSpec, schemaLayout, type DeclaredSchema } from './schema';

/**
 * Field names where a person reads or writes them. The engine speaks slots (Criteo's I1..I13 and C1..C26; a declared
 * schema's columns are laid onto as many as it needs: contracts/schema.ts). Configs may name fields by column (`user_country`), by one value
 * of a multi-valued column (`interests[2]`) or by slot (`C3`: what the agent's own code writes; a column can never be
 * named like a slot, so the names never clash); `engineModel` turns them into slots before anything runs, and
 * `labelFields` turns slots back into column names in text a person reads. Criteo and planted data have no labels:
 * their slot names are their field names. Pure and deterministic: safe in workflow code.
 */

/** A slot name as the engine writes it: I or C and a number (whether the slot exists is another question). */
const SLOT_SHAPE = /^[IC]\d+$/;
const SLOT_IN_TEXT = /\b[IC]\d{1,6}\b/g;
const FIELD_SET = new Set(FIELD_NAMES);

export const isSlotShaped = (name: string): boolean => SLOT_SHAPE.test(name);
/** A slot of the Criteo layout (I1..I13, C1..C26): Criteo files and planted data have these. */
export const isCriteoSlot = (name: string): boolean => FIELD_SET.has(name);

/** The roles of a column that is a model field. */
export type FieldRole = 'dense' | 'categorical' | 'multiCategorical';

/** One slot of a declared schema, as the designers' prompts show it (what `fieldTable` returns). */
export const FieldEntry = z.object({
  slot: z.string(),
  /** What a person reads: the column name, or `column[k]` for the k-th value of a multi-valued column. */
  label: z.string(),
  column: z.string(),
  role: z.enum(['dense', 'categorical', 'multiCategorical']),
});
export type FieldEntry = z.infer<typeof FieldEntry>;

/** How a dataset names its fields: the slot table, or nothing for the Criteo layout (Criteo files, planted data). */
interface Naming {
  entries: FieldEntry[];
  labels: Record<string, string>;
  /** Column name → role and slots (first value's slot first). */
  columns: Map<string, { role: string; slots: string[] }>;
  /** `interests[2]` → its slot. */
  byLabel: Map<string, string>;
}

function namingOfTable(entries: readonly FieldEntry[], columnsOfSchema?: DeclaredSchema['columns']): Naming {
  const labels: Record<string, string> = {};
  const columns = new Map<string, { role: string; slots: string[] }>();
  const byLabel = new Map<string, string>();
  for (const e of entries) {
    labels[e.slot] = e.label;
    byLabel.set(e.label, e.slot);
    const col = columns.get(e.column) ?? { role: e.role, slots: [] };
    col.slots.push(e.slot);
    columns.set(e.column, col);
  }
  // Columns that are no model field (label, weight, timestamp, ignore): known, so a message can say what they are.
  for (const [name, spec] of Object.entries(columnsOfSchema ?? {}))
    if (!columns.has(name)) columns.set(name, { role: columnSpec(spec).role, slots: [] });
  return { entries: [...entries], labels, columns, byLabel };
}

/** The declared schema's slot table, or undefined for Criteo/planted data (and for a schema that does not fit). */
function namingOf(data: DataConfig | readonly FieldEntry[] | undefined): Naming | undefined {
  if (!data) return undefined;
  if (Array.isArray(data)) return data.length ? namingOfTable(data) : undefined;
  const table = fieldTable(data as DataConfig);
  return table.length ? namingOfTable(table, (data as { schema: DeclaredSchema }).schema.columns) : undefined;
}

/** A declared schema that lays out onto no slot (refused by DeclaredData with its own messages). */
function unfitSchema(data: DataConfig | readonly FieldEntry[] | undefined): boolean {
  return !!data && !Array.isArray(data) && 'schema' in (data as object) && !fieldTable(data as DataConfig).length;
}

/** Slot → column (or `column[k]`) and role, in slot order; empty for Criteo and planted data. */
export function fieldTable(data: DataConfig): FieldEntry[] {
  if (!('schema' in data)) return [];
  let layout;
  try {
    layout = schemaLayout(data.schema);
  } catch {
    return []; // a schema that does not fit is refused by DeclaredData with its own message
  }
  const roleOf = (column: string) => columnSpec(data.schema.columns[column]).role as FieldEntry['role'];
  return [...layout.dense, ...layout.categorical].map((s) => ({
    slot: s.slot,
    label: layout.labels[s.slot],
    column: s.column,
    role: roleOf(s.column),
  }));
}

/** Slot → what a person reads (`user_country`, `interests[2]`); empty for Criteo and planted data. */
export function fieldLabels(data: DataConfig | readonly FieldEntry[]): Record<string, string> {
  return namingOf(data)?.labels ?? {};
}

/** The text with every whole-word slot name (C3, I12) that has a label replaced by it: `C3 × C8` → `user_country × ad_category`. */
export function labelFields(text: string, labels: Readonly<Record<string, string>>): string {
  if (!Object.keys(labels).length) return text;
  return text.replace(SLOT_IN_TEXT, (slot) => labels[slot] ?? slot);
}

/**
 * A hypothesis as a person reads it: slot names (C3, I2) in its title, rationale and expected effect replaced by the
 * declared schema's column names (`user_country`), cut to the contract's lengths. Unchanged without labels.
 */
export function labelHypothesis<H extends { title: string; rationale: string; expectedEffect: string }>(
  hypothesis: H,
  labels: Record<string, string>,
): H {
  if (!Object.keys(labels).length) return hypothesis;
  return {
    ...hypothesis,
    title: cutText(labelFields(hypothesis.title, labels), 200),
    rationale: cutText(labelFields(hypothesis.rationale, labels), 600),
    expectedEffect: cutText(labelFields(hypothesis.expectedEffect, labels), 300),
  };
}

export function cutText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A slot name, with its label when it has one: `C3 (user_country)`; for messages that must name both. */
export function slotWithLabel(slot: string, labels: Readonly<Record<string, string>>): string {
  return labels[slot] ? `${labels[slot]} (${slot})` : slot;
}

/** What a field reference names: its slots and the role of the field (undefined: no model field of this data). */
interface Resolved {
  slots: string[];
  role?: string;
  /** A multi-valued column named whole (all its value slots). */
  multi?: boolean;
}

/** A slot name of this data: one of the declared layout's, or a Criteo slot where there is no schema. */
function isSlotOf(name: string, naming: Naming | undefined): boolean {
  return naming ? name in naming.labels : isCriteoSlot(name);
}

function resolve(name: string, naming: Naming | undefined): Resolved | undefined {
  if (isSlotShaped(name)) return isSlotOf(name, naming) ? { slots: [name], role: name.startsWith('I') ? 'dense' : 'categorical' } : undefined;
  if (!naming) return undefined;
  const bySlotLabel = naming.byLabel.get(name);
  const column = naming.columns.get(name);
  if (column && column.slots.length) return { slots: column.slots, role: column.role, multi: column.role === 'multiCategorical' };
  if (bySlotLabel) return { slots: [bySlotLabel], role: 'categorical' };
  return column ? { slots: [], role: column.role } : undefined;
}

/** Any config-like object with crosses and per-field knobs (a ModelConfig, an adviser's draft). */
interface FieldsOfModel {
  crosses?: readonly (readonly unknown[])[] | null;
  fields?: Record<string, unknown> | null;
}

/**
 * The model config with every field reference turned into slots: a column → its slot; a multi-valued column's
 * per-field knobs → each of its value slots (an entry for one of its values, `interests[2]`, adds to them). Names that do not
 * resolve (unknown, a multi-valued column in a cross: see modelFieldProblems) are left as written, so a caller that
 * checked first never sees them and a clamp drops them. Criteo and planted configs come back unchanged.
 */
export function engineModel<T extends FieldsOfModel>(model: T, data: DataConfig | readonly FieldEntry[] | undefined): T {
  const naming = namingOf(data);
  if (!naming) return model;
  const out: FieldsOfModel = { ...model };
  if (model.crosses)
    out.crosses = model.crosses.map((cross) =>
      Array.isArray(cross)
        ? cross.map((f) => {
            const r = typeof f === 'string' ? resolve(f, naming) : undefined;
            return r && r.slots.length === 1 ? r.slots[0] : f;
          })
        : cross,
    );
  if (model.fields) {
    const fields: Record<string, unknown> = {};
    // A multi-valued column's knobs first, so an entry for one of its values (`interests[2]`) refines them.
    const entries = Object.entries(model.fields).sort(([a], [b]) => Number(!resolve(a, naming)?.multi) - Number(!resolve(b, naming)?.multi));
    for (const [name, knobs] of entries) {
      const r = resolve(name, naming);
      const slots = r?.slots.length ? r.slots : [name];
      for (const slot of slots) {
        const before = fields[slot];
        fields[slot] = isPlainObject(before) && isPlainObject(knobs) ? { ...before, ...knobs } : knobs;
      }
    }
    out.fields = fields;
  }
  return out as T;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

export interface FieldProblem {
  path: (string | number)[];
  message: string;
}

const CRITEO_FIELDS = 'fields are I1..I13 and C1..C26';
/** How many names a message lists before it says how many more there are (a table may have hundreds of columns). */
const NAMES_LISTED = 40;

/** What a dataset's fields are called, for messages: its columns that are model fields (or Criteo's slots). */
function knownNames(naming: Naming | undefined): string {
  if (!naming) return CRITEO_FIELDS;
  const names = [...naming.columns]
    .filter(([, c]) => c.slots.length)
    .map(([n]) => n)
    .sort();
  const more = names.length > NAMES_LISTED ? ` and ${names.length - NAMES_LISTED} more` : '';
  return `the schema's fields are ${names.slice(0, NAMES_LISTED).join(', ')}${more}`;
}

function unknownField(name: string, naming: Naming | undefined): string {
  if (naming) {
    const column = naming.columns.get(name);
    if (column) return `${name} is a ${column.role} column, not a model field (${knownNames(naming)})`;
  }
  return `unknown field ${JSON.stringify(name)} (${knownNames(naming)})`;
}

/**
 * What is wrong with a model config's field references for this data: unknown names (with the names it knows), a
 * multi-valued column in a cross, knobs that do not fit a column's role (transform and buckets are for dense
 * columns, hashBits for categorical ones), two names for one field, slots the data does not have. The model contract
 * itself (contracts/model.ts) checks a slot's knobs against its kind; this adds what needs the data.
 */
export function modelFieldProblems(
  model: {
    crosses?: readonly (readonly string[])[];
    fields?: Record<string, { transform?: string; buckets?: number; hashBits?: unknown; drop?: boolean; pooling?: string }>;
    denseTransform?: string;
  },
  data: DataConfig | readonly FieldEntry[] | undefined,
): FieldProblem[] {
  if (unfitSchema(data)) return []; // DeclaredData says what is wrong with the schema; its names can't be checked
  const naming = namingOf(data);
  const problems: FieldProblem[] = [];
  const fields = model.fields ?? {};
  const droppedSlots = new Set<string>();
  const namedSlot = new Map<string, string>();
  for (const [name, knobs] of Object.entries(fields)) {
    if (isSlotShaped(name)) {
      // The model contract checked a knob against the slot's kind; whether the data has the slot needs the data.
      if (!isSlotOf(name, naming)) {
        problems.push({ path: ['fields', name], message: unknownField(name, naming) });
        continue;
      }
      if (knobs?.drop) droppedSlots.add(name);
      noteSlot(name, name, ['fields', name]);
      continue;
    }
    const r = resolve(name, naming);
    if (!r || !r.slots.length) {
      problems.push({ path: ['fields', name], message: unknownField(name, naming) });
      continue;
    }
    for (const slot of r.slots) {
      if (knobs?.drop) droppedSlots.add(slot);
      // A whole multi-valued column and one of its values may both have knobs (the value's refine the column's).
      if (!r.multi) noteSlot(slot, name, ['fields', name]);
    }
    if (knobs?.pooling !== undefined && !r.multi)
      problems.push({
        path: ['fields', name, 'pooling'],
        message: `${name} is ${r.role === 'multiCategorical' ? 'one value of a list' : r.role}: pooling applies to a whole list (multiCategorical) column`,
      });
    if (r.role === 'dense') {
      if (knobs?.hashBits !== undefined)
        problems.push({
          path: ['fields', name, 'hashBits'],
          message: `${name} is dense: hashBits applies to categorical columns only (a bucketed dense column is sized by hashSpace)`,
        });
      const transform = knobs?.transform ?? model.denseTransform ?? 'quantile';
      if (knobs?.buckets !== undefined && transform !== 'quantile')
        problems.push({
          path: ['fields', name, 'buckets'],
          message: `${name}: buckets applies to the quantile transform, and ${name}'s transform is ${transform}`,
        });
    } else {
      for (const knob of ['transform', 'buckets'] as const)
        if (knobs?.[knob] !== undefined)
          problems.push({ path: ['fields', name, knob], message: `${name} is ${r.role}: ${knob} applies to dense columns only` });
    }
  }

  (model.crosses ?? []).forEach((cross, i) => {
    const slots: string[] = [];
    cross.forEach((name, j) => {
      if (isSlotShaped(name)) {
        if (isSlotOf(name, naming)) slots.push(name);
        else problems.push({ path: ['crosses', i, j], message: unknownField(name, naming) });
        return;
      }
      const r = resolve(name, naming);
      if (!r || !r.slots.length) problems.push({ path: ['crosses', i, j], message: unknownField(name, naming) });
      else if (r.multi) {
        const labels = r.slots.map((s) => naming!.labels[s]);
        problems.push({
          path: ['crosses', i, j],
          message:
            `${name} is multi-valued (${r.slots.length} values a row): a cross takes one value of each field, so name one of ` +
            `its values (${labels.join(', ')}), or let a family that learns interactions (fm, dcn) use all of them`,
        });
      } else slots.push(r.slots[0]);
    });
    if (slots.length === cross.length) {
      if (new Set(slots).size !== slots.length && new Set(cross).size === cross.length)
        problems.push({
          path: ['crosses', i],
          message: `cross ${cross.join('×')} names one field twice (${slots.join('×')}); a cross needs different fields`,
        });
      const dropped = cross.filter((name, j) => droppedSlots.has(slots[j]) && !fields[name]?.drop);
      if (dropped.length)
        problems.push({
          path: ['crosses', i],
          message: `cross ${cross.join('×')} uses ${dropped.join(', ')}, which ${dropped.length > 1 ? 'are' : 'is'} dropped`,
        });
    }
  });
  return problems;

  function noteSlot(slot: string, name: string, path: (string | number)[]): void {
    const other = namedSlot.get(slot);
    if (other !== undefined && other !== name)
      problems.push({ path, message: `${name} and ${other} are the same field (${slot}): give its knobs once` });
    else namedSlot.set(slot, name);
  }
}

/**
 * A designer's model config (on slots) with only the fields this data has: crosses naming a slot it lacks are left
 * out, and so are knobs of such slots. What the search-space clamp cannot know (it does not see the data): Criteo
 * and planted data have I1..I13 and C1..C26, a declared table its own layout's slots. Unchanged when all are known.
 */
export function keepDataFields<T extends { crosses: readonly (readonly string[])[]; fields?: Record<string, unknown> }>(
  model: T,
  data: DataConfig | readonly FieldEntry[] | undefined,
): T {
  const naming = namingOf(data);
  const known = (name: string) => isSlotOf(name, naming);
  const crosses = model.crosses.filter((cross) => cross.every(known));
  const fields = model.fields ? Object.fromEntries(Object.entries(model.fields).filter(([name]) => known(name))) : undefined;
  if (crosses.length === model.crosses.length && (!model.fields || Object.keys(fields!).length === Object.keys(model.fields).length)) return model;
  return { ...model, crosses, ...(fields && Object.keys(fields).length ? { fields } : { fields: undefined }) };
}

/**
 * A segment field as written (a column, `column[k]`, or a slot) → its slot, or a problem. A multi-valued column
 * names several slots: segments are by one value, so it must name which.
 */
export function segmentSlot(name: string, data: DataConfig | readonly FieldEntry[] | undefined): { slot: string } | { problem: string } {
  if (unfitSchema(data)) return { slot: name };
  const naming = namingOf(data);
  const r = resolve(name, naming);
  if (!r || !r.slots.length) return { problem: unknownField(name, naming) };
  if (r.multi)
    return {
      problem: `${name} is multi-valued: segments are by one field value, so name one of its values (${r.slots.map((s) => naming!.labels[s]).join(', ')})`,
    };
  return { slot: r.slots[0] };
}

/**
 * Where a model config meets its data (ExperimentInput, CampaignInput, `rankwright train`): reports the configs'
 * field problems (and the segment field's) at their paths. Pair with `withEngineFields`.
 */
export function checkFieldsAgainstData(
  ctx: z.RefinementCtx,
  data: DataConfig,
  models: readonly { path: (string | number)[]; model: Parameters<typeof modelFieldProblems>[0] }[],
  segmentField?: string,
): void {
  // Refinements may run on an input with other problems: check only what parsed.
  if (!data || typeof data !== 'object') return;
  for (const { path, model } of models)
    for (const p of model && typeof model === 'object' ? modelFieldProblems(model, data) : [])
      ctx.addIssue({ code: 'custom', path: [...path, ...p.path], message: p.message });
  if (typeof segmentField === 'string') {
    const segment = segmentSlot(segmentField, data);
    if ('problem' in segment) ctx.addIssue({ code: 'custom', path: ['segmentField'], message: segment.problem });
  }
}

/** The segment field as a slot (unchanged when it does not resolve: the check reported it). */
export function engineSegmentField(name: string, data: DataConfig): string {
  const segment = segmentSlot(name, data);
  return 'slot' in segment ? segment.slot : name;
}
