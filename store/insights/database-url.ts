import * as path from 'node:path';
import { rankwrightHome } from '../home';

/**
 * Where the insights live. RANKWRIGHT_DATABASE_URL (postgres://…) selects a PostgreSQL server shared by a fleet;
 * without it, SQLite in the home. The URL may carry a password: it is read from the environment of the worker or
 * CLI process only, never passed in workflow input, and only its redacted form (redactedDatabaseUrl) is ever printed.
 */

export type InsightsLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

const POSTGRES_SCHEMES = ['postgres:', 'postgresql:'];

function isDatabaseUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

/**
 * `location` (a SQLite file path or a postgres:// URL) when given, else RANKWRIGHT_DATABASE_URL, else
 * `${RANKWRIGHT_HOME}/insights.sqlite`. A URL of another kind is refused by name, without echoing it.
 */
export function insightsLocation(location?: string): InsightsLocation {
  const chosen = location ?? (process.env.RANKWRIGHT_DATABASE_URL || undefined);
  if (chosen === undefined) return { kind: 'sqlite', file: path.join(rankwrightHome(), 'insights.sqlite') };
  const from = location === undefined ? 'RANKWRIGHT_DATABASE_URL' : 'the insights database location';
  // A path in the variable is a mistake, not a SQLite file: the home's file is the default, and a URL was meant.
  if (location === undefined && !isDatabaseUrl(chosen)) throw new Error(`${from} must be a postgres:// URL; unset it for SQLite in the home`);
  if (!isDatabaseUrl(chosen)) return { kind: 'sqlite', file: chosen };
  let url: URL;
  try {
    url = new URL(chosen);
  } catch {
    throw new Error(`${from} is not a valid URL (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)`);
  }
  if (!POSTGRES_SCHEMES.includes(url.protocol)) {
    throw new Error(`${from} has scheme '${url.protocol}': only postgres:// (or postgresql://) is supported; unset it for SQLite in the home`);
  }
  if (!url.hostname && !url.searchParams.get('host')) throw new Error(`${from} names no host (expected postgres://USER@HOST[:PORT]/DATABASE)`);
  return { kind: 'postgres', url: chosen };
}

/** Query parameters node-postgres reads a secret from (a password may be given there instead of before the @). */
const SECRET_PARAMS = ['password', 'sslpassword'];

/** The URL with its password (wherever it is given) replaced by ***, for messages and logs. */
export function redactedDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of SECRET_PARAMS) if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***');
    return parsed.toString();
  } catch {
    return '(an unparseable database URL)';
  }
}

/** The secrets a URL carries, decoded, so a message that quotes one can be scrubbed of it. */
export function databaseUrlSecrets(url: string): string[] {
  try {
    const parsed = new URL(url);
    const secrets = [decodeURIComponent(parsed.password), ...SECRET_PARAMS.map((name) => parsed.searchParams.get(name) ?? '')];
    return secrets.filter((s) => s.length > 0);
  } catch {
    return [];
  }
}
