import type { CampaignEvent } from '../../contracts';
import type { InsightsDatabase } from '../insights/database';
import { PostgresInsightsDatabase } from '../insights/postgres-database';
import { migrate } from '../insights/schema';
import type { AppendResult, EventStore, FollowStoreOptions } from './event-store';

/**
 * Campaign events in the insights database's `campaign_events` table (schema.ts v3): what a fleet uses when
 * RANKWRIGHT_DATABASE_URL names a PostgreSQL server, so that `rankwright events`, the report and retention read the same
 * log on every machine.
 *
 * An append runs in one transaction under a lock of its campaign: eventIds already stored are skipped (the unique
 * pair, ON CONFLICT DO NOTHING), and since the lock is held until commit, `seq` grows in commit order within a campaign.
 * A follower that asks for rows after the last seq it saw therefore never misses one that commits later with a lower
 * number. Appends to different campaigns do not wait for each other, nor for insights writes.
 */
export class SqlEventStore implements EventStore {
  constructor(private readonly db: InsightsDatabase) {}

  where(campaignId: string): string {
    return `campaign ${campaignId} in ${this.db.location}`;
  }

  append(campaignId: string, events: CampaignEvent[]): Promise<AppendResult> {
    return this.db.write(
      async (tx) => {
        let appended = 0;
        // Row by row, so that seq follows the batch's order (a multi-row INSERT does not promise it).
        for (const event of events) {
          const row = await tx.get<{ seq: number }>(
            `INSERT INTO campaign_events (campaign_id, event_id, event) VALUES (?, ?, ?)
             ON CONFLICT (campaign_id, event_id) DO NOTHING RETURNING seq`,
            [campaignId, event.eventId, JSON.stringify(event)],
          );
          if (row) appended++;
        }
        return { appended, skipped: events.length - appended };
      },
      { lock: `rankwright events of ${campaignId}` },
    );
  }

  async lines(campaignId: string): Promise<string[] | undefined> {
    const rows = await this.db.all<{ event: string }>(`SELECT event FROM campaign_events WHERE campaign_id = ? ORDER BY seq`, [campaignId]);
    return rows.length > 0 ? rows.map((r) => r.event) : undefined;
  }

  async campaignIds(): Promise<string[]> {
    const rows = await this.db.all<{ campaign_id: string }>(`SELECT DISTINCT campaign_id FROM campaign_events`);
    return rows.map((r) => r.campaign_id).sort();
  }

  async follow(
    campaignId: string,
    onLines: (lines: string[], firstLine: number) => void,
    signal: AbortSignal,
    opts: FollowStoreOptions,
  ): Promise<void> {
    let lastSeq = 0;
    let delivered = 0;
    if (!opts.fromStart) {
      const end = await this.db.get<{ seq: number | null; n: number }>(
        `SELECT MAX(seq) AS seq, COUNT(*) AS n FROM campaign_events WHERE campaign_id = ?`,
        [campaignId],
      );
      lastSeq = Number(end?.seq ?? 0);
      delivered = Number(end?.n ?? 0);
    }
    while (!signal.aborted) {
      const rows = await this.db.all<{ seq: number; event: string }>(
        `SELECT seq, event FROM campaign_events WHERE campaign_id = ? AND seq > ? ORDER BY seq`,
        [campaignId, lastSeq],
      );
      if (rows.length > 0 && !signal.aborted) {
        lastSeq = Number(rows[rows.length - 1].seq);
        onLines(
          rows.map((r) => r.event),
          delivered + 1,
        );
        delivered += rows.length;
      }
      await pause(opts.intervalMs, signal);
    }
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** One open, migrated database per URL and process: workers append progress events every few seconds. */
const shared = new Map<string, Promise<SqlEventStore>>();

/** The event store in the PostgreSQL database at `url`, connected (and its schema migrated) on first use. */
export function postgresEventStore(url: string): Promise<SqlEventStore> {
  let store = shared.get(url);
  if (!store) {
    store = (async () => {
      const db = await PostgresInsightsDatabase.open(url);
      try {
        await migrate(db);
      } catch (err) {
        await db.close();
        throw err;
      }
      return new SqlEventStore(db);
    })();
    // A server that was down is tried again on the next append, not remembered as broken.
    void store.catch(() => shared.delete(url));
    shared.set(url, store);
  }
  return store;
}

/** Closes the databases postgresEventStore opened (tests, and a process that wants to end its connections now). */
export async function closePostgresEventStores(): Promise<void> {
  const stores = [...shared.values()];
  shared.clear();
  await Promise.all(stores.map(async (s) => (await s.catch(() => undefined))?.close()));
}
