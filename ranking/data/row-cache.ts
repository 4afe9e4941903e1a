import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { asDiskFull } from '../../store/disk-space';
import { rankwrightHome } from '../../store/home';
import { CRITEO_WIDTHS, emptyBlock, type RowBlock, type RowWidths } from './rows';

/**
 * A binary cache of parsed, hashed training rows, so a training file larger than memory is parsed once and every
 * later pass (epochs, a retried or resumed attempt, another experiment on the same data) streams compact rows back
 * instead of re-parsing text.
 *
 * Layout (little-endian), written to a temporary file and renamed into place, so a half-written cache is never seen:
 *
 *   "RWROWS01" | chunk 0 | chunk 1 | … | trailer JSON | u32 trailer length | "RWROWS01"
 *
 * Every chunk holds CHUNK_ROWS rows (the last one fewer) in the RowBlock layout: labels u8 (padded to 4 bytes), dense
 * f32 × its dense width, categorical u32 × its categorical width (the trailer's `widths`; Criteo's 13 and 26 when
 * absent, as in caches written before tables grew wider), then, for a table with a weight column (`weighted`), one
 * f32 weight a row — so chunk c sits at a fixed offset and is read straight into typed-array views.
 * The trailer names the format version, the row count, the source file's size, mtime and content fingerprint, the
 * read options that shaped the rows, the bad-row report of the parse, and a CRC-32 per chunk. Opening checks the
 * magic, version, source and total size (a stale or truncated cache is rebuilt); reading a chunk checks its CRC.
 */

export const ROW_CACHE_VERSION = 1;
/** Rows per chunk: ~10 MiB of rows, the unit of reads and of the streaming shuffle's windows. */
export const CHUNK_ROWS = 65_536;

/** Rows per chunk of a new cache: CHUNK_ROWS, or RANKWRIGHT_ROW_CACHE_CHUNK_ROWS (tests use small chunks). */
function newCacheChunkRows(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.RANKWRIGHT_ROW_CACHE_CHUNK_ROWS);
  return Number.isInteger(v) && v >= 1 ? v : CHUNK_ROWS;
}
const MAGIC = Buffer.from('RWROWS01', 'latin1');
const TAIL_BYTES = 4 + MAGIC.length;

/** Identity of a source file: size, mtime and a hash of its first and last MiB (cheap on 10 GB files). */
export interface SourceIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  fingerprint: string;
}

export interface RowCacheTrailer {
  version: number;
  rows: number;
  chunkRows: number;
  source: SourceIdentity;
  /** What shaped the rows besides the file (a cache is only used for the same options). */
  options: Record<string, unknown>;
  /** The parse's bad-row report, so a cache hit reports what the parse would have. */
  badRows: { count: number; rowsSeen: number; examples: { file: string; line: number; problem: string }[] };
  crc: number[];
  /** Fields a row has; absent: Criteo's. */
  widths?: RowWidths;
  /** Rows carry a sample weight (a declared table's weight column). */
  weighted?: boolean;
}

export function chunkBytes(rows: number, widths: RowWidths = CRITEO_WIDTHS, weighted = false): number {
  return align4(rows) + rows * (widths.dense + widths.categorical + (weighted ? 1 : 0)) * 4;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Feeds a file's first and last MiB into `h`: cheap on a file of any size, and it changes with an append, a truncation
 * or a rewrite of either end (size and mtime catch the rest). Shared by the data fingerprint and the row cache's source identity.
 */
export async function hashFileEnds(h: Hash, file: string, size: number): Promise<void> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const chunk = Buffer.alloc(Math.min(size, 1 << 20));
    await fd.read(chunk, 0, chunk.length, 0);
    h.update(chunk);
    if (size > chunk.length) {
      await fd.read(chunk, 0, chunk.length, size - chunk.length);
      h.update(chunk);
    }
  } finally {
    await fd.close();
  }
}

export async function sourceIdentity(file: string): Promise<SourceIdentity> {
  const abs = path.resolve(file);
  const st = await fs.promises.stat(abs);
  const h = createHash('sha256');
  await hashFileEnds(h, abs, st.size);
  return { path: abs, size: st.size, mtimeMs: st.mtimeMs, fingerprint: h.digest('hex').slice(0, 32) };
}

/** Where the cache of a source file read with given options lives: one file per (path, options), rebuilt in place. */
export function rowCachePath(file: string, options: Record<string, unknown>, home = rankwrightHome()): string {
  const key = createHash('sha256')
    .update(`${ROW_CACHE_VERSION}\n${path.resolve(file)}\n${JSON.stringify(options)}`)
    .digest('hex')
    .slice(0, 32);
  return path.join(home, 'row-cache', `${key}.rows`);
}

