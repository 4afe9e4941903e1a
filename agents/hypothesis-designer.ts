import { z } from 'zod';
import { DesignRequest, DesignResponse, type ExperimentSummary, type ProposedExperiment } from '../contracts/agents';
import { canonicalConfigKey } from '../contracts/canonical-config';
import { FIELD_NAMES } from '../contracts/data';
import { engineModel, type FieldEntry } from '../contracts/field-names';
import { FIELD_TRANSFORMS, HASH_SPACES, MODEL_FAMILIES, ModelConfig, type ModelFamily } from '../contracts/model';
import { activeCategoricalFields, improvedOnThisData, knownConfigKeys } from './design-context';
import { costModelFor, describePrediction, predictTrainingSeconds } from './cost-model';
import { designHeuristically } from './heuristic-designer';
import { askStructured, CHARS_PER_TOKEN, DEFAULT_PROMPT_TOKENS, promptBudget, promptJson, type LlmSettings } from './llm';
import { clampToSearchSpace, ModelConfigDraft } from './search-space';
import { applicableTechniques, TECHNIQUE_IDS } from './techniques';
import { UNTRUSTED_DATA_NOTICE, untrustedBlock } from './untrusted-text';

/**
 * The hypothesis designer: an LLM proposes experiments from a compact view of the campaign (summaries only, never
 * data or secrets); every proposal is clamped into the search space and checked against what already ran. Without
 * an LLM, or when its answer is unusable, the heuristic designer answers and `fallbackReason` says why.
 */

/** An optional knob as an adviser may send it: absent, null (= "leave the default") or a value. */
const knob = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

/**
 * A proposal's model config as validated: ModelConfigDraft's keys, each also nullable (structured-output servers
 * write every key of a schema, so "not set" arrives as null). Lenient on values: clamping keeps the idea.
 */
const LlmModelDraft = z.object({
  family: z.enum(MODEL_FAMILIES),
  learningRate: knob(z.number()),
  hashBits: knob(z.number()),
  epochs: knob(z.number()),
  embeddingDim: knob(z.number()),
  crosses: knob(z.array(z.array(z.string()))),
  denseTransform: knob(z.string()),
  fields: knob(z.record(z.string(), z.unknown())),
  hashSpace: knob(z.string()),
  l2: knob(z.number()),
  l1: knob(z.number()),
  ftrlBeta: knob(z.number()),
  lrDecay: knob(z.number()),
  gradientClip: knob(z.number()),
  batchSize: knob(z.number()),
  crossLayers: knob(z.number()),
  crossRank: knob(z.union([z.literal('full'), z.number()])),
  mlp: knob(z.array(z.number())),
  seed: knob(z.number()),
  checkpointEvery: knob(z.number()),
});
const MODEL_KEYS = new Set(Object.keys(LlmModelDraft.shape));

const LlmProposal = z.object({
  title: z.string().min(1),
  technique: z.string().min(1),
  rationale: z.string().min(1),
  expectedEffect: z.string().min(1),
  parents: z.array(z.string()).nullish(),
  model: LlmModelDraft,
});
export const LlmDesignAnswer = z.object({ proposals: z.array(LlmProposal).min(1).max(32) });

/**
 * The shape the server is asked for: what a grammar can enforce (allowed families, field names, transforms, at most
 * `count` proposals, bounded text). Every key is present and nullable, as strict structured output requires; number
 * ranges are not in it (grammars do not enforce them): clamping does that, and says so.
 */
