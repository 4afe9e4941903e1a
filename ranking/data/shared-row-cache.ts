import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { retrySecondsFromEnv, sharedStore, type ObjectStore, type S3ObjectStore } from '../../store/object-store';
import {
  ROW_CACHE_VERSION,
  RowCacheInvalid,
  RowCacheReader,
  adoptRowCache,
  readRowCacheTrailer,
  sourceIdentity,
  type RowCacheTrailer,
  type SourceIdentity,
} from './row-cache';

/**
 * Row caches through the fleet's shared store (RANKWRIGHT_STORE): a worker that parsed a big training file into a
 * row cache uploads it, and a worker on another machine that needs the same rows fetches it instead of parsing the
 * file again. The fetched file is an ordinary row cache of the home (`row-cache/`, collected by `rankwright gc` like
 * one built there). It is an optimisation only: a store that fails, or a copy that does not verify, costs a parse,
 * never a training.
 *
 * In the store a cache is two objects, named by what determines its content, never by a path (another machine may
 * mount the same data elsewhere): `row-caches/<id>.rows`, the cache file, and `row-caches/<id>.json`, its manifest
 * (size, SHA-256 and row count), written after it, so a manifest names a whole upload. The id hashes the cache
 * format version, the read options that shaped the rows, and the training file's size and SHA-256 of its whole
 * content: the local cache's identity (size, mtime and first and last MiB) cannot tell apart two copies of a file
 * edited in the middle, and mtimes differ between machines.
 */

/** How long a lookup waits for the store before the worker parses the file itself. */
const LOOKUP_RETRY_SECONDS = 10;
/**
 * How long one request of an upload or a download waits out an outage before it is given up (the parse stands); never
 * longer than RANKWRIGHT_STORE_RETRY_SECONDS.
 */
const TRANSFER_RETRY_SECONDS = 30;

export interface SharedRowCacheManifest {
  rowCacheVersion: number;
  bytes: number;
  sha256: string;
  rows: number;
}

/** Where a shared cache came from, for the worker's log and for tests. */
export type RowCacheOrigin = 'parsed' | 'home' | 'store';

/** The store keys of the cache of `source` read with `options`. */
export async function sharedRowCacheKeys(source: SourceIdentity, options: Record<string, unknown>): Promise<{ rows: string; manifest: string }> {
  const content = await contentSha256(source);
  const id = createHash('sha256')
    .update(`row-cache ${ROW_CACHE_VERSION}\n${source.size}\n${content}\n${JSON.stringify(options)}`)
    .digest('hex');
  return { rows: `row-caches/${id}.rows`, manifest: `row-caches/${id}.json` };
}

/** Whole-file hashes already computed in this process, by the local identity of the file they were computed from. */
const contentHashes = new Map<string, Promise<string>>();

/** The SHA-256 of a training file's whole content (streamed: ~1 GB/s, against a parse's minutes for the same file). */
function contentSha256(source: SourceIdentity): Promise<string> {
  const id = `${source.path}\n${source.size}\n${source.mtimeMs}\n${source.fingerprint}`;
  let hash = contentHashes.get(id);
  if (!hash) {
    hash = sha256OfFile(source.path);
    contentHashes.set(id, hash);
    hash.catch(() => contentHashes.delete(id));
  }
  return hash;
}

async function sha256OfFile(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(fs.createReadStream(file), h);
  return h.digest('hex');
}

/**
 * The shared store's cache of `source` read with `options`, fetched into `cacheFile` and opened, when the store has one
 * of more than `minRows` rows (a smaller one would not be streamed) whose bytes verify. Undefined otherwise: no store,
 * no such cache, a store that does not answer or a copy that does not verify (said on stderr; the caller parses).
 */
