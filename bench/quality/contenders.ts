import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelConfigInput } from '../../contracts';
import { referenceConfig } from '../../contracts/reference-configs';
import { measurePredictions } from '../peers/measure';
import { REPO_ROOT, ensureVowpalWabbit } from '../peers/python-venv';
import type { RunResult, ScenarioFiles } from './report';

/**
 * The contenders of the quality bench, each run as its own process(es) the way a user would run it, each writing
 * a predictions file that bench/peers/measure.ts scores. One time cap per contender (all its processes together);
 * a capped contender is killed (by its pid) and reported as capped.
 */

export interface RunContext {
  files: ScenarioFiles;
  /** Where this scenario's predictions, configs and logs go. */
  workDir: string;
  capSeconds: number;
  /** The bench venv's python (LightGBM peer); absent = the Python peer is reported as failed with `pythonError`. */
  python?: string;
  pythonError?: string;
  /** RANKWRIGHT_HOME for the product's artifacts. */
  rankwrightHome: string;
  log(line: string): void;
}

export interface Contender {
  id: string;
  label: string;
  kind: 'rankwright' | 'peer';
  run(ctx: RunContext): Promise<RunResult>;
}

const RANKWRIGHT_BIN = path.join(REPO_ROOT, 'bin', 'rankwright.js');
const TEXTBOOK_SCRIPT = path.join(REPO_ROOT, 'bench', 'peers', 'textbook-ftrl.ts');
const LIGHTGBM_SCRIPT = path.join(REPO_ROOT, 'bench', 'peers', 'lightgbm_peer.py');
const VW_SCRIPT = path.join(REPO_ROOT, 'bench', 'peers', 'vw_ftrl.py');

/** Peers first (the reference points), then the product's families. */
export const PEERS: Contender[] = [
  { id: 'ftrl-script', label: 'textbook FTRL script', kind: 'peer', run: (ctx) => runTextbookScript(ctx) },
  { id: 'lightgbm', label: 'LightGBM (native categoricals, early stopping)', kind: 'peer', run: (ctx) => runLightgbm(ctx) },
];
export const FAMILIES: Contender[] = [
  rankwrightContender('textbook-ftrl', 'Rankwright TEXTBOOK_FTRL config', referenceConfig('textbook-ftrl')),
  rankwrightContender('lr', 'Rankwright lr (defaults)', { family: 'lr' }),
  rankwrightContender('fm', 'Rankwright fm (defaults)', { family: 'fm' }),
  rankwrightContender('dcn', 'Rankwright dcn (defaults)', { family: 'dcn' }),
];

function rankwrightContender(id: string, label: string, model: ModelConfigInput): Contender {
  return { id, label, kind: 'rankwright', run: (ctx) => runRankwright(ctx, { id, label, kind: 'rankwright' }, model) };
}

interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  seconds: number;
  capped: boolean;
}

/**
 * Runs one process until it exits or the deadline passes (then SIGTERM, SIGKILL 5 s later, by its pid). stdout is
 * kept (the last 1 MiB) and appended, with stderr, to `logFile`.
 */
