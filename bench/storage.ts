/**
 * `npm run bench:storage [-- --rows 500000 --experiments 12] [-- --quick]`: what a campaign stores. One agent campaign
 * on full-width planted data (the product's default search space, DCN included), on a real dev server and one worker
 * process with a home of its own, sampled every 2 seconds while it runs: the home's peak, by folder. At review, the
 * same home after `rankwright gc` (as a user runs it); after sign-off, after gc again. Writes bench/results/storage.json
 * and storage.md.
 *
 * The goal: a 12-experiment agent campaign on 500k wide rows stores at most a few GB at its peak and under
 * 1 GB after gc.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { RankwrightClient } from '../client/rankwright-client';
import { formatBytes } from '../store/format-bytes';
import { treeBytes } from '../store/gc';
import { goal, goalTable, type BenchGoal } from './goals';
import { ensureScenarioFiles } from './quality/scenarios';
import { startBenchServer, startBenchWorker } from './temporal-setup';
import { benchStamp, commitLine, machineLine, sampleLoad, writeResultFiles, type BenchStamp, type LoadRange } from './stamp';

const root = path.resolve(__dirname, '..');
const SAMPLE_MS = 2000;
const GB = 1e9;

/** The home's size by top-level entry (artifacts, checkpoints, row-cache, events, insights.sqlite…), in bytes. */
async function homeSizes(home: string): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const entry of await fs.promises.readdir(home, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
    const p = path.join(home, entry.name);
    sizes[entry.name] = entry.isDirectory()
      ? await treeBytes(p)
      : await fs.promises.stat(p).then(
          (s) => s.size,
          () => 0,
        );
  }
  return sizes;
}

const total = (sizes: Record<string, number>) => Object.values(sizes).reduce((a, b) => a + b, 0);

interface GcOutcome {
  removedBytes: number;
  removedCount: number;
  homeBytesBefore: number;
  homeBytesAfter: number;
}

/** `rankwright gc --json` against the bench's home, as a user runs it (every age limit at 0: the campaign is over). */
function runGc(home: string): GcOutcome {
  const out = execFileSync(process.execPath, [path.join(root, 'bin', 'rankwright.js'), 'gc', '--json', '--min-age', '0', '--row-cache-idle', '0'], {
    encoding: 'utf8',
    env: { ...process.env, RANKWRIGHT_HOME: home },
    maxBuffer: 1 << 26,
  });
  const plan = JSON.parse(out) as { removed: { count: number; bytes: number }; homeBytes: { before: number; after: number } };
  return {
    removedBytes: plan.removed.bytes,
    removedCount: plan.removed.count,
    homeBytesBefore: plan.homeBytes.before,
    homeBytesAfter: plan.homeBytes.after,
  };
}

