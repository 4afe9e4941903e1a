import type { CampaignEvent } from '../../contracts';
import { followEvents, openEventStore, readEvents, type EventStore } from '../../store/event-log';
import { summarizeEvent } from '../../store/event-summary';
import type { CommandOutput } from './insights';

const console_: CommandOutput = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

export interface EventsCommandOptions {
  campaignId: string;
  /** Raw JSONL, one validated event per line (for jq and other tools). */
  json: boolean;
  /** Keep tailing until SIGINT (or `signal`). */
  follow: boolean;
  /** Stops --follow (the CLI leaves it out: SIGINT stops it). */
  signal?: AbortSignal;
}

/** `rankwright events <campaignId>`: the campaign's event log as one-liners or JSONL. Returns the exit code. */
export async function runEvents(opts: EventsCommandOptions, io: CommandOutput = console_): Promise<number> {
  // The home's JSONL files, or the shared database of RANKWRIGHT_DATABASE_URL: a bad id or URL is a usage error.
  let store: EventStore;
  let file: string;
  try {
    store = await openEventStore();
    file = store.where(opts.campaignId);
  } catch (err) {
    io.err((err as Error).message);
    return 2;
  }
  const print = (e: CampaignEvent) => io.out(opts.json ? JSON.stringify(e) : humanLine(e));
  const warn = (p: { line: number; message: string }) => io.err(`${file}:${p.line}: skipped: ${p.message}`);

  if (!opts.follow) {
    const { events, problems } = await readEvents(opts.campaignId);
    // An empty log is still a log (nothing to print); only a campaign that never logged is an error.
    if (events.length + problems.length === 0 && !(await store.lines(opts.campaignId))) {
      io.err(`no event log for campaign ${opts.campaignId} (${file})`);
      return 1;
    }
    events.forEach(print);
    problems.forEach(warn);
    return 0;
  }

  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once('SIGINT', onSigint);
  opts.signal?.addEventListener('abort', onSigint, { once: true });
  if (opts.signal?.aborted) stop.abort();
  try {
    if (!opts.json && !(await store.lines(opts.campaignId)))
      io.err(`waiting for campaign ${opts.campaignId} to log its first event… (Ctrl-C to stop)`);
    await followEvents(opts.campaignId, print, stop.signal, { onProblem: warn });
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
    opts.signal?.removeEventListener('abort', onSigint);
  }
}

function humanLine(e: CampaignEvent): string {
  const when = e.ts.replace('T', ' ').slice(0, 19);
  return `${when}  ${e.type.padEnd(19)}  ${summarizeEvent(e).replace(/\s*\n\s*/g, ' ')}`;
}
