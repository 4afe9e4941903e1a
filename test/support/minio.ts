import { execFile, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { devServicesEnv } from './dev-services';

/**
 * The real MinIO server that services-dev.sh runs, for the shared store's tests (started here when it is not
 * running, as ./insights-backends.ts does for PostgreSQL). Its data lives under this checkout's home; the port is
 * RANKWRIGHT_MINIO_PORT (services-dev.sh's default when unset), so concurrent checkouts can each run their own.
 * Each test gets its own key prefix in the bucket, so runs and tests never see each other's objects.
 */

const REPO_ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(REPO_ROOT, 'services-dev.sh');
const STORE_VARIABLES = ['RANKWRIGHT_STORE', 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const;

export type StoreVariables = Record<(typeof STORE_VARIABLES)[number], string>;

/** The variables `services-dev.sh start minio` prints, as the `eval` a developer runs would set them. */
function parseExports(printed: string): StoreVariables {
  const vars: Partial<StoreVariables> = {};
  for (const m of printed.matchAll(/^export ([A-Z_]+)=(\S*)$/gm))
    if ((STORE_VARIABLES as readonly string[]).includes(m[1])) vars[m[1] as keyof StoreVariables] = m[2];
  for (const name of STORE_VARIABLES) if (vars[name] === undefined) throw new Error(`services-dev.sh start minio printed no ${name}:\n${printed}`);
  return vars as StoreVariables;
}

let started: StoreVariables | undefined;

/** Starts the development MinIO when needed (idempotent) and returns its variables. */
export function minioForTests(): StoreVariables {
  if (started) return started;
  const printed = execFileSync(SCRIPT, ['start', 'minio'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: devServicesEnv() });
  started = parseExports(printed);
  return started;
}

/** Stops the server (an outage); what it stored stays on disk. */
export function stopMinio(): void {
  execFileSync(SCRIPT, ['stop', 'minio'], { stdio: ['ignore', 'ignore', 'inherit'], env: devServicesEnv() });
}

/** Starts it again without blocking this process's event loop (a request in flight keeps retrying meanwhile). */
export async function startMinioAsync(): Promise<void> {
  await promisify(execFile)(SCRIPT, ['start', 'minio'], { env: devServicesEnv() });
}

let prefixes = 0;

/**
 * Sets this process's store variables (as a worker started with them has them) to the dev MinIO under a key prefix
 * of the test's own; returns the variables set and the undo.
 */
export function useMinioStore(): { vars: StoreVariables; prefix: string; restore: () => void } {
  const vars = { ...minioForTests() };
  const prefix = `test-${process.pid}-${Date.now().toString(36)}-${prefixes++}/`;
  vars.RANKWRIGHT_STORE = `${vars.RANKWRIGHT_STORE.replace(/\/?$/, '/')}${prefix}`;
  const saved = Object.fromEntries(STORE_VARIABLES.map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  return {
    vars,
    prefix,
    restore() {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}
