import { strict as assert } from 'node:assert';
import { ModelConfig, type ExperimentResult, type Hypothesis, type ValidationMetrics } from '../../contracts';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { constantPredictorNe } from '../../contracts/decision-metrics';
import {
  benchRecommendation,
  medianWithinBand,
  researchCalibration,
  researchChecks,
  type ResearchExpectationSource,
} from '../../bench/agent/recommendation';
import { measureScores } from '../../bench/peers/measure';

// The agent bench's recommendation (bench/agent/recommendation.ts): decided as the workflow decides it (the heuristic
// evaluator on validation, the floor, confirmOnTest), and research's expected gains against the measured ones.

const hypothesis = (title: string, expectedGain?: number): Hypothesis => ({
  title,
  technique: 'test',
  rationale: 'r',
  expectedEffect: 'e',
  parents: [],
  ...(expectedGain !== undefined ? { expectedGain } : {}),
});

/** A finished run: test NE `test`, validation metrics `validation` (ne required). */
function run(
  id: string,
  test: number,
  validation: Partial<ValidationMetrics> & { ne: number },
  extra: Partial<ExperimentResult> = {},
): ExperimentResult {
  const config = extra.config ?? ModelConfig.parse({ family: 'lr' });
  return {
    experimentId: id,
    phase: id === 'base' ? 'baseline' : 'validation',
    status: 'succeeded',
    config,
    hypothesis: hypothesis(id),
    metrics: { ne: test, auc: 0.7, logloss: 0.3, calibration: 1, ctr: 0.01, examples: 10_000 },
    neStdErr: 0.004,
    neDeltaStdErr: 0.002,
    validationMetrics: {
      auc: 0.7,
      logloss: 0.3,
      calibration: 1,
      ctr: 0.01,
      examples: 5_000,
      clicks: 500,
      neStdErr: 0.01,
      neDeltaStdErr: 0.004,
      ...validation,
    },
    trainSeconds: 1,
    modelBytes: 10,
    attempts: [{ config }],
    ...extra,
  };
}

describe('agent bench: the recommendation, decided as the workflow decides it', function () {
  const base = run('base', 0.95, { ne: 0.95 });

  it('picks on validation, not on test, and confirms the pick on test once', function () {
    // b is best on test but within noise on validation; c is significantly better on validation.
    const b = run('b', 0.9, { ne: 0.945 });
    const c = run('c', 0.93, { ne: 0.9, neDeltaStdErr: 0.005 });
    const p = benchRecommendation('camp', [base, b, c], 0.01)!;
    assert.equal(p.kind, 'candidate');
    assert.equal(p.id, 'c');
    assert.deepEqual([p.validationNe, p.validationNeStdErr, p.testNe], [0.9, 0.01, 0.93]);
    assert.equal(p.constantNe, constantPredictorNe(0.01, 0.01));
    assert.equal(p.confirmation?.confirmed, true);
    assert.ok(Math.abs(p.confirmation!.relativeNeChange - (0.93 - 0.95) / 0.95) < 1e-12);
    assert.match(p.confirmation!.note, /^Selected on validation \(NE 0\.9000 ± 0\.0100 vs baseline 0\.9500\), confirmed on test/);
  });

  it('reports a pick that test finds worse than the baseline beyond noise: not confirmed', function () {
    const c = run('c', 0.97, { ne: 0.9, neDeltaStdErr: 0.005 });
    const p = benchRecommendation('camp', [base, c], 0.01)!;
    assert.equal(p.id, 'c');
    assert.equal(p.testNe, 0.97);
    assert.deepEqual([p.confirmation?.confirmed, p.confirmation?.significant, p.confirmation?.worseBeyondNoise], [false, false, true]);
    assert.match(p.confirmation!.note, /NOT confirmed on test: .*worse beyond noise/);
  });

  it('keeps the baseline when nothing beats it beyond noise on validation', function () {
    const p = benchRecommendation('camp', [base, run('b', 0.9, { ne: 0.945 })], 0.01)!;
    assert.equal(p.kind, 'baseline');
    assert.equal(p.id, 'base');
    assert.equal(p.testNe, 0.95);
  });

  it('recommends nothing when no run clears the floor: scored as a constant predictor at the training click rate', function () {
    // Validation NE within a standard error of 1 for every run (few clicks): no usable signal.
    const noisyBase = run('base', 0.97, { ne: 0.98, neStdErr: 0.1 });
    const noisy = run('x', 0.96, { ne: 0.96, neStdErr: 0.1 });
    // Training click rate 2%, test's 1% (the base rates drift): the constant over-predicts, NE above 1.
    const p = benchRecommendation('camp', [noisyBase, noisy], 0.02)!;
    assert.equal(p.kind, 'none');
    assert.equal(p.id, undefined);
    const constant = constantPredictorNe(0.02, 0.01)!;
    assert.ok(constant > 1);
    assert.equal(p.testNe, constant);
    assert.equal(p.constantNe, constant);
    assert.match(p.broken!.join('; '), /floor\.ne/);
    assert.equal(p.best, 'x');
    assert.equal(p.confirmation, undefined);
    // No baseline that finished: nothing to decide.
    assert.equal(benchRecommendation('camp', [{ ...base, status: 'failed', metrics: undefined }], 0.01), undefined);
  });

  it("a constant predictor's NE from the formula is the one the bench's metrics measure on its predictions", function () {
    const labels = Float64Array.from({ length: 4000 }, (_, i) => (i % 97 === 0 ? 1 : 0));
    const testCtr = labels.reduce((s, y) => s + y, 0) / labels.length;
    for (const trainCtr of [0.005, testCtr, 0.03]) {
      const measured = measureScores(new Float64Array(labels.length).fill(trainCtr), labels).ne;
      assert.ok(Math.abs(measured - constantPredictorNe(trainCtr, testCtr)!) < 1e-9, `train CTR ${trainCtr}: ${measured}`);
    }
  });
});

