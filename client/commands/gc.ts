import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { msToNumber } from '@temporalio/common';
import type { WorkflowState } from '../../store/campaign-ledger';
import { formatBytes } from '../../store/format-bytes';
import { collectGarbage, type GcItem, type GcPlan } from '../../store/gc';
import type { StoreGcPlan } from '../../store/store-gc';
import { temporalSettings } from '../connection';
import { table } from '../format';
import type { CommandOutput } from './insights';

const console_: CommandOutput = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

export interface GcCommandOptions {
  dryRun: boolean;
  json: boolean;
  /** Durations as a user types them: "30m", "12h", "7d" (0 for none). */
  minAge?: string;
  rowCacheIdle?: string;
  jobAge?: string;
  staleCheckpoint?: string;
  /** Ask Temporal about campaigns whose log has no end (default true). */
  temporal?: boolean;
  /** Keep every run's model of a reviewed campaign (default: the recommended one and the baseline's). */
  keepCandidates?: boolean;
  home?: string;
}

/** The removals a human sees listed; --json has every item. */
const LISTED = 40;
/** How long gc waits for Temporal's answers before going on without them. */
const TEMPORAL_WAIT_MS = 20_000;

/**
 * `rankwright gc [--dry-run] [--json]`: removes what nothing in the home needs (store/gc.ts says what that is), and
 * with a shared store (RANKWRIGHT_STORE) what nothing in the fleet needs there (store/store-gc.ts), and prints a
 * summary by kind with the bytes freed, or with --json the whole plan. Exit codes: 0 done, 1 something could not be removed or
 * the home could not be read, 2 a bad option.
 */
export async function runGc(opts: GcCommandOptions, io: CommandOutput = console_): Promise<number> {
  const durations: Record<string, number> = {};
  for (const [key, option] of [
    ['minAge', '--min-age'],
    ['rowCacheIdle', '--row-cache-idle'],
    ['jobAge', '--job-age'],
    ['staleCheckpoint', '--stale-checkpoint'],
  ] as const) {
    const text = opts[key];
    if (text === undefined) continue;
    const ms = parseDuration(text);
    if (ms === undefined) {
      io.err(`error: ${option} ${JSON.stringify(text)} is not a duration: expected a number with a unit, such as 30m, 12h or 7d (or 0)`);
      return 2;
    }
    durations[`${key}Ms`] = ms;
  }
  let plan: GcPlan;
  try {
    plan = await collectGarbage({
      home: opts.home,
      dryRun: opts.dryRun,
      keepCandidates: opts.keepCandidates,
      ...durations,
      workflowStates: opts.temporal === false ? undefined : temporalWorkflowStates,
    });
  } catch (err) {
    io.err(`error: ${(err as Error).message}`);
    return 1;
  }
  if (opts.json) io.out(JSON.stringify(plan, null, 2));
  else for (const line of describePlan(plan)) io.out(line);
  const failed = [...plan.items, ...(plan.store?.items ?? [])].filter((i) => i.removed === false).length;
  if (!opts.json) for (const w of [...plan.warnings, ...(plan.store?.warnings ?? [])]) io.err(`warning: ${w}`);
  return failed > 0 ? 1 : 0;
}

