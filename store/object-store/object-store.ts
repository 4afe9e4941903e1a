/**
 * One small interface over where Rankwright's files are kept: a local folder (the home, the embedded default) or an
 * S3-compatible object store shared by a fleet. Keys are relative paths of plain names (`artifacts/ab/abcd…`), the
 * same in both, so what one holds can be copied into the other as it is.
 *
 * Big files move as streams (putFile / getToFile): a model is never held in memory twice for the sake of storing it.
 */

export interface StoredObject {
  key: string;
  bytes: number;
}

export interface ObjectStore {
  /** Where it is, for messages ("s3://bucket/prefix/ at http://…", "/data/rw"); never a credential. */
  readonly description: string;
  /** Stores bytes under a key, replacing what was there. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Stores a file's bytes under a key, streamed from disk. */
  putFile(key: string, file: string): Promise<void>;
  /** An object's bytes, or undefined when there is none under the key. */
  get(key: string): Promise<Buffer | undefined>;
  /**
   * Streams an object into `file` (replaced whole, never left half-written) and returns its size and SHA-256 (hex),
   * or undefined when there is none under the key.
   */
  getToFile(key: string, file: string): Promise<{ bytes: number; sha256: string } | undefined>;
  /** An object's size, or undefined when there is none under the key. */
  head(key: string): Promise<StoredObject | undefined>;
  /** Every object whose key starts with `prefix`, in no promised order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** Removes an object; removing one that is not there is not an error. */
  delete(key: string): Promise<void>;
}

/** Plain names separated by '/': no empty, '.' or '..' segment, nothing a service or a file system escapes. */
const KEY = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*(\/[A-Za-z0-9_=-][A-Za-z0-9._=-]*)*$/;
/** Temporary files of the local store are named `<name>.tmp-<pid>-<random>`: no key may look like one. */
const TEMP_SUFFIX = /\.tmp-/;

/** Validates a key (both stores call it before touching anything) and returns it. */
export function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length > 900 || !KEY.test(key) || TEMP_SUFFIX.test(key))
    throw new Error(`invalid object key ${JSON.stringify(String(key).slice(0, 100))}: expected plain names separated by '/'`);
  return key;
}

/** Validates a listing prefix: '' or a key-like path, optionally ending in '/'. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}
