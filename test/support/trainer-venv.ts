import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PYTHON_PINS, VW_PIN } from '../../bench/peers/python-venv';

/**
 * The Python environments tests run Python in, each `.rankwright-test/<name>`, created with `python3 -m venv` and
 * filled from PyPI (wheels only) with pinned versions; reused while its marker holds exactly those pins and the
 * imports report those versions:
 *   - `trainer-venv`: the example LightGBM trainer's, examples/trainers/lightgbm/requirements.txt (ensureTrainerVenv);
 *   - `vw-venv`: Vowpal Wabbit alone at the bench's pin, for the VW peer (ensureVowpalWabbitVenv);
 *   - `lightgbm-peer-venv`: the quality bench's LightGBM peer's packages at the bench's pins (ensureLightgbmPeerVenv).
 *
 * Two test processes may ask at once: the one that takes the venv's lock directory installs it; the other waits for
 * the lock to go and then finds the venv ready.
 */
const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const REQUIREMENTS = path.join(REPO_ROOT, 'examples', 'trainers', 'lightgbm', 'requirements.txt');
const TEST_DIR = path.join(REPO_ROOT, '.rankwright-test');
export const TRAINER_VENV_DIR = path.join(TEST_DIR, 'trainer-venv');
const MARKER = 'rankwright-requirements.txt';
/** A lock older than this is taken to be left by a killed process (an install takes a few minutes at most). */
const STALE_LOCK_MS = 15 * 60_000;

/** The pinned `name==version` lines of a requirements file (comments and blanks dropped). */
function pins(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

function pythonOf(venv: string): string {
  return path.join(venv, 'bin', 'python');
}

/** True when `venv` was installed from these pins and its packages import at exactly those versions. */
function ready(venv: string, wanted: string[]): boolean {
  const python = pythonOf(venv);
  const marker = path.join(venv, MARKER);
  if (!fs.existsSync(python) || !fs.existsSync(marker)) return false;
  if (fs.readFileSync(marker, 'utf8') !== wanted.join('\n') + '\n') return false;
  const names = wanted.map((p) => p.split('==')[0]);
  const r = spawnSync(
    python,
    ['-c', 'import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))', ...names],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return false;
  try {
    const versions = JSON.parse(r.stdout.trim()) as Record<string, string>;
    return wanted.every((p) => {
      const [name, version] = p.split('==');
      return versions[name] === version;
    });
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${(r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n')}`);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes the lock directory `venv`.lock (waiting while another live process holds it); returns a release function. */
function lock(venv: string): () => void {
  const LOCK_DIR = `${venv}.lock`;
  fs.mkdirSync(TEST_DIR, { recursive: true });
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR);
      return () => fs.rmSync(LOCK_DIR, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = fs.statSync(LOCK_DIR, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) fs.rmSync(LOCK_DIR, { recursive: true, force: true });
    else sleep(1000);
  }
}

/**
 * The trainer venv's python, creating or reinstalling the venv when missing or not at the pinned versions. Throws
 * with pip's output when the install fails (no network to PyPI, no wheel for this platform).
 */
export function ensureTrainerVenv(): { python: string } {
  return ensureTestVenv(TRAINER_VENV_DIR, pins(REQUIREMENTS), 'lightgbm, numpy, scipy');
}

/** A venv with Vowpal Wabbit alone, at the bench's pin (bench/peers/python-venv.ts VW_PIN). Throws like ensureTrainerVenv. */
export function ensureVowpalWabbitVenv(): { python: string } {
  return ensureTestVenv(path.join(TEST_DIR, 'vw-venv'), [VW_PIN], 'vowpalwabbit');
}

/** LightGBM, pandas, numpy and scipy at the bench's pins (PYTHON_PINS, without Optuna): what lightgbm_peer.py imports. */
export function ensureLightgbmPeerVenv(): { python: string } {
  const wanted = PYTHON_PINS.filter((p) => /^(lightgbm|pandas|numpy|scipy)==/.test(p));
  return ensureTestVenv(path.join(TEST_DIR, 'lightgbm-peer-venv'), wanted, 'lightgbm, pandas, numpy');
}

/** The python of `venv`, (re)created with `wanted` when not ready; `imports` is a Python import list that must work. */
function ensureTestVenv(venv: string, wanted: string[], imports: string): { python: string } {
  if (ready(venv, wanted)) return { python: pythonOf(venv) };
  const release = lock(venv);
  try {
    // Another process may have finished installing while this one waited for the lock.
    if (ready(venv, wanted)) return { python: pythonOf(venv) };
    // A venv's scripts name its own path, so it is built at its final path, out of sight of readers until the
    // marker is written last (ready() needs the marker); the lock keeps other installers out meanwhile.
    fs.rmSync(venv, { recursive: true, force: true });
    const base = process.env.RANKWRIGHT_TEST_PYTHON ?? 'python3';
    run(base, ['-m', 'venv', venv]);
    const python = pythonOf(venv);
    run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--only-binary=:all:', ...wanted]);
    if (spawnSync(python, ['-c', `import ${imports}`], { encoding: 'utf8' }).status !== 0)
      throw new Error(`${python} cannot import ${imports} after installing ${wanted.join(' ')}`);
    fs.writeFileSync(path.join(venv, MARKER), wanted.join('\n') + '\n');
    if (!ready(venv, wanted)) throw new Error(`${venv} does not hold ${wanted.join(' ')} after installing them`);
    return { python };
  } finally {
    release();
  }
}
