import { z } from 'zod';
import { EvaluateRequest, EvaluateResponse, type CandidateView } from '../contracts/agents';
import { assessCandidates, evaluateHeuristically } from './heuristic-evaluator';
import { askStructured, type LlmSettings } from './llm';
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

export function evaluatePrompt(req: EvaluateRequest): { system: string; user: string } {
  const assessed = assessCandidates(req);
  const system = [
    'You are the result evaluator of an autonomous ranking engineer. Rank candidate models by test NE (normalized entropy, lower is better).',
    'Recommend at most one candidate: it must have no guardrail violations and be significantly better than the baseline (significantVsBaseline = true).',
    'If none qualifies, recommend null and say so. Your rationale must give the relative NE change in %, AUC, calibration, the share of the oracle gain',
    'captured when oracleNe is given, and the runner-up and why it was not chosen. Humans review your advice; you cannot approve or deploy.',
    UNTRUSTED_DATA_NOTICE,
  ].join('\n');
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
    candidates: assessed.map((a) => compactCandidate(a.candidate, a.significant)),
  };
  return { system, user: `Evaluation context (JSON):\n${untrustedBlock('candidates', JSON.stringify(context), 30000)}` };
}

export async function evaluateResults(input: EvaluateRequest, llm: LlmSettings | null): Promise<EvaluateResponse> {
  const req = EvaluateRequest.parse(input);
  const heuristic = evaluateHeuristically(req);
  if (!llm) return heuristic;
  const prompt = evaluatePrompt(req);
  const answer = await askStructured(llm, { name: 'evaluation', system: prompt.system, user: prompt.user, schema: LlmEvaluateAnswer });
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
