import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asDiskFull } from './disk-space';
import { rankwrightHome } from './home';
import { sharedStore } from './object-store';

/**
 * Content-addressed artifact store: a blob's name is the SHA-256 of its bytes, so writes are idempotent and a ref
 * names exactly one content forever. Workflows pass refs (`sha256:<hex>`), never the bytes.
 *
 * With a shared store (RANKWRIGHT_STORE=s3://…) the home is its local cache: a put writes the home's copy and then
 * the store's, a get reads the home's copy or else fetches the store's, verifies it and keeps it. A model trained by
 * one worker can so be scored, exported, reported or compared against on any machine that shares only the store.
 */

const REF_PATTERN = /^sha256:([0-9a-f]{64})$/;

export function artifactsDir(): string {
  return path.join(rankwrightHome(), 'artifacts');
}

/** Validates a ref and returns its file path; anything but `sha256:<64 lowercase hex>` is refused (no traversal). */
export function artifactPath(ref: string): string {
  const m = typeof ref === 'string' ? REF_PATTERN.exec(ref) : null;
  if (!m)
    throw new Error(`invalid artifact ref ${JSON.stringify(String(ref).slice(0, 100))}: expected "sha256:" followed by 64 lowercase hex digits`);
  return path.join(artifactsDir(), m[1].slice(0, 2), m[1]);
}

/** An artifact's key in an object store: its path under the home, so a home and a store hold the same layout. */
export function artifactKey(ref: string): string {
  const hex = path.basename(artifactPath(ref));
  return `artifacts/${hex.slice(0, 2)}/${hex}`;
}

/**
 * Stores bytes (or a JSON value, serialised) and returns its ref. Atomic: written to a temp file, then renamed. A full
 * disk fails with a DiskFullError naming `what` (default "an artifact"), the folder and the space left.
 */
export async function putArtifact(content: Uint8Array | string | object, what = 'an artifact'): Promise<string> {
  const bytes = toBytes(content);
  const hex = createHash('sha256').update(bytes).digest('hex');
  const ref = `sha256:${hex}`;
  const file = artifactPath(ref);
  // Same content, already stored: idempotent. Its time is refreshed, so that `rankwright gc` (which spares artifacts
  // younger than its minimum age) never takes an old copy that a run has just produced again and not yet recorded;
  // a copy collected meanwhile (ENOENT) is simply written again.
  const now = new Date();
  const stored = await fs.promises.utimes(file, now, now).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT' && fs.existsSync(file),
  );
  if (stored) {
    // The home's copy may predate the store, or its upload may have failed: the store is asked every time.
    await shareArtifact(ref, file);
    return ref;
  }
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(tmp, bytes);
    await fs.promises.rename(tmp, file);
  } catch (err) {
    // A half-written temp file would only hold on to the space that ran out.
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw asDiskFull(err, what, artifactsDir());
  }
  await shareArtifact(ref, file);
  return ref;
}

/**
 * Puts the home's copy into the shared store, even when the store holds it already: the put renews the object's write
 * time, as utimes renews the home's copy above, so a `rankwright gc` of the store (which spares objects younger than
 * its minimum age, and re-lists each one just before removing it) never takes an old copy that a run has just
 * produced again and not yet recorded. An artifact produced twice is rare (the same bytes again), so the second
 * upload costs little. A store that stays unavailable fails the put after its retries; the activity is retried and
 * the home's copy is uploaded then, so nothing is lost.
 */
async function shareArtifact(ref: string, file: string): Promise<void> {
  const store = sharedStore();
  if (!store) return;
  await store.putFile(artifactKey(ref), file);
}

export const put = putArtifact;

/** Reads an artifact's bytes; verifies the content still matches its name. */
export async function getArtifact(ref: string): Promise<Buffer> {
  const file = artifactPath(ref);
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const store = sharedStore();
    if (!store) throw new Error(`artifact ${ref} not found in ${artifactsDir()}`, { cause: e });
    if (!(await fetchArtifact(ref, file)))
      throw new Error(`artifact ${ref} not found in ${artifactsDir()} nor in the store ${store.description}`, { cause: e });
    bytes = await fs.promises.readFile(file);
  }
  const hex = createHash('sha256').update(bytes).digest('hex');
  if (`sha256:${hex}` !== ref) throw new Error(`artifact ${ref} is corrupt (content hashes to sha256:${hex})`);
  return bytes;
}

export const get = getArtifact;

/**
 * Copies an artifact from the shared store into the home (streamed to a temporary file, hashed on the way, renamed
 * into place only when the content matches its ref). False when the store does not have it.
 */
async function fetchArtifact(ref: string, file: string): Promise<boolean> {
  const store = sharedStore()!;
  const staging = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const got = await store.getToFile(artifactKey(ref), staging);
    if (!got) return false;
    if (`sha256:${got.sha256}` !== ref)
      throw new Error(`artifact ${ref} in the store ${store.description} is corrupt (its ${got.bytes} bytes hash to sha256:${got.sha256})`);
    await fs.promises.rename(staging, file);
    return true;
  } catch (err) {
    throw asDiskFull(err, 'an artifact fetched from the store', artifactsDir());
  } finally {
    await fs.promises.rm(staging, { force: true }).catch(() => {});
  }
}

export async function getArtifactJson<T = unknown>(ref: string): Promise<T> {
  return JSON.parse((await getArtifact(ref)).toString('utf8')) as T;
}

function toBytes(content: Uint8Array | string | object): Uint8Array {
  if (content instanceof Uint8Array) return content;
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  return Buffer.from(JSON.stringify(content), 'utf8');
}
