import { z } from 'zod';
import { BadRows, DataConfig } from './data';
import { checkFieldsAgainstData, engineModel, engineSegmentField } from './field-names';
import { ExternalTrainer, TrainerChoice } from './trainer';
import { FieldRef, ModelConfig, ModelFamily } from './model';
import { ExperimentResult, SafeId } from './experiment';
import { Metrics, ValidationMetrics } from './metrics';
import { CampaignResearch } from './research';
import { PHASES, REVIEW_STATES } from './names';

export const Budget = z
  .object({
    /**
     * Maximum experiments, the baseline included. Counted as compute: a retry is another run and a probe counts its
     * row fraction (contracts/probe.ts), so with probes on, more ideas are tried than full runs are paid for.
     */
    experiments: z.number().int().min(1).max(500).default(12),
    /**
     * Agent strategy: screen the validation phase's ideas as probes on this fraction of the training rows, and run in
     * full only the ones that beat a probe of the best model so far (successive halving). 0 = every idea in full.
     */
    probeFraction: z.number().min(0).max(0.5).default(0.2),
    /** Probing is skipped when a probe would train on fewer rows than this (its ranking would be noise). */
    probeMinRows: z.number().int().min(1000).default(20_000),
    /** Maximum total training seconds over all experiments. */
    trainSeconds: z.number().positive().optional(),
    /** Child experiments running at once. */
    parallel: z.number().int().min(1).max(64).default(2),
    /** Stop as soon as a candidate reaches this test NE. */
    targetNe: z.number().positive().optional(),
    /** Stop when a whole phase improves the best NE by less than this relative amount. */
    stallGain: z.number().min(0).max(0.5).default(0.001),
  })
  .strict();
export type Budget = z.infer<typeof Budget>;

/** Business constraints. A candidate that breaks one is never recommended; no LLM can change them. */
export const Guardrails = z
  .object({
    /** Minimum relative NE gain vs baseline, e.g. 0.005 = NE at least 0.5% lower. */
    minRelativeNeGain: z.number().min(0).max(1).optional(),
    /** Allowed calibration (predicted / observed clicks). */
    calibrationBand: z
      .tuple([z.number().positive(), z.number().positive()])
      .refine(([lo, hi]) => lo < hi, { message: 'calibrationBand must be [low, high] with low < high' })
      .optional(),
    /** Maximum relative NE regression of any reported segment vs the baseline's same segment. */
    maxSegmentNeRegression: z.number().min(0).max(10).optional(),
    maxModelBytes: z.number().int().positive().optional(),
    maxTrainSeconds: z.number().positive().optional(),
  })
  .strict();
export type Guardrails = z.infer<typeof Guardrails>;

/**
 * The floor every recommendation must clear, on validation, on by default (separate from the caller's guardrails):
 * better than a constant predictor at the training click rate (NE below 1, by more than `standardErrors` standard
 * errors), ranking better than chance (AUC above 0.5) and calibration within the band. When nothing clears it, the
 * campaign recommends nothing and halts for review: the data holds no usable signal.
 */
export const RecommendationFloor = z
  .object({
    enabled: z.boolean().default(true),
    calibrationBand: z
      .tuple([z.number().positive(), z.number().positive()])
      .refine(([lo, hi]) => lo < 1 && hi > 1, { message: "the floor's calibrationBand must be [low, high] with low < 1 < high" })
      .default([0.8, 1.25]),
    /** How many standard errors of the validation NE must separate it from 1 (0: the point estimate alone). */
    standardErrors: z.number().min(0).max(4).default(1),
  })
  .strict();
export type RecommendationFloor = z.infer<typeof RecommendationFloor>;

/** The space the planner (and any LLM) may search; LLM answers are clamped into it. */
export const SearchSpace = z
  .object({
    families: z.array(ModelFamily).min(1).default(['lr', 'fm', 'dcn']),
    learningRate: z
      .object({ lr: z.tuple([z.number(), z.number()]), fm: z.tuple([z.number(), z.number()]), dcn: z.tuple([z.number(), z.number()]) })
      .default({ lr: [0.01, 1], fm: [0.005, 0.5], dcn: [0.0003, 0.03] }),
    hashBits: z.tuple([z.number().int().min(8), z.number().int().max(24)]).default([14, 22]),
    embeddingDim: z.tuple([z.number().int().min(1), z.number().int().max(64)]).default([2, 32]),
    epochs: z.tuple([z.number().int().min(1), z.number().int().max(50)]).default([1, 8]),
    maxCrosses: z.number().int().min(0).max(32).default(8),
    /**
     * External trainers configured on the worker (RANKWRIGHT_TRAINERS) that join the search beside the built-in
     * families, e.g. `[{"kind":"command","name":"lightgbm"}]`: the first wave runs each once at its `params` (the
     * trainer's own defaults when empty), validation compares it like any run, the recommendation may pick it, and
     * when it is the best run, later waves search its knobs within its `searchSpace`. Named by the worker's owner only:
     * a campaign naming one the worker lacks fails at its start. Default: none (the built-in families alone).
     */
    trainers: z
      .array(ExternalTrainer)
      .max(8)
      .refine((ts) => new Set(ts.map((t) => t.name)).size === ts.length, { message: 'each trainer once' })
      .optional(),
  })
  .strict();
