import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  log,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import { canonicalConfigKey, TASK_QUEUES, WORKFLOW_TYPES } from '../contracts';
import { decisionMetrics } from '../contracts/decision-metrics';
import { probeData, probeScaleFor, REFERENCE_PROBE, type ProbeScale } from '../contracts/probe';
import type {
  CampaignStatus,
  ExperimentResult,
  FieldPairSignal,
  Hypothesis,
  ModelConfig,
  Phase,
  ProposedExperiment,
  Recommendation,
} from '../contracts';
import type * as activities from '../activities';
import { CampaignState } from './campaign-state';
import { readCampaignStart } from './campaign-start';
import { checkPromotionHook, promoteApproved } from './promotion';
import { decideRecommendation, eligibility } from './recommendation';
import { confirmOnTest } from './test-confirmation';
import { asDataFinding, dataChecks } from './data-checks';
import { driftFindings } from '../contracts/drift';
import { fieldLabels } from '../contracts/field-names';
import { attemptsWithinBudget, bestResult, computeUsed, runPlan, trainerOf, PHASE_SHARES, PHASE_SHARES_V1, type DesignPhase } from './planner';
import { TRAINER_TECHNIQUE_PREFIX } from '../contracts/portfolio';
import { designerHistory, summarize } from './summaries';
import type { rankingExperiment } from './experiment';
import { dataFacts, decisions, localRecords, LIVENESS_TIMEOUT, records } from './activity-proxies';

