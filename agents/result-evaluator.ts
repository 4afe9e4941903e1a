import { z } from 'zod';
import { EvaluateRequest, EvaluateResponse, type CandidateView } from '../contracts/agents';
import { assessCandidates, evaluateHeuristically } from './heuristic-evaluator';
import { askStructured, CHARS_PER_TOKEN, DEFAULT_PROMPT_TOKENS, estimateTokens, promptBudget, promptJson, type LlmSettings } from './llm';
import { UNTRUSTED_DATA_NOTICE, untrustedBlock } from './untrusted-text';

/**
 * The result evaluator. The LLM may reorder and explain, nothing more: significance flags are computed here, and
 * its recommendation must be a candidate that is present, measured, free of guardrail violations (those come from
 * the workflow and are authoritative) and significantly better than the baseline. Anything else falls back to the
 * heuristic twin. No answer of the evaluator approves anything; humans sign off.
 */

export const LlmEvaluateAnswer = z.object({
  ranking: z.array(z.object({ experimentId: z.string(), note: z.string() })),
  recommended: z.string().nullable(),
  rationale: z.string().min(1),
});

function compactCandidate(c: CandidateView, significant: boolean) {
  return {
    id: c.experimentId,
    status: c.status,
    family: c.config.family,
    crosses: c.config.crosses.length,
    ne: c.ne,
    neStdErr: c.neStdErr,
    relativeNeChange: c.relativeNeChange,
    significantVsBaseline: significant,
    auc: c.auc,
    calibration: c.calibration,
    trainSeconds: c.trainSeconds,
    modelBytes: c.modelBytes,
    guardrailViolations: c.guardrailViolations,
    hypothesis: c.hypothesis?.title,
  };
}

/**
 * What the server is asked for: candidate ids as an enum (a grammar then cannot invent one), bounded text. The
 * answer is validated with the lenient LlmEvaluateAnswer, so a model without a grammar still gets a precise reason.
 */
export function evaluateAnswerWire(req: EvaluateRequest) {
  const ids = [...new Set(req.candidates.map((c) => c.experimentId))];
  if (!ids.length) return undefined;
  const id = z.enum(ids as [string, ...string[]]);
  return z.object({
    ranking: z.array(z.object({ experimentId: id, note: z.string().max(200) })).max(ids.length),
    recommended: id.nullable(),
    // Bounded so the whole answer fits a local server's default max_tokens (llama.cpp's grammars refuse 2000 anyway).
    rationale: z.string().min(1).max(600),
  });
}

/**
 * The evaluator's prompt; its data part stays within `budgetTokens` estimated tokens: with many candidates only the
 * best by NE are shown (the others keep their place at the end of the ranking, in NE order).
 */
export function evaluatePrompt(req: EvaluateRequest, budgetTokens = DEFAULT_PROMPT_TOKENS): { system: string; user: string; trimmed?: string } {
  const assessed = assessCandidates(req);
  const system = [
    `You are the result evaluator of an autonomous ranking engineer. Rank candidate models by ${req.baseline.measuredOn ?? 'test'} NE (normalized entropy, lower is better).`,
    ...(req.baseline.measuredOn === 'validation'
      ? ['Every NE, AUC and calibration below is measured on the validation rows; the workflow confirms your pick on test itself, once.']
      : []),
    'Recommend at most one candidate: it must have no guardrail violations and be significantly better than the baseline (significantVsBaseline = true).',
    'If none qualifies, recommend null and say so. Your rationale must give the relative NE change in %, AUC, calibration, the share of the oracle gain',
    'captured when oracleNe is given, and the runner-up and why it was not chosen. Humans review your advice; you cannot approve or deploy.',
    UNTRUSTED_DATA_NOTICE,
  ].join('\n');
  const byNe = [...assessed].sort((a, b) => (a.candidate.ne ?? Infinity) - (b.candidate.ne ?? Infinity));
  const render = (limit: number) => {
    const shown = new Set(byNe.slice(0, limit));
    const context = {
      baseline: {
        id: req.baseline.experimentId,
        ne: req.baseline.ne,
        neStdErr: req.baseline.neStdErr,
        auc: req.baseline.auc,
        calibration: req.baseline.calibration,
      },
      oracleNe: req.oracleNe,
      guardrails: req.guardrails,
      candidates: assessed.filter((a) => shown.has(a)).map((a) => compactCandidate(a.candidate, a.significant)),
    };
    return `Evaluation context (JSON):\n${untrustedBlock('candidates', promptJson(context), Math.floor(budgetTokens * CHARS_PER_TOKEN))}`;
  };
  let limit = assessed.length;
  let user = render(limit);
  while (estimateTokens(user) > budgetTokens && limit > 2) user = render((limit = Math.max(2, Math.floor(limit / 2))));
  if (limit >= assessed.length) return { system, user };
  return { system, user, trimmed: `prompt trimmed to its ${budgetTokens}-token budget: the best ${limit} of ${assessed.length} candidates shown` };
}

export async function evaluateResults(input: EvaluateRequest, llm: LlmSettings | null): Promise<EvaluateResponse> {
  const req = EvaluateRequest.parse(input);
  const heuristic = evaluateHeuristically(req);
  if (!llm) return heuristic;
  const prompt = evaluatePrompt(req, promptBudget(llm));
  const answer = await askStructured(llm, {
    name: 'evaluation',
    system: prompt.system,
    user: prompt.user,
    schema: LlmEvaluateAnswer,
    wire: evaluateAnswerWire(req),
  });
  if (!answer.ok) return { ...heuristic, fallbackReason: answer.reason };

  const assessed = assessCandidates(req);
  const byId = new Map(assessed.map((a) => [a.candidate.experimentId, a]));
  const recommended = answer.value.recommended;
  if (recommended !== null) {
    const a = byId.get(recommended);
    const problem = !a
      ? 'is not one of the candidates'
      : a.candidate.guardrailViolations.length
        ? `violates guardrails (${a.candidate.guardrailViolations.join('; ')})`
        : !a.eligible
          ? 'is not eligible (failed or unmeasured)'
          : !a.significant
            ? 'does not beat the baseline significantly'
            : undefined;
    if (problem) return { ...heuristic, fallbackReason: `LLM recommended ${JSON.stringify(recommended.slice(0, 80))}, which ${problem}` };
  }
  // Keep the LLM's order for the ids it knows, then every candidate it left out in NE order; flags stay ours.
  const heuristicNotes = new Map(heuristic.ranking.map((r) => [r.experimentId, r.note]));
  const seen = new Set<string>();
  const ranking: EvaluateResponse['ranking'] = [];
  for (const r of [...answer.value.ranking, ...heuristic.ranking.map((h) => ({ experimentId: h.experimentId, note: '' }))]) {
    const a = byId.get(r.experimentId);
    if (!a || seen.has(r.experimentId)) continue;
    seen.add(r.experimentId);
    ranking.push({
      experimentId: r.experimentId,
      significant: a.significant,
      note: (r.note.trim() || heuristicNotes.get(r.experimentId) || '').slice(0, 500),
    });
  }
  return EvaluateResponse.parse({ ranking, recommended, rationale: answer.value.rationale.slice(0, 4000), source: 'llm' });
}
