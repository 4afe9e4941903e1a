import { z } from 'zod';

/**
 * Who trains an experiment's model. `builtin` (the default) is Rankwright's own engine, inside the worker. An external
 * trainer is a team's own training job — a command (e.g. a Python LightGBM or PyTorch script) or a training service
 * reached over HTTP — that the worker's owner configures by name (RANKWRIGHT_TRAINERS, like promotion hooks): a
 * caller picks a trainer by name and sets its knobs, and can never make a worker run a program or call a URL of their
 * choosing. While an external job runs the experiment holds no worker slot: it sleeps on a durable timer and wakes on
 * a signal or a slow poll, for hours or days, across worker restarts.
 */
export const TrainerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a trainer name: letters, digits, ".", "_" or "-", at most 64');

/** A knob of an external trainer: its name as the trainer reads it (`num_leaves`, `learning_rate`). */
export const KnobName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'a knob name: a letter, then letters, digits, ".", "_" or "-"');
export const KnobValue = z.union([z.number().finite(), z.boolean(), z.string().max(200)]);
export type KnobValue = z.infer<typeof KnobValue>;
/** A set of knob values (no default: see TrainerParams). */
export const KnobValues = z.record(KnobName, KnobValue).refine((p) => Object.keys(p).length <= 64, { message: 'at most 64 knobs' });
export const TrainerParams = KnobValues.default({});
export type TrainerParams = z.infer<typeof TrainerParams>;

/** The range the agent may search one knob in: an integer or float interval (log-scaled or not), or a set of choices. */
export const KnobRange = z.discriminatedUnion('type', [
  z.object({ type: z.literal('int'), min: z.number().int(), max: z.number().int(), log: z.boolean().default(false) }).strict(),
  z.object({ type: z.literal('float'), min: z.number().finite(), max: z.number().finite(), log: z.boolean().default(false) }).strict(),
  z.object({ type: z.literal('choice'), values: z.array(KnobValue).min(1).max(32) }).strict(),
]);
export type KnobRange = z.infer<typeof KnobRange>;

export const TrainerSearchSpace = z.record(KnobName, KnobRange).superRefine((space, ctx) => {
  if (Object.keys(space).length > 32) ctx.addIssue({ code: 'custom', message: 'at most 32 knobs to search' });
  for (const [name, range] of Object.entries(space)) {
    if (range.type === 'choice') continue;
    if (range.min > range.max) ctx.addIssue({ code: 'custom', path: [name], message: `${name}: min ${range.min} is above max ${range.max}` });
    if (range.log && range.min <= 0) ctx.addIssue({ code: 'custom', path: [name, 'min'], message: `${name}: a log-scaled range needs min > 0` });
  }
});
export type TrainerSearchSpace = z.infer<typeof TrainerSearchSpace>;

export const BuiltinTrainer = z.object({ kind: z.literal('builtin') }).strict();

export const ExternalTrainer = z
  .object({
    /** Must match how the worker configured the name: a `command` or a `url` (an `http` trainer). */
    kind: z.enum(['command', 'http']),
    name: TrainerName,
    /** The trainer's knobs for this experiment (a campaign: the baseline's; the agent varies them within searchSpace). */
    params: TrainerParams,
    /** Campaigns only: the knobs the agent may search, and their ranges. Without it every experiment runs `params`. */
    searchSpace: TrainerSearchSpace.optional(),
    /** How long one job may run before it is cancelled and the experiment fails (default 7 days). */
    timeoutSeconds: z
      .number()
      .int()
      .min(10)
      .max(90 * 86_400)
      .default(7 * 86_400),
    /**
     * The slowest the experiment polls a running job (it starts at a second and doubles up to this). A finished-job
     * signal wakes it at once; the poll is the fallback that needs nothing from the trainer.
     */
    pollSeconds: z.number().int().min(1).max(3_600).default(300),
  })
  .strict();
export type ExternalTrainer = z.infer<typeof ExternalTrainer>;

export const TrainerChoice = z.union([BuiltinTrainer, ExternalTrainer]);
export type TrainerChoice = z.infer<typeof TrainerChoice>;

/** What an experiment trained by an external job reports about it (on its result, in status and the report). */
export const ExternalJob = z.object({
  kind: z.enum(['command', 'http']),
  name: z.string(),
  params: z.record(z.string(), KnobValue),
  jobId: z.string(),
  /** Seconds from submission to the job's end, as the workflow's clock saw it. */
  waitedSeconds: z.number().optional(),
  /** Polls the experiment made, and whether a signal woke it. */
  polls: z.number().int().optional(),
  signalled: z.boolean().optional(),
});
export type ExternalJob = z.infer<typeof ExternalJob>;

/** The signal that tells an experiment its external job finished (sent by the HTTP service or the job's owner). */
export const TrainingJobFinished = z.object({ jobId: z.string().min(1).max(200) }).strict();
export type TrainingJobFinished = z.infer<typeof TrainingJobFinished>;

/** An external run in one line: the trainer and its knobs (`lightgbm num_leaves=15 learning_rate=0.05`). */
export function externalTrainerLabel(job: Pick<ExternalJob, 'name' | 'params'>, knobs = true): string {
  const values = knobs ? Object.entries(job.params).map(([k, v]) => `${k}=${String(v)}`) : [];
  return [job.name, ...values].join(' ').slice(0, 500);
}
