import { ApplicationFailure } from '@temporalio/activity';
import type { DataConfig, DesignRequest, DesignResponse, EvaluateRequest, EvaluateResponse, TriageRequest, TriageResponse } from '../contracts';
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
    const dataTraits = dataTraitsOf(options.data);
    const found = insights.findInsights({ dataFingerprint: request.dataFingerprint, dataTraits, limit: 200 });
    const full: DesignRequest = { ...request, insights: found };
    const response = options.strategy === 'random' ? designRandomly(full) : await designHypotheses(full, llmFor(options.mode));
    // Never spend budget on something the insights database already measured on this very data.
    const proposals = response.proposals.filter(
      (p) => options.strategy === 'random' || !insights.isKnown(request.dataFingerprint, canonicalConfigKey(p.model)),
    );
    return { ...response, proposals };
  } finally {
    insights.close();
  }
}

export async function interpretFailure(request: TriageRequest, mode: AgentMode): Promise<TriageResponse> {
  return interpretWithAgent(request, llmFor(mode));
}

export async function evaluateResults(request: EvaluateRequest, mode: AgentMode): Promise<EvaluateResponse> {
  return evaluateWithAgent(request, llmFor(mode));
}
