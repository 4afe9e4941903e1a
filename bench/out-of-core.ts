/**
 * Out-of-core training bench: a full-width training file bigger than the in-memory row limit trains through the
 * product's path (trainExperiment), which parses it once into a row cache and streams the cache for every epoch.
 * Each family runs in a child process whose peak RSS (VmHWM) the parent samples; reported: rows/s of the first pass
 * (parse + cache write) and of the cached passes (training epochs), test NE, peak RSS, against the goal of training
 * 10M full-width rows in ≤ 1.5 GiB.
 *
 *   npx tsx bench/out-of-core.ts [--rows 10000000] [--families lr,fm] [--quick]
 *
 * --quick: 200k rows with the in-memory limit forced to 50k rows, so the streaming path runs in well under a minute.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelConfig, type ModelFamily, type TrainingProgress } from '../contracts';
import { loadDataset } from '../ranking/data/load-data';
import { trainExperiment } from '../ranking/experiment';
import { type BenchGoal, goal, goalTable } from './goals';
import { ensureScenarioFiles } from './quality/scenarios';
import { type BenchStamp, type LoadRange, benchStamp, commitLine, machineLine, namedList, sampleLoad, writeResultFiles } from './stamp';

const FULL_ROWS = 10_000_000;
const QUICK_ROWS = 200_000;
const QUICK_IN_MEMORY_ROWS = 50_000;
const RSS_GOAL_MIB = 1.5 * 1024;
const FAMILIES: ModelFamily[] = ['lr', 'fm'];
const SCENARIO = 'wide-criteo-like';

interface ChildResult {
  family: ModelFamily;
  trainRows: number;
  streamed: boolean;
  /** Whether the row cache already existed (a later family reuses the first one's). */
  cacheHit: boolean;
  cacheBytes: number;
  loadSeconds: number;
  /** Train rows per second of the load: parse + hash + cache write (or, on a hit, the cache check pass). */
  firstPassRowsPerSec: number;
  /** Per epoch: rows per second streamed from the cache and trained on (evaluations included). */
  epochRowsPerSec: number[];
  epochsRun: number;
  trainSeconds: number;
  testNe: number;
  oracleNe?: number;
  childPeakRssMiB: number;
}

interface FamilyResult extends ChildResult {
  /** The parent's samples of the child's VmHWM, or the child's own report, whichever is higher. */
  peakRssMiB: number;
}

interface Report {
  stamp: BenchStamp;
  quick: boolean;
  scenario: { name: string; trainRows: number; validationRows: number; testRows: number; trainFileBytes: number; oracleNe: number };
  maxInMemoryTrainRows: number | null;
  results: FamilyResult[];
  goals: BenchGoal[];
  loadAverage?: LoadRange;
}

function vmHwmMiB(pid: number | 'self'): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/** The child: loads (timed: the first pass) and trains one family, printing its ChildResult as the last stdout line. */
async function child(family: ModelFamily, files: { train: string; validation?: string; test: string }, maxInMemory?: number): Promise<ChildResult> {
  const data = { format: 'criteo-tsv' as const, train: files.train, validation: files.validation, test: files.test };
  const cacheDir = path.join(process.env.RANKWRIGHT_HOME!, 'row-cache');
  const hadCache = fs.existsSync(cacheDir) && fs.readdirSync(cacheDir).some((f) => f.endsWith('.rows'));
  const t0 = performance.now();
  // Loaded here to time the first pass alone; trainExperiment finds it in the process's dataset cache.
  const dataset = await loadDataset(data, { maxInMemoryTrainRows: maxInMemory });
  const loadSeconds = (performance.now() - t0) / 1000;
  const trainRows = dataset.trainOnDisk?.rows ?? dataset.train.rows;
  const events: TrainingProgress[] = [];
  const out = await trainExperiment({
    data,
    model: ModelConfig.parse({ family, epochs: 2, patience: 0 }),
    maxInMemoryTrainRows: maxInMemory,
    onProgress: (p) => events.push(p),
  });
  const epochRowsPerSec: number[] = [];
  let before = { elapsedMs: 0, examples: 0 };
  for (let e = 1; e <= out.earlyStopping.epochsRun; e++) {
    const last = events.filter((p) => p.epoch === e).at(-1);
    if (!last) break;
    epochRowsPerSec.push(Math.round((last.examples - before.examples) / Math.max(1e-9, (last.elapsedMs - before.elapsedMs) / 1000)));
    before = last;
  }
  const cacheBytes = dataset.trainOnDisk ? fs.statSync(dataset.trainOnDisk.cache.file).size : 0;
  return {
    family,
    trainRows,
    streamed: !!dataset.trainOnDisk,
    cacheHit: hadCache,
    cacheBytes,
    loadSeconds: round(loadSeconds, 2),
    firstPassRowsPerSec: Math.round(trainRows / Math.max(1e-9, loadSeconds)),
    epochRowsPerSec,
    epochsRun: out.earlyStopping.epochsRun,
    trainSeconds: round(out.trainSeconds, 2),
    testNe: round(out.metrics.ne, 5),
    oracleNe: out.metrics.oracleNe,
    childPeakRssMiB: vmHwmMiB('self'),
  };
}

