import { ModelConfig } from '../contracts/model';
import { diskFullInMessage, type DiskFull, type FailureClass } from '../contracts/metrics';
import type { RememberedFix } from '../contracts/agents';

/**
 * What happens after a classified training failure. Deterministic and decided by the class alone (the triage
 * agent's diagnosis is recorded as advice, never executed): an LLM cannot turn a bad-data failure into a retry.
 *
 * - diverged       → retry with the learning rate cut to 30% and gradients clipped (tighter each time); but a
 *                    run fed raw dense values (transform `none`) first retries with them log-transformed
 *                    (rawDenseRetry), since no learning rate saves those
 * - resource       → retry with the hash table the engine says fits its memory budget (else 4x fewer buckets), half
 *                    the embedding size for fm/dcn, and a smaller batch; but a full disk is not the model's fault:
 *                    free disk space, and the same config is retried with backoff (retryAfterDiskFull)
 *
 * This is the one runbook: the heuristic triage agent quotes these fixes (agents/heuristic-triage.ts), so what a
 * reviewer reads as the fix is what the retry does.
 * - bad-data       → stop: the data must be fixed by a human
 * - infrastructure → never reaches here: Temporal retries the activity with backoff
 * - under/over-fit → stop: the run finished, it's a result not a crash; the designer learns from it
 */
export type RetryDecision =
  | {
      retry: true;
      config: ModelConfig;
      fix: string;
      /** The experiment whose remembered fix this retry applies (applyRememberedFix), when it does. */
      rememberedFrom?: string;
    }
  | { retry: false; fix: string };

/**
 * Which runbook a caller runs. `rawDenseFirst` (default on): the raw-dense step below. Workflow code passes what
 * patched('raw-dense-retry') says, so histories recorded before it replay the learning-rate cut they took.
 */
export interface RunbookVersion {
  rawDenseFirst?: boolean;
}

/**
 * The runbook's first step for a diverged run that feeds dense values raw (denseTransform `none`, or a field's own
 * transform `none`): the same config with those values log-transformed, sign(x)·ln(1 + |x|), which keeps their order
 * and sign and bounds their growth (a heavy-tailed count standardized can still be hundreds of sds out). No learning
 * rate saves a raw count of 10⁴: in fm and dcn it multiplies other inputs (dcn's x0 ⊙ (W·x + b) squares it), and
 * FTRL moves an lr weight by about its learning rate whatever the value's scale, so the logit moves 10⁴ times as far
 * as for a 0/1 value. Measured: on `wide-crosses`, dcn with `none` diverged within 50 steps at learning rates from
 * 0.0024 down to 0.00003 (the runbook's three cuts) and trained to test NE 0.770 with `log` at the first; lr with
 * `none` at 0.971 diverged at all three rates (0.971, 0.291, 0.087) and trained to 0.887 with `log` at 0.971.
 * Undefined when the config feeds nothing raw.
 */
export function rawDenseRetry(config: ModelConfig): { config: ModelConfig; fields: string[] } | undefined {
  const rawFields = Object.entries(config.fields ?? {})
    .filter(([, knobs]) => knobs.transform === 'none')
    .map(([name]) => name);
  if (config.denseTransform !== 'none' && !rawFields.length) return undefined;
  const fields = config.fields
    ? Object.fromEntries(
        Object.entries(config.fields).map(([name, knobs]) => [name, knobs.transform === 'none' ? { ...knobs, transform: 'log' as const } : knobs]),
      )
    : undefined;
  const logged = { ...config, ...(config.denseTransform === 'none' ? { denseTransform: 'log' as const } : {}), ...(fields ? { fields } : {}) };
  return { config: logged, fields: rawFields };
}