export function runProcess(
  cmd: string,
  args: string[],
  opts: { deadline: number; logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<ProcessResult> {
  const started = performance.now();
  const log = fs.createWriteStream(opts.logFile, { flags: 'a' });
  log.write(`$ ${[cmd, ...args].join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let capped = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString('utf8')).slice(-(1 << 20));
      log.write(d);
    });
    child.stderr.on('data', (d: Buffer) => log.write(d));
    let killTimer: NodeJS.Timeout | undefined;
    const capTimer = setTimeout(
      () => {
        capped = true;
        if (child.pid) process.kill(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5000);
      },
      Math.max(0, opts.deadline - performance.now()),
    );
    child.on('error', (e) => {
      clearTimeout(capTimer);
      log.end();
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(capTimer);
      if (killTimer) clearTimeout(killTimer);
      const seconds = (performance.now() - started) / 1000;
      log.end(`[exit ${code ?? signal}${capped ? ', capped' : ''} after ${seconds.toFixed(1)} s]\n`, () =>
        resolve({ code, signal, stdout, seconds, capped }),
      );
    });
  });
}

export function lastJsonLine(stdout: string): Record<string, any> | null {
  for (const line of stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, any>;
    } catch {
      /* not the summary line */
    }
  }
  return null;
}

function tail(file: string, lines = 3): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' / ').slice(-600);
  } catch {
    return '';
  }
}

export type Base = Pick<RunResult, 'id' | 'label' | 'kind'>;

/** Shared tail of every contender: capped / failed / measured. */
export async function finish(
  base: Base,
  ctx: RunContext,
  procs: ProcessResult[],
  predictions: string,
  logFile: string,
  extra: Partial<RunResult> = {},
): Promise<RunResult> {
  const wallSeconds = procs.reduce((s, p) => s + p.seconds, 0);
  const last = procs[procs.length - 1];
  if (last.capped) return { ...base, status: 'capped', wallSeconds, note: `stopped at the ${ctx.capSeconds} s cap, no result`, ...extra };
  if (last.code !== 0) return { ...base, status: 'failed', wallSeconds, note: `exit ${last.code ?? last.signal}: ${tail(logFile)}`, ...extra };
  try {
    const metrics = await measurePredictions(predictions, ctx.files.test, { csvLabelColumn: declaredLabel(ctx.files) });
    return { ...base, status: 'ok', wallSeconds, metrics, ...extra };
  } catch (e) {
    return { ...base, status: 'failed', wallSeconds, note: `predictions unusable: ${(e as Error).message}`, ...extra };
  }
}

/** A declared table's label column (undefined for Criteo's layout, whose label is the first cell). */
export function declaredLabel(files: ScenarioFiles): string | undefined {
  if (!files.declared) return undefined;
  const columns = files.declared.schema.columns;
  return Object.keys(columns).find((c) => {
    const spec = columns[c];
    return (typeof spec === 'string' ? spec : spec.role) === 'label';
  });
}

/** A declared table's schema as a file the peers read (`--schema`), in the scenario's work folder. */
function schemaFile(ctx: RunContext): string[] {
  if (!ctx.files.declared) return [];
  const file = path.join(ctx.workDir, 'schema.json');
  fs.writeFileSync(file, JSON.stringify(ctx.files.declared.schema, null, 2) + '\n');
  return ['--schema', file];
}

/** The textbook FTRL script (bench/peers/textbook-ftrl.ts) as its own process, measured like every contender. */
export async function runTextbookScript(ctx: RunContext): Promise<RunResult> {
  const base: Base = { id: 'ftrl-script', label: 'textbook FTRL script', kind: 'peer' };
  const predictions = path.join(ctx.workDir, 'ftrl-script.predictions.txt');
  const logFile = path.join(ctx.workDir, 'ftrl-script.log');
  const deadline = performance.now() + ctx.capSeconds * 1000;
  // Trains on the train file only (one pass, no validation: the recipe has none); a declared table by its schema.
  const args = ['--require', 'tsx/cjs', TEXTBOOK_SCRIPT, ...schemaFile(ctx), ctx.files.train, ctx.files.test, predictions];
  const p = await runProcess(process.execPath, args, { deadline, logFile });
  const summary = lastJsonLine(p.stdout);
  return finish(base, ctx, [p], predictions, logFile, {
    note: summary ? `one pass over ${Number(summary.trainRows).toLocaleString('en-US')} rows` : undefined,
  });
}

/**
 * Vowpal Wabbit's FTRL with the textbook recipe (bench/peers/vw_ftrl.py, in the bench venv, VW installed on demand):
 * one pass over train.tsv, like the textbook script. No VW (no venv, no wheel for this platform) = failed, with why.
 * `python` is an interpreter that has VW (the tests' own venv) instead of the bench venv's.
 */
export async function runVwFtrl(ctx: RunContext, opts: { python?: string } = {}): Promise<RunResult> {
  const base: Base = { id: 'vw-ftrl', label: 'Vowpal Wabbit FTRL (textbook recipe, one pass)', kind: 'peer' };
  let python: string;
  try {
    python = ensureVowpalWabbit({ log: ctx.log, python: opts.python }).python;
  } catch (e) {
    return { ...base, status: 'failed', wallSeconds: 0, note: `not run, no Vowpal Wabbit: ${(e as Error).message.split('\n')[0]}` };
  }
  const predictions = path.join(ctx.workDir, 'vw-ftrl.predictions.txt');
  const logFile = path.join(ctx.workDir, 'vw-ftrl.log');
  const args = [VW_SCRIPT, '--train', ctx.files.train, '--test', ctx.files.test, '--out', predictions, '--work', ctx.workDir];
  const p = await runProcess(python, args, { deadline: performance.now() + ctx.capSeconds * 1000, logFile });
  const s = lastJsonLine(p.stdout);
  const note = s
    ? `one pass over ${Number(s.trainRows).toLocaleString('en-US')} rows: ${Number(s.examplesPerSec).toLocaleString('en-US')} examples/s training, ${Number(s.examplesPerSecWithConversion).toLocaleString('en-US')} with the conversion to VW's format`
    : undefined;
  return finish(base, ctx, [p], predictions, logFile, { note, detail: s ?? undefined });
}

async function runLightgbm(ctx: RunContext): Promise<RunResult> {
  const base: Base = { id: 'lightgbm', label: 'LightGBM (native categoricals, early stopping)', kind: 'peer' };
  if (!ctx.python) return { ...base, status: 'failed', wallSeconds: 0, note: `no bench venv: ${ctx.pythonError ?? 'not created'}` };
  const predictions = path.join(ctx.workDir, 'lightgbm.predictions.txt');
  const logFile = path.join(ctx.workDir, 'lightgbm.log');
  const args = [LIGHTGBM_SCRIPT, '--train', ctx.files.train, '--test', ctx.files.test, '--out', predictions, '--threads', String(os.cpus().length)];
  args.push(...schemaFile(ctx));
  if (ctx.files.validation) args.push('--validation', ctx.files.validation);
  else args.push('--validation-fraction', String(ctx.files.validationFraction));
  const deadline = performance.now() + ctx.capSeconds * 1000;
  const p = await runProcess(ctx.python, args, { deadline, logFile });
  const s = lastJsonLine(p.stdout);
  const note = s
    ? `${s.bestIteration} rounds${s.stoppedEarly ? ' (early stopped)' : ' (hit the 1000-round limit)'}, train ${s.trainSeconds} s`
    : undefined;
  return finish(base, ctx, [p], predictions, logFile, { note, detail: s ?? undefined });
}

/** The product's real path: `rankwright train --config F --json` on the files, then `rankwright score` on test. */
async function runRankwright(ctx: RunContext, base: Base, model: ModelConfigInput): Promise<RunResult> {
  const id = base.id;
  const { train, test, validation, declared } = ctx.files;
  const data = declared
    ? { format: declared.format, train, test, validation, schema: declared.schema }
    : { format: 'criteo-tsv', train, test, validation };
  const config = { data, model };
  const configFile = path.join(ctx.workDir, `${id}.config.json`);
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  const predictions = path.join(ctx.workDir, `${id}.predictions.txt`);
  const logFile = path.join(ctx.workDir, `${id}.log`);
  const env = { ...process.env, RANKWRIGHT_HOME: ctx.rankwrightHome };
  const deadline = performance.now() + ctx.capSeconds * 1000;
  const trained = await runProcess(process.execPath, [RANKWRIGHT_BIN, 'train', '--config', configFile, '--json'], { deadline, logFile, env });
  const out = lastJsonLine(trained.stdout);
  if (trained.capped || trained.code !== 0) return finish(base, ctx, [trained], predictions, logFile);
  if (typeof out?.artifact !== 'string')
    return { ...base, status: 'failed', wallSeconds: trained.seconds, note: `train printed no artifact: ${tail(logFile)}` };
  const scored = await runProcess(process.execPath, [RANKWRIGHT_BIN, 'score', '--model', out.artifact, '--input', test, '--out', predictions], {
    deadline,
    logFile,
    env,
  });
  const result = await finish(base, ctx, [trained, scored], predictions, logFile, {
    detail: { artifact: out.artifact, trainSeconds: trained.seconds, scoreSeconds: scored.seconds, trainReportedNe: out.metrics?.ne, config: model },
  });
  // The product measured the same test set itself while training: the two must agree (both are ranking/metrics.ts).
  const reported = out.metrics?.ne;
  if (result.metrics && typeof reported === 'number' && Math.abs(reported - result.metrics.ne) > 1e-4) {
    result.note = `${result.note ? `${result.note}; ` : ''}train reported NE ${reported.toFixed(5)} ≠ scored file ${result.metrics.ne.toFixed(5)}`;
  }
  return result;
}
