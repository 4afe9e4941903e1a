import type { HashSpace } from '../contracts';
import { categoricalFieldName, denseFieldName } from '../contracts';
import { MISSING_CATEGORICAL, type RowBlock } from './data/rows';
import { EncodedRows, FeatureSpec, countSlotTokens, featureTableRows, numericRowsOf, slotNames, slotTablesOf } from './features';
import { DistinctCounter, autoHashBits, expectedCollisionRate } from './hash-space';

/**
 * How crowded a feature spec's hash tables are on a block of rows (train): per categorical slot its distinct values,
 * the table it hashes into, and how many values share a table row with another value — the expected share under
 * uniform hashing, and (for exactly counted slots) the realized share under the real hash function.
 */

export interface SlotHashReport {
  /** The slot: a categorical field ("C3"), a cross ("C1×C2×C5") or a bucketed dense field ("I2"). */
  feature: string;
  /** Distinct values in the rows (a missing value counts as one value: it has its own token). */
  distinct: number;
  /** False when `distinct` is a HyperLogLog estimate (more distinct values than the exact counter keeps). */
  exact: boolean;
  /** The shared table (2^hashBits rows, with every other shared slot) or a table of its own. */
  table: 'shared' | 'own';
  /** The table has 2^bits rows. */
  bits: number;
  /** The bits `hashSpace: "per-field"` gives this slot: ⌈log2 distinct⌉ + 4, within [8, hashBits]. */
  autoBits: number;
  /**
   * Expected share of the table's values that share their row with another value, 1 − (1 − 1/m)^(n − 1) with n the
   * table's distinct values (all slots in it, plus the numeric dense fields' rows in the shared table) and m its rows.
   * Under uniform hashing every value has the same chance, so this is also the expected frequency-weighted share.
   */
  expectedCollisionRate: number;
  /** Exact counts only: this slot's distinct values whose table row holds another value (any slot's). */
  collidingValues?: number;
  /** Exact counts only: the share of rows whose value of this slot shares its table row with another value. */
  collidingRowShare?: number;
}

export interface HashSpaceReport {
  hashSpace: HashSpace;
  hashBits: number;
  /** Rows of the model's parameter table (all regions). */
  tableRows: number;
  /** Mean of the slots' expected collision rates: the expected share of a row's hashed features that collide. */
  expectedCollisionRate: number;
  slots: SlotHashReport[];
}

/** The hash-space report of `spec` on `rows` (train): one distinct-count pass over every categorical slot. */
export function hashSpaceReport(spec: FeatureSpec, rows: RowBlock): HashSpaceReport {
  const names = slotNames(spec);
  const tables = slotTablesOf(spec);
  const counters = countSlotTokens(
    rows,
    spec,
    names.map((_, s) => s),
  );
  const numericRows = numericRowsOf(spec);
  const sharedRows = 2 ** spec.hashBits;
  const hashSpace = spec.hashSpace ?? 'shared';
  // Distinct values per table: the shared one holds every shared slot and, in a shared hash space, the numeric rows.
  const sharedSlots = tables.flatMap((t, s) => (t.shared ? [s] : []));
  const numericInShared = hashSpace === 'shared' ? numericRows.length : 0;
  const sharedValues = sharedSlots.reduce((n, s) => n + counters[s].distinct, numericInShared);

  // Realized collisions, table by table, when every slot in the table was counted exactly.
  const realized = new Map<number, { collidingValues: number; collidingRowShare: number }>();
  const measure = (slots: number[], buckets: number, extraRows: ArrayLike<number>) => {
    if (!slots.every((s) => counters[s].exact)) return;
    const occupancy = new Uint8Array(buckets);
    const bump = (row: number) => {
      if (occupancy[row] < 2) occupancy[row]++;
    };
    for (let i = 0; i < extraRows.length; i++) bump(extraRows[i]);
    for (const s of slots) {
      const mask = 2 ** tables[s].bits - 1;
      counters[s].forEach((token) => bump(token & mask));
    }
    for (const s of slots) {
      const mask = 2 ** tables[s].bits - 1;
      let values = 0;
      let rowsHit = 0;
      counters[s].forEach((token, count) => {
        if (occupancy[token & mask] > 1) {
          values++;
          rowsHit += count;
        }
      });
      realized.set(s, { collidingValues: values, collidingRowShare: counters[s].total ? rowsHit / counters[s].total : 0 });
    }
  };
  if (sharedSlots.length) measure(sharedSlots, sharedRows, hashSpace === 'shared' ? numericRows : []);
  tables.forEach((t, s) => {
    if (!t.shared) measure([s], 2 ** t.bits, []);
  });

  const slots = names.map((feature, s): SlotHashReport => {
    const t = tables[s];
    const counter = counters[s];
    const values = t.shared ? sharedValues : counter.distinct;
    return {
      feature,
      distinct: counter.distinct,
      exact: counter.exact,
      table: t.shared ? 'shared' : 'own',
      bits: t.bits,
      autoBits: autoHashBits(counter.distinct, spec.hashBits),
      expectedCollisionRate: round(expectedCollisionRate(values, 2 ** t.bits)),
      ...realized.get(s),
    };
  });
  const mean = slots.length ? slots.reduce((sum, s) => sum + s.expectedCollisionRate, 0) / slots.length : 0;
  return { hashSpace, hashBits: spec.hashBits, tableRows: featureTableRows(spec), expectedCollisionRate: round(mean), slots };
}

