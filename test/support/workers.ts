import { Worker } from '@temporalio/worker';
import type { CampaignStatus } from '../../contracts';
import { TASK_QUEUES } from '../../contracts/names';
import { createWorkers } from '../../workers/main';
import type { TemporalForTests } from './temporal';

/**
 * Runs workers on both task queues of the test namespace with the given (scripted) activities while `body` runs,
 * then shuts them down (and waits for them, so the next test starts clean).
 */
export async function withWorkers<T>(temporal: TemporalForTests, activities: object, body: () => Promise<T>): Promise<T> {
  const common = { connection: temporal.connection, namespace: temporal.namespace };
  const agent = await Worker.create({ ...common, taskQueue: TASK_QUEUES.agent, workflowBundle: temporal.bundle, activities });
  const training = await Worker.create({ ...common, taskQueue: TASK_QUEUES.training, activities });
  return runWhile([agent, training], body);
}

/** The product's own workers (real activities: trainer, sub-agents, stores) in the test namespace while `body` runs. */
export async function withRealWorkers<T>(temporal: TemporalForTests, body: () => Promise<T>): Promise<T> {
  const workers = await createWorkers({ connection: temporal.connection, namespace: temporal.namespace, workflowBundle: temporal.bundle });
  return runWhile(workers, body);
}

async function runWhile<T>(workers: Worker[], body: () => Promise<T>): Promise<T> {
  const running = Promise.all(workers.map((w) => w.run()));
  try {
    return await body();
  } finally {
    workers.forEach((w) => w.shutdown());
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

/**
 * Polls a campaign's status until it waits for a human: awaiting review, or halted for one (needs-review, e.g. when
 * nothing cleared the floor on data this small). Returns that status.
 */
export function inReview(
  client: { status(id: string): Promise<CampaignStatus> },
  id: string,
  timeoutMs: number,
  what = `${id} to await review`,
): Promise<CampaignStatus> {
  return eventually(
    async () => {
      const s = await client.status(id);
      return s.reviewState === 'awaiting-review' || s.reviewState === 'needs-review' ? s : undefined;
    },
    timeoutMs,
    what,
  );
}