export async function fetchSharedRowCache(
  cacheFile: string,
  source: SourceIdentity,
  options: Record<string, unknown>,
  minRows: number,
): Promise<RowCacheReader | undefined> {
  const store = sharedStore();
  if (!store) return undefined;
  // Ends in .tmp: `rankwright gc` counts it as a cache being written, and collects it if this process dies meanwhile.
  const staging = `${cacheFile}.${process.pid}.${Date.now()}.fetched.tmp`;
  try {
    const keys = await sharedRowCacheKeys(source, options);
    const manifest = parseManifest(await store.get(keys.manifest, { retrySeconds: lookupSeconds() }));
    if (!manifest || manifest.rows <= minRows) return undefined;
    const got = await store.getToFile(keys.rows, staging, { retrySeconds: transferSeconds() });
    if (!got) return undefined;
    if (got.bytes !== manifest.bytes || got.sha256 !== manifest.sha256) {
      warn(
        `the store's row cache of ${source.path} (${keys.rows}) is corrupt: ${got.bytes} bytes hashing to ${got.sha256}, where its manifest says ${manifest.bytes} bytes hashing to ${manifest.sha256}; refused, the file is parsed here (and the store's copy replaced)`,
      );
      return undefined;
    }
    await adoptRowCache(staging, source, options);
    await fs.promises.rename(staging, cacheFile);
    return await RowCacheReader.open(cacheFile, source, options);
  } catch (err) {
    warn(`could not use the store's row cache of ${source.path} (${describe(err)}); the file is parsed here`);
    if (err instanceof RowCacheInvalid) await fs.promises.rm(cacheFile, { force: true }).catch(() => {});
    return undefined;
  } finally {
    await fs.promises.rm(staging, { force: true }).catch(() => {});
  }
}

const uploads = new Set<Promise<void>>();
/** Told how many uploads are in flight in this thread whenever that changes (a pool thread tells the main thread). */
let uploadsListener: ((inFlight: number) => void) | undefined;

/**
 * Says how many row-cache uploads are in flight in this thread at every change, so that a worker stopping gracefully
 * can wait for those of its training threads (workers/row-cache-uploads.ts).
 */
export function onRowCacheUploads(listener: (inFlight: number) => void): void {
  uploadsListener = listener;
}

/** Row-cache uploads in flight in this thread now. */
export function rowCacheUploadsInFlight(): number {
  return uploads.size;
}

/**
 * Uploads a cache this worker has just built, in the background: the training goes on streaming it meanwhile, and an
 * upload that fails (the store is down, the disk cache was rebuilt under it) is said on stderr and forgotten.
 */
export function shareRowCache(reader: RowCacheReader, source: SourceIdentity, options: Record<string, unknown>): void {
  let store: S3ObjectStore | undefined;
  try {
    store = sharedStore();
  } catch (err) {
    warn(`could not share the row cache of ${source.path}: ${describe(err)}`);
  }
  if (!store) return;
  const upload = uploadRowCache(store, reader, source, options)
    .catch((err) =>
      warn(`could not share the row cache of ${source.path} through the store (${describe(err)}); other machines parse the file themselves`),
    )
    .finally(() => {
      uploads.delete(upload);
      uploadsListener?.(uploads.size);
    });
  uploads.add(upload);
  uploadsListener?.(uploads.size);
}

/** Resolves when the uploads started so far have ended, each uploaded or given up (tests; a worker that stops). */
export async function rowCacheUploadsSettled(): Promise<void> {
  while (uploads.size) await Promise.all([...uploads]);
}

/** What writing a cache into the store needs: the background share waits out outages for less than a migration. */
type CacheWrites = Pick<ObjectStore, 'put' | 'putFile' | 'delete'>;

async function uploadRowCache(store: S3ObjectStore, reader: RowCacheReader, source: SourceIdentity, options: Record<string, unknown>): Promise<void> {
  const call = { retrySeconds: transferSeconds() };
  const writes: CacheWrites = {
    put: (key, bytes) => store.put(key, bytes, call),
    putFile: (key, file) => store.putFile(key, file, call),
    delete: (key) => store.delete(key, call),
  };
  await writeSharedCache(writes, await sharedRowCacheKeys(source, options), reader);
}

/** Writes a cache file and then its manifest under `keys`; returns the cache's size. */
async function writeSharedCache(store: CacheWrites, keys: { rows: string; manifest: string }, reader: RowCacheReader): Promise<number> {
  const { size: bytes } = await fs.promises.stat(reader.file);
  const sha256 = await sha256OfFile(reader.file);
  // The old manifest goes first: until the new one is written, a fetcher finds none and parses (not old bytes' hash).
  await store.delete(keys.manifest);
  await store.putFile(keys.rows, reader.file);
  const manifest: SharedRowCacheManifest = { rowCacheVersion: ROW_CACHE_VERSION, bytes, sha256, rows: reader.rows };
  await store.put(keys.manifest, Buffer.from(JSON.stringify(manifest)));
  return bytes;
}

