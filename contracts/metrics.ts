import { z } from 'zod';

export const SegmentMetric = z.object({
  field: z.string(),
  value: z.string(),
  count: z.number().int(),
  ne: z.number(),
});
export type SegmentMetric = z.infer<typeof SegmentMetric>;

/** What an evaluation reports. Lower NE and log loss are better; calibration ideal is 1.0. */
export const Metrics = z.object({
  ne: z.number(),
  auc: z.number(),
  logloss: z.number(),
  calibration: z.number(),
  ctr: z.number(),
  examples: z.number().int(),
  /** Bayes-optimal NE, known on planted data only. */
  oracleNe: z.number().optional(),
  /** NE − oracle NE (planted data only). */
  regret: z.number().optional(),
  /** Per-segment NE on the most frequent values of the segment field. */
  segments: z.array(SegmentMetric).max(50).optional(),
  /**
   * Expected share of a training row's hashed features (categorical fields, crosses, bucketed dense fields) whose
   * table row also holds another value: per table 1 − (1 − 1/m)^(n − 1), with n estimated from the rows the encoded
   * train set uses (linear counting), averaged over slots. `describeData` reports it per field, exactly counted.
   */
  hashCollisionRate: z.number().min(0).max(1).optional(),
});
export type Metrics = z.infer<typeof Metrics>;

/**
 * The served model (calibrated) measured on the validation rows: what every decision of a campaign reads. Test is
 * scored for every run as information and compared with the baseline once, for the chosen model. The calibrator is
 * cross-fitted for these numbers (each validation fold scored by a calibrator fitted on the other folds), so they are
 * not flattered by a calibrator fitted on the very rows it is measured on.
 */
export const ValidationMetrics = Metrics.pick({ ne: true, auc: true, logloss: true, calibration: true, ctr: true, examples: true }).extend({
  /** Clicks in the validation rows (weighted when rows carry sample weights). */
  clicks: z.number(),
  /** Standard error of the validation NE. */
  neStdErr: z.number(),
  /** Paired standard error of (NE − baseline NE) on the same validation rows, when the baseline's model was given. */
  neDeltaStdErr: z.number().optional(),
  /** (NE − baseline NE) / baseline NE on validation, when the campaign gave its baseline's validation NE. */
  relativeNeChange: z.number().optional(),
  /** Per-segment NE on the validation rows (for guardrails, which decide on validation too). */
  segments: z.array(SegmentMetric).max(50).optional(),
});
export type ValidationMetrics = z.infer<typeof ValidationMetrics>;

/** A structured progress event of a training run (also what the failure-triage agent reads). */
export const TrainingProgress = z.object({
  step: z.number().int(),
  epoch: z.number().int(),
  examples: z.number().int(),
  runningLogloss: z.number(),
  validationNe: z.number().optional(),
  gradNorm: z.number().optional(),
  elapsedMs: z.number(),
});
export type TrainingProgress = z.infer<typeof TrainingProgress>;

/**
 * One evaluation of a training run, both NEs measured with the same weights at the same step: `validationNe` on the
 * whole validation split, `trainNe` on a fixed sample of the training rows (up to 10,000, evenly spaced). The gap
 * between them is the evidence for overfitting; both staying high, for underfitting.
 */
export const LearningCurvePoint = z.object({
  step: z.number().int(),
  /** 1-based epoch the evaluation happened in (an epoch-end evaluation carries that epoch's number). */
  epoch: z.number().int(),
  examples: z.number().int(),
  trainNe: z.number(),
  validationNe: z.number(),
});
export type LearningCurvePoint = z.infer<typeof LearningCurvePoint>;

/** Longest learning curve a result or an artifact carries (longer ones are downsampled, keeping first, best and last). */
export const MAX_LEARNING_CURVE_POINTS = 200;
export const LearningCurve = z.array(LearningCurvePoint).max(MAX_LEARNING_CURVE_POINTS);

/**
 * The rows that decided training (evaluation, early stopping, the best weights): a `validation` file, the held-out
 * last `fraction` of train (by position), or the planted generator's own validation rows.
 */
