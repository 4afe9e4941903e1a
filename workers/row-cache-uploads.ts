import { rowCacheUploadsInFlight, rowCacheUploadsSettled } from '../ranking/data/shared-row-cache';
import type { TrainingPool } from './training-pool';

/**
 * A worker stopping gracefully (SIGTERM, Ctrl-C) waits for the row caches it is still sharing through the store: a
 * cache parsed by a training uploads in the background after the training ends, and the process exiting would cut
 * it off, so another machine would parse the file again. The wait is bounded, and said on stderr; a SIGKILL just
 * loses the share (the store never sees a manifest for a cut-off upload, so nothing half-written is used).
 */

/** How long a stopping worker waits for its uploads by default. */
export const ROW_CACHE_UPLOADS_WAIT_MS = 30_000;

export interface WaitForUploadsOptions {
  /** The training pool whose threads may be uploading (none: only this thread's uploads). */
  pool?: TrainingPool;
  limitMs?: number;
  /** Where the lines go (default stderr). */
  log?: (line: string) => void;
}

/**
 * Waits until no row-cache upload is in flight in this thread or the pool's threads, or `limitMs` passed; says on
 * `log` what it waits for and how it ended (nothing when there was nothing to wait for). Returns how many uploads were
 * still in flight when it gave up (0: all ended, shared or given up on their own).
 */
export async function waitForRowCacheUploads(opts: WaitForUploadsOptions = {}): Promise<number> {
  const limitMs = opts.limitMs ?? ROW_CACHE_UPLOADS_WAIT_MS;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const inFlight = () => rowCacheUploadsInFlight() + (opts.pool?.rowCacheUploadsInFlight() ?? 0);
  const first = inFlight();
  if (first === 0) return 0;
  const seconds = limitMs / 1000;
  log(`rankwright worker: waiting up to ${seconds} s for ${plural(first, 'row-cache upload')} to the shared store to finish (a SIGKILL drops them)`);
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve();
    }, limitMs);
  });
  const settled = (async () => {
    await rowCacheUploadsSettled();
    while (opts.pool && opts.pool.rowCacheUploadsInFlight() > 0 && !timedOut) await Promise.race([opts.pool.rowCacheUploadsChange(), deadline]);
  })();
  await Promise.race([settled, deadline]);
  clearTimeout(timer);
  const left = inFlight();
  if (left === 0) log('rankwright worker: row-cache uploads finished');
  else
    log(
      `rankwright worker: stopped waiting after ${seconds} s: ${plural(left, 'row-cache upload')} dropped (other machines parse those files themselves)`,
    );
  return left;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
