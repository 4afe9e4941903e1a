import { Context } from '@temporalio/activity';

/**
 * How often an activity that reports no progress of its own says it is still alive. The workflows give those
 * activities a heartbeat timeout (workflows/activity-proxies.ts, LIVENESS_TIMEOUT): when the worker running one dies
 * (SIGKILL, a lost machine), Temporal hands it to another worker within that timeout, instead of waiting out its
 * start-to-close timeout (10 to 30 minutes) with the campaign stalled.
 */
export const LIVENESS_INTERVAL_MS = 5_000;

/**
 * Runs `work` while heartbeating every `intervalMs` from this thread. The work itself is I/O (an LLM call, a
 * database read) or runs on a training thread, so this event loop stays free to send them; the heartbeats carry no
 * details (these activities resume nothing). Outside an activity (a direct call in a test) it just runs `work`.
 */
export async function whileAlive<T>(work: () => Promise<T>, intervalMs = LIVENESS_INTERVAL_MS): Promise<T> {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return work();
  }
  const timer = setInterval(() => ctx.heartbeat(), intervalMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
