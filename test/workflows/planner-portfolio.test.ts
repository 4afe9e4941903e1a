import { plannedResult } from '../support/plan-results';
import { strict as assert } from 'node:assert';
import { CampaignInput, familyDefault, familyPortfolio, ModelConfig, probeScaleFor, SearchSpace } from '../../contracts';
import type { ExperimentResult, ProbeScale, ProposedExperiment } from '../../contracts';
import { computeUsed, pendingPortfolio, runPlan, type DesignPhase } from '../../workflows/planner';

/** Validation NE by family: the DCN fits this (imaginary) data best, then FM, then LR; a learning rate moves LR a little. */
const NE = { lr: 0.8, fm: 0.78, dcn: 0.75 } as const;

/**
 * The plan alone (no Temporal), with a designer that proposes what a cost-minded designer does on small data: LR
 * learning rates (cheap), and a switch to FM with LR's features and hash table (as the designer's family switch does).
 */
function plan(
  budget: number,
  options: {
    probe?: ProbeScale;
    portfolio?: boolean;
    families?: Array<'lr' | 'fm' | 'dcn'>;
    /** The designer's first answer holds a warm start; 'every-answer': each holds another (similar data sets' winners). */
    warmStart?: boolean | 'every-answer';
    warmStartOnce?: boolean;
    trainers?: unknown[];
  },
) {
  const input = CampaignInput.parse({
    data: { planted: {} },
    budget: { experiments: budget, parallel: 2, stallGain: 0 },
    approvers: ['ana'],
    ...(options.families || options.trainers
      ? { searchSpace: { ...(options.families ? { families: options.families } : {}), ...(options.trainers ? { trainers: options.trainers } : {}) } }
      : {}),
  });
  const results: ExperimentResult[] = [];
  const probes: ExperimentResult[] = [];
  const asked: number[] = [];
  let designed = 0;
  const result = (id: string, phase: string, p: ProposedExperiment, probe?: ProbeScale): ExperimentResult => {
    // A search-space trainer (LightGBM, say) fits this data best of all.
    const ne = (p.trainer ? 0.7 : NE[p.model.family] - (p.model.family === 'lr' ? p.model.learningRate / 1000 : 0)) + (probe ? 0.01 : 0);
    const result = plannedResult(id, phase, p, ne, probe);
    return p.trainer
      ? { ...result, externalJob: { kind: 'command' as const, name: p.trainer, params: p.trainerParams ?? {}, jobId: `${id}-a1` } }
      : result;
  };
  const idea = (i: number): ProposedExperiment => {
    designed++;
    if (i === 0)
      return {
        model: ModelConfig.parse({ family: 'fm', hashBits: 22, learningRate: 0.05 + designed / 1000 }),
        hypothesis: { title: `switch ${designed}`, technique: 'family-fm', rationale: 'r', expectedEffect: 'e', parents: [] },
      };
    return {
      model: ModelConfig.parse({ family: 'lr', learningRate: 0.01 * designed }),
      hypothesis: { title: `idea ${designed}`, technique: 'learning-rate', rationale: 'r', expectedEffect: 'e', parents: [] },
    };
  };
  results.push(result('base', 'baseline', { model: input.baseline, hypothesis: { ...idea(1).hypothesis, title: 'Baseline' } }));
  const run = () =>
    runPlan(
      input,
      { phaseIndex: 0 },
      {
        results: () => results,
        probes: () => probes,
        onPhase: async () => undefined,
        beforeWave: async () => undefined,
        design: async (_phase: DesignPhase, count: number) => {
          asked.push(count);
          const ideas = Array.from({ length: count }, (_, i) => idea(i));
          // A warm start: the designer's last proposal re-runs an earlier campaign's winner on this data.
          if ((options.warmStart && asked.length === 1) || options.warmStart === 'every-answer')
            ideas[count - 1] = {
              model: ModelConfig.parse({ family: 'lr', learningRate: 0.5 + asked.length / 100 }),
              hypothesis: { title: 'Warm start', technique: 'warm-start', rationale: 'r', expectedEffect: 'e', parents: [] },
            };
          return ideas;
        },
        run: async (phase, proposals, probe) => {
          for (const p of proposals)
            (probe ? probes : results).push(result(`${probe ? 'p' : 'x'}${probes.length + results.length}`, phase, p, probe));
        },
      },
      { countCompute: true, probe: options.probe, portfolio: options.portfolio, warmStartOnce: options.warmStartOnce },
    );
  return { run, results, probes, asked, input };
}

