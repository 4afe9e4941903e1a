import type { CampaignEvent } from '../../contracts';

/**
 * Where campaign events are kept, behind one interface: JSONL files in the home (the default, store/event-log.ts) or
 * the `campaign_events` table of the insights database when RANKWRIGHT_DATABASE_URL names a PostgreSQL server
 * (sql-event-store.ts), so every machine of a fleet reads the same log. The store keeps events as the JSON text they
 * were written as; validating them on the way in and parsing them tolerantly on the way out is event-log.ts's job.
 */

export interface AppendResult {
  appended: number;
  /** Events whose eventId was already in the log (a retried activity). */
  skipped: number;
}

export interface FollowStoreOptions {
  /** Deliver the lines already stored first. */
  fromStart: boolean;
  /** How often to look for new lines, in ms. */
  intervalMs: number;
}

export interface EventStore {
  /** Where one campaign's events are, for messages: its file, or the database (its URL without a password). */
  where(campaignId: string): string;
  /**
   * Appends one campaign's already validated events in their order, skipping eventIds it already holds (and repeats
   * within the batch), whichever process or machine appended them. The ids are checked by the caller.
   */
  append(campaignId: string, events: CampaignEvent[]): Promise<AppendResult>;
  /**
   * The campaign's events as the JSON texts they were stored as, in append order; undefined when it has none. Entry
   * i is line i + 1 of the log (a file's blank lines are kept as empty entries so that numbers match the file).
   */
  lines(campaignId: string): Promise<string[] | undefined>;
  /** Every campaign with a log, sorted. */
  campaignIds(): Promise<string[]>;
  /**
   * Calls `onLines` with each run of complete lines appended after those it delivered (their first line number too),
   * until `signal` aborts; resolves then.
   */
  follow(campaignId: string, onLines: (lines: string[], firstLine: number) => void, signal: AbortSignal, opts: FollowStoreOptions): Promise<void>;
}
