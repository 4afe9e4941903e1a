import type { FailureClass, FailureReport, TrainingProgress } from '../contracts';

/**
 * A classified training failure. Activities turn it into a FailureReport for the triage agent instead of letting the
 * worker crash: `diverged` (NaN/Inf or exploding loss), `resource` (memory budget), `bad-data` (malformed input).
 */
export class TrainingFailure extends Error {
  readonly failureClass: FailureClass;
  lastProgress: TrainingProgress[];

  constructor(failureClass: FailureClass, message: string, lastProgress: TrainingProgress[] = []) {
    super(message);
    this.name = 'TrainingFailure';
    this.failureClass = failureClass;
    this.lastProgress = lastProgress;
  }

  toReport(): FailureReport {
    return {
      failureClass: this.failureClass,
      message: this.message.length > 4000 ? this.message.slice(0, 3997) + '...' : this.message,
      lastProgress: this.lastProgress.slice(-50),
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
