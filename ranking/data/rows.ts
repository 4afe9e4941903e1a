import { CATEGORICAL_FIELDS, DENSE_FIELDS } from '../../contracts';

/**
 * The in-memory representation of rows, shared by every reader and the planted-truth generators (so a test can go
 * through any of them and the models cannot tell the difference). Columnar typed arrays, no per-row objects: each
 * row has `denseWidth` numeric fields and `categoricalWidth` hashed ones. Criteo's layout is 13 + 26 (~157 bytes a
 * row); a declared table has as many as its columns need (contracts/schema.ts schemaWidths), never fewer than
 * Criteo's, so a table laid out before widths grew keeps its field numbers.
 */
export const DENSE_COUNT = DENSE_FIELDS.length; // 13
export const CATEGORICAL_COUNT = CATEGORICAL_FIELDS.length; // 26

/** How many dense and categorical fields a row of a block has. */
export interface RowWidths {
  dense: number;
  categorical: number;
}
export const CRITEO_WIDTHS: RowWidths = Object.freeze({ dense: DENSE_COUNT, categorical: CATEGORICAL_COUNT });
/** Categorical hash of an empty (missing) value. A real value that hashes to 0 is stored as 1. */
export const MISSING_CATEGORICAL = 0;
/** Label of a row read without a label column (scoring input). */
export const UNKNOWN_LABEL = 255;

export interface RowBlock {
  rows: number;
  /** Dense fields a row has (13 for Criteo). */
  denseWidth: number;
  /** Categorical fields a row has (26 for Criteo). */
  categoricalWidth: number;
  /** 0 / 1, or UNKNOWN_LABEL. */
  labels: Uint8Array;
  /** rows × denseWidth, row-major; NaN = missing. */
  dense: Float32Array;
  /** rows × categoricalWidth, row-major; 32-bit hash of (field, value), MISSING_CATEGORICAL when empty. */
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

export function newValueNames(categoricalWidth = CATEGORICAL_COUNT): ValueNames {
  return Array.from({ length: categoricalWidth }, () => new Map<number, string>());
}

export function widthsOf(block: RowBlock): RowWidths {
  return { dense: block.denseWidth, categorical: block.categoricalWidth };
}

/** An all-zero block of `rows` rows (weights when asked for), for readers that fill rows in place. */
export function emptyBlock(rows: number, widths: RowWidths, withWeights = false): RowBlock {
  return {
    rows,
    denseWidth: widths.dense,
    categoricalWidth: widths.categorical,
    labels: new Uint8Array(rows),
    dense: new Float32Array(rows * widths.dense),
    categorical: new Uint32Array(rows * widths.categorical),
    ...(withWeights ? { weights: new Float32Array(rows) } : {}),
  };
}

export function valueName(names: ValueNames, field: number, hash: number): string {
  if (hash === MISSING_CATEGORICAL) return '';
  return names[field].get(hash) ?? `#${hash.toString(16).padStart(8, '0')}`;
}

/** A growable RowBlock (capacity doubling), so streaming readers append without knowing the row count. */
export class RowBlockBuilder {
  rows = 0;
  // The storage, for readers that write a row's values straight in: replaced when the builder grows, so read after appendRow.
  labels: Uint8Array;
  dense: Float32Array;
  categorical: Uint32Array;

  constructor(
    initialCapacity = 1024,
    readonly widths: RowWidths = CRITEO_WIDTHS,
  ) {
    this.labels = new Uint8Array(initialCapacity);
    this.dense = new Float32Array(initialCapacity * widths.dense);
    this.categorical = new Uint32Array(initialCapacity * widths.categorical);
  }

  /** Reserves one row and returns its index; the caller fills labels/dense/categorical through `row()`. */
  appendRow(label: number): number {
    if (this.rows === this.labels.length) this.grow();
    const r = this.rows++;
    this.labels[r] = label;
    return r;
  }

  setDense(row: number, field: number, value: number): void {
    this.dense[row * this.widths.dense + field] = value;
  }

  setCategorical(row: number, field: number, hash: number): void {
    this.categorical[row * this.widths.categorical + field] = hash;
  }

  /**
   * The rows appended, for a builder that is done: its arrays themselves when they are exactly full (a reader's full
   * chunk: no copy), else trimmed copies. The builder must not be appended to after.
   */
  finish(): RowBlock {
    if (this.rows < this.labels.length) return this.build();
    return {
      rows: this.rows,
      denseWidth: this.widths.dense,
      categoricalWidth: this.widths.categorical,
      labels: this.labels,
      dense: this.dense,
      categorical: this.categorical,
    };
  }

