import type { TrainRowsOnDisk } from './data/load-data';
import { emptyBlock, type RowBlock } from './data/rows';
import { EncodedRows, FeatureSpec, encodeRows, numericRowsOf, slotCounts } from './features';
import { SeededRandom } from './rng';
import type { StreamedRows, TrainBatch } from './trainer';

/** Rows of a shuffle window by default: 8 cache chunks, ~80 MiB of raw rows and about as much encoded. */
export const DEFAULT_WINDOW_ROWS = 8 * 65_536;

/**
 * Training rows streamed from a row cache, for training sets too big to hold. An epoch visits the cache's chunks in
 * a seeded random order, a window of `windowRows` (whole chunks) at a time; a window's rows are encoded and shuffled
 * together, so a batch mixes rows of several chunks from anywhere in the file. This is not the in-memory path's one
 * permutation of all rows, but every row is still seen once per epoch and no batch is a run of neighbouring rows
 * (Criteo files are in time order). Batches are cut from the epoch's whole sequence of rows, across windows, so
 * step k is rows [k·batch, (k+1)·batch) exactly as in memory: steps per epoch and checkpoint positions agree, and a
 * resumed epoch skips straight to its window (the order is recomputed from the seed, never stored).
 *
 * Negative downsampling keeps exactly the rows the in-memory path keeps (the same draw over all training labels).
 *
 * Sample weights: a cache of a table with a weight column holds them (row-cache.ts), and every batch carries them
 * (a stitched one too: concatEncoded); a cache without weights gives batches without, every row weighing 1.
 */
export class DiskTrainRows implements StreamedRows {
  readonly rows: number;
  readonly labels: Uint8Array;
  private readonly trainChunks: number;
  private readonly chunkRows: number;
  /** Per chunk, how many of its rows train (after negative sampling). */
  private readonly keptPerChunk: Int32Array;
  /** Kept training rows in position order (null: all of them). */
  private readonly kept: Int32Array | null;
  private readonly keep: Uint8Array | null;
  private readonly chunksPerWindow: number;
  private readonly catSlots: number;
  private readonly denseSlots: number;
  private readonly denseIndex: Int32Array;
  private readonly seed: number;

  constructor(
    private readonly disk: TrainRowsOnDisk,
    private readonly spec: FeatureSpec,
    opts: { kept?: Int32Array; seed: number; windowRows?: number },
  ) {
    this.seed = opts.seed;
    const cache = disk.cache;
    this.chunkRows = cache.trailer.chunkRows;
    this.trainChunks = Math.ceil(disk.rows / this.chunkRows);
    this.keptPerChunk = new Int32Array(this.trainChunks);
    if (opts.kept && opts.kept.length < disk.rows) {
      this.kept = opts.kept;
      this.keep = new Uint8Array(disk.rows);
      for (const r of opts.kept) {
        this.keep[r] = 1;
        this.keptPerChunk[Math.floor(r / this.chunkRows)]++;
      }
      this.labels = Uint8Array.from(opts.kept, (r) => disk.labels[r]);
    } else {
      this.kept = null;
      this.keep = null;
      for (let c = 0; c < this.trainChunks; c++) this.keptPerChunk[c] = Math.min(this.chunkRows, disk.rows - c * this.chunkRows);
      this.labels = disk.labels;
    }
    this.rows = this.labels.length;
    this.chunksPerWindow = Math.max(1, Math.round((opts.windowRows ?? DEFAULT_WINDOW_ROWS) / this.chunkRows));
    ({ catSlots: this.catSlots, denseSlots: this.denseSlots } = slotCounts(spec));
    this.denseIndex = numericRowsOf(spec).slice();
  }

