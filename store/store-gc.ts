import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeArtifact, type ArtifactDescription } from './artifact-inventory';
import { LIVE_STATES, experimentEnded, jobEnded, type CampaignRecord } from './campaign-ledger';
import { JOB_ALIVE_WITHIN_MS, ago, jobFolderVerdict, type GcAges, type GcReason, type GcTotals, type NeededArtifacts } from './gc';
import type { S3ObjectStore } from './object-store';
import { storeExtras, type DatedObject, type S3StoreExtras } from './object-store/s3-extras';

/**
 * Retention in the fleet's shared store (RANKWRIGHT_STORE), as part of a full `rankwright gc`: the home's rules applied
 * to the store's copies — artifacts no live campaign and no dataset's best run needs, checkpoints of runs that ended
 * (or were superseded or abandoned), folders of external jobs that ended longer ago than the job age, job data no kept
 * job reads. Fleet-safe:
 *
 * - the campaigns' events and the insights rows are the source of truth, so the fleet's shared database
 *   (RANKWRIGHT_DATABASE_URL) is required: a home's own SQLite sees only its own campaigns, and then nothing in the
 *   store is removed;
 * - nothing the store wrote less than the minimum age ago goes (a worker may have put it and not yet recorded it), nor
 *   an external job whose runner heartbeat is recent;
 * - every removal lists its objects again first and spares an item written since the plan was made.
 *
 * Row caches in the store are left alone here.
 */

export type StoreGcItemKind = 'artifact' | 'checkpoint' | 'job-folder' | 'job-data';

export interface StoreGcItem {
  kind: StoreGcItemKind;
  /** The object's key, or a folder's prefix (ending in '/'). */
  key: string;
  bytes: number;
  objects: number;
  /** Seconds since the store last wrote it (a folder: its newest object). */
  ageSeconds: number;
  lastWritten: string;
  action: 'remove' | 'keep';
  reason: GcReason;
  detail: string;
  ref?: string;
  campaignId?: string;
  experimentId?: string;
  removed?: boolean;
  error?: string;
}

export interface StoreGcPlan {
  /** Where the store is (never a credential). */
  store: string;
  /** Why nothing in the store was planned, when so. */
  skipped?: string;
  /** Bytes of everything under the kinds gc looks at, before. */
  bytesBefore: number;
  removed: GcTotals;
  kept: GcTotals;
  byKind: Partial<Record<StoreGcItemKind, { removed: GcTotals; kept: GcTotals }>>;
  items: StoreGcItem[];
  warnings: string[];
}

export interface StoreGcContext {
  now: number;
  settings: GcAges;
  ledger: Map<string, CampaignRecord>;
  needed: NeededArtifacts;
  /** Whether the events and insights come from the fleet's shared database. */
  sharedDatabase: boolean;
}

const ARTIFACT_KEY = /^artifacts\/([0-9a-f]{2})\/([0-9a-f]{64})$/;

export async function planStore(store: S3ObjectStore, ctx: StoreGcContext): Promise<StoreGcPlan> {
  const plan: StoreGcPlan = {
    store: store.description,
    bytesBefore: 0,
    removed: { count: 0, bytes: 0 },
    kept: { count: 0, bytes: 0 },
    byKind: {},
    items: [],
    warnings: [],
  };
  if (!ctx.sharedDatabase) {
    plan.skipped =
      "the campaigns' events and insights come from this home's SQLite, which does not see the rest of the fleet: set RANKWRIGHT_DATABASE_URL to the fleet's database to collect the store";
    return plan;
  }
  const extras = storeExtras(store.location);
  const list = async (prefix: string) => {
    const out: DatedObject[] = [];
    for await (const o of extras.listDated(prefix)) out.push(o);
    plan.bytesBefore += out.reduce((n, o) => n + o.bytes, 0);
    return out;
  };
  await planArtifacts(ctx, plan, extras, await list('artifacts/'));
  planCheckpoints(ctx, plan, await list('checkpoints/'));
  await planJobs(ctx, plan, store, await list('jobs/'), await list('job-data/'));
  return plan;
}

