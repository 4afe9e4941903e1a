/**
 * DCN cross-layer sweep: on each wide planted scenario, the DCN trained with each cross-layer shape (full rank or a
 * low rank r, and the number of cross layers) through the engine's own trainExperiment (validation early stopping and
 * calibration included), over several model seeds, side by side. This is how the default rank is chosen
 * (contracts/model.ts, CrossRank): a shape may become the default only if its test NE is within 0.001 of the
 * reference's (the first shape, today's default) on every scenario.
 *
 * Each seed trains every shape on the same rows, so the comparison is paired: per scenario, the mean over seeds of
 * (shape's test NE − reference's test NE) with its standard error (sd of the differences / √seeds). CPU-seconds are
 * process.cpuUsage around trainExperiment (load, encode, train, evaluate and score), so a shared machine's load does
 * not count the way wall time would.
 *
 *   npx tsx bench/dcn-rank.ts [--scenarios a,b] [--shapes full:2,32:3,32:2] [--seeds 1,2,3] [--rows N] [--resume]
 *
 * --resume: keep the runs of bench/results/dcn-rank.json that this sweep plans (same scenario, shape, seed and rows)
 * and train only the others; each run keeps the commit that ran it.
 * --shapes: rank:crossLayers pairs, the first being the reference. --rows: train rows (default: each scenario's own,
 * 500k). Writes bench/results/dcn-rank.{json,md}, stamped with the commit.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { CrossRank } from '../contracts';
import { ensureScenarioFiles, SCENARIO_NAMES } from './quality/scenarios';
import { BENCH_WIDE_SCENARIOS } from '../ranking/data/wide-scenarios';
import { benchStamp, commitLine, machineLine, namedList, sampleLoad, writeResultFiles, type BenchStamp, type LoadRange } from './stamp';

/** One cross-layer shape: its rank and how many cross layers. */
interface CrossShape {
  rank: CrossRank;
  crossLayers: number;
}

interface ShapeRun {
  scenario: string;
  shape: string;
  seed: number;
  testNe: number;
  validationNe: number;
  oracleNe: number;
  cpuSeconds: number;
  trainRows: number;
  /** The commit that ran it (a resumed sweep keeps the runs of the one before). */
  commit: string;
}

interface Report {
  stamp: BenchStamp;
  loadAverage?: LoadRange;
  scenarios: string[];
  rows: number | 'scenario default';
  seeds: number[];
  shapes: string[];
  /** The test NE margin a shape must keep against the reference on every scenario to become the default. */
  margin: number;
  runs: ShapeRun[];
}

const MARGIN = 0.001;
const RESULTS_DIR = path.join(__dirname, 'results');

function shapeName(s: CrossShape): string {
  return `${s.rank}:${s.crossLayers}`;
}

function parseShape(text: string): CrossShape {
  const [rankText, layersText] = text.trim().split(':');
  const rank = rankText === 'full' ? 'full' : Number(rankText);
  const crossLayers = Number(layersText);
  if ((rank !== 'full' && (!Number.isInteger(rank) || rank < 1)) || !Number.isInteger(crossLayers) || crossLayers < 1)
    throw new Error(`--shapes: ${JSON.stringify(text)} is not rank:layers (rank "full" or a positive integer, layers a positive integer)`);
  return { rank, crossLayers };
}

