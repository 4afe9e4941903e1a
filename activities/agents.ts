import * as fs from 'node:fs';
import { ApplicationFailure, log } from '@temporalio/activity';
import type {
  DataConfig,
  DesignRequest,
  DesignResponse,
  EvaluateRequest,
  EvaluateResponse,
  ProposedExperiment,
  RememberedFix,
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
import { cutText, fieldTable, keepDataFields, labelFields, labelHypothesis } from '../contracts/field-names';
import { modelFieldCount } from '../agents/cost-model';
import { dataFingerprint } from '../ranking/data/load-data';
import { canonicalConfigKey, dataTraitsOf, InsightsStore } from '../store/insights';
import { waitingOutFullDisk } from './full-disk-patience';
import { whileAlive } from './liveness';

export type AgentMode = 'auto' | 'heuristic' | 'llm';

/** Tries of an agent activity for an error other than a full disk (activities/full-disk-patience.ts). */
const AGENT_ATTEMPTS = 10;

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
  return whileAlive(() => waitingOutFullDisk(AGENT_ATTEMPTS, () => designWave(request, options)));
}

async function designWave(
  request: Omit<DesignRequest, 'insights'>,
  options: { mode: AgentMode; strategy: 'agent' | 'random'; data: DataConfig },
): Promise<DesignResponse> {
  const insights = await InsightsStore.open();
  try {
    // What describing the data and the research step recorded about it; the config alone says little.
    const dataTraits = (await insights.dataTraits(request.dataFingerprint)) ?? dataTraitsOf(options.data);
    const found = await insights.findInsights({ dataFingerprint: request.dataFingerprint, dataTraits, limit: 200 });
    // A declared schema's column names: the LLM designer reads (and may write) them; every text leaving here uses them.
    const fields = fieldTable(options.data);
    // What the cost model scales and corrects by: the data's size and width, and what past runs here took.
    const measuredCosts = await insights.measuredCosts({ dataFingerprint: request.dataFingerprint, dataTraits, limit: 200 });
    const fieldCount = modelFieldCount(options.data, dataTraits);
    const full: DesignRequest = {
      ...request,
      insights: found,
      ...(fields.length ? { fields } : {}),
      ...(dataTraits.rows && dataTraits.rows > 0 ? { trainRows: Math.round(dataTraits.rows) } : {}),
      ...(fieldCount ? { fieldCount } : {}),
      ...(measuredCosts.length ? { measuredCosts } : {}),
    };
    const answered = options.strategy === 'random' ? designRandomly(full) : await designHypotheses(full, llmFor(options.mode));
    // Slots the data lacks (a Criteo slot past C26, a declared table's unknown one) leave the configs here, where the
    // data is known: the designers' clamp only checks a slot's shape.
    const designed = { ...answered, proposals: answered.proposals.map((p) => ({ ...p, model: keepDataFields(p.model, options.data) })) };
    const response = labelDesign(designed, Object.fromEntries(fields.map((f) => [f.slot, f.label])));
    // Never spend budget on something the insights database already measured on this very data, except a warm start:
    // an earlier winner re-run once so this campaign can stack on (and recommend) its own measurement of it.
    const proposals: typeof response.proposals = [];
    for (const p of response.proposals) {
      if (
        options.strategy === 'random' ||
        p.hypothesis.technique === 'warm-start' ||
        !(await insights.isKnown(request.dataFingerprint, canonicalConfigKey(p.model)))
      )
        proposals.push(p);
    }
    // Say what was dropped (whatever designed it), so a reviewer does not wonder where a proposal went.
    const dropped = response.proposals.filter((p) => !proposals.includes(p));
    if (!dropped.length) return { ...response, proposals };
    return { ...response, proposals, llmNotes: withDropNotes(response.llmNotes ?? [], dropped) };
  } finally {
    await insights.close();
  }
}