/** "30m", "12h", "7d", "90 minutes", "1.5h", or 0; anything else (a bare number included: seconds or ms?) is refused. */
export function parseDuration(text: string): number | undefined {
  if (/^\s*0+\s*$/.test(text)) return 0;
  if (!/^\s*\d+(\.\d+)?\s*[a-zA-Z]+\s*$/.test(text)) return undefined;
  try {
    const ms = msToNumber(text.trim() as Parameters<typeof msToNumber>[0]);
    return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** The human summary: totals, a table by kind, the campaigns' states, and what goes (largest first). */
export function describePlan(plan: GcPlan): string[] {
  const would = plan.dryRun ? 'would remove' : 'removed';
  const lines = [
    `rankwright gc${plan.dryRun ? ' --dry-run' : ''} in ${plan.home}: ${would} ${formatBytes(plan.removed.bytes)} in ${plan.removed.count} item${plan.removed.count === 1 ? '' : 's'}, kept ${formatBytes(plan.kept.bytes)} in ${plan.kept.count}; the home ${plan.dryRun ? 'would go' : 'went'} from ${formatBytes(plan.homeBytes.before)} to ${formatBytes(plan.homeBytes.after)}`,
  ];
  const kinds = Object.entries(plan.byKind);
  if (kinds.length) {
    lines.push(
      '',
      table(
        ['kind', plan.dryRun ? 'would remove' : 'removed', 'kept'],
        kinds.map(([kind, t]) => [kind, `${t.removed.count} (${formatBytes(t.removed.bytes)})`, `${t.kept.count} (${formatBytes(t.kept.bytes)})`]),
      ),
    );
  }
  if (plan.campaigns.length) {
    const live = plan.campaigns.filter((c) => c.kept).map((c) => `${c.campaignId} (${c.state})`);
    const over = plan.campaigns.filter((c) => !c.kept).map((c) => `${c.campaignId} (${c.state})`);
    lines.push('', `campaigns kept: ${live.join(', ') || 'none'}`, `campaigns over (their artifacts may go): ${over.join(', ') || 'none'}`);
  }
  const open =
    plan.temporal.campaigns === 1 ? '1 campaign whose event log has no end' : `${plan.temporal.campaigns} campaigns whose event log has no end`;
  if (plan.temporal.asked && plan.temporal.error)
    lines.push(`Temporal not reached (${plan.temporal.error}): campaigns whose event log has no end count as running`);
  else if (plan.temporal.asked && plan.temporal.campaigns > 0) lines.push(`Temporal asked about ${open}; those it does not know count as running`);
  else if (!plan.temporal.asked) lines.push('Temporal not asked: campaigns whose event log has no end count as running');
  const gone = plan.items.filter((i) => i.action === 'remove').sort((a, b) => b.bytes - a.bytes);
  if (gone.length) {
    lines.push('', `${plan.dryRun ? 'would remove' : 'removed'} (largest first):`);
    for (const item of gone.slice(0, LISTED)) lines.push(`  ${itemLine(item)}`);
    if (gone.length > LISTED) lines.push(`  … and ${gone.length - LISTED} more (--json lists every item)`);
  }
  if (plan.store) lines.push('', ...describeStorePlan(plan.store, plan.dryRun));
  return lines;
}

/** The shared store's part: what it would free (or freed), by kind, and what goes, largest first. */
function describeStorePlan(store: StoreGcPlan, dryRun: boolean): string[] {
  const would = dryRun ? 'would remove' : 'removed';
  if (store.skipped) return [`the store ${store.store}: nothing collected (${store.skipped})`];
  const lines = [
    `the store ${store.store}: ${would} ${formatBytes(store.removed.bytes)} in ${store.removed.count} item${store.removed.count === 1 ? '' : 's'} (${dryRun ? 'would free' : 'freed'} ${formatBytes(store.removed.bytes)} of ${formatBytes(store.bytesBefore)}), kept ${formatBytes(store.kept.bytes)} in ${store.kept.count}`,
  ];
  const kinds = Object.entries(store.byKind);
  if (kinds.length)
    lines.push(
      '',
      table(
        ['kind', would, 'kept'],
        kinds.map(([kind, t]) => [kind, `${t.removed.count} (${formatBytes(t.removed.bytes)})`, `${t.kept.count} (${formatBytes(t.kept.bytes)})`]),
      ),
    );
  const gone = store.items.filter((i) => i.action === 'remove').sort((a, b) => b.bytes - a.bytes);
  if (gone.length) {
    lines.push('', `${would} from the store (largest first):`);
    for (const item of gone.slice(0, LISTED)) {
      const failed = item.removed === false ? ` [NOT removed: ${item.error}]` : '';
      lines.push(`  ${item.kind.padEnd(11)} ${formatBytes(item.bytes).padStart(8)}  ${item.key}: ${item.detail}${failed}`);
    }
    if (gone.length > LISTED) lines.push(`  … and ${gone.length - LISTED} more (--json lists every item)`);
  }
  return lines;
}

function itemLine(item: GcItem): string {
  const what = item.ref ? `${item.ref.slice(0, 19)}… (${item.artifactKind})` : item.path;
  const failed = item.removed === false ? ` [NOT removed: ${item.error}]` : '';
  return `${item.kind.padEnd(11)} ${formatBytes(item.bytes).padStart(8)}  ${what}: ${item.detail}${failed}`;
}

/**
 * Temporal's status of the workflows whose log has no end. A workflow Temporal does not know is left out (it may
 * live in another namespace): the safe default, running, stands for it. Bounded in time: a slow or unreachable
 * Temporal makes gc go on without it, never fail.
 */
async function temporalWorkflowStates(campaignIds: string[]): Promise<Map<string, WorkflowState>> {
  const { connectionOptions, namespace } = temporalSettings();
  let timer: NodeJS.Timeout | undefined;
  let connection: Connection | undefined;
  const ask = async () => {
    connection = await Connection.connect({ ...(connectionOptions as object), connectTimeout: '3 seconds' });
    const client = new Client({ connection, namespace });
    const states = new Map<string, WorkflowState>();
    for (const id of campaignIds) {
      const handle = client.workflow.getHandle(id);
      try {
        const { status } = await handle.describe();
        let reviewState: string | undefined;
        if (status.name === 'COMPLETED') {
          const result = (await handle.result()) as { reviewState?: unknown } | undefined;
          if (typeof result?.reviewState === 'string') reviewState = result.reviewState;
        }
        states.set(id, { status: status.name, ...(reviewState ? { reviewState } : {}) });
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    return states;
  };
  try {
    return await Promise.race([
      ask(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${TEMPORAL_WAIT_MS / 1000} s`)), TEMPORAL_WAIT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await (connection as Connection | undefined)?.close().catch(() => {});
  }
}
