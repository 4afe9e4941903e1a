import { ApplicationFailure, Context } from '@temporalio/activity';
import { isDiskFull } from '../store/disk-space';

/**
 * The activities a campaign cannot go on without (describing its data, designing a wave, triage, the evaluation)
 * wait out a full disk: their workflows retry them with backoff for up to 12 hours (a night: long enough for someone
 * to free space, or for retention to run). Any other error keeps the retry budget it always had: on its
 * `attempts`-th try it fails for good, instead of retrying all night. A non-retryable failure stays one.
 */
export async function waitingOutFullDisk<T>(attempts: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isDiskFull(err) || (err instanceof ApplicationFailure && err.nonRetryable)) throw err;
    const attempt = Context.current().info.attempt;
    if (attempt < attempts) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw ApplicationFailure.create({
      type: (err instanceof ApplicationFailure ? err.type : undefined) ?? (err instanceof Error ? err.name : 'Error'),
      message: `${message} (gave up after ${attempt} attempts)`,
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  }
}