const families = (runs: ExperimentResult[]) => [...new Set(runs.map((r) => r.config.family))].sort();

describe('a portfolio before a ladder (the plan without Temporal)', () => {
  it('a family at its defaults: the engine default of its family, on the baseline features, inside the search space', () => {
    const space = SearchSpace.parse({ hashBits: [14, 20], epochs: [1, 8] });
    const baseline = ModelConfig.parse({ family: 'lr', denseTransform: 'log', crosses: [['C1', 'C2']], fields: { C3: { drop: true } } });
    const dcn = familyDefault('dcn', baseline, space);
    assert.equal(dcn.family, 'dcn');
    assert.deepEqual(
      { ...dcn, crosses: dcn.crosses, denseTransform: dcn.denseTransform, fields: dcn.fields },
      ModelConfig.parse({ family: 'dcn', denseTransform: 'log', crosses: [['C1', 'C2']], fields: { C3: { drop: true } } }),
      "the DCN's own hash table, step, epochs and layers",
    );
    const fm = familyDefault('fm', baseline, space);
    assert.equal(fm.hashBits, 20, 'the FM default (2^20) fits the space');
    assert.equal(fm.epochs, 2);
    assert.equal(familyDefault('lr', baseline, space).hashBits, 20, "LR's 2^22 is clamped into the space's 2^20");
    assert.deepEqual(
      familyPortfolio(ModelConfig.parse({ family: 'lr' }), SearchSpace.parse({})).map((p) => p.family),
      ['lr', 'fm', 'dcn'],
    );
    // The default baseline is LR's default: the portfolio has nothing to add for LR.
    assert.deepEqual(familyDefault('lr', ModelConfig.parse({ family: 'lr' }), SearchSpace.parse({})), ModelConfig.parse({ family: 'lr' }));
  });

  it('on data big enough to probe, the probe round screens every family first; the best family runs in full', async () => {
    const p = plan(12, { probe: { rowFraction: 0.2, trainRows: 40_000 }, portfolio: true });
    await p.run();
    const round = p.probes.filter((x) => x.hypothesis?.technique !== 'probe-reference');
    assert.equal(round.length, 9);
    assert.deepEqual(
      round.slice(0, 2).map((x) => [x.hypothesis?.technique, x.config]),
      [
        ['family-fm', familyDefault('fm', p.input.baseline, p.input.searchSpace)],
        ['family-dcn', familyDefault('dcn', p.input.baseline, p.input.searchSpace)],
      ],
    );
    assert.ok(!round.slice(2).some((x) => x.hypothesis?.technique === 'family-fm'), "the designer's own FM switch does not take a second slot");
    assert.equal(p.asked[0], 11, 'the designer is asked for the whole round and the two slots the portfolio takes');
    const validation = p.results.filter((r) => r.phase === 'validation');
    assert.deepEqual(
      validation.map((v) => v.config.family),
      ['dcn', 'fm'],
      'the DCN and FM probes beat the reference: both run in full, best first',
    );
  });

  it('without the portfolio (campaigns recorded before), the round is the designer’s alone', async () => {
    const p = plan(12, { probe: { rowFraction: 0.2, trainRows: 40_000 } });
    await p.run();
    assert.ok(!p.probes.some((x) => x.config.family === 'dcn'), 'the designer never proposed a DCN');
  });

  it('on data too small to probe, the first full-run wave is the portfolio; a 12-run budget tries every family', async () => {
    const p = plan(12, { portfolio: true });
    await p.run();
    assert.equal(p.probes.length, 0);
    const validation = p.results.filter((r) => r.phase === 'validation');
    // parallel 2: the first wave is FM and DCN alone (the designer is asked for 4 in case it has a warm start).
    assert.deepEqual(
      validation.slice(0, 2).map((v) => v.hypothesis?.technique),
      ['family-fm', 'family-dcn'],
    );
    assert.deepEqual(p.asked.slice(0, 2), [4, 2], "the second wave is the designer's alone");
    assert.deepEqual(families(p.results), ['dcn', 'fm', 'lr']);
  });

  it("a designer's warm start (what is known on this data) goes before the portfolio", async () => {
    const p = plan(4, { portfolio: true, warmStart: true });
    await p.run();
    // 4 runs: validation gets 2 units — the warm start and the first family of the portfolio.
    const validation = p.results.filter((r) => r.phase === 'validation');
    assert.deepEqual(
      validation.map((v) => v.hypothesis?.technique),
      ['warm-start', 'family-fm'],
    );
  });

  it('a second warm start waits behind the families the portfolio has yet to measure (warmStartOnce)', async () => {
    // 7 runs: validation gets 3 units in two waves; the designer offers a warm start in each answer.
    const techniques = async (warmStartOnce: boolean) => {
      const p = plan(7, { portfolio: true, warmStart: 'every-answer', warmStartOnce });
      await p.run();
      return p.results.filter((r) => r.phase === 'validation').map((v) => v.hypothesis?.technique);
    };
    assert.deepEqual(await techniques(true), ['warm-start', 'family-fm', 'family-dcn']);
    // Campaigns recorded before put a warm start first in every wave: the DCN never ran (and replay that way).
    assert.deepEqual(await techniques(false), ['warm-start', 'family-fm', 'warm-start']);
  });

  it('a search space of one family has no portfolio to add to a default baseline', async () => {
    const p = plan(6, { portfolio: true, families: ['lr'], probe: { rowFraction: 0.2, trainRows: 40_000 } });
    await p.run();
    assert.ok([...p.results, ...p.probes].every((r) => !r.hypothesis?.title.startsWith('Portfolio')));
    assert.equal(p.asked[0], Math.min(24, Math.floor(2 / 2 / 0.2) - 1), 'the designer has the whole round');
  });
});

