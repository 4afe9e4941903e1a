import { TriageRequest, TriageResponse, type RememberedFix } from '../contracts/agents';
import { applyRememberedFix, DISK_FULL_BACKOFF, freeDiskSpace, rememberedSource } from '../workflows/retry-policy';
import { diskFullInMessage, type DiskFull, type FailureClass, type FailureReport, type TrainingProgress } from '../contracts/metrics';
import type { ModelConfig } from '../contracts/model';

/**
 * The deterministic training-log interpreter: reads the numbers first (progress events cannot be talked into
 * anything), then the error message's vocabulary, then falls back to the class the engine reported. Classes the
 * engine measured itself (bad-data: it counted malformed rows; resource: an allocation failed) are trusted as is.
 */

/**
 * The full disk a failure met (the report's `diskFull`, else DiskFullError's wording in its message), or undefined: a
 * `resource` failure that is the machine's storage, not the model's size.
 */
export function diskFullOf(failure: Pick<FailureReport, 'failureClass' | 'message' | 'diskFull'>): DiskFull | undefined {
  if (failure.failureClass !== 'resource') return undefined;
  return failure.diskFull ?? diskFullInMessage(failure.message);
}

/** Classes the ranking engine determines by measurement, not by guessing. */
export const MEASURED_FAILURE_CLASSES: readonly FailureClass[] = ['bad-data', 'resource'];

export interface CurveEvidence {
  failureClass: FailureClass;
  diagnosis: string;
}

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : String(x));

/** The first progress event that carried a NaN/Infinity (or a null, which is what NaN becomes in JSON). */
export interface NonFiniteSighting {
  step: number;
  field: string;
  value: string;
}

/**
 * zod's numbers (and JSON) cannot carry NaN, yet NaN is the signature of a diverged run. Read the raw events first,
 * remember the first non-finite value, and keep only the well-formed events for schema validation.
 */
export function parseTriageRequest(input: TriageRequest): { req: TriageRequest; nonFinite?: NonFiniteSighting } {
  const raw = (input as { failure?: { lastProgress?: unknown } })?.failure?.lastProgress;
  let nonFinite: NonFiniteSighting | undefined;
  const events: unknown[] = [];
  for (const e of Array.isArray(raw) ? raw : []) {
    const event = e as Record<string, unknown>;
    const bad = ['runningLogloss', 'gradNorm', 'validationNe'].find(
      (k) => k in event && (event[k] === null || (typeof event[k] === 'number' && !Number.isFinite(event[k] as number))),
    );
    if (bad) {
      nonFinite ??= { step: typeof event.step === 'number' ? event.step : -1, field: bad, value: String(event[bad]) };
      continue;
    }
    events.push(event);
  }
  const req = TriageRequest.parse({ ...input, failure: { ...input.failure, lastProgress: events } });
  return { req, nonFinite };
}

/** Divergence read from the curve: non-finite numbers, a running loss that blew up, or exploding gradients. */
export function divergenceEvidence(events: readonly TrainingProgress[], nonFinite?: NonFiniteSighting): CurveEvidence | undefined {
  if (nonFinite) {
    const lastGood = [...events].reverse().find((e) => e.step < nonFinite.step || nonFinite.step < 0);
    return {
      failureClass: 'diverged',
      diagnosis: `Training produced a non-finite ${nonFinite.field} (${nonFinite.value}) at step ${nonFinite.step}${lastGood ? `; last finite running log loss ${fmt(lastGood.runningLogloss)} at step ${lastGood.step}` : ''}.`,
    };
  }
  if (!events.length) return undefined;
  const losses = events.map((e) => e.runningLogloss);
  const minLoss = Math.min(...losses);
  const last = losses[losses.length - 1];
  // CTR log loss lives around 0.1-0.7; tripling from its minimum or passing 3 nats means the optimizer overshoots.
  if (events.length >= 3 && (last > 3 * minLoss || last > 3) && last > minLoss + 0.2) {
    return {
      failureClass: 'diverged',
      diagnosis: `Running log loss exploded from a minimum of ${fmt(minLoss)} to ${fmt(last)} by step ${events[events.length - 1].step}.`,
    };
  }
  const grads = events.map((e) => e.gradNorm).filter((g): g is number => g !== undefined && g > 0);
  if (grads.length >= 3 && grads[grads.length - 1] > 100 * Math.min(...grads)) {
    return {
      failureClass: 'diverged',
      diagnosis: `Gradient norm grew from ${fmt(Math.min(...grads))} to ${fmt(grads[grads.length - 1])}: the updates are exploding.`,
    };
  }
  return undefined;
}

