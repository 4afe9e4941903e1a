import * as fs from 'node:fs';
import * as path from 'node:path';
import { CampaignEvent, EVENT_SCHEMA_VERSION, SafeId, describeIssues, type NewCampaignEvent } from '../contracts';
import { rankwrightHome } from './home';

/**
 * The campaign event log: one JSON CampaignEvent per line in `${RANKWRIGHT_HOME}/events/<campaignId>.jsonl`.
 *
 * Appends are idempotent by eventId, across retries and across processes: writers serialise on a lock file, and
 * before appending each writer catches its in-process index of eventIds up with whatever other processes appended
 * since it last looked. Readers never crash on a bad line: they report it with its line number and go on.
 */

export interface EventLogProblem {
  /** 1-based line number in the file. */
  line: number;
  message: string;
}

export interface EventLogRead {
  events: CampaignEvent[];
  problems: EventLogProblem[];
}

export interface AppendResult {
  appended: number;
  /** Events whose eventId was already in the log (a retried activity). */
  skipped: number;
}

export class InvalidCampaignEventError extends Error {
  constructor(
    readonly index: number,
    readonly problems: string[],
  ) {
    super(`invalid campaign event #${index}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidCampaignEventError';
  }
}

/** The log file of a campaign; refuses ids that could escape the events folder. */
export function eventLogPath(campaignId: string, home: string = rankwrightHome()): string {
  const checked = SafeId.safeParse(campaignId);
  if (!checked.success) {
    throw new Error(`invalid campaign id ${JSON.stringify(campaignId)}: ${describeIssues(checked.error).join('; ')}`);
  }
  return path.join(home, 'events', `${campaignId}.jsonl`);
}

/** eventIds already in one file, and how many bytes of it they cover. */
interface FileIndex {
  ids: Set<string>;
  bytes: number;
  /** Identity of the file the index was built from; a replaced file is re-read from the start. */
  ino: number;
}
const indexes = new Map<string, FileIndex>();

/**
 * Appends events to a campaign's log. `v` and `ts` are filled in when missing; every event is validated before
 * anything is written (one bad event refuses the whole batch) and must name this campaign.
 */
export async function appendEvents(campaignId: string, events: NewCampaignEvent[], opts: { home?: string } = {}): Promise<AppendResult> {
  const file = eventLogPath(campaignId, opts.home);
  const now = new Date().toISOString();
  const valid = events.map((event, i) => {
    const candidate = { v: EVENT_SCHEMA_VERSION, ts: now, ...event };
    const parsed = CampaignEvent.safeParse(candidate);
    if (!parsed.success) throw new InvalidCampaignEventError(i, describeIssues(parsed.error));
    if (parsed.data.campaignId !== campaignId) {
      throw new InvalidCampaignEventError(i, [`campaignId: event names campaign ${JSON.stringify(parsed.data.campaignId)}, log is ${JSON.stringify(campaignId)}`]);
    }
    return parsed.data;
  });
  if (valid.length === 0) return { appended: 0, skipped: 0 };

  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  return withFileLock(`${file}.lock`, async () => {
    const index = await catchUpIndex(file);
    const fresh: CampaignEvent[] = [];
    for (const event of valid) {
      if (index.ids.has(event.eventId)) continue;
      index.ids.add(event.eventId); // also de-duplicates within one batch
      fresh.push(event);
    }
    if (fresh.length > 0) {
      // One write per batch in append mode, so a reader never sees half of another batch's line.
      const text = fresh.map((e) => JSON.stringify(e) + '\n').join('');
      await fs.promises.appendFile(file, text, 'utf8');
      index.bytes += Buffer.byteLength(text, 'utf8');
    }
    return { appended: fresh.length, skipped: valid.length - fresh.length };
  });
}

/** Brings the in-process eventId index of `file` up to the file's current end (other processes may have appended). */
async function catchUpIndex(file: string): Promise<FileIndex> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const empty = { ids: new Set<string>(), bytes: 0, ino: -1 };
    indexes.set(file, empty);
    return empty;
  }
  let index = indexes.get(file);
  if (!index || index.ino !== stat.ino || stat.size < index.bytes) {
    index = { ids: new Set(), bytes: 0, ino: stat.ino };
    indexes.set(file, index);
  }
  if (stat.size > index.bytes) {
    const tail = await readRange(file, index.bytes, stat.size);
    // Any line that carries an eventId reserves it, even one the current schema would refuse.
    for (const line of tail.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const id = (JSON.parse(line) as { eventId?: unknown }).eventId;
        if (typeof id === 'string') index.ids.add(id);
      } catch {
        /* corrupt line: readers report it; it reserves no id */
      }
    }
    index.bytes = stat.size;
  }
  return index;
}

async function readRange(file: string, start: number, end: number): Promise<Buffer> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  } finally {
    await handle.close();
  }
}

/** A lock held longer than this belongs to a crashed writer (appends take milliseconds). */
const STALE_LOCK_MS = 30_000;

/** Cross-process mutual exclusion with an O_EXCL lock file (Node has no flock). */
async function withFileLock<T>(lockFile: string, body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      const handle = await fs.promises.open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await fs.promises.stat(lockFile).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) {
        await fs.promises.rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`event log is locked by another writer: ${lockFile}`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  try {
    return await body();
  } finally {
    await fs.promises.rm(lockFile, { force: true });
  }
}

/** Parses one line; a problem message instead when it is not a valid event of this schema version. */
export function parseEventLine(line: string): { event: CampaignEvent } | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    return { problem: `not JSON (${(err as Error).message})` };
  }
  const raw = json as { v?: unknown; type?: unknown };
  if (raw && typeof raw === 'object' && typeof raw.v === 'number' && raw.v > EVENT_SCHEMA_VERSION) {
    return { problem: `event schema v${raw.v} is newer than this reader (v${EVENT_SCHEMA_VERSION})` };
  }
  const parsed = CampaignEvent.safeParse(json);
  if (parsed.success) return { event: parsed.data };
  if (raw && typeof raw === 'object' && typeof raw.type === 'string' && !KNOWN_TYPES.has(raw.type)) {
    return { problem: `unknown event type ${JSON.stringify(raw.type)}` };
  }
  return { problem: describeIssues(parsed.error).join('; ') };
}

const KNOWN_TYPES = new Set<string>(CampaignEvent.options.map((o) => o.shape.type.value));

export interface ReadEventsOptions {
  /** Only events with ts at or after this ISO time. */
  since?: string;
  /** Only events after the one with this eventId (for resuming a reader). */
  afterEventId?: string;
  home?: string;
}

/** Every valid event of a campaign, in log order, plus the lines that could not be read. No log = no events. */
export async function readEvents(campaignId: string, opts: ReadEventsOptions = {}): Promise<EventLogRead> {
  const file = eventLogPath(campaignId, opts.home);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], problems: [] };
    throw err;
  }
  const { events, problems } = parseLines(text, 1);
  let selected = events;
  if (opts.afterEventId !== undefined) {
    const at = selected.findIndex((e) => e.eventId === opts.afterEventId);
    if (at >= 0) selected = selected.slice(at + 1);
  }
  if (opts.since !== undefined) {
    const since = Date.parse(opts.since);
    if (Number.isNaN(since)) throw new Error(`invalid since time ${JSON.stringify(opts.since)}: expected an ISO time`);
    selected = selected.filter((e) => Date.parse(e.ts) >= since);
  }
  return { events: selected, problems };
}

function parseLines(text: string, firstLine: number): EventLogRead {
  const events: CampaignEvent[] = [];
  const problems: EventLogProblem[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const parsed = parseEventLine(line);
    if ('event' in parsed) events.push(parsed.event);
    else problems.push({ line: firstLine + i, message: parsed.problem });
  });
  return { events, problems };
}

export interface FollowOptions {
  /** Deliver the events already in the log first (default true, like `tail -f` shows the end before following). */
  fromStart?: boolean;
  /** Polling interval in ms (file-system notifications wake it sooner where they work). */
  intervalMs?: number;
  onProblem?: (problem: EventLogProblem) => void;
  home?: string;
}

/**
 * Calls `onEvent` for every event appended to a campaign's log until `signal` aborts; resolves then.
 * Only complete lines are delivered, so a line still being written is read on the next pass.
 */
export async function followEvents(
  campaignId: string,
  onEvent: (event: CampaignEvent) => void,
  signal: AbortSignal,
  opts: FollowOptions = {},
): Promise<void> {
  const file = eventLogPath(campaignId, opts.home);
  const intervalMs = opts.intervalMs ?? 250;
  let offset = 0;
  let lineNo = 1;
  let ino = -1;
  if (opts.fromStart === false) {
    const stat = await fs.promises.stat(file).catch(() => undefined);
    if (stat) {
      offset = stat.size;
      ino = stat.ino;
      lineNo = (await fs.promises.readFile(file, 'utf8')).split('\n').length;
    }
  }

  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  let watcher: fs.FSWatcher | undefined;
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    watcher = fs.watch(path.dirname(file), { persistent: false }, (_kind, name) => {
      if (name === path.basename(file)) wake?.();
    });
    watcher.on('error', () => (watcher = undefined));
  } catch {
    watcher = undefined; // polling alone still works
  }

  try {
    while (!signal.aborted) {
      const stat = await fs.promises.stat(file).catch(() => undefined);
      if (stat) {
        if (stat.ino !== ino || stat.size < offset) {
          // New or replaced file: read it from the start.
          if (ino !== -1) {
            offset = 0;
            lineNo = 1;
          }
          ino = stat.ino;
        }
        if (stat.size > offset) {
          const chunk = (await readRange(file, offset, stat.size)).toString('utf8');
          const complete = chunk.lastIndexOf('\n') + 1;
          if (complete > 0) {
            const { events, problems } = parseLines(chunk.slice(0, complete - 1), lineNo);
            lineNo += chunk.slice(0, complete).split('\n').length - 1;
            offset += Buffer.byteLength(chunk.slice(0, complete), 'utf8');
            for (const problem of problems) opts.onProblem?.(problem);
            for (const event of events) {
              if (signal.aborted) break;
              onEvent(event);
            }
          }
        }
      }
      if (signal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, intervalMs);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    watcher?.close();
  }
}
