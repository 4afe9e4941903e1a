/**
 * Ingest benchmark: does Rankwright's `lr` make one pass over a full-width Criteo TSV as fast as the FTRL a user would
 * otherwise run, parse included, at equal or better NE, and does FM train at no less than half LR's rate? The speed
 * peers are the textbook FTRL written for speed (bench/peers/textbook-ftrl.ts) and Vowpal Wabbit's FTRL with the
 * same recipe (bench/peers/vw_ftrl.py, bench venv). Each measurement runs in its own process (its memory and
 * start-up are its own), all in the same run on the same files:
 *   - the textbook script: one pass over train, predictions for test (wall time of `npx tsx bench/peers/textbook-ftrl.ts`);
 *   - VW: the TSVs converted to VW's text format, then one pass of VW's own parser and learner over train and its
 *     predictions for test; its rate is timed on the training alone (conversion excluded) and with train's
 *     conversion; no VW (no venv, no wheel) = reported as not run, with the reason;
 *   - Rankwright LR, epochs 1, the default LR config otherwise, through `trainExperiment` (what `rankwright train`
 *     runs): load, features, train, validate, calibrate, score test, write the artifact (wall time of the process),
 *     with its phases timed inside;
 *   - parsing alone: the train and test files read into rows, value names included, as the loader reads them;
 *   - training rates: LR and FM trainStep over the same encoded rows, examples per second.
 * Writes bench/results/ingest.json and ingest.md.
 *
 *   npx tsx bench/ingest.ts [--quick] [--train FILE --test FILE] [--repeat N (2; --quick 1)]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
// The engine's modules are loaded where they are used (`await import`): each child process loads what its
// measurement needs, so the LR pass starts up with what `rankwright train` loads, not the bench's data generator.
import { goal, goalTable, type BenchGoal } from './goals';
import { measurePredictions } from './peers/measure';
import { ensureVowpalWabbit } from './peers/python-venv';
import { benchStamp, commitLine, machineLine, sampleLoad, writeResultFiles, type BenchStamp, type LoadRange } from './stamp';

const ROOT = path.resolve(__dirname, '..');
const QUICK_ROWS = 20_000;
/** FM's rate is measured on at most this many rows (and LR's beside it on the same rows): a rate needs no more. */
const RATE_ROWS = 500_000;
const VW_SCRIPT = path.join(ROOT, 'bench', 'peers', 'vw_ftrl.py');

/** One training through the product's path (trainExperiment), timed in its own process: LR's pass, DCN's epoch. */
interface ProductPass {
  /** Wall time of the whole process, start-up included (what a user waits for). */
  wallSeconds: number;
  /** Inside the process: loading the three splits (parse + split), the rest of trainExperiment, and start-up. */
  loadSeconds: number;
  trainSeconds: number;
  otherSeconds: number;
  startupSeconds: number;
  trainRows: number;
  testRows: number;
  testNe: number;
  peakRssMiB: number;
}

interface Rates {
  rows: number;
  lrExamplesPerSec: number;
  fmExamplesPerSec: number;
  encodeSeconds: number;
}

/** VW's FTRL: its own summary (bench/peers/vw_ftrl.py), the process's wall time and its test NE; or why it did not run. */
export type VwRun =
  | {
      status: 'ok';
      version: string;
      args: string;
      wallSeconds: number;
      convertTrainSeconds: number;
      convertTestSeconds: number;
      /** VW's own pass over train.vw (its parser, learner, model save): what its examples per second are of. */
      trainSeconds: number;
      testSeconds: number;
      trainRows: number;
      examplesPerSec: number;
      examplesPerSecWithConversion: number;
      testNe: number;
    }
  | { status: 'not run'; reason: string };

export interface IngestReport {
  stamp: BenchStamp;
  quick: boolean;
  files: { train: string; test: string; trainRows: number; testRows: number; trainMiB: number };
  /** Examples per second are rows of the train file per wall second (the textbook's, LR's) or VW training second. */
  textbook: { wallSeconds: number; trainRows: number; testRows: number; testNe: number; examplesPerSec: number };
  vw: VwRun;
  lrPass: ProductPass;
  /** One DCN epoch at its defaults through the same path (the issue's "DCN epoch against the textbook pass"). */
  dcnEpoch: ProductPass;
  parse: { seconds: number; rows: number; megabytesPerSec: number };
  rates: Rates;
  ratio: number;
  /** Every run's wall seconds (the fastest of each counts). */
  samples: { textbook: number[]; lrPass: number[]; vw: number[]; dcnEpoch: number[] };
  goals: BenchGoal[];
  loadAverage?: LoadRange;
}

