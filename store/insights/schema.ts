import type { ColumnTypes, InsightsDatabase } from './database';

/**
 * The schema of the insights database and its versions, one list for SQLite and PostgreSQL. Every change is a new
 * entry appended to MIGRATIONS, never an edit of an old one: databases in the field are at every version, and
 * `migrate` brings each one forward from the version it records (SQLite: PRAGMA user_version). A database newer than
 * this code is refused rather than written with a schema it does not know.
 *
 * A migration is SQL both dialects run; the column types whose names differ come from `t` (database.ts ColumnTypes),
 * so SQLite's text of each migration is exactly what it was before PostgreSQL was supported.
 */

/** Schema migrations, applied in order; the database records how many have run. Append only. */
const MIGRATIONS: ((t: ColumnTypes) => string)[] = [
  (t) => `CREATE TABLE experiments (
     experiment_id        TEXT PRIMARY KEY,
     campaign_id          TEXT,
     phase                TEXT NOT NULL,
     data_fingerprint     TEXT NOT NULL,
     family               TEXT NOT NULL,
     config               TEXT NOT NULL,
     canonical_key        TEXT NOT NULL,
     technique            TEXT,
     hypothesis_title     TEXT,
     hypothesis_rationale TEXT,
     parents              TEXT NOT NULL DEFAULT '[]',
     status               TEXT NOT NULL,
     metrics              TEXT,
     ne                   ${t.real},
     ne_std_err           ${t.real},
     relative_ne_change   ${t.real},
     outcome              TEXT NOT NULL CHECK (outcome IN ('won','lost','neutral','failed')),
     failure_class        TEXT,
     failure_fix          TEXT,
     train_seconds        ${t.real} NOT NULL,
     model_bytes          ${t.integer} NOT NULL,
     artifact             TEXT,
     recorded_at          TEXT NOT NULL
   );
   CREATE INDEX experiments_by_data ON experiments (data_fingerprint, canonical_key);
   CREATE INDEX experiments_by_campaign ON experiments (campaign_id, recorded_at);
   CREATE TABLE data_sets (
     data_fingerprint TEXT PRIMARY KEY,
     traits           TEXT NOT NULL
   );`,
  // v2: remedies — which retry turned a failure class into a success (or failed again), so triage can look it up.
  (t) => `CREATE TABLE remedies (
     experiment_id       TEXT NOT NULL,
     from_attempt        ${t.integer} NOT NULL,
     to_attempt          ${t.integer} NOT NULL,
     campaign_id         TEXT,
     data_fingerprint    TEXT NOT NULL,
     family              TEXT NOT NULL,
     failure_class       TEXT NOT NULL,
     outcome             TEXT NOT NULL CHECK (outcome IN ('worked','failed')),
     failing_config      TEXT NOT NULL,
     fixed_config        TEXT NOT NULL,
     changes             TEXT NOT NULL,
     change_key          TEXT NOT NULL,
     learning_rate       ${t.real},
     learning_rate_ratio ${t.real},
     gradient_clip       ${t.real},
     hash_bits           ${t.integer},
     embedding_dim       ${t.integer},
     batch_size          ${t.integer},
     attempts            ${t.integer} NOT NULL,
     recorded_at         TEXT NOT NULL,
     PRIMARY KEY (experiment_id, from_attempt, to_attempt)
   );
   CREATE INDEX remedies_by_class ON remedies (failure_class, family, data_fingerprint);`,
  // v3: campaign events, for a fleet whose event log is in PostgreSQL (store/events/sql-event-store.ts). `seq` keeps
  // the order of appends; the unique pair makes an append idempotent by eventId. A home's SQLite database has the
  // table too (one schema for both) but leaves it empty: a home's events are its JSONL files.
  (t) => `CREATE TABLE campaign_events (
     seq         ${t.serialKey},
     campaign_id TEXT NOT NULL,
     event_id    TEXT NOT NULL,
     event       TEXT NOT NULL,
     UNIQUE (campaign_id, event_id)
   );
   CREATE INDEX campaign_events_by_campaign ON campaign_events (campaign_id, seq);`,
];

export const INSIGHTS_SCHEMA_VERSION = MIGRATIONS.length;

/** One `experiments` row as the store reads it (`SELECT *`): a migration that adds a column the store reads adds it here. */
export interface SqlRow {
  experiment_id: string;
  campaign_id: string | null;
  phase: string;
  data_fingerprint: string;
  family: string;
  config: string;
  canonical_key: string;
  technique: string | null;
  hypothesis_title: string | null;
  hypothesis_rationale: string | null;
  parents: string;
  status: string;
  metrics: string | null;
  ne_std_err: number | null;
  relative_ne_change: number | null;
  outcome: string;
  failure_class: string | null;
  failure_fix: string | null;
  train_seconds: number;
  model_bytes: number;
  artifact: string | null;
  recorded_at: string;
}

/** One `remedies` row as the store reads it (`SELECT *`). */
export interface RemedySqlRow {
  experiment_id: string;
  from_attempt: number;
  to_attempt: number;
  campaign_id: string | null;
  data_fingerprint: string;
  family: string;
  failure_class: string;
  outcome: 'worked' | 'failed';
  failing_config: string;
  fixed_config: string;
  changes: string;
  change_key: string;
  learning_rate: number | null;
  learning_rate_ratio: number | null;
  gradient_clip: number | null;
  hash_bits: number | null;
  embedding_dim: number | null;
  batch_size: number | null;
  attempts: number;
  recorded_at: string;
}

/**
 * Creates or upgrades the schema; safe when several processes (or machines) open the same database at once. `to`
 * (tests: a database as an older Rankwright left it) stops at that version.
 */
export async function migrate(db: InsightsDatabase, to: number = MIGRATIONS.length): Promise<void> {
  const refuseNewer = (version: number) => {
    if (version > MIGRATIONS.length) {
      throw new Error(
        `insights database schema v${version} is newer than this Rankwright (v${MIGRATIONS.length}); upgrade Rankwright (database: ${db.location})`,
      );
    }
  };
  const seen = await db.schemaVersion();
  refuseNewer(seen);
  // Most opens find the schema current: they need not wait for the write lock.
  if (seen === to) return;
  await db.write(async (tx) => {
    // Read again under the write lock: a process that migrated meanwhile is seen here, not re-applied.
    const version = await db.schemaVersion();
    refuseNewer(version);
    for (let v = version; v < to; v++) await tx.exec(MIGRATIONS[v](db.types));
    if (version < to) await tx.setSchemaVersion(to);
  });
}
