import { Worker } from '@temporalio/worker';
import { TASK_QUEUES } from '../../contracts/names';
import type { TemporalForTests } from './temporal';

/**
 * Runs real workers on both task queues of the test namespace with the given activities while `body` runs,
 * then shuts them down (and waits for them, so the next test starts clean).
 */
export async function withWorkers<T>(temporal: TemporalForTests, activities: object, body: () => Promise<T>): Promise<T> {
  const common = { connection: temporal.connection, namespace: temporal.namespace };
  const agent = await Worker.create({ ...common, taskQueue: TASK_QUEUES.agent, workflowBundle: temporal.bundle, activities });
  const training = await Worker.create({ ...common, taskQueue: TASK_QUEUES.training, activities });
  const running = Promise.all([agent.run(), training.run()]);
  try {
    return await body();
  } finally {
    agent.shutdown();
    training.shutdown();
    await running;
  }
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 60_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}