export const ValidationSplit = z.discriminatedUnion('source', [
  z.object({ source: z.literal('file'), file: z.string(), rows: z.number().int().min(0) }),
  /** `by` set: the latest `fraction` of train by that time column (a declared table's time split), else by position. */
  z.object({ source: z.literal('train-tail'), fraction: z.number(), rows: z.number().int().min(0), by: z.string().optional() }),
  /** A declared table's time split: the train rows with `by` in [from, to). */
  z.object({ source: z.literal('time-window'), by: z.string(), from: z.string(), to: z.string(), rows: z.number().int().min(0) }),
  z.object({ source: z.literal('planted'), rows: z.number().int().min(0) }),
]);
export type ValidationSplit = z.infer<typeof ValidationSplit>;

/** How validation decided a run: how often it was evaluated, whether it stopped early, where the kept weights are from. */
export const EarlyStopping = z.object({
  /** Evaluations without improvement allowed before stopping (0: never stop early). */
  patience: z.number().int().min(0),
  /** Steps between evaluations as resolved for this run (an epoch's end always evaluates too). */
  evaluateEvery: z.number().int().min(1),
  evaluations: z.number().int().min(0),
  stoppedEarly: z.boolean(),
  /** Epochs trained (the config's `epochs` is the maximum). */
  epochsRun: z.number().int().min(0),
  /** Step and epoch of the kept (best-validation) weights; the last step when nothing was evaluated. */
  bestStep: z.number().int().min(0),
  bestEpoch: z.number().int().min(0),
  bestValidationNe: z.number().optional(),
});
export type EarlyStopping = z.infer<typeof EarlyStopping>;

export const FAILURE_CLASSES = ['diverged', 'underfit', 'overfit', 'bad-data', 'resource', 'infrastructure'] as const;
export const FailureClass = z.enum(FAILURE_CLASSES);
export type FailureClass = z.infer<typeof FailureClass>;

/** Where a write met a full disk: the folder, and the bytes free there then (unknown when it could not be measured). */
export const DiskFull = z.object({
  path: z.string().max(1000),
  freeBytes: z.number().int().min(0).optional(),
});
export type DiskFull = z.infer<typeof DiskFull>;

/** How store/disk-space.ts's DiskFullError words a full disk: "disk full writing a checkpoint under /data/rw: 0 MB free". */
const DISK_FULL_WORDING = /^disk full writing .+? under (.+): (?:(\d+) MB free|free space unknown)$/;

/**
 * The full disk a failure message in DiskFullError's wording names (the free space to the MB it gives), or undefined:
 * what crosses a thread or an older report is the message alone.
 */
export function diskFullInMessage(message: string): DiskFull | undefined {
  const worded = DISK_FULL_WORDING.exec(message);
  if (!worded) return undefined;
  return { path: worded[1], ...(worded[2] === undefined ? {} : { freeBytes: Number(worded[2]) * 2 ** 20 }) };
}

/** The serialisable form of a classified training failure (ranking/ throws it as TrainingFailure). */
export const FailureReport = z.object({
  failureClass: FailureClass,
  message: z.string().max(4000),
  /** Training-log excerpt the triage agent reads: the last progress events before the failure. */
  lastProgress: z.array(TrainingProgress).max(50).default([]),
  /**
   * The data the failed attempt read, when the training worker knew it (a run that failed before reading its data has
   * none): lets triage look up the fixes that worked for this failure on the same data.
   */
  dataFingerprint: z.string().max(200).optional(),
  /**
   * Set on a `resource` failure that met a full disk (or quota) rather than a memory limit: the folder the write went
   * to and the bytes free there when it failed. Nothing is wrong with the config: the workflow waits for space and
   * retries it unchanged, where an out-of-memory failure is retried with a smaller model.
   */
  diskFull: DiskFull.optional(),
  /**
   * Seconds the failed attempt trained before it failed, on the clock of a finished run's trainSeconds (from the end
   * of encoding): what a divergence in the second epoch cost. Absent when it failed before training (bad data, a model
   * over the memory budget) or where the engine could not time it (a full disk met in a training thread).
   */
  trainSeconds: z.number().min(0).optional(),
});
export type FailureReport = z.infer<typeof FailureReport>;
