/**
 * `npm run load [-- --campaigns 50 --experiments 4 --rows 50000] [-- --light | --heavy] [-- --before-checkout DIR] [-- --quick]`
 *
 * Two loads on one dev server (in a namespace of its own) and ONE worker process (its training pool is what should
 * use the machine's cores), all on the same full-width file:
 *
 *   - heavy: N concurrent campaigns, parallel 2. Reports completed experiments per minute, failures, the worker's CPU
 *     share (peak and mean, summed over its process tree: 200% is both cores of a 2-core machine), its peak memory.
 *   - light: a few campaigns one after another, parallel 1: no queueing hides what orchestration costs between one
 *     experiment's end and the next one's start. With `--before-checkout DIR` it runs first with DIR's worker (the
 *     code before a change, e.g. a clone at an older commit), then with this checkout's: before and after, same sitting.
 *
 * For each: where each campaign's wall time went according to the Temporal histories (running activities, waiting for
 * a worker slot, or nothing of the campaign scheduled: Temporal's share), the gaps from one training's end to the next
 * one's start, and what a gap held (workflow tasks, activities, local activities, child starts). `--light` runs the
 * light load alone and keeps the heavy one from the previous load.json (with that run's own stamp); `--heavy` the other
 * way round (the light runs, before and after, are kept).
 * Writes bench/results/load.json and load.md.
 *
 * `--fleet` (issue 25) instead runs one moderate concurrent load (8 campaigns × 4 experiments on 20k rows, parallel 2,
 * unless --campaigns/--experiments/--rows say otherwise) twice: on one worker with its home alone, then on two workers
 * with homes of their own sharing MinIO and PostgreSQL (services-dev.sh; RANKWRIGHT_PG_PORT / RANKWRIGHT_MINIO_PORT
 * pick the ports). It reports both throughputs, their ratio and the store's share of the activities' time (from
 * RANKWRIGHT_STORE_TIMINGS files), and writes bench/results/load-fleet.json and load-fleet.md.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { RankwrightClient } from '../client/rankwright-client';
import { goal, goalTable, type BenchGoal } from './goals';
import { readStoreCalls, startFleetServices, type FleetServices, type StoreCalls } from './load/fleet';
import { activitySpans, campaignTimeline, gapAnatomy, meanGapParts, quantile, type CampaignTimeline, type GapParts } from './load/orchestration';
import { ensureScenarioFiles } from './quality/scenarios';
import { startBenchServer, startBenchWorker } from './temporal-setup';
import { benchStamp, commitLine, machineLine, sampleLoad, writeResultFiles, type BenchStamp, type LoadRange } from './stamp';

const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in these

/** The pids of `pid` and all its descendants (a pool of child processes counts as the worker's CPU too). */
function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended while we looked
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** CPU seconds (user + system, all threads) used so far by the process. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND; // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}