function peakRssMiB(): number {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

const round = (v: number, digits = 3) => Number(v.toFixed(digits));

/** Each family at its defaults but for one epoch. */
const ONE_EPOCH = { lr: { family: 'lr', epochs: 1 }, dcn: { family: 'dcn', epochs: 1 } } as const;

/** Child: one epoch of `family` through trainExperiment; the load is timed apart (loadDataset caches it for the experiment). */
async function childProductPass(train: string, test: string, family: 'lr' | 'dcn'): Promise<Omit<ProductPass, 'wallSeconds' | 'startupSeconds'>> {
  const { loadDataset } = await import('../ranking/data/load-data');
  const { trainExperiment } = await import('../ranking/experiment');
  const t0 = performance.now();
  const data = { format: 'criteo-tsv' as const, train, test };
  const dataset = await loadDataset(data);
  const loadSeconds = (performance.now() - t0) / 1000;
  const out = await trainExperiment({ data, model: ONE_EPOCH[family] });
  const inProcess = (performance.now() - t0) / 1000;
  return {
    loadSeconds: round(loadSeconds),
    trainSeconds: round(out.trainSeconds),
    otherSeconds: round(inProcess - loadSeconds - out.trainSeconds),
    trainRows: dataset.train.rows,
    testRows: dataset.test.rows,
    testNe: round(out.metrics.ne, 5),
    peakRssMiB: peakRssMiB(),
  };
}

/** Child: the train and test files parsed into rows, as the loader reads them (value names collected). */
async function childParse(train: string, test: string): Promise<{ seconds: number; rows: number }> {
  const { readCriteoFile } = await import('../ranking/data/criteo-reader');
  const { newValueNames } = await import('../ranking/data/rows');
  const t0 = performance.now();
  const valueNames = newValueNames();
  let rows = 0;
  for (const file of [train, test]) rows += (await readCriteoFile(file, { maxBadRowFraction: 0.01, valueNames })).block.rows;
  return { seconds: round((performance.now() - t0) / 1000), rows };
}

/**
 * Child: LR's and FM's trainStep over the same encoded rows (one shuffled pass each, default configs, a fresh model
 * each time), alternating LR and FM `repeat` times; each family's best rate counts (other work on a shared machine
 * only ever slows a pass down).
 */
async function childRates(train: string, test: string, repeat: number): Promise<Rates> {
  const { ModelConfig } = await import('../contracts');
  const { loadDataset } = await import('../ranking/data/load-data');
  const { buildFeatureSpec, encodeRows } = await import('../ranking/features');
  const { sharedKernels } = await import('../ranking/kernels');
  const { createModel } = await import('../ranking/models/create-model');
  const { SeededRandom } = await import('../ranking/rng');
  const dataset = await loadDataset({ format: 'criteo-tsv', train, test });
  const rows = Math.min(dataset.train.rows, RATE_ROWS);
  const rates: Record<'lr' | 'fm', number> = { lr: 0, fm: 0 };
  const prepared = (['lr', 'fm'] as const).map((family) => {
    const config = ModelConfig.parse({ family });
    const spec = buildFeatureSpec(config, dataset.train, dataset.active);
    const e0 = performance.now();
    const encoded = encodeRows(dataset.train, spec);
    return { family, config, spec, encoded, encodeSeconds: (performance.now() - e0) / 1000 };
  });
  for (let rep = 0; rep < repeat; rep++) {
    for (const { family, config, spec, encoded } of prepared) {
      const model = createModel(config, spec, sharedKernels());
      const order = Int32Array.from({ length: rows }, (_, i) => i);
      new SeededRandom(config.seed).shuffle(order);
      const t0 = performance.now();
      for (let start = 0; start < rows; start += config.batchSize)
        await model.trainStep(encoded, order, start, Math.min(rows, start + config.batchSize), 1);
      rates[family] = Math.max(rates[family], Math.round(rows / ((performance.now() - t0) / 1000)));
    }
  }
  return { rows, lrExamplesPerSec: rates.lr, fmExamplesPerSec: rates.fm, encodeSeconds: round(prepared[0].encodeSeconds) };
}

/** Runs `args` with tsx in a process of its own; returns its wall seconds and its last stdout line. */
function timedChild(args: string[], env: NodeJS.ProcessEnv = {}): { seconds: number; last: string } {
  const t0 = performance.now();
  const stdout = execFileSync('npx', ['tsx', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
    env: { ...process.env, ...env },
  });
  return { seconds: (performance.now() - t0) / 1000, last: stdout.trim().split('\n').at(-1) ?? '' };
}

/** VW's FTRL peer as its own process (the bench venv's python); its summary and its wall seconds. */
function vwRun(python: string, train: string, test: string, predictions: string, work: string): { seconds: number; summary: Record<string, any> } {
  const t0 = performance.now();
  const stdout = execFileSync(python, [VW_SCRIPT, '--train', train, '--test', test, '--out', predictions, '--work', work], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return { seconds: (performance.now() - t0) / 1000, summary: JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, any> };
}

/** The textbook script, as a user runs it; it prints its row counts. */
function textbookRun(train: string, test: string, predictions: string): { seconds: number; trainRows: number; testRows: number } {
  const r = timedChild([path.join('bench', 'peers', 'textbook-ftrl.ts'), train, test, predictions]);
  const { trainRows, testRows } = JSON.parse(r.last) as { trainRows: number; testRows: number };
  return { seconds: r.seconds, trainRows, testRows };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      train: { type: 'string' },
      test: { type: 'string' },
      child: { type: 'string' },
      repeat: { type: 'string' },
    },
  });
  if (values.child) {
    const [train, test] = [values.train!, values.test!];
    const result =
      values.child === 'lr-pass' || values.child === 'dcn-epoch'
        ? await childProductPass(train, test, values.child === 'lr-pass' ? 'lr' : 'dcn')
        : values.child === 'parse'
          ? await childParse(train, test)
          : await childRates(train, test, Number(values.repeat));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  }

  const quick = values.quick;
  const repeat = values.repeat ? Math.max(1, Number(values.repeat)) : quick ? 1 : 2;
  const log = (line: string) => process.stderr.write(`ingest: ${line}\n`);
  let train = values.train;
  let test = values.test;
  if (!train !== !test) throw new Error('give both --train and --test, or neither');
  if (!train || !test) {
    const { ensureScenarioFiles } = await import('./quality/scenarios');
    const files = await ensureScenarioFiles('wide-criteo-like', { rows: quick ? QUICK_ROWS : undefined, log });
    train = files.train;
    test = files.test;
  }
  const report: Partial<IngestReport> = { quick };
  sampleLoad(report);
  // Artifacts go to a home of the bench's own, removed after: a user's models and insights stay untouched.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-ingest-'));
  const predictions = path.join(home, 'textbook-predictions.txt');
  const vwPredictions = path.join(home, 'vw-predictions.txt');
  const self = path.relative(ROOT, __filename);
  let vwPython: string | undefined;
  try {
    vwPython = ensureVowpalWabbit({ log }).python;
  } catch (e) {
    report.vw = { status: 'not run', reason: (e as Error).message.split('\n')[0] };
    log(`Vowpal Wabbit unavailable, reported as not run: ${(e as Error).message}`);
  }
  try {
    // The textbook script, VW and the LR pass alternate, `repeat` times; each one's fastest run counts (other work on
    // a shared machine only ever slows a run down, and alternating gives them all the same chances). Every run is
    // deterministic, so the NE of the fastest is the NE of each.
    let textbook: ReturnType<typeof textbookRun> | undefined;
    let vw: ReturnType<typeof vwRun> | undefined;
    let lrPass: ProductPass | undefined;
    let dcnEpoch: ProductPass | undefined;
    const samples: IngestReport['samples'] = { textbook: [], lrPass: [], vw: [], dcnEpoch: [] };
    /** One product pass in its own process; start-up is what its wall time holds beyond the work timed inside it. */
    const productPass = (child: 'lr-pass' | 'dcn-epoch'): ProductPass => {
      const run = timedChild([self, '--child', child, '--train', train, '--test', test], { RANKWRIGHT_HOME: home });
      const inside = JSON.parse(run.last) as Omit<ProductPass, 'wallSeconds' | 'startupSeconds'>;
      const startupSeconds = round(Math.max(0, run.seconds - (inside.loadSeconds + inside.trainSeconds + inside.otherSeconds)));
      return { ...inside, wallSeconds: round(run.seconds), startupSeconds };
    };
    for (let rep = 0; rep < repeat; rep++) {
      log(`textbook FTRL, one pass over ${path.relative(ROOT, train)} (run ${rep + 1} of ${repeat})…`);
      const t = textbookRun(train, test, predictions);
      samples.textbook.push(round(t.seconds));
      if (!textbook || t.seconds < textbook.seconds) textbook = t;
      sampleLoad(report);
      if (vwPython) {
        log(`textbook: ${t.seconds.toFixed(2)} s; Vowpal Wabbit FTRL…`);
        try {
          const v = vwRun(vwPython, train, test, vwPredictions, home);
          samples.vw.push(round(v.summary.trainSeconds as number));
          if (!vw || v.summary.trainSeconds < vw.summary.trainSeconds) vw = v;
          log(`VW: ${v.seconds.toFixed(2)} s (conversion ${v.summary.convertTrainSeconds} s, training ${v.summary.trainSeconds} s)`);
        } catch (e) {
          report.vw = { status: 'not run', reason: `vw_ftrl.py failed: ${(e as Error).message.split('\n')[0]}` };
          vwPython = undefined;
        }
        sampleLoad(report);
      }
      log(`textbook: ${t.seconds.toFixed(2)} s; Rankwright LR, epochs 1…`);
      const lr = productPass('lr-pass');
      samples.lrPass.push(lr.wallSeconds);
      if (!lrPass || lr.wallSeconds < lrPass.wallSeconds) lrPass = lr;
      sampleLoad(report);
      log(`LR pass: ${lr.wallSeconds.toFixed(2)} s (load ${lr.loadSeconds} s, train ${lr.trainSeconds} s); DCN, epochs 1…`);
      const dcn = productPass('dcn-epoch');
      samples.dcnEpoch.push(dcn.wallSeconds);
      if (!dcnEpoch || dcn.wallSeconds < dcnEpoch.wallSeconds) dcnEpoch = dcn;
      sampleLoad(report);
      log(`DCN epoch: ${dcn.wallSeconds.toFixed(2)} s (load ${dcn.loadSeconds} s, train ${dcn.trainSeconds} s)`);
    }
    report.samples = samples;
    log('parse alone…');
    const parse = JSON.parse(timedChild([self, '--child', 'parse', '--train', train, '--test', test]).last) as { seconds: number; rows: number };
    sampleLoad(report);
    log(`parse: ${parse.seconds} s; LR and FM training rates…`);
    const rates = JSON.parse(
      timedChild([self, '--child', 'rates', '--train', train, '--test', test, '--repeat', String(repeat)], { RANKWRIGHT_HOME: home }).last,
    ) as Rates;
    sampleLoad(report);
    const trainMiB = fs.statSync(train).size / 2 ** 20;
    const testMiB = fs.statSync(test).size / 2 ** 20;
    report.stamp = benchStamp();
    report.files = {
      train: path.relative(ROOT, train),
      test: path.relative(ROOT, test),
      trainRows: textbook!.trainRows,
      testRows: textbook!.testRows,
      trainMiB: round(trainMiB, 1),
    };
    report.textbook = {
      wallSeconds: round(textbook!.seconds),
      trainRows: textbook!.trainRows,
      testRows: textbook!.testRows,
      testNe: round((await measurePredictions(predictions, test)).ne, 5),
      examplesPerSec: Math.round(textbook!.trainRows / textbook!.seconds),
    };
    if (vw && !report.vw) {
      const v = vw.summary;
      report.vw = {
        status: 'ok',
        version: v.vowpalwabbit,
        args: v.args,
        wallSeconds: round(vw.seconds),
        convertTrainSeconds: v.convertTrainSeconds,
        convertTestSeconds: v.convertTestSeconds,
        trainSeconds: v.trainSeconds,
        testSeconds: v.testSeconds,
        trainRows: v.trainRows,
        examplesPerSec: v.examplesPerSec,
        examplesPerSecWithConversion: v.examplesPerSecWithConversion,
        testNe: round((await measurePredictions(vwPredictions, test)).ne, 5),
      };
    }
    report.lrPass = lrPass!;
    report.dcnEpoch = dcnEpoch!;
    report.parse = { ...parse, megabytesPerSec: round((trainMiB + testMiB) / parse.seconds, 1) };
    report.rates = rates;
    report.ratio = round(lrPass!.wallSeconds / textbook!.seconds);
    report.goals = ingestGoals(report as IngestReport);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  const full = report as IngestReport;
  writeResultFiles(path.join(__dirname, 'results'), [
    ['ingest.json', `${JSON.stringify(full, null, 2)}\n`],
    ['ingest.md', ingestMarkdown(full)],
  ]);
  log(
    `LR pass ${full.ratio}× the textbook's wall time; ${full.vw.status === 'ok' ? `training ${(full.rates.lrExamplesPerSec / full.vw.examplesPerSec).toFixed(2)}× VW's examples/s, whole run ${(lrExamplesPerSec(full) / vwWholeExamplesPerSec(full, full.vw)).toFixed(2)}×, at NE ${full.lrPass.testNe} against ${full.vw.testNe}` : `VW not run (${full.vw.reason})`}; FM ${(full.rates.fmExamplesPerSec / full.rates.lrExamplesPerSec).toFixed(2)}× LR's rate; wrote ingest.json and ingest.md`,
  );
}

/** The phases of the LR pass, largest first, as "name s (share)". */
function phases(p: ProductPass): [string, number][] {
  const parts: [string, number][] = [
    ['loading the files', p.loadSeconds],
    ['training, validation, calibration and test scoring', p.trainSeconds],
    ['features, metrics and the artifact', p.otherSeconds],
    ['process start-up', p.startupSeconds],
  ];
  return parts.sort((a, b) => b[1] - a[1]);
}

export function ingestGoals(r: IngestReport): BenchGoal[] {
  const [top, second] = phases(r.lrPass);
  const share = (s: number) => `${((100 * s) / r.lrPass.wallSeconds).toFixed(0)}%`;
  const fmRatio = r.rates.fmExamplesPerSec / Math.max(1, r.rates.lrExamplesPerSec);
  return [
    goal({
      name: 'LR one pass vs textbook FTRL, wall time incl. parse',
      target: '≤ 1.0x',
      measured: r.ratio,
      unit: 'x',
      peer: { name: 'textbook FTRL (one pass)', value: r.textbook.wallSeconds, unit: 's' },
      threshold: 1.0,
      direction: 'atMost',
      why:
        `${r.lrPass.wallSeconds.toFixed(2)} s against ${r.textbook.wallSeconds.toFixed(2)} s: ${top[0]} took ${top[1].toFixed(2)} s (${share(top[1])}), ` +
        `${second[0]} ${second[1].toFixed(2)} s (${share(second[1])}); parsing alone ${r.parse.seconds.toFixed(2)} s`,
    }),
    ...(r.vw.status === 'ok' ? vwGoals(r, r.vw) : []),
    dcnEpochGoal(r),
    goal({
      name: 'FM training rate vs LR',
      target: '≥ 0.5x',
      measured: round(fmRatio, 2),
      unit: 'x',
      peer: { name: 'LR', value: r.rates.lrExamplesPerSec, unit: 'examples/s' },
      threshold: 0.5,
      direction: 'atLeast',
      why: `FM ${r.rates.fmExamplesPerSec.toLocaleString('en-US')} examples/s against LR ${r.rates.lrExamplesPerSec.toLocaleString('en-US')} on the same ${r.rates.rows.toLocaleString('en-US')} rows`,
    }),
  ];
}

/** Issue 26's goal: one DCN epoch at its defaults, through the product's path, within 5x the textbook script's pass. */
function dcnEpochGoal(r: IngestReport): BenchGoal {
  const d = r.dcnEpoch;
  const ratio = d.wallSeconds / r.textbook.wallSeconds;
  return goal({
    name: 'DCN one epoch vs textbook FTRL, wall time incl. parse',
    target: '≤ 5.0x',
    measured: round(ratio, 2),
    unit: 'x',
    peer: { name: 'textbook FTRL (one pass)', value: r.textbook.wallSeconds, unit: 's' },
    threshold: 5.0,
    direction: 'atMost',
    why:
      `${d.wallSeconds.toFixed(2)} s against ${r.textbook.wallSeconds.toFixed(2)} s: training one epoch over ${d.trainRows.toLocaleString('en-US')} rows with its ` +
      `validation, calibration and test scoring took ${d.trainSeconds.toFixed(2)} s, ${Math.round(d.trainRows / d.trainSeconds).toLocaleString('en-US')} examples/s; test NE ${d.testNe}`,
  });
}

/** LR's rate: rows of the train file per wall second of the whole pass (it trains on 90%, validates on the rest). */
const lrExamplesPerSec = (r: IngestReport) => Math.round(r.files.trainRows / r.lrPass.wallSeconds);
/** VW's rate over its whole process: rows of the train file per wall second (conversion, training, test predictions). */
const vwWholeExamplesPerSec = (r: IngestReport, vw: Extract<VwRun, { status: 'ok' }>) => Math.round(r.files.trainRows / vw.wallSeconds);

/**
 * `lr` against VW's FTRL, like for like: each one's training over rows it has prepared (LR's encoded rows in a shuffled
 * order; VW's own text format, which its training still parses), and each one's whole run from the TSV files to a
 * model and test predictions (LR's also validates, calibrates and writes its artifact; VW's converts the TSVs to its
 * format in Python, as a VW user must) — at equal or better test NE.
 */
function vwGoals(r: IngestReport, vw: Extract<VwRun, { status: 'ok' }>): BenchGoal[] {
  const n = (v: number) => v.toLocaleString('en-US');
  const whole = lrExamplesPerSec(r);
  const vwWhole = vwWholeExamplesPerSec(r, vw);
  return [
    goal({
      name: 'LR training vs Vowpal Wabbit FTRL training, examples/s',
      target: '≥ 1.0x',
      measured: round(r.rates.lrExamplesPerSec / vw.examplesPerSec, 2),
      unit: 'x',
      peer: { name: 'VW FTRL, training alone', value: vw.examplesPerSec, unit: 'examples/s' },
      threshold: 1.0,
      direction: 'atLeast',
      why:
        `LR ${n(r.rates.lrExamplesPerSec)} examples/s training one shuffled pass over ${n(r.rates.rows)} encoded rows ` +
        `against VW's ${n(vw.examplesPerSec)} training one pass over its own format (${vw.trainSeconds.toFixed(2)} s, its parser included)`,
    }),
    goal({
      name: 'LR whole pass vs Vowpal Wabbit FTRL whole run, examples/s',
      target: '≥ 1.0x',
      measured: round(whole / vwWhole, 2),
      unit: 'x',
      peer: { name: 'VW FTRL, TSV to test predictions', value: vwWhole, unit: 'examples/s' },
      threshold: 1.0,
      direction: 'atLeast',
      why:
        `LR ${n(whole)} examples/s over its whole pass (${r.lrPass.wallSeconds.toFixed(2)} s: load, train, validate, calibrate, score test, artifact) ` +
        `against VW's ${n(vwWhole)} over its whole run (${vw.wallSeconds.toFixed(2)} s: ${vw.convertTrainSeconds.toFixed(2)} s converting train to its format, ${vw.trainSeconds.toFixed(2)} s training)`,
    }),
    goal({
      name: 'LR one pass vs Vowpal Wabbit FTRL, test NE',
      target: '≤ 0% (equal or better)',
      // The relative difference, in percent (a goal table shows two decimals: an NE difference of 0.0001 would read 0).
      measured: round((100 * (r.lrPass.testNe - vw.testNe)) / vw.testNe, 3),
      unit: '%',
      peer: { name: 'VW FTRL test NE', value: vw.testNe, unit: '' },
      threshold: 0,
      direction: 'atMost',
      why: `LR test NE ${r.lrPass.testNe} against VW's ${vw.testNe} (textbook FTRL ${r.textbook.testNe})`,
    }),
  ];
}

