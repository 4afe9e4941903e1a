import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CampaignStatus } from '../contracts';
import { describeArtifact } from './artifact-inventory';
import { readCampaignRecord } from './campaign-ledger';
import { checkpointsDir } from './checkpoints';
import { formatBytes } from './format-bytes';
import { rankwrightHome } from './home';

/**
 * How much a campaign stores in the home right now (shown by `rankwright status` and in the report): the artifacts
 * it names (its experiments' and probes' models, an external model's model file, what its onApprove hook promoted)
 * and its live checkpoints. An artifact two of its experiments share is counted once: the store holds it once.
 */
export interface CampaignStorage {
  artifacts: { count: number; bytes: number };
  checkpoints: { count: number; bytes: number };
  bytes: number;
}

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
export async function campaignStorage(campaignId: string, opts: { home?: string; refs?: Iterable<string> } = {}): Promise<CampaignStorage> {
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
  return storage;
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

/** One line: "1.23 GB: 8 artifacts (1.1 GB), 1 live checkpoint (95 MB)". */
export function describeStorage(s: CampaignStorage): string {
  const n = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  return `${formatBytes(s.bytes)}: ${n(s.artifacts.count, 'artifact')} (${formatBytes(s.artifacts.bytes)}), ${n(s.checkpoints.count, 'live checkpoint')} (${formatBytes(s.checkpoints.bytes)})`;
}