interface StorageReport {
  stamp: BenchStamp;
  loadAverage?: LoadRange;
  quick: boolean;
  data: { scenario: string; trainRows: number };
  campaign: { id: string; experiments: number; probes: number; families: string[]; minutes: number; reviewState: string };
  peak: { totalBytes: number; byEntry: Record<string, number>; checkpointsBytes: number };
  atReview: { totalBytes: number; byEntry: Record<string, number> };
  gcAtReview: GcOutcome;
  gcAfterApproval: GcOutcome;
  goals: BenchGoal[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rows: { type: 'string' },
      experiments: { type: 'string' },
      scenario: { type: 'string', default: 'wide-criteo-like' },
    },
  });
  const quick = values.quick;
  const experiments = Number(values.experiments ?? (quick ? 3 : 12));
  const rows = values.rows ? Number(values.rows) : quick ? 5_000 : undefined;
  const files = await ensureScenarioFiles(values.scenario, { rows, log: (l) => process.stderr.write(`${l}\n`) });

  await (await startBenchServer({ ownNamespace: `rankwright-bench-storage-${Date.now().toString(36)}` })).connection.close();

  // The measured home holds only what the campaign stores: the worker's log goes elsewhere.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-storage-'));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-storage-log-'));
  const worker = await startBenchWorker(home, path.join(logDir, 'worker.log'));

  const report: Partial<StorageReport> = {};
  const loadTimer = setInterval(() => sampleLoad(report), 5000);
  let peak = { totalBytes: 0, byEntry: {} as Record<string, number>, checkpointsBytes: 0 };
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = sampling.then(async () => {
      const sizes = await homeSizes(home);
      const t = total(sizes);
      if (t > peak.totalBytes) peak = { totalBytes: t, byEntry: sizes, checkpointsBytes: Math.max(peak.checkpointsBytes, sizes.checkpoints ?? 0) };
      else peak.checkpointsBytes = Math.max(peak.checkpointsBytes, sizes.checkpoints ?? 0);
    });
  }, SAMPLE_MS);

  const client = await RankwrightClient.connect();
  const started = Date.now();
  const { workflowId: id } = await client.startCampaign(
    {
      data: { format: 'criteo-tsv', train: files.train, validation: files.validation, test: files.test },
      budget: { experiments, parallel: 2 },
      approvers: ['bench'],
      agents: 'heuristic',
    },
    { id: `storage-${Date.now().toString(36)}` },
  );
  process.stderr.write(`storage: campaign ${id} (${experiments} experiments, ${files.rows.train.toLocaleString()} train rows); home ${home}\n`);
  let status = await client.status(id);
  for (; status.reviewState === 'running'; status = await client.status(id)) {
    const { status: wf } = await client.temporal.workflow.getHandle(id).describe();
    if (wf.name !== 'RUNNING') throw new Error(`campaign ${id} ended ${wf.name} before review; worker log: ${worker.log}`);
    await new Promise((r) => setTimeout(r, 5000));
  }
  const minutes = (Date.now() - started) / 60_000;
  clearInterval(sampler);
  await sampling;
  const atReviewSizes = await homeSizes(home);
  // The last sample may predate the campaign's last writes: the home at review is a sample too.
  if (total(atReviewSizes) > peak.totalBytes) peak = { ...peak, totalBytes: total(atReviewSizes), byEntry: atReviewSizes };
  const gcAtReview = runGc(home);
  if (status.reviewState === 'awaiting-review') await client.approve(id, { by: 'bench' });
  else await client.abort(id, { by: 'bench', reason: `storage bench: ${status.reviewState}` });
  await client.waitForResult(id).catch(() => undefined);
  const gcAfterApproval = runGc(home);
  clearInterval(loadTimer);
  await worker.stop();
  await client.close();

  const probes = status.probes ?? [];
  const families = [...new Set([...status.experiments, ...probes].map((e) => e.config.family))];
  const full: StorageReport = {
    stamp: benchStamp(),
    loadAverage: report.loadAverage,
    quick,
    data: { scenario: files.name, trainRows: files.rows.train },
    campaign: {
      id,
      experiments: status.experiments.length,
      probes: probes.length,
      families,
      minutes: Number(minutes.toFixed(1)),
      reviewState: status.reviewState,
    },
    peak,
    atReview: { totalBytes: total(atReviewSizes), byEntry: atReviewSizes },
    gcAtReview,
    gcAfterApproval,
    goals: [
      goal({
        name: 'A campaign’s home at its peak (storage bench)',
        target: 'a few GB (≤ 4 GB)',
        measured: peak.totalBytes / GB,
        unit: 'GB',
        threshold: 4,
        direction: 'atMost',
        why: `peak by folder: ${describeEntries(peak.byEntry)}`,
      }),
      goal({
        name: 'The home after gc at review (storage bench)',
        target: '< 1 GB',
        measured: gcAtReview.homeBytesAfter / GB,
        unit: 'GB',
        threshold: 1,
        direction: 'atMost',
        why: `after gc by folder: ${describeEntries(atReviewSizes)} before it; gc removed ${formatBytes(gcAtReview.removedBytes)}`,
      }),
    ],
  };
  writeResultFiles(path.join(__dirname, 'results'), [
    ['storage.json', `${JSON.stringify(full, null, 2)}\n`],
    ['storage.md', storageMarkdown(full)],
  ]);
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(logDir, { recursive: true, force: true });
  process.stdout.write(storageMarkdown(full));
}

function describeEntries(sizes: Record<string, number>): string {
  return Object.entries(sizes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${formatBytes(v)}`)
    .join(', ');
}

function storageMarkdown(r: StorageReport): string {
  const gib = formatBytes;
  const entries = Object.keys({ ...r.peak.byEntry, ...r.atReview.byEntry }).sort();
  return [
    '# Storage benchmark',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `One agent campaign (${r.campaign.experiments} full runs + ${r.campaign.probes} probes; families run: ${r.campaign.families.join(', ')}; heuristic agents, parallel 2) on \`${r.data.scenario}\` (${r.data.trainRows.toLocaleString('en-US')} full-width train rows), one worker with a home of its own, sampled every ${SAMPLE_MS / 1000} s; ${r.campaign.minutes} minutes to ${r.campaign.reviewState}${r.quick ? ' (quick run)' : ''}.`,
    '',
    goalTable(r.goals),
    '',
    '| home | peak (running to review) | at review | after gc at review | after sign-off and gc |',
    '|---|---:|---:|---:|---:|',
    `| total | ${gib(r.peak.totalBytes)} | ${gib(r.atReview.totalBytes)} | ${gib(r.gcAtReview.homeBytesAfter)} | ${gib(r.gcAfterApproval.homeBytesAfter)} |`,
    ...entries.map((e) => `| ${e} | ${gib(r.peak.byEntry[e] ?? 0)} | ${gib(r.atReview.byEntry[e] ?? 0)} | | |`),
    '',
    `Checkpoints on disk peaked at ${gib(r.peak.checkpointsBytes)}. gc at review removed ${r.gcAtReview.removedCount} items (${gib(r.gcAtReview.removedBytes)}); after sign-off ${r.gcAfterApproval.removedCount} more (${gib(r.gcAfterApproval.removedBytes)}).`,
    '',
  ]
    .filter((line, i, all) => line !== '' || all[i - 1] !== '')
    .join('\n');
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
