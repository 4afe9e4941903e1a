/** The sub-agents (no Temporal here; activities call these). */
export { designHypotheses } from './hypothesis-designer';
export { designHeuristically } from './heuristic-designer';
export { designRandomly } from './random-designer';
export { interpretFailure } from './failure-interpreter';
export { triageHeuristically } from './heuristic-triage';
export { evaluateResults } from './result-evaluator';
export { evaluateHeuristically } from './heuristic-evaluator';
export { llmSettingsFromEnv, makeLlmSettings, type LlmSettings } from './llm';
export { clampToSearchSpace, ModelConfigDraft } from './search-space';
export { canonicalConfigKey, sameModel } from '../contracts/canonical-config';
export { TECHNIQUES, TECHNIQUE_IDS, applicableTechniques, type Technique } from './techniques';
export { compareNe, isSignificantWin } from './significance';
