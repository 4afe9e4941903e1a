/**
 * `npm run bench:agent`: the agent (heuristic sub-agents, REA three-phase plan) against random search over the same
 * space, at the same experiment budget, on several planted scenarios. It drives the very planner the workflow uses
 * (workflows/planner.ts) with the real trainer and sub-agents in process — Temporal adds durability, not decisions,
 * so it is left out to keep the benchmark fast.
 *
 * Writes bench/results/agent.json and bench/results/agent.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CampaignInput } from '../contracts';
import type { CampaignInputRaw, DesignRequest, ExperimentResult, FieldPairSignal, ProposedExperiment } from '../contracts';
import { designHypotheses, designRandomly } from '../agents';
import { describeData, measureFieldPairSignal, trainExperiment, TrainingFailure } from '../ranking';
import { bestResult, runPlan, type DesignPhase } from '../workflows/planner';
import { designerHistory, summarize } from '../workflows/summaries';
import { researchBaseline } from '../activities/research';

interface Scenario {
  name: string;
  what: string;
  data: CampaignInputRaw['data'];
}

export const SCENARIOS: Scenario[] = [
  { name: 'two-crosses', what: '8 fields, 2 planted crosses', data: { planted: { seed: 11, trainRows: 40_000, testRows: 15_000, crosses: 2 } } },
  {
    name: 'many-crosses',
    what: '12 fields, 4 strong crosses',
    data: { planted: { seed: 12, trainRows: 40_000, testRows: 15_000, categoricalFields: 12, crosses: 4, crossStrength: 2 } },
  },
  {
    name: 'dense-skewed',
    what: 'dense non-linearity, Zipf 1.4, 1 cross, drift',
    data: { planted: { seed: 13, trainRows: 40_000, testRows: 15_000, crosses: 1, denseNonlinearity: 2, zipf: 1.4, drift: 0.2 } },
  },
];

const BUDGET = Number(process.env.BENCH_AGENT_BUDGET ?? 12);

interface Run {
  strategy: 'agent' | 'random';
  bestNe: number;
  baselineNe: number;
  oracleNe?: number;
  gainCaptured?: number;
  experimentsToWithin1pct: number;
  experiments: { id: string; phase: string; family: string; title: string; ne?: number; failed?: string }[];
  seconds: number;
}

export async function runCampaign(scenario: Scenario, strategy: 'agent' | 'random'): Promise<Run> {
  const input = CampaignInput.parse({
    data: scenario.data,
    budget: { experiments: BUDGET, parallel: 2, stallGain: 0 },
    strategy,
    approvers: ['bench'],
    agents: 'heuristic',
    seed: 5,
  });
  const facts = await describeData(input.data);
  const results: ExperimentResult[] = [];
  const started = Date.now();
  let signal: FieldPairSignal[] = [];

  const runOne = async (phase: string, proposal: Pick<ProposedExperiment, 'model' | 'hypothesis'>) => {
    const id = `${strategy}-${results.length + 1}`;
    const base = results.find((r) => r.phase === 'baseline');
    const baseNe = base?.metrics?.ne;
    try {
      const out = await trainExperiment({
        data: input.data,
        model: proposal.model,
        segmentField: input.segmentField,
        baselineArtifact: base?.artifact,
      });
      results.push({
        experimentId: id,
        phase,
        status: 'succeeded',
        config: proposal.model,
        hypothesis: proposal.hypothesis,
        dataFingerprint: out.dataFingerprint,
        artifact: out.artifact,
        metrics: out.metrics,
        validationNe: out.validationNe,
        learningCurve: out.learningCurve,
        neStdErr: out.neStdErr,
        neDeltaStdErr: out.neDeltaStdErr,
        relativeNeChange: baseNe ? (out.metrics.ne - baseNe) / baseNe : undefined,
        trainSeconds: out.trainSeconds,
        modelBytes: out.modelBytes,
        attempts: [{ config: proposal.model }],
      });
    } catch (err) {
      if (!(err instanceof TrainingFailure)) throw err;
      results.push({
        experimentId: id,
        phase,
        status: 'failed',
        config: proposal.model,
        hypothesis: proposal.hypothesis,
        trainSeconds: 0,
        modelBytes: 0,
        attempts: [{ config: proposal.model, failure: err.toReport() }],
        failure: { failureClass: err.failureClass, message: err.message, fix: '' },
      });
    }
  };

  await runOne('baseline', {
    model: input.baseline,
    hypothesis: { title: 'Baseline', technique: 'baseline', rationale: 'reference', expectedEffect: 'reference', parents: [] },
  });
  // The campaign's research step, as the workflow runs it (agent strategy only).
  const research =
    strategy === 'agent' && results[0].status === 'succeeded' ? (await researchBaseline(input.data, results[0], input.searchSpace)).hypotheses : [];
  await runPlan(
    input,
    { phaseIndex: 0 },
    {
      results: () => results,
      onPhase: async () => {
        const best = bestResult(results);
        signal = strategy === 'agent' && best?.artifact ? await measureFieldPairSignal(input.data, best.artifact, { sampleRows: 40_000 }) : [];
      },
      beforeWave: async () => undefined,
      design: async (phase: DesignPhase, count: number) => {
        const request: DesignRequest = {
          campaignId: `bench-${scenario.name}-${strategy}`,
          phase,
          count,
          dataFingerprint: facts.fingerprint,
          baseline: summarize(results[0]),
          history: designerHistory(results),
          insights: [],
          fieldPairSignal: signal,
          searchSpace: input.searchSpace,
          seed: input.seed,
          research,
        };
        return (strategy === 'random' ? designRandomly(request) : await designHypotheses(request, null)).proposals;
      },
      // Sequential on purpose: the benchmark machine has 2 cores and timings should not fight each other.
      run: async (phase, proposals) => {
        for (const p of proposals) await runOne(phase, p);
      },
    },
  );

  const baselineNe = results[0].metrics!.ne;
  const bestNe = bestResult(results)!.metrics!.ne;
  let running = Infinity;
  let toWithin = results.length;
  results.forEach((r, i) => {
    running = Math.min(running, r.metrics?.ne ?? Infinity);
    if (toWithin === results.length && running <= bestNe * 1.01) toWithin = i + 1;
  });
  const oracleNe = facts.oracleNe;
  return {
    strategy,
    bestNe,
    baselineNe,
    oracleNe,
    gainCaptured: oracleNe !== undefined ? (baselineNe - bestNe) / (baselineNe - oracleNe) : undefined,
    experimentsToWithin1pct: toWithin,
    experiments: results.map((r) => ({
      id: r.experimentId,
      phase: r.phase,
      family: r.config.family,
      title: r.hypothesis?.title ?? '',
      ne: r.metrics?.ne,
      failed: r.failure?.failureClass,
    })),
    seconds: (Date.now() - started) / 1000,
  };
}

async function main() {
  // Each run gets an empty home: no insights or artifacts leak from one strategy to the other.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-bench-agent-'));
  process.env.RANKWRIGHT_HOME = home;
  const rows: { scenario: Scenario; agent: Run; random: Run }[] = [];
  for (const scenario of SCENARIOS) {
    process.stderr.write(`scenario ${scenario.name}: agent… `);
    const agent = await runCampaign(scenario, 'agent');
    process.stderr.write(`NE ${agent.bestNe.toFixed(4)} (${agent.seconds.toFixed(0)} s); random… `);
    const random = await runCampaign(scenario, 'random');
    process.stderr.write(`NE ${random.bestNe.toFixed(4)} (${random.seconds.toFixed(0)} s)\n`);
    rows.push({ scenario, agent, random });
  }
  const machine = { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString() };
  fs.writeFileSync(path.join(RESULTS, 'agent.json'), JSON.stringify({ machine, budget: BUDGET, rows }, null, 2) + '\n');
  writeAgentReport();
  fs.rmSync(home, { recursive: true, force: true });
}

const RESULTS = path.join(__dirname, 'results');

/** First experiment (1-based) at which a run's best NE so far reached `target`, or undefined. */
function experimentsToReach(run: Run, target: number): number | undefined {
  const i = run.experiments.findIndex((e) => e.ne !== undefined && e.ne <= target);
  return i < 0 ? undefined : i + 1;
}

