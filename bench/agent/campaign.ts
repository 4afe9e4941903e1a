import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CampaignInput, DEFAULT_MAX_ATTEMPTS } from '../../contracts';
import type {
  Attempt,
  BaseRate,
  DataChecks,
  DataConfig,
  ModelFamily,
  ExperimentResult,
  FieldPairSignal,
  Hypothesis,
  ProposedExperiment,
  StopReason,
} from '../../contracts';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { driftFindings } from '../../contracts/drift';
import { fieldLabels } from '../../contracts/field-names';
import { probeData, probeScaleFor, REFERENCE_PROBE, type ProbeScale } from '../../contracts/probe';
import { designExperiments, interpretFailure } from '../../activities/agents';
import { describeData, measureInteractions } from '../../activities/data';
import { recordExperiment } from '../../activities/records';
import { researchBaseline } from '../../activities/research';
import { clearDatasetCache, dataFingerprint, TrainingFailure } from '../../ranking';
import { trainingPool } from '../../workers/training-pool';
import { downsampleCurve } from '../../ranking/learning-curve';
import { asDataFinding, dataChecks } from '../../workflows/data-checks';
import { failedResult, gaveUpFix, succeededResult } from '../../workflows/experiment-result';
import { attemptsWithinBudget, bestResult, computeUsed, runPlan, trainSecondsUsed, type DesignPhase } from '../../workflows/planner';
import { applyRememberedFix, retryAfterFailure } from '../../workflows/retry-policy';
import { designerHistory, summarize } from '../../workflows/summaries';
import type { ResearchExpectationSource } from './recommendation';

/**
 * One campaign of the agent bench, in process: the planner the workflow runs (workflows/planner.ts `runPlan`) with the
 * activities it calls (describe, research, interaction signal, design with the insights database, triage, record)
 * and the real trainer — Temporal adds durability, not decisions, so it is left out. Each step mirrors
 * workflows/campaign.ts and workflows/experiment.ts: probes on a row sample for the agent (successive halving), the
 * budget counted in compute, and failed training retried by the product's retry policy up to ExperimentInput's
 * maxAttempts. Agent and random search go through the same code; only the strategy differs.
 */

export type Strategy = 'agent' | 'random';

export interface CampaignSpec {
  /** Names the campaign's experiments (bench-<name>). */
  name: string;
  data: DataConfig;
  strategy: Strategy;
  seed: number;
  budget: number;
  /** The search space's families (default: the product's). */
  families?: ModelFamily[];
  /** budget.probeMinRows (default: the product's). */
  probeMinRows?: number;
  /**
   * A RANKWRIGHT_HOME to run in and keep (the caller removes it): a second campaign given the same home reads the
   * insights database the first one wrote, as a team's second campaign on the same data does.
   */
  home?: string;
  /** Names the campaign in place of its strategy (bench-<name>-<label>-s<seed>), so two campaigns on one home differ. */
  label?: string;
  log?: (line: string) => void;
}

export interface CampaignOutcome {
  strategy: Strategy;
  seed: number;
  campaignId: string;
  stopReason: StopReason;
  /** Full runs (baseline included), in completion order. */
  results: ExperimentResult[];
  /** Probes (agent strategy, when the data is large enough to screen on). */
  probes: ExperimentResult[];
  /** Every run, full or probe, in completion order (for compute-so-far). */
  timeline: ExperimentResult[];
  probeScale?: ProbeScale;
  wallSeconds: number;
  /** Seconds of the research step (agent). */
  researchSeconds?: number;
  /** The training rows' click rate (describeData's ctr): what a constant predictor predicts. */
  trainCtr?: number;
  /**
   * What the workflow's data checks say (workflows/data-checks.ts dataChecks): the smallest detectable NE change and
   * the drift findings (contracts/drift.ts driftFindings on describeData's drift).
   */
  dataChecks?: DataChecks;
  /** Rows, clicks and click rate of each split (describeData's drift). */
  baseRates?: { train: BaseRate; validation: BaseRate; test: BaseRate };
  /** The research step's hypotheses (agent): what their runs are compared against. */
  research?: ResearchExpectationSource[];
}

