/**
 * Engine benchmark: what each model family costs a user on full-width data (39 feature columns), through the
 * product's own path: `trainExperiment` (load, train, validate, calibrate, write the artifact) and then scoring the
 * test file with the stored model, as `rankwright score` does. Each family runs in its own process, so its peak
 * memory is its own; every family uses its default config and the gpu.js backend `auto` picks on this machine.
 * Writes bench/results/engine.json and engine.md.
 *
 *   npx tsx bench/engine.ts [--quick] [--scenario wide-criteo-like] [--dcn-rows 50000]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelConfig, type ModelFamily } from '../contracts';
import { trainExperiment } from '../ranking/experiment';
import { loadArtifactScorer, scoreFile } from '../ranking/scoring';
import { loadDataset } from '../ranking/data/load-data';
import { encodeRows } from '../ranking/features';
import { denseKernelsFor, gpuBackend, sharedKernels } from '../ranking/kernels';
import { ensureScenarioFiles } from './quality/scenarios';
import { deleteCheckpoints } from '../store/checkpoints';
import { treeBytes } from '../store/gc';
import { rankwrightHome } from '../store/home';
import { benchStamp, commitLine, machineLine, type BenchStamp, writeResultFiles } from './stamp';

const FAMILIES: ModelFamily[] = ['lr', 'fm', 'dcn'];
const QUICK_ROWS = 20_000;
const QUICK_DCN_ROWS = 4_000;

/** One family's measurement, made in its own process. */
export interface EngineRow {
  family: ModelFamily;
  backend: string;
  config: { epochs: number; hashBits: number; embeddingDim?: number };
  trainRows: number;
  epochsRun: number;
  /** Whole trainExperiment call: load + train + validate + calibrate + write the artifact. */
  experimentSeconds: number;
  trainSeconds: number;
  trainExamplesPerSec: number;
  /** Scoring already-encoded test rows with the stored model (the model's own rate). */
  scoreExamplesPerSec: number;
  /** `rankwright score`'s path: read the test TSV, encode, score, write one probability a line. */
  scoreFileSeconds: number;
  testRows: number;
  testNe: number;
  peakRssMiB: number;
  /** Storage, as the training activity uses it: a checkpoint every CHECKPOINT_SECONDS, deleted when the run ends. */
  storage?: TrainingStorage;
}

/** What one training wrote to the home and how big the home got while it ran (growth over its size before). */
export interface TrainingStorage {
  checkpointSeconds: number;
  checkpoints: number;
  /** One checkpoint's size: weights, optimizer state and the best-validation copy. */
  checkpointMiB: number;
  /** Checkpoints plus the model artifact. */
  writtenMiB: number;
  peakHomeMiB: number;
  /** What stays once the run has ended and its checkpoint is deleted: the model artifact. */
  homeAfterMiB: number;
}

/**
 * Training time between the bench's checkpoints: far shorter than the product's 3 minutes, so that every family's
 * run writes several and the table shows the bound (one checkpoint on disk at a time) rather than a lucky count.
 */
const CHECKPOINT_SECONDS = 2;
/** How often the child samples the home's size while it trains. */
const HOME_SAMPLE_MS = 100;

interface EngineReport {
  stamp: BenchStamp;
  quick: boolean;
  scenario: { name: string; trainRows: number; testRows: number; oracleNe: number };
  rows: EngineRow[];
}