export type SearchSpace = z.infer<typeof SearchSpace>;

/**
 * A promotion hook's name. The hooks themselves (a command, or a URL to POST to) are configured on the worker
 * (RANKWRIGHT_HOOKS): whoever starts a campaign picks one by name, and can never make a worker run a command or call
 * a URL of their choosing.
 */
export const HookName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a hook name: letters, digits, ".", "_" or "-", at most 64');

/** A person named in a campaign (approver, operator) or signing a message. */
const Person = z.string().min(1).max(100);

/**
 * What a caller may decide when starting a campaign — and nothing else. The campaign's own state across
 * continue-as-new (CampaignCarryOver) is deliberately not here: it travels in a second workflow argument that only
 * a run Temporal continued may carry (workflows/campaign-start.ts), so no starter can forge a campaign's past.
 */
export const CampaignInput = z
  .object({
    campaignId: SafeId.optional(),
    objective: z.string().max(500).default('Lower NE on the test set'),
    data: DataConfig,
    /** The baseline model the campaign measures against (default: hashed LR). */
    baseline: ModelConfig.prefault({ family: 'lr' }),
    budget: Budget.prefault({}),
    strategy: z.enum(['agent', 'random']).default('agent'),
    /** Which sub-agents to use: `auto` = LLM when OPENAI_API_KEY/OPENAI_BASE_URL are set on the worker, else heuristic. */
    agents: z.enum(['auto', 'heuristic', 'llm']).default('auto'),
    /** Who may sign off (approve, reject, override) — and pause, resume and abort. */
    approvers: z.array(Person).min(1, 'name at least one approver').max(50),
    /** Who may also pause, resume and abort the campaign, without signing off on its recommendation. */
    operators: z.array(Person).max(50).default([]),
    guardrails: Guardrails.prefault({}),
    floor: RecommendationFloor.prefault({}),
    review: z
      .object({
        timeoutSeconds: z.number().positive().optional(),
        /** `remind` records a reminder event and keeps waiting; `expire` ends the campaign as rejected. Never approves. */
        onTimeout: z.enum(['remind', 'expire']).default('remind'),
      })
      .strict()
      .prefault({}),
    searchSpace: SearchSpace.prefault({}),
    segmentField: FieldRef.default('C1'),
    seed: z.number().int().min(0).default(1),
    /**
     * After a valid approval, and only then, run this worker-configured hook once (with retries) with the approved
     * model's artifact, metrics and approvers: e.g. copy it to serving, or notify a deployment service.
     */
    onApprove: z.object({ hook: HookName }).strict().optional(),
    /**
     * Who trains every experiment: the built-in engine (default), or a trainer configured on the worker, whose knobs
     * (`params`, the baseline's) the agent searches within `searchSpace`.
     */
    trainer: TrainerChoice.optional(),
    /** Continue-as-new once the history has this many events (keeps long campaigns' histories small). */
    historyLimit: z.number().int().min(100).max(40_000).default(8_000),
  })
  .strict()
  // Field names are the data's (a declared schema's columns, or slots): checked against it, then turned into the
  // engine's slots, so the workflow and everything after it see slots only (contracts/field-names.ts).
  .superRefine((input, ctx) => checkFieldsAgainstData(ctx, input.data, [{ path: ['baseline'], model: input.baseline }], input.segmentField))
  .superRefine((input, ctx) => {
    if (!input.searchSpace.trainers?.length) return;
    const path = ['searchSpace', 'trainers'];
    if (input.trainer && input.trainer.kind !== 'builtin')
      ctx.addIssue({
        code: 'custom',
        path,
        message: "with `trainer`, every run is that trainer's: list search-space trainers only where the built-in engine trains",
      });
    if (input.strategy !== 'agent')
      ctx.addIssue({
        code: 'custom',
        path,
        message: "search-space trainers join the agent strategy's first wave; random search draws built-in models only",
      });
  })
  .overwrite((input) => ({
    ...input,
    baseline: engineModel(input.baseline, input.data),
    segmentField: engineSegmentField(input.segmentField, input.data),
  }));
