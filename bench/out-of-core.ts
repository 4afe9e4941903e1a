/**
 * Out-of-core training bench: a training file bigger than the in-memory row limit trains through the product's path
 * (trainExperiment, what `rankwright train` runs), which parses it once into a row cache and streams the cache for
 * every epoch. Two tables: a full-width Criteo TSV (each family), and a team's own 104-column Parquet table (the
 * quality bench's wide declared table, bench/wide-parquet.ts; LR) with the in-memory limit set low so it streams.
 * Each training runs in a child process whose peak RSS (VmHWM) the parent samples; reported: rows/s of the first
 * pass (parse + cache write) and of the cached passes (training epochs), test NE, peak RSS, against the goal of
 * training 10M rows in ≤ 1.5 GiB. (The child times the load apart from the epochs, which `rankwright train` does not
 * print; the training is the same call.)
 *
 *   npx tsx bench/out-of-core.ts [--rows 10000000] [--families lr,fm] [--tables criteo,parquet]
 *                                [--parquet-rows 10000000] [--quick]
 *
 * --quick: 200k Criteo rows and 100k Parquet rows with the in-memory limit forced to 50k rows, so the streaming path
 * runs in about a minute. The Parquet table is generated once per size into .bench/data/ (hyparquet-writer writes
 * ~5-10k rows/s here: 10M rows take most of an hour the first time).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { type DataConfigInput, ModelConfig, type ModelFamily, type TrainingProgress } from '../contracts';
import { loadDataset } from '../ranking/data/load-data';
import { trainExperiment } from '../ranking/experiment';
import { type BenchGoal, goal, goalTable } from './goals';
import { ensureScenarioFiles } from './quality/scenarios';
import { WIDE_DECLARED_DEFAULTS } from './quality/wide-declared';
import { PARQUET_ROW_GROUP, ensureWideParquet } from './wide-parquet';
import { type BenchStamp, type LoadRange, benchStamp, commitLine, machineLine, namedList, sampleLoad, writeResultFiles } from './stamp';

const FULL_ROWS = 10_000_000;
const QUICK_ROWS = 200_000;
const QUICK_IN_MEMORY_ROWS = 50_000;
const RSS_GOAL_MIB = 1.5 * 1024;
const FAMILIES: ModelFamily[] = ['lr', 'fm'];
const SCENARIO = 'wide-criteo-like';
const TABLES = ['criteo', 'parquet'] as const;
type Table = (typeof TABLES)[number];
const PARQUET_FULL_ROWS = 10_000_000;
const PARQUET_QUICK_ROWS = 100_000;
/** The Parquet table's in-memory row limit (RANKWRIGHT_IN_MEMORY_TRAIN_ROWS' option): low, so any size streams. */
const PARQUET_IN_MEMORY_ROWS = 250_000;
const PARQUET_SPLITS = { full: { validationRows: 50_000, testRows: 100_000 }, quick: { validationRows: 10_000, testRows: 20_000 } };