/** The child: measures one family and prints its EngineRow as JSON on the last stdout line. */
async function measureFamily(
  family: ModelFamily,
  files: { train: string; validation?: string; test: string },
  maxTrainRows: number,
): Promise<EngineRow> {
  const config = ModelConfig.parse({ family });
  const data = { format: 'criteo-tsv' as const, train: files.train, validation: files.validation, test: files.test, maxTrainRows };
  const home = rankwrightHome();
  const before = await treeBytes(home);
  let peak = 0;
  // Samples one after another (a slow walk never overlaps the next), awaited before the final figures.
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = sampling.then(async () => void (peak = Math.max(peak, (await treeBytes(home)) - before)));
  }, HOME_SAMPLE_MS);
  const slot = { campaignId: 'bench-engine', experimentId: `engine-${family}`, attempt: 1 };
  const written = { checkpoints: 0, bytes: 0, largest: 0 };
  const t0 = performance.now();
  const out = await trainExperiment({
    data,
    model: config,
    checkpoint: { slot, everyMs: CHECKPOINT_SECONDS * 1000 },
    onCheckpoint: (w) => {
      written.checkpoints++;
      written.bytes += w.bytes;
      written.largest = Math.max(written.largest, w.bytes);
    },
  });
  const experimentSeconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  await sampling;
  peak = Math.max(peak, (await treeBytes(home)) - before);
  await deleteCheckpoints(slot); // as the training activity does when a run ends
  const mib = (b: number) => round(b / 2 ** 20, 1);
  const storage: TrainingStorage = {
    checkpointSeconds: CHECKPOINT_SECONDS,
    checkpoints: written.checkpoints,
    checkpointMiB: mib(written.largest),
    writtenMiB: mib(written.bytes + out.modelBytes),
    peakHomeMiB: mib(peak),
    homeAfterMiB: mib((await treeBytes(home)) - before),
  };
  const examples = out.progress.at(-1)?.examples ?? 0;

  const scorer = await loadArtifactScorer(out.artifact);
  const dataset = await loadDataset(data); // cached in-process: no second parse
  const test = encodeRows(dataset.test, scorer.header.featureSpec);
  await scorer.score(test); // warm-up: kernels compile outside the timing
  let scored = 0;
  const s0 = performance.now();
  while (performance.now() - s0 < 1000) {
    await scorer.score(test);
    scored += test.rows;
  }
  const scoreExamplesPerSec = scored / ((performance.now() - s0) / 1000);

  const scoresOut = path.join(os.tmpdir(), `rankwright-engine-${process.pid}.txt`);
  const f0 = performance.now();
  await scoreFile(out.artifact, files.test, scoresOut);
  const scoreFileSeconds = (performance.now() - f0) / 1000;
  fs.rmSync(scoresOut, { force: true });

  return {
    family,
    backend: computePath(family),
    config: { epochs: config.epochs, hashBits: config.hashBits, ...('embeddingDim' in config ? { embeddingDim: config.embeddingDim } : {}) },
    trainRows: dataset.train.rows,
    epochsRun: out.earlyStopping.epochsRun,
    experimentSeconds: round(experimentSeconds, 2),
    trainSeconds: round(out.trainSeconds, 2),
    trainExamplesPerSec: Math.round(examples / Math.max(1e-9, out.trainSeconds)),
    scoreExamplesPerSec: Math.round(scoreExamplesPerSec),
    scoreFileSeconds: round(scoreFileSeconds, 2),
    testRows: dataset.test.rows,
    testNe: round(out.metrics.ne, 5),
    peakRssMiB: peakRssMiB(),
    storage,
  };
}

/**
 * What did the arithmetic: DCN's layer products go to the dense path chosen for this machine (tfjs-wasm or tiled
 * TypeScript when gpu.js would run on the CPU, gpu.js on a GPU); LR and FM update sparse typed arrays on a CPU
 * backend and call no kernel there.
 */
function computePath(family: ModelFamily): string {
  const backend = gpuBackend();
  if (family === 'dcn') return denseKernelsFor(sharedKernels()).backend;
  return backend === 'webasm' || backend === 'cpu' ? 'typed arrays' : backend;
}

function peakRssMiB(): number {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', default: 'wide-criteo-like' },
      'dcn-rows': { type: 'string', default: '50000' },
      child: { type: 'string' },
      train: { type: 'string' },
      validation: { type: 'string' },
      test: { type: 'string' },
      'max-rows': { type: 'string' },
    },
  });
  if (values.child) {
    const row = await measureFamily(
      values.child as ModelFamily,
      { train: values.train!, validation: values.validation, test: values.test! },
      Number(values['max-rows']),
    );
    process.stdout.write(`${JSON.stringify(row)}\n`);
    process.exit(0);
  }

  const quick = values.quick;
  const files = await ensureScenarioFiles(values.scenario, { rows: quick ? QUICK_ROWS : undefined, log: (l) => process.stderr.write(`${l}\n`) });
  const rows: EngineRow[] = [];
  // Artifacts go to a home of the bench's own, removed after: a user's models and insights stay untouched.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-engine-'));
  for (const family of FAMILIES) {
    // DCN trains at a few thousand rows a second on a CPU: a subsample measures its rate without taking an hour.
    const maxRows = family === 'dcn' ? (quick ? QUICK_DCN_ROWS : Number(values['dcn-rows'])) : files.rows.train;
    const args = [__filename, '--child', family, '--train', files.train, '--test', files.test, '--max-rows', String(maxRows)];
    if (files.validation) args.push('--validation', files.validation);
    process.stderr.write(`engine: ${family} on ${maxRows.toLocaleString()} rows in its own process…\n`);
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 26,
      env: { ...process.env, RANKWRIGHT_HOME: home },
    });
    const row = JSON.parse(stdout.trim().split('\n').at(-1)!) as EngineRow;
    process.stderr.write(
      `engine: ${family} train ${row.trainExamplesPerSec.toLocaleString()} ex/s, score ${row.scoreExamplesPerSec.toLocaleString()} ex/s, NE ${row.testNe}\n`,
    );
    rows.push(row);
  }
  fs.rmSync(home, { recursive: true, force: true });
  const report: EngineReport = {
    stamp: benchStamp(),
    quick,
    scenario: { name: files.name, trainRows: files.rows.train, testRows: files.rows.test, oracleNe: files.oracleNe ?? NaN },
    rows,
  };
  const dir = path.join(__dirname, 'results');
  writeResultFiles(dir, [
    ['engine.json', `${JSON.stringify(report, null, 2)}\n`],
    ['engine.md', engineMarkdown(report)],
  ]);
  process.stderr.write(`engine: wrote engine.json and engine.md\n`);
}

