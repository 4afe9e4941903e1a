import type { DataChecks, DataFinding, DetectableChange, ExperimentResult } from '../contracts';
import type { DriftFinding } from '../contracts/drift';

/** A campaign whose validation rows can't tell a change this large (relative NE) from noise says so first. */
export const DETECTABLE_GOAL = 0.01;

/**
 * The smallest relative NE change each split can detect: 2 standard errors of the baseline's NE on its rows. This is
 * the unpaired error of one model's NE; comparisons of two models on the same rows (paired) resolve somewhat finer
 * differences, so it errs on the side of warning. Pure: safe in workflow code.
 */
export function detectableChanges(baseline: ExperimentResult): DetectableChange[] {
  const out: DetectableChange[] = [];
  const v = baseline.validationMetrics;
  if (v && v.ne > 0 && Number.isFinite(v.neStdErr))
    out.push({ split: 'validation', rows: v.examples, clicks: v.clicks, relativeNeChange: (2 * v.neStdErr) / v.ne });
  const t = baseline.metrics;
  if (t && t.ne > 0 && baseline.neStdErr !== undefined && Number.isFinite(baseline.neStdErr))
    out.push({ split: 'test', rows: t.examples, clicks: t.ctr * t.examples, relativeNeChange: (2 * baseline.neStdErr) / t.ne });
  return out;
}

/**
 * What the campaign checked about its data, from the baseline and the data's description: the smallest change the
 * data can detect and, when it is above DETECTABLE_GOAL, a finding that says so before the budget is spent; then the
 * drift findings (click rates by split and over time, field stability), as the data description words them.
 */
export function dataChecks(baseline: ExperimentResult, trainCtr: number | undefined, driftFindings: DataFinding[]): DataChecks {
  const detectable = detectableChanges(baseline);
  const findings: DataFinding[] = [];
  for (const d of detectable) {
    if (d.relativeNeChange <= DETECTABLE_GOAL) continue;
    const pct = (100 * d.relativeNeChange).toFixed(d.relativeNeChange < 0.1 ? 1 : 0);
    findings.push({
      kind: `detectable-${d.split}`,
      severity: d.split === 'validation' ? 'warning' : 'info',
      message:
        `The ${d.split} rows (${d.rows.toLocaleString('en-US')} rows, ${Math.round(d.clicks).toLocaleString('en-US')} clicks) can only tell NE changes of about ${pct}% or more from noise (2 standard errors of the baseline's NE), above the ${100 * DETECTABLE_GOAL}% a ranking change usually brings: ` +
        (d.split === 'validation'
          ? 'smaller gains will read as noise and the campaign will keep the baseline. More clicks would help: a longer or later validation window, or a validation file.'
          : 'the final confirmation on test can only confirm gains that large.'),
    });
  }
  findings.push(...driftFindings);
  return { ...(trainCtr !== undefined ? { trainCtr } : {}), detectable, findings: findings.slice(0, 40) };
}

/** A drift finding as status, events and the report carry it: a major shift is critical, a moderate one a warning. */
export function asDataFinding(f: DriftFinding): DataFinding {
  return { kind: f.kind, severity: f.severity === 'major' ? 'critical' : 'warning', message: f.text.slice(0, 1000) };
}
