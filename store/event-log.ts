import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { CampaignEvent, EVENT_SCHEMA_VERSION, SafeId, describeIssues, type NewCampaignEvent } from '../contracts';
import { asDiskFull } from './disk-space';
import type { AppendResult, EventStore, FollowStoreOptions } from './events/event-store';
import { postgresEventStore } from './events/sql-event-store';
import { rankwrightHome } from './home';
import { insightsLocation } from './insights/database-url';

export type { AppendResult, EventStore } from './events/event-store';

/**
 * The campaign event log. Events are validated here on the way in and read tolerantly on the way out; where they are
 * kept is an EventStore (events/event-store.ts): by default one JSON CampaignEvent per line in
 * `${RANKWRIGHT_HOME}/events/<campaignId>.jsonl` (FileEventStore, below), and with RANKWRIGHT_DATABASE_URL=postgres://…
 * the `campaign_events` table beside the insights (events/sql-event-store.ts), so that every machine of a fleet, even
 * one whose home is empty, reads the same log.
 *
 * In the files, appends are idempotent by eventId, across retries and across processes: writers serialise on a lock
 * file, and before appending each writer catches its in-process index of eventIds up with whatever other processes
 * appended since it last looked. Readers never crash on a bad line: they report it with its line number and go on.
 *
 * The lock heals by itself (see withFileLock): it is held only across synchronous file operations (milliseconds,
 * never an event-loop turn, so a writer whose loop is busy with synchronous training cannot sit on it), it names its
 * owner, and a waiter breaks a lock whose owner process is gone or that is older than any append could take.
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

export class InvalidCampaignEventError extends Error {
  constructor(
    readonly index: number,
    readonly problems: string[],
  ) {
    super(`invalid campaign event #${index}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidCampaignEventError';
  }
}

/** Refuses campaign ids that could escape the events folder (whichever store holds the events: one rule for both). */
function checkCampaignId(campaignId: string): void {
  const checked = SafeId.safeParse(campaignId);
  if (!checked.success) {
    throw new Error(`invalid campaign id ${JSON.stringify(campaignId)}: ${describeIssues(checked.error).join('; ')}`);
  }
}

/** The log file of a campaign in the home's JSONL store; refuses ids that could escape the events folder. */
export function eventLogPath(campaignId: string, home: string = rankwrightHome()): string {
  checkCampaignId(campaignId);
  return path.join(home, 'events', `${campaignId}.jsonl`);
}

/**
 * The event store of this process: the `campaign_events` table of the PostgreSQL database RANKWRIGHT_DATABASE_URL
 * names (the insights' database), else the JSONL files of `home`. Like the insights, the URL comes from the
 * environment of the worker or CLI process only.
 */
export async function openEventStore(home: string = rankwrightHome()): Promise<EventStore> {
  const where = insightsLocation();
  return where.kind === 'postgres' ? postgresEventStore(where.url) : new FileEventStore(home);
}

/** The default store: one JSONL file per campaign under `${home}/events`, shared by the processes of one machine. */
export class FileEventStore implements EventStore {
  constructor(readonly home: string) {}

  where(campaignId: string): string {
    return eventLogPath(campaignId, this.home);
  }

  append(campaignId: string, events: CampaignEvent[]): Promise<AppendResult> {
    const file = eventLogPath(campaignId, this.home);
    // A full disk (or quota) fails the append with a DiskFullError naming the log's folder and the space left; the
    // activities that append retry until there is room, so no event is lost to it.
    return appendLocked(file, events).catch((err: unknown) => {
      throw asDiskFull(err, 'campaign events', path.dirname(file));
    });
  }