describe('a worker-configured trainer in the search space (searchSpace.trainers)', () => {
  const lightgbm = { kind: 'command', name: 'lightgbm', params: { num_threads: 1 } };

  it('the default search space lists no trainer: the portfolio is the built-in families alone', () => {
    assert.equal(SearchSpace.parse({}).trainers, undefined);
    const input = CampaignInput.parse({ data: { planted: {} }, approvers: ['ana'] });
    const base = {
      experimentId: 'b',
      phase: 'baseline',
      status: 'succeeded' as const,
      config: input.baseline,
      trainSeconds: 1,
      modelBytes: 1,
      attempts: [],
    };
    const pending = pendingPortfolio(input, { results: () => [base] });
    assert.deepEqual(
      pending.map((p) => [p.hypothesis.technique, p.trainer]),
      [
        ['family-fm', undefined],
        ['family-dcn', undefined],
      ],
    );
  });

  it('on small data, the first full-run waves hold each family and the trainer at its declared knobs; it can win', async () => {
    const p = plan(12, { portfolio: true, trainers: [lightgbm] });
    await p.run();
    const validation = p.results.filter((r) => r.phase === 'validation');
    assert.deepEqual(
      validation.slice(0, 3).map((v) => v.hypothesis?.technique),
      ['family-fm', 'family-dcn', 'trainer-lightgbm'],
      'parallel 2: FM and DCN, then the trainer opens the second wave',
    );
    const trees = validation[2];
    assert.deepEqual(trees.externalJob?.params, { num_threads: 1 }, "the trainer's params: its own defaults but for what the campaign set");
    assert.equal(p.results.filter((r) => r.externalJob).length, 1, 'the portfolio runs it once');
    assert.equal(trees.hypothesis?.designer, 'heuristic');
  });

  it('on data big enough to probe, the trainer is screened with the families; its winning probe runs in full as the same trainer', async () => {
    const p = plan(12, { probe: { rowFraction: 0.2, trainRows: 40_000 }, portfolio: true, trainers: [lightgbm] });
    await p.run();
    const round = p.probes.filter((x) => x.hypothesis?.technique !== 'probe-reference');
    assert.deepEqual(
      round.slice(0, 3).map((x) => x.hypothesis?.technique),
      ['family-fm', 'family-dcn', 'trainer-lightgbm'],
    );
    const full = p.results.filter((r) => r.phase === 'validation');
    assert.equal(full[0].externalJob?.name, 'lightgbm', 'the best probe (the trees) runs in full first');
    assert.deepEqual(full[0].externalJob?.params, { num_threads: 1 });
  });

  it('the contract: each trainer once, never beside `trainer`, agent strategy only', () => {
    const base = { data: { planted: {} }, approvers: ['ana'] };
    assert.throws(() => CampaignInput.parse({ ...base, searchSpace: { trainers: [lightgbm, lightgbm] } }), /each trainer once/);
    assert.throws(
      () => CampaignInput.parse({ ...base, trainer: lightgbm, searchSpace: { trainers: [lightgbm] } }),
      /with `trainer`, every run is that trainer's/,
    );
    assert.throws(() => CampaignInput.parse({ ...base, strategy: 'random', searchSpace: { trainers: [lightgbm] } }), /agent strategy/);
    assert.throws(() => CampaignInput.parse({ ...base, searchSpace: { trainers: [{ kind: 'command', name: 'rm -rf /' }] } }), /trainer name/);
    assert.throws(
      () => CampaignInput.parse({ ...base, searchSpace: { trainers: [{ kind: 'command', name: 'x', command: ['/bin/sh'] }] } }),
      /command/,
      'a caller names a trainer, never a command',
    );
  });
});

