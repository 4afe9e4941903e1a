/**
 * `npm run load [-- --campaigns 50 --experiments 4 --rows 50000] [-- --quick]`: N concurrent campaigns on one dev
 * server and ONE worker process (its training pool is what should use the machine's cores), all on the same
 * full-width file. Reports completed experiments per minute, failures, the worker's CPU share (peak and mean, summed
 * over its process tree: 200% is both cores of a 2-core machine), its peak memory, and where each campaign's wall time
 * went according to the Temporal histories: running activities, waiting for a worker slot, or orchestration (nothing
 * of the campaign scheduled: Temporal's share), plus the gap from one experiment's end to the next one's start.
 * Writes bench/results/load.json and load.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { RankwrightClient } from '../client/rankwright-client';
import { goal, goalTable, type BenchGoal } from './goals';
import { campaignTimeline, quantile, type CampaignTimeline } from './load/orchestration';
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

/** Samples the worker tree's CPU share every second: the peak and mean over the run, as % of one core. */
class CpuSampler {
  private lastCpu = new Map<number, number>();
  private lastAt = performance.now();
  private first = performance.now();
  private totalCpu = 0;
  peakShare = 0;
  peakRss = new Map<number, number>();
  private timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 1000);
  }

  private sample(): void {
    const now = performance.now();
    let used = 0;
    for (const p of processTree(this.pid)) {
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

interface LoadReport {
  stamp: BenchStamp;
  loadAverage?: LoadRange;
  quick: boolean;
  campaigns: number;
  experimentsPerCampaign: number;
  data: { scenario: string; trainRows: number };
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
  };
  goals: BenchGoal[];
}

async function campaignHistories(client: Client, id: string): Promise<CampaignTimeline> {
  const campaign = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
  const children = campaign.flatMap((e) => {
    const started = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    return started ? [started] : [];
  });
  const experiments = await Promise.all(children.map(async (child) => (await client.workflow.getHandle(child).fetchHistory()).events ?? []));
  return campaignTimeline(campaign, experiments);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      campaigns: { type: 'string' },
      experiments: { type: 'string' },
      rows: { type: 'string' },
      scenario: { type: 'string', default: 'wide-criteo-like' },
    },
  });
  const quick = values.quick;
  const campaigns = Number(values.campaigns ?? (quick ? 3 : 50));
  const experiments = Number(values.experiments ?? (quick ? 2 : 4));
  const rows = Number(values.rows ?? (quick ? 5_000 : 50_000));
  const files = await ensureScenarioFiles(values.scenario, { rows, log: (l) => process.stderr.write(`${l}\n`) });

  const bootstrap = await startBenchServer();

  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-load-'));
  const worker = await startBenchWorker(home, path.join(home, 'worker.log'));
  const sampler = new CpuSampler(worker.child.pid!);
  const report: Partial<LoadReport> = {};
  const loadTimer = setInterval(() => sampleLoad(report), 5000);

  const client = await RankwrightClient.connect();
  const started = Date.now();
  const stamp = Date.now().toString(36);
  const ids = await Promise.all(
    Array.from({ length: campaigns }, (_, i) =>
      client
        .startCampaign(
          {
            data: { format: 'criteo-tsv', train: files.train, validation: files.validation, test: files.test },
            baseline: { family: 'lr', epochs: 1, seed: i },
            budget: { experiments, parallel: 2, stallGain: 0 },
            searchSpace: { families: ['lr', 'fm'], epochs: [1, 2] },
            approvers: ['load'],
            agents: 'heuristic',
          },
          { id: `load-${stamp}-${i}` },
        )
        .then((s) => s.workflowId),
    ),
  );
  process.stderr.write(`load: started ${campaigns} campaigns of ${experiments} experiments on ${rows.toLocaleString()} rows; waiting for review…\n`);
  let failures = 0;
  const failedCampaigns: string[] = [];
  let completedExperiments = 0;
  await Promise.all(
    ids.map(async (id) => {
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
        await new Promise((r) => setTimeout(r, 1000));
      }
    }),
  );
  const minutes = (Date.now() - started) / 60_000;
  const cpu = sampler.stop();
  clearInterval(loadTimer);
  const timelines = await Promise.all(ids.map((id) => campaignHistories(bootstrap, id)));
  for (const id of ids.filter((i) => !failedCampaigns.some((f) => f.startsWith(`${i}:`)))) {
    await client.approve(id, { by: 'load' }).catch(() => (failures += 1));
    await client.waitForResult(id);
  }
  await worker.stop();
  const blockedWarnings = (fs.readFileSync(worker.log, 'utf8').match(/TMPRL1104/g) ?? []).length;
  await client.close();
  await bootstrap.connection.close();
  fs.rmSync(home, { recursive: true, force: true });

  const sum = (f: (t: CampaignTimeline) => number) => timelines.reduce((a, t) => a + f(t), 0) / 1000;
  const gaps = timelines.flatMap((t) => t.experimentGapsMs);
  const idleGaps = timelines.flatMap((t) => t.experimentGapsIdleMs);
  const trainingsRun = Math.max(
    1,
    timelines.reduce((a, t) => a + t.trainings, 0),
  );
  const activityPerTraining = sum((t) => t.runningMs + t.queuedMs) / trainingsRun;
  const orchestrationPerTraining = sum((t) => t.orchestrationMs) / trainingsRun;
  const orchestration = {
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
  };
  const goals: BenchGoal[] = [
    goal({
      name: "Temporal's share of campaign wall time (load bench)",
      target: '≤ 2%',
      measured: orchestration.temporalSharePct,
      unit: '%',
      threshold: 2,
      direction: 'atMost',
      why: `${orchestration.orchestrationSeconds.toFixed(0)} s of ${orchestration.wallSeconds.toFixed(0)} campaign-seconds had nothing scheduled; between an experiment's end and the next one's start a median ${orchestration.experimentGapIdleMs.p50} ms had nothing scheduled (of a ${orchestration.experimentGapMs.p50} ms gap), against ${activityPerTraining.toFixed(1)} s of activity time per training. That is ${orchestrationPerTraining.toFixed(2)} s of orchestration per experiment: Temporal's share reaches 2% once an experiment's activities take ≥ ${(49 * orchestrationPerTraining).toFixed(0)} s`,
    }),
    goal({
      name: 'Concurrent campaigns use both cores (one worker process)',
      target: `peak CPU share > ${75 * Math.min(2, os.cpus().length)}%`,
      measured: cpu.peakSharePct,
      unit: '%',
      threshold: 75 * Math.min(2, os.cpus().length) + 1,
      direction: 'atLeast',
      why: `mean ${cpu.meanSharePct}%: the worker's training did not run on more than one core at a time`,
    }),
    goal({
      name: 'Experiments and campaigns failed under load',
      target: '0',
      measured: failures + failedCampaigns.length,
      unit: '',
      threshold: 0,
      direction: 'atMost',
      why: `${failures} experiment(s) failed or could not be approved, ${failedCampaigns.length} campaign(s) ended without a review${failedCampaigns.length ? ` (${failedCampaigns.slice(0, 3).join('; ')})` : ''}`,
    }),
  ];
  const result: LoadReport = {
    stamp: benchStamp(),
    loadAverage: report.loadAverage,
    quick,
    campaigns,
    experimentsPerCampaign: experiments,
    data: { scenario: files.name, trainRows: files.rows.train },
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
    orchestration,
    goals,
  };
  writeResultFiles(path.join(__dirname, 'results'), [
    ['load.json', `${JSON.stringify(result, null, 2)}\n`],
    ['load.md', loadMarkdown(result)],
  ]);
  process.stdout.write(loadMarkdown(result));
}

