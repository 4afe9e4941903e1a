import { z } from 'zod';
import { BadRows, DataConfig } from './data';
import { checkFieldsAgainstData, engineModel, engineSegmentField } from './field-names';
import { CalibrationReport, FieldRef, ModelConfig } from './model';
import { EarlyStopping, FailureClass, FailureReport, LearningCurve, Metrics, ValidationMetrics, ValidationSplit } from './metrics';
import { ProbeScale } from './probe';
import { ExternalJob, TrainerChoice } from './trainer';

/** A workflow/experiment/campaign id: safe as a file name and a URL segment. */
export const SafeId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'expected letters, digits, ".", "_", ":" or "-" (no slashes)');

/** One idea to test, as proposed by the hypothesis designer (LLM or heuristic) or by random search. */
export const Hypothesis = z.object({
  title: z.string().min(1).max(200),
  /** Id of the technique-library entry this applies (e.g. "feature-cross", "family-fm"). */
  technique: z.string().min(1).max(80),
  rationale: z.string().min(1).max(600),
  expectedEffect: z.string().min(1).max(300),
  /** Experiment ids this one builds on (lineage). */
  parents: z.array(z.string()).max(20).default([]),
  /** Which designer proposed it: the LLM, the heuristic twin (its fallback too) or random search. */
  designer: z.enum(['llm', 'heuristic', 'random']).optional(),
  /**
   * The research step's expected relative NE reduction (0.01 = 1%) when this experiment is one of its hypotheses, so
   * expected and measured gains can be compared; absent for every other idea.
   */
  expectedGain: z.number().optional(),
});
export type Hypothesis = z.infer<typeof Hypothesis>;

/** Attempts a run may take for classified, retryable failures (diverged / resource), the first included. */
export const DEFAULT_MAX_ATTEMPTS = 3;

export const ExperimentInput = z
  .object({
    experimentId: SafeId,
    campaignId: SafeId.optional(),
    phase: z.string().max(40).default('adhoc'),
    data: DataConfig,
    model: ModelConfig,
    hypothesis: Hypothesis.optional(),
    /** NE of the campaign baseline, to report the relative NE change. */
    baselineNe: z.number().optional(),
    /** The baseline's validation NE, to report the relative NE change on validation (what a campaign decides on). */
    baselineValidationNe: z.number().optional(),
    /** The baseline's model, so the NE change is also tested paired on the same test rows. */
    baselineArtifact: z.string().max(200).optional(),
    /** Field whose values define segments for per-segment NE (a slot, or with a declared schema a column). */
    segmentField: FieldRef.default('C1'),
    /** Attempts for classified, retryable failures (diverged / resource), including the first. */
    maxAttempts: z.number().int().min(1).max(5).default(DEFAULT_MAX_ATTEMPTS),
    /** Sub-agents for failure triage: `auto` = LLM when one is configured on the worker, else heuristic. */
    agents: z.enum(['auto', 'heuristic', 'llm']).default('auto'),
    /** Set by a campaign on the probes it screens ideas with (`data` is then the probe's row sample). */
    probe: ProbeScale.optional(),
    /** Who trains the model: the built-in engine (default) or a trainer configured on the worker (contracts/trainer.ts). */
    trainer: TrainerChoice.optional(),
  })
  .strict()
  // Field names are the data's (a declared schema's columns, or slots): checked against it, then turned into the
  // engine's slots, so the workflow and everything after it see slots only (contracts/field-names.ts).
  .superRefine((input, ctx) => checkFieldsAgainstData(ctx, input.data, [{ path: ['model'], model: input.model }], input.segmentField))
  .overwrite((input) => ({
    ...input,
    model: engineModel(input.model, input.data),
    segmentField: engineSegmentField(input.segmentField, input.data),
  }));
export type ExperimentInput = z.infer<typeof ExperimentInput>;
export type ExperimentInputRaw = z.input<typeof ExperimentInput>;

/** The outcome of one training attempt, kept on the experiment for lineage and triage. */
export const Attempt = z.object({
  config: ModelConfig,
  failure: FailureReport.optional(),
  triage: z.object({ failureClass: FailureClass, diagnosis: z.string(), fix: z.string(), source: z.enum(['llm', 'heuristic']) }).optional(),
});
export type Attempt = z.infer<typeof Attempt>;

export const ExperimentResult = z.object({
  experimentId: z.string(),
  campaignId: z.string().optional(),
  phase: z.string(),
  status: z.enum(['succeeded', 'failed']),
  /** The config of the last attempt (after any retry-policy change). */
  config: ModelConfig,
  hypothesis: Hypothesis.optional(),
  dataFingerprint: z.string().optional(),
  /** Malformed rows the data load skipped (count per file, first examples); absent on runs that never read data. */
  badRows: BadRows.optional(),
  artifact: z.string().optional(),
  /** Test metrics: information for every run, and the chosen model's one confirmation. Never a decision's input. */
  metrics: Metrics.optional(),
  /** Best validation NE while training (before calibration): what early stopping kept. */
  validationNe: z.number().optional(),
  /** The served model on the validation rows, with standard errors: what the campaign decides on. */
  validationMetrics: ValidationMetrics.optional(),
  /** The rows that decided training (early stopping, the kept weights) — a file or the held-out tail of train. */
  validation: ValidationSplit.optional(),
  /** How validation decided the run: evaluations, whether it stopped early, the step whose weights were kept. */
  earlyStopping: EarlyStopping.optional(),
  /** Train and validation NE per evaluation (at most 200 points, downsampled keeping first, best and last). */
  learningCurve: LearningCurve.optional(),
  /** Post-hoc calibration fitted on validation: the method chosen and validation metrics before and after. */
  calibration: CalibrationReport.optional(),
  /** Standard error of the test NE (for significance checks). */
  neStdErr: z.number().optional(),
  /** Paired standard error of (NE − baseline NE) on the same test rows: the sharp significance test. */
  neDeltaStdErr: z.number().optional(),
  relativeNeChange: z.number().optional(),
  trainSeconds: z.number(),
  modelBytes: z.number().int(),
  attempts: z.array(Attempt),
  failure: z.object({ failureClass: FailureClass, message: z.string(), fix: z.string() }).optional(),
  /** A probe: trained on a row sample to screen the idea (contracts/probe.ts); never a candidate for recommendation. */
  probe: ProbeScale.optional(),
  /** Trained by an external job: which trainer, its knobs, the job id and how the wait went. */
  externalJob: ExternalJob.optional(),
  /** On a probe: whether it beat the round's reference probe and earned a full run (the id of that run). */
  promotedTo: z.string().optional(),
});
export type ExperimentResult = z.infer<typeof ExperimentResult>;

/**
 * The campaign's bad-row summary: what the baseline's data load skipped or, when the baseline has none to report
 * (it failed, or it predates bad-row reporting), the first experiment's that does. Every experiment of a campaign
 * reads the same data config, so one load speaks for all. Undefined when no experiment reports bad rows.
 * Pure and deterministic: safe in workflow code.
 */
export function campaignBadRows(experiments: readonly ExperimentResult[]): BadRows | undefined {
  const baseline = experiments.find((e) => e.phase === 'baseline' && e.badRows);
  return (baseline ?? experiments.find((e) => e.badRows))?.badRows;
}
