import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeArtifact, listArtifacts, type ArtifactKind, type StoredFile } from './artifact-inventory';
import { artifactKey } from './artifacts';
import {
  LIVE_STATES,
  REVIEWED_STATES,
  neededAfterReview,
  applyWorkflowState,
  experimentEnded,
  jobEnded,
  readCampaignLedger,
  recordFromLog,
  type CampaignRecord,
  type CampaignRetentionState,
  type WorkflowState,
} from './campaign-ledger';
import { checkpointsDir } from './checkpoints';
import { formatBytes } from './format-bytes';
import { rankwrightHome } from './home';
import { insightsLocation, InsightsStore, redactedDatabaseUrl } from './insights';
import { sharedStore } from './object-store';
import { planStore, removeFromStore, summariseStore, type StoreGcPlan } from './store-gc';

/**
 * Retention (`rankwright gc`, and the worker's home budget): works out what nothing needs in the home and, unless it
 * is a dry run, removes it. Returns the plan: every item it looked at, with its size, age, and why it goes or stays.
 *
 * Kept:
 * - artifacts a live campaign names (running, awaiting or needing review, approved): its experiments' models, probes
 *   included, its baseline, what its onApprove hook promoted, its current report; and the insights database's best
 *   run per dataset; and whatever those need (an external model's model file);
 * - anything younger than the minimum age, so a file just written and not yet recorded is never taken;
 * - checkpoints of runs still going; row caches read recently; job folders of jobs still running or recently done.
 * Removed: everything else of those kinds. Event logs, reports and the insights database are history and stay.
 *
 * Safety: it never follows a symbolic link (a link is left alone, and a linked folder is not entered); every removal
 * re-checks its item first and spares one that was written or used since the plan was made.
 *
 * With a shared store, a full gc applies the same rules to the store's copies (./store-gc.ts).
 */

export type GcItemKind = 'artifact' | 'checkpoint' | 'row-cache' | 'job-folder' | 'job-data' | 'temp-file' | 'link';

/** Why an item goes or stays (the `detail` says it in words). */
export type GcReason =
  | 'referenced'
  | 'best-run'
  | 'young'
  | 'unreferenced'
  | 'legacy-checkpoint'
  | 'in-flight'
  | 'abandoned-temp'
  | 'run-live'
  | 'run-ended'
  | 'superseded-attempt'
  | 'stale-checkpoint'
  | 'recently-used'
  | 'idle'
  | 'job-live'
  | 'job-recent'
  | 'job-done'
  | 'job-data-in-use'
  | 'job-data-recent'
  | 'job-data-unused'
  | 'link'
  | 'within-budget'
  | 'over-budget'
  | 'changed';

export interface GcItem {
  kind: GcItemKind;
  /** Absolute path (a folder for job folders and job data). */
  path: string;
  bytes: number;
  /** Seconds since it was last written (a row cache: last read). */
  ageSeconds: number;
  lastUsed: string;
  action: 'remove' | 'keep';
  reason: GcReason;
  detail: string;
  /** On a kept item: the worker's home budget may still take it when the home is over its budget. */
  budgetCollectable?: boolean;
  ref?: string;
  artifactKind?: ArtifactKind;
  campaignId?: string;
  experimentId?: string;
  /** After a real run, on items it tried to remove: whether they are gone. */
  removed?: boolean;
  error?: string;
}

export interface GcTotals {
  count: number;
  bytes: number;
}

export interface GcPlan {
  home: string;
  dryRun: boolean;
  /** `full`: everything nothing needs; `budget`: only what gets the home under its budget, oldest first. */
  mode: 'full' | 'budget';
  at: string;
  settings: { minAgeSeconds: number; rowCacheIdleSeconds: number; jobAgeSeconds: number; staleCheckpointSeconds: number; budgetBytes?: number };
  campaigns: { campaignId: string; state: CampaignRetentionState; kept: boolean; stateSource: string }[];
  /** Whether Temporal was asked about campaigns whose log has no end, and what came of it. */
  temporal: { asked: boolean; campaigns: number; error?: string };
  /** Bytes of every file in the home, before and (estimated on a dry run) after. */
  homeBytes: { before: number; after: number };
  removed: GcTotals;
  kept: GcTotals;
  byKind: Partial<Record<GcItemKind, { removed: GcTotals; kept: GcTotals }>>;
  items: GcItem[];
  /** Things gc could not do or would not enter (a linked folder, a removal that failed). */
  warnings: string[];
  /** With a shared store (RANKWRIGHT_STORE), a full gc's plan for it (store-gc.ts). */
  store?: StoreGcPlan;
}

