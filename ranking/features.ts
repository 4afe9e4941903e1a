import {
  BUCKETED_TRANSFORMS,
  DEFAULT_QUANTILE_BUCKETS,
  categoricalFieldName,
  denseFieldName,
  fieldOfName,
  type FieldKnobs,
  type FieldTransform,
  type HashSpace,
  type ModelConfig,
  schemaLayout,
  type DataConfig,
  type SchemaLayout,
} from '../contracts';
import { combineHashes, hashFieldValue } from './hash';
import { DistinctCounter, autoHashBits } from './hash-space';
import { DENSE_COUNT, MISSING_CATEGORICAL, RowBlock } from './data/rows';
// Module-local copies of imported values used per row: imports compile to getters on the exporting module, which
// profiles showed as a real share of encoding time when called per row and field.
const MISSING = MISSING_CATEGORICAL;
const combine = combineHashes;

/**
 * Feature encoding: the hashing trick, per-field dense transforms and explicit crosses. Every row becomes the same
 * number of categorical slots — one per kept categorical field, one per explicit cross (2 or 3 fields), one per
 * bucketed dense field (`bucketize` / `quantile`), in that order — each an index into the model's parameter table,
 * plus `denseSlots` numeric values (the other kept dense fields). A missing value is its own token (missingness
 * often predicts clicks), so the slot count is constant and batches are flat arrays.
 *
 * The parameter table is a union of regions: with `hashSpace: "shared"` (the default) first one shared region of
 * 2^hashBits rows, then a region of its own for every slot with `fields.F.hashBits`; with `"per-field"` only
 * regions of their own, sized from each slot's distinct values on train. A slot's token t lands at
 * offset + (t & (2^bits − 1)). FM and DCN embed each slot's row, LR weighs it; none of them needs to know the layout.
 * Everything fitted on train (dense moments, quantile boundaries, region sizes) is in the spec, which the model
 * artifact stores, so scoring reproduces the training encoding exactly.
 */

/** Where one categorical slot's tokens land in the parameter table. */
export interface SlotTable {
  /** First row of the slot's region (0 for the shared region). */
  offset: number;
  /** The region has 2^bits rows. */
  bits: number;
  /** The shared region (with every other shared slot). */
  shared?: boolean;
  /** Auto-sized: the distinct train values its size came from. */
  distinct?: number;
}

export interface FeatureSpec {
  hashBits: number;
  /** Categorical field numbers 0..25 with any value in train, less the dropped ones. */
  categoricalFields: number[];
  /** Dense field numbers 0..12 with any value in train, less the dropped ones. */
  denseFields: number[];
  /**
   * Explicit crosses (2 or 3 fields) as feature numbers: dense field i is i, categorical field c is denseWidth + c
   * (Criteo: I1..I13 = 0..12, C1..C26 = 13..38).
   */
  crosses: number[][];
  /** Dense fields of the rows it was fitted on, where feature numbers start for categorical fields; absent: 13. */
  denseWidth?: number;
  /** The config's default dense transform (a spec written before per-field knobs: every dense field's). */
  denseTransform: FieldTransform;
  /** Per dense field (aligned with denseFields): mean and std of the raw value on train (for `standardize`). */
  denseMean: number[];
  denseStd: number[];
  // Written since per-field knobs; a spec without them encodes as before (everything in the shared region).
  /** Per dense field (aligned with denseFields): its transform. */
  denseTransforms?: FieldTransform[];
  /** Per dense field (aligned with denseFields): ascending quantile boundaries fitted on train ([] unless `quantile`). */
  quantileBoundaries?: number[][];
  hashSpace?: HashSpace;
  /** Per categorical slot, its region. */
  slotTables?: SlotTable[];
  /** Table row of each numeric dense slot's weight / embedding. */
  denseRows?: number[];
  /** Rows of the parameter table, all regions together (the models add their own extra rows, e.g. LR's intercept). */
  tableRows?: number;
  /**
   * The table's list (multi-valued) columns, each one pooled field: written only when the table has lists, so every
   * other spec (and every artifact written before lists were pooled) is what it was and scores as before.
   */
  lists?: ListField[];
}

/**
 * A list column as one model field. Its kept values sit in `length` consecutive categorical slots from `firstSlot`
 * (an index into the spec's categorical slots; the row storage's per-list cap, `maxValues`, less the positions no
 * train row reached), filled in order, so a position is empty only when every later one is too. FM and DCN pool the
 * embeddings of the present values into one field embedding (mean or sum); the first position always counts (its
 * value, or the list's missing token when the list is empty: an empty list is the field's missing value). LR, FM's
 * linear term and DCN's wide part keep a weight per slot as before: the same value has the same table row in every
 * position (the values share one hash space and one region), and an empty position's missing token is a weight on
 * "the list has fewer values than this".
 */
export interface ListField {
  /** The list's column name (what configs, reports and the designers call the field). */
  column: string;
  firstSlot: number;
  length: number;
  pooling: ListPooling;
}

export type ListPooling = 'mean' | 'sum';