export function retryAfterFailure(failureClass: FailureClass, config: ModelConfig, message = '', runbook: RunbookVersion = {}): RetryDecision {
  switch (failureClass) {
    case 'diverged': {
      const raw = runbook.rawDenseFirst !== false ? rawDenseRetry(config) : undefined;
      if (raw) {
        const which = [
          ...(config.denseTransform === 'none' ? ['denseTransform none → log'] : []),
          ...raw.fields.map((f) => `${f}'s transform none → log`),
        ];
        return {
          retry: true,
          config: raw.config,
          fix: `retry with the raw dense values log-transformed (${which.join(', ')}), learning rate unchanged: a raw count diverges at any learning rate`,
        };
      }
      const learningRate = round(config.learningRate * 0.3);
      const gradientClip = config.gradientClip ? Math.max(0.5, config.gradientClip / 2) : 5;
      return {
        retry: true,
        config: { ...config, learningRate, gradientClip },
        fix: `retry with learningRate ${config.learningRate} → ${learningRate} and gradient clipping at ${gradientClip}`,
      };
    }
    case 'resource': {
      // A full disk says nothing about the model's size: the same config, once there is room (the workflow waits).
      const diskFull = diskFullInMessage(message);
      if (diskFull) return { retry: true, config, fix: `${freeDiskSpace(diskFull)}, then retry the same config (no model change)` };
      // The engine computes which size fits its memory budget ("hashBits 19 would fit"); use it when given.
      const fits = /hashBits (\d{1,2}) would fit/i.exec(message);
      const hashBits = fits ? Math.max(8, Math.min(config.hashBits - 1, Number(fits[1]))) : Math.max(8, config.hashBits - 2);
      const batchSize = Math.max(16, Math.floor(config.batchSize / 2));
      const embeddingDim = config.family === 'lr' ? undefined : Math.max(2, Math.floor(config.embeddingDim / 2));
      const smaller = { ...config, hashBits, batchSize, ...(embeddingDim === undefined ? {} : { embeddingDim }) } as ModelConfig;
      if (JSON.stringify(smaller) === JSON.stringify(config)) return { retry: false, fix: 'already at the smallest model; needs a bigger machine' };
      const changes = [`hashBits ${config.hashBits} → ${hashBits}${fits ? ' (the size the engine says fits its memory budget)' : ''}`];
      if (embeddingDim !== undefined && config.family !== 'lr' && embeddingDim !== config.embeddingDim)
        changes.push(`embeddingDim ${config.embeddingDim} → ${embeddingDim}`);
      if (batchSize !== config.batchSize) changes.push(`batchSize ${config.batchSize} → ${batchSize}`);
      return { retry: true, config: smaller, fix: `retry with ${changes.join(', ')}` };
    }
    case 'bad-data':
      return { retry: false, fix: 'stop: fix the input data (see the rows named in the error) and start again' };
    case 'infrastructure':
      return { retry: false, fix: 'Temporal retried the activity with backoff until its retry policy gave up; check the workers' };
    case 'underfit':
    case 'overfit':
      return { retry: false, fix: `recorded as ${failureClass}; the planner will try a different capacity or epoch count` };
  }
}

/**
 * How long a full disk is waited out: 30 s, doubling to 10 minutes between attempts, for at most 12 hours of waiting
 * in all (a night: long enough for someone to free space or for retention to run). Waiting costs nothing: the
 * experiment holds no worker while its timer runs.
 */
export const DISK_FULL_BACKOFF = { initialSeconds: 30, maximumSeconds: 600, totalSeconds: 12 * 3600 } as const;

export type DiskFullDecision = { retry: true; config: ModelConfig; waitSeconds: number; fix: string } | { retry: false; fix: string };

/**
 * After an attempt that met a full disk (its report's `diskFull`): wait, then retry the very same config — the disk,
 * not the model, was the problem, so neither the runbook's smaller model nor a remembered fix applies, and the wait
 * uses none of the experiment's attempts for model changes. `waited` is what the experiment already waited for disk
 * space: `count` earlier waits, `seconds` in all. Past DISK_FULL_BACKOFF.totalSeconds it gives up, naming the disk.
 * Pure and deterministic: safe in workflow code.
 */
export function retryAfterDiskFull(config: ModelConfig, diskFull: DiskFull, waited: { count: number; seconds: number }): DiskFullDecision {
  const { initialSeconds, maximumSeconds, totalSeconds } = DISK_FULL_BACKOFF;
  const waitSeconds = Math.min(maximumSeconds, initialSeconds * 2 ** Math.min(waited.count, 20));
  if (waited.seconds + waitSeconds > totalSeconds) {
    return {
      retry: false,
      fix: `${freeDiskSpace(diskFull)}: it stayed full through ${duration(waited.seconds)} of retries; run the experiment again once there is room`,
    };
  }
  return {
    retry: true,
    config,
    waitSeconds,
    fix: `${freeDiskSpace(diskFull)}; the same config is retried in ${duration(waitSeconds)} (waits back off to ${duration(maximumSeconds)}, for up to ${duration(totalSeconds)} in all; no model change)`,
  };
}

/** "free disk space under /data/rw/artifacts (0 MB free)": what a reviewer should do about a full disk. */
export function freeDiskSpace(diskFull: DiskFull): string {
  const free = diskFull.freeBytes === undefined ? '' : ` (${Math.floor(diskFull.freeBytes / 2 ** 20)} MB free)`;
  return `free disk space under ${diskFull.path}${free}`;
}

/** "30 s", "10 min", "12 h", "11.8 h". */
function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}

/** The deepest learning-rate cut a remembered fix may make at once: what the runbook reaches in four retries (0.3⁴). */
export const MIN_REMEMBERED_LR_RATIO = 0.0081;

/**
 * The retry after a failure when the insights database remembers a fix that worked for this class and family before
 * (triage's `rememberedFix`): jump straight to what worked instead of walking the runbook one step at a time — but
 * only within what the runbook allows for the class, so a memory (from other data, or an odd record) can save
 * retries and never do what the runbook would not:
 *
 * - diverged → the learning rate cut by the remembered ratio (never less of a cut than the runbook's ×0.3, never
 *              deeper than four runbook steps), gradient clipping at the remembered norm when tighter than the
 *              runbook's (never below its 0.5 floor); nothing else changes.
 * - resource → hashBits, embeddingDim (fm/dcn) and batchSize at the remembered values where they are at most what
 *              the runbook picks (so never bigger than the runbook's retry, let alone the failing config), within the
 *              runbook's floors (8, 2, 16); nothing else changes.
 *
 * Anything else — another class or family, a runbook that stops, a memory that changes nothing, or a result that is
 * not a valid ModelConfig — is the plain runbook (retryAfterFailure). Pure and deterministic: safe in workflow code.
 */