export interface GcOptions {
  home?: string;
  dryRun?: boolean;
  /** Nothing younger than this is removed (default 1 hour). */
  minAgeMs?: number;
  /** Row caches not read for this long go (default 7 days). */
  rowCacheIdleMs?: number;
  /** Folders of ended external jobs go this long after their last write (default 3 days): their logs explain failures. */
  jobAgeMs?: number;
  /** A checkpoint of a run with no recorded end goes when it was not rewritten for this long (default 7 days). */
  staleCheckpointMs?: number;
  /** Collect only until the home holds at most this many bytes, oldest unreferenced first (the worker's budget). */
  budgetBytes?: number;
  /**
   * Keeps every run's model of a reviewed campaign (awaiting review or approved), not only the recommended one and the
   * baseline's.
   */
  keepCandidates?: boolean;
  /** Asks Temporal about campaigns whose log has no end (the CLI does, when Temporal is reachable). */
  workflowStates?: (campaignIds: string[]) => Promise<Map<string, WorkflowState>>;
}

/** The ages gc judges by, in milliseconds. */
export interface GcAges {
  minAgeMs: number;
  rowCacheIdleMs: number;
  jobAgeMs: number;
  staleCheckpointMs: number;
}

export const GC_DEFAULTS: Readonly<GcAges> = {
  minAgeMs: 60 * 60_000,
  rowCacheIdleMs: 7 * 86_400_000,
  jobAgeMs: 3 * 86_400_000,
  staleCheckpointMs: 7 * 86_400_000,
};

/** A command job touches its alive file (or its runner the store's heartbeat, activities/job-runner.ts) every 20 s while it runs. */
export const JOB_ALIVE_WITHIN_MS = 90_000;

/** Works out what nothing needs and, unless `dryRun`, removes it. */
export async function collectGarbage(opts: GcOptions = {}): Promise<GcPlan> {
  const settings = { ...GC_DEFAULTS, ...definedOnly(opts) };
  const now = Date.now();
  const plan: GcPlan = {
    home: path.resolve(opts.home ?? rankwrightHome()),
    dryRun: !!opts.dryRun,
    mode: opts.budgetBytes === undefined ? 'full' : 'budget',
    at: new Date(now).toISOString(),
    settings: {
      minAgeSeconds: settings.minAgeMs / 1000,
      rowCacheIdleSeconds: settings.rowCacheIdleMs / 1000,
      jobAgeSeconds: settings.jobAgeMs / 1000,
      staleCheckpointSeconds: settings.staleCheckpointMs / 1000,
      ...(opts.budgetBytes === undefined ? {} : { budgetBytes: opts.budgetBytes }),
    },
    campaigns: [],
    temporal: { asked: false, campaigns: 0 },
    homeBytes: { before: 0, after: 0 },
    removed: { count: 0, bytes: 0 },
    kept: { count: 0, bytes: 0 },
    byKind: {},
    items: [],
    warnings: [],
  };
  let home: string;
  try {
    home = await fs.promises.realpath(plan.home);
  } catch {
    return plan; // no home yet: nothing stored, nothing to collect
  }
  plan.home = home;
  const ctx: PlanContext = { home, now, settings, plan, ledger: await readCampaignLedger(home), keepCandidates: !!opts.keepCandidates };

  const insights = await readInsights(home);
  // Campaigns the insights database knows but whose log is gone count as running: nothing says they ended.
  for (const row of insights.rows)
    if (row.campaignId && !ctx.ledger.has(row.campaignId)) ctx.ledger.set(row.campaignId, recordFromLog(row.campaignId, ''));
  await askTemporal(ctx, opts.workflowStates);
  for (const r of [...ctx.ledger.values()].sort((a, b) => a.campaignId.localeCompare(b.campaignId)))
    plan.campaigns.push({ campaignId: r.campaignId, state: r.state, kept: LIVE_STATES.has(r.state), stateSource: r.stateSource });

  const needed = await neededArtifacts(ctx, insights);
  await planArtifacts(ctx, needed);
  await planCheckpoints(ctx);
  await planRowCaches(ctx);
  await planJobs(ctx);
  plan.homeBytes.before = await treeBytes(home);
  if (opts.budgetBytes !== undefined) chooseForBudget(plan, opts.budgetBytes);
  // The shared store: by a full gc only (the worker's home budget is about its own disk), by the same rules.
  const store = plan.mode === 'full' ? sharedStore() : undefined;
  if (store)
    plan.store = await planStore(store, { now, settings, ledger: ctx.ledger, needed, sharedDatabase: insightsLocation().kind === 'postgres' });
  if (!plan.dryRun) await removeChosen(ctx);
  if (!plan.dryRun && store && plan.store) await removeFromStore(store, plan.store);
  summarise(plan);
  if (plan.store) summariseStore(plan.store);
  return plan;
}