  async lines(campaignId: string): Promise<string[] | undefined> {
    try {
      return (await fs.promises.readFile(eventLogPath(campaignId, this.home), 'utf8')).split('\n');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async campaignIds(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(path.join(this.home, 'events'));
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.jsonl'))
      .map((n) => n.slice(0, -'.jsonl'.length))
      .filter((id) => SafeId.safeParse(id).success)
      .sort();
  }

  follow(campaignId: string, onLines: (lines: string[], firstLine: number) => void, signal: AbortSignal, opts: FollowStoreOptions): Promise<void> {
    return followFile(eventLogPath(campaignId, this.home), onLines, signal, opts);
  }
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
  checkCampaignId(campaignId);
  const now = new Date().toISOString();
  const valid = events.map((event, i) => {
    const candidate = { v: EVENT_SCHEMA_VERSION, ts: now, ...event };
    const parsed = CampaignEvent.safeParse(candidate);
    if (!parsed.success) throw new InvalidCampaignEventError(i, describeIssues(parsed.error));
    if (parsed.data.campaignId !== campaignId) {
      throw new InvalidCampaignEventError(i, [
        `campaignId: event names campaign ${JSON.stringify(parsed.data.campaignId)}, log is ${JSON.stringify(campaignId)}`,
      ]);
    }
    return parsed.data;
  });
  if (valid.length === 0) return { appended: 0, skipped: 0 };
  return (await openEventStore(opts.home)).append(campaignId, valid);
}

async function appendLocked(file: string, valid: CampaignEvent[]): Promise<AppendResult> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  // Synchronous from here on: the lock is held for the milliseconds the file operations take, never across an
  // event-loop turn.
  return withFileLock(`${file}.lock`, () => {
    const index = catchUpIndex(file);
    const fresh: CampaignEvent[] = [];
    const ids = new Set<string>(); // also de-duplicates within one batch
    for (const event of valid) {
      if (index.ids.has(event.eventId) || ids.has(event.eventId)) continue;
      ids.add(event.eventId);
      fresh.push(event);
    }
    if (fresh.length > 0) {
      // One write per batch in append mode, so a reader never sees half of another batch's line.
      const text = fresh.map((e) => JSON.stringify(e) + '\n').join('');
      try {
        fs.appendFileSync(file, text, 'utf8');
      } catch (err) {
        // Nothing (or part of the batch) was written. A partial line is cut off again (a full disk writes up to its
        // last free block): left in place, the retry's first event would be glued to it and unreadable. Then the
        // next append rebuilds the index from the file, so a retry writes these events instead of skipping them.
        truncateTo(file, index.bytes);
        indexes.delete(file);
        throw err;
      }
      for (const id of ids) index.ids.add(id);
      index.bytes += Buffer.byteLength(text, 'utf8');
    }
    return { appended: fresh.length, skipped: valid.length - fresh.length };
  });
}

/** Cuts `file` back to `bytes` if a failed append left more (truncating frees space, so it works on a full disk). */
function truncateTo(file: string, bytes: number): void {
  try {
    if (fs.statSync(file).size > bytes) fs.truncateSync(file, bytes);
  } catch {
    /* no file (nothing was written) or it cannot be cut: readers report a partial line and go on */
  }
}

/** Brings the in-process eventId index of `file` up to the file's current end (other processes may have appended). */
function catchUpIndex(file: string): FileIndex {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
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
    const tail = readRangeSync(file, index.bytes, stat.size);
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

function readRangeSync(file: string, start: number, end: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    let read = 0;
    while (read < buffer.length) {
      const bytesRead = fs.readSync(fd, buffer, read, buffer.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
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

/**
 * How the lock waits and heals. Exported so tests can shorten the bounds; nothing else changes them.
 * - staleMs: a lock older than this (by mtime) is stale whoever holds it: the critical section is a few synchronous
 *   file operations, so only a stopped or hung process holds it this long.
 * - breakStaleMs: the break lock (see breakStaleLock) is held for microseconds; older than this, its breaker died.
 * - waitMs: a waiter gives up only after this much time spent actually trying; time its own event loop was blocked
 *   does not count.
 * - maxCountedPauseMs: the most one pause between attempts counts toward waitMs, however long the loop was away.
 */
export const eventLogLockTiming = { staleMs: 30_000, breakStaleMs: 5_000, waitMs: 60_000, maxCountedPauseMs: 100 };

/** Written into the lock file, so that a waiter can tell a live holder from a dead one. */
interface LockOwner {
  pid: number;
  host: string;
  /** The pid namespace (Linux), so containers sharing a hostname and a volume never judge each other's pids. */
  pidNamespace?: string;
  threadId: number;
  acquiredAt: string;
  token: string;
}

let pidNamespace: string | undefined | null = null;
function currentPidNamespace(): string | undefined {
  if (pidNamespace === null) {
    try {
      pidNamespace = fs.readlinkSync('/proc/self/ns/pid');
    } catch {
      pidNamespace = undefined;
    }
  }
  return pidNamespace;
}

function newOwner(): LockOwner {
  return {
    pid: process.pid,
    host: os.hostname(),
    pidNamespace: currentPidNamespace(),
    threadId,
    acquiredAt: new Date().toISOString(),
    token: randomUUID(),
  };
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    if (owner && typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.token === 'string') return owner as LockOwner;
  } catch {
    /* empty (its writer was killed between creating and writing it) or from an older version: judged by age alone */
  }
  return undefined;
}

function describeOwner(owner: LockOwner | undefined): string {
  return owner ? `pid ${owner.pid} on ${owner.host} since ${owner.acquiredAt}` : 'owner unknown';
}

/** Creates the lock file with its owner, atomically against other writers (O_EXCL). False when it exists. */
function tryCreateLock(lockFile: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = fs.openSync(lockFile, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.writeSync(fd, JSON.stringify(owner));
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(lockFile, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  return true;
}

interface HeldLock {
  ino: number;
  ageMs: number;
  owner: LockOwner | undefined;
}

/** The lock as it is now (one open file, so identity and owner agree); undefined when there is none. */
function readLock(lockFile: string): HeldLock | undefined {
  let fd: number;
  try {
    fd = fs.openSync(lockFile, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const stat = fs.fstatSync(fd);
    return { ino: stat.ino, ageMs: Date.now() - stat.mtimeMs, owner: parseOwner(fs.readFileSync(fd, 'utf8')) };
  } finally {
    fs.closeSync(fd);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: alive, someone else's
  }
}

/** Why a held lock is stale, or undefined while its holder may still be using it. */
function staleReason(held: HeldLock, boundMs: number): string | undefined {
  const { owner } = held;
  if (held.ageMs > boundMs) return `held for ${Math.round(held.ageMs / 1000)} s (${describeOwner(owner)})`;
  if (owner && owner.host === os.hostname() && owner.pidNamespace === currentPidNamespace()) {
    // The lock is never held across an await, so this very thread cannot be holding it now: a previous process
    // with the same pid (a restarted container) left it.
    if (owner.pid === process.pid && owner.threadId === threadId) return `left by an earlier process with this pid (${describeOwner(owner)})`;
    if (!processAlive(owner.pid)) return `its owner is gone (${describeOwner(owner)})`;
  }
  return undefined;
}

/**
 * Removes `file` if it is still the file with inode `ino`: renames it away (atomic, so of two removers only one
 * gets it), then checks what it took, and puts back a file that was not the one judged.
 */
function removeIfSame(file: string, ino: number): boolean {
  const away = `${file}.stale-${process.pid}-${threadId}-${randomUUID()}`;
  try {
    fs.renameSync(file, away);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // someone else removed it
    throw err;
  }
  try {
    if (fs.statSync(away).ino === ino) return true;
    try {
      fs.linkSync(away, file); // a newer lock than the one judged: its holder keeps it
    } catch {
      /* the name was taken again meanwhile: nothing better to do than leave that one */
    }
    return false;
  } finally {
    fs.rmSync(away, { force: true });
  }
}

/**
 * Breaks a lock judged stale. Breakers serialise on a second lock file and judge again under it, so a waiter that
 * judged an old lock can never remove the fresh lock of a writer that acquired after someone else broke the old one.
 */
function breakStaleLock(lockFile: string, judged: HeldLock): string | undefined {
  const breakLock = `${lockFile}.break`;
  if (!tryCreateLock(breakLock, newOwner())) {
    // Another waiter is breaking it right now, or was killed doing so (its break lock is then stale in turn).
    const breaker = readLock(breakLock);
    if (breaker && staleReason(breaker, eventLogLockTiming.breakStaleMs)) removeIfSame(breakLock, breaker.ino);
    return undefined;
  }
  try {
    const now = readLock(lockFile);
    if (!now || now.ino !== judged.ino) return undefined; // released or broken meanwhile: just try again
    const reason = staleReason(now, eventLogLockTiming.staleMs);
    return reason && removeIfSame(lockFile, now.ino) ? reason : undefined;
  } finally {
    fs.rmSync(breakLock, { force: true });
  }
}

/** Removes the lock if it is still ours (a writer stopped for longer than staleMs may have lost it). */
function releaseLock(lockFile: string, owner: LockOwner): void {
  const held = readLock(lockFile);
  if (held?.owner?.token === owner.token) {
    fs.rmSync(lockFile, { force: true });
    return;
  }
  process.emitWarning(`the event-log lock ${lockFile} was broken while this writer held it (acquired ${owner.acquiredAt})`, {
    code: 'RANKWRIGHT_LOCK_LOST',
  });
}

/**
 * Cross-process mutual exclusion with an O_EXCL lock file (Node has no flock). `body` is synchronous, so the lock
 * is never held across an event-loop turn. A waiter breaks a stale lock (owner gone, or older than staleMs) and
 * gives up only after waitMs of actually trying: a stretch in which its own event loop was blocked counts
 * as one short pause, and after it the waiter always looks again before it may give up.
 */
async function withFileLock<T>(lockFile: string, body: () => T): Promise<T> {
  let waitedMs = 0;
  let attempts = 0;
  let immediateRetries = 0;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    attempts++;
    const owner = newOwner();
    if (tryCreateLock(lockFile, owner)) {
      try {
        return body();
      } finally {
        releaseLock(lockFile, owner);
      }
    }
    const held = readLock(lockFile);
    if (!held && immediateRetries++ < 10) continue; // released between the two looks
    const stale = held && staleReason(held, eventLogLockTiming.staleMs);
    if (held && stale) {
      const broken = breakStaleLock(lockFile, held);
      if (broken) process.emitWarning(`broke the stale event-log lock ${lockFile}: ${broken}`, { code: 'RANKWRIGHT_STALE_LOCK' });
      if (immediateRetries++ < 10) continue;
    }
    immediateRetries = 0;
    if (waitedMs >= eventLogLockTiming.waitMs) {
      throw new Error(
        `event log is locked by another writer: ${lockFile} (${describeOwner(held?.owner)}); gave up after ${attempts} attempts over ${Math.round(waitedMs)} ms of waiting`,
      );
    }
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
    waitedMs += Math.min(Date.now() - started, eventLogLockTiming.maxCountedPauseMs);
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
  /** Whose files to read (default RANKWRIGHT_HOME); with RANKWRIGHT_DATABASE_URL the database is read instead. */
  home?: string;
}

/** Every valid event of a campaign, in log order, plus the lines that could not be read. No log = no events. */
export async function readEvents(campaignId: string, opts: ReadEventsOptions = {}): Promise<EventLogRead> {
  checkCampaignId(campaignId);
  const lines = await (await openEventStore(opts.home)).lines(campaignId);
  if (!lines) return { events: [], problems: [] };
  const { events, problems } = parseLines(lines, 1);
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

function parseLines(lines: string[], firstLine: number): EventLogRead {
  const events: CampaignEvent[] = [];
  const problems: EventLogProblem[] = [];
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
  /** Whose files to follow (default RANKWRIGHT_HOME); with RANKWRIGHT_DATABASE_URL the database is followed instead. */
  home?: string;
}

/** Calls `onEvent` for every event appended to a campaign's log until `signal` aborts; resolves then. */
export async function followEvents(
  campaignId: string,
  onEvent: (event: CampaignEvent) => void,
  signal: AbortSignal,
  opts: FollowOptions = {},
): Promise<void> {
  checkCampaignId(campaignId);
  const store = await openEventStore(opts.home);
  const onLines = (lines: string[], firstLine: number) => {
    const { events, problems } = parseLines(lines, firstLine);
    for (const problem of problems) opts.onProblem?.(problem);
    for (const event of events) {
      if (signal.aborted) break;
      onEvent(event);
    }
  };
  await store.follow(campaignId, onLines, signal, { fromStart: opts.fromStart ?? true, intervalMs: opts.intervalMs ?? 250 });
}

/**
 * Follows one JSONL file. Only complete lines are delivered, so a line still being written is read on the next pass;
 * file-system notifications wake it sooner than the interval where they work.
 */
async function followFile(
  file: string,
  onLines: (lines: string[], firstLine: number) => void,
  signal: AbortSignal,
  { fromStart, intervalMs }: FollowStoreOptions,
): Promise<void> {
  let offset = 0;
  let lineNo = 1;
  let ino = -1;
  if (!fromStart) {
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
            const lines = chunk.slice(0, complete - 1).split('\n');
            onLines(lines, lineNo);
            lineNo += lines.length;
            offset += Buffer.byteLength(chunk.slice(0, complete), 'utf8');
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
