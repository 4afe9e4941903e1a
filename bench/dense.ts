/**
 * Dense-kernel benchmark: DCN's matrix products and DCN training/scoring on full-width data (39 feature columns),
 * every contender in its own child process (so its memory and JIT state are its own), all in the same run:
 *
 *   - matmul at DCN's real shapes (batch × input width × layer widths, forward X·W, backward dY·Wᵀ and Xᵀ·dY) and
 *     4096×256·256×64, for gpu.js on each CPU backend it can run here, the plain-TS reference twins, tiled
 *     TypeScript (ranking/kernels/tiled.ts), tfjs-wasm behind the DenseKernels interface (copies included), raw
 *     tfjs-wasm matMul on resident tensors (the peer), and ONNX Runtime's CPU provider (ranking/kernels/onnx-kernels.ts);
 *   - DCN training (default config, 1 epoch) and scoring on rows of the wide file, per dense path.
 *
 * "Per core" is examples per CPU-second of the child process (user + system), so a machine shared with other work
 * does not count against it the way wall time would; wall-clock rates are reported beside it.
 * Writes bench/results/dense.json and dense.md. No GPU rows here: on a GPU machine the gpu.js GPU backends
 * (headlessgl/webgpu) would join the matmul and DCN tables as further contenders.
 *
 *   npx tsx bench/dense.ts [--quick] [--rows 50000] [--scenario wide-criteo-like]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelConfig } from '../contracts';
import { loadDataset } from '../ranking/data/load-data';
import { buildFeatureSpec, encodeRows, slotCounts } from '../ranking/features';
import {
  availableBackends,
  denseKernelsFor,
  gpuBackend,
  kernelsFor,
  loadTfjsWasm,
  onnxRuntimeAvailable,
  OnnxRuntimeKernels,
  tfjsWasmAvailable,
  type DenseKernels,
} from '../ranking/kernels';
import { normalizedEntropy } from '../ranking/metrics';
import { createModel } from '../ranking/models/create-model';
import { SeededRandom } from '../ranking/rng';
import { goal, goalTable, type BenchGoal } from './goals';
import { ensureScenarioFiles } from './quality/scenarios';
import { benchStamp, commitLine, machineLine, sampleLoad, type BenchStamp, type LoadRange, writeResultFiles } from './stamp';

const QUICK_ROWS = 1_500;
const QUICK_SCENARIO_ROWS = 20_000;
const BATCH = 256;
const SCORE_BATCH = 1024;
/** Scoring passes over the same rows per contender; the fastest counts. */
const SCORE_REPEATS = 3;

/** A matrix product: out = A·B with A m×k, B k×n, or its backward twins at the same layer shape. */
export interface MatmulShape {
  label: string;
  op: 'forward' | 'inputGradient' | 'weightGradient';
  rows: number;
  inDim: number;
  outDim: number;
}

export interface MatmulRow {
  contender: string;
  shape: MatmulShape;
  ms: number;
  reps: number;
  gflops: number;
}

export interface DcnRow {
  path: string;
  backend: string;
  trainRows: number;
  inputDim: number;
  layers: string;
  trainSeconds: number;
  trainCpuSeconds: number;
  trainExamplesPerSec: number;
  trainExamplesPerCpuSec: number;
  scoreExamplesPerSec: number;
  scoreExamplesPerCpuSec: number;
  testNe: number;
  peakRssMiB: number;
}

interface DenseReport {
  stamp: BenchStamp;
  quick: boolean;
  loadAverage?: LoadRange;
  scenario: { name: string; trainRows: number };
  backends: string[];
  matmul: MatmulRow[];
  dcn: DcnRow[];
  goals: BenchGoal[];
}

/** Contenders for the matmul table; DCN paths are the subset that can run a model (not the raw peer). */
const RAW_TFJS = 'tfjs-wasm raw';

function flopsOf(s: MatmulShape): number {
  return 2 * s.rows * s.inDim * s.outDim;
}

/** The products of one DCN training step at batch `rows` with input width D and hidden widths `mlp`. */
export function dcnShapes(rows: number, inputDim: number, crossLayers: number, mlp: number[]): MatmulShape[] {
  const layers: [number, number][] = [];
  for (let l = 0; l < crossLayers; l++) layers.push([inputDim, inputDim]);
  let prev = inputDim;
  for (const h of mlp) {
    layers.push([prev, h]);
    prev = h;
  }
  // One of each distinct layer shape (the cross layers share one): the step's cost is Σ count × these.
  const seen = new Set<string>();
  const out: MatmulShape[] = [];
  for (const [i, o] of layers) {
    if (seen.has(`${i}x${o}`)) continue;
    seen.add(`${i}x${o}`);
    for (const op of ['forward', 'inputGradient', 'weightGradient'] as const)
      out.push({ label: `${rows}×${i}·${i}×${o}`, op, rows, inDim: i, outDim: o });
  }
  return out;
}

/** How many times each distinct shape occurs in a step (cross layers repeat). */
function layerCounts(inputDim: number, crossLayers: number, mlp: number[]): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (i: number, o: number) => counts.set(`${i}x${o}`, (counts.get(`${i}x${o}`) ?? 0) + 1);
  for (let l = 0; l < crossLayers; l++) add(inputDim, inputDim);
  let prev = inputDim;
  for (const h of mlp) {
    add(prev, h);
    prev = h;
  }
  return counts;
}

function randomArray(n: number, rng: SeededRandom): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

function kernelsOf(contender: string): DenseKernels {
  if (contender.startsWith('gpujs-')) return kernelsFor(contender.slice('gpujs-'.length), { threads: 0 });
  return kernelsFor(contender);
}

