import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafeId, describeIssues } from '../contracts';
import { asDiskFull } from './disk-space';
import { rankwrightHome } from './home';
import { retrySecondsFromEnv, sharedStore } from './object-store';

/**
 * Training checkpoints: one file per attempt of an experiment, `checkpoints/<campaignId>/<experimentId>/attempt-<n>.ckpt`,
 * replaced in place at every checkpoint and deleted when the run ends.
 *
 * Not the content-addressed artifact store: there every checkpoint was a new blob that nothing ever deleted (a DCN
 * run left ~12 GB behind). A checkpoint only ever matters as "the latest state of this attempt", so it has a fixed
 * name; storage is one model's state per running attempt, however long the campaign runs.
 *
 * A file is the checkpoint's bytes followed by their SHA-256, written to a temporary file and renamed over the old
 * one: a reader sees the previous checkpoint or the new one whole, and a damaged file is recognised, never loaded.
 *
 * With a shared store (RANKWRIGHT_STORE) each checkpoint is also copied there under the same relative path, so a
 * killed worker's attempt can resume on another machine: its retry reads the home's copy, else the store's. Sharing
 * is best-effort and bounded (storeCall): a store that cannot take a checkpoint costs the resume some progress,
 * never the training; a deletion the store misses leaves an orphan there, not a failed run.
 */

/** Where an attempt's checkpoint lives (a standalone experiment is its own campaign). */
export interface CheckpointSlot {
  campaignId: string;
  experimentId: string;
  attempt: number;
}

/** A checkpoint that is not there or cannot be trusted: the attempt starts over instead of failing. */
export class CheckpointUnreadable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CheckpointUnreadable';
  }
}

const DIGEST_BYTES = 32;
/**
 * How long a checkpoint's upload, download or deletion waits out a store outage (training waits meanwhile): 30 s, or
 * less when RANKWRIGHT_STORE_RETRY_SECONDS says so.
 */
const storeCall = () => ({ retrySeconds: Math.min(30, retrySecondsFromEnv()) });

/** Training time between checkpoints by default: a killed worker loses at most this much work. */
export const DEFAULT_CHECKPOINT_MINUTES = 3;

/**
 * Training time between checkpoints: RANKWRIGHT_CHECKPOINT_MINUTES (fractions allowed), else 3 minutes. By time, not
 * by steps: a DCN step takes 50 ms and an LR step 1 ms, and a checkpoint costs a whole model's write either way.
 */
export function checkpointIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.RANKWRIGHT_CHECKPOINT_MINUTES;
  if (raw === undefined || raw.trim() === '') return DEFAULT_CHECKPOINT_MINUTES * 60_000;
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60)
    throw new Error(`RANKWRIGHT_CHECKPOINT_MINUTES=${JSON.stringify(raw)} must be a number of minutes above 0 and at most 1440`);
  return minutes * 60_000;
}

export function checkpointsDir(home: string = rankwrightHome()): string {
  return path.join(home, 'checkpoints');
}

/** The folder of one experiment's checkpoints; refuses ids that could leave the checkpoints folder. */
export function experimentCheckpointsDir(slot: Pick<CheckpointSlot, 'campaignId' | 'experimentId'>, home?: string): string {
  return path.join(checkpointsDir(home), safeId(slot.campaignId, 'campaign'), safeId(slot.experimentId, 'experiment'));
}

export function checkpointPath(slot: CheckpointSlot, home?: string): string {
  if (!Number.isInteger(slot.attempt) || slot.attempt < 1) throw new Error(`invalid checkpoint attempt ${slot.attempt}: a whole number from 1`);
  return path.join(experimentCheckpointsDir(slot, home), `attempt-${slot.attempt}.ckpt`);
}

/** The folder of an experiment's checkpoints in the shared store: its path under the home. */
function experimentKey(slot: Pick<CheckpointSlot, 'campaignId' | 'experimentId'>): string {
  return `checkpoints/${safeId(slot.campaignId, 'campaign')}/${safeId(slot.experimentId, 'experiment')}/`;
}

export function checkpointKey(slot: CheckpointSlot): string {
  return experimentKey(slot) + path.basename(checkpointPath(slot));
}

/**
 * Writes an attempt's checkpoint from its byte chunks (streamed: no copy of the model is assembled in memory) and
 * replaces the previous one. Returns the file and its size, and, when a shared store is set and could not take it,
 * why (`unshared`). A full disk fails with a DiskFullError naming the folder, and leaves the previous checkpoint in
 * place.
 */
export async function writeCheckpoint(slot: CheckpointSlot, parts: Uint8Array[]): Promise<{ path: string; bytes: number; unshared?: string }> {
  const file = checkpointPath(slot);
  const dir = path.dirname(file);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let handle: fs.promises.FileHandle | undefined;
  let bytes = DIGEST_BYTES;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    handle = await fs.promises.open(tmp, 'w');
    const digest = createHash('sha256');
    for (const part of parts) {
      digest.update(part);
      await writeAll(handle, part);
      bytes += part.byteLength;
    }
    await writeAll(handle, digest.digest());
    await handle.close();
    handle = undefined;
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw asDiskFull(err, 'a checkpoint', dir);
  }
  const unshared = await shareCheckpoint(slot, file);
  return { path: file, bytes, ...(unshared ? { unshared } : {}) };
}