/** A list column of the data, as the row storage lays it out: `maxValues` categorical columns from `firstColumn`. */
export interface ListColumn {
  column: string;
  /** Its first categorical column (0-based: C1 is 0). */
  firstColumn: number;
  maxValues: number;
}

/** The list columns of a data config's declared schema (none for Criteo and planted data). */
export function listColumnsOfData(data: DataConfig): ListColumn[] {
  return 'schema' in data ? listColumnsOf(schemaLayout(data.schema)) : [];
}

/** The list columns of a declared schema's layout. */
export function listColumnsOf(layout: SchemaLayout | undefined): ListColumn[] {
  const lists: ListColumn[] = [];
  layout?.categorical.forEach((s, c) => {
    if (s.value === 0) lists.push({ column: s.column, firstColumn: c, maxValues: 1 });
    else if (s.value !== undefined) lists[lists.length - 1].maxValues++;
  });
  return lists;
}

/**
 * A list field as the models pool it: its slots, mean or sum, and each position's missing row (the table row of the
 * position's missing token: a position holding it is empty, except the first, which always counts).
 */
export interface ListPool {
  firstSlot: number;
  length: number;
  mean: boolean;
  missingRow: Int32Array;
}

/** The spec's pooled list fields (none for a spec without lists). */
export function listPoolsOf(spec: FeatureSpec): ListPool[] {
  return planOf(spec).pools;
}

/**
 * Fields of the models' inputs: every categorical slot is one, except that a list's slots are one together, then
 * the numeric dense slots. DCN's input is this many embeddings wide (plus the dense values).
 */
export function pooledFieldCount(spec: FeatureSpec): { catFields: number; denseSlots: number } {
  const { catSlots, denseSlots } = slotCounts(spec);
  const pooled = planOf(spec).pools.reduce((n, p) => n + p.length - 1, 0);
  return { catFields: catSlots - pooled, denseSlots };
}

export interface EncodedRows {
  rows: number;
  catSlots: number;
  /** rows × catSlots table rows. */
  catIndex: Int32Array;
  denseSlots: number;
  /** rows × denseSlots transformed values. */
  denseValue: Float32Array;
  /** Table row of each numeric dense slot (LR and FM give a numeric feature a weight / an embedding). */
  denseIndex: Int32Array;
  labels: Uint8Array;
  /**
   * Per-row sample weight (the RowBlock's); absent means every row weighs 1. Models scale each row's loss gradient
   * by it, metrics weigh the row by it.
   */
  weights?: Float32Array;
}

/** A field's knobs in the config (`fields`), none when it has no entry. */
function knobsOf(model: ModelConfig, name: string): FieldKnobs {
  return model.fields?.[name] ?? {};
}

/** Feature number of a field name (`I3`, `C27`) in rows with `denseWidth` dense fields (see FeatureSpec.crosses). */
export function featureNumber(name: string, denseWidth: number): number {
  const field = fieldOfName(name);
  if (!field) throw new Error(`not a field name: ${JSON.stringify(name)}`);
  return field.kind === 'dense' ? field.index : denseWidth + field.index;
}

/** The field name of a feature number (the inverse of featureNumber). */
export function featureName(feature: number, denseWidth: number): string {
  return feature < denseWidth ? denseFieldName(feature) : categoricalFieldName(feature - denseWidth);
}

/** Where categorical feature numbers start in a spec (13 in specs written before tables grew wider). */
export function denseWidthOf(spec: FeatureSpec): number {
  return spec.denseWidth ?? DENSE_COUNT;
}

/**
 * `lists`: the data's list columns (listColumnsOf): each becomes one pooled field of the spec (ListField), its pooling
 * the column's `pooling` knob (mean by default).
 */