interface PlanContext {
  home: string;
  now: number;
  settings: GcAges;
  plan: GcPlan;
  ledger: Map<string, CampaignRecord>;
  keepCandidates: boolean;
}

function definedOnly(opts: GcOptions): Partial<GcAges> {
  const out: Partial<GcAges> = {};
  for (const key of Object.keys(GC_DEFAULTS) as (keyof GcAges)[]) {
    const value = opts[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0) throw new Error(`gc: ${key} must be a duration of 0 or more milliseconds, got ${value}`);
    out[key] = value;
  }
  return out;
}

async function askTemporal(ctx: PlanContext, lookup: GcOptions['workflowStates']): Promise<void> {
  if (!lookup) return;
  const open = [...ctx.ledger.values()].filter((r) => !r.ended).map((r) => r.campaignId);
  ctx.plan.temporal = { asked: true, campaigns: open.length };
  if (open.length === 0) return;
  try {
    const states = await lookup(open);
    for (const id of open) applyWorkflowState(ctx.ledger.get(id)!, states.get(id));
  } catch (err) {
    // The safe default stands: a campaign whose log has no end is running.
    ctx.plan.temporal.error = (err as Error).message;
  }
}

interface InsightsView {
  rows: { campaignId?: string; experimentId: string; dataFingerprint: string; artifact?: string; ne?: number; recordedAt: string }[];
}

/**
 * The insights database's rows: the fleet's PostgreSQL when RANKWRIGHT_DATABASE_URL names one, else the home's SQLite
 * file. gc refuses to go on without it when it exists but cannot be read.
 */
async function readInsights(home: string): Promise<InsightsView> {
  const configured = insightsLocation();
  const location = configured.kind === 'postgres' ? configured.url : path.join(home, 'insights.sqlite');
  if (configured.kind === 'sqlite' && !fs.existsSync(location)) return { rows: [] };
  let store: InsightsStore | undefined;
  try {
    store = await InsightsStore.open(location);
    return {
      rows: (await store.list({ limit: Number.MAX_SAFE_INTEGER })).map((r) => ({
        campaignId: r.campaignId,
        experimentId: r.experimentId,
        dataFingerprint: r.dataFingerprint,
        artifact: r.artifact,
        ne: r.status === 'succeeded' ? r.metrics?.ne : undefined,
        recordedAt: r.recordedAt,
      })),
    };
  } catch (err) {
    throw new Error(
      `cannot read the insights database ${configured.kind === 'postgres' ? redactedDatabaseUrl(location) : location} (${(err as Error).message}); gc removed nothing: without it, it cannot tell which runs are the best per dataset`,
      { cause: err },
    );
  } finally {
    await store?.close();
  }
}

/** The best full run per dataset (lowest test NE; the earlier on a tie) with a stored model. */
function bestRunPerDataset(insights: InsightsView): Map<string, { experimentId: string; dataFingerprint: string; ne: number }> {
  const best = new Map<string, { experimentId: string; dataFingerprint: string; ne: number; recordedAt: string; artifact: string }>();
  for (const r of insights.rows) {
    if (r.ne === undefined || !Number.isFinite(r.ne) || !r.artifact) continue;
    const current = best.get(r.dataFingerprint);
    if (!current || r.ne < current.ne || (r.ne === current.ne && r.recordedAt < current.recordedAt))
      best.set(r.dataFingerprint, {
        experimentId: r.experimentId,
        dataFingerprint: r.dataFingerprint,
        ne: r.ne,
        recordedAt: r.recordedAt,
        artifact: r.artifact,
      });
  }
  return new Map([...best.values()].map((b) => [b.artifact, b]));
}

/** Why each ref must stay (first reason wins), and for refs that may go, who last named them. */
export interface NeededArtifacts {
  keep: Map<string, { reason: GcReason; detail: string }>;
  namedBy: Map<string, string>;
}

