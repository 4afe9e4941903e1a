import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from '../../contracts/errors';
import type { WideScenarioOptions } from '../../contracts/wide-planted';
import { generateWideScenario, type WideGenerateResult, type WideProgress } from '../../ranking/data/wide-planted';
import {
  BENCH_WIDE_SCENARIOS,
  WIDE_SCENARIOS,
  namedWideScenario,
  resolveWideScenario,
  type WideScenarioName,
} from '../../ranking/data/wide-scenarios';
import { oneLine } from '../format';

export interface GenerateOptions {
  /** A named scenario, a JSON file, or a JSON object string (may `"extends"` a named one). */
  scenario?: string;
  out?: string;
  /** Train rows (validation / test keep their ratio to train). */
  rows?: number;
  json?: boolean;
  /** List the named scenarios instead of generating. */
  list?: boolean;
}

/**
 * `rankwright generate --scenario NAME|FILE|JSON --out DIR [--rows N] [--json]` (or `--list`): streams a planted
 * full-width Criteo-format scenario to DIR — train.tsv, validation.tsv (when the scenario has validation rows),
 * test.tsv, test.truth.tsv (the true probability of each test row, one per line) and meta.json (the scenario, the
 * oracle NE / log loss / AUC, the planted structure). Progress goes to stderr, the summary to stdout (--json: one
 * JSON object). Exit codes: 0 ok, 1 failed while writing, 2 invalid scenario or usage (one line naming the field).
 */
export async function runGenerate(opts: GenerateOptions): Promise<number> {
  const usage = (line: string) => {
    process.stderr.write(`error: ${line}\n`);
    return 2;
  };
  if (opts.list) return listScenarios(!!opts.json);
  if (!opts.scenario) return usage('generate: --scenario <name|file|json> is required (or --list to see the named scenarios)');
  if (!opts.out) return usage('generate: --out <dir> is required');
  if (opts.rows !== undefined && (!Number.isSafeInteger(opts.rows) || opts.rows < 100))
    return usage(`--rows ${opts.rows}: expected an integer >= 100`);
  if (fs.existsSync(opts.out) && !fs.statSync(opts.out).isDirectory())
    return usage(`--out ${JSON.stringify(opts.out)}: exists and is not a directory`);

  let options: WideScenarioOptions;
  try {
    options = resolveWideScenario(opts.scenario, { rows: opts.rows });
  } catch (e) {
    if (e instanceof InvalidInputError) return usage(oneLine(e.message));
    throw e;
  }

  const progress = progressReporter(!!process.stderr.isTTY);
  let result: WideGenerateResult;
  try {
    result = await generateWideScenario(options, opts.out, { onProgress: progress.update });
  } catch (e) {
    progress.done();
    if (e instanceof InvalidInputError) return usage(oneLine(e.message));
    process.stderr.write(`generate failed: ${oneLine((e as Error).message ?? String(e))}\n`);
    return 1;
  }
  progress.done();
  process.stdout.write(opts.json ? JSON.stringify(summaryJson(result)) + '\n' : summaryText(result));
  return 0;
}