export function buildFeatureSpec(
  model: ModelConfig,
  train: RowBlock,
  active: { categorical: number[]; dense: number[] },
  lists: readonly ListColumn[] = [],
): FeatureSpec {
  const categoricalFields = active.categorical.filter((f) => !knobsOf(model, categoricalFieldName(f)).drop);
  const listFields = listFieldsOf(model, categoricalFields, lists);
  const denseFields = active.dense.filter((f) => !knobsOf(model, denseFieldName(f)).drop);
  const denseTransforms = denseFields.map((f) => knobsOf(model, denseFieldName(f)).transform ?? model.denseTransform);
  const D = train.denseWidth;
  const denseMean: number[] = [];
  const denseStd: number[] = [];
  for (const f of denseFields) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (let r = 0; r < train.rows; r++) {
      const v = train.dense[r * D + f];
      if (Number.isNaN(v)) continue;
      n++;
      sum += v;
      sumSq += v * v;
    }
    const mean = n ? sum / n : 0;
    denseMean.push(mean);
    denseStd.push(n > 1 ? Math.sqrt(Math.max(sumSq / n - mean * mean, 0)) || 1 : 1);
  }
  const quantileBoundaries = denseFields.map((f, j) =>
    denseTransforms[j] === 'quantile' ? fitQuantileBoundaries(train, f, knobsOf(model, denseFieldName(f)).buckets ?? DEFAULT_QUANTILE_BUCKETS) : [],
  );
  const hashSpace = model.hashSpace ?? 'shared';
  const spec: FeatureSpec = {
    hashBits: model.hashBits,
    categoricalFields,
    denseFields,
    crosses: model.crosses.map((cross) => cross.map((name) => featureNumber(name, D))),
    // Written only for rows wider than Criteo's, so every spec of a Criteo-width table is what it always was.
    ...(D !== DENSE_COUNT ? { denseWidth: D } : {}),
    denseTransform: model.denseTransform,
    denseMean,
    denseStd,
    denseTransforms,
    quantileBoundaries,
    hashSpace,
    ...(listFields.length ? { lists: listFields } : {}),
  };

  // Each slot's region: shared, its own fixed size, or its own size from the slot's distinct values on train. A
  // list's later positions share its first position's region (requested as `sameAs`), so a value has one row whatever
  // position it sits in; an auto-sized list region counts the distinct values of all its positions.
  const plan = planOf(spec);
  const firstOfList = listFirstSlots(spec);
  const requests: SlotRequest[] = plan.slots.map((slot, s) => {
    if (firstOfList[s] !== s) return { sameAs: firstOfList[s] };
    const own = slot.kind === 'categorical' ? knobsOf(model, categoricalFieldName(slot.column)).hashBits : undefined;
    if (typeof own === 'number') return { bits: own };
    return own === 'auto' || hashSpace === 'per-field' ? { auto: 0 } : { shared: true };
  });
  const autoSlots = requests.flatMap((r, s) => ('auto' in r ? [s] : []));
  if (autoSlots.length) {
    const groups = autoSlots.map((first) => firstOfList.flatMap((f, s) => (f === first ? [s] : [])));
    const counters = countTokenGroups(train, spec, groups);
    autoSlots.forEach((s, k) => (requests[s] = { auto: counters[k].distinct }));
  }
  return {
    ...spec,
    ...layoutTables(
      requests,
      plan.numeric.map((n) => n.field),
      model.hashBits,
      hashSpace,
    ),
  };
}

/** The spec's list fields: each list column's kept positions (contiguous among the sorted kept columns), in order. */
function listFieldsOf(model: ModelConfig, categoricalFields: number[], lists: readonly ListColumn[]): ListField[] {
  const out: ListField[] = [];
  for (const list of lists) {
    const kept = categoricalFields.flatMap((c, s) => (c >= list.firstColumn && c < list.firstColumn + list.maxValues ? [s] : []));
    if (!kept.length) continue;
    const pooling = knobsOf(model, categoricalFieldName(list.firstColumn)).pooling ?? 'mean';
    out.push({ column: list.column, firstSlot: kept[0], length: kept.length, pooling });
  }
  return out;
}

/** Per categorical slot of a spec, the first slot of its list (itself when it is in no list). */
function listFirstSlots(spec: FeatureSpec): number[] {
  const first = planOf(spec).slots.map((_, s) => s);
  for (const l of spec.lists ?? []) for (let j = 1; j < l.length; j++) first[l.firstSlot + j] = l.firstSlot;
  return first;
}

/** Equal-frequency bucket boundaries of a dense field's non-missing train values: bucket(x) = #boundaries ≤ x. */
export function fitQuantileBoundaries(train: RowBlock, field: number, buckets: number): number[] {
  const { denseWidth: D, dense, rows } = train;
  const bits = new Uint32Array(dense.buffer, dense.byteOffset, dense.length);
  if (keyScratch.length < rows) keyScratch = new Uint32Array(rows);
  const keys = keyScratch;
  let n = 0;
  for (let r = 0, i = field; r < rows; r++, i += D) if (!Number.isNaN(dense[i])) keys[n++] = orderKey(bits[i]);
  // Only the values at the boundaries' ranks (and the minimum) are needed, not the whole column in order.
  const ranks = [0];
  for (let k = 1; k < buckets && n > 0; k++) ranks.push(Math.floor((k * n) / buckets));
  const at = n > 0 ? keysAtRanks(keys, n, ranks).map(keyValue) : [];
  const boundaries: number[] = [];
  for (let k = 1; k < buckets && n > 0; k++) {
    const q = at[k];
    // Ties (e.g. many zeros) collapse; the lowest boundary above the minimum keeps the minimum in bucket 0.
    if (q > at[0] && (boundaries.length === 0 || q > boundaries[boundaries.length - 1])) boundaries.push(q);
  }
  return boundaries;
}

/** A dense column's order keys, reused field after field (no allocation per field). */
let keyScratch = new Uint32Array(0);
const keyFloat = new Float32Array(1);
const keyBits = new Uint32Array(keyFloat.buffer);

/**
 * A float32's bits as an unsigned key in the order of TypedArray sort (−0 before +0; not for NaN): every bit of a
 * negative flipped, the sign bit of a non-negative. Float32 → float64 is exact and monotonic, so this is also the
 * order of the values as float64.
 */