/** What the campaigns' logs and the insights database need kept, wherever the artifacts are (the home, the store). */
async function neededArtifacts(ctx: PlanContext, insights: InsightsView): Promise<NeededArtifacts> {
  const { ledger } = ctx;
  const keep = new Map<string, { reason: GcReason; detail: string }>();
  const namedBy = new Map<string, string>();
  const live = (r: CampaignRecord | undefined) => !!r && LIVE_STATES.has(r.state);
  // A reviewed campaign keeps what its sign-off needs (the recommended model and the baseline's), unless asked for all.
  const needed = (r: CampaignRecord, ref: string, experimentId?: string) =>
    ctx.keepCandidates || !REVIEWED_STATES.has(r.state) || neededAfterReview(r, ref, experimentId);
  for (const record of ledger.values()) {
    const who = `campaign ${record.campaignId} (${record.state})`;
    for (const [ref, what] of record.artifacts) {
      if (live(record) && needed(record, ref)) keep.set(ref, keep.get(ref) ?? { reason: 'referenced', detail: `${what}, ${who}` });
      else
        namedBy.set(
          ref,
          live(record)
            ? `${what}, a candidate ${who} did not recommend (its sign-off needs only the recommended model and the baseline's)`
            : `${what}, ${who}`,
        );
    }
    // The campaign's current report page, stored as an artifact when it was written.
    if (live(record)) {
      const report = await fileRef(path.join(ctx.home, 'reports', `${record.campaignId}.html`));
      if (report && !keep.has(report)) keep.set(report, { reason: 'referenced', detail: `report of ${who}` });
    }
  }
  for (const row of insights.rows) {
    if (!row.artifact || !row.campaignId) continue;
    const record = ledger.get(row.campaignId);
    const who = `experiment ${row.experimentId}, campaign ${row.campaignId} (${record?.state ?? 'running'})`;
    if (live(record) && needed(record!, row.artifact, row.experimentId))
      keep.set(row.artifact, keep.get(row.artifact) ?? { reason: 'referenced', detail: `model of ${who}` });
    else if (!namedBy.has(row.artifact)) namedBy.set(row.artifact, `model of ${who}`);
  }
  for (const [ref, best] of bestRunPerDataset(insights))
    if (!keep.has(ref))
      keep.set(ref, {
        reason: 'best-run',
        detail: `best run on dataset ${best.dataFingerprint} (experiment ${best.experimentId}, NE ${best.ne.toFixed(4)})`,
      });
  return { keep, namedBy };
}

async function planArtifacts(ctx: PlanContext, needed: NeededArtifacts): Promise<void> {
  const { plan, ledger } = ctx;
  const dir = path.join(ctx.home, 'artifacts');
  if (!(await enterable(ctx, dir))) return;
  const keep = new Map(needed.keep);
  const namedBy = new Map(needed.namedBy);
  const live = (r: CampaignRecord | undefined) => !!r && LIVE_STATES.has(r.state);

  const listing = await listArtifacts(dir);
  for (const link of listing.links) plan.items.push(linkItem(ctx, link));
  const described = new Map(await Promise.all(listing.artifacts.map(async (a) => [a.ref, await describeArtifact(a.path)] as const)));
  const young = (a: StoredFile) => ctx.now - a.mtimeMs < ctx.settings.minAgeMs;
  // What a kept (or too young to judge) artifact needs stays with it: an external model's model file.
  const queue = [...keep.keys(), ...listing.artifacts.filter(young).map((a) => a.ref)];
  while (queue.length) {
    const ref = queue.pop()!;
    for (const needed of described.get(ref)?.refs ?? []) {
      if (keep.has(needed)) continue;
      const parent = keep.get(ref);
      keep.set(needed, {
        reason: parent?.reason ?? 'young',
        detail: `model file of external model ${ref}${parent ? ` (${parent.detail})` : ', which is younger than the minimum age'}`,
      });
      queue.push(needed);
    }
  }

  // Who names an artifact that may go, in words: a report's campaign, an external model's model file.
  for (const a of listing.artifacts) {
    const { kind, campaignId, refs } = described.get(a.ref)!;
    if (kind === 'report' && campaignId && !namedBy.has(a.ref)) {
      const record = ledger.get(campaignId);
      namedBy.set(a.ref, `${live(record) ? 'an earlier version of the' : 'a'} report of campaign ${campaignId} (${record?.state ?? 'no event log'})`);
    }
    for (const file of refs)
      if (!namedBy.has(file)) namedBy.set(file, `model file of external model ${a.ref}${namedBy.has(a.ref) ? ` (${namedBy.get(a.ref)})` : ''}`);
  }

  const cached = await sharedCopies(
    ctx,
    [...keep.keys()].filter((ref) => listing.artifacts.some((a) => a.ref === ref && !young(a))),
  );
  for (const a of listing.artifacts) {
    const { kind, campaignId } = described.get(a.ref)!;
    const base = { ...fileItem(ctx, 'artifact', a), ref: a.ref, artifactKind: kind, ...(campaignId ? { campaignId } : {}) };
    let kept = keep.get(a.ref);
    if (kept && cached.has(a.ref))
      kept = {
        ...kept,
        detail: `${kept.detail}; the shared store has it, so under the home budget this copy is only a cache (fetched again when read)`,
      };
    if (young(a))
      plan.items.push({ ...base, action: 'keep', reason: 'young', detail: `written ${ago(base.ageSeconds)}: younger than the minimum age` });
    else if (kind === 'checkpoint')
      plan.items.push({
        ...base,
        action: 'remove',
        reason: 'legacy-checkpoint',
        detail: 'a checkpoint an older Rankwright stored as an artifact: checkpoints now live under checkpoints/, and no run resumes from this one',
      });
    else if (kept) plan.items.push({ ...base, action: 'keep', ...kept, ...(cached.has(a.ref) ? { budgetCollectable: true } : {}) });
    else
      plan.items.push({
        ...base,
        action: 'remove',
        reason: 'unreferenced',
        detail: namedBy.has(a.ref)
          ? `${namedBy.get(a.ref)}: no live campaign needs it and it is no dataset's best run`
          : "named by no campaign and no dataset's best run",
      });
  }
  for (const t of listing.temporary) plan.items.push(tempItem(ctx, t, 'an artifact write'));
}