export type CampaignInput = z.infer<typeof CampaignInput>;
export type CampaignInputRaw = z.input<typeof CampaignInput>;

export const Decision = z.object({
  kind: z.enum(['approve', 'reject', 'override', 'abort', 'pause', 'resume', 'reminder', 'expired']),
  by: z.string(),
  at: z.string(),
  note: z.string().optional(),
  via: z.enum(['update', 'signal', 'timer']),
});
export type Decision = z.infer<typeof Decision>;

/**
 * The one comparison with the baseline on test, made for the chosen model after it was selected on validation: what
 * the reviewer reads. `constantNe` is the test NE of predicting the training click rate for every row (≥ 1; above 1
 * when the test period's click rate moved away from training's).
 */
export const TestConfirmation = z.object({
  selectedOn: z.literal('validation'),
  ne: z.number(),
  baselineNe: z.number(),
  relativeNeChange: z.number(),
  /** Paired standard error of (NE − baseline NE) on the test rows, when measured. */
  deltaStdErr: z.number().optional(),
  /** The test gain over the baseline exceeds 2 standard errors. */
  significant: z.boolean(),
  constantNe: z.number().optional(),
  auc: z.number(),
  calibration: z.number(),
  /** Test agrees with validation: better than the constant predictor, and not worse than the baseline beyond noise. */
  confirmed: z.boolean(),
  note: z.string().max(1000),
});
export type TestConfirmation = z.infer<typeof TestConfirmation>;

export const Recommendation = z.object({
  experimentId: z.string(),
  artifact: z.string().optional(),
  /** Test metrics of the recommended model (information; the choice was made on validation). */
  metrics: Metrics,
  /** The recommended model's metrics on the validation rows the choice was made on. */
  validationMetrics: ValidationMetrics.optional(),
  relativeNeChange: z.number().optional(),
  rationale: z.string(),
  source: z.enum(['llm', 'heuristic']),
  /** Campaigns that decide on validation: the chosen model's one comparison with the baseline on test. */
  confirmation: TestConfirmation.optional(),
});
export type Recommendation = z.infer<typeof Recommendation>;

export const GuardrailBreach = z.object({ experimentId: z.string(), constraint: z.string(), detail: z.string() });
export type GuardrailBreach = z.infer<typeof GuardrailBreach>;

/** What the onApprove hook did with the approved model (shown in status, the event log and the report). */
export const Promotion = z.object({
  hook: z.string(),
  state: z.enum(['running', 'succeeded', 'failed']),
  experimentId: z.string(),
  artifact: z.string().optional(),
  /** Attempts the hook took (retries included). */
  attempts: z.number().int().optional(),
  at: z.string(),
  /** The end of the hook's output when it succeeded, or why it failed. */
  detail: z.string().optional(),
});
export type Promotion = z.infer<typeof Promotion>;

export const StopReason = z.enum(['budget-experiments', 'budget-train-seconds', 'target-reached', 'stalled', 'plan-complete', 'aborted']);
export type StopReason = z.infer<typeof StopReason>;

/** Something a reviewer must know about the campaign's data before reading its numbers: drift, too few clicks. */
export const DataFinding = z.object({
  kind: z.string().max(60),
  severity: z.enum(['info', 'warning', 'critical']),
  message: z.string().max(1000),
});
export type DataFinding = z.infer<typeof DataFinding>;

/** The smallest relative NE change a split can detect: 2 standard errors of the baseline's NE on its rows. */
export const DetectableChange = z.object({
  split: z.enum(['validation', 'test']),
  rows: z.number().int(),
  clicks: z.number(),
  /** 2 × SE(NE) / NE of the baseline on this split (0.01 = a 1% NE change). */
  relativeNeChange: z.number(),
});
export type DetectableChange = z.infer<typeof DetectableChange>;

/** What the campaign checked about its data before spending its budget (kept across continue-as-new). */
export const DataChecks = z.object({
  /** The training rows' click rate (what a constant predictor predicts). */
  trainCtr: z.number().optional(),
  detectable: z.array(DetectableChange).max(2).default([]),
  findings: z.array(DataFinding).max(40).default([]),
});
export type DataChecks = z.infer<typeof DataChecks>;