function orderKey(bits: number): number {
  return bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/** The float32 value (as a number) of an order key. */
function keyValue(key: number): number {
  keyBits[0] = key & 0x80000000 ? key & 0x7fffffff : ~key;
  return keyFloat[0];
}

/**
 * The values at the given ranks (0-based, ascending) of the non-NaN float32 values, as a sort would place them (−0
 * before +0): what quantile boundaries are read from, found without sorting the column.
 */
export function float32AtRanks(values: Float32Array, ranks: readonly number[]): number[] {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const keys = Uint32Array.from(bits, orderKey);
  return keysAtRanks(keys, keys.length, ranks).map(keyValue);
}

/**
 * The keys at the given ranks of keys[0, n) in ascending order, by radix selection: a histogram of the top 16 bits
 * (one pass) says which bucket holds each rank; a second pass gathers those buckets' keys only, and each is ordered
 * on its own (one equal key, the common case of integer counts, needs no ordering). A full sort of every dense
 * column was a tenth of a pass over wide data; the ranks' keys are the same whatever finds them.
 */
function keysAtRanks(keys: Uint32Array, n: number, ranks: readonly number[]): number[] {
  const counts = new Int32Array(65_537);
  for (let i = 0; i < n; i++) counts[(keys[i] >>> 16) + 1]++;
  for (let b = 1; b <= 65_536; b++) counts[b] += counts[b - 1]; // counts[b] = first rank of bucket b
  // The bucket holding each rank: the last one that starts at or before it.
  const bucketOf = ranks.map((rank) => {
    let lo = 0;
    let hi = 65_535;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (counts[mid] <= rank) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  });
  // Those buckets' keys, gathered bucket after bucket: bucket `needed[j]` at gathered[start[j], start[j + 1]).
  const needed = [...new Set(bucketOf)].sort((x, y) => x - y);
  const part = new Int32Array(65_536).fill(-1);
  const start = new Int32Array(needed.length + 1);
  needed.forEach((b, j) => {
    part[b] = j;
    start[j + 1] = start[j] + counts[b + 1] - counts[b];
  });
  const gathered = new Uint32Array(start[needed.length]);
  const fill = start.slice(0, needed.length);
  for (let i = 0; i < n; i++) {
    const j = part[keys[i] >>> 16];
    if (j >= 0) gathered[fill[j]++] = keys[i];
  }
  for (let j = 0; j < needed.length; j++) {
    const keysOf = gathered.subarray(start[j], start[j + 1]);
    let same = true;
    for (let i = 1; i < keysOf.length && same; i++) same = keysOf[i] === keysOf[0];
    if (!same) keysOf.sort();
  }
  return ranks.map((rank, k) => {
    const b = bucketOf[k];
    return gathered[start[part[b]] + rank - counts[b]];
  });
}

type SlotRequest = { shared: true } | { bits: number } | { auto: number } | { sameAs: number };

/** Regions for the slots' requests (shared region first when the hash space is shared) and the numeric slots' rows. */
function layoutTables(
  requests: SlotRequest[],
  numericFields: number[],
  hashBits: number,
  hashSpace: HashSpace,
): Pick<FeatureSpec, 'slotTables' | 'denseRows' | 'tableRows'> {
  const shared = hashSpace === 'shared';
  let offset = shared ? 2 ** hashBits : 0;
  const slotTables: SlotTable[] = [];
  requests.forEach((r) => {
    slotTables.push(tableOf(r));
  });
  function tableOf(r: SlotRequest): SlotTable {
    if ('sameAs' in r) return slotTables[r.sameAs];
    if ('shared' in r) return { offset: 0, bits: hashBits, shared: true };
    const bits = 'bits' in r ? r.bits : autoHashBits(r.auto, hashBits);
    const table: SlotTable = 'auto' in r ? { offset, bits, distinct: r.auto } : { offset, bits };
    offset += 2 ** bits;
    return table;
  }
  // Shared: a numeric field's weight is a hashed token in the shared region (as before per-field knobs); else its own row.
  const denseRows = numericFields.map((f) => (shared ? numericToken(f) & (2 ** hashBits - 1) : offset++));
  return { slotTables, denseRows, tableRows: offset };
}

/** Rows of a spec's parameter table. */
export function featureTableRows(spec: FeatureSpec): number {
  return spec.tableRows ?? 2 ** spec.hashBits;
}

/** Rows the spec's table would have with another `hashBits` (the shared region's size and the auto regions' cap). */
export function featureTableRowsAt(spec: FeatureSpec, hashBits: number): number {
  const plan = planOf(spec);
  const firstOfList = listFirstSlots(spec);
  const requests = plan.tables.map((t, s): SlotRequest =>
    firstOfList[s] !== s
      ? { sameAs: firstOfList[s] }
      : t.shared
        ? { shared: true }
        : t.distinct !== undefined
          ? { auto: t.distinct }
          : { bits: t.bits },
  );
  return layoutTables(
    requests,
    plan.numeric.map((n) => n.field),
    hashBits,
    spec.hashSpace ?? 'shared',
  ).tableRows!;
}

/** Slot counts of a spec. */
export function slotCounts(spec: FeatureSpec): { catSlots: number; denseSlots: number } {
  const plan = planOf(spec);
  return { catSlots: plan.slots.length, denseSlots: plan.numeric.length };
}

/** Criteo-style log bucket of a count: -1 for negatives, else ⌊2·ln(1+x)⌋ (≈ 28 buckets up to 10^6). */
export function denseBucket(x: number): number {
  return x < 0 ? -1 : Math.floor(2 * Math.log1p(x));
}

/** Quantile bucket of x: the number of boundaries ≤ x (binary search). */
export function quantileBucket(boundaries: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = boundaries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (boundaries[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Missing-value tokens and bucket tokens are hashes of reserved strings in the field's hash space, computed once per
// feature number. The tables start full for 64 features and grow by appending past them (a table may have any
// number of fields): written at a sparse index instead, an array turns holey, and encoding measured ~20% slower.
const missingTokens: number[] = Array.from({ length: 64 }, (_, f) => hashFieldValue(f, '\u0000missing'));
function missingToken(feature: number): number {
  if (feature < missingTokens.length) return missingTokens[feature];
  while (missingTokens.length <= feature) missingTokens.push(hashFieldValue(missingTokens.length, '\u0000missing'));
  return missingTokens[feature];
}
function numericToken(field: number): number {
  return hashFieldValue(field, '\u0000numeric');
}
/** Log-bucket tokens per dense field for buckets -1..LOG_BUCKETS-2 (a float32 count never goes past ~178). */
const LOG_BUCKETS = 256;
const logBucketTokens: (Uint32Array | null)[] = Array.from({ length: 64 }, () => null);
function logBucketToken(field: number, x: number): number {
  const b = denseBucket(x) + 1;
  if (b >= LOG_BUCKETS) return hashFieldValue(field, `\u0000b${b - 1}`);
  return (logBucketTokens[field] ?? logBucketTable(field))[b];
}
function logBucketTable(field: number): Uint32Array {
  while (logBucketTokens.length <= field) logBucketTokens.push(null);
  return (logBucketTokens[field] = Uint32Array.from({ length: LOG_BUCKETS }, (_, k) => hashFieldValue(field, `\u0000b${k - 1}`)));
}
function quantileTokens(field: number, boundaries: number[]): Uint32Array {
  return Uint32Array.from({ length: boundaries.length + 1 }, (_, b) => hashFieldValue(field, `\u0000q${b}`));
}

/** A categorical slot: what its token is made of. */
type Slot =
  | { kind: 'categorical'; column: number }
  | { kind: 'cross'; features: number[] }
  | { kind: 'bucket'; field: number; boundaries: Float64Array | null; tokens: Uint32Array | null };

interface Plan {
  /** Where categorical feature numbers start (denseWidthOf). */
  denseWidth: number;
  slots: Slot[];
  tables: SlotTable[];
  numeric: { field: number; transform: FieldTransform; mean: number; std: number }[];
  denseRows: Int32Array;
  /** Per dense field: its quantile boundaries and tokens when it is quantile-bucketed (crosses use them). */
  quantile: ({ boundaries: Float64Array; tokens: Uint32Array } | null)[];
  /** The spec's list fields as the models pool them. */
  pools: ListPool[];
}

const plans = new WeakMap<FeatureSpec, Plan>();

/** The spec as slots (cached per spec object): also reads specs written before per-field knobs. */
function planOf(spec: FeatureSpec): Plan {
  let plan = plans.get(spec);
  if (plan) return plan;
  const transforms = spec.denseTransforms ?? spec.denseFields.map(() => spec.denseTransform);
  const denseWidth = denseWidthOf(spec);
  const quantile: Plan['quantile'] = Array.from({ length: denseWidth }, () => null);
  const slots: Slot[] = spec.categoricalFields.map((column) => ({ kind: 'categorical', column }));
  for (const features of spec.crosses) slots.push({ kind: 'cross', features });
  const numeric: Plan['numeric'] = [];
  spec.denseFields.forEach((field, j) => {
    const transform = transforms[j];
    if (transform === 'quantile') {
      const boundaries = Float64Array.from(spec.quantileBoundaries?.[j] ?? []);
      quantile[field] = { boundaries, tokens: quantileTokens(field, [...boundaries]) };
      slots.push({ kind: 'bucket', field, ...quantile[field] });
    } else if (BUCKETED_TRANSFORMS.includes(transform)) {
      slots.push({ kind: 'bucket', field, boundaries: null, tokens: null });
    } else {
      numeric.push({ field, transform, mean: spec.denseMean[j], std: spec.denseStd[j] });
    }
  });
  const sharedMask = 2 ** spec.hashBits - 1;
  const tables = spec.slotTables ?? slots.map(() => ({ offset: 0, bits: spec.hashBits, shared: true }));
  const denseRows = Int32Array.from(spec.denseRows ?? numeric.map((n) => numericToken(n.field) & sharedMask));
  const pools = (spec.lists ?? []).map((l): ListPool => {
    const missingRow = new Int32Array(l.length);
    for (let j = 0; j < l.length; j++) {
      const s = l.firstSlot + j;
      const table = tables[s];
      // Never matched for the first position: it always counts (the list's value or its missing token).
      missingRow[j] = j === 0 ? -1 : table.offset + (missingToken(denseWidth + spec.categoricalFields[s]) & (2 ** table.bits - 1));
    }
    return { firstSlot: l.firstSlot, length: l.length, mean: l.pooling === 'mean', missingRow };
  });
  plan = { denseWidth, slots, tables, numeric, denseRows, quantile, pools };
  plans.set(spec, plan);
  return plan;
}

/**
 * Tokens (32-bit, before any mask) of feature number `feature` for rows [start, end) into out[0 .. end − start): a
 * categorical hash, or a dense field's bucket token (its quantile bucket when the plan fits one, else its log bucket),
 * the feature's missing token where the value is missing. One column at a time: a tight loop over one array.
 */
function fillFeatureTokens(block: RowBlock, plan: Plan, feature: number, start: number, end: number, out: Uint32Array): void {
  if (feature < plan.denseWidth) fillDenseTokens(block.dense, block.denseWidth, feature, plan.quantile[feature], start, end, out);
  else fillCategoricalTokens(block.categorical, block.categoricalWidth, feature - plan.denseWidth, missingToken(feature), start, end, out);
}

// The two loops are functions of their own, each seeing one kind of array: V8 keeps each one monomorphic (a shared
// loop measured up to ~15% slower, and unevenly so from run to run).
function fillDenseTokens(
  dense: Float32Array,
  width: number,
  field: number,
  q: { boundaries: Float64Array; tokens: Uint32Array } | null,
  start: number,
  end: number,
  out: Uint32Array,
): void {
  const missing = missingToken(field);
  for (let r = start, i = start * width + field; r < end; r++, i += width) {
    const v = dense[i];
    out[r - start] = Number.isNaN(v) ? missing : q ? q.tokens[quantileBucket(q.boundaries, v)] : logBucketToken(field, v);
  }
}

function fillCategoricalTokens(
  categorical: Uint32Array,
  width: number,
  column: number,
  missing: number,
  start: number,
  end: number,
  out: Uint32Array,
): void {
  for (let r = start, i = start * width + column; r < end; r++, i += width) {
    const h = categorical[i];
    out[r - start] = h === MISSING ? missing : h;
  }
}

/** A cross's other components' tokens, reused tile after tile (no allocation per tile). */
let crossScratch = new Uint32Array(0);

/**
 * A cross's hash salts. Crosses of features numbered below 64 (every Criteo-width table) keep the salts they always
 * had, so their models score as before; a wider table's crosses mix all their numbers into a salt of their own.
 */
export function crossSalts(a: number, b: number, c: number | undefined): { pair: number; triple: number } {
  if (a < 64 && b < 64 && (c === undefined || c < 64)) {
    const pair = a * 64 + b;
    return { pair, triple: c === undefined ? 0 : 0x100000 + pair * 64 + c };
  }
  const pair = combineHashes(a + 1, b + 1, 0x77696465); // 'wide'
  return { pair, triple: c === undefined ? 0 : combineHashes(pair, c + 1, 0x77696465) };
}

/** Tokens (32-bit, before the region's mask) of slot `s` for rows [start, end) into out[0 .. end − start). */
function fillSlotTokens(block: RowBlock, plan: Plan, s: number, start: number, end: number, out: Uint32Array): void {
  const slot = plan.slots[s];
  switch (slot.kind) {
    case 'categorical':
      return fillFeatureTokens(block, plan, plan.denseWidth + slot.column, start, end, out);
    case 'bucket':
      // A bucketed dense field's tokens are its feature tokens: its quantile bucket under `quantile`, else its log bucket.
      return fillFeatureTokens(block, plan, slot.field, start, end, out);
    case 'cross': {
      const [a, b, c] = slot.features;
      // A pair as before per-field knobs; a triple folds the third field into the pair's hash under its own salt.
      const { pair: pairSalt, triple: tripleSalt } = crossSalts(a, b, c);
      const n = end - start;
      if (crossScratch.length < n) crossScratch = new Uint32Array(n);
      const other = crossScratch;
      fillFeatureTokens(block, plan, a, start, end, out);
      fillFeatureTokens(block, plan, b, start, end, other);
      for (let i = 0; i < n; i++) out[i] = combine(out[i], other[i], pairSalt);
      if (c === undefined) return;
      fillFeatureTokens(block, plan, c, start, end, other);
      for (let i = 0; i < n; i++) out[i] = combine(out[i], other[i], tripleSalt);
      return;
    }
  }
}

export function transformDense(transform: FieldTransform, mean: number, std: number, x: number): number {
  if (Number.isNaN(x)) return 0; // missing: 0, i.e. the mean under standardize
  switch (transform) {
    case 'log':
      return x >= 0 ? Math.log1p(x) : -Math.log1p(-x);
    case 'standardize':
      return (x - mean) / std;
    default:
      return x;
  }
}

/** Rows are encoded in tiles, slot by slot within a tile (tokens of a tile stay in cache; no per-row allocation). */
const TILE_ROWS = 4096;

/**
 * The plan's categorical and bucketed dense slots as table rows computed straight from a row's values: per slot its
 * table row for every token it can have (offset + (token & mask), as the tiles compute it), so encoding such a slot
 * is one read and one lookup a row, row by row through both arrays. Crosses go through the tiles.
 */
interface DirectSlots {
  /**
   * Categorical slots: slot, column, region offset and mask, and the table row of the missing token. Int32: a table
   * row is stored as an int32 anyway, and (offset + x) | 0 is the int32 the store would have made of the sum.
   */
  cat: { slot: Int32Array; column: Int32Array; offset: Int32Array; mask: Int32Array; missing: Int32Array };
  /** Bucketed dense slots: slot, field, and the table row of each of their values' buckets. */
  bucket: { slot: number; field: number; rowOf: (v: number) => number; missing: number; small: Int32Array }[];
}

/** Integer values below this have their bucket's table row looked up (counts mostly are small integers). */
const SMALL_VALUES = 1024;
const directSlots = new WeakMap<Plan, DirectSlots>();

function directSlotsOf(plan: Plan): DirectSlots {
  let direct = directSlots.get(plan);
  if (direct) return direct;
  const catSlots: number[] = [];
  const bucket: DirectSlots['bucket'] = [];
  plan.slots.forEach((slot, s) => {
    const { offset, bits } = plan.tables[s];
    const mask = 2 ** bits - 1;
    const row = (token: number) => offset + (token & mask);
    if (slot.kind === 'categorical') catSlots.push(s);
    else if (slot.kind === 'bucket') {
      const q = plan.quantile[slot.field];
      const rowOf = q ? (v: number) => row(q.tokens[quantileBucket(q.boundaries, v)]) : (v: number) => row(logBucketToken(slot.field, v));
      const small = Int32Array.from({ length: SMALL_VALUES }, (_, v) => rowOf(v));
      bucket.push({ slot: s, field: slot.field, rowOf, missing: row(missingToken(slot.field)), small });
    }
  });
  const at = (f: (s: number) => number) => catSlots.map(f);
  const maskOf = (s: number) => 2 ** plan.tables[s].bits - 1;
  direct = {
    cat: {
      slot: Int32Array.from(catSlots),
      column: Int32Array.from(at((s) => (plan.slots[s] as { column: number }).column)),
      offset: Int32Array.from(at((s) => plan.tables[s].offset)),
      mask: Int32Array.from(at(maskOf)),
      missing: Int32Array.from(
        at((s) => plan.tables[s].offset + (missingToken(plan.denseWidth + (plan.slots[s] as { column: number }).column) & maskOf(s))),
      ),
    },
    bucket,
  };
  directSlots.set(plan, direct);
  return direct;
}

/**
 * Table rows of the categorical slots for rows [start, end), row by row (both arrays are row-major: sequential reads
 * and writes). The hashes are read as int32 (`categorical`'s bytes): h & mask is the same either way, and int32
 * reads stay integers where uint32 ones past 2^31 become doubles.
 */
function encodeCategoricalSlots(
  categorical: Int32Array,
  width: number,
  start: number,
  end: number,
  d: DirectSlots['cat'],
  catIndex: Int32Array,
  catSlots: number,
): void {
  const { slot, column, offset, mask, missing } = d;
  const n = slot.length;
  for (let r = start; r < end; r++) {
    const from = r * width;
    const to = r * catSlots;
    for (let k = 0; k < n; k++) {
      const h = categorical[from + column[k]];
      catIndex[to + slot[k]] = h === MISSING ? missing[k] : (offset[k] + (h & mask[k])) | 0;
    }
  }
}

/** Table rows of one bucketed dense slot for rows [start, end): small integers looked up, other values bucketed as the tiles do. */
function encodeBucketSlot(
  dense: Float32Array,
  width: number,
  start: number,
  end: number,
  b: DirectSlots['bucket'][number],
  catIndex: Int32Array,
  catSlots: number,
): void {
  const { slot, field, rowOf, missing, small } = b;
  for (let r = start, i = start * width + field, o = start * catSlots + slot; r < end; r++, i += width, o += catSlots) {
    const v = dense[i];
    // −0 is looked up as 0: every bucketing compares it as 0.
    catIndex[o] = Number.isNaN(v) ? missing : v >= 0 && v < SMALL_VALUES && (v | 0) === v ? small[v] : rowOf(v);
  }
}

/**
 * Transformed values of numeric slot j for rows [start, end): transformDense's values, with the transform chosen once
 * per slot instead of once per value.
 */
function encodeNumericSlot(
  dense: Float32Array,
  width: number,
  start: number,
  end: number,
  numeric: Plan['numeric'][number],
  j: number,
  denseValue: Float32Array,
  denseSlots: number,
): void {
  const { field, transform, mean, std } = numeric;
  const i0 = start * width + field;
  const o0 = start * denseSlots + j;
  const n = end - start;
  switch (transform) {
    case 'log':
      for (let k = 0, i = i0, o = o0; k < n; k++, i += width, o += denseSlots) {
        const x = dense[i];
        denseValue[o] = Number.isNaN(x) ? 0 : x >= 0 ? Math.log1p(x) : -Math.log1p(-x);
      }
      return;
    case 'standardize':
      for (let k = 0, i = i0, o = o0; k < n; k++, i += width, o += denseSlots) {
        const x = dense[i];
        denseValue[o] = Number.isNaN(x) ? 0 : (x - mean) / std;
      }
      return;
    default:
      for (let k = 0, i = i0, o = o0; k < n; k++, i += width, o += denseSlots) {
        const x = dense[i];
        denseValue[o] = Number.isNaN(x) ? 0 : x;
      }
  }
}

export function encodeRows(block: RowBlock, spec: FeatureSpec): EncodedRows {
  const plan = planOf(spec);
  const catSlots = plan.slots.length;
  const denseSlots = plan.numeric.length;
  const catIndex = new Int32Array(block.rows * catSlots);
  const denseValue = new Float32Array(block.rows * denseSlots);
  const direct = directSlotsOf(plan);
  const hashes = new Int32Array(block.categorical.buffer, block.categorical.byteOffset, block.categorical.length);
  const tokens = new Uint32Array(Math.min(block.rows, TILE_ROWS));
  for (let start = 0; start < block.rows; start += TILE_ROWS) {
    const end = Math.min(block.rows, start + TILE_ROWS);
    // Categorical and bucketed dense slots straight into the tile's table rows; crosses through their tokens.
    encodeCategoricalSlots(hashes, block.categoricalWidth, start, end, direct.cat, catIndex, catSlots);
    for (const b of direct.bucket) encodeBucketSlot(block.dense, block.denseWidth, start, end, b, catIndex, catSlots);
    for (let s = 0; s < catSlots; s++) {
      if (plan.slots[s].kind !== 'cross') continue;
      fillSlotTokens(block, plan, s, start, end, tokens);
      const { offset } = plan.tables[s];
      const mask = 2 ** plan.tables[s].bits - 1;
      for (let r = start; r < end; r++) catIndex[r * catSlots + s] = offset + (tokens[r - start] & mask);
    }
    for (let j = 0; j < denseSlots; j++) encodeNumericSlot(block.dense, block.denseWidth, start, end, plan.numeric[j], j, denseValue, denseSlots);
  }
  const encoded: EncodedRows = {
    rows: block.rows,
    catSlots,
    catIndex,
    denseSlots,
    denseValue,
    denseIndex: plan.denseRows.slice(),
    labels: block.labels,
  };
  if (block.weights) encoded.weights = block.weights;
  return encoded;
}

/** Readable name of each categorical slot: "C3", "C1×C2×C5" (a cross), "I2" (a bucketed dense field). */
export function slotNames(spec: FeatureSpec): string[] {
  const plan = planOf(spec);
  return plan.slots.map((slot) =>
    slot.kind === 'categorical'
      ? categoricalFieldName(slot.column)
      : slot.kind === 'bucket'
        ? denseFieldName(slot.field)
        : slot.features.map((f) => featureName(f, plan.denseWidth)).join('×'),
  );
}

/** The regions of a spec's categorical slots (also for specs written before per-field knobs). */
export function slotTablesOf(spec: FeatureSpec): SlotTable[] {
  return planOf(spec).tables;
}

/** Table rows of a spec's numeric dense slots. */
export function numericRowsOf(spec: FeatureSpec): Int32Array {
  return planOf(spec).denseRows;
}

/** Distinct tokens (with counts) of the given categorical slots over a block's rows: what region sizes come from. */
export function countSlotTokens(block: RowBlock, spec: FeatureSpec, slots: number[]): DistinctCounter[] {
  return countTokenGroups(
    block,
    spec,
    slots.map((s) => [s]),
  );
}

/** Distinct tokens of groups of categorical slots, each group's slots counted together (a list's positions). */
function countTokenGroups(block: RowBlock, spec: FeatureSpec, groups: number[][]): DistinctCounter[] {
  const plan = planOf(spec);
  const counters = groups.map(() => new DistinctCounter());
  const tokens = new Uint32Array(Math.min(block.rows, TILE_ROWS));
  for (let start = 0; start < block.rows; start += TILE_ROWS) {
    const end = Math.min(block.rows, start + TILE_ROWS);
    groups.forEach((group, k) => {
      const counter = counters[k];
      for (const s of group) {
        fillSlotTokens(block, plan, s, start, end, tokens);
        for (let i = 0; i < end - start; i++) counter.add(tokens[i]);
      }
    });
  }
  return counters;
}

/** The given rows of an encoded block, in the given order (a copy; the dense slot indices are shared). */
export function takeEncodedRows(data: EncodedRows, rows: Int32Array): EncodedRows {
  const { catSlots, denseSlots } = data;
  const catIndex = new Int32Array(rows.length * catSlots);
  const denseValue = new Float32Array(rows.length * denseSlots);
  const labels = new Uint8Array(rows.length);
  const weights = data.weights ? new Float32Array(rows.length) : undefined;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    catIndex.set(data.catIndex.subarray(r * catSlots, (r + 1) * catSlots), k * catSlots);
    denseValue.set(data.denseValue.subarray(r * denseSlots, (r + 1) * denseSlots), k * denseSlots);
    labels[k] = data.labels[r];
    if (weights) weights[k] = data.weights![r];
  }
  const out: EncodedRows = { rows: rows.length, catSlots, catIndex, denseSlots, denseValue, denseIndex: data.denseIndex, labels };
  if (weights) out.weights = weights;
  return out;
}
