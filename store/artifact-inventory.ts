import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What is in the artifact folder, for retention and storage figures: every stored artifact (its ref, size and last
 * write), the temporary files of writes in flight or abandoned, and, per artifact, what kind it is and which other
 * artifacts it names. Read from the bytes' own headers, so nothing outside the store is needed to classify them.
 */

export type ArtifactKind = 'model' | 'external-model' | 'checkpoint' | 'report' | 'other';

export interface StoredFile {
  path: string;
  bytes: number;
  mtimeMs: number;
}

export interface StoredArtifact extends StoredFile {
  ref: string;
}

export interface ArtifactListing {
  artifacts: StoredArtifact[];
  /** `<hex>.tmp-<pid>-<random>`: a write in flight, or one a dead process left. */
  temporary: StoredFile[];
  /** Symbolic links found where artifacts live: never followed, never removed. */
  links: string[];
}

const HEX = /^[0-9a-f]{64}$/;
const TEMP = /^[0-9a-f]{64}\.tmp-/;

/** Lists `artifacts/<2 hex>/<64 hex>` under the given artifact folder, without following links. */
export async function listArtifacts(artifactsDir: string): Promise<ArtifactListing> {
  const listing: ArtifactListing = { artifacts: [], temporary: [], links: [] };
  let shards: fs.Dirent[];
  try {
    shards = await fs.promises.readdir(artifactsDir, { withFileTypes: true });
  } catch {
    return listing;
  }
  for (const shard of shards) {
    const dir = path.join(artifactsDir, shard.name);
    if (shard.isSymbolicLink()) listing.links.push(dir);
    if (!shard.isDirectory() || !/^[0-9a-f]{2}$/.test(shard.name)) continue;
    for (const entry of await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
      const file = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        listing.links.push(file);
        continue;
      }
      if (!entry.isFile()) continue;
      const st = await fs.promises.lstat(file).catch(() => undefined);
      if (!st) continue; // removed meanwhile
      const stored = { path: file, bytes: st.size, mtimeMs: st.mtimeMs };
      if (HEX.test(entry.name) && entry.name.startsWith(shard.name)) listing.artifacts.push({ ...stored, ref: `sha256:${entry.name}` });
      else if (TEMP.test(entry.name)) listing.temporary.push(stored);
    }
  }
  return listing;
}

export interface ArtifactDescription {
  kind: ArtifactKind;
  /** Other artifacts this one needs (an external model's model file). */
  refs: string[];
  /** A report's campaign. */
  campaignId?: string;
}

const REF = /^sha256:[0-9a-f]{64}$/;
/** What is read of every artifact: its kind (first in a tensor header) and a report's title; little else is needed. */
const HEAD_BYTES = 8192;

/**
 * Classifies an artifact by its first bytes: a tensor file ("RWT1", then a JSON header whose `kind` says model,
 * external model or checkpoint), a campaign report (HTML titled "Rankwright campaign <id>"), or anything else.
 * Unreadable or unrecognised content is "other": classification only labels and follows refs, it never decides
 * that something may go.
 */
export async function describeArtifact(file: string): Promise<ArtifactDescription> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    const bytes = head.subarray(0, bytesRead);
    if (bytes.subarray(0, 4).toString('latin1') === 'RWT1' && bytes.length >= 8) {
      // The header is JSON written with `kind` first; only an external model's header is read whole (for its `model`).
      let kind: unknown = /^\{"kind":"([a-z-]+)"/.exec(bytes.subarray(8, 64).toString('latin1'))?.[1];
      if (kind === 'model' || kind === 'checkpoint') return { kind, refs: [] };
      if (kind !== undefined && kind !== 'external-model') return { kind: 'other', refs: [] };
      const length = bytes.readUInt32LE(4);
      let json = bytes.subarray(8, 8 + length);
      if (json.length < length) {
        json = Buffer.alloc(length);
        await handle.read(json, 0, length, 8);
      }
      const header = JSON.parse(json.toString('utf8')) as { kind?: unknown; model?: unknown };
      kind = header.kind;
      if (kind === 'model' || kind === 'checkpoint') return { kind, refs: [] };
      if (kind !== 'external-model') return { kind: 'other', refs: [] };
      return { kind: 'external-model', refs: typeof header.model === 'string' && REF.test(header.model) ? [header.model] : [] };
    }
    const text = bytes.subarray(0, 8192).toString('utf8');
    const title = /^<!DOCTYPE html>[\s\S]*?<title>Rankwright campaign ([^<]+)<\/title>/.exec(text);
    if (title) return { kind: 'report', refs: [], campaignId: title[1] };
    return { kind: 'other', refs: [] };
  } catch {
    return { kind: 'other', refs: [] };
  } finally {
    await handle?.close().catch(() => {});
  }
}
