import { LocalFolderStore } from './local-store';
import type { ObjectStore } from './object-store';
import { retrySecondsFromEnv } from './retry';
import type { S3ObjectStore, S3StoreOptions } from './s3-store';
import { describeLocation, parseStoreUrl, storeLocation, type S3Location } from './store-location';

export { LocalFolderStore } from './local-store';
export { checkKey, type ObjectStore, type StoredObject } from './object-store';
export { StoreUnavailableError, isTransient, retrySecondsFromEnv, whileWaitingForStore } from './retry';
export type { S3ObjectStore } from './s3-store';
export { describeLocation, parseStoreUrl, storeLocation, type S3Location } from './store-location';

/**
 * The S3 store, loaded on first use: the SDK takes a while to load, and a process without RANKWRIGHT_STORE (every
 * CLI command on one machine) never needs it. (A static require, not import(): tsx's CommonJS hook must see it.)
 */
export function openS3Store(location: S3Location, opts: S3StoreOptions): S3ObjectStore {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose (see above)
  const { S3ObjectStore: Store } = require('./s3-store') as typeof import('./s3-store');
  return new Store(location, opts);
}

let shared: { configured: string; store: S3ObjectStore } | undefined;

/**
 * The fleet's shared store that RANKWRIGHT_STORE names, or undefined when it is unset (everything stays in the home).
 * One client per process and setting: its connections are reused by every artifact read and write.
 */
export function sharedStore(env: NodeJS.ProcessEnv = process.env): S3ObjectStore | undefined {
  const configured = [env.RANKWRIGHT_STORE, env.AWS_ENDPOINT_URL, env.AWS_ENDPOINT_URL_S3, env.AWS_REGION, env.RANKWRIGHT_STORE_RETRY_SECONDS].join(
    '\n',
  );
  if (shared?.configured === configured) return shared.store;
  const location = storeLocation(env);
  shared?.store.close();
  shared = undefined;
  if (!location) return undefined;
  shared = { configured, store: openS3Store(location, { retrySeconds: retrySecondsFromEnv(env), env }) };
  return shared.store;
}

/** A store named by a URL (`rankwright store migrate --to s3://…`), with the endpoint and credentials from `env`. */
export function openStoreUrl(url: string, env: NodeJS.ProcessEnv = process.env, from = '--to'): S3ObjectStore {
  return openS3Store(parseStoreUrl(url, env, from), { retrySeconds: retrySecondsFromEnv(env), env });
}

/** The home as an ObjectStore: what a migration copies from. */
export function homeStore(home: string): ObjectStore {
  return new LocalFolderStore(home);
}

/** How long a worker's start waits for its store (a restart rides through; a wrong endpoint is reported soon). */
const START_RETRY_SECONDS = 20;

/**
 * Worker start: a configured store must answer (within START_RETRY_SECONDS, riding out a restart) and let us in. Returns
 * what the worker's start line says about it; a bad setting or an unreachable store throws a message naming it.
 */
export async function checkSharedStore(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let store: S3ObjectStore | undefined;
  let retrySeconds: number;
  try {
    store = sharedStore(env);
    retrySeconds = Math.min(START_RETRY_SECONDS, retrySecondsFromEnv(env));
  } catch (err) {
    throw new Error(`the artifact store is misconfigured: ${(err as Error).message}`, { cause: err });
  }
  if (!store) return 'the home only (RANKWRIGHT_STORE unset)';
  try {
    await store.check(retrySeconds);
  } catch (err) {
    throw new Error(
      `the artifact store ${describeLocation(store.location)} (RANKWRIGHT_STORE) cannot be used: ${(err as Error).message.replace(/^reaching \S+( at \S+)? failed: /, '')}`,
      { cause: err },
    );
  }
  return store.description;
}