/**
 * With a shared store, the home's copies of needed artifacts are a cache: under the worker's home budget, those the
 * store holds may go like anything else kept only for a while (a read fetches them again). Asked only in budget mode,
 * briefly (a store that does not answer leaves every copy kept), and only of the artifacts the home must keep.
 */
async function sharedCopies(ctx: PlanContext, refs: string[]): Promise<Set<string>> {
  const copies = new Set<string>();
  const store = ctx.plan.mode === 'budget' && refs.length ? sharedStore() : undefined;
  if (!store) return copies;
  for (const ref of refs) {
    const there = await store.head(artifactKey(ref), { retrySeconds: 5 }).catch(() => undefined);
    if (there) copies.add(ref);
  }
  return copies;
}

async function planCheckpoints(ctx: PlanContext): Promise<void> {
  const root = checkpointsDir(ctx.home);
  if (!(await enterable(ctx, root))) return;
  for (const campaign of await entries(root)) {
    const campaignDir = path.join(root, campaign.name);
    if (campaign.isSymbolicLink()) ctx.plan.items.push(linkItem(ctx, campaignDir));
    if (!campaign.isDirectory()) continue;
    const record = ctx.ledger.get(campaign.name);
    for (const experiment of await entries(campaignDir)) {
      const dir = path.join(campaignDir, experiment.name);
      if (experiment.isSymbolicLink()) ctx.plan.items.push(linkItem(ctx, dir));
      if (!experiment.isDirectory()) continue;
      const files = (await entries(dir)).filter((f) => f.isFile() || f.isSymbolicLink());
      const attemptOf = (name: string) => Number(/^attempt-(\d+)\.ckpt$/.exec(name)?.[1] ?? NaN);
      const latest = Math.max(0, ...files.map((f) => attemptOf(f.name)).filter(Number.isFinite));
      for (const f of files) {
        const file = path.join(dir, f.name);
        if (f.isSymbolicLink()) {
          ctx.plan.items.push(linkItem(ctx, file));
          continue;
        }
        const stat = await statFile(file);
        if (!stat) continue;
        if (f.name.includes('.tmp-')) {
          ctx.plan.items.push(tempItem(ctx, stat, 'a checkpoint write'));
          continue;
        }
        const base = { ...fileItem(ctx, 'checkpoint', stat), campaignId: campaign.name, experimentId: experiment.name };
        const attempt = attemptOf(f.name);
        if (experimentEnded(record, experiment.name))
          ctx.plan.items.push({
            ...base,
            action: 'remove',
            reason: 'run-ended',
            detail: record!.ended
              ? `its campaign ${campaign.name} ended (${record!.state}): no run resumes from it`
              : `experiment ${experiment.name} ended: no run resumes from it`,
          });
        else if (Number.isFinite(attempt) && attempt < latest)
          ctx.plan.items.push({
            ...base,
            action: 'remove',
            reason: 'superseded-attempt',
            detail: `attempt ${attempt}; attempt ${latest} replaced it`,
          });
        else if (ctx.now - stat.mtimeMs >= ctx.settings.staleCheckpointMs)
          ctx.plan.items.push({
            ...base,
            action: 'remove',
            reason: 'stale-checkpoint',
            detail: `not rewritten for ${ago(base.ageSeconds, '')}: its run is gone (a resumed attempt would start again from its first step)`,
          });
        else
          ctx.plan.items.push({
            ...base,
            action: 'keep',
            reason: 'run-live',
            detail: `experiment ${experiment.name} has not ended: its run resumes from it`,
          });
      }
    }
  }
}

