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
