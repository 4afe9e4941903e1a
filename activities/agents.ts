import type { DataConfig, DesignRequest, DesignResponse, EvaluateRequest, EvaluateResponse, TriageRequest, TriageResponse } from '../contracts';
import {
  designHypotheses,
  designRandomly,
  evaluateResults as evaluateWithAgent,
  interpretFailure as interpretWithAgent,
  llmSettingsFromEnv,
} from '../agents';
import { canonicalConfigKey, dataTraitsOf, InsightsStore } from '../store/insights';

export type AgentMode = 'auto' | 'heuristic' | 'llm';

/**
 * Which LLM the sub-agents may use. `auto` and `llm` use the endpoint configured on this worker
 * (OPENAI_BASE_URL / OPENAI_API_KEY / RANKWRIGHT_LLM_MODEL); without one they run their heuristic twins.
 * Settings come from the worker's environment, never from workflow input, so no secret enters a history.
 */
function llmFor(mode: AgentMode) {
  return mode === 'heuristic' ? null : llmSettingsFromEnv();
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
