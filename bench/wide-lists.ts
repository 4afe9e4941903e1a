import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig, ModelConfig } from '../contracts';
import { loadDataset } from '../ranking/data/load-data';
import { buildFeatureSpec, encodeRows, listColumnsOfData, pooledFieldCount, slotCounts, type FeatureSpec } from '../ranking/features';
import { sharedKernels } from '../ranking/kernels';
import { createModel } from '../ranking/models/create-model';
import { SeededRandom } from '../ranking/rng';
import { writeWideTable } from '../test/support/wide-table';
import { benchStamp, commitLine, machineLine, sampleLoad, writeResultFiles, type LoadRange } from './stamp';

/**
 * `npx tsx bench/wide-lists.ts [--rows N] [--repeats N] [--modes slots,pooled] [--family dcn|fm]`: one DCN (or FM) training epoch (the default
 * config, the engine's dense path) on the wide planted table (test/support/wide-table.ts: 80 categorical, 30 dense and
 * two list columns of 3 and 4 values), with its lists as `maxValues` separate slots each (`slots`: the spec built
 * without the table's lists, what every model was before lists were pooled) and as one pooled field each (`pooled`).
 * Pooling narrows x0 by 5 embeddings (87 → 82 categorical fields), so the cross layers' products shrink; the gather
 * and scatter of the lists do a little more work. Wall and CPU seconds, the median of `repeats` epochs each from a
 * fresh model (after one warm-up step), the modes' epochs interleaved, into bench/results/wide-lists.{json,md}.
 */

interface ModeResult {
  mode: string;
  catSlots: number;
  /** Fields the model sees (a pooled list is one). */
  fields: number;
  /** DCN's x0 (one embedding per field, then the numeric dense values). */
  x0Width: number;
  epochSeconds: number[];
  epochCpuSeconds: number[];
  medianSeconds: number;
  medianCpuSeconds: number;
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const rows = Number(option('--rows') ?? 40_000);
  const repeats = Number(option('--repeats') ?? 3);
  const modes = (option('--modes') ?? 'slots,pooled').split(',');
  const stamp = benchStamp();
  const report: { loadAverage?: LoadRange } = {};
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-bench-wide-lists-'));
  try {
    const table = writeWideTable(dir, { trainRows: rows, testRows: 1000 });
    const data = DataConfig.parse({ format: 'csv', train: table.train, test: table.test, schema: table.schema });
    const dataset = await loadDataset(data);
    const family = option('--family') ?? 'dcn';
    const config = ModelConfig.parse({ family, epochs: 1 });
    if (config.family !== 'dcn' && config.family !== 'fm') throw new Error(`--family: dcn or fm, not ${family}`);
    // Both modes' encodings first, then the epochs interleaved (slots, pooled, slots, …): a shared machine's load
    // drifts, and interleaving spreads it over both.
    const setups = modes.map((mode) => {
      if (mode !== 'slots' && mode !== 'pooled') throw new Error(`unknown mode ${mode}: slots or pooled`);
      const spec: FeatureSpec = buildFeatureSpec(config, dataset.train, dataset.active, mode === 'pooled' ? listColumnsOfData(data) : []);
      return { mode, spec, train: encodeRows(dataset.train, spec), wall: [] as number[], cpu: [] as number[] };
    });
    const order = new Int32Array(dataset.train.rows);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const rng = new SeededRandom(config.seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let k = 0; k < repeats; k++) {
      for (const setup of setups) {
        const { spec, train } = setup;
        const model = createModel(config, spec, sharedKernels());
        await model.trainStep(train, order, 0, config.batchSize, 1); // warm-up (JIT), outside the timing
        sampleLoad(report);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let start = 0; start < train.rows; start += config.batchSize)
          await model.trainStep(train, order, start, Math.min(train.rows, start + config.batchSize), 1);
        setup.wall.push((performance.now() - t0) / 1000);
        const used = process.cpuUsage(c0);
        setup.cpu.push((used.user + used.system) / 1e6);
        sampleLoad(report);
      }
    }
    const results: ModeResult[] = setups.map(({ mode, spec, wall, cpu }) => {
      const { catFields, denseSlots } = pooledFieldCount(spec);
      return {
        mode,
        catSlots: slotCounts(spec).catSlots,
        fields: catFields + denseSlots,
        x0Width: catFields * config.embeddingDim + denseSlots,
        epochSeconds: wall,
        epochCpuSeconds: cpu,
        medianSeconds: median(wall),
        medianCpuSeconds: median(cpu),
      };
    });
    for (const r of results) console.log(JSON.stringify(r));
    const json = {
      stamp,
      rows,
      repeats,
      config: { family, embeddingDim: config.embeddingDim, batchSize: config.batchSize },
      loadAverage: report.loadAverage,
      results,
    };
    const md = [
      `# ${family.toUpperCase()} epoch on the wide table: lists as slots vs pooled`,
      '',
      commitLine(stamp),
      machineLine(stamp, report.loadAverage),
      '',
      `${rows} train rows of test/support/wide-table.ts (80 categorical, 30 dense, lists of 3 and 4 values), the default ${family.toUpperCase()}, one epoch; median of ${repeats} (wall, CPU).`,
      '',
      '| lists | categorical slots | model fields | x0 width (DCN) | epoch wall s | epoch CPU s |',
      '|---|---|---|---|---|---|',
      ...results.map(
        (r) => `| ${r.mode} | ${r.catSlots} | ${r.fields} | ${r.x0Width} | ${r.medianSeconds.toFixed(2)} | ${r.medianCpuSeconds.toFixed(2)} |`,
      ),
      '',
    ].join('\n');
    if (!process.argv.includes('--no-write'))
      writeResultFiles(path.join(__dirname, 'results'), [
        [`wide-lists${family === 'dcn' ? '' : `-${family}`}.json`, JSON.stringify(json, null, 2) + '\n'],
        [`wide-lists${family === 'dcn' ? '' : `-${family}`}.md`, md],
      ]);
    console.log(md);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
