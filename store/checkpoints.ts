import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafeId, describeIssues } from '../contracts';
import { asDiskFull } from './disk-space';
import { rankwrightHome } from './home';

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

/**
 * Writes an attempt's checkpoint from its byte chunks (streamed: no copy of the model is assembled in memory) and
 * replaces the previous one. Returns the file and its size. A full disk fails with a DiskFullError naming the
 * folder, and leaves the previous checkpoint in place.
 */
export async function writeCheckpoint(slot: CheckpointSlot, parts: Uint8Array[]): Promise<{ path: string; bytes: number }> {
  const file = checkpointPath(slot);
  const dir = path.dirname(file);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let handle: fs.promises.FileHandle | undefined;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    handle = await fs.promises.open(tmp, 'w');
    const digest = createHash('sha256');
    let bytes = 0;
    for (const part of parts) {
      digest.update(part);
      await writeAll(handle, part);
      bytes += part.byteLength;
    }
    await writeAll(handle, digest.digest());
    await handle.close();
    handle = undefined;
    await fs.promises.rename(tmp, file);
    return { path: file, bytes: bytes + DIGEST_BYTES };
  } catch (err) {
    await handle?.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw asDiskFull(err, 'a checkpoint', dir);
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
    throw new CheckpointUnreadable(`checkpoint ${file} ${missing ? 'is missing' : `cannot be read (${(err as Error).message})`}`, { cause: err });
  }
  const body = bytes.subarray(0, Math.max(0, bytes.length - DIGEST_BYTES));
  const stored = bytes.subarray(body.length);
  if (stored.length !== DIGEST_BYTES || !createHash('sha256').update(body).digest().equals(stored))
    throw new CheckpointUnreadable(`checkpoint ${file} is damaged (its ${bytes.length} bytes do not match their checksum)`);
  return body;
}

/** True when the attempt has a checkpoint file (readable or not). */
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
}

/** Deletes every checkpoint of the experiment except the given attempt's: earlier attempts trained another config. */
export async function deleteOtherAttempts(slot: CheckpointSlot): Promise<void> {
  const keep = path.basename(checkpointPath(slot));
  const dir = experimentCheckpointsDir(slot);
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n !== keep).map((n) => fs.promises.rm(path.join(dir, n), { force: true }).catch(() => {})));
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