/** Learning-curve points a result carries, as activities/training.ts thins them for workflow history. */
const CURVE_POINTS = 50;

/**
 * Runs one campaign to its budget. Unless given `home`, its RANKWRIGHT_HOME (insights database, artifacts, event log)
 * is its own and is removed after, so nothing leaks between campaigns and a long bench doesn't fill the disk with models.
 */
export async function runBenchCampaign(spec: CampaignSpec): Promise<CampaignOutcome> {
  const log = spec.log ?? (() => {});
  const home = spec.home ?? fs.mkdtempSync(path.join(os.tmpdir(), `rankwright-bench-${spec.strategy}-`));
  const previousHome = process.env.RANKWRIGHT_HOME;
  process.env.RANKWRIGHT_HOME = home;
  // Each campaign reads its data like a fresh worker: no campaign is timed on another one's cached load. Data is read
  // on the training threads (as on a worker), so their caches are the ones that count.
  clearDatasetCache();
  trainingPool().clearDatasetCaches();
  try {
    return await runIn(spec, log);
  } finally {
    if (previousHome === undefined) delete process.env.RANKWRIGHT_HOME;
    else process.env.RANKWRIGHT_HOME = previousHome;
    if (!spec.home) fs.rmSync(home, { recursive: true, force: true });
  }
}

