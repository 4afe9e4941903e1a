import { inspect } from 'node:util';
import type { Writable } from 'node:stream';
import { isDiskFull } from '../store/disk-space';

let installed = false;

/**
 * A stray rejection from a side task (a best-effort write, a library's cleanup) must not take down a worker that
 * is running other activities: it is logged with its stack, as the bug it is, and the worker keeps serving.
 * Uncaught exceptions still end the process (after one, its state is unknown); Temporal reschedules its work.
 * Its own log output can't end it either (guardOutputStreams). Kept apart from main.ts so that it loads without the
 * Temporal worker.
 */
export function installProcessGuards(log: (message: string) => void = (message) => console.error(message)): void {
  if (installed) return;
  installed = true;
  guardOutputStreams();
  process.on('unhandledRejection', (reason) => {
    const details = reason instanceof Error ? inspect(reason) : `non-Error rejection value: ${inspect(reason)}`;
    log(`rankwright worker: unhandled promise rejection (a bug in a side task; the worker keeps serving):\n${details}`);
  });
}

export interface OutputGuardOptions {
  /**
   * Called when the reader of stdout/stderr went away (EPIPE): a short command (`rankwright status --json | head`)
   * stops quietly; left out, a long-running process (a worker, the HTTP service) drops its output and keeps serving.
   */
  onBrokenPipe?: () => void;
}

const guarded = new WeakSet<Writable>();

/**
 * A process's own log lines must never kill it. With stdout or stderr redirected to a file on a disk that fills, a
 * write fails with ENOSPC, and Node emits that as an 'error' event on process.stdout which, unheard, ends the process
 * (the worker crash of issue 23). Here:
 *
 * - a line that meets a full disk (or quota) is dropped, and the stream stays usable: once space returns, logging
 *   resumes with one line saying how many were lost (a stream that emitted 'error' would stay broken for good);
 * - a reader that went away (EPIPE) calls `onBrokenPipe`, or is ignored;
 * - any other write error (EIO, EBADF…) is ignored: there is nowhere left to report it, and losing a log line is
 *   always better than losing the process and the work it serves.
 *
 * Idempotent per stream (the CLI entry and the worker both install it).
 */
export function guardOutputStreams(options: OutputGuardOptions = {}, streams: Writable[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if (guarded.has(stream)) continue;
    guarded.add(stream);
    dropLinesWhileDiskFull(stream);
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err?.code === 'EPIPE') options.onBrokenPipe?.();
    });
  }
}

type WriteOne = (chunk: unknown, encoding: BufferEncoding, callback: (err?: Error | null) => void) => void;

/**
 * Wraps the stream's low-level write (`_write`: what fs.SyncWriteStream, used for a redirect to a file, and sockets
 * implement) so that a disk-full failure completes the write as dropped instead of failing it: no 'error' event, no
 * destroyed stream. The first write that succeeds after drops is followed by a note counting them.
 */
function dropLinesWhileDiskFull(stream: Writable): void {
  const target = stream as unknown as { _write?: WriteOne };
  const original = target._write;
  if (typeof original !== 'function') return;
  let dropped = 0;
  target._write = function (this: Writable, chunk, encoding, callback) {
    original.call(this, chunk, encoding, (err) => {
      if (err && isDiskFull(err)) {
        dropped++;
        return callback();
      }
      if (err || dropped === 0) return callback(err);
      const note = `rankwright: ${dropped} earlier log write${dropped === 1 ? ' was' : 's were'} dropped: the disk was full\n`;
      dropped = 0;
      original.call(this, Buffer.from(note), 'utf8', () => callback());
    });
  };
}