/** Renders bench/results/agent.md from agent.json (also alone: `npx tsx bench/agent.ts --render`). */
function writeAgentReport(): void {
  const { machine, budget, rows } = JSON.parse(fs.readFileSync(path.join(RESULTS, 'agent.json'), 'utf8')) as {
    machine: { cpu: string; cores: number; node: string; date: string };
    budget: number;
    rows: { scenario: Scenario; agent: Run; random: Run }[];
  };
  const pct = (x?: number) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)}%`);
  const lines = [
    `Budget ${budget} experiments per campaign (baseline included), heuristic sub-agents, ${machine.cpu} (${machine.cores} cores), Node ${machine.node}, ${machine.date.slice(0, 10)}.`,
    '',
    "| scenario | oracle NE | baseline NE | agent best NE | random best NE | gain captured: agent / random | experiments to within 1% of own final NE: agent / random | agent experiments to reach random's final NE |",
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      ({ scenario, agent, random }) =>
        `| ${scenario.name} (${scenario.what}) | ${agent.oracleNe?.toFixed(4) ?? 'n/a'} | ${agent.baselineNe.toFixed(4)} | **${agent.bestNe.toFixed(4)}** | ${random.bestNe.toFixed(4)} | ${pct(agent.gainCaptured)} / ${pct(random.gainCaptured)} | ${agent.experimentsToWithin1pct} / ${random.experimentsToWithin1pct} | ${experimentsToReach(agent, random.bestNe) ?? 'never'} of ${budget} |`,
    ),
  ];
  fs.writeFileSync(path.join(RESULTS, 'agent.md'), lines.join('\n') + '\n');
  console.log(lines.join('\n'));
}

if (require.main === module && process.argv.includes('--render')) {
  writeAgentReport();
} else if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