/** What became of a home's cache that `rankwright store migrate` looked at. */
export type HomeRowCacheOutcome =
  | { outcome: 'copied' | 'already-there'; bytes: number }
  /** Not shared, and why: its data file is gone or changed (the rows may no longer be the file's), or it is damaged. */
  | { outcome: 'left'; bytes: number; reason: string };

/**
 * Shares a cache the home built before the store was configured (`rankwright store migrate`), under the keys and with
 * the manifest a worker writes when it shares one it parsed, so that another home fetches it the same way. Only while
 * the data file it was built from is where it was and unchanged (size, mtime, first and last MiB, as when the home
 * opens its own cache): the key hashes that file's whole content, and a cache of an older version of it must not be
 * filed under the new one. Every chunk's checksum is verified before the upload. A cache the store already holds for
 * the same content and read options (this home's copy or another machine's) is not uploaded again. The cache's last-use
 * time, which `rankwright gc` goes by, is kept as it was.
 */
export async function shareHomeRowCache(store: ObjectStore, file: string): Promise<HomeRowCacheOutcome> {
  const st = await fs.promises.stat(file);
  const left = (reason: string): HomeRowCacheOutcome => ({ outcome: 'left', bytes: st.size, reason });
  let trailer: RowCacheTrailer;
  try {
    trailer = await readRowCacheTrailer(file);
  } catch (err) {
    if (err instanceof RowCacheInvalid) return left(`it is not a usable row cache (${err.message})`);
    throw err;
  }
  const built = trailer.source;
  const current = await sourceIdentity(built.path).catch(() => undefined);
  if (!current) return left(`its data file ${built.path} is gone`);
  const unchanged = (now: SourceIdentity) => now.size === built.size && now.mtimeMs === built.mtimeMs && now.fingerprint === built.fingerprint;
  if (!unchanged(current)) return left(`its data file ${built.path} changed since it was built`);
  try {
    const reader = await RowCacheReader.open(file, current, trailer.options);
    const buffer = reader.newChunkBuffer();
    for (let c = 0; c < reader.chunks; c++) await reader.readChunk(c, buffer);
    const keys = await sharedRowCacheKeys(current, trailer.options);
    // The whole-content hash took a while: a file rewritten meanwhile may have been hashed half old, half new.
    const after = await sourceIdentity(built.path).catch(() => undefined);
    if (!after || !unchanged(after)) return left(`its data file ${built.path} changed while it was hashed`);
    const there = parseManifest(await store.get(keys.manifest));
    if (there && (await store.head(keys.rows))?.bytes === there.bytes) return { outcome: 'already-there', bytes: st.size };
    return { outcome: 'copied', bytes: await writeSharedCache(store, keys, reader) };
  } catch (err) {
    if (err instanceof RowCacheInvalid) return left(`it is damaged (${err.message})`);
    throw err;
  } finally {
    // Reading it marked it used; a migration is not a use, so gc's idle clock is put back.
    await fs.promises.utimes(file, st.atime, st.mtime).catch(() => {});
  }
}

/** A manifest as the store returned it, or undefined when there is none or it is not one (then it is not used). */
function parseManifest(bytes: Buffer | undefined): SharedRowCacheManifest | undefined {
  if (!bytes) return undefined;
  try {
    const m = JSON.parse(bytes.toString('utf8')) as Partial<SharedRowCacheManifest>;
    const ok =
      m.rowCacheVersion === ROW_CACHE_VERSION &&
      Number.isSafeInteger(m.bytes) &&
      Number.isSafeInteger(m.rows) &&
      typeof m.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(m.sha256);
    return ok ? (m as SharedRowCacheManifest) : undefined;
  } catch {
    return undefined;
  }
}

function lookupSeconds(): number {
  return Math.min(LOOKUP_RETRY_SECONDS, retrySecondsFromEnv());
}

function transferSeconds(): number {
  return Math.min(TRANSFER_RETRY_SECONDS, retrySecondsFromEnv());
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function warn(message: string): void {
  process.stderr.write(`rankwright: row cache: ${message}\n`);
}
