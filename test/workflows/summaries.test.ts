import { strict as assert } from 'node:assert';
import { ModelConfig } from '../../contracts';
import type { ExperimentResult } from '../../contracts';
import { designerHistory } from '../../workflows/summaries';

const result = (i: number, ne: number): ExperimentResult => ({
  experimentId: `x${i}`,
  phase: i === 0 ? 'baseline' : 'validation',
  status: 'succeeded',
  config: ModelConfig.parse({ family: 'lr', seed: i }),
  metrics: { ne, auc: 0.7, logloss: 0.3, calibration: 1, ctr: 0.1, examples: 100 },
  trainSeconds: 1,
  modelBytes: 10,
  attempts: [],
});

describe('designerHistory (what the designer sees of a long campaign)', () => {
  it('passes a short campaign whole', () => {
    const runs = [0, 1, 2].map((i) => result(i, 0.8 - i / 100));
    assert.deepEqual(
      designerHistory(runs).map((s) => s.experimentId),
      ['x0', 'x1', 'x2'],
    );
  });

  it("reads each finished run's learning curve into a fit verdict the designer acts on", () => {
    const curve = [
      { step: 10, epoch: 1, examples: 1000, trainNe: 0.6, validationNe: 0.8 },
      { step: 20, epoch: 2, examples: 2000, trainNe: 0.5, validationNe: 0.82 },
    ];
    const [over, none] = designerHistory([{ ...result(1, 0.8), learningCurve: curve }, result(2, 0.8)]);
    assert.equal(over.fit?.verdict, 'overfitting');
    assert.equal(over.fit?.bestEvaluation, 1);
    assert.equal(none.fit, undefined, 'no curve, no verdict');
  });

  it('keeps the best half and the most recent half of a long one, in completion order, within the limit', () => {
    // NE falls then rises: the best runs are in the middle, the recent ones at the end.
    const runs = Array.from({ length: 200 }, (_, i) => result(i, 0.5 + Math.abs(i - 80) / 1000));
    const shown = designerHistory(runs, 60).map((s) => Number(s.experimentId.slice(1)));
    assert.ok(shown.length <= 60);
    assert.ok(shown.includes(80), 'the best run');
    assert.ok(shown.includes(199), 'the latest run');
    assert.deepEqual(
      shown,
      [...shown].sort((a, b) => a - b),
      'completion order',
    );
    for (const i of shown) assert.ok(Math.abs(i - 80) <= 15 || i >= 170, `x${i} is neither among the best nor recent`);
  });
});
