import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CampaignEvent } from '../contracts';
import { FileEventStore, parseEventLine } from './event-log';
import { SqlEventStore } from './events/sql-event-store';
import type { InsightsDatabase, SqlValue } from './insights/database';
import { insightsLocation } from './insights/database-url';
import { PostgresInsightsDatabase } from './insights/postgres-database';
import { migrate } from './insights/schema';
import { SqliteInsightsDatabase } from './insights/sqlite-database';
import type { MigrationStep, StepResult } from './object-store/migrate-home';

/**
 * Moving a home's history into a fleet's PostgreSQL database, so that a team that started on one machine keeps it:
 * the campaign events of the home's JSONL files and the insights of its SQLite file. Artifacts are not copied here
 * (the shared artifact store is another step of `rankwright store migrate`).
 */

export interface MigrateDatabaseOptions {
  /** The home whose `events/*.jsonl` and `insights.sqlite` are copied; they stay there (see migrateDatabase). */
  home: string;
  /** The target: a postgres:// URL (the RANKWRIGHT_DATABASE_URL the fleet will use). */
  databaseUrl: string;
}

export interface CopyCount {
  copied: number;
  /** Already in the database (an earlier migration, or another machine): left as they are there. */
  alreadyThere: number;
}

export interface UnmigratedEvent {
  campaignId: string;
  /** 1-based line in the campaign's JSONL file. */
  line: number;
  message: string;
}

export interface MigrateDatabaseResult {
  /** The target, its password replaced by ***. */
  database: string;
  events: CopyCount & {
    /** Campaigns with an event log in the home. */
    campaigns: number;
    /** Lines that are not valid events of this Rankwright (a crash cut them short, a newer version wrote them): not copied. */
    skippedLines: UnmigratedEvent[];
  };
  /** Rows per insights table; undefined when the home has no insights database. */
  insights?: { experiments: CopyCount; dataSets: CopyCount; remedies: CopyCount };
}

/** Events per append transaction: a long log is copied in parts, each idempotent on its own. */
const EVENT_BATCH = 500;
/** The insights tables, by their name in the result: every column of the home's rows is copied. */
const INSIGHTS_TABLES = { experiments: 'experiments', dataSets: 'data_sets', remedies: 'remedies' } as const;

/**
 * Copies the campaign events (every `events/<campaignId>.jsonl`, validated like any append, in their order) and the
 * insights (`insights.sqlite`: experiments, data traits, remedies) of `home` into the PostgreSQL database at
 * `databaseUrl`, migrating its schema first. Idempotent: events are keyed by campaign and eventId and rows by their
 * primary keys, so a second run (or a run after a partial one) copies only what is missing, and what the database
 * already holds (written by another machine) is never overwritten, including a data set's traits there.
 *
 * The home's files stay where they are: the caller decides when the home stops being used (the fleet's processes then
 * set RANKWRIGHT_DATABASE_URL). The home's SQLite database is brought to the current schema if an older Rankwright
 * wrote it, as any open of it would. Returns what was copied, and the event lines that could not be.
 */
export async function migrateDatabase(opts: MigrateDatabaseOptions): Promise<MigrateDatabaseResult> {
  const target = insightsLocation(opts.databaseUrl);
  if (target.kind !== 'postgres') throw new Error('the database to migrate to must be a postgres:// URL');
  const home = path.resolve(opts.home);
  if (!fs.statSync(home, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`no home to migrate at ${home}`);

  const db = await PostgresInsightsDatabase.open(target.url);
  try {
    await migrate(db);
    const events = await copyEvents(new FileEventStore(home), new SqlEventStore(db));
    const insightsFile = path.join(home, 'insights.sqlite');
    const insights = fs.existsSync(insightsFile) ? await copyInsights(insightsFile, db) : undefined;
    return { database: db.location, events, insights };
  } finally {
    await db.close();
  }
}

async function copyEvents(from: FileEventStore, to: SqlEventStore): Promise<MigrateDatabaseResult['events']> {
  const result: MigrateDatabaseResult['events'] = { campaigns: 0, copied: 0, alreadyThere: 0, skippedLines: [] };
  for (const campaignId of await from.campaignIds()) {
    result.campaigns++;
    const valid: CampaignEvent[] = [];
    ((await from.lines(campaignId)) ?? []).forEach((line, i) => {
      if (!line.trim()) return;
      const parsed = parseEventLine(line);
      const problem =
        'problem' in parsed
          ? parsed.problem
          : parsed.event.campaignId !== campaignId
            ? `names campaign ${JSON.stringify(parsed.event.campaignId)}, not its log's`
            : undefined;
      if (problem) result.skippedLines.push({ campaignId, line: i + 1, message: problem });
      else if ('event' in parsed) valid.push(parsed.event);
    });
    for (let i = 0; i < valid.length; i += EVENT_BATCH) {
      const { appended, skipped } = await to.append(campaignId, valid.slice(i, i + EVENT_BATCH));
      result.copied += appended;
      result.alreadyThere += skipped;
    }
  }
  return result;
}

async function copyInsights(file: string, to: InsightsDatabase): Promise<NonNullable<MigrateDatabaseResult['insights']>> {
  const from = SqliteInsightsDatabase.open(file);
  try {
    await migrate(from);
    const counts = {} as NonNullable<MigrateDatabaseResult['insights']>;
    for (const [name, table] of Object.entries(INSIGHTS_TABLES) as [keyof typeof INSIGHTS_TABLES, string][]) {
      counts[name] = await copyTable(from, to, table);
    }
    return counts;
  } finally {
    await from.close();
  }
}

/** Copies the rows of `table` that `to` lacks (by primary key), in one transaction under the insights write lock. */
async function copyTable(from: InsightsDatabase, to: InsightsDatabase, table: string): Promise<CopyCount> {
  const rows = await from.all<Record<string, SqlValue>>(`SELECT * FROM ${table}`);
  if (rows.length === 0) return { copied: 0, alreadyThere: 0 };
  return to.write(async (tx) => {
    let copied = 0;
    for (const row of rows) {
      const columns = Object.keys(row);
      // The names come from the home's file: only plain column names of the schema reach the SQL text.
      const odd = columns.find((c) => !/^[a-z_]+$/.test(c));
      if (odd) throw new Error(`the home's insights table ${table} has a column ${JSON.stringify(odd)} this Rankwright does not know`);
      const inserted = await tx.get(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING RETURNING 1 AS copied`,
        Object.values(row),
      );
      if (inserted) copied++;
    }
    return { copied, alreadyThere: rows.length - copied };
  });
}

/**
 * The database as a step of `rankwright store migrate` (store/object-store/migrate-home.ts): events and insights
 * rows are counted together (rows have no size here), an event line that could not be copied is a failed item.
 */
export function databaseMigrationStep(databaseUrl: string): MigrationStep {
  return {
    name: 'events and insights',
    async run({ home }): Promise<StepResult> {
      const r = await migrateDatabase({ home, databaseUrl });
      const counts = [r.events, ...Object.values(r.insights ?? {})];
      return {
        step: 'events and insights',
        to: r.database,
        copied: { count: counts.reduce((n, c) => n + c.copied, 0), bytes: 0 },
        skipped: { count: counts.reduce((n, c) => n + c.alreadyThere, 0), bytes: 0 },
        failed: r.events.skippedLines.map((l) => ({ item: `events/${l.campaignId}.jsonl:${l.line}`, error: l.message })),
      };
    },
  };
}
