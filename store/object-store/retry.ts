import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Retries for a store that is briefly gone (restarting, a network blip, a 503 under load). The SDK's own retries
 * give up within seconds; a store restart takes longer. Transient failures are retried with backoff for a bounded
 * time (RANKWRIGHT_STORE_RETRY_SECONDS, default 120 s), then fail as StoreUnavailableError: an ordinary, retryable
 * error, so the Temporal activity that met it is retried again later and nothing is lost.
 */

/** Default time a store operation keeps retrying a transient failure. */
export const DEFAULT_RETRY_SECONDS = 120;
const FIRST_WAIT_MS = 250;
const MAX_WAIT_MS = 5_000;
/**
 * How often work that waits for the store says it is alive while one request is in flight. A store that is starting
 * up accepts connections before it answers, and the client gives up on a request only after 30 s of silence (its
 * idle timeout, s3-store.ts): longer than a training's 20 s heartbeat timeout, with no retry to heartbeat at.
 */
const IN_FLIGHT_ALIVE_MS = 5_000;

export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** RANKWRIGHT_STORE_RETRY_SECONDS, or the default; a bad value is refused by name. */
export function retrySecondsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.RANKWRIGHT_STORE_RETRY_SECONDS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_RETRY_SECONDS;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 86_400)
    throw new Error(`RANKWRIGHT_STORE_RETRY_SECONDS=${JSON.stringify(raw.slice(0, 40))} must be a number of seconds from 0 to 86400`);
  return seconds;
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'ServiceUnavailable', 'InternalError']);

/** Whether an error is the store (or the way to it) being briefly unavailable, as opposed to a wrong request. */
export function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
    if (typeof x.code === 'string' && TRANSIENT_CODES.has(x.code)) return true;
    if (typeof x.name === 'string' && TRANSIENT_NAMES.has(x.name)) return true;
    const status = x.$metadata?.httpStatusCode;
    if (typeof status === 'number' && (status >= 500 || status === 429 || status === 408)) return true;
    if (x.$retryable) return true;
    // Node's own words for a connection that broke mid-request, whatever wrapped it.
    if (typeof x.message === 'string' && /socket hang up|ECONNRESET|ECONNREFUSED|other side closed|premature close|aborted/i.test(x.message))
      return true;
  }
  return false;
}

const waiting = new AsyncLocalStorage<() => void>();

/**
 * Runs `body` so that `listener` is called whenever one of its store requests is about to wait for a retry, and every
 * few seconds while one is in flight. Work that must keep showing it is alive while the store is down or slow (a
 * training's heartbeats, every 20 s) uses it; the wait is bounded by the retry time and each request by the client's
 * timeouts, so a store that never comes back still fails the work. Scoped to `body`'s own async calls: another
 * activity's retries in the same process never heartbeat for this one.
 */
export function whileWaitingForStore<T>(listener: () => void, body: () => Promise<T>): Promise<T> {
  return waiting.run(listener, body);
}

export interface RetryOptions {
  /** What is being done, for the final message: "putting artifacts/ab/abcd… into s3://…". */
  what: string;
  /** How long to keep retrying transient failures. */
  seconds: number;
  /** Removes secrets from a message before it is thrown (the store knows which). */
  scrub?: (text: string) => string;
}

/** Runs `op` until it succeeds, fails for good, or transient failures have lasted `seconds`. */
export async function withRetries<T>(op: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const scrub = opts.scrub ?? ((t: string) => t);
  const deadline = Date.now() + opts.seconds * 1000;
  let wait = FIRST_WAIT_MS;
  let tries = 0;
  const alive = waiting.getStore();
  for (;;) {
    tries++;
    try {
      return await (alive ? aliveWhile(alive, op()) : op());
    } catch (err) {
      const why = scrub(describeError(err));
      if (!isTransient(err)) throw new Error(`${opts.what} failed: ${why}`, { cause: err });
      const left = deadline - Date.now();
      if (left <= 0)
        throw new StoreUnavailableError(
          `${opts.what} failed: the store was unavailable for ${opts.seconds} s (${tries} tries; last: ${why}); the activity will be retried`,
          { cause: err },
        );
      if (alive) callQuietly(alive);
      // The last wait is cut to the deadline, so one more try comes at the end of the retry time.
      await new Promise((r) => setTimeout(r, Math.min(wait, left)));
      wait = Math.min(MAX_WAIT_MS, wait * 2);
    }
  }
}

/** Awaits `request`, calling `alive` every IN_FLIGHT_ALIVE_MS until it settles. */
async function aliveWhile<T>(alive: () => void, request: Promise<T>): Promise<T> {
  const timer = setInterval(() => callQuietly(alive), IN_FLIGHT_ALIVE_MS);
  timer.unref();
  try {
    return await request;
  } finally {
    clearInterval(timer);
  }
}

function callQuietly(listener: () => void): void {
  try {
    listener();
  } catch {
    // a listener's failure is its own; the request and its retries go on
  }
}

/** One line for an SDK or network error: its code or name, its HTTP status, and its message. */
export function describeError(err: unknown): string {
  const x = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = x?.$metadata?.httpStatusCode;
  const label = x?.code ?? (x?.name && x.name !== 'Error' ? x.name : undefined);
  const message = (x?.message || String(err)).replace(/\s*\n\s*/g, '; ');
  return [label, status ? `HTTP ${status}` : undefined].filter(Boolean).join(', ') + (label || status ? ': ' : '') + message;
}