/** Runs one family in its own process, sampling its peak RSS every 100 ms. */
function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<FamilyResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', __filename, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let sampled = 0;
    const timer = setInterval(() => (sampled = Math.max(sampled, vmHwmMiB(p.pid!))), 100);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`out-of-core child ${args.join(' ')} exited with ${code}`));
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult;
      resolve({ ...r, peakRssMiB: Math.max(sampled, r.childPeakRssMiB) });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rows: { type: 'string' },
      families: { type: 'string' },
      child: { type: 'string' },
      train: { type: 'string' },
      validation: { type: 'string' },
      test: { type: 'string' },
      'max-in-memory': { type: 'string' },
    },
  });
  if (values.child) {
    const maxInMemory = values['max-in-memory'] ? Number(values['max-in-memory']) : undefined;
    const r = await child(values.child as ModelFamily, { train: values.train!, validation: values.validation, test: values.test! }, maxInMemory);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  }

  const quick = values.quick;
  const rows = values.rows ? Number(values.rows) : quick ? QUICK_ROWS : FULL_ROWS;
  const families = (namedList(values.families, FAMILIES, 'family') ?? (quick ? ['lr'] : FAMILIES)) as ModelFamily[];
  const maxInMemory = quick ? QUICK_IN_MEMORY_ROWS : null;
  const log = (l: string) => process.stderr.write(`out-of-core: ${l}\n`);
  const files = await ensureScenarioFiles(SCENARIO, { rows, log });
  const report: Report = {
    stamp: benchStamp(),
    quick,
    scenario: {
      name: files.name,
      trainRows: files.rows.train,
      validationRows: files.rows.validation,
      testRows: files.rows.test,
      trainFileBytes: fs.statSync(files.train).size,
      oracleNe: files.oracleNe ?? NaN,
    },
    maxInMemoryTrainRows: maxInMemory,
    results: [],
    goals: [],
  };
  // The row cache and artifacts go to a home of the bench's own, removed after (the cache is ~157 bytes a row).
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-out-of-core-'));
  try {
    for (const family of families) {
      const args = ['--child', family, '--train', files.train, '--test', files.test];
      if (files.validation) args.push('--validation', files.validation);
      if (maxInMemory) args.push('--max-in-memory', String(maxInMemory));
      log(`${family} on ${rows.toLocaleString('en-US')} rows in its own process…`);
      sampleLoad(report);
      const r = await runChild(args, { ...process.env, RANKWRIGHT_HOME: home });
      sampleLoad(report);
      log(
        `${family}: ${r.streamed ? 'streamed' : 'IN MEMORY'}, first pass ${r.firstPassRowsPerSec.toLocaleString('en-US')} rows/s${r.cacheHit ? ' (cache hit)' : ''}, epochs ${r.epochRowsPerSec.map((v) => v.toLocaleString('en-US')).join(' / ')} rows/s, NE ${r.testNe}, peak RSS ${r.peakRssMiB} MiB`,
      );
      report.results.push(r);
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  report.goals = goalsOf(report);
  // A quick run never overwrites the committed results (RANKWRIGHT_BENCH_OUT, when set, wins either way).
  writeResultFiles(quick ? path.join(__dirname, '..', '.bench', 'quick-results') : path.join(__dirname, 'results'), [
    ['out-of-core.json', `${JSON.stringify(report, null, 2)}\n`],
    ['out-of-core.md', markdown(report)],
  ]);
  log('wrote out-of-core.json and out-of-core.md');
}

function goalsOf(r: Report): BenchGoal[] {
  const lr = r.results.find((x) => x.family === 'lr') ?? r.results[0];
  if (!lr) return [];
  const rowsLabel = r.scenario.trainRows >= 1e6 ? `${r.scenario.trainRows / 1e6}M` : `${r.scenario.trainRows / 1e3}k`;
  const why = !lr.streamed
    ? `the ${lr.trainRows.toLocaleString('en-US')} training rows were held in memory, not streamed`
    : `peak RSS ${lr.peakRssMiB} MiB is ${lr.peakRssMiB - RSS_GOAL_MIB} MiB over ${RSS_GOAL_MIB} MiB while streaming ${lr.trainRows.toLocaleString('en-US')} rows (${lr.family})`;
  return [
    goal({
      name: `Peak RSS training ${rowsLabel} full-width rows out-of-core (${lr.family.toUpperCase()}${r.quick ? ', quick run' : ''})`,
      target: '≤ 1.5 GiB',
      measured: lr.peakRssMiB / 1024,
      unit: 'GiB',
      threshold: RSS_GOAL_MIB / 1024,
      direction: 'atMost',
      why: lr.streamed && lr.peakRssMiB <= RSS_GOAL_MIB ? undefined : why,
    }),
  ];
}

function markdown(r: Report): string {
  const fmt = (v: number) => v.toLocaleString('en-US');
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const lines = [
    '# Out-of-core training benchmark',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `Data: \`${r.scenario.name}\` (wide planted, 39 feature columns), ${fmt(r.scenario.trainRows)} train rows (${gib(r.scenario.trainFileBytes)} of TSV), ${fmt(r.scenario.validationRows)} validation and ${fmt(r.scenario.testRows)} test rows, oracle NE ${r.scenario.oracleNe.toFixed(4)}${r.quick ? `; quick run, in-memory row limit forced to ${fmt(r.maxInMemoryTrainRows ?? 0)}` : '; default memory budget (1.5 GiB)'}.`,
    "Each family trained 2 epochs (patience 0: early stopping off, so both passes over the cache are measured) in its own process through the product's path (`trainExperiment`); the parent sampled the child's peak RSS (VmHWM).",
    '',
    goalTable(r.goals),
    '',
    '| family | streamed | train rows | first pass rows/s | load s | epoch rows/s | train s | test NE | row cache | peak RSS MiB |',
    '|---|---|---:|---:|---:|---|---:|---:|---:|---:|',
    ...r.results.map(
      (x) =>
        `| ${x.family} | ${x.streamed ? 'yes' : 'no'} | ${fmt(x.trainRows)} | ${fmt(x.firstPassRowsPerSec)}${x.cacheHit ? ' (cache hit)' : ''} | ${x.loadSeconds} | ${x.epochRowsPerSec.map(fmt).join(' / ')} | ${x.trainSeconds} | ${x.testNe.toFixed(4)} | ${x.cacheBytes ? gib(x.cacheBytes) : '—'} | ${x.peakRssMiB} |`,
    ),
    '',
  ];
  const first = r.results[0];
  if (first) {
    const inMemoryGiB = (first.trainRows * 2 * 157) / 2 ** 30;
    lines.push(
      `${first.family.toUpperCase()} ${first.streamed ? 'streamed' : 'held'} ${fmt(first.trainRows)} training rows with a peak RSS of ${first.peakRssMiB} MiB; the rows alone, as the in-memory path holds them (RowBlock and its encoding, ~157 bytes a row each), would take about ${inMemoryGiB.toFixed(2)} GiB. ` +
        `The first pass (parse, hash, write the cache) ran at ${fmt(first.firstPassRowsPerSec)} rows/s; the cached epochs at ${first.epochRowsPerSec.map(fmt).join(' and ')} rows/s, training included.` +
        (r.results.length > 1 && r.results[1].cacheHit
          ? ` ${r.results[1].family.toUpperCase()} found the cache and loaded in ${r.results[1].loadSeconds} s instead of ${first.loadSeconds} s.`
          : ''),
      '',
    );
  }
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