function vwRows(r: IngestReport): string[] {
  const vw = r.vw;
  if (vw.status !== 'ok') return [`| Vowpal Wabbit FTRL | not run: ${vw.reason} |`];
  const s = (v: number) => `${v.toFixed(2)} s`;
  const n = (v: number) => v.toLocaleString('en-US');
  return [
    `| Vowpal Wabbit ${vw.version} FTRL (\`${vw.args}\`), whole process (wall) | ${s(vw.wallSeconds)} |`,
    `| … converting train / test to VW's text format (Python) | ${s(vw.convertTrainSeconds)} / ${s(vw.convertTestSeconds)} |`,
    `| … VW training, one pass over its own format (model saved) | ${s(vw.trainSeconds)}: ${n(vw.examplesPerSec)} examples/s; ${n(vw.examplesPerSecWithConversion)} with the conversion; ${n(vwWholeExamplesPerSec(r, vw))} over the whole run |`,
    `| … VW test predictions | ${s(vw.testSeconds)} |`,
    `| VW test NE | ${vw.testNe} |`,
  ];
}

export function ingestMarkdown(r: IngestReport): string {
  const p = r.lrPass;
  const s = (v: number) => `${v.toFixed(2)} s`;
  const n = (v: number) => v.toLocaleString('en-US');
  return [
    '# Ingest benchmark: one LR pass against the textbook FTRL script and Vowpal Wabbit',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `Data: \`${r.files.train}\` (${n(r.files.trainRows)} rows, ${r.files.trainMiB} MiB) and \`${r.files.test}\` (${n(r.files.testRows)} rows), full width (label, I1..I13, C1..C26)${r.quick ? '; quick run' : ''}.`,
    `Every measurement ran in its own process, one after another in the same run; the textbook script, VW, the LR pass and the DCN epoch alternated ${r.samples.textbook.length} time(s) and the fastest run of each counts (textbook ${r.samples.textbook.join(', ')} s; VW training ${r.samples.vw.join(', ') || '—'} s; LR ${r.samples.lrPass.join(', ')} s; DCN ${r.samples.dcnEpoch.join(', ')} s), and so do the best of ${r.samples.textbook.length} alternating LR and FM passes for the rates. ` +
      "Examples per second are rows of the train file per second of the whole process (the textbook script, LR's pass, VW's run from the TSVs), or of training alone (LR over its encoded rows, VW over its own format).",
    '',
    goalTable(r.goals),
    '',
    '| measurement | value |',
    '|---|---:|',
    `| textbook FTRL, one pass + test predictions (wall) | ${s(r.textbook.wallSeconds)}: ${n(r.textbook.examplesPerSec)} examples/s |`,
    `| textbook FTRL test NE | ${r.textbook.testNe} |`,
    ...vwRows(r),
    `| Rankwright LR, epochs 1, trainExperiment (wall) | ${s(p.wallSeconds)}: ${n(lrExamplesPerSec(r))} examples/s |`,
    `| … loading train and test (parse, split) | ${s(p.loadSeconds)} |`,
    `| … training, validation, calibration, test scoring | ${s(p.trainSeconds)} |`,
    `| … features, metrics, artifact | ${s(p.otherSeconds)} |`,
    `| … process start-up and exit | ${s(p.startupSeconds)} |`,
    `| parsing train + test alone (${n(r.parse.rows)} rows) | ${s(r.parse.seconds)} (${r.parse.megabytesPerSec} MB/s) |`,
    `| LR training rate (${n(r.rates.rows)} rows, one pass) | ${n(r.rates.lrExamplesPerSec)} examples/s |`,
    `| FM training rate (same rows) | ${n(r.rates.fmExamplesPerSec)} examples/s |`,
    `| LR test NE / peak RSS | ${p.testNe} / ${p.peakRssMiB} MiB |`,
    `| Rankwright DCN (defaults), epochs 1, trainExperiment (wall) | ${s(r.dcnEpoch.wallSeconds)}: ${(r.dcnEpoch.wallSeconds / r.textbook.wallSeconds).toFixed(2)}× the textbook's pass |`,
    `| … loading / training, validation, calibration, test scoring / features, metrics, artifact / start-up | ${s(r.dcnEpoch.loadSeconds)} / ${s(r.dcnEpoch.trainSeconds)} / ${s(r.dcnEpoch.otherSeconds)} / ${s(r.dcnEpoch.startupSeconds)} |`,
    `| DCN test NE / peak RSS | ${r.dcnEpoch.testNe} / ${r.dcnEpoch.peakRssMiB} MiB |`,
    '',
    `Rankwright's LR pass took ${r.ratio.toFixed(2)}× the textbook script's wall time; its largest phase was ${phases(p)[0][0]} (${s(phases(p)[0][1])}). ` +
      `FM trained at ${(r.rates.fmExamplesPerSec / Math.max(1, r.rates.lrExamplesPerSec)).toFixed(2)}× LR's rate.`,
    '',
  ].join('\n');
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
