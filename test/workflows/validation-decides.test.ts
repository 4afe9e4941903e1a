import { strict as assert } from 'node:assert';
import { formatStatus } from '../../client/format';
import { ModelConfig, RecommendationFloor, type ExperimentResult, type ValidationMetrics } from '../../contracts';
import { bestOn, constantPredictorNe, decisionMetrics } from '../../contracts/decision-metrics';
import { dataChecks, detectableChanges } from '../../workflows/data-checks';
import { floorViolations, guardrailViolations } from '../../workflows/guardrails';
import { bestResult } from '../../workflows/planner';
import { designerHistory, summarize } from '../../workflows/summaries';
import { confirmOnTest } from '../../workflows/test-confirmation';

/** A finished run with test NE `test` and validation NE `validation` (the two deliberately disagree in these tests). */
function run(
  id: string,
  test: number,
  validation: Partial<ValidationMetrics> & { ne: number },
  extra: Partial<ExperimentResult> = {},
): ExperimentResult {
  return {
    experimentId: id,
    phase: id === 'base' ? 'baseline' : 'validation',
    status: 'succeeded',
    config: ModelConfig.parse({ family: 'lr' }),
    metrics: { ne: test, auc: 0.7, logloss: 0.3, calibration: 1, ctr: 0.01, examples: 10_000 },
    neStdErr: 0.004,
    validationMetrics: { auc: 0.7, logloss: 0.3, calibration: 1, ctr: 0.01, examples: 5_000, clicks: 50, neStdErr: 0.01, ...validation },
    trainSeconds: 1,
    modelBytes: 10,
    attempts: [],
    ...extra,
  };
}

describe('validation decides, test confirms', () => {
  // b is best on test, c best on validation: every decision must pick c.
  const base = run('base', 0.95, { ne: 0.95 });
  const b = run('b', 0.9, { ne: 0.94 });
  const c = run('c', 0.93, { ne: 0.91, neDeltaStdErr: 0.005 });

  it('the best run, the designer history and the summaries read validation; test rides along as information', () => {
    assert.equal(bestResult([base, b, c])?.experimentId, 'c');
    assert.equal(bestResult([base, b, c], 'test')?.experimentId, 'b', 'recorded campaigns replay on test');
    const s = summarize(c, 'validation', base);
    assert.equal(s.measuredOn, 'validation');
    assert.equal(s.ne, 0.91);
    assert.equal(s.neDeltaStdErr, 0.005);
    assert.ok(Math.abs(s.relativeNeChange! - (0.91 - 0.95) / 0.95) < 1e-12);
    assert.deepEqual(s.test, { ne: 0.93, auc: 0.7, calibration: 1 });
    const old = summarize(c, 'test');
    assert.equal(old.ne, 0.93);
    assert.equal(old.measuredOn, undefined);
    const runs = Array.from({ length: 10 }, (_, i) => run(`r${i}`, 0.5 + i / 100, { ne: 0.6 - i / 100 }));
    const shown = designerHistory(runs, 4, 'validation').map((r) => r.experimentId);
    assert.ok(shown.includes('r9') && shown.includes('r8'), `the best on validation are kept: ${shown.join(',')}`);
  });

  it('a run recorded before validation metrics falls back to its best validation NE, never to test', () => {
    const old = { ...run('old', 0.5, { ne: 0.9 }), validationMetrics: undefined, validationNe: 0.92 };
    assert.deepEqual(decisionMetrics(old, 'validation'), { ne: 0.92, measuredOn: 'validation' });
    assert.equal(bestOn([old, c], 'validation')?.experimentId, 'c');
  });

  it('guardrails read validation', () => {
    const miscalibrated = run('m', 0.9, { ne: 0.9, calibration: 1.3 });
    assert.deepEqual(guardrailViolations(miscalibrated, base, { calibrationBand: [0.9, 1.1] }, 'test'), []);
    assert.match(guardrailViolations(miscalibrated, base, { calibrationBand: [0.9, 1.1] }, 'validation')[0], /calibration on validation 1\.300/);
  });

  it('the floor: NE below 1 by its standard error, AUC above 0.5, calibration within the band; off when disabled', () => {
    const floor = RecommendationFloor.parse({});
    assert.deepEqual(floorViolations(run('ok', 0.9, { ne: 0.9 }), floor), []);
    const noise = run('noise', 1.01, { ne: 0.995, neStdErr: 0.02, auc: 0.48, calibration: 0.6 });
    const broken = floorViolations(noise, floor);
    assert.deepEqual(
      broken.map((v) => v.split(':')[0]),
      ['floor.ne', 'floor.auc', 'floor.calibration'],
    );
    assert.match(broken[0], /validation NE 0\.9950 ± 0\.0200 is not below 1 by 1 standard error/);
    assert.deepEqual(floorViolations(noise, RecommendationFloor.parse({ enabled: false })), []);
    assert.deepEqual(floorViolations(run('pt', 1, { ne: 0.995, neStdErr: 0.02 }), RecommendationFloor.parse({ standardErrors: 0 })), []);
  });

  it("a constant predictor's NE is 1 at the split's own rate and grows as the rates move apart", () => {
    assert.ok(Math.abs(constantPredictorNe(0.01, 0.01)! - 1) < 1e-12);
    const fourTimesLower = constantPredictorNe(0.0095, 0.0024)!;
    assert.ok(fourTimesLower > 1.15 && fourTimesLower < 1.4, `train CTR 0.95%, test 0.24%: ${fourTimesLower}`);
    assert.equal(constantPredictorNe(0.01, 0), undefined);
  });

  it('confirms the chosen model on test once: against the baseline (paired) and a constant predictor at the training rate', () => {
    const chosen = run('c', 0.93, { ne: 0.91 }, { neDeltaStdErr: 0.004 });
    const ok = confirmOnTest(chosen, base, 0.01)!;
    assert.equal(ok.confirmed, true);
    assert.equal(ok.significant, true, '0.02 > 2 × 0.004');
    assert.match(
      ok.note,
      /^Selected on validation \(NE 0\.9100 ± 0\.0100 vs baseline 0\.9500\), confirmed on test: test NE 0\.9300 vs baseline 0\.9500/,
    );
    // Worse on test than a constant predictor at the training rate: not confirmed, and it says why.
    const drifted = run(
      'd',
      1.5,
      { ne: 0.9 },
      { neDeltaStdErr: 0.01, metrics: { ne: 1.5, auc: 0.6, logloss: 0.1, calibration: 4, ctr: 0.0024, examples: 10_000 } },
    );
    const no = confirmOnTest(drifted, base, 0.0095)!;
    assert.equal(no.confirmed, false);
    assert.ok(no.constantNe! > 1 && no.constantNe! < 1.5);
    assert.match(no.note, /NOT confirmed on test: .*no better than the constant predictor; worse than the baseline beyond noise/);
    // The baseline kept: confirmed when it beats the constant predictor.
    assert.equal(confirmOnTest(base, base, 0.01)!.confirmed, true);
  });

  it('says before the budget is spent when the validation rows cannot detect a 1% NE change', () => {
    const rare = run('base', 0.99, { ne: 0.98, neStdErr: 0.03, examples: 20_000, clicks: 60 });
    const [validation, test] = detectableChanges(rare);
    assert.equal(validation.split, 'validation');
    assert.ok(Math.abs(validation.relativeNeChange - 0.06 / 0.98) < 1e-12);
    assert.equal(test.split, 'test');
    const checks = dataChecks(rare, 0.003, [{ kind: 'ctr-shift', severity: 'warning', message: 'test CTR is 4x below training' }]);
    assert.equal(checks.trainCtr, 0.003);
    assert.match(
      checks.findings[0].message,
      /The validation rows \(20,000 rows, 60 clicks\) can only tell NE changes of about 6\.1% or more from noise/,
    );
    assert.equal(checks.findings.at(-1)!.kind, 'ctr-shift');
    const plenty = run('base', 0.8, { ne: 0.8, neStdErr: 0.001 });
    assert.deepEqual(dataChecks({ ...plenty, neStdErr: 0.001 }, 0.1, []).findings, [], 'no finding when 1% is detectable');
  });
});

