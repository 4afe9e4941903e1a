import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { eventLogPath } from '../../store/event-log';
import { closePostgresEventStores } from '../../store/events/sql-event-store';
import { insightsBackends } from './insights-backends';

/**
 * The event log's two stores for tests that must hold on both: the home's JSONL files (the default), and the
 * `campaign_events` table of a fresh database on the real PostgreSQL server of services-dev.sh, selected as a worker
 * selects it, through RANKWRIGHT_DATABASE_URL.
 */
export interface EventBackend {
  name: string;
  /** Points this process's event log at a new, empty store of this kind (call in `before`). */
  setUp(): Promise<void>;
  /** Back to the default (call in `after`). */
  tearDown(): Promise<void>;
  /** Stores `text` as the campaign's next entry without validating it: what a crash, or another version, leaves. */
  plant(campaignId: string, text: string): Promise<void>;
}

const postgres = insightsBackends.find((b) => b.name === 'PostgreSQL')!;

export const eventBackends: EventBackend[] = [
  {
    name: 'JSONL files',
    setUp: () => Promise.resolve(),
    tearDown: () => Promise.resolve(),
    plant: async (campaignId, text) => {
      const file = eventLogPath(campaignId);
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.appendFile(file, text + '\n');
    },
  },
  {
    name: 'PostgreSQL',
    setUp: async () => {
      process.env.RANKWRIGHT_DATABASE_URL = await postgres.fresh();
    },
    tearDown: async () => {
      await closePostgresEventStores();
      delete process.env.RANKWRIGHT_DATABASE_URL;
      await postgres.cleanup();
    },
    plant: async (campaignId, text) => {
      const client = new Client({ connectionString: process.env.RANKWRIGHT_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`INSERT INTO campaign_events (campaign_id, event_id, event) VALUES ($1, $2, $3)`, [
          campaignId,
          `planted-${randomUUID()}`,
          text,
        ]);
      } finally {
        await client.end();
      }
    },
  },
];
