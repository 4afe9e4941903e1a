import { z } from 'zod';
import { DesignRequest, DesignResponse, type ExperimentSummary, type ProposedExperiment } from '../contracts/agents';
import { canonicalConfigKey } from '../contracts/canonical-config';
import { knownConfigKeys } from './design-context';
import { designHeuristically } from './heuristic-designer';
import { askStructured, type LlmSettings } from './llm';
import { clampToSearchSpace, ModelConfigDraft } from './search-space';
import { applicableTechniques, TECHNIQUE_IDS } from './techniques';
import { UNTRUSTED_DATA_NOTICE, untrustedBlock } from './untrusted-text';

/**
 * The hypothesis designer: an LLM proposes experiments from a compact view of the campaign (summaries only, never
 * data or secrets); every proposal is clamped into the search space and checked against what already ran. Without
 * an LLM, or when its answer is unusable, the heuristic designer answers and `fallbackReason` says why.
 */

const LlmProposal = z.object({
  title: z.string().min(1),
  technique: z.string().min(1),
  rationale: z.string().min(1),
  expectedEffect: z.string().min(1),
  parents: z.array(z.string()).optional(),
  model: ModelConfigDraft,
});
export const LlmDesignAnswer = z.object({ proposals: z.array(LlmProposal).min(1).max(32) });

const PHASE_GUIDE: Record<DesignRequest['phase'], string> = {
  validation: 'validation: test SINGLE changes against the baseline config (one technique per proposal), so each result is attributable.',
  combination:
    'combination: stack the changes that beat the baseline by more than 2 standard errors onto the best config (union of winning crosses, the winning family with those crosses).',
  exploitation: 'exploitation: tune the best config (learning rate x0.5/x2 on a log scale, epochs, embeddingDim, hashBits, l2, lrDecay).',
};

function compactRun(run: ExperimentSummary) {
  return {
    id: run.experimentId,
    phase: run.phase,
    status: run.status,
    ne: run.ne,
    neStdErr: run.neStdErr,
    relativeNeChange: run.relativeNeChange,
    auc: run.auc,
    calibration: run.calibration,
    failureClass: run.failureClass,
    trainSeconds: run.trainSeconds,
    technique: run.hypothesis?.technique,
    hypothesis: run.hypothesis?.title,
    config: run.config,
  };
}

export function designPrompt(req: DesignRequest): { system: string; user: string } {
  const techniques = applicableTechniques(req).map((t) => ({ id: t.id, description: t.description, expectedEffect: t.expectedEffect }));
  const system = [
    'You are the hypothesis designer of an autonomous ranking engineer (ads/recommendation CTR models).',
    'Models: "lr" (hashed logistic regression, FTRL), "fm" (factorization machine), "dcn" (DCN-v2; ~20x slower than lr, fm ~3x).',
    'Metric: normalized entropy (NE), lower is better; a change wins when it lowers NE by more than 2 standard errors.',
    `Phase ${PHASE_GUIDE[req.phase]}`,
    `Propose exactly ${req.count} experiments. Never repeat a config that already ran. Stay inside the search space. Prefer cheap experiments.`,
    'Use fieldPairSignal (residual interaction strength per categorical field pair, measured on the current best model) to pick crosses.',
    'Prefer techniques that won on similar data in the insights; avoid those that lost. Use a technique id from the list when one fits.',
    UNTRUSTED_DATA_NOTICE,
  ].join('\n');
  const context = {
    phase: req.phase,
    count: req.count,
    baseline: compactRun(req.baseline),
    history: req.history.slice(-60).map(compactRun),
    insights: [...req.insights]
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, 30)
      .map((i) => ({
        similarity: i.similarity,
        sameData: i.dataFingerprint === req.dataFingerprint,
        technique: i.technique,
        outcome: i.outcome,
        relativeNeChange: i.relativeNeChange,
        config: i.config,
      })),
    fieldPairSignal: [...req.fieldPairSignal].sort((a, b) => b.strength - a.strength).slice(0, 20),
    searchSpace: req.searchSpace,
    techniques,
  };
  const user = `Campaign context (JSON):\n${untrustedBlock('campaign', JSON.stringify(context), 30000)}\nPropose ${req.count} experiments for the ${req.phase} phase.`;
  return { system, user };
}

