import type { ExperimentResult, FailureClass, ModelConfig, RememberedFix, RemedyChanges } from '../../contracts';

/**
 * Remedies: which retry turned a failure class into a success, read off an experiment's attempts — pure functions,
 * no database. The store records them (store.ts) and triage looks them up, so the next experiment that fails the
 * same way can jump straight to what worked instead of walking the runbook one step at a time.
 */

/** The knobs the retry runbook (workflows/retry-policy.ts) changes; a remedy is the change on these, nothing else. */
export const RUNBOOK_KNOBS = ['learningRate', 'gradientClip', 'hashBits', 'embeddingDim', 'batchSize'] as const;

/** One remedy as read off an experiment: the config a failure happened with, the one tried next, and how that went. */
export interface Remedy {
  experimentId: string;
  campaignId?: string;
  /** Attempt numbers (1-based): the first failure of this class in a row, and the attempt that ran the changed config. */
  fromAttempt: number;
  toAttempt: number;
  failureClass: FailureClass;
  family: ModelConfig['family'];
  /** `worked`: the attempt with the changes succeeded; `failed`: it failed again with the same class. */
  outcome: 'worked' | 'failed';
  failingConfig: ModelConfig;
  fixedConfig: ModelConfig;
  changes: RemedyChanges;
  /** Attempts from the failure to the outcome, both included (2 = one retry). */
  attempts: number;
  /** The data the attempts ran on (the failure report's, else the result's); a remedy without one is not recorded. */
  dataFingerprint?: string;
}

const sig = (x: number, digits = 3) => Number(x.toPrecision(digits));

/** The runbook knobs that differ between a failing and the next config: the new values, and the learning-rate ratio. */
export function remedyChanges(failing: ModelConfig, fixed: ModelConfig): RemedyChanges {
  const changes: RemedyChanges = {};
  if (fixed.learningRate !== failing.learningRate) {
    changes.learningRate = fixed.learningRate;
    changes.learningRateRatio = sig(fixed.learningRate / failing.learningRate, 6);
  }
  if (fixed.gradientClip !== undefined && fixed.gradientClip !== failing.gradientClip) changes.gradientClip = fixed.gradientClip;
  if (fixed.hashBits !== failing.hashBits) changes.hashBits = fixed.hashBits;
  const dim = (c: ModelConfig) => (c.family === 'lr' ? undefined : c.embeddingDim);
  const fixedDim = dim(fixed);
  if (fixedDim !== undefined && fixedDim !== dim(failing)) changes.embeddingDim = fixedDim;
  if (fixed.batchSize !== failing.batchSize) changes.batchSize = fixed.batchSize;
  return changes;
}

/**
 * What identifies "the same fix" when counting how often it worked: the knobs it set, the learning rate as its ratio
 * (3 significant digits) since a cut carries across starting points where an absolute value does not.
 */
export function changeKey(changes: RemedyChanges): string {
  const key: Record<string, number> = {};
  for (const knob of RUNBOOK_KNOBS) {
    if (knob === 'learningRate') {
      if (changes.learningRateRatio !== undefined) key.learningRateRatio = sig(changes.learningRateRatio);
      else if (changes.learningRate !== undefined) key.learningRate = changes.learningRate;
      continue;
    }
    const value = changes[knob];
    if (value !== undefined) key[knob] = value;
  }
  return JSON.stringify(key);
}

/**
 * The remedies an experiment's attempts teach. For each failure of class X:
 * - the next attempt succeeded → one `worked` remedy from the *first* failure of X in that row to the success, so a
 *   fix that took two retries is remembered as the one jump that would have taken one;
 * - the next attempt failed with X again → a `failed` remedy for that one step;
 * - the next attempt failed with another class, or there is none → nothing (it says nothing about fixing X).
 * A step that changed none of the runbook's knobs is no remedy. An attempt that met a full disk (`diskFull`) is left
 * out: it says nothing about the config (it was retried unchanged), so it neither fails a fix nor breaks a chain.
 */
export function remediesOf(result: ExperimentResult): Remedy[] {
  const remedies: Remedy[] = [];
  const attempts = result.attempts.filter((a) => !a.failure?.diskFull);
  let chainStart = -1;
  for (let i = 0; i + 1 < attempts.length; i++) {
    const failure = attempts[i].failure;
    if (!failure) {
      chainStart = -1;
      continue;
    }
    const sameAsBefore = i > 0 && attempts[i - 1].failure?.failureClass === failure.failureClass && chainStart >= 0;
    if (!sameAsBefore) chainStart = i;
    const next = attempts[i + 1];
    if (next.failure && next.failure.failureClass !== failure.failureClass) continue;
    const from = next.failure ? i : chainStart;
    const failing = attempts[from].config;
    const fixed = next.config;
    const changes = remedyChanges(failing, fixed);
    if (!Object.keys(changes).length) continue;
    remedies.push({
      experimentId: result.experimentId,
      campaignId: result.campaignId,
      fromAttempt: from + 1,
      toAttempt: i + 2,
      failureClass: failure.failureClass,
      family: failing.family,
      outcome: next.failure ? 'failed' : 'worked',
      failingConfig: failing,
      fixedConfig: fixed,
      changes,
      attempts: i + 2 - from,
      dataFingerprint: attempts[from].failure?.dataFingerprint ?? next.failure?.dataFingerprint ?? result.dataFingerprint,
    });
  }
  return remedies;
}

/** A remedy group as the lookup sees it: one change key, its best worked example, and its counts. */
export interface RemedyCandidate {
  fix: RememberedFix;
  recordedAt: string;
  key: string;
}

/**
 * Best first: fixes that worked more often than they failed, then the most similar data (the same data is 1), then
 * the best record (worked − failed), then the most recent.
 */
export function rankRemedies(candidates: RemedyCandidate[]): RemedyCandidate[] {
  const reliable = (c: RemedyCandidate) => (c.fix.worked > c.fix.failed ? 1 : 0);
  return [...candidates].sort(
    (a, b) =>
      reliable(b) - reliable(a) ||
      b.fix.similarity - a.fix.similarity ||
      b.fix.worked - b.fix.failed - (a.fix.worked - a.fix.failed) ||
      b.recordedAt.localeCompare(a.recordedAt) ||
      a.key.localeCompare(b.key),
  );
}
