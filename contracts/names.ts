/**
 * Public names. Other services (Web UI users, Python/Go starters, dashboards) depend on these strings:
 * change one only with a migration note in the README.
 */
export const WORKFLOW_TYPES = {
  campaign: 'rankingCampaign',
  experiment: 'rankingExperiment',
} as const;

export const TASK_QUEUES = {
  /** Workflows and sub-agent (LLM / heuristic) activities. */
  agent: 'rankwright-agent',
  /** Training and scoring activities: the queue GPU machines serve. */
  training: 'rankwright-training',
} as const;

export const UPDATES = { approve: 'approve', reject: 'reject', override: 'override', abort: 'abort', pause: 'pause', resume: 'resume' } as const;
export const SIGNALS = {
  approve: 'approve',
  reject: 'reject',
  override: 'override',
  abort: 'abort',
  pause: 'pause',
  resume: 'resume',
  /** To an experiment (workflow id = experiment id): its external training job finished; poll it now. */
  trainingJobFinished: 'trainingJobFinished',
} as const;
export const QUERIES = { status: 'status' } as const;

/** Search attributes registered on the dev server by temporal-dev.sh (name → Temporal type). */
export const SEARCH_ATTRIBUTES = {
  CampaignId: 'Keyword',
  Phase: 'Keyword',
  ReviewState: 'Keyword',
  ModelFamily: 'Keyword',
  BestNE: 'Double',
} as const;

export const REVIEW_STATES = ['running', 'awaiting-review', 'needs-review', 'approved', 'rejected', 'aborted'] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];

export const PHASES = ['baseline', 'validation', 'combination', 'exploitation', 'evaluation', 'review', 'done'] as const;
export type Phase = (typeof PHASES)[number];

/** Event log schema version, bumped on any incompatible change of contracts/events.ts. */
export const EVENT_SCHEMA_VERSION = 1;