describe('rankwright status for a campaign that decides on validation', () => {
  it('shows the data checks first, validation NE with its SE beside test NE, and the test confirmation of the pick', () => {
    const base = run('base', 0.95, { ne: 0.95 });
    const pick = run('c', 0.93, { ne: 0.91 }, { neDeltaStdErr: 0.004 });
    const confirmation = confirmOnTest(pick, base, 0.01)!;
    const text = formatStatus({
      campaignId: 'k',
      phase: 'review',
      reviewState: 'awaiting-review',
      paused: false,
      strategy: 'agent',
      experiments: [base, pick],
      running: [],
      baselineId: 'base',
      best: { experimentId: 'c', ne: 0.93, validationNe: 0.91 },
      decidedOn: 'validation',
      dataChecks: dataChecks(run('base', 0.99, { ne: 0.98, neStdErr: 0.03, examples: 20_000, clicks: 60 }), 0.003, []),
      recommendation: {
        experimentId: 'c',
        metrics: pick.metrics!,
        validationMetrics: pick.validationMetrics,
        rationale: confirmation.note,
        source: 'heuristic',
        confirmation,
      },
      guardrailBreaches: [],
      decisions: [],
      budgetUsed: { experiments: 2, trainSeconds: 2 },
      ignoredMessages: [],
    });
    const lines = text.split('\n');
    assert.match(text, /data checks: smallest NE change the data can detect \(2 SE\): validation 6\.12% \(20,000 rows, 60 clicks\)/);
    assert.match(text, /\[warning\] The validation rows \(20,000 rows, 60 clicks\) can only tell/);
    const header = lines.find((l) => l.startsWith('experiment'))!;
    assert.match(header, /val\. NE\s+± SE\s+ΔNE val\.\s+val\. AUC\s+val\. calib\.\s+test NE/);
    const rows = lines.filter((l) => /^(c|base)\s/.test(l));
    assert.deepEqual(
      rows.map((l) => l.split(/\s+/)[0]),
      ['c', 'base'],
      'ranked by validation NE',
    );
    assert.match(text, /recommendation: c {2}selected on validation: NE 0\.9100 ± 0\.0100/);
    assert.match(text, /confirmed on test: NE 0\.9300 vs baseline 0\.9500 \(-2\.11%, paired SE 0\.0040\)/);
  });
});