/** Appends rows chunk by chunk; `finish` writes the trailer and renames the file into place. */
export class RowCacheWriter {
  rows = 0;
  private readonly tmp: string;
  private fd: fs.promises.FileHandle | null = null;
  private offset = MAGIC.length;
  private readonly crc: number[] = [];
  /** Rows waiting to fill a whole chunk (the reader's chunks need not be CHUNK_ROWS long). */
  private pending: RowBlock;
  private pendingRows = 0;
  private readonly chunkRows = newCacheChunkRows();

  constructor(
    readonly file: string,
    readonly widths: RowWidths = CRITEO_WIDTHS,
    readonly weighted = false,
  ) {
    this.tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    this.pending = emptyBlock(this.chunkRows, widths, weighted);
  }

  async append(block: RowBlock): Promise<void> {
    if (!this.fd) {
      await this.writing(async () => {
        await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
        this.fd = await fs.promises.open(this.tmp, 'w');
        await this.fd.write(MAGIC, 0, MAGIC.length, 0);
      });
    }
    for (let from = 0; from < block.rows;) {
      const take = Math.min(block.rows - from, this.chunkRows - this.pendingRows);
      const at = this.pendingRows;
      const p = this.pending;
      p.labels.set(block.labels.subarray(from, from + take), at);
      const { dense: D, categorical: C } = this.widths;
      p.dense.set(block.dense.subarray(from * D, (from + take) * D), at * D);
      p.categorical.set(block.categorical.subarray(from * C, (from + take) * C), at * C);
      if (p.weights) {
        if (block.weights) p.weights.set(block.weights.subarray(from, from + take), at);
        else p.weights.fill(1, at, at + take);
      }
      this.pendingRows += take;
      this.rows += take;
      from += take;
      if (this.pendingRows === this.chunkRows) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    const r = this.pendingRows;
    if (r === 0) return;
    const p = this.pending;
    const { dense: D, categorical: C } = this.widths;
    const buf = Buffer.alloc(chunkBytes(r, this.widths, this.weighted));
    buf.set(p.labels.subarray(0, r), 0);
    buf.set(new Uint8Array(p.dense.buffer, 0, r * D * 4), align4(r));
    buf.set(new Uint8Array(p.categorical.buffer, 0, r * C * 4), align4(r) + r * D * 4);
    if (p.weights) buf.set(new Uint8Array(p.weights.buffer, 0, r * 4), align4(r) + r * (D + C) * 4);
    await this.writing(() => this.fd!.write(buf, 0, buf.length, this.offset));
    this.offset += buf.length;
    this.crc.push(crc32(buf));
    this.pendingRows = 0;
  }

  async finish(trailer: Omit<RowCacheTrailer, 'version' | 'rows' | 'chunkRows' | 'crc'>): Promise<RowCacheTrailer> {
    if (!this.fd) await this.append(emptyBlock(0, this.widths));
    await this.flush();
    // Criteo-width caches keep the trailer they always had (no `widths`), so older readers and tests see no change.
    const wide = this.widths.dense !== CRITEO_WIDTHS.dense || this.widths.categorical !== CRITEO_WIDTHS.categorical;
    const full: RowCacheTrailer = {
      version: ROW_CACHE_VERSION,
      rows: this.rows,
      chunkRows: this.chunkRows,
      ...trailer,
      crc: this.crc,
      ...(wide ? { widths: this.widths } : {}),
      ...(this.weighted ? { weighted: true } : {}),
    };
    const json = Buffer.from(JSON.stringify(full));
    const tail = Buffer.alloc(TAIL_BYTES);
    tail.writeUInt32LE(json.length, 0);
    MAGIC.copy(tail, 4);
    await this.writing(async () => {
      await this.fd!.write(Buffer.concat([json, tail]), 0, json.length + tail.length, this.offset);
      await this.fd!.close();
      this.fd = null;
      await fs.promises.rename(this.tmp, this.file);
    });
    return full;
  }

  /**
   * Runs a write of the cache. A failed write removes the temporary file at once (on a full disk it holds the very
   * space that ran out; a later abort() finds it gone), and a full disk fails with a DiskFullError naming the cache's
   * folder and the space left.
   */
  private async writing<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      await this.abort().catch(() => {});
      throw asDiskFull(err, 'a row cache', path.dirname(this.file));
    }
  }

  /** Drops the temporary file (a failed parse leaves no cache). */
  async abort(): Promise<void> {
    await this.fd?.close().catch(() => {});
    this.fd = null;
    await fs.promises.rm(this.tmp, { force: true });
  }
}

