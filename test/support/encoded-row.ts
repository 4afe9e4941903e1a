import type { EncodedRows } from '../../ranking/features';
import { SeededRandom } from '../../ranking/rng';

/**
 * One encoded row as the textbook formulas read it: every active table row with its value (each categorical slot's
 * row with 1, each dense slot's row with the row's value). The tests' plain references of LR and FM start from here.
 */
export function rowFeatures(data: EncodedRows, r: number): { idx: number[]; val: number[] } {
  const idx: number[] = [];
  const val: number[] = [];
  for (let s = 0; s < data.catSlots; s++) {
    idx.push(data.catIndex[r * data.catSlots + s]);
    val.push(1);
  }
  for (let s = 0; s < data.denseSlots; s++) {
    idx.push(data.denseIndex[s]);
    val.push(data.denseValue[r * data.denseSlots + s]);
  }
  return { idx, val };
}

/**
 * Encoded rows for the DCN tests: categorical slots drawn uniformly over `tableRows` table rows, dense values in
 * [-1, 1), and a click wherever the first slot's row is a multiple of `clickModulus` (else 20% at random), so a model
 * has something to learn. Deterministic in `seed`.
 */
export function syntheticRows(o: {
  rows: number;
  catSlots: number;
  denseSlots: number;
  tableRows: number;
  seed: number;
  clickModulus: number;
}): EncodedRows {
  const rng = new SeededRandom(o.seed);
  const catIndex = Int32Array.from({ length: o.rows * o.catSlots }, () => Math.floor(rng.next() * o.tableRows));
  const denseValue = Float32Array.from({ length: o.rows * o.denseSlots }, () => rng.next() * 2 - 1);
  const labels = Uint8Array.from({ length: o.rows }, (_, r) => (catIndex[r * o.catSlots] % o.clickModulus === 0 || rng.next() < 0.2 ? 1 : 0));
  return { rows: o.rows, catSlots: o.catSlots, catIndex, denseSlots: o.denseSlots, denseValue, denseIndex: new Int32Array(0), labels };
}
