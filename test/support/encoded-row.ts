import type { EncodedRows } from '../../ranking/features';

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
