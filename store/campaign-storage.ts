import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafeId, type CampaignStatus } from '../contracts';
import { describeArtifact } from './artifact-inventory';
import { artifactKey } from './artifacts';
import { readCampaignRecord } from './campaign-ledger';
import { checkpointsDir } from './checkpoints';
import { formatBytes } from './format-bytes';
import { rankwrightHome } from './home';
import { retrySecondsFromEnv, sharedStore, type S3ObjectStore } from './object-store';

/**
 * How much a campaign stores right now (shown by `rankwright status` and in the report): the artifacts it names (its
 * experiments' and probes' models, an external model's model file, what its onApprove hook promoted) and its live
 * checkpoints, in this machine's home and, with RANKWRIGHT_STORE, in the fleet's shared store, where a home that ran
 * nothing of the campaign still sees the real figure. An artifact two of its experiments share is counted once: a
 * store holds it once.
 */
export interface CampaignStorage {
  /** In this home. */
  artifacts: { count: number; bytes: number };
  checkpoints: { count: number; bytes: number };
  bytes: number;
  /** In the shared store (RANKWRIGHT_STORE set): the figure, or why it is missing (the store did not answer). */
  shared?: SharedStorage;
}

export type SharedStorage =
  | { store: string; artifacts: { count: number; bytes: number }; checkpoints: { count: number; bytes: number }; bytes: number }
  | { store: string; unavailable: string };

/** HEAD requests in flight at once: enough to hide each one's latency, few enough not to crowd a shared store. */
const HEADS_IN_FLIGHT = 8;
/**
 * How long the figure waits out a store outage (never longer than RANKWRIGHT_STORE_RETRY_SECONDS): a status or a report
 * is not held up for long by a figure.
 */
const STORE_RETRY_SECONDS = 5;

const REF = /^sha256:([0-9a-f]{64})$/;

/** The artifact refs a campaign's status names. */
export function refsOfStatus(status: CampaignStatus): string[] {
  return [
    ...status.experiments.map((e) => e.artifact),
    ...(status.probes ?? []).map((p) => p.artifact),
    status.recommendation?.artifact,
    status.promotion?.artifact,
  ].filter((r): r is string => typeof r === 'string');
}

/**
 * Measures a campaign's storage from the home: the refs its event log names plus `refs` (e.g. from its live
 * status, which knows runs whose events are not written yet), and the files under its checkpoint folder.
 */
export async function campaignStorage(
  campaignId: string,
  opts: { home?: string; refs?: Iterable<string>; store?: S3ObjectStore | null } = {},
): Promise<CampaignStorage> {
  const home = opts.home ?? rankwrightHome();
  const record = await readCampaignRecord(campaignId, home);
  const refs = new Set([...record.artifacts.keys(), ...(opts.refs ?? [])].filter((r) => REF.test(r)));
  const storage: CampaignStorage = { artifacts: { count: 0, bytes: 0 }, checkpoints: { count: 0, bytes: 0 }, bytes: 0 };
  const counted = new Set<string>();
  const queue = [...refs];
  while (queue.length) {
    const ref = queue.pop()!;
    if (counted.has(ref)) continue;
    counted.add(ref);
    const hex = REF.exec(ref)![1];
    const file = path.join(home, 'artifacts', hex.slice(0, 2), hex);
    const st = await fs.promises.lstat(file).catch(() => undefined);
    if (!st?.isFile()) continue; // not stored (yet, or collected): it takes no space
    storage.artifacts.count++;
    storage.artifacts.bytes += st.size;
    queue.push(...(await describeArtifact(file)).refs);
  }
  await addFiles(path.join(checkpointsDir(home), campaignId), storage.checkpoints);
  storage.bytes = storage.artifacts.bytes + storage.checkpoints.bytes;
  const shared = await sharedStorage(campaignId, counted, opts.store);
  if (shared) storage.shared = shared;
  return storage;
}

/**
 * The campaign's artifacts (`refs`: those it names and those the home's copies name in turn) and live checkpoints in
 * the shared store, by a HEAD per ref and a listing of its checkpoint folder. Never throws: a store that is misconfigured
 * or does not answer within STORE_RETRY_SECONDS leaves the figure out, saying why. An external model the home has no
 * copy of is counted without the model file it names (reading its header would mean fetching it whole).
 */
async function sharedStorage(campaignId: string, refs: Iterable<string>, given?: S3ObjectStore | null): Promise<SharedStorage | undefined> {
  let store: S3ObjectStore | undefined;
  let call: { retrySeconds: number };
  try {
    store = given === undefined ? sharedStore() : (given ?? undefined);
    call = { retrySeconds: Math.min(STORE_RETRY_SECONDS, retrySecondsFromEnv()) };
  } catch (err) {
    return { store: 'RANKWRIGHT_STORE', unavailable: (err as Error).message };
  }
  if (!store) return undefined;
  const figure = { artifacts: { count: 0, bytes: 0 }, checkpoints: { count: 0, bytes: 0 } };
  const queue = [...refs];
  let failure: Error | undefined;
  const heads = async () => {
    for (let ref = queue.pop(); ref && !failure; ref = queue.pop()) {
      try {
        const there = await store.head(artifactKey(ref), call);
        if (there) add(figure.artifacts, there.bytes);
      } catch (err) {
        failure ??= err as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: HEADS_IN_FLIGHT }, heads));
  try {
    if (failure) throw failure;
    if (SafeId.safeParse(campaignId).success) for await (const o of store.list(`checkpoints/${campaignId}/`, call)) add(figure.checkpoints, o.bytes);
  } catch (err) {
    return { store: store.description, unavailable: (err as Error).message };
  }
  return { store: store.description, ...figure, bytes: figure.artifacts.bytes + figure.checkpoints.bytes };
}

function add(into: { count: number; bytes: number }, bytes: number): void {
  into.count++;
  into.bytes += bytes;
}

async function addFiles(dir: string, into: { count: number; bytes: number }): Promise<void> {
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await addFiles(p, into);
    else if (e.isFile()) {
      const st = await fs.promises.lstat(p).catch(() => undefined);
      if (!st) continue;
      into.count++;
      into.bytes += st.size;
    }
  }
}

/** One line: "1.23 GB: 8 artifacts (1.1 GB), 1 live checkpoint (95 MB)" (what the home holds). */
export function describeStorage(s: Pick<CampaignStorage, 'artifacts' | 'checkpoints' | 'bytes'>): string {
  const n = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  return `${formatBytes(s.bytes)}: ${n(s.artifacts.count, 'artifact')} (${formatBytes(s.artifacts.bytes)}), ${n(s.checkpoints.count, 'live checkpoint')} (${formatBytes(s.checkpoints.bytes)})`;
}

/**
 * What the shared store holds of the campaign, in words: "2.4 MB: 5 artifacts (2.4 MB), 0 live checkpoints (0 B) in
 * the shared store s3://…", or that it was not measured and why.
 */
export function describeSharedStorage(s: SharedStorage): string {
  if ('unavailable' in s) return `not measured in the shared store ${s.store} (${s.unavailable})`;
  return `${describeStorage(s)} in the shared store ${s.store}`;
}
