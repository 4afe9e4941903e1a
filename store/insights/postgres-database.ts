import { Pool, types, type PoolClient } from 'pg';
import type { InsightsDatabase, SqlReads, SqlValue, SqlWrite, WriteOptions } from './database';
import { databaseUrlSecrets, redactedDatabaseUrl } from './database-url';

/**
 * The insights database on a PostgreSQL server (RANKWRIGHT_DATABASE_URL=postgres://…), shared by a fleet of workers.
 *
 * Writes are serialized across the fleet by a transaction-scoped advisory lock, the same guarantee SQLite's BEGIN
 * IMMEDIATE gives on one machine: the store's read-merge-write of data traits then never loses another worker's part,
 * and migrations run once however many workers start together.
 */

/**
 * The advisory lock an insights write holds: hashtext of its name, the same number on every worker. Without a name of
 * its own (WriteOptions.lock) a write holds the one lock of all insights writes.
 */
const WRITE_LOCK = `SELECT pg_advisory_xact_lock(hashtext($1))`;
const INSIGHTS_WRITES = 'rankwright insights writes';

/** Where the schema version lives (SQLite keeps it in PRAGMA user_version; PostgreSQL has no such slot). */
const VERSION_TABLE = 'rankwright_insights_schema';

/**
 * COUNT and SUM return BIGINT, which node-postgres hands back as a string (it may exceed 2^53); the store's counts
 * and byte sizes do not, and the store expects numbers as SQLite returns them.
 */
const INT8_OID = 20;
const parseTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : types.getTypeParser(oid, format as 'text')) as typeof types.getTypeParser,
};

/** The store writes `?` placeholders (both dialects' drivers read them from one text); PostgreSQL numbers them. */
function numberedPlaceholders(sql: string): string {
  let n = 0;
  let quoted = false;
  let out = '';
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out;
}

function readsOn(client: Pool | PoolClient): SqlReads {
  return {
    all: async <T>(sql: string, params: SqlValue[] = []) => (await client.query(numberedPlaceholders(sql), params)).rows as T[],
    get: async <T>(sql: string, params: SqlValue[] = []) => (await client.query(numberedPlaceholders(sql), params)).rows[0] as T | undefined,
  };
}

export class PostgresInsightsDatabase implements InsightsDatabase {
  readonly dialect = 'postgres';
  readonly types = { real: 'DOUBLE PRECISION', integer: 'BIGINT', serialKey: 'BIGSERIAL PRIMARY KEY' };
  private readonly reads: SqlReads;

  private constructor(
    private readonly pool: Pool,
    readonly location: string,
  ) {
    this.reads = readsOn(pool);
  }

  /** Connects to `url` and checks the server answers, so a wrong URL fails here with a clear reason. */
  static async open(url: string): Promise<PostgresInsightsDatabase> {
    const location = redactedDatabaseUrl(url);
    // allowExitOnIdle: a CLI command (or a worker that is done) exits once its queries are answered, instead of waiting
    // for idle connections to time out; the event log keeps one open database per process (store/event-log.ts).
    const pool = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000, types: parseTypes, allowExitOnIdle: true });
    // An idle connection the server dropped emits 'error' on the pool; unhandled, that would end the worker process.
    // The next query gets a fresh connection or fails with its own error, which is where it belongs.
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot reach the insights database at ${location}: ${scrubbed((err as Error).message, url)}`, { cause: err });
    }
    return new PostgresInsightsDatabase(pool, location);
  }

  all<T>(sql: string, params?: SqlValue[]): Promise<T[]> {
    return this.reads.all<T>(sql, params);
  }

  get<T>(sql: string, params?: SqlValue[]): Promise<T | undefined> {
    return this.reads.get<T>(sql, params);
  }

  async write<T>(write: (tx: SqlWrite) => Promise<T>, opts: WriteOptions = {}): Promise<T> {
    const client = await this.pool.connect();
    const tx: SqlWrite = {
      ...readsOn(client),
      run: async (sql, params = []) => {
        await client.query(numberedPlaceholders(sql), params);
      },
      exec: async (script) => {
        // Without parameters node-postgres sends the simple query protocol, which runs several statements.
        await client.query(script);
      },
      setSchemaVersion: async (version) => {
        await client.query(`CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (version INTEGER NOT NULL)`);
        await client.query(`DELETE FROM ${VERSION_TABLE}`);
        await client.query(`INSERT INTO ${VERSION_TABLE} (version) VALUES ($1)`, [version]);
      },
    };
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query(WRITE_LOCK, [opts.lock ?? INSIGHTS_WRITES]);
      const result = await write(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection is gone: the pool must not hand it out again
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async schemaVersion(): Promise<number> {
    const table = await this.reads.get<{ t: string | null }>(`SELECT to_regclass(?) AS t`, [VERSION_TABLE]);
    if (!table?.t) return 0;
    const row = await this.reads.get<{ version: number }>(`SELECT version FROM ${VERSION_TABLE}`);
    return row?.version ?? 0;
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}

/** A server's message should not quote a password, but if one ever did, it does not travel further from here. */
function scrubbed(message: string, url: string): string {
  return databaseUrlSecrets(url).reduce((text, secret) => text.split(secret).join('***'), message);
}
