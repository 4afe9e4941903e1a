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
});
export type Metrics = z.infer<typeof Metrics>;

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

export const FAILURE_CLASSES = ['diverged', 'underfit', 'overfit', 'bad-data', 'resource', 'infrastructure'] as const;
export const FailureClass = z.enum(FAILURE_CLASSES);
export type FailureClass = z.infer<typeof FailureClass>;

/** The serialisable form of a classified training failure (ranking/ throws it as TrainingFailure). */
export const FailureReport = z.object({
  failureClass: FailureClass,
  message: z.string().max(4000),
  /** Training-log excerpt the triage agent reads: the last progress events before the failure. */
  lastProgress: z.array(TrainingProgress).max(50).default([]),
});
export type FailureReport = z.infer<typeof FailureReport>;
