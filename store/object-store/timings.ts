import * as fs from 'node:fs';

/**
 * RANKWRIGHT_STORE_TIMINGS=FILE: the shared store appends one JSON line per call to FILE (what the load bench reads to
 * say how much of an experiment's time went to the store). Opt-in and behaviour-neutral: a line that cannot be written
 * is dropped, never a failed call. A line names the operation, the kind of key (its first segment: artifacts,
 * checkpoints), the bytes moved and the milliseconds the call took, retries included; never a key or a credential.
 */
export interface StoreCallTiming {
  op: 'put' | 'get' | 'head' | 'delete';
  kind: string;
  bytes: number;
  ms: number;
  ok: boolean;
}

export type StoreTimings = (call: StoreCallTiming) => void;

/** The recorder RANKWRIGHT_STORE_TIMINGS asks for, or undefined when it is unset (nothing is measured). */
export function storeTimingsFromEnv(env: NodeJS.ProcessEnv = process.env): StoreTimings | undefined {
  const file = env.RANKWRIGHT_STORE_TIMINGS?.trim();
  if (!file) return undefined;
  return (call) => {
    try {
      // One short line in append mode: lines from concurrent calls (or processes) never interleave.
      fs.appendFileSync(file, `${JSON.stringify(call)}\n`);
    } catch {
      // a measurement must never fail the store call it measures
    }
  };
}

/** The kind of a store key: its first segment ("artifacts/ab/abcd…" → "artifacts"). */
export function keyKind(key: string): string {
  return key.split('/', 1)[0] || 'other';
}

/** Runs `call` and records it (ok or not) with the bytes `bytesOf` reads from its result. */
export async function timed<T>(
  timings: StoreTimings | undefined,
  op: StoreCallTiming['op'],
  key: string,
  call: () => Promise<T>,
  bytesOf: (result: T) => number,
): Promise<T> {
  if (!timings) return call();
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const result = await call();
    timings({ op, kind: keyKind(key), bytes: bytesOf(result), ms: ms(), ok: true });
    return result;
  } catch (err) {
    timings({ op, kind: keyKind(key), bytes: 0, ms: ms(), ok: false });
    throw err;
  }
}
