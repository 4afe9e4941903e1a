/**
 * `npm run bench [-- --quick] [-- --only engine,ingest]`: every engine benchmark, each in its own process one after
 * another (so memory and CPU belong to the one measuring), then every goal next to its measured value and its peer
 * in one table: bench/results/summary.md and summary.json. A sub-bench that fails is reported as failed and the
 * rest still run; the exit code says whether all of them ran.
 *
 * `--quick` is the smoke run the tests use: small data, results into .bench/quick-results (or RANKWRIGHT_BENCH_OUT),
 * never over the committed full results. No number is asserted anywhere: goals are reported, met or MISS.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { goalTable, type BenchGoal } from './goals';
import { benchStamp, commitLine, machineLine, namedList, writeResultFiles } from './stamp';

/** The sub-benches, in the order they run: each is `bench/<name>.ts` and writes `<name>.json` (with `goals`) and `<name>.md`. */
export const SUB_BENCHES = ['engine', 'ingest', 'dense', 'out-of-core', 'load'] as const;

interface SubBenchOutcome {
  name: string;
  ok: boolean;
  seconds: number;
  goals: BenchGoal[];
  error?: string;
}

const RESULTS_DIR = path.join(__dirname, 'results');
const QUICK_RESULTS_DIR = path.resolve(__dirname, '..', '.bench', 'quick-results');

function main(): void {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
  const quick = values.quick;
  const names = namedList(values.only, SUB_BENCHES, 'sub-bench') ?? [...SUB_BENCHES];
  const out = process.env.RANKWRIGHT_BENCH_OUT || (quick ? QUICK_RESULTS_DIR : RESULTS_DIR);
  const outcomes: SubBenchOutcome[] = [];
  for (const name of names) {
    process.stderr.write(`\n── bench ${name}${quick ? ' (quick)' : ''} ──\n`);
    const resultFile = path.join(out, `${name}.json`);
    fs.rmSync(resultFile, { force: true }); // a stale file must never pass for this run's result
    const t0 = performance.now();
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, `${name}.ts`), ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, RANKWRIGHT_BENCH_OUT: out },
    });
    const seconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    const failed = run.status !== 0 ? `exited with ${run.status ?? run.signal}` : !fs.existsSync(resultFile) ? `wrote no ${name}.json` : undefined;
    const goals = fs.existsSync(resultFile) ? ((JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { goals?: BenchGoal[] }).goals ?? []) : [];
    outcomes.push({ name, ok: !failed, seconds, goals, ...(failed ? { error: failed } : {}) });
  }
  const stamp = benchStamp();
  const goals = outcomes.flatMap((o) => o.goals);
  const met = goals.filter((g) => g.met).length;
  const md = [
    '# Engine goals (`npm run bench`)',
    '',
    commitLine(stamp),
    machineLine(stamp),
    quick ? 'Quick smoke run: small data, numbers not representative.' : '',
    '',
    `${met} of ${goals.length} goals met${goals.length > met ? `; ${goals.length - met} missed, each with why` : ''}.`,
    '',
    goalTable(goals),
    '',
    '| sub-bench | ran | seconds | details |',
    '|---|---|---:|---|',
    ...outcomes.map((o) => `| ${o.name} | ${o.ok ? 'yes' : `**FAILED** (${o.error})`} | ${o.seconds} | ${o.name}.md |`),
    '',
  ]
    .filter((line, i, all) => line !== '' || all[i - 1] !== '')
    .join('\n');
  writeResultFiles(out, [
    ['summary.json', `${JSON.stringify({ stamp, quick, outcomes }, null, 2)}\n`],
    ['summary.md', md],
  ]);
  process.stdout.write(`\n${md}`);
  process.stderr.write(`wrote ${path.relative(process.cwd(), path.join(out, 'summary.md'))}\n`);
  process.exitCode = outcomes.every((o) => o.ok) ? 0 : 1;
}

if (require.main === module) main();