export function designAnswerWire(req: DesignRequest) {
  // The fields this data carries (all categorical fields when unknown): a grammar then writes no other name.
  const active = activeCategoricalFields(req);
  // With a declared schema the designer writes column names (multi-valued ones by value: `interests[2]`), or slots.
  const labels = new Map((req.fields ?? []).map((f) => [f.slot, f.label]));
  const slots = active.length >= 2 ? active : FIELD_NAMES;
  const fields = [...new Set([...slots.map((f) => labels.get(f)).filter((l): l is string => !!l), ...slots])] as [string, ...string[]];
  const n = z.number().nullable();
  const int = z.number().int().nullable();
  return z.object({
    proposals: z
      .array(
        z.object({
          title: z.string().min(1).max(120),
          technique: z.string().min(1).max(80),
          rationale: z.string().min(1).max(400),
          expectedEffect: z.string().min(1).max(160),
          parents: z.array(z.string().max(80)).max(3),
          model: z.object({
            family: z.enum(req.searchSpace.families as [ModelFamily, ...ModelFamily[]]),
            learningRate: n,
            hashBits: int,
            epochs: int,
            embeddingDim: int,
            crosses: z
              .array(z.array(z.enum(fields)).min(2).max(3))
              .max(Math.max(1, Math.min(req.searchSpace.maxCrosses, 8)))
              .nullable(),
            denseTransform: z.enum(FIELD_TRANSFORMS).nullable(),
            hashSpace: z.enum(HASH_SPACES).nullable(),
            l2: n,
            l1: n,
            lrDecay: n,
            gradientClip: n,
            crossLayers: int,
            // A DCN's low-rank cross layers (W ≈ V·U of this rank); null keeps full rank.
            crossRank: int,
            mlp: z.array(z.number().int()).max(6).nullable(),
          }),
        }),
      )
      .min(1)
      .max(req.count),
  });
}

const PHASE_GUIDE: Record<DesignRequest['phase'], string> = {
  validation: 'validation: test SINGLE changes against the baseline config (one technique per proposal), so each result is attributable.',
  combination:
    'combination: stack the changes that beat the baseline by more than 2 standard errors onto the best config (union of winning crosses, the winning family with those crosses).',
  exploitation: 'exploitation: tune the best config (learning rate x0.5/x2 on a log scale, epochs, embeddingDim, hashBits, l2, lrDecay).',
};

/**
 * The config's keys that differ from `reference`, by default its family's defaults (the whole config costs ~4x the
 * tokens). The family is always shown.
 */
function configDiff(config: ModelConfig, reference?: ModelConfig): Record<string, unknown> {
  const defaults = (reference ?? ModelConfig.parse({ family: config.family })) as Record<string, unknown>;
  const out: Record<string, unknown> = { family: config.family };
  for (const [key, value] of Object.entries(config)) {
    if (JSON.stringify(value) !== JSON.stringify(defaults[key])) out[key] = value;
  }
  return out;
}

function compactRun(run: ExperimentSummary, fullConfig = false) {
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
    config: fullConfig ? run.config : configDiff(run.config),
  };
}

/** How much of the campaign a prompt shows; shrunk step by step until the prompt fits its token budget. */
interface ContextLimits {
  history: number;
  insights: number;
  pairs: number;
  techniqueDetails: boolean;
  /** Research hypotheses kept, best ranked first. */
  research: number;
}
/**
 * The research step's hypotheses are measurements on this baseline: they are cut last, lowest ranked first, and the
 * top MIN_RESEARCH stay (only the final cut of the block can shorten them further).
 */
const MIN_RESEARCH = 3;
const CONTEXT_STEPS: readonly ContextLimits[] = [
  { history: 60, insights: 30, pairs: 20, techniqueDetails: true, research: Infinity },
  { history: 30, insights: 15, pairs: 15, techniqueDetails: true, research: Infinity },
  { history: 16, insights: 8, pairs: 12, techniqueDetails: true, research: Infinity },
  { history: 8, insights: 5, pairs: 10, techniqueDetails: false, research: Infinity },
  { history: 4, insights: 2, pairs: 6, techniqueDetails: false, research: Infinity },
  { history: 0, insights: 0, pairs: 4, techniqueDetails: false, research: Infinity },
  { history: 0, insights: 0, pairs: 4, techniqueDetails: false, research: 8 },
  { history: 0, insights: 0, pairs: 4, techniqueDetails: false, research: 5 },
  { history: 0, insights: 0, pairs: 4, techniqueDetails: false, research: MIN_RESEARCH },
];

