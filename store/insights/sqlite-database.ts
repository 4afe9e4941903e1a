import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { asDiskFull } from '../disk-space';
import type { InsightsDatabase, SqlReads, SqlValue, SqlWrite } from './database';

/**
 * The insights database in one SQLite file (the default: `${RANKWRIGHT_HOME}/insights.sqlite`).
 *
 * Several worker processes may write at once: the file runs in WAL mode (readers never block the writer), every
 * connection waits (busy_timeout) instead of failing with SQLITE_BUSY, and a write takes the lock up front (BEGIN
 * IMMEDIATE). better-sqlite3 is synchronous, so a connection that waited for the lock while another connection of the
 * same process held it across an `await` would block the very thread that has to finish that write: writes to one
 * file are therefore queued per process first (fileWriteQueues).
 */

/** The tail of each file's queue of writes in this process, by resolved path. */
const fileWriteQueues = new Map<string, Promise<unknown>>();

function queueWrite<T>(file: string, write: () => Promise<T>): Promise<T> {
  const run = (fileWriteQueues.get(file) ?? Promise.resolve()).then(write, write);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  fileWriteQueues.set(file, tail);
  void tail.then(() => {
    if (fileWriteQueues.get(file) === tail) fileWriteQueues.delete(file);
  });
  return run;
}

/**
 * SQLite reports a full disk as SQLITE_FULL (and rolls the transaction back): it becomes a DiskFullError naming the
 * database's folder and the space left, so the recording activity's retries say what to free.
 */
function diskFullAware(file: string, err: unknown): unknown {
  return asDiskFull(err, 'the insights database', path.dirname(file));
}

function readsOn(db: Database.Database): SqlReads {
  return {
    all: <T>(sql: string, params: SqlValue[] = []) => Promise.resolve(db.prepare(sql).all(...params) as T[]),
    get: <T>(sql: string, params: SqlValue[] = []) => Promise.resolve(db.prepare(sql).get(...params) as T | undefined),
  };
}

export class SqliteInsightsDatabase implements InsightsDatabase {
  readonly dialect = 'sqlite';
  readonly types = { real: 'REAL', integer: 'INTEGER', serialKey: 'INTEGER PRIMARY KEY AUTOINCREMENT' };
  private readonly reads: SqlReads;

  private constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    this.reads = readsOn(db);
  }

  /** Opens (creating the file and its folder when needed) the database in `file`. */
  static open(file: string): SqliteInsightsDatabase {
    const resolved = path.resolve(file);
    try {
      fs.mkdirSync(path.dirname(resolved), { recursive: true });
      const db = new Database(resolved);
      try {
        // busy_timeout first: switching to WAL itself needs the lock another process may hold.
        db.pragma('busy_timeout = 10000');
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      } catch (err) {
        db.close();
        throw err;
      }
      return new SqliteInsightsDatabase(db, resolved);
    } catch (err) {
      throw diskFullAware(resolved, err);
    }
  }

  all<T>(sql: string, params?: SqlValue[]): Promise<T[]> {
    return this.reads.all<T>(sql, params);
  }

  get<T>(sql: string, params?: SqlValue[]): Promise<T | undefined> {
    return this.reads.get<T>(sql, params);
  }

  write<T>(write: (tx: SqlWrite) => Promise<T>): Promise<T> {
    const tx: SqlWrite = {
      ...this.reads,
      run: (sql, params = []) => {
        this.db.prepare(sql).run(...params);
        return Promise.resolve();
      },
      exec: (script) => {
        this.db.exec(script);
        return Promise.resolve();
      },
      setSchemaVersion: (version) => {
        this.db.pragma(`user_version = ${Math.trunc(version)}`);
        return Promise.resolve();
      },
    };
    return queueWrite(this.location, async () => {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        try {
          const result = await write(tx);
          this.db.exec('COMMIT');
          return result;
        } catch (err) {
          // SQLITE_FULL may have rolled back already; ROLLBACK then has nothing to do.
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          throw err;
        }
      } catch (err) {
        throw diskFullAware(this.location, err);
      }
    });
  }

  schemaVersion(): Promise<number> {
    return Promise.resolve(this.db.pragma('user_version', { simple: true }) as number);
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}
