import { plannedResult } from '../support/plan-results';
import { strict as assert } from 'node:assert';
import { CampaignInput, ModelConfig } from '../../contracts';
import type { ExperimentResult, ProbeScale, ProposedExperiment } from '../../contracts';
import { runPlan, type DesignPhase } from '../../workflows/planner';

/** The plan alone (no Temporal): in-process ops whose validation NE is a known function of the learning rate. */
function plan(budget: number) {
  const input = CampaignInput.parse({ data: { planted: {} }, budget: { experiments: budget, parallel: 2, stallGain: 0 }, approvers: ['ana'] });
  const results: ExperimentResult[] = [];
  const probes: ExperimentResult[] = [];
  let designed = 0;
  const result = (id: string, phase: string, p: ProposedExperiment, probe?: ProbeScale): ExperimentResult =>
    plannedResult(id, phase, p, 0.8 - p.model.learningRate / 10, probe);
  const idea = (): ProposedExperiment => {
    designed++;
    return {
      model: ModelConfig.parse({ family: 'lr', learningRate: 0.01 * designed }),
      hypothesis: { title: `idea ${designed}`, technique: 'learning-rate', rationale: 'r', expectedEffect: 'e', parents: [] },
    };
  };
  results.push(result('base', 'baseline', { model: ModelConfig.parse({ family: 'lr', learningRate: 0.005 }), hypothesis: idea().hypothesis }));
  const run = () =>
    runPlan(
      input,
      { phaseIndex: 0 },
      {
        results: () => results,
        probes: () => probes,
        onPhase: async () => undefined,
        beforeWave: async () => undefined,
        design: async (_phase: DesignPhase, count: number) => Array.from({ length: count }, idea),
        run: async (phase, proposals, probe) => {
          for (const p of proposals)
            (probe ? probes : results).push(result(`${probe ? 'p' : 'x'}${probes.length + results.length}`, phase, p, probe));
        },
      },
      { countCompute: true, probe: { rowFraction: 0.2, trainRows: 40_000 } },
    );
  return { run, results, probes };
}

describe('the plan with probes (successive halving), without Temporal', () => {
  it('screens when the validation budget buys at least two ideas, and promotes the best probes', async () => {
    const p = plan(12);
    assert.equal(await p.run(), 'budget-experiments');
    assert.equal(p.probes.length, 10, 'a reference and 9 ideas');
    const validation = p.results.filter((r) => r.phase === 'validation');
    assert.equal(validation.length, 2);
    // The ideas' NE falls with their learning rate: the last two designed in the round are the best probes.
    const best = [...p.probes].sort((a, b) => a.validationNe! - b.validationNe!).slice(0, 2);
    assert.deepEqual(validation.map((v) => v.config.learningRate).sort(), best.map((b) => b.config.learningRate).sort());
  });

  it('with too little budget to screen, runs the validation ideas in full instead of skipping the phase', async () => {
    // 3 experiments: validation gets 1 unit, which buys no round (a reference and at least 2 ideas at 0.2 each, plus
    // a full run); it runs one idea in full.
    const p = plan(3);
    await p.run();
    assert.equal(p.probes.length, 0);
    assert.equal(p.results.filter((r) => r.phase === 'validation').length, 1);
  });
});
