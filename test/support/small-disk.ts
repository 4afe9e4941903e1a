import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A real small filesystem for full-disk tests: a tmpfs of a few MB mounted on a fresh folder (needs root, which this
 * project's test machines and CI have). Nothing is simulated: writes on it fail with the kernel's own ENOSPC.
 */
export interface SmallDisk {
  /** Where it is mounted. */
  dir: string;
  /** Bytes free on it now. */
  freeBytes(): number;
  /**
   * Writes a ballast file until the filesystem refuses (ENOSPC), then gives back `leaveBytes` of it: 0 leaves the
   * disk completely full. Calling it again refills from what is free now.
   */
  fill(leaveBytes?: number): void;
  /** Deletes the ballast: the space is back. */
  empty(): void;
  /** Deletes the ballast and unmounts (lazily when a process still holds a file open on it). */
  unmount(): void;
}

export function mountSmallDisk(sizeMb: number, name: string): SmallDisk {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    fs.rmdirSync(dir);
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`full-disk tests mount a ${sizeMb} MB tmpfs and need root (mount -t tmpfs): ${why}`, { cause: err });
  }
  const ballast = path.join(dir, 'ballast');
  const freeBytes = () => {
    const st = fs.statfsSync(dir);
    return Number(st.bavail) * Number(st.bsize);
  };
  return {
    dir,
    freeBytes,
    fill(leaveBytes = 0) {
      const fd = fs.openSync(ballast, 'a');
      try {
        // Big blocks first, then single pages, so the last free page is taken too.
        for (const block of [Buffer.alloc(1 << 20), Buffer.alloc(4096)]) {
          for (;;) {
            try {
              fs.writeSync(fd, block);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        fs.closeSync(fd);
      }
      if (leaveBytes > 0) fs.truncateSync(ballast, Math.max(0, fs.statSync(ballast).size - leaveBytes));
    },
    empty() {
      fs.rmSync(ballast, { force: true });
    },
    unmount() {
      fs.rmSync(ballast, { force: true });
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
