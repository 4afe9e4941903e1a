import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { StoreCallTiming } from '../../store/object-store/timings';

/**
 * The load bench's fleet run (issue 25): the shared services a fleet's workers use (MinIO for the store, PostgreSQL
 * for events and insights, from services-dev.sh), each run in a place of its own (a key prefix, a fresh database), and
 * what the store's calls cost the workers (from RANKWRIGHT_STORE_TIMINGS files).
 */

const root = path.resolve(__dirname, '../..');
const FLEET_VARIABLES = [
  'RANKWRIGHT_DATABASE_URL',
  'RANKWRIGHT_STORE',
  'AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REGION',
];

export interface FleetServices {
  /** What each fleet worker gets: the store under this run's prefix, the run's own database. */
  env: Record<string, string>;
  /** Drops the run's database (the store's objects stay under their prefix, as a fleet's would). */
  close(): Promise<void>;
}

/**
 * Starts PostgreSQL and MinIO (idempotent; RANKWRIGHT_PG_PORT / RANKWRIGHT_MINIO_PORT pick the ports) with their data in
 * the checkout's home, as the tests do, and makes this run's database and key prefix: a fleet that starts from nothing,
 * like the one-worker run's fresh home (no insights to warm-start from).
 */
export async function startFleetServices(run: string): Promise<FleetServices> {
  const printed = execFileSync(path.join(root, 'services-dev.sh'), ['start'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RANKWRIGHT_HOME: path.join(root, '.rankwright') },
  });
  const env: Record<string, string> = {};
  for (const m of printed.matchAll(/^export ([A-Z_0-9]+)=(\S*)$/gm)) if (FLEET_VARIABLES.includes(m[1])) env[m[1]] = m[2];
  for (const name of FLEET_VARIABLES) if (!env[name]) throw new Error(`services-dev.sh start printed no ${name}:\n${printed}`);
  const server = env.RANKWRIGHT_DATABASE_URL;
  const database = `rankwright_load_${run.replace(/[^a-z0-9]/g, '')}`;
  const onServer = async (sql: string) => {
    const client = new Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await onServer(`CREATE DATABASE ${database}`);
  const url = new URL(server);
  url.pathname = `/${database}`;
  env.RANKWRIGHT_DATABASE_URL = url.toString();
  env.RANKWRIGHT_STORE = `${env.RANKWRIGHT_STORE.replace(/\/?$/, '/')}load-${run}/`;
  return { env, close: () => onServer(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) };
}

/** The store's calls in one run, summed over the workers' timing files. */
export interface StoreCalls {
  calls: number;
  failed: number;
  seconds: number;
  mib: number;
  /** By key kind and operation ("artifacts put", "checkpoints get"). */
  by: Record<string, { calls: number; seconds: number; mib: number }>;
}

export function readStoreCalls(files: string[]): StoreCalls {
  const total: StoreCalls = { calls: 0, failed: 0, seconds: 0, mib: 0, by: {} };
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const call = JSON.parse(line) as StoreCallTiming;
      const part = (total.by[`${call.kind} ${call.op}`] ??= { calls: 0, seconds: 0, mib: 0 });
      for (const sum of [total, part]) {
        sum.calls += 1;
        sum.seconds += call.ms / 1000;
        sum.mib += call.bytes / 2 ** 20;
      }
      if (!call.ok) total.failed += 1;
    }
  }
  return total;
}