async function planArtifacts(ctx: StoreGcContext, plan: StoreGcPlan, extras: S3StoreExtras, objects: DatedObject[]): Promise<void> {
  const keep = new Map(ctx.needed.keep);
  const stored = new Map<string, DatedObject>();
  for (const o of objects) {
    const m = ARTIFACT_KEY.exec(o.key);
    if (m && m[2].startsWith(m[1])) stored.set(`sha256:${m[2]}`, o);
  }
  const described = new Map<string, ArtifactDescription>();
  for (const [ref, o] of stored) described.set(ref, await describeStored(extras, o.key));
  const young = (o: DatedObject) => ctx.now - o.writtenMs < ctx.settings.minAgeMs;

  // What a kept (or too young to judge) artifact needs stays with it: an external model's model file.
  const queue = [...keep.keys(), ...[...stored].filter(([, o]) => young(o)).map(([ref]) => ref)];
  while (queue.length) {
    const ref = queue.pop()!;
    for (const file of described.get(ref)?.refs ?? []) {
      if (keep.has(file)) continue;
      const parent = keep.get(ref);
      keep.set(file, { reason: parent?.reason ?? 'young', detail: `model file of external model ${ref}${parent ? ` (${parent.detail})` : ''}` });
      queue.push(file);
    }
  }
  // A live campaign's newest report stays (the home keeps its current one; the store cannot tell which that is).
  const newestReport = new Map<string, { ref: string; writtenMs: number }>();
  for (const [ref, o] of stored) {
    const { kind, campaignId } = described.get(ref)!;
    const record = campaignId ? ctx.ledger.get(campaignId) : undefined;
    if (kind !== 'report' || !campaignId || (record && !LIVE_STATES.has(record.state))) continue;
    const current = newestReport.get(campaignId);
    if (!current || o.writtenMs > current.writtenMs) newestReport.set(campaignId, { ref, writtenMs: o.writtenMs });
  }
  for (const [campaignId, { ref }] of newestReport)
    if (!keep.has(ref)) keep.set(ref, { reason: 'referenced', detail: `the newest report of campaign ${campaignId}, which is live` });

  for (const [ref, o] of stored) {
    const { kind, campaignId } = described.get(ref)!;
    const base = { ...itemOf(ctx, 'artifact', o.key, [o]), ref, ...(campaignId ? { campaignId } : {}) };
    const kept = keep.get(ref);
    if (young(o)) plan.items.push({ ...base, action: 'keep', reason: 'young', detail: `put ${ago(base.ageSeconds)}: younger than the minimum age` });
    else if (kind === 'checkpoint')
      plan.items.push({ ...base, action: 'remove', reason: 'legacy-checkpoint', detail: 'a checkpoint an older Rankwright stored as an artifact' });
    else if (kept) plan.items.push({ ...base, action: 'keep', ...kept });
    else {
      const named = ctx.needed.namedBy.get(ref);
      plan.items.push({
        ...base,
        action: 'remove',
        reason: 'unreferenced',
        detail: named ? `${named}: no live campaign needs it and it is no dataset's best run` : "named by no live campaign and no dataset's best run",
      });
    }
  }
}

