import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { devServicesEnv, SYSTEM_TMPDIR } from './dev-services';

/**
 * The insights database's two backends for tests that must hold on both: SQLite files in a temporary folder, and the
 * real PostgreSQL server that services-dev.sh runs (started here when it is not running, like temporal-dev.sh's
 * server in ./temporal.ts). Each test gets a new, empty database: a file, or a database created on the server and
 * dropped when the suite ends.
 */

const REPO_ROOT = path.resolve(__dirname, '../..');

export interface InsightsBackend {
  name: 'SQLite' | 'PostgreSQL';
  /** The location (file path or postgres:// URL) of a new, empty insights database. */
  fresh(): Promise<string>;
  /** Drops what fresh() made on a server (files go with the test home). */
  cleanup(): Promise<void>;
}

const sqlite: InsightsBackend = {
  name: 'SQLite',
  fresh: () => Promise.resolve(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rw-insights-')), 'insights.sqlite')),
  cleanup: () => Promise.resolve(),
};

let serverUrl: string | undefined;

/**
 * Where the server keeps its data: the repository's home, like the Temporal dev server's, unless PostgreSQL's own user
 * cannot enter the checkout (root runs the server as 'postgres', and a clone under a private folder such as /root is
 * closed to it): then a folder of this checkout's own under the system's temporary folder.
 */
function servicesEnv(): NodeJS.ProcessEnv {
  const env = devServicesEnv();
  const root = process.getuid?.() === 0;
  if (root && spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', REPO_ROOT]).status !== 0) {
    const checkout = createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12);
    env.RANKWRIGHT_SERVICES_DIR = path.join(SYSTEM_TMPDIR, `rankwright-services-${checkout}`);
  }
  return env;
}

/** The URL of the development server's `rankwright` database, starting the server when needed. */
export function postgresForTests(): string {
  if (serverUrl) return serverUrl;
  const printed = execFileSync(path.join(REPO_ROOT, 'services-dev.sh'), ['start', 'postgres'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: servicesEnv(),
  });
  const url = /RANKWRIGHT_DATABASE_URL=(\S+)/.exec(printed)?.[1];
  if (!url) throw new Error(`services-dev.sh start postgres printed no RANKWRIGHT_DATABASE_URL:\n${printed}`);
  serverUrl = url;
  return url;
}

const created: string[] = [];

async function onServer<T>(run: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: postgresForTests() });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Test databases a run that was killed before its cleanup left behind (their process is gone). */
async function dropAbandoned(client: Client): Promise<void> {
  const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'rankwright_test_%'`);
  for (const { datname } of rows) {
    const pid = Number(/^rankwright_test_(\d+)_/.exec(datname)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let swept = false;

const postgres: InsightsBackend = {
  name: 'PostgreSQL',
  async fresh() {
    if (!swept) {
      swept = true;
      await onServer(dropAbandoned);
    }
    // Names unique per process and test, so concurrent test runs on one server never share a database.
    const name = `rankwright_test_${process.pid}_${created.length}_${Date.now().toString(36)}`;
    await onServer((c) => c.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const url = new URL(postgresForTests());
    url.pathname = `/${name}`;
    return url.toString();
  },
  async cleanup() {
    const names = created.splice(0);
    if (!names.length) return;
    // FORCE: a connection a failed test left open must not keep its database alive.
    await onServer(async (c) => {
      for (const name of names) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
  },
};

export const insightsBackends: InsightsBackend[] = [sqlite, postgres];

/**
 * Points this process's activities, which open the insights database from the environment as a worker does, at a new
 * database of `backend`: the (test's own) home's SQLite file, or a fresh PostgreSQL database through
 * RANKWRIGHT_DATABASE_URL. Returns the undo.
 */
export async function insightsForActivities(backend: InsightsBackend): Promise<() => void> {
  if (backend.name === 'SQLite') return () => undefined;
  process.env.RANKWRIGHT_DATABASE_URL = await backend.fresh();
  return () => delete process.env.RANKWRIGHT_DATABASE_URL;
}