  /** Training rows [k·rows/count] for k < count (all of them when fewer), in order: the train-NE sample. */
  async sample(count: number): Promise<EncodedRows> {
    const n = Math.min(count, this.rows);
    const positions = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const k = n === this.rows ? i : Math.floor((i * this.rows) / n);
      positions[i] = this.kept ? this.kept[k] : k;
    }
    const { dense: D, categorical: C } = this.disk.cache.widths;
    const out = emptyBlock(n, this.disk.cache.widths, this.disk.cache.weighted);
    const buffer = this.disk.cache.newChunkBuffer();
    let loaded = -1;
    let block: RowBlock | null = null;
    for (let i = 0; i < n; i++) {
      const c = Math.floor(positions[i] / this.chunkRows);
      if (c !== loaded) {
        block = await this.disk.cache.readChunk(c, buffer);
        loaded = c;
      }
      const r = positions[i] - c * this.chunkRows;
      out.labels[i] = block!.labels[r];
      out.dense.set(block!.dense.subarray(r * D, (r + 1) * D), i * D);
      out.categorical.set(block!.categorical.subarray(r * C, (r + 1) * C), i * C);
      if (out.weights) out.weights[i] = block!.weights![r];
    }
    return encodeRows(out, this.spec);
  }

  /** The chunks of an epoch's windows, in visiting order. */
  private windows(epoch: number): Int32Array[] {
    const order = Int32Array.from({ length: this.trainChunks }, (_, c) => c);
    new SeededRandom(this.seed * 1_000_003 + epoch + 0x5eed).shuffle(order);
    const out: Int32Array[] = [];
    for (let i = 0; i < order.length; i += this.chunksPerWindow) out.push(order.subarray(i, i + this.chunksPerWindow));
    return out;
  }

  async *batches(epoch: number, batch: number, from: number): AsyncGenerator<TrainBatch> {
    const windows = this.windows(epoch);
    const capacity = this.chunksPerWindow * this.chunkRows;
    // Reused across windows: the encoded window, its order, and one chunk's raw bytes.
    const catIndex = new Int32Array(capacity * this.catSlots);
    const denseValue = new Float32Array(capacity * this.denseSlots);
    const labels = new Uint8Array(capacity);
    const weights = this.disk.cache.weighted ? new Float32Array(capacity) : null;
    const order = new Int32Array(capacity);
    const buffer = this.disk.cache.newChunkBuffer();
    let carry: EncodedRows | null = null;
    let position = 0;
    for (let w = 0; w < windows.length; w++) {
      let rows = 0;
      for (const c of windows[w]) rows += this.keptPerChunk[c];
      // A resumed epoch: windows wholly before `from` were trained on already (from is a batch boundary).
      if (position + rows <= from) {
        position += rows;
        continue;
      }
      let filled = 0;
      for (const c of windows[w]) {
        const chunk = await this.disk.cache.readChunk(c, buffer);
        const start = c * this.chunkRows;
        const trainEnd = Math.min(chunk.rows, this.disk.rows - start);
        const enc = encodeRows(this.trainRowsOf(chunk, start, trainEnd), this.spec);
        catIndex.set(enc.catIndex, filled * this.catSlots);
        denseValue.set(enc.denseValue, filled * this.denseSlots);
        labels.set(enc.labels, filled);
        if (weights) weights.set(enc.weights!, filled);
        filled += enc.rows;
      }
      const data: EncodedRows = {
        rows,
        catSlots: this.catSlots,
        catIndex: catIndex.subarray(0, rows * this.catSlots),
        denseSlots: this.denseSlots,
        denseValue: denseValue.subarray(0, rows * this.denseSlots),
        denseIndex: this.denseIndex,
        labels: labels.subarray(0, rows),
        ...(weights ? { weights: weights.subarray(0, rows) } : {}),
      };
      const ord = order.subarray(0, rows);
      for (let i = 0; i < rows; i++) ord[i] = i;
      new SeededRandom((this.seed * 1_000_003 + epoch) * 7_919 + w).shuffle(ord);
      let at = Math.max(0, from - position);
      if (carry) {
        const take = Math.min(batch - carry.rows, rows - at);
        carry = concatEncoded(carry, data, ord.subarray(at, at + take));
        at += take;
        if (carry.rows === batch) {
          yield { data: carry, order: identity(carry.rows), start: 0, end: carry.rows };
          carry = null;
        }
      }
      for (; at + batch <= rows; at += batch) yield { data, order: ord, start: at, end: at + batch };
      // The window's last rows start the next batch (copied: the window's buffers are refilled).
      if (at < rows) carry = concatEncoded(carry, data, ord.subarray(at, rows));
      position += rows;
    }
    if (carry && carry.rows > 0) yield { data: carry, order: identity(carry.rows), start: 0, end: carry.rows };
  }

  /** A chunk's training rows [0, trainEnd) that are kept (a view when all are; a copy when some are sampled out). */
  private trainRowsOf(chunk: RowBlock, start: number, trainEnd: number): RowBlock {
    const { denseWidth: D, categoricalWidth: C } = chunk;
    if (!this.keep) {
      return {
        rows: trainEnd,
        denseWidth: D,
        categoricalWidth: C,
        labels: chunk.labels.subarray(0, trainEnd),
        dense: chunk.dense.subarray(0, trainEnd * D),
        categorical: chunk.categorical.subarray(0, trainEnd * C),
        ...(chunk.weights ? { weights: chunk.weights.subarray(0, trainEnd) } : {}),
      };
    }
    const count = this.keptPerChunk[start / this.chunkRows];
    const out = emptyBlock(count, { dense: D, categorical: C }, !!chunk.weights);
    for (let r = 0, k = 0; r < trainEnd; r++) {
      if (!this.keep[start + r]) continue;
      out.labels[k] = chunk.labels[r];
      out.dense.set(chunk.dense.subarray(r * D, (r + 1) * D), k * D);
      out.categorical.set(chunk.categorical.subarray(r * C, (r + 1) * C), k * C);
      if (out.weights) out.weights[k] = chunk.weights![r];
      k++;
    }
    return out;
  }
}

function identity(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** `head`'s rows then `data`'s rows `rows` (in that order), as a new block. */
function concatEncoded(head: EncodedRows | null, data: EncodedRows, rows: Int32Array): EncodedRows {
  const { catSlots, denseSlots } = data;
  const h = head?.rows ?? 0;
  const n = h + rows.length;
  const catIndex = new Int32Array(n * catSlots);
  const denseValue = new Float32Array(n * denseSlots);
  const labels = new Uint8Array(n);
  // Weights (none from the row cache today; kept so the type stays whole): rows without any weigh 1.
  const weights = head?.weights || data.weights ? new Float32Array(n).fill(1) : undefined;
  if (head) {
    catIndex.set(head.catIndex);
    denseValue.set(head.denseValue);
    labels.set(head.labels);
    if (weights && head.weights) weights.set(head.weights);
  }
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    catIndex.set(data.catIndex.subarray(r * catSlots, (r + 1) * catSlots), (h + k) * catSlots);
    denseValue.set(data.denseValue.subarray(r * denseSlots, (r + 1) * denseSlots), (h + k) * denseSlots);
    labels[h + k] = data.labels[r];
    if (weights && data.weights) weights[h + k] = data.weights[r];
  }
  const out: EncodedRows = { rows: n, catSlots, catIndex, denseSlots, denseValue, denseIndex: data.denseIndex, labels };
  if (weights) out.weights = weights;
  return out;
}
