import { CATEGORICAL_FIELDS, DENSE_FIELDS } from '../../contracts';

/**
 * The in-memory representation of Criteo-layout rows, shared by the TSV reader and the planted-truth generator
 * (so a test can go through either and the models cannot tell the difference). Columnar typed arrays:
 * ~157 bytes a row, no per-row objects.
 */
export const DENSE_COUNT = DENSE_FIELDS.length; // 13
export const CATEGORICAL_COUNT = CATEGORICAL_FIELDS.length; // 26
/** Categorical hash of an empty (missing) value. A real value that hashes to 0 is stored as 1. */
export const MISSING_CATEGORICAL = 0;
/** Label of a row read without a label column (scoring input). */
export const UNKNOWN_LABEL = 255;

export interface RowBlock {
  rows: number;
  /** 0 / 1, or UNKNOWN_LABEL. */
  labels: Uint8Array;
  /** rows × 13, row-major; NaN = missing. */
  dense: Float32Array;
  /** rows × 26, row-major; 32-bit hash of (field, value), MISSING_CATEGORICAL when empty. */
  categorical: Uint32Array;
  /**
   * Per-row sample weight (a declared schema's `weight` column); absent means every row weighs 1. Training scales
   * each row's gradient by it and every metric weighs the row by it.
   */
  weights?: Float32Array;
}

/** Weight of row r of a block (1 when the block carries no weights). */
export function rowWeight(block: RowBlock, r: number): number {
  return block.weights ? block.weights[r] : 1;
}

/** Readable names of categorical hashes (for segments and reports), capped per field. */
export type ValueNames = Map<number, string>[];
export const MAX_NAMES_PER_FIELD = 50_000;

export function newValueNames(): ValueNames {
  return Array.from({ length: CATEGORICAL_COUNT }, () => new Map<number, string>());
}

export function valueName(names: ValueNames, field: number, hash: number): string {
  if (hash === MISSING_CATEGORICAL) return '';
  return names[field].get(hash) ?? `#${hash.toString(16).padStart(8, '0')}`;
}

/** A growable RowBlock (capacity doubling), so streaming readers append without knowing the row count. */
export class RowBlockBuilder {
  rows = 0;
  private labels: Uint8Array;
  private dense: Float32Array;
  private categorical: Uint32Array;

  constructor(initialCapacity = 1024) {
    this.labels = new Uint8Array(initialCapacity);
    this.dense = new Float32Array(initialCapacity * DENSE_COUNT);
    this.categorical = new Uint32Array(initialCapacity * CATEGORICAL_COUNT);
  }

  /** Reserves one row and returns its index; the caller fills labels/dense/categorical through `row()`. */
  appendRow(label: number): number {
    if (this.rows === this.labels.length) this.grow();
    const r = this.rows++;
    this.labels[r] = label;
    return r;
  }

  setDense(row: number, field: number, value: number): void {
    this.dense[row * DENSE_COUNT + field] = value;
  }

  setCategorical(row: number, field: number, hash: number): void {
    this.categorical[row * CATEGORICAL_COUNT + field] = hash;
  }

  build(): RowBlock {
    return {
      rows: this.rows,
      labels: this.labels.slice(0, this.rows),
      dense: this.dense.slice(0, this.rows * DENSE_COUNT),
      categorical: this.categorical.slice(0, this.rows * CATEGORICAL_COUNT),
    };
  }

  private grow(): void {
    const cap = Math.max(1024, this.labels.length * 2);
    const labels = new Uint8Array(cap);
    labels.set(this.labels);
    const dense = new Float32Array(cap * DENSE_COUNT);
    dense.set(this.dense);
    const categorical = new Uint32Array(cap * CATEGORICAL_COUNT);
    categorical.set(this.categorical);
    this.labels = labels;
    this.dense = dense;
    this.categorical = categorical;
  }
}

/** Rows [start, end) of a block as a new block (copies). */
export function sliceRows(block: RowBlock, start: number, end: number): RowBlock {
  return {
    rows: end - start,
    labels: block.labels.slice(start, end),
    dense: block.dense.slice(start * DENSE_COUNT, end * DENSE_COUNT),
    categorical: block.categorical.slice(start * CATEGORICAL_COUNT, end * CATEGORICAL_COUNT),
    ...(block.weights ? { weights: block.weights.slice(start, end) } : {}),
  };
}

export function concatBlocks(blocks: RowBlock[]): RowBlock {
  if (blocks.length === 1) return blocks[0];
  const rows = blocks.reduce((n, b) => n + b.rows, 0);
  const out: RowBlock = {
    rows,
    labels: new Uint8Array(rows),
    dense: new Float32Array(rows * DENSE_COUNT),
    categorical: new Uint32Array(rows * CATEGORICAL_COUNT),
  };
  // Weights survive a concat when any block has them (the others weigh 1).
  if (blocks.some((b) => b.weights)) out.weights = new Float32Array(rows).fill(1);
  let at = 0;
  for (const b of blocks) {
    out.labels.set(b.labels, at);
    if (out.weights && b.weights) out.weights.set(b.weights, at);
    out.dense.set(b.dense, at * DENSE_COUNT);
    out.categorical.set(b.categorical, at * CATEGORICAL_COUNT);
    at += b.rows;
  }
  return out;
}

/** Which fields carry any value in a block (fields that are always empty carry no information). */
export function activeFields(block: RowBlock): { categorical: number[]; dense: number[] } {
  const cat = new Uint8Array(CATEGORICAL_COUNT);
  const den = new Uint8Array(DENSE_COUNT);
  for (let r = 0; r < block.rows; r++) {
    for (let f = 0; f < CATEGORICAL_COUNT; f++) if (block.categorical[r * CATEGORICAL_COUNT + f] !== MISSING_CATEGORICAL) cat[f] = 1;
    for (let f = 0; f < DENSE_COUNT; f++) if (!Number.isNaN(block.dense[r * DENSE_COUNT + f])) den[f] = 1;
  }
  return {
    categorical: [...cat.keys()].filter((f) => cat[f]),
    dense: [...den.keys()].filter((f) => den[f]),
  };
}