function peakRssMiB(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Samples the workers' trees' CPU share every second: the peak and mean over the run, as % of one core. */
class CpuSampler {
  private lastCpu = new Map<number, number>();
  private lastAt = performance.now();
  private first = performance.now();
  private totalCpu = 0;
  peakShare = 0;
  peakRss = new Map<number, number>();
  private timer: NodeJS.Timeout;

  constructor(private readonly pids: number[]) {
    this.timer = setInterval(() => this.sample(), 1000);
  }

  private sample(): void {
    const now = performance.now();
    let used = 0;
    for (const p of this.pids.flatMap(processTree)) {
      const cpu = cpuSeconds(p);
      // A process first seen counts from now: what it used before (the worker's start-up) is no window's share.
      used += cpu - (this.lastCpu.get(p) ?? cpu);
      this.lastCpu.set(p, cpu);
      this.peakRss.set(p, Math.max(this.peakRss.get(p) ?? 0, peakRssMiB(p)));
    }
    const seconds = (now - this.lastAt) / 1000;
    this.totalCpu += used;
    if (seconds > 0.5) this.peakShare = Math.max(this.peakShare, (100 * used) / seconds);
    this.lastAt = now;
  }

  stop(): { peakSharePct: number; meanSharePct: number; peakRssMiB: number } {
    this.sample();
    clearInterval(this.timer);
    const seconds = (performance.now() - this.first) / 1000;
    return {
      peakSharePct: Math.round(this.peakShare),
      meanSharePct: Math.round((100 * this.totalCpu) / seconds),
      peakRssMiB: Math.round([...this.peakRss.values()].reduce((a, b) => a + b, 0)),
    };
  }
}

/** One load: its campaigns, what the worker used, and where the campaigns' time went. */
interface LoadRun {
  /** "heavy", "light", "light, before". */
  label: string;
  /** The commit whose worker (workflows and activities) ran the campaigns. */
  workerCommit: string;
  campaigns: number;
  experimentsPerCampaign: number;
  parallel: number;
  /** All campaigns at once (heavy), or one after another (light). */
  concurrent: boolean;
  completedExperiments: number;
  failures: number;
  failedCampaigns: string[];
  minutes: number;
  experimentsPerMinute: number;
  worker: { peakCpuSharePct: number; meanCpuSharePct: number; peakRssMiB: number; eventLoopBlockedWarnings: number };
  orchestration: {
    wallSeconds: number;
    runningSeconds: number;
    queuedSeconds: number;
    orchestrationSeconds: number;
    temporalSharePct: number;
    experimentGapMs: { p50: number; p95: number; max: number; count: number };
    /** The part of those gaps when nothing of the campaign was scheduled. */
    experimentGapIdleMs: { p50: number; p95: number };
    /**
     * The gaps split by what they held: those where the campaign measured its data or models before designing (the
     * research step, the interaction signal at a phase's start), and the rest (records, the design, a child's start).
     */
    experimentGapSplitMs?: { withAnalysis: { p50: number; count: number }; designOnly: { p50: number; count: number } };
  };
  /** What a gap held, on average (absent in runs recorded before it was measured). */
  gapParts?: GapParts;
  /** Worker processes (absent: one). */
  workers?: number;
  /** The fleet run: its workers' calls to the shared store against their activities' time. */
  store?: StoreShare;
}

/** The store's calls against the time the workers' activities ran (both summed over workers and campaigns). */
interface StoreShare extends StoreCalls {
  /** Every activity of the campaigns and their experiments, started → closed. */
  activitySeconds: number;
  /** trainModel alone (where checkpoints and models are written). */
  trainModelSeconds: number;
  sharePct: number;
}

/** A run with its own stamp (the commit of this checkout, the date and the load average while it ran). */
interface KeptRun {
  stamp: BenchStamp;
  loadAverage?: LoadRange;
  run: LoadRun;
  /** Kept from an earlier load.json (`--light` keeps the heavy run, `--heavy` the light ones): not measured in this sitting. */
  earlier?: boolean;
}

interface LoadReport {
  stamp: BenchStamp;
  loadAverage?: LoadRange;
  quick: boolean;
  data: { scenario: string; trainRows: number };
  heavy?: KeptRun;
  lightBefore?: KeptRun;
  light?: KeptRun;
  goals: BenchGoal[];
}

async function campaignHistories(client: Client, id: string) {
  const campaign = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
  const children = campaign.flatMap((e) => {
    const started = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    return started ? [started] : [];
  });
  const experiments = await Promise.all(children.map(async (child) => (await client.workflow.getHandle(child).fetchHistory()).events ?? []));
  const activityMs: Record<string, number> = {};
  for (const span of [campaign, ...experiments].flatMap(activitySpans))
    if (span.started !== undefined && span.closed !== undefined) activityMs[span.type] = (activityMs[span.type] ?? 0) + span.closed - span.started;
  return { timeline: campaignTimeline(campaign, experiments), gaps: gapAnatomy(campaign, experiments), activityMs };
}

interface LoadPlan {
  label: string;
  checkout: string;
  campaigns: number;
  experiments: number;
  parallel: number;
  concurrent: boolean;
  files: Awaited<ReturnType<typeof ensureScenarioFiles>>;
  /** Two workers with homes of their own, sharing this store and database (absent: one worker, its home alone). */
  fleet?: FleetServices;
}

/** Training-queue activities a campaign runs between experiments to measure before it designs (not orchestration). */
const ANALYSIS_ACTIVITIES = ['researchBaseline', 'measureInteractions'];

/** The commit a checkout is at ("unknown" outside git). */
function commitOf(checkout: string): string {
  try {
    return execFileSync('git', ['-C', checkout, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Runs one load with a fresh worker from `plan.checkout`, approves its campaigns, and reads their histories. */
async function runLoad(bootstrap: Client, plan: LoadPlan, report: { loadAverage?: LoadRange }): Promise<LoadRun> {
  const homes = Array.from({ length: plan.fleet ? 2 : 1 }, () => fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-load-')));
  const timingFiles = homes.map((home) => path.join(home, 'store-calls.jsonl'));
  const workers = [];
  for (const [i, home] of homes.entries())
    workers.push(
      await startBenchWorker(
        home,
        path.join(home, 'worker.log'),
        plan.checkout,
        plan.fleet
          ? { ...plan.fleet.env, RANKWRIGHT_STORE_TIMINGS: timingFiles[i] }
          : // One machine: the home alone, whatever the bench's shell has set.
            { RANKWRIGHT_STORE: undefined, RANKWRIGHT_DATABASE_URL: undefined },
      ),
    );
  const sampler = new CpuSampler(workers.map((w) => w.child.pid!));
  const loadTimer = setInterval(() => sampleLoad(report), 5000);
  const client = await RankwrightClient.connect();
  const started = Date.now();
  const stamp = Date.now().toString(36);
  const { files } = plan;
  const start = (i: number) =>
    client
      .startCampaign(
        {
          data: { format: 'criteo-tsv', train: files.train, validation: files.validation, test: files.test },
          baseline: { family: 'lr', epochs: 1, seed: i },
          budget: { experiments: plan.experiments, parallel: plan.parallel, stallGain: 0 },
          searchSpace: { families: ['lr', 'fm'], epochs: [1, 2] },
          approvers: ['load'],
          agents: 'heuristic',
        },
        { id: `load-${stamp}-${i}` },
      )
      .then((s) => s.workflowId);
  let failures = 0;
  const failedCampaigns: string[] = [];
  let completedExperiments = 0;
  const untilReview = async (id: string) => {
    for (;;) {
      const s = await client.status(id).catch(() => undefined);
      if (s && s.reviewState !== 'running') {
        completedExperiments += s.experiments.filter((e) => e.status === 'succeeded').length;
        failures += s.experiments.filter((e) => e.status === 'failed').length;
        return;
      }
      // A campaign that ended without reaching review (it failed) must not keep the bench waiting forever.
      const { status } = await bootstrap.workflow.getHandle(id).describe();
      if (status.name !== 'RUNNING') {
        failedCampaigns.push(`${id}: ${status.name}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  process.stderr.write(
    `load (${plan.label}): ${plan.campaigns} campaigns ${plan.concurrent ? 'at once' : 'one after another'}, ${plan.experiments} experiments each, parallel ${plan.parallel}…\n`,
  );
  const ids: string[] = [];
  if (plan.concurrent) {
    ids.push(...(await Promise.all(Array.from({ length: plan.campaigns }, (_, i) => start(i)))));
    await Promise.all(ids.map(untilReview));
  } else
    for (let i = 0; i < plan.campaigns; i++) {
      ids.push(await start(i));
      await untilReview(ids[i]);
    }
  const minutes = (Date.now() - started) / 60_000;
  const cpu = sampler.stop();
  clearInterval(loadTimer);
  const read = await Promise.all(ids.map((id) => campaignHistories(bootstrap, id)));
  // Before the approvals: their activities (the report, the model's export) are in no history read above.
  const calls = plan.fleet ? readStoreCalls(timingFiles) : undefined;
  for (const id of ids.filter((i) => !failedCampaigns.some((f) => f.startsWith(`${i}:`)))) {
    await client.approve(id, { by: 'load' }).catch(() => (failures += 1));
    await client.waitForResult(id);
  }
  for (const worker of workers) await worker.stop();
  const blockedWarnings = workers.reduce((n, w) => n + (fs.readFileSync(w.log, 'utf8').match(/TMPRL1104/g) ?? []).length, 0);
  await client.close();
  for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
  const activitySeconds = (type?: string) =>
    read.reduce((a, r) => a + Object.entries(r.activityMs).reduce((b, [t, ms]) => b + (!type || t === type ? ms : 0), 0), 0) / 1000;

  const timelines = read.map((r) => r.timeline);
  const sum = (f: (t: CampaignTimeline) => number) => timelines.reduce((a, t) => a + f(t), 0) / 1000;
  const gaps = timelines.flatMap((t) => t.experimentGapsMs);
  const idleGaps = timelines.flatMap((t) => t.experimentGapsIdleMs);
  const parts = read.flatMap((r) => r.gaps);
  const analysed = (g: GapParts) => ANALYSIS_ACTIVITIES.some((type) => g.activities[type]);
  const split = (list: GapParts[]) => ({
    p50: quantile(
      list.map((g) => g.ms),
      0.5,
    ),
    count: list.length,
  });
  return {
    label: plan.label,
    workerCommit: commitOf(plan.checkout),
    campaigns: plan.campaigns,
    experimentsPerCampaign: plan.experiments,
    parallel: plan.parallel,
    concurrent: plan.concurrent,
    completedExperiments,
    failures,
    failedCampaigns,
    minutes: round(minutes),
    experimentsPerMinute: round(completedExperiments / minutes),
    worker: {
      peakCpuSharePct: cpu.peakSharePct,
      meanCpuSharePct: cpu.meanSharePct,
      peakRssMiB: cpu.peakRssMiB,
      eventLoopBlockedWarnings: blockedWarnings,
    },
    orchestration: {
      wallSeconds: round(sum((t) => t.wallMs)),
      runningSeconds: round(sum((t) => t.runningMs)),
      queuedSeconds: round(sum((t) => t.queuedMs)),
      orchestrationSeconds: round(sum((t) => t.orchestrationMs)),
      temporalSharePct: round(
        (100 * sum((t) => t.orchestrationMs)) /
          Math.max(
            1e-9,
            sum((t) => t.wallMs),
          ),
      ),
      experimentGapMs: { p50: quantile(gaps, 0.5), p95: quantile(gaps, 0.95), max: gaps.length ? Math.max(...gaps) : NaN, count: gaps.length },
      experimentGapIdleMs: { p50: quantile(idleGaps, 0.5), p95: quantile(idleGaps, 0.95) },
      experimentGapSplitMs: { withAnalysis: split(parts.filter(analysed)), designOnly: split(parts.filter((g) => !analysed(g))) },
    },
    gapParts: meanGapParts(parts),
    workers: workers.length,
    ...(calls
      ? {
          store: {
            ...calls,
            seconds: round(calls.seconds),
            mib: round(calls.mib),
            by: Object.fromEntries(Object.entries(calls.by).map(([k, v]) => [k, { calls: v.calls, seconds: round(v.seconds), mib: round(v.mib) }])),
            activitySeconds: round(activitySeconds()),
            trainModelSeconds: round(activitySeconds('trainModel')),
            sharePct: round((100 * calls.seconds) / Math.max(1e-9, activitySeconds())),
          },
        }
      : {}),
  };
}

/** The light runs (before and after) of the previous load.json, kept by `--heavy`. */
function previousLight(file: string): Pick<LoadReport, 'light' | 'lightBefore'> {
  if (!fs.existsSync(file)) return {};
  const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LoadReport>;
  const kept = (k: KeptRun | undefined) => (k ? { ...k, earlier: true } : undefined);
  return { light: kept(previous.light), lightBefore: kept(previous.lightBefore) };
}

/** The heavy run of a load.json written before the light load existed (one flat run) or after (under `heavy`). */
function previousHeavy(file: string): KeptRun | undefined {
  if (!fs.existsSync(file)) return undefined;
  const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LoadReport> & Partial<LoadRun> & { stamp: BenchStamp };
  if (previous.heavy) return { ...previous.heavy, earlier: true };
  if (!previous.orchestration) return undefined;
  const flat = previous as LoadRun & { stamp: BenchStamp; loadAverage?: LoadRange };
  return {
    stamp: flat.stamp,
    loadAverage: flat.loadAverage,
    earlier: true,
    run: {
      label: 'heavy',
      workerCommit: flat.stamp.commit,
      campaigns: flat.campaigns,
      experimentsPerCampaign: flat.experimentsPerCampaign,
      parallel: 2,
      concurrent: true,
      completedExperiments: flat.completedExperiments,
      failures: flat.failures,
      failedCampaigns: flat.failedCampaigns,
      minutes: flat.minutes,
      experimentsPerMinute: flat.experimentsPerMinute,
      worker: flat.worker,
      orchestration: flat.orchestration,
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      light: { type: 'boolean', default: false },
      heavy: { type: 'boolean', default: false },
      fleet: { type: 'boolean', default: false },
      'before-checkout': { type: 'string' },
      campaigns: { type: 'string' },
      experiments: { type: 'string' },
      'light-campaigns': { type: 'string' },
      'light-experiments': { type: 'string' },
      rows: { type: 'string' },
      scenario: { type: 'string', default: 'wide-criteo-like' },
    },
  });
  const quick = values.quick;
  const number = (value: string | undefined, fallback: number, what: string) => {
    const n = Number(value ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${what} must be a positive whole number (got ${value})`);
    return n;
  };
  const fleet = values.fleet;
  const campaigns = number(values.campaigns, quick ? 3 : fleet ? 8 : 50, 'campaigns');
  const experiments = number(values.experiments, quick ? 2 : 4, 'experiments');
  const lightCampaigns = number(values['light-campaigns'], quick ? 1 : 2, 'light-campaigns');
  const lightExperiments = number(values['light-experiments'], quick ? 3 : 8, 'light-experiments');
  const rows = number(values.rows, quick ? 5_000 : fleet ? 20_000 : 50_000, 'rows');
  const before = values['before-checkout'] ? path.resolve(values['before-checkout']) : undefined;
  if (before && !fs.existsSync(path.join(before, 'bin', 'rankwright.js')))
    throw new Error(`--before-checkout ${before}: no bin/rankwright.js there (a Rankwright checkout with its node_modules)`);
  const files = await ensureScenarioFiles(values.scenario, { rows, log: (l) => process.stderr.write(`${l}\n`) });

  // A namespace of its own: no other worker on the server (a test run's, another bench's) takes this bench's tasks.
  const bootstrap = await startBenchServer({ ownNamespace: `rankwright-load-${Date.now().toString(36)}` });
  const here = path.resolve(__dirname, '..');
  if (fleet)
    return fleetLoad(bootstrap, { label: 'one worker', checkout: here, campaigns, experiments, parallel: 2, concurrent: true, files }, quick);
  const light = (label: string, checkout: string): LoadPlan => ({
    label,
    checkout,
    campaigns: lightCampaigns,
    experiments: lightExperiments,
    parallel: 1,
    concurrent: false,
    files,
  });
  const stamped = async (plan: LoadPlan): Promise<KeptRun> => {
    const sampled: { loadAverage?: LoadRange } = {};
    sampleLoad(sampled);
    const run = await runLoad(bootstrap, plan, sampled);
    return { stamp: benchStamp(), loadAverage: sampled.loadAverage, run };
  };
  if (values.light && values.heavy) throw new Error('--light and --heavy contradict each other (neither runs both)');
  const report: Partial<LoadReport> = {};
  const resultsDir = process.env.RANKWRIGHT_BENCH_OUT || path.join(__dirname, 'results');
  if (values.heavy) Object.assign(report, previousLight(path.join(resultsDir, 'load.json')));
  else {
    if (before) report.lightBefore = await stamped(light('light, before', before));
    report.light = await stamped(light('light', here));
  }
  report.heavy = values.light
    ? previousHeavy(path.join(resultsDir, 'load.json'))
    : await stamped({ label: 'heavy', checkout: here, campaigns, experiments, parallel: 2, concurrent: true, files });
  await bootstrap.connection.close();
  // The load average of this sitting: a heavy run kept from an earlier one has its own.
  const runs = [report.heavy, report.lightBefore, report.light].flatMap((k) => (k && !k.earlier ? [k] : []));
  report.loadAverage = {
    min: Math.min(...runs.map((k) => k.loadAverage?.min ?? Infinity)),
    max: Math.max(...runs.map((k) => k.loadAverage?.max ?? -Infinity)),
  };

  const result: LoadReport = {
    stamp: benchStamp(),
    loadAverage: report.loadAverage,
    quick,
    data: { scenario: files.name, trainRows: files.rows.train },
    ...report,
    goals: loadGoals(report),
  };
  writeResultFiles(path.join(__dirname, 'results'), [
    ['load.json', `${JSON.stringify(result, null, 2)}\n`],
    ['load.md', loadMarkdown(result)],
  ]);
  process.stdout.write(loadMarkdown(result));
}

const round = (v: number) => Number(v.toFixed(2));

interface FleetReport {
  stamp: BenchStamp;
  loadAverage?: LoadRange;
  quick: boolean;
  data: { scenario: string; trainRows: number };
  /** One worker process, its home alone (SQLite, JSONL, artifacts on its disk). */
  oneWorker: KeptRun;
  /** Two worker processes with homes of their own, sharing the store (MinIO) and the database (PostgreSQL). */
  fleet: KeptRun;
  /** fleet ÷ one worker, experiments per minute. */
  throughputRatio: number;
}

/**
 * `--fleet`: the same concurrent load twice in one sitting, on one worker with its home (today's setup) and on two
 * workers sharing only Temporal, MinIO and PostgreSQL. Writes load-fleet.{json,md} (load.json stays as it is).
 */
async function fleetLoad(bootstrap: Client, plan: LoadPlan, quick: boolean): Promise<void> {
  const run = Date.now().toString(36);
  const services = await startFleetServices(run);
  const stamped = async (p: LoadPlan): Promise<KeptRun> => {
    const sampled: { loadAverage?: LoadRange } = {};
    sampleLoad(sampled);
    const r = await runLoad(bootstrap, p, sampled);
    return { stamp: benchStamp(), loadAverage: sampled.loadAverage, run: r };
  };
  let oneWorker: KeptRun;
  let fleet: KeptRun;
  try {
    oneWorker = await stamped(plan);
    fleet = await stamped({ ...plan, label: 'two workers, shared store and database', fleet: services });
  } finally {
    await services.close();
    await bootstrap.connection.close();
  }
  const result: FleetReport = {
    stamp: benchStamp(),
    loadAverage: {
      min: Math.min(oneWorker.loadAverage?.min ?? Infinity, fleet.loadAverage?.min ?? Infinity),
      max: Math.max(oneWorker.loadAverage?.max ?? -Infinity, fleet.loadAverage?.max ?? -Infinity),
    },
    quick,
    data: { scenario: plan.files.name, trainRows: plan.files.rows.train },
    oneWorker,
    fleet,
    throughputRatio: round(fleet.run.experimentsPerMinute / Math.max(1e-9, oneWorker.run.experimentsPerMinute)),
  };
  writeResultFiles(path.join(__dirname, 'results'), [
    ['load-fleet.json', `${JSON.stringify(result, null, 2)}\n`],
    ['load-fleet.md', fleetMarkdown(result)],
  ]);
  process.stdout.write(fleetMarkdown(result));
}

function fleetMarkdown(r: FleetReport): string {
  const one = r.oneWorker.run;
  const two = r.fleet.run;
  const store = two.store;
  const cores = Math.min(os.cpus().length, 2);
  const row = (k: KeptRun) => {
    const x = k.run;
    return `| ${x.label} | ${x.workers ?? 1} | ${k.stamp.date.slice(0, 16).replace('T', ' ')} | ${x.campaigns} × ${x.experimentsPerCampaign}, parallel ${x.parallel} | ${x.completedExperiments} / ${x.failures}${x.failedCampaigns.length ? ` (+${x.failedCampaigns.length} campaign(s) without review)` : ''} | ${x.minutes} | **${x.experimentsPerMinute}** | ${x.worker.peakCpuSharePct}% / ${x.worker.meanCpuSharePct}% | ${x.worker.peakRssMiB} | ${x.orchestration.temporalSharePct}% | ${x.orchestration.experimentGapMs.p50} | ${k.loadAverage ? `${k.loadAverage.min.toFixed(1)}–${k.loadAverage.max.toFixed(1)}` : '—'} |`;
  };
  return [
    '# Load benchmark: a fleet of two workers against one',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `The same load twice in one sitting${r.quick ? ' (quick run)' : ''}: ${one.campaigns} campaigns of heuristic agents at once, ${one.experimentsPerCampaign} experiments each, parallel ${one.parallel}, on \`${r.data.scenario}\` (${r.data.trainRows.toLocaleString()} full-width train rows), one Temporal dev server (a namespace of the bench's own). **One worker**: one \`rankwright worker\` process, its home alone (SQLite, JSONL events, artifacts on its disk): today's setup. **Two workers**: two processes with homes of their own that share only Temporal, the S3-compatible store (MinIO, \`RANKWRIGHT_STORE\`) and the database (PostgreSQL, \`RANKWRIGHT_DATABASE_URL\`), both from \`services-dev.sh\` on the same machine, a fresh database and key prefix per run.`,
    '',
    `**Both runs are on the same ${cores}-core machine**: two workers there measure what sharing costs (a second process and its bundle, uploads and downloads through MinIO, PostgreSQL beside them, two training pools competing for the same cores), not what a second machine gains. On two machines the ratio would be bounded by the cores doubling, less this overhead.`,
    '',
    `Throughput, two workers ÷ one: **${r.throughputRatio}** (${two.experimentsPerMinute} against ${one.experimentsPerMinute} experiments per minute).`,
    '',
    '| run | worker processes | run at (UTC) | campaigns × experiments | completed / failed | minutes | experiments / minute | workers CPU peak / mean | peak RSS MiB (summed) | Temporal share of campaign wall | gap p50 ms | load average |',
    '|---|---:|---|---|---:|---:|---:|---|---:|---:|---:|---|',
    row(r.oneWorker),
    row(r.fleet),
    '',
    ...(store
      ? [
          `The store's share of experiment time (two workers, from \`RANKWRIGHT_STORE_TIMINGS\`: one line per store call, retries included): **${store.sharePct}%**, ${store.seconds} s in ${store.calls} calls (${store.failed} failed, ${store.mib} MiB moved) against ${store.activitySeconds} s of activity time in the campaigns and their experiments (started → closed, summed; ${store.trainModelSeconds} s of it in \`trainModel\`). By key kind and operation:`,
          '',
          '| calls to | calls | seconds | MiB |',
          '|---|---:|---:|---:|',
          ...Object.entries(store.by)
            .sort((a, b) => b[1].seconds - a[1].seconds)
            .map(([k, v]) => `| ${k} | ${v.calls} | ${v.seconds} | ${v.mib} |`),
          '',
          "A store call's time is wall time inside the activity (an upload waits while the training thread may run on), so the share is what a call adds to an activity at most. PostgreSQL's share (events, insights) is not measured here.",
          '',
        ]
      : []),
  ].join('\n');
}

/** The bench's goals: Temporal's share, both cores and no failures under the heavy load; the gap under the light one. */
function loadGoals(report: Partial<LoadReport>): BenchGoal[] {
  const goals: BenchGoal[] = [];
  const light = report.light?.run;
  if (light) {
    const g = light.orchestration.experimentGapMs;
    goals.push(
      goal({
        name: 'Median gap between experiments (light load: one campaign at a time, parallel 1)',
        target: '< 1 s',
        measured: g.p50,
        unit: 'ms',
        threshold: 999,
        direction: 'atMost',
        why: `a median ${g.p50} ms from one training's end to the next one's scheduling over ${g.count} gaps (${light.orchestration.experimentGapIdleMs.p50} ms of it with nothing scheduled; design-only gaps / gaps with the research step or the interaction signal: ${splitCell(light.orchestration.experimentGapSplitMs)}); ${partsLine(light.gapParts)}`,
      }),
    );
  }
  const heavy = report.heavy?.run;
  if (heavy) {
    const o = heavy.orchestration;
    const trainingsRun = Math.max(1, heavy.campaigns * (heavy.experimentsPerCampaign + 1));
    const activityPerTraining = (o.runningSeconds + o.queuedSeconds) / trainingsRun;
    const orchestrationPerTraining = o.orchestrationSeconds / trainingsRun;
    goals.push(
      goal({
        name: "Temporal's share of campaign wall time (heavy load)",
        target: '≤ 2%',
        measured: o.temporalSharePct,
        unit: '%',
        threshold: 2,
        direction: 'atMost',
        why: `${o.orchestrationSeconds.toFixed(0)} s of ${o.wallSeconds.toFixed(0)} campaign-seconds had nothing scheduled; between an experiment's end and the next one's start a median ${o.experimentGapIdleMs.p50} ms had nothing scheduled (of a ${o.experimentGapMs.p50} ms gap), against ${activityPerTraining.toFixed(1)} s of activity time per training. That is ${orchestrationPerTraining.toFixed(2)} s of orchestration per experiment: Temporal's share reaches 2% once an experiment's activities take ≥ ${(49 * orchestrationPerTraining).toFixed(0)} s`,
      }),
      goal({
        name: 'Concurrent campaigns use both cores (heavy load, one worker process)',
        target: `peak CPU share > ${75 * Math.min(2, os.cpus().length)}%`,
        measured: heavy.worker.peakCpuSharePct,
        unit: '%',
        threshold: 75 * Math.min(2, os.cpus().length) + 1,
        direction: 'atLeast',
        why: `mean ${heavy.worker.meanCpuSharePct}%: the worker's training did not run on more than one core at a time`,
      }),
    );
  }
  const runs = [report.heavy, report.lightBefore, report.light].flatMap((k) => (k ? [k.run] : []));
  const failed = runs.reduce((a, r) => a + r.failures + r.failedCampaigns.length, 0);
  goals.push(
    goal({
      name: 'Experiments and campaigns failed under load',
      target: '0',
      measured: failed,
      unit: '',
      threshold: 0,
      direction: 'atMost',
      why: runs
        .map(
          (r) =>
            `${r.label}: ${r.failures} experiment(s) failed or could not be approved, ${r.failedCampaigns.length} campaign(s) ended without a review${r.failedCampaigns.length ? ` (${r.failedCampaigns.slice(0, 3).join('; ')})` : ''}`,
        )
        .join('; '),
    }),
  );
  return goals;
}

/** "per gap: 4.2 workflow tasks (310 ms), activities designExperiments 1× 120 ms, …" */
function partsLine(p: GapParts | undefined): string {
  if (!p) return 'what a gap held was not measured in this run';
  const activities = Object.entries(p.activities).map(([type, a]) => `${type} ${a.count}× ${a.ms.toFixed(0)} ms`);
  const local = Object.entries(p.localActivities).map(([type, n]) => `${type} ${n}×`);
  return (
    `per gap on average: ${p.workflowTasks} workflow tasks (${p.workflowTaskMs.toFixed(0)} ms summed), ` +
    `activities ${activities.length ? activities.join(', ') : 'none'}, local activities ${local.length ? local.join(', ') : 'none'}, ` +
    `${p.childStarts} child start(s) (${p.childStartMs.toFixed(0)} ms asked → started)`
  );
}

function runRow(k: KeptRun): string {
  const r = k.run;
  const o = r.orchestration;
  return `| ${r.label} | \`${r.workerCommit.slice(0, 7)}\` | ${k.stamp.date.slice(0, 16).replace('T', ' ')} | ${r.campaigns} × ${r.experimentsPerCampaign}, parallel ${r.parallel}, ${r.concurrent ? 'at once' : 'one at a time'} | ${r.completedExperiments} / ${r.failures} | ${r.minutes} | ${r.worker.peakCpuSharePct}% / ${r.worker.meanCpuSharePct}% | ${o.wallSeconds} | ${o.runningSeconds} s | ${o.queuedSeconds} s | ${o.orchestrationSeconds} s (${o.temporalSharePct}%) | ${o.experimentGapMs.p50} / ${o.experimentGapMs.p95} / ${o.experimentGapMs.max} (${o.experimentGapMs.count}) | ${o.experimentGapIdleMs.p50} / ${o.experimentGapIdleMs.p95} | ${splitCell(o.experimentGapSplitMs)} |`;
}

function splitCell(split: LoadRun['orchestration']['experimentGapSplitMs']): string {
  const cell = (part: { p50: number; count: number }) => (part.count ? `${part.p50} (${part.count})` : '— (0)');
  return split ? `${cell(split.designOnly)} / ${cell(split.withAnalysis)}` : '—';
}

function loadMarkdown(r: LoadReport): string {
  const runs = [r.heavy, r.lightBefore, r.light].flatMap((k) => (k ? [k] : []));
  return [
    '# Load benchmark',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `Campaigns of heuristic agents on \`${r.data.scenario}\` (${r.data.trainRows.toLocaleString()} full-width train rows), one dev server (SQLite, a namespace of the bench's own) and one worker process${r.quick ? ' (quick run)' : ''}. Heavy: many campaigns at once, parallel 2 (queueing for the 2 training threads dominates). Light: campaigns one after another, parallel 1 (nothing hides orchestration).`,
    '',
    goalTable(r.goals),
    '',
    'Each run, and where its campaigns’ wall time went (summed over campaigns, from their Temporal histories); a gap is one training’s end → the next training’s scheduling in the same campaign:',
    '',
    '| run | worker at | run at (UTC) | campaigns × experiments | completed / failed | minutes | worker CPU peak / mean | campaign wall s | an activity running | waiting for a worker slot | nothing scheduled (Temporal) | gap p50 / p95 / max ms (gaps) | of which nothing scheduled p50 / p95 ms | gap p50 ms: design only (gaps) / with research or signal (gaps) |',
    '|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---|---|---|',
    ...runs.map(runRow),
    '',
    'What a gap held, on average per gap (from the same histories):',
    '',
    ...runs.map((k) => `- **${k.run.label}** (\`${k.run.workerCommit.slice(0, 7)}\`): ${partsLine(k.run.gapParts)}.`),
    '',
    ...runs.flatMap((k) =>
      k.earlier ? [`The ${k.run.label} run is kept from an earlier sitting: ${commitLine(k.stamp)} ${machineLine(k.stamp, k.loadAverage)}`, ''] : [],
    ),
    "A gap also holds the campaign's own agent activities (design, evaluation, records); only the part with nothing scheduled is Temporal's. Workflow tasks are round trips between the server and the worker; a local activity runs inside one.",
    '',
    "What a gap holds, in order: the experiment's last workflow task (record its result, complete), the campaign's task on the child's completion (flush its queued events), at a phase's start the interaction signal on the best model (after the baseline also the research step), the design activity, the task that starts the next child, and that child's first task (record `experiment.started`, schedule its training). Before issue 26 (`440044c`) each record was an activity of its own, a task-queue round trip and one more workflow task each, and a gap held at least three (the result, the campaign's flush, the next experiment's start; more after the baseline); since then they are local activities that ride in those tasks (`patched('local-records')`), and the first phase's signal is asked beside the research step instead of after it (`patched('signal-with-research')`). What remains is the design (a decision), the analysis at a phase's start (measurements the design reads), and the child workflow's start.",
    '',
  ].join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