function wholeNumbers(text: string, what: string): number[] {
  return text.split(',').map((t) => {
    const n = Number(t.trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`${what}: ${JSON.stringify(t)} is not a whole number`);
    return n;
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      shapes: { type: 'string', default: 'full:2,32:3,32:2' },
      seeds: { type: 'string', default: '1,2,3' },
      rows: { type: 'string' },
      resume: { type: 'boolean', default: false },
    },
  });
  const scenarios = namedList(values.scenarios || undefined, SCENARIO_NAMES, 'scenario') ?? [...BENCH_WIDE_SCENARIOS];
  const shapes = values.shapes!.split(',').map(parseShape);
  const seeds = wholeNumbers(values.seeds!, '--seeds');
  const rows = values.rows === undefined ? undefined : wholeNumbers(values.rows, '--rows')[0];
  // The engine's artifacts for this run only, in a throw-away home (set before the engine is loaded).
  process.env.RANKWRIGHT_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-dcn-rank-'));
  const { trainExperiment } = await import('../ranking');
  const report: Report = {
    stamp: benchStamp(),
    scenarios,
    rows: rows ?? 'scenario default',
    seeds,
    shapes: shapes.map(shapeName),
    margin: MARGIN,
    runs: values.resume ? previousRuns(scenarios, shapes.map(shapeName), seeds, rows) : [],
  };
  for (const name of scenarios) {
    const files = await ensureScenarioFiles(name, { rows, log: (l) => process.stderr.write(`[dcn-rank] ${l}\n`) });
    for (const seed of seeds) {
      for (const shape of shapes) {
        if (report.runs.some((r) => r.scenario === name && r.shape === shapeName(shape) && r.seed === seed)) continue;
        sampleLoad(report);
        const c0 = process.cpuUsage();
        const result = await trainExperiment({
          data: { format: 'criteo-tsv', train: files.train, test: files.test, ...(files.validation ? { validation: files.validation } : {}) },
          model: { family: 'dcn', crossRank: shape.rank, crossLayers: shape.crossLayers, seed },
        });
        const used = process.cpuUsage(c0);
        const run: ShapeRun = {
          scenario: name,
          shape: shapeName(shape),
          seed,
          testNe: result.metrics.ne,
          validationNe: result.validationMetrics?.ne ?? result.validationNe,
          oracleNe: files.oracleNe ?? NaN,
          cpuSeconds: (used.user + used.system) / 1e6,
          trainRows: files.rows.train,
          commit: report.stamp.commit,
        };
        report.runs.push(run);
        process.stdout.write(`${JSON.stringify(run)}\n`);
        // Written after every run: a long sweep cut short still leaves what it measured.
        writeResultFiles(RESULTS_DIR, [
          ['dcn-rank.json', `${JSON.stringify(report, null, 2)}\n`],
          ['dcn-rank.md', renderReport(report)],
        ]);
      }
    }
  }
  fs.rmSync(process.env.RANKWRIGHT_HOME, { recursive: true, force: true });
  process.stdout.write(`\n${renderReport(report)}\n`);
}

/** The runs of the last sweep's results that this sweep plans, when they trained on the same rows. */
function previousRuns(scenarios: string[], shapes: string[], seeds: number[], rows: number | undefined): ShapeRun[] {
  const file = path.join(process.env.RANKWRIGHT_BENCH_OUT || RESULTS_DIR, 'dcn-rank.json');
  if (!fs.existsSync(file)) return [];
  const last = JSON.parse(fs.readFileSync(file, 'utf8')) as Report;
  if (last.rows !== (rows ?? 'scenario default')) return [];
  return last.runs
    .filter((r) => scenarios.includes(r.scenario) && shapes.includes(r.shape) && seeds.includes(r.seed))
    .map((r) => ({ ...r, commit: r.commit ?? last.stamp.commit }));
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The standard error of the mean (NaN with fewer than two values). */
function stdErr(xs: number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1) / xs.length);
}

/** A shape's paired test-NE differences from the reference on one scenario (seeds where both ran). */
function pairedDifferences(runs: ShapeRun[], scenario: string, shape: string, reference: string): number[] {
  const mine = runs.filter((r) => r.scenario === scenario);
  return mine
    .filter((r) => r.shape === shape)
    .flatMap((r) => {
      const ref = mine.find((x) => x.shape === reference && x.seed === r.seed);
      return ref ? [r.testNe - ref.testNe] : [];
    });
}