async function planRowCaches(ctx: PlanContext): Promise<void> {
  const dir = path.join(ctx.home, 'row-cache');
  if (!(await enterable(ctx, dir))) return;
  for (const f of await entries(dir)) {
    const file = path.join(dir, f.name);
    if (f.isSymbolicLink()) ctx.plan.items.push(linkItem(ctx, file));
    if (!f.isFile()) continue;
    const stat = await statFile(file);
    if (!stat) continue;
    if (f.name.endsWith('.tmp')) {
      ctx.plan.items.push(tempItem(ctx, stat, 'a row cache being written'));
      continue;
    }
    const item = fileItem(ctx, 'row-cache', stat);
    const idle = ctx.now - stat.mtimeMs;
    if (idle >= ctx.settings.rowCacheIdleMs)
      ctx.plan.items.push({
        ...item,
        action: 'remove',
        reason: 'idle',
        detail: `not read for ${ago(item.ageSeconds, '')}; rebuilt from its source file if a run needs it`,
      });
    else
      ctx.plan.items.push({
        ...item,
        action: 'keep',
        reason: 'recently-used',
        detail: `read ${ago(item.ageSeconds)}`,
        budgetCollectable: idle >= ctx.settings.minAgeMs,
      });
  }
}

async function planJobs(ctx: PlanContext): Promise<void> {
  const { plan, ledger } = ctx;
  // Which campaign log speaks for an experiment (a standalone experiment is its own).
  const recordOf = new Map<string, CampaignRecord>();
  for (const record of ledger.values()) for (const id of record.experiments.keys()) recordOf.set(id, record);
  const dataInUse = new Map<string, string>();

  const jobsDir = path.join(ctx.home, 'jobs');
  if (await enterable(ctx, jobsDir)) {
    for (const job of await entries(jobsDir)) {
      const dir = path.join(jobsDir, job.name);
      if (job.isSymbolicLink()) plan.items.push(linkItem(ctx, dir));
      if (!job.isDirectory()) continue;
      const tree = await folderStats(dir);
      const item = { ...folderItem(ctx, 'job-folder', dir, tree) };
      const experimentId = /^(.+)-a\d+$/.exec(job.name)?.[1];
      if (experimentId) item.experimentId = experimentId;
      const record = experimentId ? (recordOf.get(experimentId) ?? ledger.get(experimentId)) : undefined;
      if (record) item.campaignId = record.campaignId;
      const alive = await statFile(path.join(dir, 'alive'));
      const exited = fs.existsSync(path.join(dir, 'exit-code'));
      const done = exited || (experimentId !== undefined && jobEnded(record, job.name, experimentId));
      const idle = ctx.now - tree.mtimeMs;
      const verdict = jobFolderVerdict({
        running: alive !== undefined && ctx.now - alive.mtimeMs < JOB_ALIVE_WITHIN_MS,
        runningDetail: 'its trainer is running (alive file touched in the last 90 s)',
        done,
        idleMs: idle,
        ageSeconds: item.ageSeconds,
        jobAgeMs: ctx.settings.jobAgeMs,
      });
      const kept = verdict.action === 'keep';
      plan.items.push({ ...item, ...verdict, ...(verdict.reason === 'job-recent' ? { budgetCollectable: idle >= ctx.settings.minAgeMs } : {}) });
      if (kept) {
        const dataDir = await jobDataDir(path.join(dir, 'job.json'));
        if (dataDir) dataInUse.set(path.resolve(dataDir), job.name);
      }
    }
  }

  const dataRoot = path.join(ctx.home, 'job-data');
  if (!(await enterable(ctx, dataRoot))) return;
  for (const data of await entries(dataRoot)) {
    const dir = path.join(dataRoot, data.name);
    if (data.isSymbolicLink()) plan.items.push(linkItem(ctx, dir));
    if (!data.isDirectory()) continue;
    const tree = await folderStats(dir);
    const item = folderItem(ctx, 'job-data', dir, tree);
    const user = dataInUse.get(dir);
    const idle = ctx.now - tree.mtimeMs;
    if (user) plan.items.push({ ...item, action: 'keep', reason: 'job-data-in-use', detail: `job ${user} reads it` });
    else if (idle >= ctx.settings.jobAgeMs)
      plan.items.push({
        ...item,
        action: 'remove',
        reason: 'job-data-unused',
        detail: 'no job folder left needs this data hand-off; it is exported again if one does',
      });
    else
      plan.items.push({
        ...item,
        action: 'keep',
        reason: 'job-data-recent',
        detail: `written ${ago(item.ageSeconds)}; a new job on this data would reuse it`,
        budgetCollectable: idle >= ctx.settings.minAgeMs,
      });
  }
}

/**
 * Budget mode: of what a full gc would remove, the oldest first, then (still over) the kept items that are only kept
 * for their age (a row cache read a few hours ago, a recently ended job's folder), oldest first, until the home fits.
 * Referenced artifacts, live runs' checkpoints and anything younger than the minimum age are never taken.
 */