/**
 * The mean expected collision rate of encoded rows' categorical slots, from the rows they use: per table, the
 * occupied rows k of m give the distinct values by linear counting, n ≈ −m·ln(1 − k/m) (Whang et al. 1990), and
 * then 1 − (1 − 1/m)^(n − 1). Cheap (one pass over the encoded indices, no hashing): what training reports.
 */
export function encodedCollisionRate(spec: FeatureSpec, data: EncodedRows): number {
  const tables = slotTablesOf(spec);
  if (!tables.length || !data.rows) return 0;
  const used = new Uint8Array(featureTableRows(spec));
  const { catSlots, catIndex } = data;
  for (let i = 0; i < catIndex.length; i++) used[catIndex[i]] = 1;
  if (tables.some((t) => t.shared)) for (const row of data.denseIndex) used[row] = 1;
  // Each region once: the shared one, then every own one.
  const rate = new Map<number, number>();
  for (const t of tables) {
    if (rate.has(t.offset)) continue;
    const m = 2 ** t.bits;
    let k = 0;
    for (let i = t.offset; i < t.offset + m; i++) k += used[i];
    const n = k >= m ? Infinity : -m * Math.log1p(-k / m);
    rate.set(t.offset, n === Infinity ? 1 : expectedCollisionRate(n, m));
  }
  return round(tables.reduce((sum, t) => sum + rate.get(t.offset)!, 0) / catSlots);
}

/** Distinct non-missing values of every active field on `rows`, by field name (dense: distinct raw values). */
export function fieldCardinality(rows: RowBlock, active: { categorical: number[]; dense: number[] }): Record<string, number> {
  const out: Record<string, number> = {};
  const denseBits = new Uint32Array(rows.dense.buffer, rows.dense.byteOffset, rows.dense.length);
  for (const f of active.dense) {
    const counter = new DistinctCounter();
    for (let r = 0; r < rows.rows; r++) if (!Number.isNaN(rows.dense[r * rows.denseWidth + f])) counter.add(denseBits[r * rows.denseWidth + f]);
    out[denseFieldName(f)] = counter.distinct;
  }
  for (const f of active.categorical) {
    const counter = new DistinctCounter();
    for (let r = 0; r < rows.rows; r++) {
      const h = rows.categorical[r * rows.categoricalWidth + f];
      if (h !== MISSING_CATEGORICAL) counter.add(h);
    }
    out[categoricalFieldName(f)] = counter.distinct;
  }
  return out;
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}