function listScenarios(json: boolean): number {
  const rows = (Object.keys(WIDE_SCENARIOS) as WideScenarioName[]).map((name) => {
    const o = namedWideScenario(name);
    return {
      name,
      description: o.description ?? '',
      seed: o.seed,
      trainRows: o.trainRows,
      validationRows: o.validationRows,
      testRows: o.testRows,
      baseCtr: o.baseCtr,
      bench: BENCH_WIDE_SCENARIOS.includes(name),
    };
  });
  if (json) {
    process.stdout.write(JSON.stringify(rows) + '\n');
    return 0;
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  const lines = rows.map(
    (r) =>
      `${r.name.padEnd(width)}  seed ${String(r.seed).padEnd(4)} train ${r.trainRows.toLocaleString('en-US').padStart(9)}  test ${r.testRows
        .toLocaleString('en-US')
        .padStart(
          7,
        )}  CTR ${r.baseCtr < 0.01 ? r.baseCtr.toPrecision(2) : r.baseCtr.toFixed(3)}${r.bench ? '  [bench]' : ''}\n${' '.repeat(width + 2)}${r.description}`,
  );
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** On a terminal one line rewritten in place; otherwise a line per split at every 25%. */
function progressReporter(tty: boolean) {
  let lastSplit = '';
  let lastQuarter = -1;
  let open = false;
  return {
    update: (p: WideProgress) => {
      const pct = Math.floor((100 * p.rows) / p.total);
      if (tty) {
        process.stderr.write(
          `\rgenerating ${p.split.padEnd(10)} ${p.rows.toLocaleString('en-US').padStart(11)} / ${p.total.toLocaleString('en-US')} rows (${pct}%)   `,
        );
        open = true;
        return;
      }
      const quarter = Math.floor(pct / 25);
      if (p.split === lastSplit && quarter === lastQuarter) return;
      if (p.split !== lastSplit && quarter === 0 && p.rows < p.total) {
        lastSplit = p.split;
        lastQuarter = 0;
        return;
      }
      lastSplit = p.split;
      lastQuarter = quarter;
      process.stderr.write(`generating ${p.split}: ${p.rows.toLocaleString('en-US')} / ${p.total.toLocaleString('en-US')} rows\n`);
    },
    done: () => {
      if (open) process.stderr.write('\n');
      open = false;
    },
  };
}

function filesOf(result: WideGenerateResult) {
  const { meta, outDir } = result;
  const at = (f: string) => path.resolve(outDir, f);
  return {
    train: at(meta.splits.train.file),
    ...(meta.splits.validation ? { validation: at(meta.splits.validation.file), validationTruth: at(meta.splits.validation.truthFile!) } : {}),
    test: at(meta.splits.test.file),
    testTruth: at(meta.splits.test.truthFile!),
    meta: at('meta.json'),
  };
}

/** The --json output: where the files are, how many rows, the oracle, and a data config ready for `train`. */
export function summaryJson(result: WideGenerateResult) {
  const { meta } = result;
  const files = filesOf(result);
  return {
    scenario: meta.scenario,
    seed: meta.options.seed,
    out: path.resolve(result.outDir),
    files,
    rows: { train: meta.splits.train.rows, validation: meta.splits.validation?.rows ?? 0, test: meta.splits.test.rows },
    baseCtr: meta.baseCtr,
    oracle: meta.oracle,
    data: { format: 'criteo-tsv', train: files.train, test: files.test, ...(files.validation ? { validation: files.validation } : {}) },
    seconds: result.seconds,
  };
}

/** A drifting scenario in one line: the trend's click rate over training and test, what turns and what shifts. */
function driftLine(drift: NonNullable<WideGenerateResult['meta']['structure']['drift']>): string {
  const pct = (x: number) => `${Number((x * 100).toPrecision(2))}%`;
  const { trendCtr } = drift;
  const parts = [
    `CTR ${pct(trendCtr.trainStart)} → ${pct(trendCtr.trainEnd)} over training, ${pct(trendCtr.testStart)} → ${pct(trendCtr.testEnd)} over test`,
    ...(drift.flip ? [`${drift.flip} turns its sign`] : []),
    ...drift.populationShift.map((s) => `${s.field}'s popularity order turns over (${Math.round(s.share * 100)}% by the end of training)`),
  ];
  return `drift      ${parts.join('; ')} (rows in time order)`;
}

function summaryText(result: WideGenerateResult): string {
  const { meta } = result;
  const s = summaryJson(result);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const split = (label: string, x: { file: string; rows: number; ctr: number; bytes: number; truthFile?: string }) =>
    `${label.padEnd(10)} ${path.join(s.out, x.file)}  ${x.rows.toLocaleString('en-US')} rows  CTR ${x.ctr.toFixed(4)}  ${mb(x.bytes)}${
      x.truthFile ? `  (true probabilities: ${x.truthFile})` : ''
    }`;
  const rowsTotal = s.rows.train + s.rows.validation + s.rows.test;
  const biggest = [...meta.ablations].sort((a, b) => b.neGap - a.neGap).slice(0, 6);
  const lines = [
    `scenario   ${meta.scenario ?? '(custom)'}  seed ${meta.options.seed}  base CTR ${meta.options.baseCtr}`,
    split('train', meta.splits.train),
    ...(meta.splits.validation ? [split('validation', meta.splits.validation)] : []),
    split('test', meta.splits.test),
    `oracle     test NE ${meta.oracle.ne.toFixed(5)}  log loss ${meta.oracle.logloss.toFixed(5)}  AUC ${meta.oracle.auc.toFixed(5)}  (the Bayes-optimal ceiling)`,
    `truth      ${meta.structure.kindsPresent.join(', ')}${meta.structure.labelNoise ? `, label noise ${meta.structure.labelNoise}` : ''}`,
    ...(meta.structure.drift ? [driftLine(meta.structure.drift)] : []),
    `worth      ${biggest.map((a) => `${a.remove} +${a.neGap.toFixed(4)}`).join('  ')}  (test NE lost without it)`,
    `meta       ${s.files.meta}`,
    `data       ${JSON.stringify(s.data)}`,
    `time       ${result.seconds.toFixed(1)} s  (${Math.round(rowsTotal / result.seconds).toLocaleString('en-US')} rows/s)`,
  ];
  return lines.join('\n') + '\n';
}