/** Over- and underfitting read from the validation curve against the training loss. */
export function fitEvidence(events: readonly TrainingProgress[]): CurveEvidence | undefined {
  const validated = events.filter((e) => e.validationNe !== undefined);
  if (validated.length >= 3) {
    const ne = validated.map((e) => e.validationNe!);
    const bestIdx = ne.indexOf(Math.min(...ne));
    const lastNe = ne[ne.length - 1];
    const trainFalling = validated[validated.length - 1].runningLogloss < validated[bestIdx].runningLogloss;
    const tailRising = ne.length - 1 - bestIdx >= 2 && ne[ne.length - 1] >= ne[ne.length - 2];
    if (bestIdx < ne.length - 1 && lastNe > ne[bestIdx] * 1.003 && trainFalling && tailRising) {
      const best = validated[bestIdx];
      return {
        failureClass: 'overfit',
        diagnosis: `Validation NE bottomed at ${fmt(ne[bestIdx])} (epoch ${best.epoch}, step ${best.step}) and rose to ${fmt(lastNe)} while training log loss kept falling (${fmt(best.runningLogloss)} → ${fmt(validated[validated.length - 1].runningLogloss)}).`,
      };
    }
  }
  if (events.length >= 3) {
    const losses = events.map((e) => e.runningLogloss);
    const spread = (Math.max(...losses) - Math.min(...losses)) / Math.max(1e-9, Math.max(...losses));
    const lastNe = validated.length ? validated[validated.length - 1].validationNe! : undefined;
    // NE ≈ 1 means no better than always predicting the average CTR: the loss sits at the label entropy.
    if (spread < 0.01 && (lastNe === undefined || lastNe >= 0.97)) {
      return {
        failureClass: 'underfit',
        diagnosis: `Training log loss is flat (${fmt(Math.min(...losses))}-${fmt(Math.max(...losses))} over ${events.length} events)${lastNe !== undefined ? ` and validation NE is ${fmt(lastNe)}, i.e. at the entropy of the background CTR` : ''}: the model is not learning.`,
      };
    }
    if (lastNe !== undefined && lastNe >= 0.99) {
      return {
        failureClass: 'underfit',
        diagnosis: `Validation NE is ${fmt(lastNe)} after ${events.length} events: barely better than predicting the average CTR.`,
      };
    }
  }
  return undefined;
}

const MESSAGE_PATTERNS: ReadonlyArray<[FailureClass, RegExp, string]> = [
  ['diverged', /\b(nan|inf|infinity|infinite|non-finite|not finite|diverged|exploding)\b/i, 'the error reports non-finite or exploding numbers'],
  [
    'resource',
    /out of memory|\bheap\b|ENOMEM|allocation failed|cannot allocate|memory limit|array buffer allocation|\bOOM\b/i,
    'the error reports running out of memory',
  ],
  [
    'bad-data',
    /malformed|bad rows?|\blines? \d+|parse error|expected \d+ (columns|fields)|invalid row|corrupt|unexpected end of (file|input)/i,
    'the error reports malformed input rows',
  ],
  [
    'infrastructure',
    /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|EPIPE|socket hang up|network|timed? ?out|heartbeat|worker (lost|restart)|\b50[234]\b|unavailable/i,
    'the error reports a network or worker problem',
  ],
];

export function messageEvidence(message: string): { failureClass: FailureClass; why: string } | undefined {
  for (const [failureClass, pattern, why] of MESSAGE_PATTERNS) if (pattern.test(message)) return { failureClass, why };
  return undefined;
}

const round3 = (x: number) => Number(x.toPrecision(3));
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** "learningRate ×0.09 (to 0.27), gradientClip 2.5": a remembered fix's changes in words. */
export function describeRemedy(fix: RememberedFix): string {
  const c = fix.changes;
  const parts: string[] = [];
  if (c.learningRateRatio !== undefined)
    parts.push(`learningRate ×${fmt(c.learningRateRatio)}${c.learningRate !== undefined ? ` (to ${fmt(c.learningRate)})` : ''}`);
  else if (c.learningRate !== undefined) parts.push(`learningRate ${fmt(c.learningRate)}`);
  if (c.gradientClip !== undefined) parts.push(`gradientClip ${fmt(c.gradientClip)}`);
  if (c.hashBits !== undefined) parts.push(`hashBits ${c.hashBits}`);
  if (c.embeddingDim !== undefined) parts.push(`embeddingDim ${c.embeddingDim}`);
  if (c.batchSize !== undefined) parts.push(`batchSize ${c.batchSize}`);
  return parts.join(', ');
}

/** The sentence a diagnosis gets when the insights database remembers a fix for this very class and family. */
export function rememberedNote(failureClass: FailureClass, config: ModelConfig, remembered: RememberedFix | undefined): string {
  if (!remembered || remembered.failureClass !== failureClass || remembered.family !== config.family) return '';
  return ` The insights database remembers a fix for ${failureClass} ${config.family} runs: ${describeRemedy(remembered)}, ${rememberedSource(remembered)}.`;
}

/**
 * A concrete, config-specific fix per class. For diverged and resource it is the retry policy's own step (one
 * runbook), with the remembered fix applied within the runbook's bounds when the insights database has one.
 */