/** Child: times each shape on one contender (median of reps within a per-shape time budget, after a warm-up). */
async function measureMatmul(contender: string, shapes: MatmulShape[], budgetMs: number): Promise<MatmulRow[]> {
  // A short budget (--quick) takes what one repetition gives; a full run takes the median of at least three.
  const minReps = budgetMs < 200 ? 1 : 3;
  const rng = new SeededRandom(7);
  const rows: MatmulRow[] = [];
  let run: (s: MatmulShape, a: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array) => Promise<unknown>;
  if (contender === RAW_TFJS) {
    const tf = await loadTfjsWasm();
    // Tensors created once per shape, the backward operands already transposed (matMul's transpose flags leave
    // XNNPACK's fast path): only the product itself and reading its result back are timed — tfjs-wasm at its best.
    type T = Parameters<typeof tf.matMul>[0];
    const cache = new Map<MatmulShape, [T, T]>();
    run = async (s, a, w, _b, dy) => {
      let t = cache.get(s);
      if (!t) {
        const A =
          s.op === 'forward'
            ? tf.tensor2d(a, [s.rows, s.inDim])
            : s.op === 'inputGradient'
              ? tf.tensor2d(dy, [s.rows, s.outDim])
              : tf.transpose(tf.tensor2d(a, [s.rows, s.inDim]));
        const B =
          s.op === 'forward'
            ? tf.tensor2d(w, [s.inDim, s.outDim])
            : s.op === 'inputGradient'
              ? tf.transpose(tf.tensor2d(w, [s.inDim, s.outDim]))
              : tf.tensor2d(dy, [s.rows, s.outDim]);
        t = [A, B];
        cache.set(s, t);
      }
      const out = tf.matMul(t[0], t[1]);
      out.dataSync();
      out.dispose();
    };
  } else {
    const k = kernelsOf(contender);
    run = (s, a, w, b, dy) =>
      s.op === 'forward'
        ? k.affine(a, w, b, s.rows, s.inDim, s.outDim, false)
        : s.op === 'inputGradient'
          ? k.inputGradient(dy, w, s.rows, s.inDim, s.outDim)
          : k.weightGradient(a, dy, s.rows, s.inDim, s.outDim);
  }
  for (const s of shapes) {
    const a = randomArray(s.rows * s.inDim, rng);
    const w = randomArray(s.inDim * s.outDim, rng);
    const b = randomArray(s.outDim, rng);
    const dy = randomArray(s.rows * s.outDim, rng);
    await run(s, a, w, b, dy); // compile / JIT / first-touch outside the timing
    const times: number[] = [];
    const start = performance.now();
    while (times.length < minReps || (performance.now() - start < budgetMs && times.length < 200)) {
      const t0 = performance.now();
      await run(s, a, w, b, dy);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const ms = times[Math.floor(times.length / 2)];
    rows.push({ contender, shape: s, ms: round(ms, 3), reps: times.length, gflops: round(flopsOf(s) / (ms * 1e6), 2) });
  }
  return rows;
}

/**
 * The engine's own dense path with DCN-v2's low-rank cross layers (`crossRank` 32; full rank stays the default, see
 * bench/dcn-rank.ts for the NE side): the same default config otherwise, so the two rows differ only in the rank.
 */
const LOW_RANK_PATH = 'auto-rank32';
const LOW_RANK = 32;
/** A low-rank shape bench/dcn-rank.ts swept (within 0.001 NE of full rank at 100k rows, not at 500k): 3 layers. */
const LOW_RANK_3_PATH = 'auto-rank32x3';
const LOW_RANK_3_LAYERS = 3;

/**
 * ONNX Runtime one product at a time through the DenseKernels interface, with TypeScript loops between (the engine's
 * path runs the whole dense stack as two graphs a step, ranking/models/dcn-onnx-stack.ts): what the stack saves.
 */
const ONNX_PRODUCTS_PATH = 'onnxruntime-products';

/** Child: trains the default DCN for one epoch on `maxRows` rows of the file on one dense path, then scores. */
async function measureDcn(contender: string, files: { train: string; test: string }, maxRows: number): Promise<DcnRow> {
  const lowRank = contender === LOW_RANK_PATH || contender === LOW_RANK_3_PATH;
  const dcnPath = lowRank ? 'auto' : contender;
  const config = ModelConfig.parse({
    family: 'dcn',
    epochs: 1,
    ...(lowRank ? { crossRank: LOW_RANK } : {}),
    ...(contender === LOW_RANK_3_PATH ? { crossLayers: LOW_RANK_3_LAYERS } : {}),
  });
  if (config.family !== 'dcn') throw new Error('unreachable');
  const dataset = await loadDataset({ format: 'criteo-tsv', train: files.train, test: files.test, maxTrainRows: maxRows });
  const spec = buildFeatureSpec(config, dataset.train, dataset.active);
  const train = encodeRows(dataset.train, spec);
  const test = encodeRows(dataset.test, spec);
  const { catSlots, denseSlots } = slotCounts(spec);
  const inputDim = catSlots * config.embeddingDim + denseSlots;
  // 'auto' is the engine's own choice (gpu.js backend from RANKWRIGHT_GPU_MODE, dense path from RANKWRIGHT_DENSE_CPU).
  const given = dcnPath.startsWith('gpujs-')
    ? kernelsFor(dcnPath.slice('gpujs-'.length), { threads: 0 })
    : dcnPath === ONNX_PRODUCTS_PATH
      ? new OnnxRuntimeKernels({ denseStack: false })
      : kernelsFor(gpuBackend());
  if (!dcnPath.startsWith('gpujs-') && dcnPath !== 'auto' && dcnPath !== ONNX_PRODUCTS_PATH) process.env.RANKWRIGHT_DENSE_CPU = dcnPath;
  if (dcnPath.startsWith('gpujs-')) process.env.RANKWRIGHT_DENSE_CPU = 'gpujs';
  const backend = denseKernelsFor(given).backend;
  const model = createModel(config, spec, given);

  const order = new Int32Array(train.rows);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const rng = new SeededRandom(config.seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  // Warm-up step (kernel compiles, JIT) outside the timing, on a fresh model so the timed one trains from scratch.
  const warm = createModel(config, spec, given);
  await warm.trainStep(train, order, 0, Math.min(BATCH, train.rows), 1);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let start = 0; start < train.rows; start += config.batchSize)
    await model.trainStep(train, order, start, Math.min(train.rows, start + config.batchSize), 1);
  const trainSeconds = (performance.now() - t0) / 1000;
  const trainCpuSeconds = cpuSeconds(process.cpuUsage(c0));

  const p = new Float64Array(test.rows);
  const scoreRows = Math.min(test.rows, Math.max(SCORE_BATCH, train.rows));
  await model.predict(test, 0, Math.min(test.rows, SCORE_BATCH), p); // warm-up at the scoring batch shape
  // The fastest of SCORE_REPEATS passes: one pass over ~10k rows is a few tenths of a second, and a single pause
  // (a collection, the wasm heap growing) moved one pass's rate by up to 1.6x between passes of one process.
  let scoreSeconds = Infinity;
  let scoreCpuSeconds = Infinity;
  for (let rep = 0; rep < SCORE_REPEATS; rep++) {
    const s0 = process.cpuUsage();
    const w0 = performance.now();
    await model.predict(test, 0, scoreRows, p);
    scoreSeconds = Math.min(scoreSeconds, (performance.now() - w0) / 1000);
    scoreCpuSeconds = Math.min(scoreCpuSeconds, cpuSeconds(process.cpuUsage(s0)));
  }
  if (scoreRows < test.rows) await model.predict(test, scoreRows, test.rows, p);
  const testNe = normalizedEntropy(p, test.labels);
  return {
    path: contender,
    backend,
    trainRows: train.rows,
    inputDim,
    layers: `${config.crossLayers} cross ${lowRank ? `${inputDim}×${LOW_RANK}·${LOW_RANK}×${inputDim}` : `${inputDim}×${inputDim}`}, MLP ${[inputDim, ...config.mlp, 1].join('→')}, batch ${config.batchSize}`,
    trainSeconds: round(trainSeconds, 2),
    trainCpuSeconds: round(trainCpuSeconds, 2),
    trainExamplesPerSec: Math.round(train.rows / trainSeconds),
    trainExamplesPerCpuSec: Math.round(train.rows / trainCpuSeconds),
    scoreExamplesPerSec: Math.round(scoreRows / scoreSeconds),
    scoreExamplesPerCpuSec: Math.round(scoreRows / scoreCpuSeconds),
    testNe: round(testNe, 5),
    peakRssMiB: peakRssMiB(),
  };
}

function cpuSeconds(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1e6;
}

function peakRssMiB(): number {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

function child<T>(args: string[]): T {
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', __filename, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', default: 'wide-criteo-like' },
      rows: { type: 'string' },
      'gpujs-rows': { type: 'string' },
      child: { type: 'string' },
      contender: { type: 'string' },
      shapes: { type: 'string' },
      budget: { type: 'string' },
      train: { type: 'string' },
      test: { type: 'string' },
      'max-rows': { type: 'string' },
    },
  });
  if (values.child === 'matmul') {
    const rows = await measureMatmul(values.contender!, JSON.parse(values.shapes!) as MatmulShape[], Number(values.budget));
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    process.exit(0);
  }
  if (values.child === 'render') {
    // Rewrites dense.md from dense.json (prose changes without measuring again).
    const dir = process.env.RANKWRIGHT_BENCH_OUT || path.join(__dirname, 'results');
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'dense.json'), 'utf8')) as DenseReport;
    const d = ModelConfig.parse({ family: 'dcn' });
    if (d.family !== 'dcn') throw new Error('unreachable');
    writeResultFiles(dir, [['dense.md', denseMarkdown(r, r.dcn[0].inputDim, d.crossLayers, d.mlp)]]);
    process.exit(0);
  }
  if (values.child === 'dcn') {
    const row = await measureDcn(values.contender!, { train: values.train!, test: values.test! }, Number(values['max-rows']));
    process.stdout.write(`${JSON.stringify(row)}\n`);
    process.exit(0);
  }

  const quick = values.quick;
  const report: DenseReport = {
    stamp: benchStamp(),
    quick,
    scenario: { name: values.scenario, trainRows: 0 },
    backends: availableBackends(),
    matmul: [],
    dcn: [],
    goals: [],
  };
  sampleLoad(report);
  const files = await ensureScenarioFiles(values.scenario, {
    rows: quick ? QUICK_SCENARIO_ROWS : undefined,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const rows = Number(values.rows ?? (quick ? QUICK_ROWS : 50_000));
  // gpu.js webasm trains DCN at a few thousand examples a second: fewer rows measure its rate in reasonable time.
  const gpujsRows = Number(values['gpujs-rows'] ?? (quick ? QUICK_ROWS : 10_000));
  const tfjs = tfjsWasmAvailable();
  const gpujsCpu = report.backends.filter((b) => b === 'webasm' || b === 'cpu').map((b) => `gpujs-${b}`);

  // DCN per dense path. The engine's default ('auto') first: its input width sets the matmul shapes below.
  // --quick (a CI smoke test) keeps one row per kind of path: the engine's choice and gpu.js webasm.
  const dcnPaths = quick
    ? ['auto', LOW_RANK_PATH, LOW_RANK_3_PATH, ...gpujsCpu.filter((c) => c === 'gpujs-webasm')]
    : [
        'auto',
        LOW_RANK_PATH,
        LOW_RANK_3_PATH,
        ...(onnxRuntimeAvailable() ? [ONNX_PRODUCTS_PATH] : []),
        ...(tfjs ? ['tfjs-wasm'] : []),
        'tiled',
        ...gpujsCpu.filter((c) => c === 'gpujs-webasm'),
      ];
  for (const p of dcnPaths) {
    // An explicit path that is what 'auto' already chose would measure the same thing twice.
    if (p !== 'auto' && report.dcn.some((d) => d.path === 'auto' && d.backend === p)) continue;
    const n = p.startsWith('gpujs-') ? Math.min(rows, gpujsRows) : rows;
    process.stderr.write(`dense: DCN on ${p}, ${n.toLocaleString()} rows, own process…\n`);
    const row = child<DcnRow>(['--child', 'dcn', '--contender', p, '--train', files.train, '--test', files.test, '--max-rows', String(n)]);
    sampleLoad(report);
    process.stderr.write(
      `dense: DCN ${p} (${row.backend}) train ${row.trainExamplesPerCpuSec.toLocaleString()} ex/CPU-s, score ${row.scoreExamplesPerCpuSec.toLocaleString()} ex/CPU-s, NE ${row.testNe}\n`,
    );
    report.dcn.push(row);
  }
  report.scenario.trainRows = files.rows.train;
  const inputDim = report.dcn[0].inputDim;
  const defaults = ModelConfig.parse({ family: 'dcn' });
  const crossLayers = defaults.family === 'dcn' ? defaults.crossLayers : 2;
  const mlp = defaults.family === 'dcn' ? defaults.mlp : [64, 32];

  const shapes: MatmulShape[] = [
    ...dcnShapes(BATCH, inputDim, crossLayers, mlp),
    { label: `${SCORE_BATCH}×${inputDim}·${inputDim}×${inputDim} (scoring)`, op: 'forward', rows: SCORE_BATCH, inDim: inputDim, outDim: inputDim },
    { label: '4096×256·256×64', op: 'forward', rows: 4096, inDim: 256, outDim: 64 },
  ];
  const contenders = [
    ...(quick ? gpujsCpu.filter((c) => c === 'gpujs-webasm') : gpujsCpu),
    'reference',
    'tiled',
    ...(tfjs ? ['tfjs-wasm', RAW_TFJS] : []),
    ...(onnxRuntimeAvailable() ? ['onnxruntime'] : []),
  ];
  const budget = quick ? 60 : 1500;
  for (const c of contenders) {
    // The one-cell-at-a-time loops take seconds at the larger shapes: --quick runs only a training step's shapes.
    const mine = quick ? shapes.filter((s) => s.rows <= BATCH) : shapes;
    process.stderr.write(`dense: matmul on ${c}, own process…\n`);
    report.matmul.push(...child<MatmulRow[]>(['--child', 'matmul', '--contender', c, '--shapes', JSON.stringify(mine), '--budget', String(budget)]));
    sampleLoad(report);
  }
  report.goals = denseGoals(report, inputDim, crossLayers, mlp);
  const dir = path.join(__dirname, 'results');
  writeResultFiles(dir, [
    ['dense.json', `${JSON.stringify(report, null, 2)}\n`],
    ['dense.md', denseMarkdown(report, inputDim, crossLayers, mlp)],
  ]);
  for (const g of report.goals) process.stderr.write(`dense: ${g.name}: ${g.measured} ${g.unit} (${g.target}) ${g.met ? 'met' : `MISS: ${g.why}`}\n`);
  process.stderr.write('dense: wrote dense.json and dense.md\n');
}

/** Milliseconds one contender spends on one training step's products (each distinct shape × how often it occurs). */
function stepMs(
  r: DenseReport,
  contender: string,
  inputDim: number,
  crossLayers: number,
  mlp: number[],
  ops: string[] = ['forward', 'inputGradient', 'weightGradient'],
): number | null {
  const counts = layerCounts(inputDim, crossLayers, mlp);
  let total = 0;
  for (const [key, count] of counts) {
    const [i, o] = key.split('x').map(Number);
    for (const op of ops) {
      const row = r.matmul.find(
        (m) => m.contender === contender && m.shape.rows === BATCH && m.shape.inDim === i && m.shape.outDim === o && m.shape.op === op,
      );
      if (!row) return null;
      total += count * row.ms;
    }
  }
  return total;
}

function denseGoals(r: DenseReport, inputDim: number, crossLayers: number, mlp: number[]): BenchGoal[] {
  const goals: BenchGoal[] = [];
  const auto = r.dcn.find((d) => d.path === 'auto')!;
  goals.push(
    goal({
      name: 'DCN training on full-width data',
      target: '≥ 20,000 examples/s per core',
      measured: auto.trainExamplesPerCpuSec,
      unit: 'examples/s per core',
      threshold: 20_000,
      direction: 'atLeast',
      why: trainingWhy(r, auto, inputDim, crossLayers, mlp),
    }),
  );
  const ours = stepMs(r, auto.backend, inputDim, crossLayers, mlp);
  const peer = stepMs(r, RAW_TFJS, inputDim, crossLayers, mlp);
  if (ours !== null && peer !== null) {
    const others = ['tiled', 'gpujs-webasm']
      .map((c) => [c, stepMs(r, c, inputDim, crossLayers, mlp)] as const)
      .filter(([, v]) => v !== null)
      .map(([c, v]) => `${c} ${(peer / v!).toFixed(2)}x`);
    goals.push(
      goal({
        name: 'dense matmul vs tfjs-wasm',
        target: '≥ 0.5x tfjs-wasm (one DCN training step’s products)',
        measured: round(peer / ours, 2),
        unit: 'x',
        peer: { name: 'tfjs-wasm raw matMul', value: round(peer, 2), unit: 'ms' },
        threshold: 0.5,
        direction: 'atLeast',
        why: `the engine's CPU path (${auto.backend}) takes ${ours.toFixed(2)} ms for a step's products against ${peer.toFixed(2)} ms raw; ${others.join(', ')}`,
      }),
    );
  } else {
    goals.push({
      name: 'dense matmul vs tfjs-wasm',
      target: '≥ 0.5x tfjs-wasm',
      measured: 0,
      unit: 'x',
      met: false,
      why: 'tfjs-wasm is not installed (npm install brings it as a devDependency): no peer to compare with',
    });
  }
  const ratio = auto.scoreExamplesPerCpuSec / auto.trainExamplesPerCpuSec;
  goals.push(
    goal({
      name: 'DCN scoring vs training rate',
      target: '≥ 5x the training rate',
      measured: round(ratio, 2),
      unit: 'x',
      peer: { name: 'training', value: auto.trainExamplesPerCpuSec, unit: 'examples/s per core' },
      threshold: 5,
      direction: 'atLeast',
      why: scoringWhy(r, auto, inputDim, crossLayers, mlp),
    }),
  );
  return goals;
}

/** Why training misses 20k examples/s per core, in FLOPs: what the goal needs against what tfjs-wasm delivered here. */
function trainingWhy(r: DenseReport, auto: DcnRow, inputDim: number, crossLayers: number, mlp: number[]): string {
  const stepFlops = stepFlopsOf(inputDim, crossLayers, mlp);
  const perExample = stepFlops / BATCH;
  const needed = (20_000 * perExample) / 1e9;
  const fastest = fastestProducts(r, inputDim, crossLayers, mlp);
  const ours = stepMs(r, auto.backend, inputDim, crossLayers, mlp);
  const stepCpuMs = (1000 * auto.trainCpuSeconds) / Math.ceil(auto.trainRows / BATCH);
  const peerPart = fastest
    ? `; the fastest products measured in this run (${fastest.contender}) sustained ${(stepFlops / (fastest.ms * 1e6)).toFixed(1)} GFLOP/s on a step's shapes, a ceiling of ${Math.round((BATCH * 1000) / fastest.ms).toLocaleString('en-US')} examples/s for the products alone`
    : '';
  const lowRank = r.dcn
    .filter((d) => d.path === LOW_RANK_PATH || d.path === LOW_RANK_3_PATH)
    .map((d) => `${d.path} ${d.trainExamplesPerCpuSec.toLocaleString('en-US')}${d.trainExamplesPerCpuSec >= 20_000 ? ' (meets it)' : ''}`);
  const lowRankPart = lowRank.length ? `. Low-rank cross layers (not the default) in the same run: ${lowRank.join(', ')} examples/s per core` : '';
  return `a training step (batch ${BATCH}, cross ${inputDim}×${inputDim} ×${crossLayers}, MLP ${mlp.join('→')}) is ${(stepFlops / 1e6).toFixed(0)} MFLOP of layer products, ${(perExample / 1e6).toFixed(2)} MFLOP per example, so 20,000 examples/s per core needs ${needed.toFixed(1)} GFLOP/s per core for the products alone${peerPart}. Measured: ${stepCpuMs.toFixed(1)} CPU-ms per step on ${auto.backend}, products ${ours === null ? 'n/a' : `${ours.toFixed(1)} ms`} of it in isolation, the rest gather, gating, Adam over ${adamParams(inputDim, crossLayers, mlp).toLocaleString('en-US')} dense weights and the embedding scatter${auto.trainRows < 10_000 ? ' (and JIT warm-up: a short run)' : ''}; load average up to ${r.loadAverage?.max.toFixed(1)} on ${r.stamp.machine.cores} cores${lowRankPart}`;
}

/** Why scoring is not 5× training: the forward products' share of a step, from the matmul table. */
function scoringWhy(r: DenseReport, auto: DcnRow, inputDim: number, crossLayers: number, mlp: number[]): string {
  const all = stepMs(r, auto.backend, inputDim, crossLayers, mlp);
  const fwd = stepMs(r, auto.backend, inputDim, crossLayers, mlp, ['forward']);
  const share =
    all !== null && fwd !== null
      ? ` The forward products are ${fwd.toFixed(1)} of a step's ${all.toFixed(1)} product-ms on ${auto.backend} (${(all / fwd).toFixed(1)}×): that ratio, plus the optimizer's share of a step, bounds scoring/training.`
      : '';
  return `scoring runs the forward products only, at ${auto.scoreExamplesPerCpuSec.toLocaleString('en-US')} examples/s per core against training's ${auto.trainExamplesPerCpuSec.toLocaleString('en-US')}.${share}`;
}

/** The contender whose products of one training step took the least time in this run. */
function fastestProducts(r: DenseReport, inputDim: number, crossLayers: number, mlp: number[]): { contender: string; ms: number } | null {
  let best: { contender: string; ms: number } | null = null;
  for (const c of new Set(r.matmul.map((m) => m.contender))) {
    const ms = stepMs(r, c, inputDim, crossLayers, mlp);
    if (ms !== null && (!best || ms < best.ms)) best = { contender: c, ms };
  }
  return best;
}

/**
 * What could reach the training goal on a CPU, computed from this run: the FLOPs per example the goal allows at the
 * rate the engine's own dense path sustained here, and what DCN-v2's low-rank cross layers (Wang et al. 2021, §3.2: W ≈ U·Vᵀ of rank
 * r) would cost per example. A model change, not a kernel change, so it is proposed here and not made.
 */
function proposalText(r: DenseReport, inputDim: number, crossLayers: number, mlp: number[]): string | null {
  const auto = r.dcn.find((d) => d.path === 'auto')!;
  const ours = stepMs(r, auto.backend, inputDim, crossLayers, mlp);
  if (ours === null) return null;
  const stepFlops = stepFlopsOf(inputDim, crossLayers, mlp);
  const gflops = stepFlops / (ours * 1e6);
  const allowed = (gflops * 1e9) / 20_000;
  let mlpFlops = 0;
  let prev = inputDim;
  for (const h of mlp) {
    mlpFlops += 3 * 2 * prev * h;
    prev = h;
  }
  const crossFlops = stepFlops / BATCH - mlpFlops;
  const ranks = [64, 32].map((rank) => {
    const perExample = crossLayers * 3 * 2 * 2 * inputDim * rank + mlpFlops;
    return `rank ${rank}: ${(perExample / 1e6).toFixed(2)} MFLOP per example, a products ceiling of ${Math.round((gflops * 1e9) / perExample).toLocaleString('en-US')} examples/s per core`;
  });
  const stepCpuMs = (1000 * auto.trainCpuSeconds) / Math.ceil(auto.trainRows / BATCH);
  const rest = stepCpuMs - ours;
  if (gflops * 1e9 >= 20_000 * (stepFlops / BATCH))
    return `${stepCpuMs <= (1000 * BATCH) / 20_000 ? `Where the engine's step goes (the goal met): its products are a minority of it.` : `What stands between the engine's path and 20,000 examples/s per core: no longer its products.`} At the ${gflops.toFixed(1)} GFLOP/s ${auto.backend} sustained on these shapes in this run, a step's products take ${ours.toFixed(1)} ms, a ceiling of ${Math.round((BATCH * 1000) / ours).toLocaleString('en-US')} examples/s per core for them alone; the goal allows ${((1000 * BATCH) / 20_000).toFixed(1)} CPU-ms per step and the step took ${stepCpuMs.toFixed(1)}, ${rest.toFixed(1)} ms of it the rest of the step: the dense stack's elementwise work and its calls into ${auto.backend}, Adam on ${adamParams(inputDim, crossLayers, mlp).toLocaleString('en-US')} dense weights (a scalar square root and division each) and on the touched embedding rows, the embedding gather and scatter, the gradient norm, the wide part and the output layer. That rest is what a faster step would cut next; fewer FLOPs (DCN-v2's low-rank cross layers W ≈ U·Vᵀ — ${ranks.join('; ')}) remain a model change to validate on NE first.`;
  return `What would reach 20,000 examples/s per core: at the ${gflops.toFixed(1)} GFLOP/s ${auto.backend} sustained on these shapes in this run, the goal allows ${(allowed / 1e6).toFixed(2)} MFLOP of products per example; the default DCN spends ${(stepFlops / BATCH / 1e6).toFixed(2)}, ${((100 * crossFlops) / (stepFlops / BATCH)).toFixed(0)}% of it in the ${crossLayers} full-rank ${inputDim}×${inputDim} cross layers. No CPU kernel here closes that gap alone: it needs fewer FLOPs (DCN-v2's low-rank cross layers W ≈ U·Vᵀ — ${ranks.join('; ')} — a model change to validate on NE first), a GPU (gpu.js stays the path on GPU backends; this bench would add headlessgl/webgpu rows there), or more cores per training (more threads raise examples/s, not examples/s per core).`;
}

/** FLOPs of one training step's layer products: forward, dY·Wᵀ and Xᵀ·dY for every layer but the 1-wide output. */
function stepFlopsOf(inputDim: number, crossLayers: number, mlp: number[]): number {
  let flops = 0;
  for (const [key, count] of layerCounts(inputDim, crossLayers, mlp)) {
    const [i, o] = key.split('x').map(Number);
    flops += count * 3 * 2 * BATCH * i * o;
  }
  return flops;
}

function adamParams(inputDim: number, crossLayers: number, mlp: number[]): number {
  let n = crossLayers * (inputDim * inputDim + inputDim);
  let prev = inputDim;
  for (const h of [...mlp, 1]) {
    n += prev * h + h;
    prev = h;
  }
  return n;
}

export function denseMarkdown(r: DenseReport, inputDim: number, crossLayers: number, mlp: number[]): string {
  const fmt = (v: number) => v.toLocaleString('en-US');
  const contenders = [...new Set(r.matmul.map((m) => m.contender))];
  const labels = [...new Set(r.matmul.map((m) => `${m.shape.label} ${m.shape.op}`))];
  const cell = (c: string, l: string) => {
    const m = r.matmul.find((x) => x.contender === c && `${x.shape.label} ${x.shape.op}` === l);
    return m ? `${m.ms} ms (${m.gflops} GFLOP/s)` : '—';
  };
  const auto = r.dcn.find((d) => d.path === 'auto')!;
  const gpujs = r.dcn.find((d) => d.path === 'gpujs-webasm');
  const peer = stepMs(r, RAW_TFJS, inputDim, crossLayers, mlp);
  const stepRows = contenders
    .map((c) => [c, stepMs(r, c, inputDim, crossLayers, mlp)] as const)
    .filter(([, v]) => v !== null)
    .map(([c, v]) => `| ${c} | ${v!.toFixed(2)} | ${peer ? (peer / v!).toFixed(2) : '—'}x |`);
  const prose: string[] = [];
  if (gpujs) {
    prose.push(
      `DCN training went from ${fmt(gpujs.trainExamplesPerCpuSec)} examples per CPU-second on gpu.js webasm to ${fmt(auto.trainExamplesPerCpuSec)} on the engine's CPU path (${auto.backend}), ${(auto.trainExamplesPerCpuSec / Math.max(1, gpujs.trainExamplesPerCpuSec)).toFixed(1)}× faster; scoring from ${fmt(gpujs.scoreExamplesPerCpuSec)} to ${fmt(auto.scoreExamplesPerCpuSec)} (${(auto.scoreExamplesPerCpuSec / Math.max(1, gpujs.scoreExamplesPerCpuSec)).toFixed(1)}×). Test NE ${auto.testNe.toFixed(4)} against ${gpujs.testNe.toFixed(4)} on gpu.js (${gpujs.trainRows === auto.trainRows ? 'same rows' : `gpu.js on ${fmt(gpujs.trainRows)} rows, the others on ${fmt(auto.trainRows)}`}).`,
    );
  }
  const g = stepMs(r, 'gpujs-webasm', inputDim, crossLayers, mlp);
  const t = stepMs(r, 'tiled', inputDim, crossLayers, mlp);
  if (peer !== null && g !== null && t !== null) {
    prose.push(
      `gpu.js on the CPU cannot get there: its webasm kernels need ${g.toFixed(1)} ms for one step's products, ${(g / peer).toFixed(1)}× tfjs-wasm's ${peer.toFixed(1)} ms (${(peer / g).toFixed(2)}x, goal 0.5x). gpu.js compiles one scalar dot product per output cell, so nothing is reused across rows or columns. Tiled TypeScript (4×4 register tiles) needs ${t.toFixed(1)} ms (${(peer / t).toFixed(2)}x): better, still short, since V8 emits scalar code. tfjs-wasm runs XNNPACK's hand-written SIMD micro-kernels, within WebAssembly's 128-bit vectors${onnxPart(r, inputDim, crossLayers, mlp, peer)}. So the engine keeps gpu.js for GPU backends and, when gpu.js would run on the CPU, sends DCN's products to ONNX Runtime where onnxruntime-node is installed, tfjs-wasm where only it is, and tiled TypeScript otherwise (\`RANKWRIGHT_DENSE_CPU\`=auto|onnxruntime|tfjs-wasm|tiled|gpujs).`,
    );
  }
  const products = r.dcn.find((d) => d.path === ONNX_PRODUCTS_PATH);
  const onTfjs = r.dcn.find((d) => d.path === 'tfjs-wasm');
  if (products && auto.backend === 'onnxruntime')
    prose.push(
      `On ONNX Runtime the engine runs the DCN's whole dense stack as two graphs a step, forward and backward (\`ranking/models/dcn-onnx-stack.ts\`): ${fmt(auto.trainExamplesPerCpuSec)} examples per CPU-second against ${fmt(products.trainExamplesPerCpuSec)} with one call per product and TypeScript loops between them (${(auto.trainExamplesPerCpuSec / Math.max(1, products.trainExamplesPerCpuSec)).toFixed(2)}×), scoring ${fmt(auto.scoreExamplesPerCpuSec)} against ${fmt(products.scoreExamplesPerCpuSec)}; test NE ${auto.testNe.toFixed(4)} and ${products.testNe.toFixed(4)}.${onTfjs ? ` On tfjs-wasm, the CPU path before ONNX Runtime, the same DCN trains ${fmt(onTfjs.trainExamplesPerCpuSec)} and scores ${fmt(onTfjs.scoreExamplesPerCpuSec)} (test NE ${onTfjs.testNe.toFixed(4)}): the engine's path is ${(auto.trainExamplesPerCpuSec / Math.max(1, onTfjs.trainExamplesPerCpuSec)).toFixed(1)}× and ${(auto.scoreExamplesPerCpuSec / Math.max(1, onTfjs.scoreExamplesPerCpuSec)).toFixed(1)}× that.` : ''}`,
    );
  const proposal = proposalText(r, inputDim, crossLayers, mlp);
  if (proposal) prose.push(proposal);
  for (const low of r.dcn.filter((d) => d.path === LOW_RANK_PATH || d.path === LOW_RANK_3_PATH)) {
    prose.push(
      `With low-rank cross layers (\`crossRank\` ${LOW_RANK}: ${low.layers}; a config knob, full rank stays the default until it matches full rank's NE on the wide scenarios, \`bench/dcn-rank.ts\`) the same path trains ${fmt(low.trainExamplesPerCpuSec)} examples per CPU-second (goal 20,000: ${low.trainExamplesPerCpuSec >= 20_000 ? 'met' : '**MISS**'}), ${(low.trainExamplesPerCpuSec / Math.max(1, auto.trainExamplesPerCpuSec)).toFixed(2)}× the default's, and scores ${fmt(low.scoreExamplesPerCpuSec)} (${(low.scoreExamplesPerCpuSec / Math.max(1, auto.scoreExamplesPerCpuSec)).toFixed(2)}× the default's; ${(low.scoreExamplesPerCpuSec / Math.max(1, low.trainExamplesPerCpuSec)).toFixed(2)}× its own training rate, goal 5×: ${low.scoreExamplesPerCpuSec >= 5 * low.trainExamplesPerCpuSec ? 'met' : '**MISS**'}); test NE ${low.testNe.toFixed(4)} against ${auto.testNe.toFixed(4)} on these rows.`,
    );
  }
  return [
    '# Dense kernels benchmark',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `Data: \`${r.scenario.name}\` (39 feature columns), DCN default config (${auto.layers}), 1 epoch${r.quick ? ' (quick run: small row counts, short timing budgets)' : ''}. Every contender ran in its own process; its scoring rate is the fastest of ${SCORE_REPEATS} passes over the test rows. "Per core" = examples per CPU-second of that process. gpu.js backends available here: ${r.backends.join(', ')}; no GPU on this machine, so no GPU rows (on a GPU machine headlessgl/webgpu would join as contenders).`,
    '',
    '## Goals',
    '',
    goalTable(r.goals),
    '',
    ...prose.flatMap((p) => [p, '']),
    '## DCN training and scoring',
    '',
    '| dense path | runs on | train rows | train ex/s per core | train ex/s (wall) | score ex/s per core | score ex/s (wall) | test NE | peak RSS MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.dcn.map(
      (d) =>
        `| ${d.path} | ${d.backend} | ${fmt(d.trainRows)} | ${fmt(d.trainExamplesPerCpuSec)} | ${fmt(d.trainExamplesPerSec)} | ${fmt(d.scoreExamplesPerCpuSec)} | ${fmt(d.scoreExamplesPerSec)} | ${d.testNe.toFixed(4)} | ${d.peakRssMiB} |`,
    ),
    '',
    `## One training step's products (batch ${BATCH}, ${crossLayers} cross layers ${inputDim}×${inputDim}, MLP ${mlp.join('→')})`,
    '',
    '| contender | ms per step | vs tfjs-wasm raw |',
    '|---|---:|---:|',
    ...stepRows,
    '',
    '## Matrix products (median ms)',
    '',
    `| shape | ${contenders.join(' | ')} |`,
    `|---|${contenders.map(() => '---:').join('|')}|`,
    ...labels.map((l) => `| ${l} | ${contenders.map((c) => cell(c, l)).join(' | ')} |`),
    '',
    '`tfjs-wasm` goes through the DenseKernels interface (copies into and out of wasm memory included); `tfjs-wasm raw` multiplies tensors already in wasm memory (the peer).',
    '',
    ...STEP_PROFILE,
  ].join('\n');
}

