import type { ExperimentResult, TestConfirmation } from '../contracts';
import { constantPredictorNe, decisionMetrics } from '../contracts/decision-metrics';

/** How many paired standard errors a test difference must exceed to count (the evaluator's rule, on test). */
const CONFIRMATION_Z = 2;

/**
 * The one comparison with the baseline on test, for the model the campaign chose on validation: the number a
 * reviewer signs off on. It is confirmed when test agrees with the choice: NE below a constant predictor at the
 * training click rate, AUC above chance, and not worse than the baseline beyond noise. Pure: safe in workflow code.
 */
export function confirmOnTest(chosen: ExperimentResult, baseline: ExperimentResult, trainCtr: number | undefined): TestConfirmation | undefined {
  const test = chosen.metrics;
  const base = baseline.metrics;
  if (!test || !base) return undefined;
  const isBaseline = chosen.experimentId === baseline.experimentId;
  const gain = base.ne - test.ne;
  const deltaStdErr = isBaseline ? undefined : chosen.neDeltaStdErr;
  const noise = deltaStdErr !== undefined && Number.isFinite(deltaStdErr) ? CONFIRMATION_Z * deltaStdErr : undefined;
  const significant = !isBaseline && noise !== undefined && gain > noise;
  const worseBeyondNoise = !isBaseline && (noise !== undefined ? -gain > noise : gain < 0);
  const constantNe = trainCtr !== undefined ? constantPredictorNe(trainCtr, test.ctr) : undefined;
  const beatsConstant = constantNe === undefined ? test.ne < 1 : test.ne < constantNe;
  const confirmed = beatsConstant && test.auc > 0.5 && !worseBeyondNoise;
  const v = decisionMetrics(chosen, 'validation');
  const vb = decisionMetrics(baseline, 'validation');
  const f4 = (x: number) => x.toFixed(4);
  const pct = (x: number) => `${x > 0 ? '+' : ''}${(100 * x).toFixed(2)}%`;
  const relativeNeChange = (test.ne - base.ne) / base.ne;
  const selected = v
    ? `Selected on validation (NE ${f4(v.ne)}${v.neStdErr !== undefined ? ` ± ${f4(v.neStdErr)}` : ''}${vb && !isBaseline ? ` vs baseline ${f4(vb.ne)}` : ''})`
    : 'Selected on validation';
  const versus = isBaseline
    ? `test NE ${f4(test.ne)} (the baseline kept)`
    : `test NE ${f4(test.ne)} vs baseline ${f4(base.ne)} (${pct(relativeNeChange)}${deltaStdErr !== undefined ? `, paired SE ${f4(deltaStdErr)}` : ''}${significant ? ', significant' : worseBeyondNoise ? ', worse beyond noise' : ', within noise'})`;
  const constant = constantNe !== undefined ? `; a constant predictor at the training click rate scores ${f4(constantNe)}` : '';
  const misses = [
    ...(beatsConstant ? [] : [`no better than ${constantNe !== undefined ? 'the constant predictor' : 'a constant predictor (NE 1)'}`]),
    ...(test.auc > 0.5 ? [] : [`AUC ${test.auc.toFixed(3)} is not above chance`]),
    ...(worseBeyondNoise ? ['worse than the baseline beyond noise'] : []),
  ];
  const note = confirmed
    ? `${selected}, confirmed on test: ${versus}, AUC ${test.auc.toFixed(3)}, calibration ${test.calibration.toFixed(3)}${constant}.`
    : `${selected}, NOT confirmed on test: ${versus}, AUC ${test.auc.toFixed(3)}, calibration ${test.calibration.toFixed(3)}${constant} — ${misses.join('; ')}.`;
  return {
    selectedOn: 'validation',
    ne: test.ne,
    baselineNe: base.ne,
    relativeNeChange,
    ...(deltaStdErr !== undefined ? { deltaStdErr } : {}),
    significant,
    ...(constantNe !== undefined ? { constantNe } : {}),
    auc: test.auc,
    calibration: test.calibration,
    confirmed,
    note: note.slice(0, 1000),
  };
}
