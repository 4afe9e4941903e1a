import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * What every bench result is stamped with, so a number can be traced to the code and the machine that made it: the
 * commit, the uncommitted changes in the checkout (results depend on them), the date, the machine, and the load
 * average while it ran (other work on the machine inflates wall times). Shared by the quality and agent benches.
 */
const REPO_ROOT = path.resolve(__dirname, '..');

export interface BenchMachine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
}

export interface BenchStamp {
  commit: string;
  /** Uncommitted changes to tracked files in the checkout when the bench ran (their count). */
  dirtyFiles: number;
  /** Those files (git status --porcelain lines). */
  dirtyPaths?: string[];
  date: string;
  machine: BenchMachine;
}

/** The 1-minute load average's range, sampled around every contender. */
export interface LoadRange {
  min: number;
  max: number;
}

export function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function benchStamp(): BenchStamp {
  // Porcelain lines are "XY path": read untrimmed (trimming ate the first line's status column). The benches' own
  // result files don't count: they are what a run writes.
  let status = '';
  try {
    status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8' });
  } catch {
    // not a git checkout: nothing known to be dirty
  }
  const dirty = status
    .split('\n')
    .filter(Boolean)
    .filter((line) => !line.slice(3).startsWith('bench/results/'));
  return {
    commit: git(['rev-parse', 'HEAD']) || 'unknown',
    dirtyFiles: dirty.length,
    dirtyPaths: dirty.map((line) => line.slice(3)),
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
  };
}

/** Widens `report.loadAverage` to take in the load average now. */
export function sampleLoad(report: { loadAverage?: LoadRange }): void {
  const load = os.loadavg()[0];
  report.loadAverage = { min: Math.min(report.loadAverage?.min ?? load, load), max: Math.max(report.loadAverage?.max ?? load, load) };
}

/** "Commit `abc`[ plus N uncommitted file(s) in the checkout]; DATE." */
export function commitLine(stamp: BenchStamp): string {
  return `Commit \`${stamp.commit}\`${stamp.dirtyFiles ? ` plus ${stamp.dirtyFiles} uncommitted file(s) in the checkout` : ''}; ${stamp.date}.`;
}

/** "Machine: CPU, N cores, … [Load average during the run …]." */
export function machineLine(stamp: BenchStamp, loadAverage?: LoadRange): string {
  const m = stamp.machine;
  const load = loadAverage
    ? ` Load average during the run ${loadAverage.min.toFixed(1)}–${loadAverage.max.toFixed(1)} on ${m.cores} cores${loadAverage.max > m.cores ? ': the machine was shared, wall times are inflated' : ''}.`
    : '';
  return `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}.${load}`;
}

/**
 * Writes a bench's result files (e.g. its .json and .md) into `dir`, each by write-then-rename: never half a file.
 * RANKWRIGHT_BENCH_OUT overrides `dir`: the quick smoke run (`npm run bench -- --quick`, run by the tests) writes
 * there, so it never overwrites the committed full results.
 */
export function writeResultFiles(dir: string, files: [name: string, text: string][]): void {
  dir = process.env.RANKWRIGHT_BENCH_OUT || dir;
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, text] of files) {
    const tmp = path.join(dir, `${file}.tmp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path.join(dir, file));
  }
}

/** A comma-separated option of names (`--scenarios a,b`): undefined when not given; an unknown name is an error naming the known ones. */
export function namedList(value: string | undefined, all: readonly string[], what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = items.filter((i) => !all.includes(i));
  if (unknown.length) throw new Error(`unknown ${what}: ${unknown.join(', ')} (known: ${all.join(', ')})`);
  return items;
}
