import * as os from 'node:os';
import * as path from 'node:path';
import { finish, lastJsonLine, runProcess, runTextbookScript, runVwFtrl, type Base, type RunContext } from '../quality/contenders';
import type { RunResult } from '../quality/report';
import { REPO_ROOT } from '../peers/python-venv';

/**
 * The agent bench's peers, each its own process writing test predictions that bench/peers/measure.ts scores (the
 * quality bench's harness: bench/quality/contenders.ts): the textbook FTRL script, and LightGBM tuned by Optuna's TPE
 * sampler with as many trials as the agent has experiments (bench/peers/optuna_lightgbm.py, bench venv); and, when
 * asked for (`--peers …,vw-ftrl`), Vowpal Wabbit's FTRL with the textbook recipe (bench/peers/vw_ftrl.py): the
 * textbook's result from a tool people run, one pass, a few seconds.
 */

const OPTUNA_SCRIPT = path.join(REPO_ROOT, 'bench', 'peers', 'optuna_lightgbm.py');

export const PEER_IDS = ['ftrl-script', 'optuna-lightgbm', 'vw-ftrl'] as const;
export type PeerId = (typeof PEER_IDS)[number];
/** The peers a run has unless --peers names others: VW only when asked for. */
export const DEFAULT_PEERS: readonly PeerId[] = ['ftrl-script', 'optuna-lightgbm'];

export async function runPeer(id: PeerId, ctx: RunContext, opts: { trials: number; seed: number }): Promise<RunResult> {
  if (id === 'ftrl-script') return runTextbookScript(ctx);
  if (id === 'vw-ftrl') return runVwFtrl(ctx);
  return runOptunaLightgbm(ctx, opts);
}

/** LightGBM tuned by Optuna: `trials` trainings by validation log loss; the best trial's booster predicts test. */
export async function runOptunaLightgbm(ctx: RunContext, opts: { trials: number; seed: number }): Promise<RunResult> {
  const base: Base = { id: 'optuna-lightgbm', label: `LightGBM tuned by Optuna TPE (${opts.trials} trials)`, kind: 'peer' };
  if (!ctx.python) return { ...base, status: 'failed', wallSeconds: 0, note: `no bench venv: ${ctx.pythonError ?? 'not created'}` };
  const predictions = path.join(ctx.workDir, 'optuna-lightgbm.predictions.txt');
  const logFile = path.join(ctx.workDir, 'optuna-lightgbm.log');
  const args = [
    OPTUNA_SCRIPT,
    '--train',
    ctx.files.train,
    '--test',
    ctx.files.test,
    '--out',
    predictions,
    '--threads',
    String(os.cpus().length),
    '--trials',
    String(opts.trials),
    '--seed',
    String(opts.seed),
  ];
  if (ctx.files.validation) args.push('--validation', ctx.files.validation);
  else args.push('--validation-fraction', String(ctx.files.validationFraction));
  const p = await runProcess(ctx.python, args, { deadline: performance.now() + ctx.capSeconds * 1000, logFile });
  const s = lastJsonLine(p.stdout);
  const note = s ? `best of ${s.trials} trials: trial ${s.bestTrial}, ${s.bestIteration} rounds; trials trained ${s.trainSeconds} s` : undefined;
  return finish(base, ctx, [p], predictions, logFile, { note, detail: s ?? undefined });
}
