import { inspect } from 'node:util';

let installed = false;

/**
 * A stray rejection from a side task (a best-effort write, a library's cleanup) must not take down a worker that
 * is running other activities: it is logged with its stack, as the bug it is, and the worker keeps serving.
 * Uncaught exceptions still end the process (after one, its state is unknown); Temporal reschedules its work.
 * Kept apart from main.ts so that it loads without the Temporal worker.
 */
export function installProcessGuards(log: (message: string) => void = (message) => console.error(message)): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => {
    const details = reason instanceof Error ? inspect(reason) : `non-Error rejection value: ${inspect(reason)}`;
    log(`rankwright worker: unhandled promise rejection (a bug in a side task; the worker keeps serving):\n${details}`);
  });
}