/** Shorten to a schema limit without cutting a word in half where possible. */
function fit(text: string, max: number): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean.length <= max) return clean;
  const cut = clean.slice(0, max - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), max / 2))}…`;
}

/** What clamping changed, so a reviewer sees that the LLM's number was not used as is. */
function clampNote(draft: ModelConfigDraft, clamped: ReturnType<typeof clampToSearchSpace>): string {
  const changed: string[] = [];
  if (draft.family !== clamped.family) changed.push(`family ${draft.family} → ${clamped.family}`);
  for (const key of ['learningRate', 'hashBits', 'epochs', 'embeddingDim'] as const) {
    const before = draft[key];
    const after = (clamped as Record<string, unknown>)[key];
    if (before !== undefined && typeof after === 'number' && Math.abs(before - after) > 1e-12 * Math.max(1, Math.abs(before)))
      changed.push(`${key} ${before} → ${after}`);
  }
  if ((draft.crosses?.length ?? 0) > clamped.crosses.length) changed.push(`crosses ${draft.crosses!.length} → ${clamped.crosses.length}`);
  return changed.length ? ` [clamped into the search space: ${changed.join(', ')}]` : '';
}

export async function designHypotheses(input: DesignRequest, llm: LlmSettings | null): Promise<DesignResponse> {
  const req = DesignRequest.parse(input);
  if (!llm) return designHeuristically(req);
  const prompt = designPrompt(req);
  const answer = await askStructured(llm, { name: 'experiment_proposals', system: prompt.system, user: prompt.user, schema: LlmDesignAnswer });
  if (!answer.ok) return { ...designHeuristically(req), fallbackReason: answer.reason };

  const known = knownConfigKeys(req);
  const runIds = new Set([req.baseline.experimentId, ...req.history.map((h) => h.experimentId)]);
  const proposals: ProposedExperiment[] = [];
  let duplicates = 0;
  for (const p of answer.value.proposals) {
    if (proposals.length >= req.count) break;
    const model = clampToSearchSpace(p.model, req.searchSpace);
    const key = canonicalConfigKey(model);
    if (known.has(key)) {
      duplicates++;
      continue;
    }
    known.add(key);
    const technique = TECHNIQUE_IDS.includes(p.technique.trim()) ? p.technique.trim() : fit(p.technique, 80) || 'llm-proposal';
    proposals.push({
      model,
      hypothesis: {
        title: fit(p.title, 200),
        technique,
        rationale: fit(p.rationale, 600 - 160) + clampNote(p.model, model).slice(0, 159),
        expectedEffect: fit(p.expectedEffect, 300),
        parents: [...new Set((p.parents ?? []).filter((id) => runIds.has(id)))].slice(0, 20),
      },
    });
  }
  if (!proposals.length) {
    return { ...designHeuristically(req), fallbackReason: `LLM proposed no usable experiment (${duplicates} repeated configs that already ran)` };
  }
  let fallbackReason: string | undefined;
  if (proposals.length < req.count) {
    // Top up with the heuristic designer, treating the LLM's picks as already taken so nothing repeats.
    const taken = proposals.map((p, i): ExperimentSummary => ({
      experimentId: `llm-proposal-${i}`,
      phase: req.phase,
      family: p.model.family,
      config: p.model,
      status: 'failed',
    }));
    const filler = designHeuristically({ ...req, count: req.count - proposals.length, history: [...req.history, ...taken] });
    proposals.push(
      ...filler.proposals.map((p) => ({ ...p, hypothesis: { ...p.hypothesis, parents: p.hypothesis.parents.filter((id) => runIds.has(id)) } })),
    );
    fallbackReason = `LLM gave ${proposals.length - filler.proposals.length} usable of ${req.count} proposals${duplicates ? ` (${duplicates} repeated configs that already ran)` : ''}; the heuristic designer filled the rest`;
  }
  return DesignResponse.parse({ proposals, source: 'llm', fallbackReason });
}
