import { ApplicationFailure } from '@temporalio/activity';
import type {
  DataConfig,
  DesignRequest,
  DesignResponse,
  EvaluateRequest,
  EvaluateResponse,
  ProposedExperiment,
  TriageRequest,
  TriageResponse,
} from '../contracts';
import {
  designHypotheses,
  designRandomly,
  evaluateResults as evaluateWithAgent,
  interpretFailure as interpretWithAgent,
  llmSettingsFromEnv,
  type LlmSettings,
} from '../agents';
import { canonicalConfigKey, dataTraitsOf, InsightsStore } from '../store/insights';

export type AgentMode = 'auto' | 'heuristic' | 'llm';

/** The failure type a campaign sees when `agents: "llm"` meets a worker without an LLM endpoint. */
export const LLM_NOT_CONFIGURED = 'LlmNotConfigured';

/**
 * Which LLM the sub-agents may use. `auto` uses the endpoint configured on this worker (OPENAI_BASE_URL /
 * OPENAI_API_KEY / RANKWRIGHT_LLM_MODEL) and runs the heuristic twins without one; `llm` insists on one: without it
 * the activity fails, non-retryably, instead of quietly running heuristics the campaign did not ask for.
 * Settings come from the worker's environment, never from workflow input, so no secret enters a history.
 */
export function llmFor(mode: AgentMode, env: NodeJS.ProcessEnv = process.env): LlmSettings | null {
  if (mode === 'heuristic') return null;
  const settings = llmSettingsFromEnv(env);
  if (!settings && mode === 'llm') {
    throw ApplicationFailure.create({
      type: LLM_NOT_CONFIGURED,
      nonRetryable: true,
      message:
        'the campaign asks for LLM sub-agents (agents: "llm") but this worker has no LLM endpoint: set OPENAI_BASE_URL ' +
        "(any OpenAI-compatible server, e.g. `rankwright llm-server`) and/or OPENAI_API_KEY in the worker's environment, " +
        'or start the campaign with agents "auto" or "heuristic"',
    });
  }
  return settings;
}

/** Fails (like the sub-agents would) when `mode` needs an LLM endpoint this worker does not have; for an early check. */
export async function checkAgentEndpoint(mode: AgentMode): Promise<void> {
  llmFor(mode);
}

/**
 * The hypothesis designer. The workflow sends what it knows (history, interaction signal); this activity adds
 * the insights database — every past experiment of every campaign — as the second source of hypotheses.
 */
export async function designExperiments(
  request: Omit<DesignRequest, 'insights'>,
  options: { mode: AgentMode; strategy: 'agent' | 'random'; data: DataConfig },
): Promise<DesignResponse> {
  const insights = InsightsStore.open();
  try {
    // What describing the data and the research step recorded about it; the config alone says little.
    const dataTraits = insights.dataTraits(request.dataFingerprint) ?? dataTraitsOf(options.data);
    const found = insights.findInsights({ dataFingerprint: request.dataFingerprint, dataTraits, limit: 200 });
    const full: DesignRequest = { ...request, insights: found };
    const response = options.strategy === 'random' ? designRandomly(full) : await designHypotheses(full, llmFor(options.mode));
    // Never spend budget on something the insights database already measured on this very data, except a warm start:
    // an earlier winner re-run once so this campaign can stack on (and recommend) its own measurement of it.
    const proposals = response.proposals.filter(
      (p) =>
        options.strategy === 'random' ||
        p.hypothesis.technique === 'warm-start' ||
        !insights.isKnown(request.dataFingerprint, canonicalConfigKey(p.model)),
    );
    // Say what was dropped (whatever designed it), so a reviewer does not wonder where a proposal went.
    const dropped = response.proposals.filter((p) => !proposals.includes(p));
    if (!dropped.length) return { ...response, proposals };
    return { ...response, proposals, llmNotes: withDropNotes(response.llmNotes ?? [], dropped) };
  } finally {
    insights.close();
  }
}

/** DesignResponse caps llmNotes at this many entries of at most NOTE_CHARS characters. */
const MAX_NOTES = 64;
const NOTE_CHARS = 1000;

/** The notes plus one per dropped proposal; past the cap, the last note says how many more were dropped. */
function withDropNotes(notes: readonly string[], dropped: readonly ProposedExperiment[]): string[] {
  const lines = dropped.map((p) =>
    `dropped '${p.hypothesis.title.slice(0, 200)}': this config already ran on this data (insights database)`.slice(0, NOTE_CHARS),
  );
  const room = MAX_NOTES - notes.length;
  if (room <= 0) return notes.slice(0, MAX_NOTES);
  if (lines.length <= room) return [...notes, ...lines];
  return [
    ...notes,
    ...lines.slice(0, room - 1),
    `dropped ${lines.length - room + 1} ${room > 1 ? 'more ' : ''}proposals whose configs already ran on this data (insights database)`,
  ];
}

export async function interpretFailure(request: TriageRequest, mode: AgentMode): Promise<TriageResponse> {
  return interpretWithAgent(request, llmFor(mode));
}

export async function evaluateResults(request: EvaluateRequest, mode: AgentMode): Promise<EvaluateResponse> {
  return evaluateWithAgent(request, llmFor(mode));
}
