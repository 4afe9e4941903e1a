import { externalTrainerLabel, type CampaignStatus, type DataChecks } from '../contracts';
import { decisionMetrics, decisionNe } from '../contracts/decision-metrics';
import { labelFields } from '../contracts/field-names';
import { REFERENCE_PROBE } from '../contracts/probe';
import { describeSharedStorage, describeStorage, type CampaignStorage } from '../store/campaign-storage';
import { describeBudgetUsed } from '../store/event-summary';
import type { CampaignListing } from './rankwright-client';

const pct = (x: number | undefined) => (x === undefined ? '' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`);
const num = (x: number | undefined, d = 4) => (x === undefined ? '' : x.toFixed(d));

/** Pads columns to a plain-text table (no colors: the output must survive pipes and CI logs). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * The human view of `rankwright status`; with `storage`, a line on what the campaign stores in the home (and, with a
 * shared store, there: a home that ran nothing of it holds nothing, the store everything).
 */
export function formatStatus(s: CampaignStatus, storage?: CampaignStorage): string {
  const lines = [
    `campaign ${s.campaignId}  phase ${s.phase}  review ${s.reviewState}${s.paused ? '  (paused)' : ''}  strategy ${s.strategy}`,
    `budget used: ${describeBudgetUsed(s.budgetUsed)}${s.stopReason ? `  stop: ${s.stopReason}` : ''}`,
  ];
  if (storage) lines.push(`storage: ${describeStorage(storage)}${storage.shared ? ` in this home; ${describeSharedStorage(storage.shared)}` : ''}`);
  if (s.oracleNe !== undefined) lines.push(`oracle NE (best achievable on this planted data): ${num(s.oracleNe)}`);
  if (s.dataChecks) lines.push('', ...formatDataChecks(s.dataChecks));
  if (s.experiments.length) lines.push('', s.decidedOn === 'validation' ? validationTable(s) : testTable(s));
  const external = s.experiments.filter((e) => e.externalJob);
  if (external.length) {
    lines.push('', 'external training jobs (knobs; waited; polls):');
    for (const e of external) {
      const j = e.externalJob!;
      const knobs = Object.keys(j.params).length ? externalTrainerLabel(j) : `${j.name} (defaults)`;
      const waited = j.waitedSeconds === undefined ? '' : `  ${Math.round(j.waitedSeconds)} s`;
      lines.push(
        `  ${e.experimentId}  ${j.kind} job ${j.jobId}  ${knobs}${waited}${j.polls ? `  ${j.polls} polls` : ''}${j.signalled ? ', signalled' : ''}`,
      );
    }
  }
  if (s.research) {
    const r = s.research;
    lines.push('', `research: baseline ${r.findings.fit.verdict}; ${r.hypotheses.length} hypotheses by expected gain per cost:`);
    for (const h of r.hypotheses.slice(0, 8))
      lines.push(
        `  NE −${(100 * h.expectedGain).toFixed(2)}%${h.heldOutGain !== undefined ? ` (held out −${(100 * h.heldOutGain).toFixed(2)}%)` : ''} at ${h.cost}x cost  ${h.hypothesis.title.slice(0, 60)}  (${h.evidence.slice(0, 80)})`,
      );
    const labels = r.fieldLabels ?? {};
    for (const line of (r.findings.notEstimable ?? []).slice(0, 8)) lines.push(`  ${labelFields(line, labels)}`);
  }
  if (s.probes?.length) {
    lines.push('', `probes (validation NE on ${s.probes[0].probe?.trainRows ?? '?'} training rows; a winner earns a full run):`);
    for (const p of s.probes)
      lines.push(
        `  ${p.experimentId}  ${num(p.validationNe)}  ${p.failure ? `failed (${p.failure.failureClass})` : p.promotedTo ? `promoted → ${p.promotedTo}` : p.hypothesis?.technique === REFERENCE_PROBE ? 'reference' : 'not promoted'}  ${(p.hypothesis?.title ?? '').slice(0, 60)}`,
      );
  }
  if (s.running.length) lines.push(`running: ${s.running.join(', ')}`);
  for (const b of s.guardrailBreaches) lines.push(`guardrail: ${b.experimentId}: ${b.detail}`);
  if (s.recommendation) {
    const r = s.recommendation;
    const v = r.validationMetrics;
    const c = r.confirmation;
    lines.push(
      '',
      v
        ? `recommendation: ${r.experimentId}  selected on validation: NE ${num(v.ne)} ± ${num(v.neStdErr)}  AUC ${num(v.auc)}  calibration ${num(v.calibration, 3)}`
        : `recommendation: ${r.experimentId}  NE ${num(r.metrics.ne)} (${pct(r.relativeNeChange)} vs baseline)  AUC ${num(r.metrics.auc)}  calibration ${num(r.metrics.calibration, 3)}${
            r.metrics.oracleNe !== undefined ? `  oracle NE ${num(r.metrics.oracleNe)}` : ''
          }`,
      ...(c
        ? [
            `  ${c.confirmed ? 'confirmed' : 'NOT confirmed'} on test: NE ${num(c.ne)} vs baseline ${num(c.baselineNe)} (${pct(c.relativeNeChange)}${c.deltaStdErr !== undefined ? `, paired SE ${num(c.deltaStdErr)}` : ''})  AUC ${num(c.auc)}  calibration ${num(c.calibration, 3)}${c.constantNe !== undefined ? `  constant predictor ${num(c.constantNe)}` : ''}${r.metrics.oracleNe !== undefined ? `  oracle NE ${num(r.metrics.oracleNe)}` : ''}`,
          ]
        : []),
      `  artifact: ${r.artifact ?? '(none)'}`,
      `  why: ${r.rationale}`,
    );
  }
  for (const d of s.decisions) lines.push(`decision: ${d.kind} by ${d.by} at ${d.at} via ${d.via}${d.note ? ` — ${d.note}` : ''}`);
  if (s.promotion)
    lines.push(
      `promotion: onApprove hook ${s.promotion.hook} ${s.promotion.state} for ${s.promotion.experimentId}${s.promotion.attempts ? ` (${s.promotion.attempts} attempt${s.promotion.attempts === 1 ? '' : 's'})` : ''}${s.promotion.detail ? ` — ${s.promotion.detail}` : ''}`,
    );
  for (const m of s.ignoredMessages) lines.push(`ignored ${m.kind}${m.by ? ` from ${m.by}` : ''}: ${m.reason}`);
  return lines.join('\n');
}

/** Runs by test NE, the table of campaigns recorded before validation decided. */
function testTable(s: CampaignStatus): string {
  return table(
    ['experiment', 'phase', 'family', 'status', 'NE', 'ΔNE', 'AUC', 'calib.', 'designer', 'hypothesis'],
    [...s.experiments]
      .sort((a, b) => (a.metrics?.ne ?? Infinity) - (b.metrics?.ne ?? Infinity))
      .map((e) => [
        e.experimentId,
        e.phase,
        // An external trainer's run shows the trainer, not the built-in family it did not use.
        e.externalJob ? e.externalJob.name : e.config.family,
        e.status === 'failed' ? `failed:${e.failure?.failureClass}` : e.status,
        num(e.metrics?.ne),
        pct(e.relativeNeChange),
        num(e.metrics?.auc),
        num(e.metrics?.calibration, 3),
        e.hypothesis?.designer ?? '',
        (e.hypothesis?.title ?? '').slice(0, 50),
      ]),
  );
}

/** Runs by validation NE (what the campaign decides on), with its standard error; test NE beside it, as information. */
function validationTable(s: CampaignStatus): string {
  const baseline = s.experiments.find((e) => e.experimentId === s.baselineId);
  const baseNe = baseline && decisionNe(baseline, 'validation');
  return table(
    ['experiment', 'phase', 'family', 'status', 'val. NE', '± SE', 'ΔNE val.', 'val. AUC', 'val. calib.', 'test NE', 'designer', 'hypothesis'],
    [...s.experiments]
      .sort((a, b) => (decisionNe(a, 'validation') ?? Infinity) - (decisionNe(b, 'validation') ?? Infinity))
      .map((e) => {
        const v = decisionMetrics(e, 'validation');
        return [
          e.experimentId,
          e.phase,
          e.externalJob ? e.externalJob.name : e.config.family,
          e.status === 'failed' ? `failed:${e.failure?.failureClass}` : e.status,
          num(v?.ne),
          num(v?.neStdErr),
          v && baseNe ? pct((v.ne - baseNe) / baseNe) : '',
          num(v?.auc),
          num(v?.calibration, 3),
          num(e.metrics?.ne),
          e.hypothesis?.designer ?? '',
          (e.hypothesis?.title ?? '').slice(0, 50),
        ];
      }),
  );
}

/** What the data can detect and how it drifts: the lines a reviewer reads before any NE. */
export function formatDataChecks(checks: DataChecks): string[] {
  const detect = checks.detectable.map(
    (d) =>
      `${d.split} ${(100 * d.relativeNeChange).toFixed(2)}% (${d.rows.toLocaleString('en-US')} rows, ${Math.round(d.clicks).toLocaleString('en-US')} clicks)`,
  );
  return [
    `data checks: smallest NE change the data can detect (2 SE): ${detect.join('; ') || 'unknown'}${checks.trainCtr !== undefined ? `; training CTR ${(100 * checks.trainCtr).toFixed(3)}%` : ''}`,
    ...checks.findings.map((f) => `  [${f.severity}] ${f.message}`),
  ];
}

export function formatListing(rows: CampaignListing[]): string {
  if (rows.length === 0) return 'no campaigns';
  return table(
    ['workflow id', 'status', 'phase', 'review', 'best NE', 'family', 'started'],
    rows.map((r) => [r.workflowId, r.status, r.phase ?? '', r.reviewState ?? '', num(r.bestNe), r.modelFamily ?? '', r.startTime]),
  );
}

/** Any message as one line (stderr lines are what scripts and humans grep): line breaks and list bullets become "; ". */
export function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim().replace(/^- /, ''))
    .filter((l) => l.length > 0)
    .join('; ')
    .replace(/:;/g, ':');
}

/**
 * `rankwright status --json`: the campaign status, each experiment also under the documented name `id` (the
 * contract of the machine-readable output: experiments each with `id`, `config`, `status`, `metrics`).
 */
export function statusJson(s: CampaignStatus, storage?: CampaignStorage): unknown {
  return { ...s, experiments: s.experiments.map((e) => ({ id: e.experimentId, ...e })), ...(storage ? { storage } : {}) };
}