const round = (v: number) => Number(v.toFixed(2));

function loadMarkdown(r: LoadReport): string {
  const o = r.orchestration;
  return [
    '# Load benchmark',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `${r.campaigns} concurrent campaigns × ${r.experimentsPerCampaign} experiments (plus each baseline), heuristic agents, parallel 2, on \`${r.data.scenario}\` (${r.data.trainRows.toLocaleString()} full-width train rows), one dev server (SQLite) and one worker process${r.quick ? ' (quick run)' : ''}.`,
    '',
    goalTable(r.goals),
    '',
    '| completed experiments | failures | minutes | experiments / minute | worker CPU peak / mean | worker peak RSS MiB | event-loop-blocked warnings |',
    '|---:|---:|---:|---:|---|---:|---:|',
    `| ${r.completedExperiments} | ${r.failures} | ${r.minutes} | ${r.experimentsPerMinute} | ${r.worker.peakCpuSharePct}% / ${r.worker.meanCpuSharePct}% | ${r.worker.peakRssMiB} | ${r.worker.eventLoopBlockedWarnings} |`,
    '',
    'Where the campaigns’ wall time went (summed over campaigns, from their Temporal histories):',
    '',
    '| campaign wall s | an activity running | waiting for a worker slot | nothing scheduled (Temporal) | experiment end → next start p50 / p95 / max ms | of which nothing scheduled p50 / p95 ms |',
    '|---:|---:|---:|---:|---|---|',
    `| ${o.wallSeconds} | ${o.runningSeconds} s | ${o.queuedSeconds} s | ${o.orchestrationSeconds} s (${o.temporalSharePct}%) | ${o.experimentGapMs.p50} / ${o.experimentGapMs.p95} / ${o.experimentGapMs.max} (${o.experimentGapMs.count} gaps) | ${o.experimentGapIdleMs.p50} / ${o.experimentGapIdleMs.p95} |`,
    '',
    "A gap between experiments also holds the campaign's own agent activities (research, design, evaluation, records); only the part with nothing scheduled is orchestration.",
    '',
  ].join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