/** ONNX Runtime's step products against raw tfjs-wasm's, in words (empty when it did not run). */
function onnxPart(r: DenseReport, inputDim: number, crossLayers: number, mlp: number[], peer: number): string {
  const o = stepMs(r, 'onnxruntime', inputDim, crossLayers, mlp);
  if (o === null) return '';
  return `; ONNX Runtime's CPU provider runs MLAS, native GEMM kernels on the CPU's own vector units (AVX2/AVX-512 FMA here), and needs ${o.toFixed(1)} ms (${(peer / o).toFixed(2)}x raw tfjs-wasm), through the same interface, copies and all`;
}

/**
 * Where one training step's time goes. Not measured by this bench (timing every phase would slow the step it
 * measures): from a build with a timer around each phase of DeepCrossNetwork.step, fixed text, dated.
 */
const STEP_PROFILE = [
  "## Where a training step's time goes on tfjs-wasm (profiles of 2026-12-06, before ONNX Runtime became the CPU path; not this run)",
  '',
  "Since 52cb891, on tfjs-wasm the DCN's cross layers and MLP run as tfjs ops on tensors resident in wasm memory for the step (`ranking/models/dcn-resident.ts`): x0 goes in once; x0 ⊙ z + x_l, the residual adds, ReLU masks, bias sums and transposes run as wasm kernels, bias and ReLU inside XNNPACK's product (tfjs's fused matMul); the hidden output, x0's gradient and the weight gradients come out. Before, every product went through the DenseKernels interface (operands copied in, the result read out) with TypeScript loops between them, and on this machine V8's typed-array loops cost ~1.5–2 ns per value touched: a rank-32 ×3 step touched ~50 values per x0 value in them, about as much CPU as its products. The resident path computes in float32 where the loops computed x0·z + x and the bias sums in float64, so its numbers differ in the last bits (test/ranking/dcn-resident.test.ts compares both paths, full and low rank; and test NE is unchanged: trained on 45,000 rows of the 50,000-row cut of `wide-criteo-like`, the loop path (7678604) and the resident one give 0.90323 at full rank, 0.90362 at rank 32 ×2 and 0.90403 at rank 32 ×3, equal to 5 decimals). The interface path stays for the other kernels, `new TfjsWasmKernels({ residentStack: false })`, and is the one the bit-for-bit tests pin.",
  '',
  'A timer around each phase of `DeepCrossNetwork.step` (a throwaway build), 45,000 rows of `wide-criteo-like`, tfjs-wasm, one run each, load average ~6 on 2 cores (other work shared the machine: wall ms inflated); ms per step (wall):',
  '',
  '| phase | full rank | rank 32 ×3 |',
  '|---|---:|---:|',
  '| forward: cross layers and MLP (resident: upload x0 and weights, products, gating) | 6.75 | 4.27 |',
  "| backward: cross layers and MLP (resident: products, transposes, gating, read out x0's and the weights' gradients) | 10.84 | 6.49 |",
  '| wide part, loss, output layer | 0.71 | 0.67 |',
  '| gather of x0 | 0.66 | 0.64 |',
  '| embedding gradient scatter | 0.87 | 0.92 |',
  '| L2 and gradient norm | 0.66 | 0.30 |',
  '| Adam on the dense weights (217,457 full rank; 82,985 at rank 32 ×3) | 1.83 | 0.70 |',
  '| lazy Adam on touched embedding rows | 1.09 | 1.15 |',
  '| **CPU-ms per step** (process) | 21.3 | 13.1 |',
  '',
  "For comparison, the profile before the resident stack (same build method, 18,000 rows, load 3.3–4.1): full rank 15.2 ms of products through the interface + 2.1 gating; rank 32 ×3 11.4 + 3.9; 25.4 and 19.0 CPU-ms per step. Inside the rank 32 ×3 forward and backward what remains is XNNPACK's products (~6 ms at the sustained rate of the matrix table) and tfjs's per-op dispatch (~75 ops a step, ~15–20 µs each). The rest of a step, ~4.4 ms at rank 32 ×3, is TypeScript on the embedding table and the dense weights: lazy Adam, the scatter and the gather are bound by cache misses on random table rows (one cache line per row — weights, m and v interleaved — would be a checkpoint layout change), dense Adam and the norm by V8's scalar loops.",
  '',
  "Tried and dropped: narrow weight gradients as (dYᵀ·x)ᵀ (transposing dY instead of x) ran slower, 0.80 against 0.57 ms at 256×312·312×32, because tfjs-wasm packs a product's B operand for XNNPACK on first use and x is the wide one; matMul's transpose flags run 6–12× slower than an explicit transpose here. A step allocates no typed arrays on the JavaScript heap (tfjs creates and frees its tensors in wasm memory, and small Tensor objects, within each step).",
  '',
];

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
