import { InsightsStore, type ExperimentRow } from '../../store/insights';

/** Where a command writes; tests pass their own, the CLI uses stdout/stderr. */
export interface CommandOutput {
  out(line: string): void;
  err(line: string): void;
}
const console_: CommandOutput = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

export interface InsightsCommandOptions {
  json: boolean;
  campaign?: string;
  limit?: number;
  /** SQLite database file (default: RANKWRIGHT_DATABASE_URL when set, else `${RANKWRIGHT_HOME}/insights.sqlite`). */
  file?: string;
}

/**
 * `rankwright insights`: the experiments the insights database remembers, newest first, as a table (plus wins per
 * family/technique) or, with --json, as a JSON array of rows. Returns the exit code.
 */
export async function runInsights(opts: InsightsCommandOptions, io: CommandOutput = console_): Promise<number> {
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) {
    io.err(`--limit must be a positive integer, got ${opts.limit}`);
    return 2;
  }
  let store: InsightsStore;
  try {
    store = await InsightsStore.open(opts.file);
  } catch (err) {
    io.err(`cannot open the insights database: ${(err as Error).message}`);
    return 1;
  }
  try {
    const rows = await store.list({ campaignId: opts.campaign, limit: opts.limit ?? 50 });
    if (opts.json) {
      io.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      io.out(opts.campaign ? `No experiments recorded for campaign ${opts.campaign}.` : 'No experiments recorded yet.');
      return 0;
    }
    for (const line of table(['experiment', 'campaign', 'phase', 'family', 'technique', 'outcome', 'NE', 'Δ NE', 'recorded'], rows.map(rowCells)))
      io.out(line);
    if (!opts.campaign) {
      io.out('');
      const summary = (await store.summary()).map((s) => [
        s.family,
        s.technique ?? '—',
        String(s.experiments),
        String(s.won),
        String(s.lost),
        String(s.neutral),
        String(s.failed),
        s.bestRelativeNeChange === null ? '—' : pct(s.bestRelativeNeChange),
      ]);
      for (const line of table(['family', 'technique', 'runs', 'won', 'lost', 'neutral', 'failed', 'best Δ NE'], summary)) io.out(line);
    }
    return 0;
  } finally {
    await store.close();
  }
}

const pct = (r: number | undefined) => (r === undefined ? '—' : `${r > 0 ? '+' : ''}${(r * 100).toFixed(2)}%`);

function rowCells(r: ExperimentRow): string[] {
  return [
    r.experimentId,
    r.campaignId ?? '—',
    r.phase,
    r.family,
    r.technique ?? '—',
    r.failureClass ? `failed: ${r.failureClass}` : r.outcome,
    r.metrics ? r.metrics.ne.toFixed(4) : '—',
    pct(r.relativeNeChange),
    r.recordedAt.replace('T', ' ').slice(0, 19),
  ];
}

/** Left-aligned text columns, each as wide as its widest cell (capped, so one long id doesn't wreck the table). */
export function table(header: string[], rows: string[][], maxWidth = 40): string[] {
  const clip = (s: string) => (s.length > maxWidth ? s.slice(0, maxWidth - 1) + '…' : s);
  const cells = [header, ...rows].map((r) => r.map((c) => clip(c.replace(/\s+/g, ' '))));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(cells[0]), widths.map((w) => '─'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
}
