import * as path from 'node:path';
import { diskFullInMessage, type DiskFull, type FailureClass, type FailureReport, type TrainingProgress } from '../contracts';
import { DiskFullError, freeBytesAt, isDiskFull } from '../store/disk-space';
import { rankwrightHome } from '../store/home';

/**
 * A classified training failure. Activities turn it into a FailureReport for the triage agent instead of letting the
 * worker crash: `diverged` (NaN/Inf or exploding loss), `resource` (memory budget, or a full disk: DiskFullFailure),
 * `bad-data` (malformed input).
 */
export class TrainingFailure extends Error {
  readonly failureClass: FailureClass;
  lastProgress: TrainingProgress[];
  /** Seconds the attempt trained before failing (set by trainExperiment; see FailureReport.trainSeconds). */
  trainSeconds?: number;

  constructor(failureClass: FailureClass, message: string, lastProgress: TrainingProgress[] = [], trainSeconds?: number) {
    super(message);
    this.name = 'TrainingFailure';
    this.failureClass = failureClass;
    this.lastProgress = lastProgress;
    if (trainSeconds !== undefined) this.trainSeconds = trainSeconds;
  }

  toReport(): FailureReport {
    return {
      failureClass: this.failureClass,
      message: this.message.length > 4000 ? this.message.slice(0, 3997) + '...' : this.message,
      lastProgress: this.lastProgress.slice(-50),
      ...(this.trainSeconds !== undefined ? { trainSeconds: this.trainSeconds } : {}),
    };
  }
}

/** What V8 and WebAssembly throw when memory runs out: catchable (a full JS heap is not; it ends the process). */
const OUT_OF_MEMORY =
  /array buffer allocation failed|invalid (typed )?array( buffer)? length|allocation failed|out of memory|could not allocate memory/i;

/**
 * A real out-of-memory error thrown while training (an ArrayBuffer or typed array the machine could not allocate),
 * classed `resource` so the retry policy tries a smaller model; undefined for any other error.
 */
export function resourceFailureOf(err: unknown, model: { family: string; hashBits: number; embeddingDim?: number }): TrainingFailure | undefined {
  if (!(err instanceof RangeError) || !OUT_OF_MEMORY.test(err.message)) return undefined;
  const size = `hashBits ${model.hashBits}${model.embeddingDim !== undefined ? ` and embeddingDim ${model.embeddingDim}` : ''}`;
  return new TrainingFailure('resource', `out of memory training ${model.family} with ${size}: ${err.message}`);
}

/**
 * A training whose write met a full disk (a checkpoint, the model, a row cache): class `resource`, but nothing is wrong
 * with the config. Its report carries `diskFull` (where, and the space left), so the workflow waits for space and
 * retries the same config instead of shrinking the model.
 */
export class DiskFullFailure extends TrainingFailure {
  constructor(
    message: string,
    readonly diskFull: DiskFull,
  ) {
    super('resource', message);
    this.name = 'DiskFullFailure';
  }

  override toReport(): FailureReport {
    return { ...super.toReport(), diskFull: this.diskFull };
  }
}

/**
 * The DiskFullFailure for an error that says the disk is full, or undefined for any other error. It reads a
 * DiskFullError thrown here, or one rebuilt from a training thread's message (only name, message and code cross a
 * thread); a bare ENOSPC that no store wrapped is named by its own path, else by `home` (RANKWRIGHT_HOME), measured now.
 */
export function diskFullFailureOf(err: unknown, home: string = rankwrightHome()): DiskFullFailure | undefined {
  if (err instanceof DiskFullFailure) return err;
  // A failure the engine classified keeps its class (its message may quote anything).
  if (err instanceof TrainingFailure || !isDiskFull(err)) return undefined;
  if (err instanceof DiskFullError) {
    const freeBytes = err.freeBytes === undefined ? undefined : Math.max(0, Math.floor(err.freeBytes));
    return new DiskFullFailure(err.message, { path: err.dir, ...(freeBytes === undefined ? {} : { freeBytes }) });
  }
  // A DiskFullError rebuilt from a thread's message: the free space it measured when the write failed, in whole MB.
  const message = err instanceof Error ? err.message : String(err);
  const worded = diskFullInMessage(message);
  if (worded) return new DiskFullFailure(message, worded);
  const errPath = (err as NodeJS.ErrnoException).path;
  const dir = typeof errPath === 'string' ? path.dirname(errPath) : home;
  const named = new DiskFullError('training output', dir, freeBytesAt(dir), { cause: err });
  return diskFullFailureOf(named, home);
}

/**
 * A malformed row in data that must have none (`strict`): bad data, with the one row's file, line and problem as the
 * whole message (`train.tsv:17: expected 40 tab-separated columns …, got 12`).
 */
export class BadRowFailure extends TrainingFailure {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super('bad-data', `${file}:${line}: ${problem} (strict: any bad row fails the run)`);
    this.name = 'BadRowFailure';
  }
}
