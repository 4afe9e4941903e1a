import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rankwrightHome } from './home';

/**
 * Content-addressed artifact store: a blob's name is the SHA-256 of its bytes, so writes are idempotent and a ref
 * names exactly one content forever. Workflows pass refs (`sha256:<hex>`), never the bytes.
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

/** Stores bytes (or a JSON value, serialised) and returns its ref. Atomic: written to a temp file, then renamed. */
export async function putArtifact(content: Uint8Array | string | object): Promise<string> {
  const bytes = toBytes(content);
  const hex = createHash('sha256').update(bytes).digest('hex');
  const ref = `sha256:${hex}`;
  const file = artifactPath(ref);
  if (fs.existsSync(file)) return ref; // same content, already stored: idempotent
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  await fs.promises.writeFile(tmp, bytes);
  await fs.promises.rename(tmp, file);
  return ref;
}

export const put = putArtifact;

/** Reads an artifact's bytes; verifies the content still matches its name. */
export async function getArtifact(ref: string): Promise<Buffer> {
  const file = artifactPath(ref);
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`artifact ${ref} not found in ${artifactsDir()}`, { cause: e });
    throw e;
  }
  const hex = createHash('sha256').update(bytes).digest('hex');
  if (`sha256:${hex}` !== ref) throw new Error(`artifact ${ref} is corrupt (content hashes to sha256:${hex})`);
  return bytes;
}

export const get = getArtifact;

export async function getArtifactJson<T = unknown>(ref: string): Promise<T> {
  return JSON.parse((await getArtifact(ref)).toString('utf8')) as T;
}

function toBytes(content: Uint8Array | string | object): Uint8Array {
  if (content instanceof Uint8Array) return content;
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  return Buffer.from(JSON.stringify(content), 'utf8');
}
