/**
 * The one SQL interface the insights store talks to, whichever database holds the insights: SQLite in the home for one
 * machine (sqlite-database.ts), PostgreSQL for a fleet (postgres-database.ts). It is async because a server is; the
 * store's queries and migrations are written once, in the SQL both dialects share, with `?` placeholders.
 */

/** What a query binds: the store keeps JSON as text, so these are all the values it needs. */
export type SqlValue = string | number | null;

/** Reads (inside a write, on the write's own transaction, so they see what it wrote). */
export interface SqlReads {
  /** Every row of a SELECT. */
  all<T>(sql: string, params?: SqlValue[]): Promise<T[]>;
  /** The first row of a SELECT, or undefined. */
  get<T>(sql: string, params?: SqlValue[]): Promise<T | undefined>;
}

/** Inside a write, and only there: statements change the database in the write's transaction. */
export interface SqlWrite extends SqlReads {
  /** A statement whose rows are not read (INSERT, UPDATE). */
  run(sql: string, params?: SqlValue[]): Promise<void>;
  /** Several statements without parameters (a migration). */
  exec(script: string): Promise<void>;
  setSchemaVersion(version: number): Promise<void>;
}

/** Column types whose names differ between the dialects; a migration is written as a function of them. */
export interface ColumnTypes {
  /** A 64-bit float (SQLite's REAL is one; PostgreSQL's REAL is 32-bit, so there it is DOUBLE PRECISION). */
  real: string;
  /** A 64-bit integer (SQLite's INTEGER is one; PostgreSQL's is 32-bit, so there it is BIGINT). */
  integer: string;
  /** A primary key numbered in insertion order (SQLite: INTEGER PRIMARY KEY AUTOINCREMENT, PostgreSQL: BIGSERIAL). */
  serialKey: string;
}

export interface WriteOptions {
  /**
   * What the write serialises on: writes naming the same lock run one at a time (default: the one lock of all
   * insights writes). PostgreSQL takes a transaction-scoped advisory lock of this name, so writes to unrelated things
   * (two campaigns' events) do not queue behind each other; SQLite has one write lock for its whole file anyway.
   */
  lock?: string;
}

export interface InsightsDatabase extends SqlReads {
  readonly dialect: 'sqlite' | 'postgres';
  readonly types: ColumnTypes;
  /** Where the insights live, for messages: a file path, or a URL without its password. */
  readonly location: string;
  /**
   * Runs `write` in one transaction that holds the database's write lock from its first statement: one writer at a
   * time, from any number of processes or machines, so a read-merge-write (data traits) never loses the other
   * writer's part. Rolled back when `write` throws.
   */
  write<T>(write: (tx: SqlWrite) => Promise<T>, opts?: WriteOptions): Promise<T>;
  /** How many migrations the database has run (0 for an empty one). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