/** A cache that is not usable: the reason says why (missing, stale, truncated, corrupt). */
export class RowCacheInvalid extends Error {}

/**
 * A cache file's trailer, after checking its magic, version and that its size is what its rows need (a truncated or
 * foreign file throws RowCacheInvalid); `at` is where the trailer starts.
 */
async function readTrailer(fd: fs.promises.FileHandle, file: string): Promise<{ trailer: RowCacheTrailer; at: number }> {
  const size = (await fd.stat()).size;
  if (size < MAGIC.length + TAIL_BYTES) throw new RowCacheInvalid(`row cache ${file} is truncated (${size} bytes)`);
  const tail = Buffer.alloc(TAIL_BYTES);
  await fd.read(tail, 0, TAIL_BYTES, size - TAIL_BYTES);
  const head = Buffer.alloc(MAGIC.length);
  await fd.read(head, 0, MAGIC.length, 0);
  if (!head.equals(MAGIC) || !tail.subarray(4).equals(MAGIC)) throw new RowCacheInvalid(`row cache ${file} is truncated or not a row cache`);
  const jsonLength = tail.readUInt32LE(0);
  if (jsonLength > size - MAGIC.length - TAIL_BYTES) throw new RowCacheInvalid(`row cache ${file} has a corrupt trailer`);
  const json = Buffer.alloc(jsonLength);
  await fd.read(json, 0, jsonLength, size - TAIL_BYTES - jsonLength);
  let trailer: RowCacheTrailer;
  try {
    trailer = JSON.parse(json.toString('utf8')) as RowCacheTrailer;
  } catch {
    throw new RowCacheInvalid(`row cache ${file} has a corrupt trailer`);
  }
  if (trailer.version !== ROW_CACHE_VERSION) throw new RowCacheInvalid(`row cache ${file} is version ${trailer.version}, not ${ROW_CACHE_VERSION}`);
  const chunks = Math.ceil(trailer.rows / trailer.chunkRows);
  let dataBytes = 0;
  for (let c = 0; c < chunks; c++)
    dataBytes += chunkBytes(Math.min(trailer.chunkRows, trailer.rows - c * trailer.chunkRows), trailer.widths, trailer.weighted);
  if (trailer.crc.length !== chunks || size !== MAGIC.length + dataBytes + jsonLength + TAIL_BYTES)
    throw new RowCacheInvalid(`row cache ${file} is truncated or corrupt (${size} bytes where ${trailer.rows} rows need ${dataBytes})`);
  return { trailer, at: size - TAIL_BYTES - jsonLength };
}

/**
 * A cache file's trailer (what it was built from and with), checked as opening it checks it but without a source to
 * compare with: for `rankwright store migrate`, which finds a home's caches by their files. Throws RowCacheInvalid.
 */
export async function readRowCacheTrailer(file: string): Promise<RowCacheTrailer> {
  const fd = await fs.promises.open(file, 'r');
  try {
    return (await readTrailer(fd, file)).trailer;
  } finally {
    await fd.close();
  }
}

/**
 * Makes a cache built on another machine (fetched from the shared store) this machine's own. Its trailer names the
 * builder's path and mtime of the source; once the cache is checked to be of a file with this size and fingerprint,
 * read with these options, the trailer is rewritten with this machine's path and mtime, so that opening it, and
 * noticing a later change of the file, works as for a cache built here. Throws RowCacheInvalid when it does not fit.
 */
export async function adoptRowCache(file: string, source: SourceIdentity, options: Record<string, unknown>): Promise<RowCacheTrailer> {
  const fd = await fs.promises.open(file, 'r+');
  try {
    const { trailer, at } = await readTrailer(fd, file);
    const s = trailer.source;
    if (!s || s.size !== source.size || s.fingerprint !== source.fingerprint)
      throw new RowCacheInvalid(`row cache ${file} was written from another file than ${source.path}`);
    if (JSON.stringify(trailer.options) !== JSON.stringify(options))
      throw new RowCacheInvalid(`row cache ${file} was written with other read options`);
    const adopted: RowCacheTrailer = { ...trailer, source };
    const json = Buffer.from(JSON.stringify(adopted));
    const tail = Buffer.alloc(TAIL_BYTES);
    tail.writeUInt32LE(json.length, 0);
    MAGIC.copy(tail, 4);
    await fd.truncate(at);
    await fd.write(Buffer.concat([json, tail]), 0, json.length + tail.length, at);
    return adopted;
  } finally {
    await fd.close();
  }
}

