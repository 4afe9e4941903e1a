import { InvalidInputError } from '../contracts';
import { formatBytes } from '../store/format-bytes';
import { collectGarbage, treeBytes, type GcPlan } from '../store/gc';
import { rankwrightHome } from '../store/home';

/**
 * The home's size budget: with RANKWRIGHT_HOME_MAX_GB set, a worker checks the home every minute and, when it holds
 * more, removes what nothing needs, oldest first, until it fits (store/gc.ts, budget mode). A side task: a failed
 * check is logged and the worker keeps serving.
 */

export const HOME_BUDGET_VARIABLE = 'RANKWRIGHT_HOME_MAX_GB';

/** How often the worker measures the home (walking its folders, cheap next to collecting). */
export const HOME_CHECK_INTERVAL_MS = 60_000;

/** Repeats the "still over budget" warning at most this often, so a home full of live data doesn't flood the log. */
const OVER_BUDGET_WARNING_EVERY_MS = 60 * 60_000;

/**
 * The budget in bytes (gigabytes are 10^9 bytes, fractions allowed), or undefined when the variable is unset or
 * empty. A value that is not a positive number is an error the worker reports at start, not a budget it ignores.
 */
export function homeBudgetFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[HOME_BUDGET_VARIABLE];
  if (raw === undefined || raw.trim() === '') return undefined;
  const gb = Number(raw.trim());
  if (!/^\s*\d+(\.\d+)?\s*$/.test(raw) || !Number.isFinite(gb) || gb <= 0)
    throw new InvalidInputError(HOME_BUDGET_VARIABLE, [
      `${JSON.stringify(raw)} is not a size: expected a positive number of gigabytes (10^9 bytes), e.g. 50 or 0.5`,
    ]);
  return Math.round(gb * 1e9);
}

export interface HomeBudgetOptions {
  maxBytes: number;
  home?: string;
  intervalMs?: number;
  log?: (line: string) => void;
}

/** One check: measures the home and, when it is over the budget, collects until it fits. Returns the plan, if any. */
export async function enforceHomeBudget(opts: HomeBudgetOptions): Promise<GcPlan | undefined> {
  const home = opts.home ?? rankwrightHome();
  // Measuring first is cheap; planning reads every event log and artifact header, so only when it is needed.
  if ((await treeBytes(home).catch(() => 0)) <= opts.maxBytes) return undefined;
  return collectGarbage({ home, budgetBytes: opts.maxBytes });
}

export interface HomeBudgetWatch {
  /** Runs a check now (the timer's checks never overlap one another or this one). */
  check(): Promise<GcPlan | undefined>;
  stop(): void;
}

/** Starts the periodic check; the timer never keeps the process alive and never throws out of it. */
export function startHomeBudget(opts: HomeBudgetOptions): HomeBudgetWatch {
  const log = (line: string) => {
    try {
      (opts.log ?? ((l: string) => console.error(l)))(line);
    } catch {
      // A log write that fails (a full disk) must not turn a side task into a crash.
    }
  };
  const budget = formatBytes(opts.maxBytes);
  let running: Promise<GcPlan | undefined> | undefined;
  let warnedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const once = async (): Promise<GcPlan | undefined> => {
    try {
      const plan = await enforceHomeBudget(opts);
      if (!plan) return undefined;
      const { before, after } = plan.homeBytes;
      if (plan.removed.count > 0)
        log(
          `rankwright worker: the home ${plan.home} held ${formatBytes(before)}, over its ${budget} budget (${HOME_BUDGET_VARIABLE}): removed ${plan.removed.count} unreferenced item${plan.removed.count === 1 ? '' : 's'} (${formatBytes(plan.removed.bytes)}), oldest first; now ${formatBytes(after)}`,
        );
      for (const w of plan.warnings) log(`rankwright worker: home budget: ${w}`);
      if (after > opts.maxBytes && Date.now() - warnedAt >= OVER_BUDGET_WARNING_EVERY_MS) {
        warnedAt = Date.now();
        log(
          `rankwright worker: the home ${plan.home} still holds ${formatBytes(after)}, over its ${budget} budget: the rest is kept (live campaigns' artifacts, running checkpoints, the best run per dataset, files younger than an hour). \`rankwright gc --dry-run\` shows why each item stays; raise ${HOME_BUDGET_VARIABLE} or reject campaigns you no longer need.`,
        );
      }
      return plan;
    } catch (err) {
      log(`rankwright worker: home budget check failed (the worker keeps serving): ${(err as Error)?.message ?? String(err)}`);
      return undefined;
    }
  };
  const check = () => (running ??= once().finally(() => (running = undefined)));
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void check().finally(schedule), opts.intervalMs ?? HOME_CHECK_INTERVAL_MS);
    timer.unref();
  };
  schedule();
  return {
    check,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