/** The runs a shorter prompt keeps: the best third by NE and the most recent rest, in campaign order. */
function keptHistory(history: readonly ExperimentSummary[], limit: number): ExperimentSummary[] {
  if (history.length <= limit) return [...history];
  const best = new Set(
    history
      .filter((h) => h.status === 'succeeded' && h.ne !== undefined)
      .sort((a, b) => a.ne! - b.ne!)
      .slice(0, Math.ceil(limit / 3)),
  );
  const recent = history.filter((h) => !best.has(h)).slice(-(limit - best.size));
  const kept = new Set([...best, ...recent]);
  return history.filter((h) => kept.has(h));
}

function designContext(req: DesignRequest, limits: ContextLimits) {
  return {
    phase: req.phase,
    count: req.count,
    baseline: compactRun(req.baseline, true),
    research: req.research.slice(0, limits.research).map((h, i) => ({
      rank: i + 1,
      title: h.hypothesis.title,
      technique: h.hypothesis.technique,
      expectedGain: h.expectedGain,
      cost: h.cost,
      evidence: h.evidence,
      config: configDiff(h.model, req.baseline.config),
    })),
    history: keptHistory(req.history, limits.history).map((h) => compactRun(h)),
    insights: [...req.insights]
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, limits.insights)
      .map((i) => ({
        similarity: i.similarity,
        sameData: i.dataFingerprint === req.dataFingerprint,
        technique: i.technique,
        outcome: i.outcome,
        relativeNeChange: i.relativeNeChange,
        config: configDiff(i.config),
      })),
    ...(req.fields?.length ? { fields: designerFields(req.fields) } : {}),
    fieldPairSignal: [...req.fieldPairSignal].sort((a, b) => b.strength - a.strength).slice(0, limits.pairs),
    searchSpace: req.searchSpace,
    techniques: applicableTechniques(req).map((t) =>
      limits.techniqueDetails ? { id: t.id, description: t.description, expectedEffect: t.expectedEffect } : { id: t.id },
    ),
  };
}

/**
 * Each family's default run on this data as the cost model predicts it (agents/cost-model.ts): numbers this code
 * computed, so they sit in the instructions, not in the size-budgeted data block.
 */
function predictedCostLine(req: DesignRequest): string {
  const costs = costModelFor(req);
  const runs = MODEL_FAMILIES.map((family) => `${family} ${describePrediction(predictTrainingSeconds(costs, ModelConfig.parse({ family })))}`);
  return `Predicted training time of each family's default run on this data: ${runs.join(', ')}. A research hypothesis's cost is its predicted time relative to the baseline's.`;
}

export interface DesignPrompt {
  system: string;
  user: string;
  /** Set when the campaign context had to be shortened to fit the budget: what was left out. */
  trimmed?: string;
}

/**
 * The designer's prompt. Its data part (the user message) is kept within `budgetTokens` estimated tokens (chars /
 * CHARS_PER_TOKEN), so a small local model with an 8k context can read it: history, insights and field pairs shrink step by step
 * (the best runs and the most recent ones stay, insights from other data go first), then the research hypotheses from the
 * lowest ranked (the top MIN_RESEARCH stay), and only then is the block cut.
 */