function chooseForBudget(plan: GcPlan, budgetBytes: number): void {
  const byAge = (a: GcItem, b: GcItem) => b.ageSeconds - a.ageSeconds || a.path.localeCompare(b.path);
  const removable = plan.items.filter((i) => i.action === 'remove').sort(byAge);
  const underPressure = plan.items.filter((i) => i.action === 'keep' && i.budgetCollectable).sort(byAge);
  let size = plan.homeBytes.before;
  for (const item of removable) {
    if (size <= budgetBytes) {
      Object.assign(item, {
        action: 'keep',
        reason: 'within-budget',
        detail: `${item.detail}; left for \`rankwright gc\`: the home is within its ${formatBytes(budgetBytes)} budget without removing it`,
      });
      continue;
    }
    size -= item.bytes;
  }
  for (const item of underPressure) {
    if (size <= budgetBytes) break;
    Object.assign(item, {
      action: 'remove',
      reason: 'over-budget',
      detail: `${item.detail}; taken because the home is over its ${formatBytes(budgetBytes)} budget`,
      budgetCollectable: undefined,
    });
    size -= item.bytes;
  }
}

/** Removes the chosen items, each re-checked first: one written or used since it was planned stays. */
async function removeChosen(ctx: PlanContext): Promise<void> {
  const emptied = new Set<string>();
  for (const item of ctx.plan.items) {
    if (item.action !== 'remove') continue;
    const relative = path.relative(ctx.home, item.path);
    if (!relative || relative.startsWith('..') || path.isAbsolute(relative))
      throw new Error(`gc: refusing to remove ${item.path}, outside the home ${ctx.home}`);
    try {
      const st = await fs.promises.lstat(item.path);
      const folder = item.kind === 'job-folder' || item.kind === 'job-data';
      if (st.isSymbolicLink() || folder !== st.isDirectory()) throw new Error('it is no longer what was planned');
      const lastUsed = folder ? (await folderStats(item.path)).mtimeMs : st.mtimeMs;
      if (lastUsed > Date.parse(item.lastUsed) + 1) {
        Object.assign(item, { action: 'keep', reason: 'changed', detail: `${item.detail}; written or used while gc ran, so kept` });
        continue;
      }
      await fs.promises.rm(item.path, { recursive: folder, force: true });
      item.removed = true;
      if (item.kind === 'checkpoint') emptied.add(path.dirname(item.path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        item.removed = true; // someone else (another gc, the run's own cleanup) got there first
        continue;
      }
      item.removed = false;
      item.error = (err as Error).message;
      ctx.plan.warnings.push(`could not remove ${item.path}: ${item.error}`);
    }
  }
  // A campaign's checkpoint folders go with their last checkpoint (rmdir refuses a folder that is not empty).
  for (const dir of emptied) {
    await fs.promises.rmdir(dir).catch(() => {});
    await fs.promises.rmdir(path.dirname(dir)).catch(() => {});
  }
}

function summarise(plan: GcPlan): void {
  for (const item of plan.items) {
    // On a real run, an item whose removal failed is still there: it counts as kept.
    const gone = item.action === 'remove' && item.removed !== false;
    const totals = (plan.byKind[item.kind] ??= { removed: { count: 0, bytes: 0 }, kept: { count: 0, bytes: 0 } });
    for (const t of gone ? [plan.removed, totals.removed] : [plan.kept, totals.kept]) {
      t.count++;
      t.bytes += item.bytes;
    }
  }
  plan.homeBytes.after = Math.max(0, plan.homeBytes.before - plan.removed.bytes);
}

// --- the home's files ---

/** A managed top-level folder gc may walk: it exists and is a real folder, not a link (which gc never follows). */
async function enterable(ctx: PlanContext, dir: string): Promise<boolean> {
  const st = await fs.promises.lstat(dir).catch(() => undefined);
  if (!st) return false;
  if (st.isSymbolicLink()) {
    const target = await fs.promises.readlink(dir).catch(() => '?');
    ctx.plan.warnings.push(`${dir} is a symbolic link (to ${target}): gc does not follow links, so nothing in it was collected`);
    ctx.plan.items.push(linkItem(ctx, dir));
    return false;
  }
  return st.isDirectory();
}

async function entries(dir: string): Promise<fs.Dirent[]> {
  return fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[]);
}

async function statFile(file: string): Promise<StoredFile | undefined> {
  const st = await fs.promises.lstat(file).catch(() => undefined);
  return st?.isFile() ? { path: file, bytes: st.size, mtimeMs: st.mtimeMs } : undefined;
}