export const CampaignStatus = z.object({
  campaignId: z.string(),
  phase: z.enum(PHASES),
  reviewState: z.enum(REVIEW_STATES),
  paused: z.boolean(),
  strategy: z.enum(['agent', 'random']),
  experiments: z.array(ExperimentResult),
  running: z.array(z.string()),
  baselineId: z.string().optional(),
  /**
   * The best model so far, chosen on `decidedOn` (validation; test for campaigns recorded before): `ne` is its test
   * NE (information), `validationNe` the number it was chosen by.
   */
  best: z
    .object({ experimentId: z.string(), ne: z.number(), relativeNeChange: z.number().optional(), validationNe: z.number().optional() })
    .nullable(),
  /** Which rows the campaign's decisions read. */
  decidedOn: z.enum(['validation', 'test']).optional(),
  /** Drift, base rates and the smallest change the data can detect, checked before the budget was spent. */
  dataChecks: DataChecks.optional(),
  recommendation: Recommendation.nullable(),
  guardrailBreaches: z.array(GuardrailBreach),
  decisions: z.array(Decision),
  stopReason: StopReason.optional(),
  /**
   * Full experiments, training seconds of every run (probes included), and compute in full-run equivalents (every
   * attempt counts, a probe its row fraction): what the experiment budget counts in campaigns that probe.
   */
  budgetUsed: z.object({
    experiments: z.number().int(),
    trainSeconds: z.number(),
    compute: z.number().optional(),
    probes: z.number().int().optional(),
  }),
  /** Ideas screened on a row sample before a full run (successive halving); each says whether it was promoted. */
  probes: z.array(ExperimentResult).optional(),
  oracleNe: z.number().optional(),
  /** Malformed data rows the campaign's data loads skipped (from the baseline): count, per file, first examples. */
  badRows: BadRows.optional(),
  /** Sign-off messages that were refused (invalid signals are recorded, never acted on). */
  ignoredMessages: z.array(z.object({ kind: z.string(), by: z.string().optional(), at: z.string(), reason: z.string() })),
  /** The research step (agent strategy): findings on the baseline and data, and the hypotheses ranked from them. */
  research: CampaignResearch.optional(),
  /** The onApprove hook's run, once the campaign was approved (campaigns with a hook). */
  promotion: Promotion.optional(),
});
export type CampaignStatus = z.infer<typeof CampaignStatus>;

/** Payloads of the sign-off messages (updates and signals share them). */
export const ApproveRequest = z.object({ by: z.string().min(1).max(100), note: z.string().max(2000).optional() }).strict();
export const RejectRequest = z.object({ by: z.string().min(1).max(100), reason: z.string().min(1, 'a rejection needs a reason').max(2000) }).strict();
export const OverrideRequest = z
  .object({ by: z.string().min(1).max(100), reason: z.string().min(1, 'an override needs a reason').max(2000) })
  .strict();
export const AbortRequest = z.object({ by: z.string().min(1).max(100), reason: z.string().max(2000).optional() }).strict();
/** Pause and resume name who sent them; they are checked against the campaign's approvers and operators. */
export const PauseRequest = z.object({ by: z.string().min(1).max(100), reason: z.string().max(2000).optional() }).strict();
export const ResumeRequest = PauseRequest;
export type PauseRequest = z.infer<typeof PauseRequest>;
export type ResumeRequest = z.infer<typeof ResumeRequest>;
export type ApproveRequest = z.infer<typeof ApproveRequest>;
export type RejectRequest = z.infer<typeof RejectRequest>;
export type OverrideRequest = z.infer<typeof OverrideRequest>;
export type AbortRequest = z.infer<typeof AbortRequest>;

/**
 * What a campaign carries across continue-as-new (its whole durable state; small by construction). Internal: never
 * part of a start input. `fromRunId` names the run that wrote it, so a continued run can check that its carried
 * state came from the run it continued (a cron or retry run re-uses its starter's arguments and fails that check).
 */
export const CampaignCarryOver = z.object({
  fromRunId: z.string(),
  experiments: z.array(ExperimentResult),
  plan: z.object({
    phaseIndex: z.number().int(),
    phaseLimit: z.number().optional(),
    phaseStartBestNe: z.number().optional(),
    screened: z.boolean().optional(),
  }),
  /** Probes run so far (campaigns that probe). */
  probes: z.array(ExperimentResult).optional(),
  trainRows: z.number().int().optional(),
  decisions: z.array(Decision),
  ignoredMessages: z.array(z.object({ kind: z.string(), by: z.string().optional(), at: z.string(), reason: z.string() })),
  ignoredTotal: z.number().int().min(0).optional(),
  paused: z.boolean(),
  dataFingerprint: z.string(),
  oracleNe: z.number().optional(),
  activeFields: z.array(z.string()),
  generation: z.number().int(),
  research: CampaignResearch.optional(),
  dataChecks: DataChecks.optional(),
});
export type CampaignCarryOver = z.infer<typeof CampaignCarryOver>;
