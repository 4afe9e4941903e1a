import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A write that met a full disk (or a filesystem quota). It names what was being written, where, and how much space
 * was left, so the failure a reviewer reads says what to free ("disk full writing a checkpoint under /data/rw: 0 MB
 * free"). `code` stays ENOSPC so that code which only looks at errno codes (and errors that cross a thread as plain
 * data) still recognise it.
 */
export class DiskFullError extends Error {
  readonly code = 'ENOSPC';
  constructor(
    readonly what: string,
    readonly dir: string,
    readonly freeBytes: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `disk full writing ${what} under ${dir}: ${freeBytes === undefined ? 'free space unknown' : `${Math.floor(freeBytes / 2 ** 20)} MB free`}`,
      options,
    );
    this.name = 'DiskFullError';
  }
}

/**
 * Error codes that mean "no space left": a full filesystem, an exhausted quota, SQLite's full database file, and
 * SQLite failing to grow its WAL-index (-shm) file, which is how opening a WAL database on a full disk fails (seen on
 * a full tmpfs: "disk I/O error", SQLITE_IOERR_SHMSIZE, for reads as well as writes).
 */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', 'SQLITE_IOERR_SHMSIZE']);

/** True for any error that says the disk (or quota) is full, including a DiskFullError rebuilt from plain data. */
export function isDiskFull(err: unknown): boolean {
  if (err instanceof DiskFullError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && DISK_FULL_CODES.has(code)) return true;
  return err instanceof Error && /\bENOSPC\b|no space left on device|database or disk is full|disk quota exceeded/i.test(err.message);
}

/** Bytes free to this process on the filesystem holding `dir` (its nearest existing ancestor); undefined if unknown. */
export function freeBytesAt(dir: string): number | undefined {
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    try {
      const st = fs.statfsSync(at);
      return Number(st.bavail) * Number(st.bsize);
    } catch {
      if (path.dirname(at) === at) return undefined;
    }
  }
}

/** Turns a disk-full error into a DiskFullError naming what and where; any other error is returned unchanged. */
export function asDiskFull(err: unknown, what: string, dir: string): unknown {
  if (err instanceof DiskFullError || !isDiskFull(err)) return err;
  return new DiskFullError(what, dir, freeBytesAt(dir), { cause: err });
}