/** Bytes and newest write of everything under a folder, links not followed. */
async function folderStats(dir: string): Promise<{ bytes: number; mtimeMs: number }> {
  const out = { bytes: 0, mtimeMs: (await fs.promises.lstat(dir).catch(() => undefined))?.mtimeMs ?? 0 };
  for (const e of await entries(dir)) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await folderStats(p);
      out.bytes += sub.bytes;
      out.mtimeMs = Math.max(out.mtimeMs, sub.mtimeMs);
    } else {
      const st = await fs.promises.lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isFile()) out.bytes += st.size;
      out.mtimeMs = Math.max(out.mtimeMs, st.mtimeMs);
    }
  }
  return out;
}

/** Bytes of every regular file in the home (links not followed). */
export async function treeBytes(dir: string): Promise<number> {
  return (await folderStats(dir)).bytes;
}

/** The data folder a job's job.json hands its trainer. */
async function jobDataDir(jobJson: string): Promise<string | undefined> {
  try {
    const spec = JSON.parse(await fs.promises.readFile(jobJson, 'utf8')) as { data?: { dir?: unknown } };
    return typeof spec.data?.dir === 'string' ? spec.data.dir : undefined;
  } catch {
    return undefined;
  }
}

/** The artifact ref a file's bytes would have (a report page is stored as an artifact of the same bytes). */
async function fileRef(file: string): Promise<string | undefined> {
  try {
    return `sha256:${createHash('sha256')
      .update(await fs.promises.readFile(file))
      .digest('hex')}`;
  } catch {
    return undefined;
  }
}

// --- items ---

function fileItem(ctx: PlanContext, kind: GcItemKind, f: StoredFile): Pick<GcItem, 'kind' | 'path' | 'bytes' | 'ageSeconds' | 'lastUsed'> {
  return {
    kind,
    path: f.path,
    bytes: f.bytes,
    ageSeconds: Math.max(0, Math.round((ctx.now - f.mtimeMs) / 1000)),
    lastUsed: new Date(f.mtimeMs).toISOString(),
  };
}

function folderItem(
  ctx: PlanContext,
  kind: GcItemKind,
  dir: string,
  tree: { bytes: number; mtimeMs: number },
): Omit<GcItem, 'action' | 'reason' | 'detail'> {
  return fileItem(ctx, kind, { path: dir, bytes: tree.bytes, mtimeMs: tree.mtimeMs });
}

function tempItem(ctx: PlanContext, f: StoredFile, what: string): GcItem {
  const item = fileItem(ctx, 'temp-file', f);
  return ctx.now - f.mtimeMs >= ctx.settings.minAgeMs
    ? {
        ...item,
        action: 'remove',
        reason: 'abandoned-temp',
        detail: `temporary file of ${what}, untouched for ${ago(item.ageSeconds, '')}: its writer is gone`,
      }
    : { ...item, action: 'keep', reason: 'in-flight', detail: `temporary file of ${what} in progress` };
}

function linkItem(ctx: PlanContext, file: string): GcItem {
  return {
    kind: 'link',
    path: file,
    bytes: 0,
    ageSeconds: 0,
    lastUsed: new Date(ctx.now).toISOString(),
    action: 'keep',
    reason: 'link',
    detail: 'a symbolic link: gc never follows or removes links',
  };
}

/** "3 h ago", "2.0 days ago" (or without the suffix). */
export function ago(seconds: number, suffix = ' ago'): string {
  if (seconds < 90) return `${Math.round(seconds)} s${suffix}`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min${suffix}`;
  if (seconds < 2 * 86_400) return `${(seconds / 3600).toFixed(1)} h${suffix}`;
  return `${(seconds / 86_400).toFixed(1)} days${suffix}`;
}

/**
 * What becomes of an external job's folder, in a home or in the shared store: kept while its trainer runs or its job
 * has not ended, removed once it ended and sat idle past the job age, kept until then so its logs explain a failure.
 */
export function jobFolderVerdict(job: {
  running: boolean;
  runningDetail: string;
  done: boolean;
  idleMs: number;
  ageSeconds: number;
  jobAgeMs: number;
}): { action: 'keep' | 'remove'; reason: 'job-live' | 'job-done' | 'job-recent'; detail: string } {
  if (job.running) return { action: 'keep', reason: 'job-live', detail: job.runningDetail };
  if (!job.done) return { action: 'keep', reason: 'job-live', detail: 'its job has not ended (no exit code, and its experiment has not ended)' };
  if (job.idleMs >= job.jobAgeMs) return { action: 'remove', reason: 'job-done', detail: `its job ended; last written ${ago(job.ageSeconds)}` };
  return { action: 'keep', reason: 'job-recent', detail: `its job ended ${ago(job.ageSeconds)}: its logs stay a while to explain a failure` };
}
