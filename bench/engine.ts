/**
 * Engine benchmark: training and scoring throughput per model family and per gpu.js backend, against the
 * reference twins, on the same planted data with crosses. Writes bench/results/latest.json and engine.md.
 *
 *   npx tsx bench/engine.ts            (default: ~2 minutes on 2 cores)
 *   BENCH_QUICK=1 npx tsx bench/engine.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelConfig, type ModelConfigInput } from '../contracts';
import { loadDataset } from '../ranking/data/load-data';
import { buildFeatureSpec, encodeRows } from '../ranking/features';
import { availableBackends, kernelsFor } from '../ranking/kernels';
import { cpuCores } from '../ranking/kernels/backend';
import { createModel } from '../ranking/models/create-model';
import { runTrainingLoop } from '../ranking/trainer';
import { normalizedEntropy } from '../ranking/metrics';

const quick = !!process.env.BENCH_QUICK;
const planted = quick ? { trainRows: 20_000, validationRows: 2_000, testRows: 5_000 } : {};

interface Row {
  family: string;
  backend: string;
  threads: number;
  trainExamplesPerSec: number;
  scoreExamplesPerSec: number;
  trainSeconds: number;
  testNe: number;
  oracleNe: number;
  peakRssMiB: number;
  peakHeapMiB: number;
  note?: string;
}

async function main() {
  const data = { planted };
  const dataset = await loadDataset(data);
  const backends = availableBackends();
  const cores = cpuCores();
  // Each variant: a kernel backend + thread count. 'reference' = plain TS twins.
  const variants: { backend: string; threads: number }[] = [{ backend: 'reference', threads: 1 }];
  for (const b of backends) {
    variants.push({ backend: b, threads: 1 });
    if (b === 'webasm' && cores > 1) variants.push({ backend: b, threads: cores });
  }
  const families: { config: ModelConfigInput; usesKernelsInTraining: boolean; usesKernelsInScoring: boolean }[] = [
    {
      config: {
        family: 'lr',
        crosses: [
          ['C1', 'C6'],
          ['C2', 'C4'],
        ],
      },
      usesKernelsInTraining: false,
      usesKernelsInScoring: false,
    },
    { config: { family: 'fm' }, usesKernelsInTraining: false, usesKernelsInScoring: true },
    { config: { family: 'dcn', epochs: 1 }, usesKernelsInTraining: true, usesKernelsInScoring: true },
  ];
  const rows: Row[] = [];
  for (const fam of families) {
    const config = ModelConfig.parse(fam.config);
    const spec = buildFeatureSpec(config, dataset.train, dataset.active);
    const train = encodeRows(dataset.train, spec);
    const validation = encodeRows(dataset.validation, spec);
    const test = encodeRows(dataset.test, spec);
    let trained: { trainExamplesPerSec: number; trainSeconds: number; weights: ReturnType<ReturnType<typeof createModel>['weightTensors']> } | null =
      null;
    for (const v of variants) {
      if (!fam.usesKernelsInTraining && !fam.usesKernelsInScoring && v.backend !== 'reference') continue;
      const kernels = kernelsFor(v.backend, { threads: v.threads > 1 ? v.threads : 0 });
      let peakRss = 0;
      let peakHeap = 0;
      const sample = () => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      };
      const model = createModel(config, spec, kernels);
      let note: string | undefined;
      if (fam.usesKernelsInTraining || !trained) {
        global.gc?.();
        const t0 = performance.now();
        await runTrainingLoop(model, config, train, validation.rows > 0 ? { ...validation, rows: 0 } : validation, { onProgress: sample });
        const seconds = (performance.now() - t0) / 1000;
        trained = { trainExamplesPerSec: (train.rows * config.epochs) / seconds, trainSeconds: seconds, weights: model.weightTensors() };
      } else {
        model.loadWeights(trained.weights);
        note = 'training runs no kernels (sparse per-example updates); training rate measured once';
      }
      // Scoring: the whole test set, repeated until ≥ 0.5 s.
      const scores = new Float64Array(test.rows);
      await model.predict(test, 0, Math.min(test.rows, 2048), scores); // compile kernels outside the timing
      let scored = 0;
      const s0 = performance.now();
      while (performance.now() - s0 < 500) {
        await model.predict(test, 0, test.rows, scores);
        scored += test.rows;
        sample();
      }
      const scoreRate = scored / ((performance.now() - s0) / 1000);
      sample();
      rows.push({
        family: config.family,
        backend: v.backend,
        threads: v.threads,
        trainExamplesPerSec: Math.round(trained!.trainExamplesPerSec),
        scoreExamplesPerSec: Math.round(scoreRate),
        trainSeconds: +trained!.trainSeconds.toFixed(2),
        testNe: +normalizedEntropy(scores, test.labels).toFixed(5),
        oracleNe: +dataset.oracle!.ne.toFixed(5),
        peakRssMiB: Math.round(peakRss / 2 ** 20),
        peakHeapMiB: Math.round(peakHeap / 2 ** 20),
        note,
      });
      const r = rows[rows.length - 1];
      process.stderr.write(
        `${r.family.padEnd(4)} ${`${r.backend}${r.threads > 1 ? `×${r.threads}` : ''}`.padEnd(12)} train ${r.trainExamplesPerSec.toLocaleString().padStart(10)} ex/s  score ${r.scoreExamplesPerSec.toLocaleString().padStart(10)} ex/s  NE ${r.testNe}\n`,
      );
      kernels.destroy();
    }
  }

  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    backends,
    date: new Date().toISOString(),
  };
  const result = {
    machine,
    data: { planted: dataset.config, trainRows: dataset.train.rows, testRows: dataset.test.rows, oracleNe: dataset.oracle!.ne },
    quick,
    rows,
  };
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'engine.md'), markdown(result));
  process.stderr.write(`wrote ${path.join(dir, 'latest.json')} and engine.md\n`);
  process.exit(0);
}

function markdown(r: { machine: Record<string, unknown>; data: { trainRows: number; testRows: number; oracleNe: number }; rows: Row[] }): string {
  const lines = [
    '# Engine benchmark',
    '',
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}; gpu.js backends available: ${(r.machine.backends as string[]).join(', ')}.`,
    `Data: default planted scenario (${r.data.trainRows.toLocaleString()} train rows, 8 categorical fields × 200 values, 2 planted crosses), test ${r.data.testRows.toLocaleString()} rows, oracle NE ${r.data.oracleNe.toFixed(4)}.`,
    'Rates are examples/second (training: per epoch-example; LR 2 epochs with the 2 planted crosses, FM 2 epochs, DCN 1 epoch). `reference` = the plain-TypeScript twins; `webasm×N` = gpu.js webasm kernels threaded over N workers.',
    '',
    '| family | backend | train ex/s | score ex/s | train s | test NE | peak RSS MiB | peak heap MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (x) =>
        `| ${x.family} | ${x.backend}${x.threads > 1 ? `×${x.threads}` : ''} | ${x.trainExamplesPerSec.toLocaleString()} | ${x.scoreExamplesPerSec.toLocaleString()} | ${x.trainSeconds} | ${x.testNe.toFixed(4)} | ${x.peakRssMiB} | ${x.peakHeapMiB} |`,
    ),
    '',
    '## Interpretation',
    '',
    ...interpretation(r.rows),
    '',
  ];
  return lines.join('\n');
}

function interpretation(rows: Row[]): string[] {
  const best = (family: string, key: 'trainExamplesPerSec' | 'scoreExamplesPerSec', single = false) =>
    Math.max(...rows.filter((r) => r.family === family && (!single || r.threads === 1)).map((r) => r[key]));
  const lr = best('lr', 'trainExamplesPerSec');
  const fm = best('fm', 'trainExamplesPerSec');
  const dcn1 = best('dcn', 'trainExamplesPerSec', true);
  const dcnRef = rows.find((r) => r.family === 'dcn' && r.backend === 'reference')?.trainExamplesPerSec ?? 0;
  const dcnWasm = rows.find((r) => r.family === 'dcn' && r.backend === 'webasm' && r.threads === 1)?.trainExamplesPerSec ?? 0;
  const dcnThreaded = rows.find((r) => r.family === 'dcn' && r.backend === 'webasm' && r.threads > 1)?.trainExamplesPerSec ?? dcnWasm;
  const dcnWasmScore = rows.find((r) => r.family === 'dcn' && r.backend === 'webasm' && r.threads === 1)?.scoreExamplesPerSec ?? 0;
  const dcnRefScore = rows.find((r) => r.family === 'dcn' && r.backend === 'reference')?.scoreExamplesPerSec ?? 0;
  const ok = (v: number, goal: number) => (v >= goal ? `meets the ${goal.toLocaleString()}/s goal` : `misses the ${goal.toLocaleString()}/s goal`);
  const ratio = (f: string) => best(f, 'scoreExamplesPerSec', true) / best(f, 'trainExamplesPerSec', true);
  return [
    `- Single-core training: LR ${lr.toLocaleString()}/s (${ok(lr, 500_000)}), FM ${fm.toLocaleString()}/s (${ok(fm, 100_000)}), DCN ${dcn1.toLocaleString()}/s (${ok(dcn1, 5_000)}). LR and FM train with sparse per-example typed-array updates (no dense batched work, so no kernels); DCN's matrix products run in gpu.js kernels.`,
    `- Scoring vs training (single core): LR ${ratio('lr').toFixed(1)}×, FM ${ratio('fm').toFixed(1)}×, DCN ${ratio('dcn').toFixed(1)}× (goal ≥ 5×). A forward pass is about a third of a training step's arithmetic, so a dense model's ceiling is ~3–4× unless scoring batches amortise more; DCN scoring fuses each cross layer into one kernel. FM scores with a fused typed-array loop on CPU backends (the gather into the fmInteraction kernel cost more than the whole loop; the kernel path is kept for GPU backends).`,
    `- gpu.js webasm (f32x4 SIMD, single thread) trains DCN at ${(dcnWasm / Math.max(1, dcnRef)).toFixed(2)}× the reference twins and scores at ${(dcnWasmScore / Math.max(1, dcnRefScore)).toFixed(2)}×. Threaded webasm (webasm×N) trains at ${(dcnThreaded / Math.max(1, dcnWasm)).toFixed(2)}× single-thread here: each kernel call round-trips through the worker pool, so at 256-row batches it is no reliable win: across our runs on this shared 2-core machine it measured between about 0.6× and 1.1×; threads stay opt-in (RANKWRIGHT_GPU_THREADS). The cpu backend transpiles to plain JS (float64), so it tracks the twins. FM rows share one fused scoring loop on every CPU backend, hence equal rates.`,
    '- NE is identical across backends up to float32 rounding (the kernels are tested against the twins within 1e-4); the planted oracle bounds what any model can reach, and DCN/FM beat LR only through the planted interactions.',
    '- No GPU was available on this machine (headless-gl needs the native `gl` module and a display; WebGPU needs a newer glibc), so GPU backends are absent from the table; on a GPU worker `auto` picks them and this bench adds their rows.',
  ];
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