async function runIn(spec: CampaignSpec, log: (line: string) => void): Promise<CampaignOutcome> {
  const started = performance.now();
  const campaignId = `bench-${spec.name}-${spec.label ?? spec.strategy}-s${spec.seed}`;
  const input = CampaignInput.parse({
    campaignId,
    data: spec.data,
    // stallGain 0: every campaign spends its whole budget, so the strategies are compared at equal compute.
    budget: { experiments: spec.budget, parallel: 2, stallGain: 0, ...(spec.probeMinRows ? { probeMinRows: spec.probeMinRows } : {}) },
    ...(spec.families ? { searchSpace: { families: spec.families } } : {}),
    strategy: spec.strategy,
    approvers: ['bench'],
    agents: 'heuristic',
    seed: spec.seed,
  });
  const facts = await describeData(input.data);
  const results: ExperimentResult[] = [];
  const probes: ExperimentResult[] = [];
  const timeline: ExperimentResult[] = [];
  const baseline = () => results.find((r) => r.phase === 'baseline');

  const run = async (phase: string, proposals: Pick<ProposedExperiment, 'model' | 'hypothesis'>[], probe?: ProbeScale) => {
    // As workflows/campaign.ts launches a wave (its patched 'attempts-within-budget'): retries share what the budget
    // has left after the wave's first attempts; the baseline may take them all.
    const maxAttempts =
      phase === 'baseline'
        ? DEFAULT_MAX_ATTEMPTS
        : attemptsWithinBudget(input.budget.experiments, computeUsed(results, probes), proposals.length, probe?.rowFraction);
    // Sequential on purpose: the bench machine has few cores and timings should not fight each other.
    for (const proposal of proposals) {
      const joined = probe ? probes : results;
      const experimentId = phase === 'baseline' ? `${campaignId}-baseline` : `${campaignId}-${probe ? 'p' : 'x'}${joined.length + 1}`;
      const base = baseline();
      const result = await runExperiment({
        experimentId,
        campaignId,
        phase,
        data: probe ? probeData(input.data, probe) : input.data,
        proposal,
        baselineNe: base?.metrics?.ne,
        baselineValidationNe: base?.validationMetrics?.ne,
        baselineArtifact: base?.artifact,
        segmentField: input.segmentField,
        probe,
        maxAttempts,
      });
      joined.push(result);
      timeline.push(result);
      log(
        `${experimentId} ${result.hypothesis?.title ?? ''}: ${result.metrics ? `NE ${result.metrics.ne.toFixed(4)}` : `failed (${result.failure?.failureClass})`}${result.attempts.length > 1 ? ` after ${result.attempts.length} attempts` : ''}, ${trainSecondsUsed([result], [], true).toFixed(1)} s`,
      );
    }
  };

  const baselineHypothesis: Hypothesis = {
    title: 'Baseline',
    technique: 'baseline',
    rationale: 'The model every candidate is measured against.',
    expectedEffect: 'reference NE',
    parents: [],
  };
  await run('baseline', [{ model: input.baseline, hypothesis: baselineHypothesis }]);
  const base = baseline();
  if (base?.status !== 'succeeded') throw new Error(`the baseline failed: ${base?.failure?.message ?? 'unknown'}`);
  // The data checks, as the workflow's describe and checkData steps make them (they inform; they decide nothing).
  const checks = dataChecks(base, facts.ctr, facts.drift ? driftFindings(facts.drift, fieldLabels(input.data)).map(asDataFinding) : []);

  // The research step, as the workflow runs it (agent strategy only); advice: without it the campaign goes on.
  let research: Awaited<ReturnType<typeof researchBaseline>> | undefined;
  if (input.strategy === 'agent') {
    research = await researchBaseline(input.data, base, input.searchSpace).catch((err: Error) => {
      log(`research step unavailable: ${err.message}`);
      return undefined;
    });
  }

  // As new campaigns run (the workflow's patched 'portfolio' branch): small data probed on a larger sample.
  const probeScale = input.strategy === 'agent' ? probeScaleFor(input.budget, facts.trainRows, { smallData: true }) : undefined;
  let signal: FieldPairSignal[] = [];
  const stopReason = await runPlan(
    input,
    { phaseIndex: 0 },
    {
      results: () => results,
      probes: () => probes,
      untried: () => {
        const ran = new Set([...results, ...probes].map((e) => canonicalConfigKey(e.config)));
        return (research?.hypotheses ?? []).filter((h) => !ran.has(canonicalConfigKey(h.model))).map((h) => h.hypothesis.title);
      },
      onPhase: async (phase: DesignPhase, note?: string) => {
        log(`phase ${phase}${note ? ` (${note})` : ''}`);
        const best = bestResult(results);
        signal =
          input.strategy === 'agent' && best?.artifact
            ? await measureInteractions(input.data, best.artifact).catch((err: Error) => {
                log(`interaction signal unavailable: ${err.message}`);
                return [];
              })
            : [];
      },
      beforeWave: async () => undefined,
      design: async (phase, count) => {
        const response = await designExperiments(
          {
            campaignId,
            phase,
            count,
            dataFingerprint: facts.fingerprint,
            baseline: summarize(base, 'validation', base),
            history: designerHistory(results, undefined, 'validation', base),
            fieldPairSignal: signal,
            searchSpace: input.searchSpace,
            seed: input.seed,
            research: research?.hypotheses ?? [],
            screened: probes
              .filter((p) => !p.promotedTo && p.hypothesis?.technique !== REFERENCE_PROBE)
              .slice(-64)
              .map((p) => summarize(p, 'validation')),
          },
          { mode: input.agents, strategy: input.strategy, data: input.data },
        );
        return response.proposals.map((p) => ({ ...p, hypothesis: { ...p.hypothesis, designer: response.source } }));
      },
      run: (phase, proposals, probe) => run(phase, proposals, probe),
    },
    // As workflows/campaign.ts runs new campaigns (its patched 'probes', 'portfolio', 'failed-attempt-seconds' and
    // 'attempts-within-budget' and 'warm-start-once' branches).
    {
      countCompute: true,
      probe: probeScale,
      stallNeedsExhaustion: true,
      portfolio: input.strategy === 'agent',
      failedAttemptSeconds: true,
      warmStartOnce: input.strategy === 'agent',
    },
  );
  log(
    `stopped (${stopReason}): ${results.length} full runs, ${probes.length} probes, compute ${computeUsed(results, probes)} full-run equivalents, train ${trainSecondsUsed(results, probes, true).toFixed(0)} s`,
  );
  return {
    strategy: spec.strategy,
    seed: spec.seed,
    campaignId,
    stopReason,
    results,
    probes,
    timeline,
    probeScale,
    wallSeconds: (performance.now() - started) / 1000,
    researchSeconds: research?.seconds,
    trainCtr: facts.ctr,
    dataChecks: checks,
    ...(facts.drift ? { baseRates: facts.drift.splits } : {}),
    ...(research
      ? {
          research: research.hypotheses.map((h) => ({
            title: h.hypothesis.title,
            key: canonicalConfigKey(h.model),
            expectedGain: h.expectedGain,
            ...(h.heldOutGain !== undefined ? { heldOutGain: h.heldOutGain } : {}),
          })),
        }
      : {}),
  };
}