/** Which runs an earlier commit trained (kept by --resume), so every number traces to the code that made it. */
function resumedNote(r: Report): string[] {
  const earlier = new Map<string, number>();
  for (const run of r.runs) if (run.commit !== r.stamp.commit) earlier.set(run.commit, (earlier.get(run.commit) ?? 0) + 1);
  if (!earlier.size) return [];
  return [
    `Kept from earlier sweeps (--resume): ${[...earlier].map(([c, n]) => `${n} runs at \`${c.slice(0, 7)}\``).join(', ')}; the rest at this commit.`,
  ];
}

export function renderReport(r: Report): string {
  const [reference, ...others] = r.shapes;
  const scenarios = [...new Set(r.runs.map((x) => x.scenario))];
  const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
  const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(4)}` : '—');
  const lines = [
    '# DCN cross-layer shapes',
    '',
    commitLine(r.stamp),
    machineLine(r.stamp, r.loadAverage),
    `Run: \`npx tsx bench/dcn-rank.ts\`, train rows ${r.rows}, model seeds ${r.seeds.join(', ')}; shapes rank:crossLayers ${r.shapes.join(', ')} (the first is the reference, today's default); everything else the DCN's defaults. Test NE is the engine's own (validation early stopping and calibration included); Δ is the mean over seeds of the paired difference from the reference on the same rows ± its standard error; CPU-s is one training run's process CPU time (load, encode, train, evaluate, score).`,
    ...resumedNote(r),
    '',
    `| scenario | oracle NE | ${r.shapes.map((s) => `${s}: test NE${s === reference ? '' : ' (Δ ± SE)'} / CPU-s`).join(' | ')} |`,
    `|---|---:|${r.shapes.map(() => '---:|').join('')}`,
  ];
  for (const scenario of scenarios) {
    const mine = r.runs.filter((x) => x.scenario === scenario);
    const cells = r.shapes.map((shape) => {
      const runs = mine.filter((x) => x.shape === shape);
      if (!runs.length) return '—';
      const ne = mean(runs.map((x) => x.testNe));
      const cpu = mean(runs.map((x) => x.cpuSeconds));
      if (shape === reference) return `${fmt(ne)} / ${cpu.toFixed(0)}`;
      const d = pairedDifferences(r.runs, scenario, shape, reference);
      return `${fmt(ne)} (${signed(mean(d))} ± ${fmt(stdErr(d))}) / ${cpu.toFixed(0)}`;
    });
    lines.push(`| ${scenario} | ${fmt(mine[0].oracleNe)} | ${cells.join(' | ')} |`);
  }
  lines.push('', `Verdict (a shape may replace the reference only if its mean Δ is at most +${r.margin} on every scenario that ran):`, '');
  for (const shape of others) {
    const worst = scenarios
      .map((s) => ({ s, d: mean(pairedDifferences(r.runs, s, shape, reference)) }))
      .filter((x) => Number.isFinite(x.d))
      .sort((a, b) => b.d - a.d);
    const refCpu = mean(r.runs.filter((x) => x.shape === reference).map((x) => x.cpuSeconds));
    const cpu = mean(r.runs.filter((x) => x.shape === shape).map((x) => x.cpuSeconds));
    const ratio = refCpu / cpu;
    const speed = !Number.isFinite(ratio)
      ? ''
      : ratio >= 1
        ? `; ${ratio.toFixed(2)}× less CPU per run than the reference`
        : `; ${(1 / ratio).toFixed(2)}× the reference's CPU per run`;
    if (!worst.length) lines.push(`- ${shape}: no paired runs yet`);
    else if (worst[0].d <= r.margin)
      lines.push(`- ${shape}: within ${r.margin} on all ${worst.length} scenarios (worst ${signed(worst[0].d)} on ${worst[0].s})${speed}`);
    else
      lines.push(
        `- ${shape}: **not** within ${r.margin}: ${worst
          .filter((x) => x.d > r.margin)
          .map((x) => `${signed(x.d)} on ${x.s}`)
          .join(', ')}${speed}`,
      );
  }
  const expected = r.scenarios.length * r.seeds.length * r.shapes.length;
  if (r.runs.length < expected) lines.push('', `Partial: ${r.runs.length} runs written so far.`);
  return `${lines.join('\n')}\n`;
}

if (require.main === module)
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