/**
 * Reads chunks of a cache file by index, each into a reused buffer, checking its CRC. It holds no file descriptor
 * (a loaded dataset lives in a process cache with no close): each read opens the file, which costs little next to
 * a chunk's ~10 MiB.
 */
export class RowCacheReader {
  private constructor(
    readonly file: string,
    readonly trailer: RowCacheTrailer,
  ) {}

  get rows(): number {
    return this.trailer.rows;
  }

  get chunks(): number {
    return this.trailer.crc.length;
  }

  /** Fields a cached row has. */
  get widths(): RowWidths {
    return this.trailer.widths ?? CRITEO_WIDTHS;
  }

  /** Cached rows carry sample weights. */
  get weighted(): boolean {
    return !!this.trailer.weighted;
  }

  chunkRowsOf(c: number): number {
    return Math.min(this.trailer.chunkRows, this.rows - c * this.trailer.chunkRows);
  }

  /**
   * Opens a cache if it is complete and was written from this source with these options; otherwise throws
   * RowCacheInvalid naming what is wrong (the caller rebuilds it).
   */
  static async open(file: string, source: SourceIdentity, options: Record<string, unknown>): Promise<RowCacheReader> {
    let fd: fs.promises.FileHandle;
    try {
      fd = await fs.promises.open(file, 'r');
    } catch {
      throw new RowCacheInvalid(`no row cache at ${file}`);
    }
    try {
      const { trailer } = await readTrailer(fd, file);
      const s = trailer.source;
      if (!s || s.path !== source.path || s.size !== source.size || s.mtimeMs !== source.mtimeMs || s.fingerprint !== source.fingerprint)
        throw new RowCacheInvalid(`row cache ${file} is stale: ${source.path} changed since it was written`);
      if (JSON.stringify(trailer.options) !== JSON.stringify(options))
        throw new RowCacheInvalid(`row cache ${file} was written with other read options`);
      const reader = new RowCacheReader(file, trailer);
      await reader.markUsed();
      return reader;
    } finally {
      await fd.close();
    }
  }

  /** When this reader last marked the cache as used (ms since epoch). */
  private markedAt = 0;

  /**
   * Sets the cache file's mtime to now: its last use, which `rankwright gc` reads to collect caches nobody has read
   * for a while. Marked when opened and (at most once a minute) while chunks are read, since a loaded dataset keeps
   * its reader for the life of a worker. Best-effort: a read-only home only makes the cache look older.
   */
  private async markUsed(): Promise<void> {
    const now = Date.now();
    if (now - this.markedAt < 60_000) return;
    this.markedAt = now;
    await fs.promises.utimes(this.file, new Date(now), new Date(now)).catch(() => {});
  }

  /** A buffer that holds any chunk of this cache (pass it back to readChunk to reuse it). */
  newChunkBuffer(): Uint8Array {
    return new Uint8Array(chunkBytes(this.trailer.chunkRows, this.widths, this.weighted));
  }

  /** Chunk c as a RowBlock of views into `buffer` (valid until the buffer is read into again). */
  async readChunk(c: number, buffer: Uint8Array): Promise<RowBlock> {
    const rows = this.chunkRowsOf(c);
    const bytes = chunkBytes(rows, this.widths, this.weighted);
    const offset = MAGIC.length + c * chunkBytes(this.trailer.chunkRows, this.widths, this.weighted);
    let got = 0;
    const fd = await fs.promises.open(this.file, 'r');
    try {
      while (got < bytes) {
        const { bytesRead } = await fd.read(buffer, got, bytes - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } finally {
      await fd.close();
    }
    const view = buffer.subarray(0, bytes);
    if (got !== bytes || crc32(view) !== this.trailer.crc[c]) {
      throw new RowCacheInvalid(`row cache ${this.file}: chunk ${c} is corrupt (checksum mismatch); delete the file or rerun to rebuild it`);
    }
    await this.markUsed();
    const { dense: D, categorical: C } = this.widths;
    return {
      rows,
      denseWidth: D,
      categoricalWidth: C,
      labels: buffer.subarray(0, rows),
      dense: new Float32Array(buffer.buffer, buffer.byteOffset + align4(rows), rows * D),
      categorical: new Uint32Array(buffer.buffer, buffer.byteOffset + align4(rows) + rows * D * 4, rows * C),
      ...(this.weighted ? { weights: new Float32Array(buffer.buffer, buffer.byteOffset + align4(rows) + rows * (D + C) * 4, rows) } : {}),
    };
  }

  /** Nothing to release (no descriptor is held); kept so callers can say they are done. */
  async close(): Promise<void> {}
}