export function designPrompt(req: DesignRequest, budgetTokens = DEFAULT_PROMPT_TOKENS): DesignPrompt {
  const system = [
    'You are the hypothesis designer of an autonomous ranking engineer (ads/recommendation CTR models).',
    'Models: "lr" (hashed logistic regression, FTRL), "fm" (factorization machine), "dcn" (DCN-v2, the slowest).',
    predictedCostLine(req),
    'Metric: normalized entropy (NE), lower is better; a change wins when it lowers NE by more than 2 standard errors.',
    `Phase ${PHASE_GUIDE[req.phase]}`,
    `Propose exactly ${req.count} experiments. Never repeat a config that already ran. Stay inside the search space. Prefer cheap experiments.`,
    'Use fieldPairSignal (residual interaction strength per categorical field pair, measured on the current best model) to pick crosses.',
    'Prefer techniques that won on similar data in the insights; avoid those that lost. Use a technique id from the list when one fits.',
    'Technique "warm-start" re-runs the best earlier winner on this data from the insights (the one repeat allowed) or adapts the winner of similar data.',
    'research lists hypotheses the research step MEASURED on this baseline (residual signal, importance, learning curve), best',
    'expected gain per unit of cost first: expectedGain is the expected relative NE reduction (0.01 = 1%), cost the training cost',
    'relative to the baseline. In the validation phase prefer them, highest ranked first, over unmeasured ideas.',
    'Configs in the context list only the keys that differ from their family defaults (research configs: from the baseline config;',
    'the baseline config is complete). In your proposals, set only the keys you change and use null for the others.',
    ...(req.fields?.length
      ? [
          'The data is a team\'s own table: "fields" maps each engine slot (I1, I2, … dense, C1, C2, … categorical: as many as the table has) to its column name.',
          'Configs and signals in the context use slots; in your proposals (titles, rationales, crosses, fields) use the column names.',
          'A list (multi-valued) column is one field: fm and dcn pool its values\u2019 embeddings (mean, or sum with fields.name.pooling), lr weighs each value;',
          'its knobs (drop, hashBits, pooling) name the column. A cross takes one of its values (name[1], name[2], ...), never the whole column.',
        ]
      : []),
    UNTRUSTED_DATA_NOTICE,
  ].join('\n');
  const frame = (json: string, maxChars: number) =>
    `Campaign context (JSON):\n${untrustedBlock('campaign', json, maxChars)}\nPropose ${req.count} experiments for the ${req.phase} phase.`;
  const maxChars = Math.floor(budgetTokens * CHARS_PER_TOKEN);
  // The frame around the JSON, and room for the block's "[... N characters cut]" marker.
  const overhead = frame('', Infinity).length + 60;
  let step = 0;
  let json = promptJson(designContext(req, CONTEXT_STEPS[0]));
  while (json.length > maxChars - overhead && step + 1 < CONTEXT_STEPS.length) json = promptJson(designContext(req, CONTEXT_STEPS[++step]));
  // Whatever still does not fit is cut at the end of the block (search space and techniques come last).
  const user = frame(json, Math.max(200, maxChars - overhead));
  if (step === 0 && user.length <= maxChars) return { system, user };
  const limits = CONTEXT_STEPS[step];
  const shown = (what: string, total: number, kept: number) => (total > kept ? `${what} ${kept} of ${total}` : undefined);
  const parts = [
    shown('history runs', req.history.length, Math.min(req.history.length, limits.history)),
    shown('insights', req.insights.length, Math.min(req.insights.length, limits.insights)),
    shown('field pairs', req.fieldPairSignal.length, Math.min(req.fieldPairSignal.length, limits.pairs)),
    shown('research hypotheses', req.research.length, Math.min(req.research.length, limits.research)),
    limits.techniqueDetails ? undefined : 'technique ids without descriptions',
    json.length > maxChars - overhead ? `context cut at ${maxChars - overhead} characters` : undefined,
  ].filter(Boolean);
  return { system, user, trimmed: `prompt trimmed to its ${budgetTokens}-token budget: ${parts.join(', ')}` };
}