/** The designers' answer with column names in every text a person reads (hypotheses, notes); configs keep slots. */
function labelDesign(response: DesignResponse, labels: Record<string, string>): DesignResponse {
  if (!Object.keys(labels).length) return response;
  return {
    ...response,
    proposals: response.proposals.map((p) => ({ ...p, hypothesis: labelHypothesis(p.hypothesis, labels) })),
    ...(response.fallbackReason ? { fallbackReason: labelFields(response.fallbackReason, labels) } : {}),
    ...(response.llmNotes ? { llmNotes: response.llmNotes.map((n) => cutText(labelFields(n, labels), NOTE_CHARS)) } : {}),
  };
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

/**
 * Failure triage. Before the sub-agent reads the failure, the insights database is asked for a fix that worked for
 * this failure class and model family before (same data first, then similar data: rememberedFixFor); the answer
 * carries it as `rememberedFix` (only ever from the database) and the retry policy may jump straight to it.
 */
export async function interpretFailure(request: TriageRequest, mode: AgentMode): Promise<TriageResponse> {
  const llm = llmFor(mode);
  return whileAlive(() => waitingOutFullDisk(AGENT_ATTEMPTS, async () => interpretWithAgent(request, llm, await rememberedFixFor(request))));
}

/**
 * The data's fingerprint as the training worker computes it, when this worker sees the same data: planted data always
 * (the fingerprint is of its generator options), files only when every one of them is here (an agent worker without
 * the files must not fingerprint their absence).
 */
async function readableDataFingerprint(data: DataConfig): Promise<string | undefined> {
  if (!('planted' in data)) {
    const files = [data.train, data.validation, data.test].filter((f): f is string => !!f);
    const present = await Promise.all(
      files.map((f) =>
        fs.promises.stat(f).then(
          (st) => st.isFile(),
          () => false,
        ),
      ),
    );
    if (!present.every(Boolean)) return undefined;
  }
  return dataFingerprint(data).catch(() => undefined);
}

/** Failure classes the runbook retries with a changed config: the only ones a remembered fix can apply to. */
const REMEDIABLE: readonly string[] = ['diverged', 'resource'];

/**
 * The insights database's best fix for this failure, or undefined. Best-effort: a database that cannot be read
 * leaves triage to the runbook (logged), never fails it.
 */
export async function rememberedFixFor(request: TriageRequest): Promise<RememberedFix | undefined> {
  const failure = request.failure;
  // A full disk is fixed by freeing space: every remembered fix changes the model.
  if (!REMEDIABLE.includes(failure?.failureClass) || !request.config || failure.diskFull) return undefined;
  let insights: InsightsStore | undefined;
  try {
    // The data is named by the fingerprint the training worker put in the failure report, else by the data config
    // when this worker can read that data; its recorded traits (what describing the data and earlier experiments
    // measured) find similar data. Data that cannot be named is remembered nothing about.
    const fingerprint = failure.dataFingerprint ?? (request.data ? await readableDataFingerprint(request.data) : undefined);
    if (!fingerprint) return undefined;
    insights = await InsightsStore.open();
    const dataTraits = (await insights.dataTraits(fingerprint)) ?? (request.data ? dataTraitsOf(request.data) : undefined);
    return await insights.rememberedFix({
      failureClass: failure.failureClass,
      family: request.config.family,
      dataFingerprint: fingerprint,
      dataTraits,
    });
  } catch (err) {
    const detail = { experimentId: request.experimentId, error: (err as Error).message };
    try {
      log.warn('could not read remembered fixes from the insights database', detail);
    } catch {
      // Outside an activity (benches and tests call this directly) there is no activity logger.
      process.stderr.write(`rankwright: could not read remembered fixes ${JSON.stringify(detail)}\n`);
    }
    return undefined;
  } finally {
    await insights?.close();
  }
}

export async function evaluateResults(request: EvaluateRequest, mode: AgentMode): Promise<EvaluateResponse> {
  return whileAlive(() => waitingOutFullDisk(AGENT_ATTEMPTS, () => evaluateWithAgent(request, llmFor(mode))));
}