describe('agent bench: research expectations against measured gains', function () {
  const base = run('base', 0.95, { ne: 1 });
  const cross = ModelConfig.parse({ family: 'lr', crosses: [['C1', 'C2']] });
  const fm = ModelConfig.parse({ family: 'fm' });
  const research: ResearchExpectationSource[] = [
    { title: 'cross C1×C2', key: canonicalConfigKey(cross), expectedGain: 0.04 },
    { title: 'switch to fm', key: canonicalConfigKey(fm), expectedGain: 0.05 },
  ];

  it('ties runs to research by the expected gain their hypothesis carries, else by config; measures on validation', function () {
    const runs = [
      base,
      // Carries its expected gain (the designer landed it): 3% expected, 2% measured.
      run('x1', 0.93, { ne: 0.98, neDeltaStdErr: 0.002 }, { hypothesis: hypothesis('h1', 0.03) }),
      // No expected gain on the hypothesis, but the config is research's cross: 4% expected, 1% measured (4x).
      run('x2', 0.94, { ne: 0.99 }, { config: cross, attempts: [{ config: cross }] }),
      // fm, measured worse than the baseline: no gain (an unbounded ratio).
      run('x3', 0.96, { ne: 1.01 }, { config: fm, attempts: [{ config: fm }] }),
      // Not from research; a probe and a failed run never count.
      run('x4', 0.9, { ne: 0.9 }),
      run('p1', 0.9, { ne: 0.9 }, { config: cross, probe: { trainRows: 100, rowFraction: 0.1 } }),
      { ...run('x5', 0.9, { ne: 0.9 }, { config: fm }), status: 'failed' as const, metrics: undefined, validationMetrics: undefined },
    ];
    const checks = researchChecks(runs, research);
    assert.deepEqual(
      checks.map((c) => [c.id, c.via, c.expectedGain]),
      [
        ['x1', 'hypothesis', 0.03],
        ['x2', 'config', 0.04],
        ['x3', 'config', 0.05],
      ],
    );
    const [x1, x2, x3] = checks;
    assert.ok(Math.abs(x1.measuredGain! - 0.02) < 1e-12);
    assert.ok(Math.abs(x1.ratio! - 1.5) < 1e-9);
    assert.equal(x1.within3x, true);
    assert.ok(Math.abs(x1.measuredStdErr! - 0.002) < 1e-12);
    assert.equal(x1.withinNoise, false, '3% vs 2% ± 0.2%: beyond 2 SE');
    assert.ok(Math.abs(x2.ratio! - 4) < 1e-9);
    assert.equal(x2.within3x, false);
    assert.equal(x3.ratio, undefined);
    assert.equal(x3.within3x, false);
    assert.notEqual(x2.config, x3.config);

    // The median counts a run that measured no gain as unbounded: ratios 1.5, 4, ∞ → 4.
    const c = researchCalibration(checks);
    assert.deepEqual([c.n, c.within3x, c.noGain, c.withinNoise], [3, 1, 1, 0]);
    assert.ok(Math.abs((c.medianRatio as number) - 4) < 1e-9);
    assert.equal(medianWithinBand(c), false);
    assert.equal(medianWithinBand(researchCalibration([x1, x2])), true, 'median of 1.5 and 4 is 2.75');
    assert.equal(researchCalibration([x3]).medianRatio, 'unbounded');
    assert.equal(medianWithinBand(researchCalibration([])), undefined);
  });
});