export function engineMarkdown(r: EngineReport): string {
  const fmt = (v: number) => v.toLocaleString('en-US');
  const fastest = [...r.rows].sort((a, b) => b.trainExamplesPerSec - a.trainExamplesPerSec)[0];
  const slowest = [...r.rows].sort((a, b) => a.trainExamplesPerSec - b.trainExamplesPerSec)[0];
  return [
    '# Engine benchmark',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp),
    `Data: \`${r.scenario.name}\` (wide planted, 39 feature columns), ${fmt(r.scenario.trainRows)} train rows, ${fmt(r.scenario.testRows)} test rows, oracle NE ${r.scenario.oracleNe.toFixed(4)}${r.quick ? ' (quick run)' : ''}.`,
    "Each family ran in its own process with its default config, through the product's path (`trainExperiment`, then `scoreFile` as `rankwright score`).",
    '',
    '| family | computed on | train rows | epochs run | train ex/s | score ex/s | experiment s | score file s | test NE | peak RSS MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (x) =>
        `| ${x.family} | ${x.backend} | ${fmt(x.trainRows)} | ${x.epochsRun} | ${fmt(x.trainExamplesPerSec)} | ${fmt(x.scoreExamplesPerSec)} | ${x.experimentSeconds} | ${x.scoreFileSeconds} | ${x.testNe.toFixed(4)} | ${x.peakRssMiB} |`,
    ),
    '',
    ...storageTable(r.rows),
    `${fastest.family.toUpperCase()} trains fastest (${fmt(fastest.trainExamplesPerSec)} examples/s), ${slowest.family.toUpperCase()} slowest (${fmt(slowest.trainExamplesPerSec)} examples/s, ${(fastest.trainExamplesPerSec / Math.max(1, slowest.trainExamplesPerSec)).toFixed(0)}× slower). Best test NE: ${[...r.rows].sort((a, b) => a.testNe - b.testNe)[0].family.toUpperCase()} (${Math.min(...r.rows.map((x) => x.testNe)).toFixed(4)}; oracle ${r.scenario.oracleNe.toFixed(4)}).`,
    '',
  ].join('\n');
}

/** The storage table: what each training wrote to the home and the home's peak, with checkpoints on. */
function storageTable(rows: EngineRow[]): string[] {
  const measured = rows.filter((x) => x.storage);
  if (measured.length === 0) return [];
  const seconds = measured[0].storage!.checkpointSeconds;
  return [
    `Storage per training (the same runs, checkpointing every ${seconds} s of training instead of the product's 3 minutes, so that each writes several): bytes written to the home, one checkpoint's size, the home's peak growth while it trained (sampled every ${HOME_SAMPLE_MS} ms) and what stays after the run (its checkpoint deleted, as the training activity does).`,
    '',
    '| family | checkpoints written | one checkpoint MiB | written to the home MiB | peak home MiB | home after MiB |',
    '|---|---:|---:|---:|---:|---:|',
    ...measured.map((x) => {
      const s = x.storage!;
      return `| ${x.family} | ${s.checkpoints} | ${s.checkpointMiB} | ${s.writtenMiB} | ${s.peakHomeMiB} | ${s.homeAfterMiB} |`;
    }),
    '',
  ];
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