interface ExperimentSpec {
  experimentId: string;
  campaignId: string;
  phase: string;
  data: DataConfig;
  proposal: Pick<ProposedExperiment, 'model' | 'hypothesis'>;
  baselineNe?: number;
  /** The baseline's validation NE (the relative change on validation, as workflows/campaign.ts passes it). */
  baselineValidationNe?: number;
  baselineArtifact?: string;
  segmentField: string;
  probe?: ProbeScale;
  /** Attempts this run may take (the campaign's budget may allow fewer than DEFAULT_MAX_ATTEMPTS). */
  maxAttempts?: number;
}

/**
 * One experiment as workflows/experiment.ts runs it: train; on a classified failure, triage (the heuristic agent, with
 * the insights database's remembered fixes) and the product's retry policy, up to DEFAULT_MAX_ATTEMPTS; record the result in
 * the insights database and the event log. Infrastructure errors (not a TrainingFailure) end the campaign.
 */
export async function runExperiment(spec: ExperimentSpec): Promise<ExperimentResult> {
  const { experimentId: id, campaignId, proposal, probe } = spec;
  const who = {
    experimentId: id,
    campaignId,
    phase: spec.phase,
    hypothesis: proposal.hypothesis,
    baselineNe: spec.baselineNe,
    baselineValidationNe: spec.baselineValidationNe,
    probe,
  };
  const attempts: Attempt[] = [];
  let config = proposal.model;
  let result: ExperimentResult | undefined;
  for (let attempt = 1; !result; attempt++) {
    try {
      // On a training thread, as a worker trains: the same thread's cache holds the data describeData and research read.
      const request = { data: spec.data, model: config, segmentField: spec.segmentField, baselineArtifact: spec.baselineArtifact };
      const out = await trainingPool().run({ kind: 'train', request, checkpoints: false });
      const best = out.learningCurve.find((p) => p.step === out.earlyStopping.bestStep);
      attempts.push({ config });
      // As activities/training.ts returns it: the progress log left out, the learning curve thinned.
      const { progress: _progress, ...summary } = out;
      result = succeededResult(who, config, { ...summary, learningCurve: downsampleCurve(out.learningCurve, CURVE_POINTS, best) }, attempts);
    } catch (err) {
      if (!(err instanceof TrainingFailure)) throw err;
      // As activities/training.ts reports it: with the data's fingerprint, so triage finds fixes that worked on it.
      const fingerprint = await dataFingerprint(spec.data).catch(() => undefined);
      const failure = { ...err.toReport(), ...(fingerprint ? { dataFingerprint: fingerprint } : {}) };
      const triage = await interpretFailure({ experimentId: id, config, failure, attempt, data: spec.data }, 'heuristic');
      const decision = triage.rememberedFix
        ? applyRememberedFix(failure.failureClass, config, triage.rememberedFix, failure.message)
        : retryAfterFailure(failure.failureClass, config, failure.message);
      attempts.push({
        config,
        failure,
        triage: { failureClass: triage.failureClass, diagnosis: triage.diagnosis, fix: triage.fix, source: triage.source },
      });
      const maxAttempts = spec.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
      if (decision.retry && attempt < maxAttempts) {
        config = decision.config;
        continue;
      }
      result = failedResult(who, config, failure, decision.retry ? gaveUpFix(attempt, maxAttempts, decision.fix) : decision.fix, attempts);
    }
  }
  await recordExperiment(result, spec.data);
  return result;
}