function planCheckpoints(ctx: StoreGcContext, plan: StoreGcPlan, objects: DatedObject[]): void {
  const byExperiment = new Map<string, DatedObject[]>();
  for (const o of objects) {
    const m = /^checkpoints\/([^/]+)\/([^/]+)\/[^/]+$/.exec(o.key);
    if (!m) continue;
    const id = `${m[1]}/${m[2]}`;
    byExperiment.set(id, [...(byExperiment.get(id) ?? []), o]);
  }
  const attemptOf = (key: string) => Number(/\/attempt-(\d+)\.ckpt$/.exec(key)?.[1] ?? NaN);
  for (const [id, files] of byExperiment) {
    const [campaignId, experimentId] = id.split('/');
    const record = ctx.ledger.get(campaignId);
    const latest = Math.max(0, ...files.map((f) => attemptOf(f.key)).filter(Number.isFinite));
    for (const o of files) {
      const base = { ...itemOf(ctx, 'checkpoint', o.key, [o]), campaignId, experimentId };
      const attempt = attemptOf(o.key);
      if (experimentEnded(record, experimentId))
        plan.items.push({ ...base, action: 'remove', reason: 'run-ended', detail: `experiment ${experimentId} ended: no run resumes from it` });
      else if (Number.isFinite(attempt) && attempt < latest)
        plan.items.push({ ...base, action: 'remove', reason: 'superseded-attempt', detail: `attempt ${attempt}; attempt ${latest} replaced it` });
      else if (ctx.now - o.writtenMs >= ctx.settings.staleCheckpointMs)
        plan.items.push({
          ...base,
          action: 'remove',
          reason: 'stale-checkpoint',
          detail: `not rewritten for ${ago(base.ageSeconds, '')}: its run is gone`,
        });
      else
        plan.items.push({ ...base, action: 'keep', reason: 'run-live', detail: `experiment ${experimentId} has not ended: its run resumes from it` });
    }
  }
}

async function planJobs(ctx: StoreGcContext, plan: StoreGcPlan, store: S3ObjectStore, jobs: DatedObject[], data: DatedObject[]): Promise<void> {
  const recordOf = new Map<string, CampaignRecord>();
  for (const record of ctx.ledger.values()) for (const id of record.experiments.keys()) recordOf.set(id, record);
  const dataInUse = new Map<string, string>();
  for (const [jobId, objects] of groupBy(jobs, 1)) {
    const item = itemOf(ctx, 'job-folder', `jobs/${jobId}/`, objects);
    const experimentId = /^(.+)-a\d+$/.exec(jobId)?.[1];
    const record = experimentId ? (recordOf.get(experimentId) ?? ctx.ledger.get(experimentId)) : undefined;
    const ids = { ...(experimentId ? { experimentId } : {}), ...(record ? { campaignId: record.campaignId } : {}) };
    const beat = objects.find((o) => o.key === `jobs/${jobId}/alive`);
    const exited = objects.some((o) => o.key === `jobs/${jobId}/exit-code`);
    const done = exited || (experimentId !== undefined && jobEnded(record, jobId, experimentId));
    const idle = ctx.now - Math.max(...objects.map((o) => o.writtenMs));
    const verdict = jobFolderVerdict({
      running: beat !== undefined && !exited && ctx.now - beat.writtenMs < JOB_ALIVE_WITHIN_MS,
      runningDetail: 'its runner heartbeat in the last 90 s',
      done,
      idleMs: idle,
      ageSeconds: item.ageSeconds,
      jobAgeMs: ctx.settings.jobAgeMs,
    });
    const kept = verdict.action === 'keep';
    plan.items.push({ ...item, ...ids, ...verdict });
    if (kept) {
      const dataset = await jobDataset(store, jobId);
      if (dataset) dataInUse.set(dataset, jobId);
    }
  }
  for (const [dataset, objects] of groupBy(data, 1)) {
    const item = itemOf(ctx, 'job-data', `job-data/${dataset}/`, objects);
    const user = dataInUse.get(dataset);
    if (user) plan.items.push({ ...item, action: 'keep', reason: 'job-data-in-use', detail: `job ${user} reads it` });
    else if (ctx.now - Math.max(...objects.map((o) => o.writtenMs)) >= ctx.settings.jobAgeMs)
      plan.items.push({
        ...item,
        action: 'remove',
        reason: 'job-data-unused',
        detail: 'no job left in the store needs it; it is put again if one does',
      });
    else
      plan.items.push({
        ...item,
        action: 'keep',
        reason: 'job-data-recent',
        detail: `put ${ago(item.ageSeconds)}; a new job on this data reuses it`,
      });
  }
}

