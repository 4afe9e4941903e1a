import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The bench-only Python environment for the Python peers (LightGBM, and LightGBM tuned by Optuna): `.bench/venv`,
 * created with `python3 -m venv` and filled from PyPI with pinned versions (wheels that install on Debian 12 / Python 3.11 x86-64). Reused while
 * its marker file lists exactly these pins and the imports work. Rankwright itself never needs Python.
 *
 * Vowpal Wabbit (the `lr` speed peer, bench/peers/vw_ftrl.py) is installed into the same venv on demand, apart from
 * these pins (ensureVowpalWabbit): its wheels are fewer (manylinux, CPython 3.7-3.11 for 9.11), and a machine
 * without one still gets the LightGBM peers, with VW reported as not run.
 */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const BENCH_DIR = path.join(REPO_ROOT, '.bench');
export const VENV_DIR = path.join(BENCH_DIR, 'venv');
/** Optuna's own dependencies (sqlalchemy, alembic, colorlog, tqdm, PyYAML, packaging) come as wheels with it. */
export const PYTHON_PINS = ['lightgbm==4.6.0', 'pandas==2.3.3', 'numpy==2.3.5', 'scipy==1.16.3', 'optuna==4.5.0'];
const MARKER = 'rankwright-bench-requirements.txt';
/** Vowpal Wabbit, pinned to the version pip resolved on Debian 12 / CPython 3.11 x86-64 (no dependencies). */
export const VW_PIN = 'vowpalwabbit==9.11.9';

export interface PythonVenv {
  python: string;
  /** True when this call created or (re)installed it. */
  installed: boolean;
  /** Seconds spent creating / installing (0 when reused). */
  seconds: number;
  versions: Record<string, string>;
}

/** Creates `.bench/venv` when missing or out of date; returns its python. Throws with pip's output on failure. */
export function ensurePythonVenv(opts: { log?: (line: string) => void; basePython?: string } = {}): PythonVenv {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const python = path.join(VENV_DIR, 'bin', 'python');
  const marker = path.join(VENV_DIR, MARKER);
  const wanted = PYTHON_PINS.join('\n') + '\n';
  const current = fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : '';
  if (fs.existsSync(python) && current === wanted) {
    const versions = importVersions(python);
    if (versions) return { python, installed: false, seconds: 0, versions };
  }
  const started = performance.now();
  createVenv(python, log, opts.basePython);
  log(`pip install ${PYTHON_PINS.join(' ')} (from PyPI)`);
  run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--only-binary=:all:', ...PYTHON_PINS]);
  const versions = importVersions(python);
  if (!versions) throw new Error(`${python} cannot import lightgbm, pandas and optuna after installing ${PYTHON_PINS.join(' ')}`);
  fs.writeFileSync(marker, wanted);
  const seconds = (performance.now() - started) / 1000;
  log(
    `bench venv ready in ${seconds.toFixed(1)} s: ${Object.entries(versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  return { python, installed: true, seconds, versions };
}

/**
 * The bench venv's python with Vowpal Wabbit at VW_PIN, installing it (wheel only) when absent or at another
 * version (creating the venv, without the LightGBM pins, when there is none). Throws, with the reason in its first line, when the venv or the wheel cannot be had. `python` names
 * another interpreter to use instead of the bench venv's (the tests' own small venv).
 */
export function ensureVowpalWabbit(opts: { log?: (line: string) => void; python?: string } = {}): { python: string; version: string } {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  // VW alone needs no LightGBM: the venv is created when missing, and the pins are left to ensurePythonVenv.
  const python = opts.python ?? path.join(VENV_DIR, 'bin', 'python');
  if (!opts.python) createVenv(python, log);
  const wanted = VW_PIN.split('==')[1];
  const installed = () => {
    const r = spawnSync(python, ['-c', 'import importlib.metadata as m, vowpalwabbit; print(m.version("vowpalwabbit"))'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  if (installed() === wanted) return { python, version: wanted };
  log(`pip install ${VW_PIN} (from PyPI)`);
  run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--only-binary=:all:', VW_PIN]);
  const version = installed();
  if (version !== wanted) throw new Error(`${python} cannot import vowpalwabbit ${wanted} after installing ${VW_PIN} (has ${version ?? 'none'})`);
  return { python, version };
}

/** `python3 -m venv .bench/venv` when it has no python yet (nothing installed in it). */
function createVenv(python: string, log: (line: string) => void, basePython?: string): void {
  if (fs.existsSync(python)) return;
  const base = basePython ?? process.env.BENCH_PYTHON ?? 'python3';
  log(`creating ${path.relative(REPO_ROOT, VENV_DIR)} with ${base} -m venv`);
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  run(base, ['-m', 'venv', VENV_DIR]);
}

function importVersions(python: string): Record<string, string> | null {
  const r = spawnSync(
    python,
    [
      '-c',
      'import json, sys, lightgbm, pandas, numpy, optuna; print(json.dumps({"python": sys.version.split()[0], "lightgbm": lightgbm.__version__, "pandas": pandas.__version__, "numpy": numpy.__version__, "optuna": optuna.__version__}))',
    ],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, string>;
  } catch {
    return null;
  }
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${(r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n')}`);
}
