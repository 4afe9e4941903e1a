import type { ListPool } from '../features';

/**
 * How FM and DCN see a row's categorical slots when the spec has lists (ranking/features.ts ListField): as fields,
 * each one slot except a list, whose slots are one field pooling the embeddings of its present values. A slot's
 * coefficient is what its embedding is multiplied by in its field's embedding: 1 for a field of one slot; for a list
 * 1/n (mean over the n present values) or 1 (sum), and 0 for an empty position, which so contributes nothing.
 */
export interface PooledFields {
  /** Fields the categorical slots form (slots less each list's extra positions). */
  catFields: number;
  /** Slots of field f are [start[f], start[f + 1]). */
  start: Int32Array;
  /** Per slot: its field. */
  fieldOf: Int32Array;
  /** Per field: 1 when its slots' embeddings are averaged, 0 when summed (or a field of one slot). */
  mean: Uint8Array;
  /** Per slot: the table row that marks the slot as an empty list position (-1: the slot always counts). */
  missingRow: Int32Array;
}

/** The fields of `catSlots` slots with the given lists; null without lists (the models keep their one-slot paths). */
export function pooledFields(catSlots: number, pools: readonly ListPool[]): PooledFields | null {
  if (!pools.length) return null;
  const start: number[] = [];
  const mean: number[] = [];
  const fieldOf = new Int32Array(catSlots);
  const missingRow = new Int32Array(catSlots).fill(-1);
  const poolAt = new Map(pools.map((p) => [p.firstSlot, p]));
  for (let s = 0; s < catSlots;) {
    const pool = poolAt.get(s);
    const length = pool ? pool.length : 1;
    for (let j = 0; j < length; j++) {
      fieldOf[s + j] = start.length;
      if (pool) missingRow[s + j] = pool.missingRow[j];
    }
    start.push(s);
    mean.push(pool?.mean ? 1 : 0);
    s += length;
  }
  const catFields = start.length;
  start.push(catSlots);
  return { catFields, start: Int32Array.from(start), fieldOf, mean: Uint8Array.from(mean), missingRow };
}

/** Each slot's coefficient (see PooledFields) for the row whose table rows are catIndex[at .. at + catSlots), into coef. */
export function slotCoefficients(fields: PooledFields, catIndex: Int32Array, at: number, coef: Float64Array): void {
  const { start, mean, missingRow, catFields } = fields;
  for (let f = 0; f < catFields; f++) {
    const s0 = start[f];
    const s1 = start[f + 1];
    if (s1 - s0 === 1) {
      coef[s0] = 1;
      continue;
    }
    let n = 0;
    for (let s = s0; s < s1; s++) {
      const present = catIndex[at + s] !== missingRow[s];
      coef[s] = present ? 1 : 0;
      if (present) n++;
    }
    if (mean[f]) {
      const a = 1 / n; // n ≥ 1: the first position always counts
      for (let s = s0; s < s1; s++) if (coef[s] !== 0) coef[s] = a;
    }
  }
}