// The interaction signal and the research step: heartbeating, so a dead worker's share is taken over within a minute.
const training = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 4, nonRetryableErrorTypes: ['TrainingFailure'] },
});
const agents = proxyActivities<typeof activities>({
  taskQueue: TASK_QUEUES.agent,
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/**
 * One campaign: one objective on one dataset within a budget. The story, in order:
 *
 *   1. read the start: the caller's config, and carried state only if Temporal continued this run (campaign-start.ts)
 *   2. describe the data and train the baseline (a failed baseline ends the campaign: nothing can be measured), then
 *      research it: measure what it misses and rank the hypotheses that follows from it (agent strategy)
 *   3. run the REA plan — validation → combination → exploitation — as child rankingExperiment workflows (planner.ts)
 *   4. check guardrails and ask the evaluator for a recommendation; the workflow enforces, the evaluator advises
 *   5. if the best candidate breaks a guardrail, halt for a human: override (with a reason) or abort
 *   6. wait — durably, holding nothing — for a human to sign off; a timeout reminds or expires, never approves
 *
 * Messages (status, approve, reject, override, abort, pause, resume) are handled by CampaignState at any point.
 */
export async function rankingCampaign(rawInput: unknown, carried?: unknown): Promise<CampaignStatus> {
  const { input, carry } = readCampaignStart(rawInput, carried);
  // Event records are local activities (issue 26): a flush rides in the workflow task that schedules what follows it
  // (the next design, the next wave) instead of costing an activity round trip. Campaigns recorded before replay with
  // the activity they had (asked once: the answer holds for the whole run).
  const campaign = new CampaignState(input, carry, (patched('local-records') ? localRecords : records).recordEvents);
  // Validation decides and test confirms; campaigns recorded before validation metrics decided on test, and replay so.
  campaign.decideOn = patched('validation-decides') ? 'validation' : 'test';
  // A failed attempt's training counts toward the trainSeconds budget; campaigns recorded before counted finished
  // runs only, and replay so.
  campaign.failedAttemptSeconds = patched('failed-attempt-seconds');
  campaign.handleMessages();
  // agents "llm" on a worker without an endpoint fails here, before any training, with the activity's message.
  if (!carry && input.agents === 'llm' && patched('llm-endpoint-check')) {
    await agents.checkAgentEndpoint('llm').catch((err: ActivityFailure) => {
      throw ApplicationFailure.create({ type: 'LlmNotConfigured', nonRetryable: true, message: err.cause?.message ?? err.message });
    });
  }

  // A hook the worker doesn't have would only show after sign-off, days later: fail now, before any training.
  if (!carry && input.onApprove) await checkPromotionHook(input.onApprove.hook);
  // So would a trainer it doesn't have, after the data was described.
  const trainer = externalTrainer(campaign);
  if (!carry && trainer)
    await agents.checkTrainer(trainer).catch((err: ActivityFailure) => {
      throw ApplicationFailure.create({ type: 'TrainerNotConfigured', nonRetryable: true, message: err.cause?.message ?? err.message });
    });
  // And so would a trainer its search space lists: a campaign that asked for trees and silently ran without them would
  // answer another question than the one asked. (Only campaigns that list trainers, which no earlier release accepted.)
  for (const listed of carry ? [] : (input.searchSpace.trainers ?? []))
    await agents.checkTrainer(listed).catch((err: ActivityFailure) => {
      throw ApplicationFailure.create({
        type: 'TrainerNotConfigured',
        nonRetryable: true,
        message: `searchSpace.trainers: ${err.cause?.message ?? err.message}; configure it on the worker (RANKWRIGHT_TRAINERS) or leave it out of the search space`,
      });
    });

  let firstSignal: Promise<FieldPairSignal[]> | undefined;
  if (!carry) {
    const baselineOk = await describeDataAndTrainBaseline(campaign);
    if (!baselineOk) return finish(campaign, 'the baseline failed: ' + (campaign.baseline()?.failure?.message ?? 'unknown'));
    if (campaign.decideOn === 'validation') await checkData(campaign);
    // Campaigns recorded before the research step replay without it.
    // The research step measures the built-in engine's models: an external trainer's campaign goes without it.
    if (input.strategy === 'agent' && !trainer && patched('research-step')) {
      // The first phase's interaction signal is measured on the baseline, as the research is, and neither reads the
      // other: both are asked at once instead of one after the other (issue 26). Recorded campaigns replay in order.
      if (patched('signal-with-research')) firstSignal = measureInteractions(campaign);
      await researchBaseline(campaign);
    }
  }

  campaign.stopReason = await runPhases(campaign, rawInput, firstSignal);
  if (campaign.stopReason === 'aborted') return finish(campaign, 'aborted by ' + (campaign.signOff.last('abort')?.by ?? 'a human'));

  const { recommendation, haltedOn } = await recommendWithinGuardrails(campaign);
  campaign.recommendation = recommendation;
  if (haltedOn) {
    const overridden = await haltForGuardrailReview(campaign, haltedOn);
    if (!overridden) {
      campaign.stopReason = 'aborted';
      return finish(campaign, 'aborted at the guardrail review');
    }
  }

  // An abort that came while the last wave ran or the recommendation was being made ends the campaign here: the review
  // would otherwise overwrite it with awaiting-review and wait for a sign-off nobody will give (campaigns recorded
  // before this check replay as they ran).
  if (campaign.aborted && patched('abort-before-review')) {
    campaign.stopReason = 'aborted';
    return finish(campaign, 'aborted by ' + (campaign.signOff.last('abort')?.by ?? 'a human'));
  }
  await waitForSignOff(campaign);
  // Nothing is promoted without an approval: the hook runs on this one path, after approve, never after reject/expire.
  if (campaign.signOff.reviewState === 'approved' && input.onApprove) await promoteApproved(campaign, input.onApprove.hook);
  return finish(campaign, `signed off: ${campaign.signOff.reviewState}`);
}

/** Step 2. Returns false when the baseline failed: its failure (class, message, fix) is on the experiment. */
async function describeDataAndTrainBaseline(campaign: CampaignState): Promise<boolean> {
  const { input, campaignId } = campaign;
  campaign.publish();
  campaign.event({ type: 'campaign.started', eventId: `${campaignId}:started`, campaignId, strategy: input.strategy, objective: input.objective });
  const described = await dataFacts.describeData(input.data);
  campaign.facts = { fingerprint: described.fingerprint, activeCategoricalFields: described.activeCategoricalFields, trainRows: described.trainRows };
  // Drift findings are read from the description now; the baseline's standard errors join them in checkData.
  if (campaign.decideOn === 'validation')
    campaign.dataChecks = {
      trainCtr: described.ctr,
      detectable: [],
      findings: described.drift ? driftFindings(described.drift, fieldLabels(input.data)).map(asDataFinding) : [],
    };
  campaign.oracleNe = described.oracleNe;
  const hypothesis: Hypothesis = {
    title: 'Baseline',
    technique: 'baseline',
    rationale: 'The model every candidate is measured against.',
    expectedEffect: 'reference NE',
    parents: [],
  };
  const [base] = await runExperiments(campaign, 'baseline', [{ model: input.baseline, hypothesis }]);
  if (base?.status === 'succeeded') return true;
  campaign.stopReason = 'aborted';
  campaign.signOff.reviewState = 'aborted';
  return false;
}

/**
 * Step 2a. Before the budget is spent: what the data can detect (from the baseline's standard errors) and how it
 * drifts (click rates by split and over time), as findings in status, the event log and the report.
 */
async function checkData(campaign: CampaignState): Promise<void> {
  const { campaignId } = campaign;
  campaign.dataChecks = dataChecks(campaign.baseline()!, campaign.dataChecks?.trainCtr, campaign.dataChecks?.findings ?? []);
  campaign.event({
    type: 'campaign.data-checks',
    eventId: `${campaignId}:data-checks`,
    campaignId,
    detectable: campaign.dataChecks.detectable,
    findings: campaign.dataChecks.findings,
  });
  await campaign.flush();
}

/**
 * Step 2b (agent strategy). The research step: measure the baseline and the data, and rank the hypotheses the
 * findings support. It is advice for the designer: if it can't be measured, the campaign goes on without it.
 */
async function researchBaseline(campaign: CampaignState): Promise<void> {
  const { input, campaignId } = campaign;
  const research = await training.researchBaseline(input.data, campaign.baseline()!, input.searchSpace).catch((err: Error) => {
    log.warn('research step unavailable', { error: err.message });
    return undefined;
  });
  if (!research) return;
  campaign.research = research;
  campaign.event({
    type: 'campaign.research',
    eventId: `${campaignId}:research`,
    campaignId,
    fit: `${research.findings.fit.verdict}: ${research.findings.fit.explanation}`,
    hypotheses: research.hypotheses.map((h) => ({
      title: h.hypothesis.title,
      technique: h.hypothesis.technique,
      expectedGain: h.expectedGain,
      cost: h.cost,
      evidence: h.evidence,
    })),
  });
  await campaign.flush();
}

/**
 * Step 3: the plan's phases, designed wave by wave. Returns why the plan stopped. `firstSignal`: the first phase's
 * interaction signal, already asked for (on the baseline, beside the research step).
 */
async function runPhases(campaign: CampaignState, rawInput: unknown, firstSignal?: Promise<FieldPairSignal[]>) {
  const { input, campaignId } = campaign;
  let signal: FieldPairSignal[] = [];
  // Campaigns started before the phase budgets changed keep the old ones (their histories must replay).
  const shares = patched('phase-shares-v2') ? PHASE_SHARES : PHASE_SHARES_V1;
  // Campaigns recorded before probes counted experiments, ran every idea in full and stopped at the first stall; they
  // replay that way.
  const countCompute = patched('probes');
  const trainRows = campaign.facts?.trainRows;
  // The first wave tries every family of the search space at its defaults (a portfolio before a ladder), and data
  // below the probe threshold is screened on a larger row sample while one still ranks ideas (contracts/probe.ts).
  // Campaigns recorded before let the designer alone choose and probed big data only; they replay that way.
  const builtinAgent = input.strategy === 'agent' && !externalTrainer(campaign);
  const portfolio = countCompute && builtinAgent && patched('portfolio');
  // Probes screen built-in models on a row sample; an external trainer's runs are all full runs.
  const probe = countCompute && builtinAgent && trainRows ? probeScaleFor(input.budget, trainRows, { smallData: portfolio }) : undefined;
  const holdWhilePaused = async () => {
    await campaign.waitFor(() => !campaign.paused || campaign.aborted);
    if (campaign.aborted) throw new CampaignAborted();
  };
  return runPlan(
    input,
    campaign.plan,
    {
      results: () => campaign.experiments,
      probes: () => campaign.probes,
      // A stalled phase ends the campaign only when nothing is left to try: research hypotheses, or for an external
      // trainer with a search space, knob moves (the knob designer always has new ones within its ranges).
      untried: () =>
        externalTrainer(campaign)
          ? Object.keys(externalTrainer(campaign)!.searchSpace ?? {}).length && patched('knob-moves-untried')
            ? ['knob moves around the best run']
            : []
          : untriedResearch(campaign),
      onPhase: async (phase, note) => {
        campaign.phase = phase;
        campaign.publish();
        campaign.event({
          type: 'campaign.phase',
          eventId: `${campaignId}:phase:${phase}`,
          campaignId,
          phase,
          ...(note ? { note: note.slice(0, 500) } : {}),
        });
        signal = await (firstSignal ?? measureInteractions(campaign));
        firstSignal = undefined;
      },
      beforeWave: async () => {
        await holdWhilePaused();
        const info = workflowInfo();
        if (info.historyLength > input.historyLimit || info.continueAsNewSuggested) await continueCampaign(campaign, rawInput);
      },
      design: (phase, count) => designWave(campaign, phase, count, signal),
      run: async (phase, proposals, probeScale) => {
        // A pause that arrived while the designer was thinking holds this wave too (no await when not paused, so
        // recorded histories replay unchanged).
        if (campaign.paused) await condition(() => !campaign.paused || campaign.aborted);
        if (campaign.aborted) throw new CampaignAborted();
        // Retries share what the budget has left, so a wave cannot spend past it. Campaigns recorded before retried
        // every run up to the default and replay that way.
        const boundAttempts = countCompute && patched('attempts-within-budget');
        await runExperiments(campaign, phase, proposals, probeScale, boundAttempts);
      },
      onScreened: async ({ reference, probes, promoted }) => {
        campaign.event({
          type: 'campaign.probes',
          eventId: `${campaignId}:probes:${campaign.probes.length}`,
          campaignId,
          rows: probe?.trainRows ?? 0,
          referenceValidationNe: reference?.status === 'succeeded' ? reference.validationNe : undefined,
          probes: probes.map((p) => ({
            experimentId: p.experimentId,
            title: p.hypothesis?.title ?? p.experimentId,
            validationNe: p.validationNe,
            failureClass: p.failure?.failureClass,
            promotedTo: p.promotedTo,
          })),
          promoted: promoted.length,
        });
        await campaign.flush();
      },
    },
    {
      shares,
      countCompute,
      probe,
      stallNeedsExhaustion: countCompute,
      decideOn: campaign.decideOn,
      portfolio,
      failedAttemptSeconds: campaign.failedAttemptSeconds,
      warmStartOnce: portfolio && patched('warm-start-once'),
    },
  ).catch((err) => {
    if (err instanceof CampaignAborted) return 'aborted' as const;
    throw err;
  });
}

/** Titles of the research hypotheses whose config no experiment or probe of this campaign has run. */
function untriedResearch(campaign: CampaignState): string[] {
  const ran = new Set([...campaign.experiments, ...campaign.probes].map((e) => canonicalConfigKey(e.config)));
  return (campaign.research?.hypotheses ?? []).filter((h) => !ran.has(canonicalConfigKey(h.model))).map((h) => h.hypothesis.title);
}

/**
 * Interaction signal on the residuals of the current best model (agent strategy only). It is advice for the
 * designer: if it can't be measured, the campaign goes on without it.
 */
async function measureInteractions(campaign: CampaignState): Promise<FieldPairSignal[]> {
  // Residuals of the best built-in model: a search-space trainer's model is not one the engine can read.
  const best = bestResult(
    campaign.experiments.filter((e) => !e.externalJob),
    campaign.decideOn,
  );
  if (campaign.input.strategy !== 'agent' || !best?.artifact || externalTrainer(campaign)) return [];
  return training.measureInteractions(campaign.input.data, best.artifact).catch((err: Error) => {
    log.warn('interaction signal unavailable', { error: err.message });
    return [];
  });
}

async function designWave(campaign: CampaignState, phase: DesignPhase, count: number, signal: FieldPairSignal[]): Promise<ProposedExperiment[]> {
  const { input, campaignId } = campaign;
  const listed = phase !== 'validation' ? bestListedTrainer(campaign) : undefined;
  const trainer = externalTrainer(campaign) ?? listed?.trainer;
  const response = externalTrainer(campaign)
    ? await agents.designTrainerExperiments({
        phase,
        count,
        model: input.baseline,
        baseline: campaign.baseline()!,
        history: campaign.experiments.filter((e) => e.phase !== 'baseline'),
        space: externalTrainer(campaign)!.searchSpace ?? {},
        seed: input.seed,
      })
    : listed
      ? await designListedTrainer(campaign, phase, count, listed)
      : await designBuiltin(campaign, phase, count, signal);
  // Which designer answered, and what happened to an LLM's answer on the way, go into the log (bounded: it is history).
  // Under a patch: the event makes the wave's closing flush write, an activity older histories do not have.
  const wave = campaign.experiments.length + campaign.running.size;
  if (patched('design-events'))
    campaign.event({
      type: 'design',
      eventId: `${campaignId}:design:${wave}`,
      campaignId,
      phase,
      source: trainer ? `trainer-knob (${trainer.name})` : response.source,
      proposals: response.proposals.length,
      ...(response.fallbackReason ? { fallbackReason: response.fallbackReason.slice(0, 600) } : {}),
      ...(response.llmNotes?.length ? { notes: response.llmNotes.slice(0, 12).map((n) => n.slice(0, 300)) } : {}),
    });
  return response.proposals.map((p) => ({ ...p, hypothesis: { ...p.hypothesis, designer: response.source } }));
}

/**
 * The search-space trainer whose run is the campaign's best so far, when that trainer declares knobs to search: the
 * later phases then tune it ("tune the best"), as a trainer campaign does, with its portfolio run as the reference.
 */
function bestListedTrainer(campaign: CampaignState) {
  const best = bestResult(campaign.experiments, campaign.decideOn);
  const trainer = best && trainerOf(campaign.input, best);
  if (!trainer || !Object.keys(trainer.searchSpace ?? {}).length) return undefined;
  const runs = campaign.experiments.filter((e) => e.externalJob?.name === trainer.name);
  return { trainer, reference: runs[0], runs: runs.slice(1) };
}

async function designListedTrainer(
  campaign: CampaignState,
  phase: DesignPhase,
  count: number,
  listed: NonNullable<ReturnType<typeof bestListedTrainer>>,
) {
  const { input } = campaign;
  const response = await agents.designTrainerExperiments({
    phase,
    count,
    model: input.baseline,
    baseline: listed.reference,
    history: listed.runs,
    space: listed.trainer.searchSpace ?? {},
    seed: input.seed,
  });
  const technique = `${TRAINER_TECHNIQUE_PREFIX}${listed.trainer.name}`;
  return {
    ...response,
    proposals: response.proposals.map((p) => ({
      ...p,
      trainer: listed.trainer.name,
      hypothesis: { ...p.hypothesis, technique, parents: [listed.reference.experimentId] },
    })),
  };
}

async function designBuiltin(campaign: CampaignState, phase: DesignPhase, count: number, signal: FieldPairSignal[]) {
  const { input, campaignId } = campaign;
  // The built-in designer builds built-in models: a search-space trainer's runs (whose config is the baseline's) are
  // left out of what it reads, and so is the list of trainers (the plan runs those).
  const builtin = campaign.experiments.filter((e) => !e.externalJob);
  const { trainers: _trainers, ...searchSpace } = input.searchSpace;
  return decisions.designExperiments(
    {
      campaignId,
      phase,
      count,
      dataFingerprint: campaign.facts!.fingerprint,
      baseline: summarize(campaign.baseline()!, campaign.decideOn, campaign.baseline()),
      history: designerHistory(builtin, undefined, campaign.decideOn, campaign.baseline()),
      fieldPairSignal: signal,
      searchSpace,
      seed: input.seed,
      research: campaign.research?.hypotheses ?? [],
      screened: campaign.probes
        .filter((p) => !p.promotedTo && !p.externalJob && p.hypothesis?.technique !== REFERENCE_PROBE)
        .slice(-64)
        .map((p) => summarize(p, campaign.decideOn)),
    },
    { mode: input.agents, strategy: input.strategy, data: input.data },
  );
}

/** The campaign's external trainer, or undefined when the built-in engine trains (the default). */
function externalTrainer(campaign: CampaignState) {
  const t = campaign.input.trainer;
  return t && t.kind !== 'builtin' ? t : undefined;
}

/**
 * Runs proposals as child experiments in parallel; each result joins the campaign as it arrives. Given a probe
 * scale, they run as probes on its row sample (ids …-pN) and join the campaign's probes instead.
 */
async function runExperiments(
  campaign: CampaignState,
  phase: Phase,
  proposals: { model: ModelConfig; hypothesis: Hypothesis; trainerParams?: ProposedExperiment['trainerParams']; trainer?: string }[],
  probe?: ProbeScale,
  boundAttempts = false,
): Promise<ExperimentResult[]> {
  const { input, campaignId, running } = campaign;
  const joined = probe ? campaign.probes : campaign.experiments;
  const maxAttempts = boundAttempts
    ? attemptsWithinBudget(input.budget.experiments, computeUsed(campaign.experiments, campaign.probes), proposals.length, probe?.rowFraction)
    : undefined;
  const baseline = campaign.baseline();
  const external = externalTrainer(campaign);
  const listed = (name: string) => {
    const t = input.searchSpace.trainers?.find((l) => l.name === name);
    if (!t) throw ApplicationFailure.create({ nonRetryable: true, message: `trainer "${name}" is not in the campaign's searchSpace.trainers` });
    return t;
  };
  const launched = proposals.map((proposal, i) => {
    const trainer = proposal.trainer !== undefined && !external ? listed(proposal.trainer) : external;
    const experimentId =
      phase === 'baseline'
        ? `${campaignId}-baseline`
        : probe
          ? `${campaignId}-p${joined.length + i + 1}`
          : `${campaignId}-x${joined.length + running.size + 1}`;
    running.add(experimentId);
    return executeChild<typeof rankingExperiment>(WORKFLOW_TYPES.experiment, {
      workflowId: experimentId,
      taskQueue: TASK_QUEUES.agent,
      args: [
        {
          experimentId,
          campaignId,
          phase,
          data: probe ? probeData(input.data, probe) : input.data,
          model: proposal.model,
          hypothesis: proposal.hypothesis,
          baselineNe: baseline?.metrics?.ne,
          ...(campaign.decideOn === 'validation' && baseline?.validationMetrics ? { baselineValidationNe: baseline.validationMetrics.ne } : {}),
          baselineArtifact: baseline?.artifact,
          segmentField: input.segmentField,
          agents: input.agents,
          ...(probe ? { probe } : {}),
          ...(maxAttempts !== undefined ? { maxAttempts } : {}),
          // The trainer's knobs: the baseline's (`params`) or the designer's; the search space stays with the campaign.
          ...(trainer ? { trainer: { ...trainer, searchSpace: undefined, params: proposal.trainerParams ?? trainer.params } } : {}),
        },
      ],
    }).then((result) => {
      running.delete(experimentId);
      joined.push(result);
      campaign.publish();
      return result;
    });
  });
  const results = await Promise.all(launched);
  await campaign.flush();
  return results;
}

/**
 * Step 4. Guardrails (and, deciding on validation, the floor) are checked here, in the workflow; the evaluator (LLM or
 * heuristic) only advises which eligible candidate to recommend. Returns the recommendation — none when no model,
 * the baseline included, clears the floor — and the candidate a human must look at before anything is recommended:
 * the best one when it breaks a guardrail, or the best of all when nothing clears the floor.
 */
async function recommendWithinGuardrails(campaign: CampaignState): Promise<{ recommendation: Recommendation | null; haltedOn?: Halt }> {
  const { input, campaignId, decideOn } = campaign;
  campaign.phase = 'evaluation';
  campaign.publish();
  const base = campaign.baseline()!;
  const candidates = campaign.experiments.filter((e) => e !== base && e.status === 'succeeded' && e.metrics);
  const onValidation = decideOn === 'validation';
  const rules = { guardrails: input.guardrails, floor: input.floor, decideOn };
  const checked = eligibility(base, candidates, rules);
  const { violations } = checked;
  const breakers = onValidation ? [...candidates, base] : candidates;
  campaign.breaches = breakers.flatMap((c) =>
    (c === base ? checked.baselineFloor : violations.get(c.experimentId)!).map((v) => ({
      experimentId: c.experimentId,
      constraint: v.split(':')[0],
      detail: v,
    })),
  );
  campaign.breaches.forEach((b, i) =>
    campaign.event({
      type: 'guardrail',
      eventId: `${campaignId}:guardrail:${i}`,
      campaignId,
      experimentId: b.experimentId,
      constraint: b.constraint,
      detail: b.detail,
    }),
  );
  const evaluation = await decisions.evaluateResults(
    {
      campaignId,
      baseline: summarize(base, decideOn, base),
      candidates: candidates.map((c) => ({ ...summarize(c, decideOn, base), guardrailViolations: violations.get(c.experimentId)! })),
      guardrails: input.guardrails,
      // The oracle's NE is a test number: the evaluator compares it with NE on the same rows only.
      ...(onValidation ? {} : { oracleNe: campaign.oracleNe }),
    },
    input.agents,
  );
  // The evaluator advises; the workflow enforces: only a candidate without violations may be recommended.
  const decided = decideRecommendation(base, candidates, evaluation.recommended, rules, checked);
  const { source } = evaluation;
  if (decided.kind === 'none')
    return {
      recommendation: null,
      haltedOn: { candidate: decided.best, broken: decided.broken, rationale: noUsableSignal(campaign, decided.best), source, noSignal: true },
    };
  const recommendation =
    decided.kind === 'candidate'
      ? recommend(campaign, decided.pick, evaluation.rationale, source)
      : recommend(
          campaign,
          base,
          `No candidate beat the baseline significantly within the guardrails${onValidation ? ' and the floor' : ''}; keep the baseline. ${evaluation.rationale}`,
          source,
        );
  return { recommendation, ...(decided.halt ? { haltedOn: { ...decided.halt, rationale: evaluation.rationale, source } } : {}) };
}

/** Why nothing is recommended when no model clears the floor, and what would help. */
function noUsableSignal(campaign: CampaignState, best: ExperimentResult): string {
  const v = decisionMetrics(best, 'validation');
  const clicks = campaign.baseline()?.validationMetrics?.clicks;
  const detectable = campaign.dataChecks?.detectable.find((d) => d.split === 'validation');
  const measured = v
    ? `the best model, ${best.experimentId}, has validation NE ${v.ne.toFixed(4)}${v.neStdErr !== undefined ? ` ± ${v.neStdErr.toFixed(4)}` : ''}${v.auc !== undefined ? ` and AUC ${v.auc.toFixed(3)}` : ''}`
    : `no model has validation metrics`;
  return (
    `No recommendation: the data holds no usable signal. No model, the baseline included, clears the floor (better than predicting the training click rate for every row, AUC above 0.5, calibration within the band): ${measured}. ` +
    `What would help: more clicks${clicks !== undefined ? ` (the validation rows hold ${Math.round(clicks)}` : ''}${detectable ? `${clicks !== undefined ? '; ' : ' ('}they can only detect NE changes of ${(100 * detectable.relativeNeChange).toFixed(1)}% or more)` : clicks !== undefined ? ')' : ''}, a longer or later validation window, or features that carry the signal. Override (with a reason) to recommend ${best.experimentId} anyway, or abort.`
  ).slice(0, 4000);
}

interface Halt {
  candidate: ExperimentResult;
  broken: string[];
  rationale: string;
  source: Recommendation['source'];
  /** Nothing clears the floor: there is no recommendation until a human overrides. */
  noSignal?: boolean;
}

/** Step 5. Returns true when a human overrode the guardrail (the candidate becomes the recommendation), false on abort. */
async function haltForGuardrailReview(campaign: CampaignState, halt: Halt): Promise<boolean> {
  const { campaignId } = campaign;
  campaign.signOff.reviewState = 'needs-review';
  campaign.phase = 'review';
  campaign.publish();
  campaign.event({
    type: 'recommendation',
    eventId: `${campaignId}:needs-review`,
    campaignId,
    experimentId: halt.noSignal ? null : halt.candidate.experimentId,
    rationale: halt.noSignal
      ? halt.rationale
      : `Halted: the best candidate breaks ${halt.broken.join('; ')}. Send override (with a reason) or abort.`,
  });
  await campaign.waitFor(() => campaign.signOff.overridden || campaign.aborted);
  if (campaign.aborted) return false;
  const override = campaign.signOff.last('override')!;
  campaign.recommendation = recommend(
    campaign,
    halt.candidate,
    `${halt.noSignal ? 'Floor' : 'Guardrail'} overridden by ${override.by}: "${override.note}". Broken: ${halt.broken.join('; ')}. ${halt.rationale}`,
    halt.source,
  );
  return true;
}

/** Step 6. Never automatic approval: a review timeout either reminds (and keeps waiting) or expires as rejected. */
async function waitForSignOff(campaign: CampaignState): Promise<void> {
  const { input, campaignId, signOff } = campaign;
  const recommendation = campaign.recommendation!;
  signOff.reviewState = 'awaiting-review';
  campaign.phase = 'review';
  campaign.publish();
  campaign.event({
    type: 'recommendation',
    eventId: `${campaignId}:recommendation`,
    campaignId,
    experimentId: recommendation.experimentId,
    rationale: recommendation.rationale,
  });
  const timeoutMs = input.review.timeoutSeconds ? input.review.timeoutSeconds * 1000 : undefined;
  for (let reminder = 0; !signOff.decided; reminder++) {
    if (await campaign.waitFor(() => signOff.decided, timeoutMs)) break;
    const kind = input.review.onTimeout === 'expire' ? 'expired' : 'reminder';
    signOff.record({
      kind,
      by: 'rankwright',
      at: new Date().toISOString(),
      note: `no sign-off after ${input.review.timeoutSeconds} s`,
      via: 'timer',
    });
    campaign.event({
      type: 'decision',
      eventId: `${campaignId}:timeout:${reminder}`,
      campaignId,
      kind,
      by: 'rankwright',
      via: 'timer',
      accepted: true,
    });
    if (kind === 'expired') signOff.reviewState = 'rejected';
  }
}

/** Continue-as-new: the caller's config goes on as the first argument, the campaign's own state as the second. */
async function continueCampaign(campaign: CampaignState, rawInput: unknown): Promise<never> {
  await campaign.flush();
  await condition(allHandlersFinished);
  return continueAsNew<typeof rankingCampaign>({ ...(rawInput as object), campaignId: campaign.campaignId }, campaign.carryOver());
}

async function finish(campaign: CampaignState, note: string): Promise<CampaignStatus> {
  const { campaignId } = campaign;
  campaign.phase = 'done';
  campaign.publish();
  campaign.event({
    type: 'campaign.finished',
    eventId: `${campaignId}:finished`,
    campaignId,
    reviewState: campaign.signOff.reviewState,
    stopReason: campaign.stopReason,
  });
  await campaign.flush();
  log.info('campaign finished', { campaignId, note });
  const report = await records.writeReport(campaign.status());
  log.info('campaign report written', { path: report.path });
  await condition(allHandlersFinished);
  return campaign.status();
}

class CampaignAborted extends Error {}

/**
 * The recommendation of `e`. Deciding on validation, it carries the one comparison with the baseline on test, and its
 * rationale opens with it: "selected on validation, confirmed on test" (or not confirmed, and why).
 */
function recommend(campaign: CampaignState, e: ExperimentResult, rationale: string, source: Recommendation['source']): Recommendation {
  const base = campaign.baseline();
  const confirmation = campaign.decideOn === 'validation' && base ? confirmOnTest(e, base, campaign.dataChecks?.trainCtr) : undefined;
  return {
    experimentId: e.experimentId,
    artifact: e.artifact,
    metrics: e.metrics!,
    ...(e.validationMetrics ? { validationMetrics: e.validationMetrics } : {}),
    relativeNeChange: e.relativeNeChange,
    rationale: (confirmation ? `${confirmation.note} ${rationale}` : rationale).slice(0, 8000),
    source,
    ...(confirmation ? { confirmation } : {}),
  };
}