export function fixFor(
  failureClass: FailureClass,
  config: ModelConfig,
  events: readonly TrainingProgress[],
  message: string,
  _attempt: number,
  remembered?: RememberedFix,
): string {
  switch (failureClass) {
    case 'diverged':
      // The retry policy's own numbers (one runbook): the fix a reviewer reads is the retry that runs.
      return `${capitalize(applyRememberedFix('diverged', config, remembered, message).fix)}; it resumes from the last finite checkpoint.`;
    case 'overfit': {
      const validated = events.filter((e) => e.validationNe !== undefined);
      const best = validated.length ? validated.reduce((a, b) => (b.validationNe! < a.validationNe! ? b : a)) : undefined;
      const epochs = best ? Math.max(1, Math.min(config.epochs - 1, best.epoch + 1)) : Math.max(1, config.epochs - 1);
      const l2 = config.l2 > 0 ? round3(config.l2 * 3) : config.family === 'lr' ? 1 : config.family === 'fm' ? 1e-4 : 1e-5;
      return `Reduce epochs from ${config.epochs} to ${epochs}${best ? ` (validation NE was lowest in epoch ${best.epoch})` : ''} and raise l2 from ${fmt(config.l2)} to ${fmt(l2)}.`;
    }
    case 'underfit': {
      const lr = round3(config.learningRate * 3);
      const richer = config.family === 'lr' ? ' If that is not enough, add crosses of the interacting fields or move to fm.' : '';
      return `Raise learningRate from ${fmt(config.learningRate)} to ${fmt(lr)} and epochs from ${config.epochs} to ${Math.min(50, config.epochs * 2)}.${richer}`;
    }
    case 'bad-data': {
      // The loader reports "file:line: problem"; other tools say "line N".
      const lines = [...message.matchAll(/\blines? (\d{1,12})|:(\d{1,12}):/gi)].map((m) => m[1] ?? m[2]).slice(0, 5);
      return `Not retryable with the same data: fix or drop the malformed rows${lines.length ? ` (reported near line ${lines.join(', ')})` : ''} in the export; raise maxBadRowFraction only if those rows are known to be harmless.`;
    }
    case 'resource': {
      const diskFull = diskFullInMessage(message);
      if (diskFull) return diskFullFix(diskFull);
      const decision = applyRememberedFix('resource', config, remembered, message);
      return `${capitalize(decision.fix)}${decision.retry ? '; or run it on a worker with more memory' : ''}.`;
    }
    case 'infrastructure':
      return "Transient: retry the same config unchanged (it resumes from its last checkpoint); if it repeats, check the worker's network and its Temporal connection.";
  }
}

/** The fix for a full disk: free space; the workflow retries the same config (workflows/retry-policy.ts retryAfterDiskFull). */
export function diskFullFix(diskFull: DiskFull): string {
  const minutes = DISK_FULL_BACKOFF.maximumSeconds / 60;
  const hours = DISK_FULL_BACKOFF.totalSeconds / 3600;
  return `${capitalize(freeDiskSpace(diskFull))} (\`rankwright gc\` removes what nothing needs); the same config is retried with backoff (up to every ${minutes} min, for ${hours} h) until there is room. No model change: a smaller model would not free the disk.`;
}

/**
 * Classify a failed training run and say how to fix it. Deterministic. `remembered` (from the insights database, via
 * the triage activity) is quoted in the diagnosis and applied in the fix, and passed through as `rememberedFix`.
 */
export function triageHeuristically(input: TriageRequest, remembered?: RememberedFix): TriageResponse {
  const { req, nonFinite } = parseTriageRequest(input);
  const { failure, config, attempt } = req;
  const events = failure.lastProgress;
  let failureClass: FailureClass;
  let diagnosis: string;
  const divergence = divergenceEvidence(events, nonFinite);
  const fromMessage = messageEvidence(failure.message);
  const fit = fitEvidence(events);
  const diskFull = diskFullOf(failure);
  if (diskFull) {
    // Measured by the store that failed to write: nothing about the model, the data or the curve.
    failureClass = 'resource';
    diagnosis = `The run stopped on a full disk, not on the model or the data: ${failure.message}.`;
  } else if (MEASURED_FAILURE_CLASSES.includes(failure.failureClass)) {
    failureClass = failure.failureClass;
    diagnosis =
      failureClass === 'bad-data'
        ? 'The loader measured more malformed rows than the configured maximum share.'
        : 'Training ran out of memory (measured by the engine).';
  } else if (divergence) {
    // Numbers first: a log line can say anything, a NaN loss cannot be argued with.
    ({ failureClass, diagnosis } = divergence);
  } else if (fromMessage) {
    failureClass = fromMessage.failureClass;
    diagnosis = `The run stopped because ${fromMessage.why}.`;
  } else if (fit) {
    ({ failureClass, diagnosis } = fit);
  } else {
    failureClass = failure.failureClass;
    diagnosis = `No pattern in the ${events.length} progress events or the message; keeping the engine's classification (${failureClass}).`;
  }
  // No remembered fix applies to a full disk: they all change the model.
  const memory = diskFull ? undefined : remembered;
  const note = rememberedNote(failureClass, config, memory).slice(0, 600);
  return TriageResponse.parse({
    failureClass,
    diagnosis: (diagnosis.slice(0, 1000 - note.length) + note).slice(0, 1000),
    fix: (diskFull ? diskFullFix(diskFull) : fixFor(failureClass, config, events, failure.message, attempt, memory)).slice(0, 1000),
    source: 'heuristic',
    ...(memory ? { rememberedFix: memory } : {}),
  });
}