/** Removes the chosen items, each listed again first: one the store wrote since the plan was made stays. */
export async function removeFromStore(store: S3ObjectStore, plan: StoreGcPlan): Promise<void> {
  const extras = storeExtras(store.location);
  for (const item of plan.items) {
    if (item.action !== 'remove') continue;
    try {
      const now: DatedObject[] = [];
      for await (const o of extras.listDated(item.key)) if (item.key.endsWith('/') || o.key === item.key) now.push(o);
      if (now.some((o) => o.writtenMs > Date.parse(item.lastWritten))) {
        Object.assign(item, { action: 'keep', reason: 'changed', detail: `${item.detail}; written while gc ran, so kept` });
        continue;
      }
      for (const o of now) await store.delete(o.key);
      item.removed = true;
    } catch (err) {
      item.removed = false;
      item.error = (err as Error).message;
      plan.warnings.push(`could not remove ${item.key} from the store: ${item.error}`);
    }
  }
}

export function summariseStore(plan: StoreGcPlan): void {
  for (const item of plan.items) {
    const gone = item.action === 'remove' && item.removed !== false;
    const totals = (plan.byKind[item.kind] ??= { removed: { count: 0, bytes: 0 }, kept: { count: 0, bytes: 0 } });
    for (const t of gone ? [plan.removed, totals.removed] : [plan.kept, totals.kept]) {
      t.count++;
      t.bytes += item.bytes;
    }
  }
}

function itemOf(
  ctx: StoreGcContext,
  kind: StoreGcItemKind,
  key: string,
  objects: DatedObject[],
): Pick<StoreGcItem, 'kind' | 'key' | 'bytes' | 'objects' | 'ageSeconds' | 'lastWritten'> {
  const writtenMs = Math.max(...objects.map((o) => o.writtenMs));
  return {
    kind,
    key,
    bytes: objects.reduce((n, o) => n + o.bytes, 0),
    objects: objects.length,
    ageSeconds: Math.max(0, Math.round((ctx.now - writtenMs) / 1000)),
    lastWritten: new Date(writtenMs).toISOString(),
  };
}

/** Objects grouped by the key segment at `depth` (`jobs/<jobId>/…` → jobId). */
function groupBy(objects: DatedObject[], depth: number): Map<string, DatedObject[]> {
  const groups = new Map<string, DatedObject[]>();
  for (const o of objects) {
    const segments = o.key.split('/');
    if (segments.length <= depth + 1) continue;
    groups.set(segments[depth], [...(groups.get(segments[depth]) ?? []), o]);
  }
  return groups;
}

/** The dataset folder a stored job's job.json names (`job-data/<dataset>`). */
async function jobDataset(store: S3ObjectStore, jobId: string): Promise<string | undefined> {
  try {
    const spec = JSON.parse((await store.get(`jobs/${jobId}/job.json`))?.toString('utf8') ?? '') as { data?: { dir?: unknown } };
    return typeof spec.data?.dir === 'string' ? path.basename(spec.data.dir) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a stored artifact is, read from its first bytes only (an external model's whole header when it is longer),
 * classified as the home's copies are (artifact-inventory.ts). Unreadable content is "other", as there.
 */
async function describeStored(extras: S3StoreExtras, key: string): Promise<ArtifactDescription> {
  const tmp = path.join(os.tmpdir(), `rankwright-gc-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    let head = await extras.start(key, 8192);
    if (!head) return { kind: 'other', refs: [] };
    if (head.subarray(0, 4).toString('latin1') === 'RWT1' && head.length >= 8 && 8 + head.readUInt32LE(4) > head.length)
      head = (await extras.start(key, 8 + head.readUInt32LE(4))) ?? head;
    await fs.promises.writeFile(tmp, head);
    return await describeArtifact(tmp);
  } finally {
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
  }
}