interface ChildResult {
  /** Which table (absent in results written before the Parquet table: the Criteo one). */
  table?: Table;
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
  /** The Criteo table, when it ran. */
  scenario?: { name: string; trainRows: number; validationRows: number; testRows: number; trainFileBytes: number; oracleNe: number };
  maxInMemoryTrainRows: number | null;
  /** The 104-column Parquet table, when it ran. */
  parquet?: {
    columns: number;
    trainRows: number;
    validationRows: number;
    testRows: number;
    trainFileBytes: number;
    rowGroupRows: number;
    oracleNe: number;
    maxInMemoryTrainRows: number;
    generatedSeconds: number;
  };
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
async function child(family: ModelFamily, data: DataConfigInput, maxInMemory?: number): Promise<ChildResult> {
  const cacheDir = path.join(process.env.RANKWRIGHT_HOME!, 'row-cache');
  // The caches there before: a hit is this file's cache among them (another table's cache is no hit).
  const cachesBefore = new Set(fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir) : []);
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
    table: 'format' in data && data.format === 'parquet' ? 'parquet' : 'criteo',
    family,
    trainRows,
    streamed: !!dataset.trainOnDisk,
    cacheHit: !!dataset.trainOnDisk && cachesBefore.has(path.basename(dataset.trainOnDisk.cache.file)),
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
      tables: { type: 'string' },
      'parquet-rows': { type: 'string' },
      child: { type: 'string' },
      data: { type: 'string' },
      'max-in-memory': { type: 'string' },
    },
  });
  if (values.child) {
    const maxInMemory = values['max-in-memory'] ? Number(values['max-in-memory']) : undefined;
    const r = await child(values.child as ModelFamily, JSON.parse(values.data!) as DataConfigInput, maxInMemory);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  }

  const quick = values.quick;
  const rows = values.rows ? Number(values.rows) : quick ? QUICK_ROWS : FULL_ROWS;
  const families = (namedList(values.families, FAMILIES, 'family') ?? (quick ? ['lr'] : FAMILIES)) as ModelFamily[];
  const tables = (namedList(values.tables, TABLES, 'table') ?? [...TABLES]) as Table[];
  const parquetRows = values['parquet-rows'] ? Number(values['parquet-rows']) : quick ? PARQUET_QUICK_ROWS : PARQUET_FULL_ROWS;
  if (!(Number.isInteger(parquetRows) && parquetRows >= 1000))
    throw new Error(`--parquet-rows expects an integer ≥ 1000, got ${values['parquet-rows']}`);
  const maxInMemory = quick ? QUICK_IN_MEMORY_ROWS : null;
  const log = (l: string) => process.stderr.write(`out-of-core: ${l}\n`);
  const files = tables.includes('criteo') ? await ensureScenarioFiles(SCENARIO, { rows, log }) : undefined;
  const report: Report = {
    stamp: benchStamp(),
    quick,
    ...(files
      ? {
          scenario: {
            name: files.name,
            trainRows: files.rows.train,
            validationRows: files.rows.validation,
            testRows: files.rows.test,
            trainFileBytes: fs.statSync(files.train).size,
            oracleNe: files.oracleNe ?? NaN,
          },
        }
      : {}),
    maxInMemoryTrainRows: maxInMemory,
    results: [],
    goals: [],
  };
  // The row cache and artifacts go to a home of the bench's own, removed after (the cache is ~157 bytes a row).
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-out-of-core-'));
  const train = async (family: ModelFamily, data: DataConfigInput, limit: number | null, what: string) => {
    const args = ['--child', family, '--data', JSON.stringify(data), ...(limit ? ['--max-in-memory', String(limit)] : [])];
    log(`${family} on ${what} in its own process…`);
    sampleLoad(report);
    const r = await runChild(args, { ...process.env, RANKWRIGHT_HOME: home });
    sampleLoad(report);
    log(
      `${family}: ${r.streamed ? 'streamed' : 'IN MEMORY'}, first pass ${r.firstPassRowsPerSec.toLocaleString('en-US')} rows/s${r.cacheHit ? ' (cache hit)' : ''}, epochs ${r.epochRowsPerSec.map((v) => v.toLocaleString('en-US')).join(' / ')} rows/s, NE ${r.testNe}, peak RSS ${r.peakRssMiB} MiB`,
    );
    report.results.push(r);
  };
  try {
    if (files)
      for (const family of families)
        await train(
          family,
          { format: 'criteo-tsv', train: files.train, validation: files.validation, test: files.test },
          maxInMemory,
          `${rows.toLocaleString('en-US')} Criteo rows`,
        );
    if (tables.includes('parquet')) {
      const options = { ...WIDE_DECLARED_DEFAULTS, trainRows: parquetRows, ...PARQUET_SPLITS[quick ? 'quick' : 'full'] };
      const dir = path.join(__dirname, '..', '.bench', 'data', `wide-declared-parquet-rows${parquetRows}`);
      log(`104-column Parquet table in ${path.relative(process.cwd(), dir)} (generated once, then reused)`);
      const { meta, reused, seconds } = await ensureWideParquet(options, dir, log);
      log(reused ? 'reused' : `generated in ${seconds.toFixed(0)} s`);
      const limit = quick ? QUICK_IN_MEMORY_ROWS : PARQUET_IN_MEMORY_ROWS;
      report.parquet = {
        columns: Object.keys(meta.data.schema.columns).length,
        trainRows: meta.splits.train.rows,
        validationRows: meta.splits.validation.rows,
        testRows: meta.splits.test.rows,
        trainFileBytes: meta.splits.train.bytes,
        rowGroupRows: PARQUET_ROW_GROUP,
        oracleNe: meta.oracle.ne,
        maxInMemoryTrainRows: limit,
        generatedSeconds: round(seconds, 1),
      };
      const at = (f: string) => path.join(dir, f);
      const data = { ...meta.data, train: at(meta.data.train), validation: at(meta.data.validation), test: at(meta.data.test) };
      await train('lr', data, limit, `${parquetRows.toLocaleString('en-US')} Parquet rows of 104 columns`);
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

const rowsLabel = (rows: number) => (rows >= 1e6 ? `${rows / 1e6}M` : `${rows / 1e3}k`);
const tableOf = (x: FamilyResult): Table => x.table ?? 'criteo';

function goalsOf(r: Report): BenchGoal[] {
  const goals: BenchGoal[] = [];
  const criteo = r.results.filter((x) => tableOf(x) === 'criteo');
  const lr = criteo.find((x) => x.family === 'lr') ?? criteo[0];
  if (lr) goals.push(rssGoal(`Peak RSS training ${rowsLabel(lr.trainRows)} full-width rows out-of-core`, lr, r.quick));
  const parquet = r.results.find((x) => tableOf(x) === 'parquet');
  if (parquet)
    goals.push(rssGoal(`Peak RSS training ${rowsLabel(parquet.trainRows)} rows of a 104-column Parquet table out-of-core`, parquet, r.quick));
  return goals;
}

function rssGoal(name: string, x: FamilyResult, quick: boolean): BenchGoal {
  const why = !x.streamed
    ? `the ${x.trainRows.toLocaleString('en-US')} training rows were held in memory, not streamed`
    : `peak RSS ${x.peakRssMiB} MiB is ${x.peakRssMiB - RSS_GOAL_MIB} MiB over ${RSS_GOAL_MIB} MiB while streaming ${x.trainRows.toLocaleString('en-US')} rows (${x.family})`;
  return goal({
    name: `${name} (${x.family.toUpperCase()}${quick ? ', quick run' : ''})`,
    target: '≤ 1.5 GiB',
    measured: x.peakRssMiB / 1024,
    unit: 'GiB',
    threshold: RSS_GOAL_MIB / 1024,
    direction: 'atMost',
    why: x.streamed && x.peakRssMiB <= RSS_GOAL_MIB ? undefined : why,
  });
}

function markdown(r: Report): string {
  const fmt = (v: number) => v.toLocaleString('en-US');
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const header = [
    '| family | streamed | train rows | first pass rows/s | load s | epoch rows/s | train s | test NE | row cache | peak RSS MiB |',
    '|---|---|---:|---:|---:|---|---:|---:|---:|---:|',
  ];
  const row = (x: FamilyResult) =>
    `| ${x.family} | ${x.streamed ? 'yes' : 'no'} | ${fmt(x.trainRows)} | ${fmt(x.firstPassRowsPerSec)}${x.cacheHit ? ' (cache hit)' : ''} | ${x.loadSeconds} | ${x.epochRowsPerSec.map(fmt).join(' / ')} | ${x.trainSeconds} | ${x.testNe.toFixed(4)} | ${x.cacheBytes ? gib(x.cacheBytes) : '—'} | ${x.peakRssMiB} |`;
  const criteo = r.results.filter((x) => tableOf(x) === 'criteo');
  const parquet = r.results.filter((x) => tableOf(x) === 'parquet');
  const lines = [
    '# Out-of-core training benchmark',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    "Each training ran 2 epochs (patience 0: early stopping off, so both passes over the cache are measured) in its own process through the product's path (`trainExperiment`, what `rankwright train` runs); the parent sampled the child's peak RSS (VmHWM).",
    '',
    goalTable(r.goals),
    '',
  ];
  if (r.scenario) {
    lines.push(
      '## Full-width Criteo TSV',
      '',
      `Data: \`${r.scenario.name}\` (wide planted, 39 feature columns), ${fmt(r.scenario.trainRows)} train rows (${gib(r.scenario.trainFileBytes)} of TSV), ${fmt(r.scenario.validationRows)} validation and ${fmt(r.scenario.testRows)} test rows, oracle NE ${r.scenario.oracleNe.toFixed(4)}${r.quick ? `; quick run, in-memory row limit forced to ${fmt(r.maxInMemoryTrainRows ?? 0)}` : '; default memory budget (1.5 GiB)'}.`,
      '',
      ...header,
      ...criteo.map(row),
      '',
    );
    const first = criteo[0];
    if (first) {
      const inMemoryGiB = (first.trainRows * 2 * 157) / 2 ** 30;
      lines.push(
        `${first.family.toUpperCase()} ${first.streamed ? 'streamed' : 'held'} ${fmt(first.trainRows)} training rows with a peak RSS of ${first.peakRssMiB} MiB; the rows alone, as the in-memory path holds them (RowBlock and its encoding, ~157 bytes a row each), would take about ${inMemoryGiB.toFixed(2)} GiB. ` +
          `The first pass (parse, hash, write the cache) ran at ${fmt(first.firstPassRowsPerSec)} rows/s; the cached epochs at ${first.epochRowsPerSec.map(fmt).join(' and ')} rows/s, training included.` +
          (criteo.length > 1 && criteo[1].cacheHit
            ? ` ${criteo[1].family.toUpperCase()} found the cache and loaded in ${criteo[1].loadSeconds} s instead of ${first.loadSeconds} s.`
            : ''),
        '',
      );
    }
  }
  const p = r.parquet;
  if (p) {
    lines.push(
      `## ${p.columns}-column Parquet table`,
      '',
      `Data: the quality bench's wide declared table as Parquet (bench/wide-parquet.ts: 70 categoricals, 30 dense, 3 "|"-separated lists, by a declared schema), ${fmt(p.trainRows)} train rows (${gib(p.trainFileBytes)}, snappy, row groups of ${fmt(p.rowGroupRows)} rows), ${fmt(p.validationRows)} validation and ${fmt(p.testRows)} test rows, oracle NE ${p.oracleNe.toFixed(4)}; in-memory row limit ${fmt(p.maxInMemoryTrainRows)} (RANKWRIGHT_IN_MEMORY_TRAIN_ROWS' option), so it streams${p.trainRows < PARQUET_FULL_ROWS ? `; ${rowsLabel(p.trainRows)} rows, not the ${rowsLabel(PARQUET_FULL_ROWS)} of a full run (\`--parquet-rows\`)` : ''}.${p.generatedSeconds ? ` Generated in this run (${p.generatedSeconds} s), not timed in the rows.` : ''}`,
      '',
      ...header,
      ...parquet.map(row),
      '',
    );
    for (const x of parquet)
      lines.push(
        `${x.family.toUpperCase()} ${x.streamed ? 'streamed' : 'held'} ${fmt(x.trainRows)} rows of ${p.columns} columns in a peak RSS of ${x.peakRssMiB} MiB: the first pass (read the declared columns row group by row group, hash, write the cache) at ${fmt(x.firstPassRowsPerSec)} rows/s, the cached epochs at ${x.epochRowsPerSec.map(fmt).join(' and ')} rows/s, training included.`,
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
