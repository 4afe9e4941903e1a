import { strict as assert } from 'node:assert';
import { CampaignInput, ModelConfig } from '../../contracts';
import type { ExperimentResult, ProposedExperiment } from '../../contracts';
import { failedResult } from '../../workflows/experiment-result';
import { budgetStop, runPlan, trainSecondsUsed, type DesignPhase } from '../../workflows/planner';
import { plannedResult } from '../support/plan-results';

const idea = (n: number): ProposedExperiment => ({
  model: ModelConfig.parse({ family: 'dcn', learningRate: 0.001 * n }),
  hypothesis: { title: `idea ${n}`, technique: 'learning-rate', rationale: 'r', expectedEffect: 'e', parents: [] },
});

/** A run that diverged twice after training `seconds` each time, then gave up (what the runbook's retries leave). */
function divergedTwice(id: string, p: ProposedExperiment, seconds: number): ExperimentResult {
  const failure = { failureClass: 'diverged' as const, message: 'loss became NaN at step 900', lastProgress: [], trainSeconds: seconds };
  return failedResult({ experimentId: id, phase: 'validation' }, p.model, failure, 'gave up after 2 attempts', [
    { config: p.model, failure },
    { config: p.model, failure },
  ]);
}

describe("the trainSeconds budget counts failed attempts' training (planner, without Temporal)", () => {
  it('sums finished runs, probes and, when asked, the seconds every failed attempt trained', () => {
    const finished = plannedResult('x1', 'validation', idea(1), 0.8); // 1 s
    const retried: ExperimentResult = {
      ...plannedResult('x2', 'validation', idea(2), 0.79),
      trainSeconds: 4,
      attempts: [
        { config: idea(2).model, failure: { failureClass: 'diverged', message: 'NaN', lastProgress: [], trainSeconds: 2.5 } },
        { config: idea(2).model },
      ],
    };
    const failed = divergedTwice('x3', idea(3), 30);
    assert.equal(failed.trainSeconds, 0, 'a failed run trained no model to the end');
    assert.equal(trainSecondsUsed([finished, retried, failed]), 5, 'finished runs only: what campaigns recorded before counted');
    assert.equal(trainSecondsUsed([finished, retried, failed], [], true), 5 + 2.5 + 60);
    // A failure reported without seconds (before training, or by an older worker) counts none.
    const early = failedResult(
      { experimentId: 'x4', phase: 'validation' },
      idea(4).model,
      { failureClass: 'bad-data', message: 'm', lastProgress: [] },
      'f',
      [{ config: idea(4).model, failure: { failureClass: 'bad-data', message: 'm', lastProgress: [] } }],
    );
    assert.equal(trainSecondsUsed([finished], [early], true), 1);
  });

  it('stops a campaign whose diverging runs spent the budget, which it used to let run on', () => {
    const input = CampaignInput.parse({ data: { planted: {} }, budget: { experiments: 20, trainSeconds: 100 }, approvers: ['ana'] });
    const results = [plannedResult('base', 'baseline', idea(1), 0.8), divergedTwice('x2', idea(2), 60)];
    assert.equal(budgetStop(input, results, [], true, 'validation', false), undefined);
    assert.equal(budgetStop(input, results, [], true, 'validation', true), 'budget-train-seconds');
  });

  it('runPlan with failedAttemptSeconds stops after the run whose failures spent the budget', async () => {
    const input = CampaignInput.parse({
      data: { planted: {} },
      budget: { experiments: 20, parallel: 1, trainSeconds: 100, stallGain: 0 },
      approvers: ['ana'],
    });
    const runs = async (failedAttemptSeconds: boolean) => {
      const results: ExperimentResult[] = [plannedResult('base', 'baseline', idea(1), 0.8)];
      let designed = 1;
      const stop = await runPlan(
        input,
        { phaseIndex: 0 },
        {
          results: () => results,
          onPhase: async () => undefined,
          beforeWave: async () => undefined,
          design: async (_phase: DesignPhase, count: number) => Array.from({ length: count }, () => idea(++designed)),
          // Every idea diverges late: 40 s of training in each of its two attempts.
          run: async (_phase, proposals) => {
            for (const p of proposals) results.push(divergedTwice(`x${results.length}`, p, 40));
          },
        },
        { countCompute: true, failedAttemptSeconds },
      );
      return { stop, runs: results.length - 1 };
    };
    const counted = await runs(true);
    assert.equal(counted.stop, 'budget-train-seconds');
    assert.equal(counted.runs, 2, '80 s after the first run, 160 s after the second: the budget of 100 s is spent');
    const uncounted = await runs(false);
    assert.notEqual(uncounted.stop, 'budget-train-seconds', 'counting finished runs only, failures never touch the budget');
    assert.ok(uncounted.runs > counted.runs);
  });
});