describe('small data screened cheaply too (probeScaleFor)', () => {
  const budget = { probeFraction: 0.2, probeMinRows: 20_000 };
  it('big data: the probe fraction, as before', () => {
    assert.deepEqual(probeScaleFor(budget, 500_000, { smallData: true }), { rowFraction: 0.2, trainRows: 100_000 });
    assert.deepEqual(probeScaleFor(budget, 500_000), { rowFraction: 0.2, trainRows: 100_000 });
  });
  it('below the threshold: a larger sample of probeMinRows rows, up to a third of the data', () => {
    assert.deepEqual(probeScaleFor(budget, 80_000, { smallData: true }), { rowFraction: 0.25, trainRows: 20_000 });
    const s = probeScaleFor(budget, 61_000, { smallData: true })!;
    assert.equal(s.rowFraction, 0.33);
    assert.ok(s.trainRows >= 20_000);
    assert.equal(probeScaleFor(budget, 50_000, { smallData: true }), undefined, 'under ~3x probeMinRows every idea runs in full');
    assert.equal(probeScaleFor(budget, 80_000), undefined, 'campaigns recorded before did not probe small data');
    assert.equal(probeScaleFor({ probeFraction: 0, probeMinRows: 20_000 }, 80_000, { smallData: true }), undefined, 'probing off');
  });

  it('a 12-run budget on 80k rows runs every family in full, then screens more ideas than it could run in full', async () => {
    const probe = probeScaleFor(budget, 80_000, { smallData: true })!;
    const p = plan(12, { probe, portfolio: true });
    assert.equal(await p.run(), 'budget-experiments');
    // A small-data probe ranks ideas within a family, not families: the portfolio's FM and DCN run in full first.
    const validation = p.results.filter((r) => r.phase === 'validation');
    assert.deepEqual(
      validation.slice(0, 2).map((r) => r.hypothesis?.technique),
      ['family-fm', 'family-dcn'],
    );
    const round = p.probes.filter((x) => x.hypothesis?.technique !== 'probe-reference');
    assert.ok(
      round.every((x) => !x.hypothesis?.technique.startsWith('family-') || x.config.hashBits === 22),
      'no portfolio default is probed',
    );
    // Validation has 4 units: 2 run the portfolio, 1 buys a reference and 3 ideas at 0.25, the last runs the winner.
    assert.equal(round.length, 3);
    assert.equal(p.probes.find((x) => x.hypothesis?.technique === 'probe-reference')?.config.family, 'dcn', 'the DCN is the bar');
    assert.ok(computeUsed(p.results, p.probes) <= 12);
  });
});