/** Shorten to a schema limit without cutting a word in half where possible. */
function fit(text: string, max: number): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean.length <= max) return clean;
  const cut = clean.slice(0, max - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), max / 2))}…`;
}

function short(value: unknown): string {
  if (typeof value === 'number') return String(Number(value.toPrecision(4)));
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** Knobs that only some families have (clamping drops them from the others). */
const FAMILY_KEYS: Record<string, readonly ModelFamily[]> = {
  embeddingDim: ['fm', 'dcn'],
  crossLayers: ['dcn'],
  crossRank: ['dcn'],
  mlp: ['dcn'],
  l1: ['lr'],
  ftrlBeta: ['lr'],
};

/** What clamping changed or dropped, key by key, so a reviewer sees which of the LLM's values were not used as is. */
export function clampChanges(draft: ModelConfigDraft, clamped: ModelConfig): string[] {
  const changes: string[] = [];
  if (draft.family !== clamped.family) changes.push(`family ${draft.family} → ${clamped.family}`);
  const out = clamped as Record<string, unknown>;
  for (const [key, before] of Object.entries(draft)) {
    if (key === 'family' || before === undefined) continue;
    const after = out[key];
    if (key === 'crosses') {
      const kept = new Set(clamped.crosses.map((c) => [...c].sort().join('×')));
      const dropped = (before as string[][]).filter((c) => !kept.delete([...c].map(String).sort().join('×')));
      if (dropped.length)
        changes.push(
          `crosses dropped: ${dropped
            .map((c) => c.join('×'))
            .join(', ')
            .slice(0, 80)}`,
        );
    } else if (key === 'fields') {
      const total = Object.keys(before as object).length;
      const kept = Object.keys((after as object | undefined) ?? {}).length;
      if (kept < total) changes.push(`fields: ${total - kept} of ${total} entries dropped`);
    } else if (after === undefined) {
      const notOfFamily = FAMILY_KEYS[key] && !FAMILY_KEYS[key].includes(clamped.family);
      changes.push(`${key} ${short(before)} dropped${notOfFamily ? ` (${clamped.family} has no ${key})` : ''}`);
    } else if (typeof before === 'number' && typeof after === 'number') {
      if (Math.abs(before - after) > 1e-12 * Math.max(1, Math.abs(before))) changes.push(`${key} ${short(before)} → ${short(after)}`);
    } else if (JSON.stringify(before) !== JSON.stringify(after)) {
      changes.push(`${key} ${short(before)} → ${short(after)}`);
    }
  }
  return changes;
}

/** A proposal's model without the nulls (null = "leave the default"), as ModelConfigDraft. */
function draftOf(model: z.infer<typeof LlmModelDraft>): ModelConfigDraft {
  const set = Object.fromEntries(Object.entries(model).filter(([, value]) => value !== null && value !== undefined));
  return ModelConfigDraft.parse(set);
}

/** Keys of the raw answer's i-th proposal model that no config has (the schema's parse drops them silently). */
function unknownModelKeys(raw: unknown, index: number): string[] {
  const model = (raw as { proposals?: { model?: unknown }[] })?.proposals?.[index]?.model;
  if (!model || typeof model !== 'object' || Array.isArray(model)) return [];
  return Object.keys(model).filter((key) => !MODEL_KEYS.has(key));
}

function heuristicWithReason(req: DesignRequest, fallbackReason: string, notes: string[]): DesignResponse {
  return DesignResponse.parse({ ...designHeuristically(req), fallbackReason, ...(notes.length ? { llmNotes: notes.slice(0, 64) } : {}) });
}

export async function designHypotheses(input: DesignRequest, llm: LlmSettings | null): Promise<DesignResponse> {
  const req = DesignRequest.parse(input);
  if (!llm) return designHeuristically(req);
  const prompt = designPrompt(req, promptBudget(llm));
  const notes: string[] = prompt.trimmed ? [prompt.trimmed] : [];
  const answer = await askStructured(llm, {
    name: 'experiment_proposals',
    system: prompt.system,
    user: prompt.user,
    schema: LlmDesignAnswer,
    wire: designAnswerWire(req),
  });
  notes.push(...answer.notes);
  if (!answer.ok) return heuristicWithReason(req, answer.reason, notes);

  const known = knownConfigKeys(req);
  // A warm start may re-run a winner the insights database measured on this data, never what this campaign ran.
  const ran = new Set([req.baseline, ...req.history].map((r) => canonicalConfigKey(r.config)));
  const earlierWinners = new Set(req.insights.filter((i) => improvedOnThisData(i, req.dataFingerprint)).map((i) => canonicalConfigKey(i.config)));
  const warmStart = (technique: string, key: string) => technique.trim() === 'warm-start' && earlierWinners.has(key) && !ran.has(key);
  const runIds = new Set([req.baseline.experimentId, ...req.history.map((h) => h.experimentId)]);
  const proposals: ProposedExperiment[] = [];
  const repeated: string[] = [];
  const { proposals: answered } = answer.value;
  for (const [index, p] of answered.entries()) {
    if (proposals.length >= req.count) {
      notes.push(`${answered.length - index} proposals beyond the ${req.count} asked for were ignored`);
      break;
    }
    const title = fit(p.title, 200);
    // Column names back to slots first (a name that is no field stays as written, and clamping drops it and says so).
    const draft = engineModel(draftOf(p.model), req.fields);
    const model = clampToSearchSpace(draft, req.searchSpace);
    const key = canonicalConfigKey(model);
    if (known.has(key) && !warmStart(p.technique, key)) {
      repeated.push(title);
      continue;
    }
    known.add(key);
    const changes = clampChanges(draft, model);
    const unknownKeys = unknownModelKeys(answer.raw, index);
    const problems = [
      changes.length ? `clamped into the search space: ${changes.join(', ')}` : '',
      unknownKeys.length ? `ignored unknown keys: ${unknownKeys.join(', ')}` : '',
    ].filter(Boolean);
    if (problems.length) notes.push(`"${title.slice(0, 80)}": ${problems.join('; ')}`.slice(0, 1000));
    const note = problems.length ? ` [${problems.join('; ')}]`.slice(0, 200) : '';
    const technique = TECHNIQUE_IDS.includes(p.technique.trim()) ? p.technique.trim() : fit(p.technique, 80) || 'llm-proposal';
    // A proposal that is one of the research step's hypotheses carries its expected gain, to compare with what it measures.
    const research = req.research.find((h) => canonicalConfigKey(h.model) === key);
    proposals.push({
      model,
      hypothesis: {
        title,
        technique,
        rationale: fit(p.rationale, 600 - note.length) + note,
        expectedEffect: fit(p.expectedEffect, 300),
        parents: [...new Set((p.parents ?? []).filter((id) => runIds.has(id)))].slice(0, 20),
        ...(research ? { expectedGain: research.expectedGain } : {}),
      },
    });
  }
  if (repeated.length)
    notes.push(`dropped ${repeated.length} proposals repeating a config that already ran: ${repeated.map((t) => `"${t.slice(0, 60)}"`).join(', ')}`);
  const llmNotes = notes.length ? { llmNotes: notes.map((n) => n.slice(0, 1000)).slice(0, 64) } : {};
  if (!proposals.length) {
    return heuristicWithReason(req, `LLM proposed no usable experiment (${repeated.length} repeated configs that already ran)`, notes);
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
    fallbackReason = `LLM gave ${proposals.length - filler.proposals.length} usable of ${req.count} proposals${repeated.length ? ` (${repeated.length} repeated configs that already ran)` : ''}; the heuristic designer filled the rest`;
  }
  return DesignResponse.parse({ proposals, source: 'llm', fallbackReason, ...llmNotes });
}

/**
 * The designers' field list: one entry per model field, as the models count them — a list column is one field (its
 * value slots pooled in fm and dcn), named by its column, with its slots and the names of its values for crosses.
 */
export function designerFields(fields: readonly FieldEntry[]): { slot: string; name: string; role: string }[] {
  const out: { slot: string; name: string; role: string }[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.role !== 'multiCategorical') {
      out.push({ slot: f.slot, name: f.label, role: f.role });
      continue;
    }
    let j = i;
    while (j + 1 < fields.length && fields[j + 1].column === f.column) j++;
    const values = fields.slice(i, j + 1);
    out.push({
      slot: values.length > 1 ? `${f.slot}..${values[values.length - 1].slot}` : f.slot,
      name: f.column,
      role: `list of up to ${values.length} values, one pooled field (cross one value: ${values.map((v) => v.label).join(', ')})`,
    });
    i = j;
  }
  return out;
}