  build(): RowBlock {
    return {
      rows: this.rows,
      denseWidth: this.widths.dense,
      categoricalWidth: this.widths.categorical,
      labels: this.labels.slice(0, this.rows),
      dense: this.dense.slice(0, this.rows * this.widths.dense),
      categorical: this.categorical.slice(0, this.rows * this.widths.categorical),
    };
  }

  private grow(): void {
    const cap = Math.max(1024, this.labels.length * 2);
    const labels = new Uint8Array(cap);
    labels.set(this.labels);
    const dense = new Float32Array(cap * this.widths.dense);
    dense.set(this.dense);
    const categorical = new Uint32Array(cap * this.widths.categorical);
    categorical.set(this.categorical);
    this.labels = labels;
    this.dense = dense;
    this.categorical = categorical;
  }
}

/**
 * Rows [start, end) of a block as a view of its arrays (no copy): for splitting a block nothing writes to any more,
 * e.g. a file's rows into train and validation. Views of disjoint ranges never see each other's rows.
 */
export function rowsView(block: RowBlock, start: number, end: number): RowBlock {
  const { denseWidth: D, categoricalWidth: C } = block;
  return {
    rows: end - start,
    denseWidth: D,
    categoricalWidth: C,
    labels: block.labels.subarray(start, end),
    dense: block.dense.subarray(start * D, end * D),
    categorical: block.categorical.subarray(start * C, end * C),
    ...(block.weights ? { weights: block.weights.subarray(start, end) } : {}),
  };
}

/** Rows [start, end) of a block as a new block (copies). */
export function sliceRows(block: RowBlock, start: number, end: number): RowBlock {
  const { denseWidth: D, categoricalWidth: C } = block;
  return {
    rows: end - start,
    denseWidth: D,
    categoricalWidth: C,
    labels: block.labels.slice(start, end),
    dense: block.dense.slice(start * D, end * D),
    categorical: block.categorical.slice(start * C, end * C),
    ...(block.weights ? { weights: block.weights.slice(start, end) } : {}),
  };
}

export function concatBlocks(blocks: RowBlock[]): RowBlock {
  if (blocks.length === 1) return blocks[0];
  const rows = blocks.reduce((n, b) => n + b.rows, 0);
  const widths = widthsOf(blocks[0]);
  if (blocks.some((b) => b.denseWidth !== widths.dense || b.categoricalWidth !== widths.categorical))
    throw new Error('concatBlocks: blocks of different widths (rows of two layouts)');
  const out = emptyBlock(rows, widths);
  // Weights survive a concat when any block has them (the others weigh 1).
  if (blocks.some((b) => b.weights)) out.weights = new Float32Array(rows).fill(1);
  let at = 0;
  for (const b of blocks) {
    out.labels.set(b.labels, at);
    if (out.weights && b.weights) out.weights.set(b.weights, at);
    out.dense.set(b.dense, at * widths.dense);
    out.categorical.set(b.categorical, at * widths.categorical);
    at += b.rows;
  }
  return out;
}

/**
 * Which fields carry any value in a block (fields that are always empty carry no information). A field is looked at
 * only until its first value: most fields have one in the first rows, so the scan soon checks only the (few) fields
 * still empty, and stops once none is.
 */
export function activeFields(block: RowBlock): { categorical: number[]; dense: number[] } {
  const { denseWidth: D, categoricalWidth: C, dense, categorical } = block;
  const cat = new Uint8Array(C);
  const den = new Uint8Array(D);
  // The fields not yet seen with a value, compacted as they are found.
  const catLeft = Int32Array.from(cat.keys());
  const denLeft = Int32Array.from(den.keys());
  let nCat = C;
  let nDen = D;
  for (let r = 0; r < block.rows && nCat + nDen > 0; r++) {
    for (let i = 0; i < nCat; i++) {
      const f = catLeft[i];
      if (categorical[r * C + f] !== MISSING_CATEGORICAL) {
        cat[f] = 1;
        catLeft[i--] = catLeft[--nCat];
      }
    }
    for (let i = 0; i < nDen; i++) {
      const f = denLeft[i];
      if (!Number.isNaN(dense[r * D + f])) {
        den[f] = 1;
        denLeft[i--] = denLeft[--nDen];
      }
    }
  }
  return {
    categorical: [...cat.keys()].filter((f) => cat[f]),
    dense: [...den.keys()].filter((f) => den[f]),
  };
}
