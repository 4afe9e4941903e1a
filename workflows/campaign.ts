import {
  condition,
  continueAsNew,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
  log,
  patched,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { CampaignInput, TASK_QUEUES, WORKFLOW_TYPES } from '../contracts';
import type {
  CampaignCarryOver,
  CampaignStatus,
  ExperimentResult,
  ExperimentSummary,
  FieldPairSignal,
  GuardrailBreach,
  ModelConfig,
  NewCampaignEvent,
  Phase,
  ProposedExperiment,
  Recommendation,
  Hypothesis,
} from '../contracts';
import type * as activities from '../activities';
import { guardrailViolations } from './guardrails';
import { designerHistory, summarize } from './summaries';
import { parseWorkflowInput } from './input';
import * as msg from './messages';
import { bestResult, phasesFor, runPlan, trainSecondsUsed, PHASE_SHARES, PHASE_SHARES_V1, type PlanState } from './planner';
import { SignOff, type SignOffKind } from './sign-off';
import type { rankingExperiment } from './experiment';

const training = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout: '30 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 4, nonRetryableErrorTypes: ['TrainingFailure'] },
});
const agents = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.agent,
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

const SA = {
  CampaignId: defineSearchAttributeKey('CampaignId', SearchAttributeType.KEYWORD),
  Phase: defineSearchAttributeKey('Phase', SearchAttributeType.KEYWORD),
  ReviewState: defineSearchAttributeKey('ReviewState', SearchAttributeType.KEYWORD),
  ModelFamily: defineSearchAttributeKey('ModelFamily', SearchAttributeType.KEYWORD),
  BestNE: defineSearchAttributeKey('BestNE', SearchAttributeType.DOUBLE),
};

/**
 * One campaign: one objective on one dataset within a budget. Runs the baseline, then the REA plan
 * (validation → combination → exploitation) as child rankingExperiment workflows, checks guardrails, asks the
 * evaluator for a recommendation, and waits — durably, holding nothing — for a human to sign off.
 */