/** Copies the home's checkpoint into the shared store; returns why not when the store would not take it. */
async function shareCheckpoint(slot: CheckpointSlot, file: string): Promise<string | undefined> {
  try {
    await sharedStore()?.putFile(checkpointKey(slot), file, storeCall());
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Reads an attempt's checkpoint bytes (without the digest); CheckpointUnreadable when missing or damaged. */
export async function readCheckpoint(slot: CheckpointSlot): Promise<Buffer> {
  const file = checkpointPath(slot);
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const fetched = missing ? await fetchCheckpoint(slot, file) : undefined;
    if (!fetched)
      throw new CheckpointUnreadable(`checkpoint ${file} ${missing ? 'is missing' : `cannot be read (${(err as Error).message})`}`, { cause: err });
    bytes = fetched;
  }
  const body = bytes.subarray(0, Math.max(0, bytes.length - DIGEST_BYTES));
  const stored = bytes.subarray(body.length);
  if (stored.length !== DIGEST_BYTES || !createHash('sha256').update(body).digest().equals(stored))
    throw new CheckpointUnreadable(`checkpoint ${file} is damaged (its ${bytes.length} bytes do not match their checksum)`);
  return body;
}

/**
 * The store's copy of a checkpoint the home lacks (another machine wrote it), kept in the home; undefined when there
 * is none or the store cannot be reached: the attempt then starts over, as it would without a checkpoint.
 */
async function fetchCheckpoint(slot: CheckpointSlot, file: string): Promise<Buffer | undefined> {
  const store = sharedStore();
  if (!store) return undefined;
  try {
    if (!(await store.getToFile(checkpointKey(slot), file, storeCall()))) return undefined;
    return await fs.promises.readFile(file);
  } catch {
    return undefined;
  }
}

/** True when the attempt has a checkpoint file (readable or not) in the home. */
export function hasCheckpoint(slot: CheckpointSlot): boolean {
  return fs.existsSync(checkpointPath(slot));
}

/**
 * Deletes an experiment's checkpoints: those of one attempt, or (attempt omitted) all of them and their folder.
 * Best-effort by design: a checkpoint that could not be deleted is collected by `rankwright gc` later, and must
 * never fail the run it belonged to.
 */
export async function deleteCheckpoints(slot: Pick<CheckpointSlot, 'campaignId' | 'experimentId'> & { attempt?: number }): Promise<void> {
  const dir = experimentCheckpointsDir(slot);
  const files = slot.attempt === undefined ? null : [path.basename(checkpointPath({ ...slot, attempt: slot.attempt }))];
  const names = files ?? (await fs.promises.readdir(dir).catch(() => [] as string[]));
  await Promise.all(names.map((n) => fs.promises.rm(path.join(dir, n), { force: true }).catch(() => {})));
  // The folder goes when nothing is left in it (a concurrent attempt's file keeps it).
  await fs.promises.rmdir(dir).catch(() => {});
  await fs.promises.rmdir(path.dirname(dir)).catch(() => {});
  await deleteShared(slot, (name) => files === null || files.includes(name));
}

/** Deletes the store's copies of an experiment's checkpoints whose file name `chosen` picks; best-effort. */
async function deleteShared(slot: Pick<CheckpointSlot, 'campaignId' | 'experimentId'>, chosen: (name: string) => boolean): Promise<void> {
  const store = sharedStore();
  if (!store) return;
  const prefix = experimentKey(slot);
  try {
    for await (const o of store.list(prefix, storeCall())) if (chosen(o.key.slice(prefix.length))) await store.delete(o.key, storeCall());
  } catch {
    // An orphan in the store, never a failed run: nothing resumes from an ended run's checkpoint.
  }
}

/** Deletes every checkpoint of the experiment except the given attempt's: earlier attempts trained another config. */
export async function deleteOtherAttempts(slot: CheckpointSlot): Promise<void> {
  const keep = path.basename(checkpointPath(slot));
  const dir = experimentCheckpointsDir(slot);
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n !== keep).map((n) => fs.promises.rm(path.join(dir, n), { force: true }).catch(() => {})));
  await deleteShared(slot, (name) => name !== keep);
}

async function writeAll(handle: fs.promises.FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.byteLength;) {
    const { bytesWritten } = await handle.write(bytes, at, bytes.byteLength - at);
    at += bytesWritten;
  }
}

function safeId(id: string, what: string): string {
  const checked = SafeId.safeParse(id);
  if (!checked.success) throw new Error(`invalid ${what} id ${JSON.stringify(id)}: ${describeIssues(checked.error).join('; ')}`);
  return id;
}