export function applyRememberedFix(
  failureClass: FailureClass,
  config: ModelConfig,
  remembered: RememberedFix | undefined,
  message = '',
  runbook: RunbookVersion = {},
): RetryDecision {
  const policy = retryAfterFailure(failureClass, config, message, runbook);
  // No memory of a smaller model applies to a full disk, nor a remembered learning-rate cut to raw dense values.
  const rawStep = failureClass === 'diverged' && runbook.rawDenseFirst !== false && rawDenseRetry(config) !== undefined;
  if (
    !policy.retry ||
    !remembered ||
    remembered.failureClass !== failureClass ||
    remembered.family !== config.family ||
    diskFullInMessage(message) ||
    rawStep
  )
    return policy;
  const memory = remembered.changes;
  let candidate: ModelConfig;
  let agrees: boolean;
  if (failureClass === 'diverged') {
    const ratio = memory.learningRateRatio;
    const learningRate =
      ratio === undefined
        ? policy.config.learningRate
        : Math.min(policy.config.learningRate, round(config.learningRate * Math.max(MIN_REMEMBERED_LR_RATIO, ratio)));
    const runbookClip = policy.config.gradientClip ?? 5;
    const gradientClip = memory.gradientClip === undefined ? runbookClip : Math.min(runbookClip, Math.max(0.5, memory.gradientClip));
    candidate = { ...policy.config, learningRate, gradientClip };
    agrees =
      (ratio === undefined || learningRate === round(config.learningRate * ratio)) &&
      (memory.gradientClip === undefined || gradientClip === memory.gradientClip);
  } else if (failureClass === 'resource') {
    const smaller = (runbook: number, remembered: number | undefined, floor: number) =>
      remembered === undefined ? runbook : Math.min(runbook, Math.max(floor, remembered));
    const hashBits = smaller(policy.config.hashBits, memory.hashBits, 8);
    const batchSize = smaller(policy.config.batchSize, memory.batchSize, 16);
    const embeddingDim = policy.config.family === 'lr' ? undefined : smaller(policy.config.embeddingDim, memory.embeddingDim, 2);
    candidate = { ...policy.config, hashBits, batchSize, ...(embeddingDim === undefined ? {} : { embeddingDim }) } as ModelConfig;
    agrees =
      (memory.hashBits === undefined || memory.hashBits === hashBits) &&
      (memory.batchSize === undefined || memory.batchSize === batchSize) &&
      (memory.embeddingDim === undefined || embeddingDim === undefined || memory.embeddingDim === embeddingDim);
  } else {
    return policy;
  }
  if (!ModelConfig.safeParse(candidate).success) return policy;
  const source = rememberedSource(remembered);
  if (JSON.stringify(candidate) === JSON.stringify(policy.config)) {
    // The memory asks for no more than the runbook's own step: the runbook's retry, quoting the memory only when it
    // is the very fix that worked (not when the runbook already goes further).
    return agrees ? { ...policy, fix: `${policy.fix}; ${source}`, rememberedFrom: remembered.fromExperiment } : policy;
  }
  return {
    retry: true,
    config: candidate,
    fix: `retry with ${describeChanges(config, candidate)}; ${source}`,
    rememberedFrom: remembered.fromExperiment,
  };
}

/** "remembered from experiment E (worked n times, on the same data)": how a retry from memory reads in fixes and events. */
export function rememberedSource(fix: RememberedFix): string {
  const times = (n: number) => `${n} time${n === 1 ? '' : 's'}`;
  const where = fix.similarity >= 1 ? 'on the same data' : `on data ${Math.round(fix.similarity * 100)}% similar`;
  return `remembered from experiment ${fix.fromExperiment} (worked ${times(fix.worked)}${fix.failed ? `, failed ${times(fix.failed)}` : ''}, ${where})`;
}

/** The runbook knobs that differ, "learningRate 3 → 0.27, gradient clipping at 2.5, hashBits 20 → 16". */
function describeChanges(from: ModelConfig, to: ModelConfig): string {
  const changes: string[] = [];
  if (to.learningRate !== from.learningRate) changes.push(`learningRate ${from.learningRate} → ${to.learningRate}`);
  if (to.gradientClip !== undefined && to.gradientClip !== from.gradientClip) changes.push(`gradient clipping at ${to.gradientClip}`);
  if (to.hashBits !== from.hashBits) changes.push(`hashBits ${from.hashBits} → ${to.hashBits}`);
  if (from.family !== 'lr' && to.family !== 'lr' && to.embeddingDim !== from.embeddingDim)
    changes.push(`embeddingDim ${from.embeddingDim} → ${to.embeddingDim}`);
  if (to.batchSize !== from.batchSize) changes.push(`batchSize ${from.batchSize} → ${to.batchSize}`);
  return changes.join(', ');
}