export async function rankingCampaign(rawInput: unknown): Promise<CampaignStatus> {
  const input = parseWorkflowInput(CampaignInput, rawInput, 'campaign config');
  const campaignId = input.campaignId ?? workflowInfo().workflowId;
  const carry = input.carryOver;

  const experiments: ExperimentResult[] = carry ? [...carry.experiments] : [];
  const running = new Set<string>();
  const plan: PlanState = carry ? { ...carry.plan } : { phaseIndex: 0 };
  const signOff = new SignOff(input.approvers);
  if (carry) {
    carry.decisions.forEach((d) => signOff.record(d));
    signOff.ignored.push(...carry.ignoredMessages);
  }
  let phase: Phase = carry ? (phasesFor(input.strategy)[carry.plan.phaseIndex] ?? 'evaluation') : 'baseline';
  let paused = carry?.paused ?? false;
  let recommendation: Recommendation | null = null;
  let breaches: GuardrailBreach[] = [];
  let stopReason: CampaignStatus['stopReason'];
  let oracleNe = carry?.oracleNe;
  let pending: NewCampaignEvent[] = [];
  const generation = carry?.generation ?? 0;

  const baseline = () => experiments.find((e) => e.phase === 'baseline');
  const status = (): CampaignStatus => {
    const best = bestResult(experiments);
    return {
      campaignId,
      phase,
      reviewState: signOff.reviewState,
      paused,
      strategy: input.strategy,
      experiments,
      running: [...running],
      baselineId: baseline()?.experimentId,
      best: best?.metrics ? { experimentId: best.experimentId, ne: best.metrics.ne, relativeNeChange: best.relativeNeChange } : null,
      recommendation,
      guardrailBreaches: breaches,
      decisions: signOff.decisions,
      stopReason,
      budgetUsed: { experiments: experiments.length, trainSeconds: trainSecondsUsed(experiments) },
      oracleNe,
      ignoredMessages: signOff.ignored,
    };
  };
  const publish = () => {
    const best = bestResult(experiments);
    upsertSearchAttributes([
      { key: SA.CampaignId, value: campaignId },
      { key: SA.Phase, value: phase },
      { key: SA.ReviewState, value: signOff.reviewState },
      ...(best ? [{ key: SA.ModelFamily, value: best.config.family }, { key: SA.BestNE, value: best.metrics!.ne }] : []),
    ]);
  };
  const event = (e: NewCampaignEvent) => pending.push(e);
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await agents.recordEvents(campaignId, batch);
  };

  // ── messages ──────────────────────────────────────────────────────────────────────────────────────────
  setHandler(msg.statusQuery, status);
  const decide = (kind: SignOffKind, via: 'update' | 'signal', payload: unknown) => {
    const n = signOff.decisions.length + signOff.ignored.length;
    if (via === 'update') {
      const d = signOff.apply(kind, payload, 'update');
      event({ type: 'decision', eventId: `${campaignId}:decision:${n}`, campaignId, kind, by: d.by, note: d.note, via, accepted: true });
      publish();
      return d;
    }
    const { decision, refusal } = signOff.applySignal(kind, payload);
    const by = decision?.by ?? signOff.ignored[signOff.ignored.length - 1]?.by ?? 'unknown';
    event({ type: 'decision', eventId: `${campaignId}:decision:${n}`, campaignId, kind, by, note: decision?.note ?? refusal, via, accepted: !!decision });
    if (refusal) log.warn('ignored an invalid sign-off signal', { kind, refusal });
    publish();
    return decision;
  };
  const validate = (kind: SignOffKind) => (payload: unknown) => void signOff.check(kind, payload);
  setHandler(msg.approveUpdate, (p) => decide('approve', 'update', p)!, { validator: validate('approve') });
  setHandler(msg.rejectUpdate, (p) => decide('reject', 'update', p)!, { validator: validate('reject') });
  setHandler(msg.overrideUpdate, (p) => decide('override', 'update', p)!, { validator: validate('override') });
  setHandler(msg.abortUpdate, (p) => decide('abort', 'update', p)!, { validator: validate('abort') });
  setHandler(msg.approveSignal, (p) => void decide('approve', 'signal', p));
  setHandler(msg.rejectSignal, (p) => void decide('reject', 'signal', p));
  setHandler(msg.overrideSignal, (p) => void decide('override', 'signal', p));
  setHandler(msg.abortSignal, (p) => void decide('abort', 'signal', p));
  setHandler(msg.pauseSignal, () => void (paused = true));
  setHandler(msg.resumeSignal, () => void (paused = false));

  /** Waits for `done`, writing events that message handlers queue meanwhile. */
  const waitFor = async (done: () => boolean, timeoutMs?: number): Promise<boolean> => {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    for (;;) {
      await flush();
      if (done()) return true;
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) return false;
      const woke = left === undefined ? (await condition(() => done() || pending.length > 0), true) : await condition(() => done() || pending.length > 0, left);
      if (!woke && !done()) return false;
    }
  };

  // ── baseline ─────────────────────────────────────────────────────────────────────────────────────────
  let facts: { fingerprint: string; activeCategoricalFields: string[] };
  if (carry) {
    facts = { fingerprint: carry.dataFingerprint, activeCategoricalFields: carry.activeFields };
  } else {
    publish();
    event({ type: 'campaign.started', eventId: `${campaignId}:started`, campaignId, strategy: input.strategy, objective: input.objective });
    const described = await training.describeData(input.data);
    facts = described;
    oracleNe = described.oracleNe;
    const base = await runExperiments('baseline', [
      { model: input.baseline, hypothesis: { title: 'Baseline', technique: 'baseline', rationale: 'The model every candidate is measured against.', expectedEffect: 'reference NE', parents: [] } },
    ]);
    if (base[0]?.status !== 'succeeded') {
      // Nothing can be measured without a baseline; the failure (class, message, fix) is on the experiment.
      stopReason = 'aborted';
      signOff.reviewState = 'aborted';
      return finish('the baseline failed: ' + (base[0]?.failure?.message ?? 'unknown'));
    }
  }

  // ── the plan ─────────────────────────────────────────────────────────────────────────────────────────
  let signal: FieldPairSignal[] = [];
  // Campaigns started before the phase budgets changed keep the old ones (their histories must replay).
  const shares = patched('phase-shares-v2') ? PHASE_SHARES : PHASE_SHARES_V1;
  const stop = await runPlan(input, plan, {
    results: () => experiments,
    onPhase: async (p) => {
      phase = p;
      publish();
      event({ type: 'campaign.phase', eventId: `${campaignId}:phase:${p}`, campaignId, phase: p });
      // Interaction signal is measured on residuals of the current best model (agent strategy only).
      const best = bestResult(experiments);
      // It is advice for the designer: if it can't be measured, the campaign goes on without it.
      signal =
        input.strategy === 'agent' && best?.artifact
          ? await training.measureInteractions(input.data, best.artifact).catch((err: Error) => {
              log.warn('interaction signal unavailable', { error: err.message });
              return [];
            })
          : [];
    },
    beforeWave: async () => {
      await waitFor(() => !paused || signOff.reviewState === 'aborted');
      if (signOff.reviewState === 'aborted') throw new CampaignAborted();
      if (workflowInfo().historyLength > input.historyLimit || workflowInfo().continueAsNewSuggested) await carryOn();
    },
    design: async (p, count) => {
      const response = await agents.designExperiments(
        {
          campaignId,
          phase: p,
          count,
          dataFingerprint: facts.fingerprint,
          baseline: summarize(baseline()!),
          history: designerHistory(experiments),
          fieldPairSignal: signal,
          searchSpace: input.searchSpace,
          seed: input.seed,
        },
        { mode: input.agents, strategy: input.strategy, data: input.data },
      );
      return response.proposals;
    },
    run: async (p, proposals) => {
      // A pause that arrived while the designer was thinking holds this wave too (no await when not paused, so
      // recorded histories replay unchanged).
      if (paused) await condition(() => !paused || signOff.reviewState === 'aborted');
      if (signOff.reviewState === 'aborted') throw new CampaignAborted();
      await runExperiments(p, proposals);
    },
  }, shares).catch((err) => {
    if (err instanceof CampaignAborted) return 'aborted' as const;
    throw err;
  });
  stopReason = stop;
  if (stop === 'aborted') return finish('aborted by ' + (signOff.decisions.at(-1)?.by ?? 'a human'));

  // ── evaluation and guardrails ────────────────────────────────────────────────────────────────────────
  phase = 'evaluation';
  publish();
  const base = baseline()!;
  const candidates = experiments.filter((e) => e !== base && e.status === 'succeeded' && e.metrics);
  const violations = new Map(candidates.map((c) => [c.experimentId, guardrailViolations(c, base, input.guardrails)]));
  breaches = candidates.flatMap((c) =>
    violations.get(c.experimentId)!.map((v) => ({ experimentId: c.experimentId, constraint: v.split(':')[0], detail: v })),
  );
  breaches.forEach((b, i) => event({ type: 'guardrail', eventId: `${campaignId}:guardrail:${i}`, campaignId, experimentId: b.experimentId, constraint: b.constraint, detail: b.detail }));
  const evaluation = await agents.evaluateResults(
    {
      campaignId,
      baseline: summarize(base),
      candidates: candidates.map((c) => ({ ...summarize(c), guardrailViolations: violations.get(c.experimentId)! })),
      guardrails: input.guardrails,
      oracleNe,
    },
    input.agents,
  );
  // The evaluator advises; the workflow enforces: only a candidate without violations may be recommended.
  const eligible = (id: string | null) => !!id && candidates.some((c) => c.experimentId === id) && violations.get(id)!.length === 0;
  const pickId = eligible(evaluation.recommended) ? evaluation.recommended : null;
  const pick = candidates.find((c) => c.experimentId === pickId);
  recommendation = pick
    ? recommend(pick, evaluation.rationale, evaluation.source)
    : recommend(base, `No candidate beat the baseline significantly within the guardrails; keep the baseline. ${evaluation.rationale}`, evaluation.source);

  // When the best candidate overall breaks a guardrail, a human must look: override (with a reason) or abort.
  const bestOverall = bestResult(candidates);
  if (bestOverall && bestOverall.metrics!.ne < base.metrics!.ne && violations.get(bestOverall.experimentId)!.length > 0) {
    signOff.reviewState = 'needs-review';
    phase = 'review';
    publish();
    event({
      type: 'recommendation',
      eventId: `${campaignId}:needs-review`,
      campaignId,
      experimentId: bestOverall.experimentId,
      rationale: `Halted: the best candidate breaks ${violations.get(bestOverall.experimentId)!.join('; ')}. Send override (with a reason) or abort.`,
    });
    await waitFor(() => signOff.overridden || signOff.reviewState === 'aborted');
    // (a handler changed it while we waited; TypeScript can't see that)
    if ((signOff.reviewState as string) === 'aborted') {
      stopReason = 'aborted';
      return finish('aborted at the guardrail review');
    }
    const override = signOff.decisions.at(-1)!;
    recommendation = recommend(
      bestOverall,
      `Guardrail overridden by ${override.by}: "${override.note}". Broken: ${violations.get(bestOverall.experimentId)!.join('; ')}. ${evaluation.rationale}`,
      evaluation.source,
    );
  }

  // ── sign-off ─────────────────────────────────────────────────────────────────────────────────────────
  signOff.reviewState = 'awaiting-review';
  phase = 'review';
  publish();
  event({ type: 'recommendation', eventId: `${campaignId}:recommendation`, campaignId, experimentId: recommendation.experimentId, rationale: recommendation.rationale });
  const timeoutMs = input.review.timeoutSeconds ? input.review.timeoutSeconds * 1000 : undefined;
  for (let reminder = 0; !signOff.decided; reminder++) {
    const decided = await waitFor(() => signOff.decided, timeoutMs);
    if (decided) break;
    // Never automatic approval: a timeout either reminds (and keeps waiting) or expires the campaign as rejected.
    const kind = input.review.onTimeout === 'expire' ? 'expired' : 'reminder';
    signOff.record({ kind, by: 'rankwright', at: new Date().toISOString(), note: `no sign-off after ${input.review.timeoutSeconds} s`, via: 'timer' });
    event({ type: 'decision', eventId: `${campaignId}:timeout:${reminder}`, campaignId, kind, by: 'rankwright', via: 'timer', accepted: true });
    if (kind === 'expired') signOff.reviewState = 'rejected';
  }
  return finish(`signed off: ${signOff.reviewState}`);

  // ── helpers (hoisted; they close over the campaign's state) ─────────────────────────────────────────
  async function runExperiments(p: Phase, proposals: ProposedExperiment[] | { model: ModelConfig; hypothesis: Hypothesis }[]) {
    const baseNe = baseline()?.metrics?.ne;
    const launched = proposals.map((proposal) => {
      const experimentId = p === 'baseline' ? `${campaignId}-baseline` : `${campaignId}-x${experiments.length + running.size + 1}`;
      running.add(experimentId);
      return executeChild<typeof rankingExperiment>(WORKFLOW_TYPES.experiment, {
        workflowId: experimentId,
        taskQueue: TASK_QUEUES.agent,
        args: [
          {
            experimentId,
            campaignId,
            phase: p,
            data: input.data,
            model: proposal.model,
            hypothesis: proposal.hypothesis,
            baselineNe: baseNe,
            baselineArtifact: baseline()?.artifact,
            segmentField: input.segmentField,
            agents: input.agents,
          },
        ],
      }).then((result) => {
        running.delete(experimentId);
        experiments.push(result);
        publish();
        return result;
      });
    });
    const results = await Promise.all(launched);
    await flush();
    return results;
  }

  async function carryOn(): Promise<never> {
    await flush();
    await condition(allHandlersFinished);
    const next: CampaignCarryOver = {
      experiments,
      plan,
      decisions: signOff.decisions,
      ignoredMessages: signOff.ignored,
      paused,
      dataFingerprint: facts.fingerprint,
      oracleNe,
      activeFields: facts.activeCategoricalFields,
      generation: generation + 1,
    };
    return continueAsNew<typeof rankingCampaign>({ ...(rawInput as object), campaignId, carryOver: next });
  }

  async function finish(note: string): Promise<CampaignStatus> {
    phase = 'done';
    publish();
    event({ type: 'campaign.finished', eventId: `${campaignId}:finished`, campaignId, reviewState: signOff.reviewState, stopReason });
    await flush();
    log.info('campaign finished', { campaignId, note });
    const report = await agents.writeReport(status());
    log.info('campaign report written', { path: report.path });
    await condition(allHandlersFinished);
    return status();
  }
}

class CampaignAborted extends Error {}

function recommend(e: ExperimentResult, rationale: string, source: 'llm' | 'heuristic'): Recommendation {
  return { experimentId: e.experimentId, artifact: e.artifact, metrics: e.metrics!, relativeNeChange: e.relativeNeChange, rationale, source };
}
