import { createHash } from 'node:crypto';
import type { BadRows, DataChecks } from '../contracts';
import { describeSharedStorage, describeStorage } from './campaign-storage';
import { describeBudgetUsed } from './event-summary';
import type { CampaignReportData, LeaderboardEntry, ReportProbe, ReportResearch } from './report';

/**
 * HTML of the campaign report. Every string that reaches the page is escaped: hypothesis titles, rationales and
 * failure messages may come from an LLM. As a second line of defence the page's Content-Security-Policy allows
 * only the two scripts written here (by hash) and no network at all.
 */

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON safe inside a <script> element: no "</script>", no "<!--", no line separators that end a JS string. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const fmt = (n: number | undefined, digits = 4) => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits));
const pct = (r: number | undefined) => (r === undefined || !Number.isFinite(r) ? '—' : `${r > 0 ? '+' : ''}${(r * 100).toFixed(2)}%`);

/** Draws the charts from the embedded JSON; runs after chart.js. Plain ES2017, no template literals from data. */
const CHART_SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, sans-serif';
  var ids = data.experiments.map(function (e) { return e.experimentId; });
  var recIndex = ids.indexOf(data.recommendation ? data.recommendation.experimentId : null);
  var flat = function (v) { return ids.map(function () { return v; }); };

  var neSets = [{
    label: 'test NE', data: data.experiments.map(function (e) { return e.ne === undefined ? null : e.ne; }),
    borderColor: '#4c6ef5', backgroundColor: '#4c6ef5', showLine: true, spanGaps: true, pointRadius: 4, order: 2
  }];
  if (recIndex >= 0) neSets.push({
    label: 'recommended', data: ids.map(function (_, i) { return i === recIndex ? data.experiments[i].ne : null; }),
    borderColor: '#2b8a3e', backgroundColor: '#40c057', pointRadius: 9, pointStyle: 'star', showLine: false, order: 1
  });
  if (data.baselineNe !== undefined) neSets.push({
    label: 'baseline NE', data: flat(data.baselineNe), borderColor: '#868e96', borderDash: [6, 4], pointRadius: 0, order: 3
  });
  if (data.oracleNe !== undefined) neSets.push({
    label: 'oracle NE (Bayes-optimal)', data: flat(data.oracleNe), borderColor: '#e67700', borderDash: [2, 3], pointRadius: 0, order: 4
  });
  new Chart(document.getElementById('ne-chart'), {
    type: 'line', data: { labels: ids, datasets: neSets },
    options: { responsive: true, maintainAspectRatio: false,
      scales: { x: { title: { display: true, text: 'experiment (run order)' } }, y: { title: { display: true, text: 'NE (lower is better)' } } } }
  });

  var band = data.calibrationBand;
  new Chart(document.getElementById('calibration-chart'), {
    type: 'bar',
    data: { labels: ids, datasets: [
      { type: 'bar', label: 'calibration (predicted / observed clicks)',
        data: data.experiments.map(function (e) { return e.calibration === undefined ? null : e.calibration; }),
        backgroundColor: data.experiments.map(function (e, i) {
          if (e.calibration === undefined) return '#ced4da';
          var inside = e.calibration >= band[0] && e.calibration <= band[1];
          return i === recIndex ? '#2b8a3e' : inside ? '#74c0fc' : '#ff8787';
        }) },
      { type: 'line', label: 'ideal 1.0', data: flat(1), borderColor: '#2b8a3e', pointRadius: 0 },
      { type: 'line', label: 'band low ' + band[0], data: flat(band[0]), borderColor: '#adb5bd', borderDash: [4, 4], pointRadius: 0 },
      { type: 'line', label: 'band high ' + band[1], data: flat(band[1]), borderColor: '#adb5bd', borderDash: [4, 4], pointRadius: 0 }
    ] },
    options: { responsive: true, maintainAspectRatio: false, scales: { y: { title: { display: true, text: 'calibration' } } } }
  });

  var seg = document.getElementById('segment-chart');
  if (seg && data.segments.length) new Chart(seg, {
    type: 'bar',
    data: { labels: data.segments.map(function (s) { return s.segment; }), datasets: [
      { label: 'recommended', data: data.segments.map(function (s) { return s.ne; }), backgroundColor: '#40c057' },
      { label: 'baseline', data: data.segments.map(function (s) { return s.baselineNe === undefined ? null : s.baselineNe; }), backgroundColor: '#adb5bd' }
    ] },
    // Segment NEs differ by a few percent: a zero-based axis would hide the difference.
    options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: false, title: { display: true, text: 'segment NE' } } } }
  });
  document.body.setAttribute('data-charts', 'drawn');
})();
`;

const STYLE = `
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 24px; color: #212529; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
  .meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
  .meta dt { color: #868e96; } .meta dd { margin: 0; }
  .state { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #e7f5ff; }
  .state.approved { background: #d3f9d8; } .state.rejected, .state.aborted { background: #ffe3e3; } .state.awaiting-review, .state.needs-review { background: #fff3bf; }
  .chart { position: relative; height: 320px; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #f1f3f5; vertical-align: top; }
  th { background: #f8f9fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr.recommended { background: #ebfbee; } tr.baseline { background: #f8f9fa; } tr.failed { color: #868e96; }
  .breach { color: #c92a2a; } .better { color: #2b8a3e; } .worse { color: #c92a2a; }
  .rationale { white-space: pre-wrap; background: #f8f9fa; padding: 12px; border-radius: 6px; }
  .muted { color: #868e96; }
  .warning { background: #fff3bf; padding: 8px 12px; border-radius: 6px; }
`;

/** The data-quality block: skipped malformed rows per file and the first examples (file:line: what was wrong). */
function badRowsSection(b: BadRows | undefined): string {
  if (!b || b.files.length === 0) return '';
  const e = escapeHtml;
  const files = b.files.map((f) => `${e(f.file)} (${e(f.split)}): ${f.badRows} of ${f.rows} rows`).join('; ');
  if (b.count === 0) return `<h2>Data quality</h2>\n<p class="muted" id="bad-rows" data-count="0">No bad rows: ${files}.</p>`;
  return `<h2>Data quality</h2>
<div id="bad-rows" data-count="${b.count}">
<p class="warning"><strong>${b.count} bad row${b.count === 1 ? '' : 's'} skipped</strong>: malformed rows were left out of training and evaluation (${files}).</p>
<table><thead><tr><th>file</th><th>line</th><th>problem</th></tr></thead><tbody>${b.examples
    .map((x) => `<tr><td>${e(x.file)}</td><td class="num">${x.line}</td><td>${e(x.problem)}</td></tr>`)
    .join('')}</tbody></table>
${b.count > b.examples.length ? `<p class="muted">…and ${b.count - b.examples.length} more.</p>` : ''}
</div>`;
}

/** The research step: what it measured on the baseline, and each hypothesis's expected gain beside what its run measured. */
function researchSection(r: ReportResearch | undefined): string {
  if (!r) return '';
  const e = escapeHtml;
  const rows = r.hypotheses
    .map(
      (h, i) => `<tr><td class="num">${i + 1}</td><td>${e(h.title)}<br><span class="muted">${e(h.technique)}</span></td>
  <td class="num">−${(100 * h.expectedGain).toFixed(2)}%${h.heldOutGain !== undefined ? `<br><span class="muted">held out: −${(100 * h.heldOutGain).toFixed(2)}%</span>` : ''}</td><td class="num">${fmt(h.cost, 2)}x</td>
  <td>${h.experimentId ? `${e(h.experimentId)}: ${pct(h.measuredChange)}` : '<span class="muted">not run</span>'}</td><td>${e(h.evidence)}</td></tr>`,
    )
    .join('\n');
  const importance = r.importance.map((f) => `${e(f.field)} ${fmt(f.neIncrease)} ± ${fmt(f.stdErr)}`).join(', ');
  return `<h2>Research step</h2>
<div id="research">
<p>Baseline fit: ${e(r.fit)}. Most important fields (validation NE lost when shuffled): ${importance || '—'}. Measured in ${fmt(r.seconds, 1)} s.</p>
<table><thead><tr><th>#</th><th>hypothesis</th><th>expected Δ NE</th><th>cost</th><th>measured (validation)</th><th>evidence</th></tr></thead><tbody>${rows}</tbody></table>
${r.notEstimable.length ? `<p>Not estimable on these clicks:</p><ul id="not-estimable">${r.notEstimable.map((line) => `<li>${e(line)}</li>`).join('')}</ul>` : ''}
</div>`;
}

/** The probe round: each idea's validation NE on the row sample next to the reference's, and what a winner's full run measured. */
function probesSection(probes: ReportProbe[] | undefined): string {
  if (!probes?.length) return '';
  const e = escapeHtml;
  const rows = probes
    .map(
      (
        p,
      ) => `<tr${p.isReference ? ' class="baseline"' : ''}><td>${e(p.experimentId)}</td><td>${e(p.title)}${p.isReference ? '<br><span class="muted">reference</span>' : ''}</td>
  <td>${e(p.family)}</td><td class="num">${p.rows ?? ''}</td><td class="num">${fmt(p.validationNe)}</td>
  <td>${p.failureClass ? `failed: ${e(p.failureClass)}` : p.isReference ? '' : p.promotedTo ? `promoted → ${e(p.promotedTo)}: ${pct(p.promotedChange)}` : '<span class="muted">not promoted</span>'}</td></tr>`,
    )
    .join('\n');
  return `<h2>Probes</h2>
<div id="probes">
<p>Ideas screened on a sample of the training rows before any full run; an idea earned a full run only if its validation NE beat the reference probe of the best model so far.</p>
<table><thead><tr><th>probe</th><th>idea</th><th>family</th><th>rows</th><th>validation NE</th><th>outcome (full-run test Δ NE)</th></tr></thead><tbody>${rows}</tbody></table>
</div>`;
}

/** Drift, base rates and the smallest change the data can detect: what to know before reading any NE. */
function dataChecksSection(checks: DataChecks | undefined): string {
  if (!checks) return '';
  const e = escapeHtml;
  const detectable = checks.detectable
    .map((d) => `${e(d.split)}: ${(100 * d.relativeNeChange).toFixed(2)}% (${d.rows} rows, ${Math.round(d.clicks)} clicks)`)
    .join('; ');
  const findings = checks.findings.length
    ? `<ul>${checks.findings.map((f) => `<li class="${f.severity === 'info' ? 'muted' : 'breach'}">[${e(f.severity)}] ${e(f.message)}</li>`).join('')}</ul>`
    : '<p class="muted">No drift or base-rate findings.</p>';
  return `<h2>Data checks</h2>
<div id="data-checks">
<p>Smallest NE change the data can detect (2 standard errors of the baseline's NE): ${detectable || 'unknown'}.${checks.trainCtr !== undefined ? ` Training click rate ${(100 * checks.trainCtr).toFixed(3)}%.` : ''}</p>
${findings}
</div>`;
}

function leaderboardRow(e: LeaderboardEntry, rank: number): string {
  const cls = [e.isRecommended ? 'recommended' : '', e.isBaseline ? 'baseline' : '', e.status === 'failed' ? 'failed' : ''].filter(Boolean).join(' ');
  const change = e.relativeNeChange === undefined ? '' : e.relativeNeChange < 0 ? 'better' : e.relativeNeChange > 0 ? 'worse' : '';
  const badges = [e.isRecommended ? '★ recommended' : '', e.isBaseline ? 'baseline' : ''].filter(Boolean).join(', ');
  return `<tr class="${cls}" data-experiment="${escapeHtml(e.experimentId)}">
  <td class="num">${rank || ''}</td>
  <td>${escapeHtml(e.experimentId)}${badges ? `<br><span class="muted">${escapeHtml(badges)}</span>` : ''}</td>
  <td>${escapeHtml(e.phase)}</td><td>${escapeHtml(e.family)}</td>
  <td title="${escapeHtml(e.rationale ?? '')}">${escapeHtml(e.title ?? '')}${e.technique ? `<br><span class="muted">${escapeHtml(e.technique)}${e.designer ? ` · by the ${escapeHtml(e.designer)} designer` : ''}</span>` : ''}</td>
  <td class="num">${fmt(e.validationNe)}${e.validationStdErr !== undefined ? ` <span class="muted">± ${fmt(e.validationStdErr)}</span>` : ''}</td>
  <td class="num">${fmt(e.ne)}</td><td class="num ${change}">${pct(e.relativeNeChange)}</td>
  <td class="num">${fmt(e.auc)}</td><td class="num">${fmt(e.calibration, 3)}</td>
  <td>${escapeHtml(e.status)}${e.failureClass ? `: ${escapeHtml(e.failureClass)}` : ''}</td>
  <td class="breach">${e.breaches.map(escapeHtml).join('<br>')}</td>
</tr>`;
}

export function renderReportHtml(data: CampaignReportData, chartJsSource: string): string {
  const scriptHash = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
  const csp = `default-src 'none'; script-src ${scriptHash(chartJsSource)} ${scriptHash(CHART_SCRIPT)}; style-src 'unsafe-inline'; img-src data:`;
  const rec = data.recommendation;
  const e = escapeHtml;
  let rank = 0;

  const decisions = data.decisions.length
    ? `<table><thead><tr><th>decision</th><th>by</th><th>when</th><th>via</th><th>note</th></tr></thead><tbody>${data.decisions
        .map((d) => `<tr><td>${e(d.kind)}</td><td>${e(d.by)}</td><td>${e(d.at)}</td><td>${e(d.via)}</td><td>${e(d.note ?? '')}</td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="muted">No decisions yet.</p>';
  const p = data.promotion;
  const promotion = p
    ? `<p id="promotion">onApprove hook <code>${e(p.hook)}</code>: <strong>${e(p.state)}</strong> for ${e(p.experimentId)}${p.attempts ? ` after ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}` : ''}${p.detail ? ` — ${e(p.detail)}` : ''}</p>`
    : '';
  const refused = data.ignoredMessages.length
    ? `<p>Refused sign-off messages:</p><table id="refused"><thead><tr><th>message</th><th>by</th><th>when</th><th>why refused</th></tr></thead><tbody>${data.ignoredMessages
        .map((m) => `<tr><td>${e(m.kind)}</td><td>${e(m.by ?? '—')}</td><td>${e(m.at)}</td><td>${e(m.reason)}</td></tr>`)
        .join('')}</tbody></table>`
    : '';

  const recommendation = rec
    ? `<dl class="meta">
  <dt>experiment</dt><dd>${e(rec.experimentId)}</dd>
  ${rec.validationNe !== undefined ? `<dt>selected on validation</dt><dd>NE ${fmt(rec.validationNe)}${rec.validationStdErr !== undefined ? ` ± ${fmt(rec.validationStdErr)}` : ''}</dd>` : ''}
  ${rec.confirmation ? `<dt>${rec.confirmation.confirmed ? 'confirmed on test' : 'NOT confirmed on test'}</dt><dd id="confirmation">${e(rec.confirmation.note)}</dd>` : ''}
  <dt>test NE</dt><dd>${fmt(rec.ne)} (${pct(rec.relativeNeChange)} vs baseline)</dd>
  <dt>calibration</dt><dd>${fmt(rec.calibration, 3)}</dd>
  ${rec.capturedGainShare !== undefined ? `<dt>achievable gain captured</dt><dd>${(rec.capturedGainShare * 100).toFixed(1)}% (oracle NE ${fmt(data.oracleNe)})</dd>` : ''}
  ${rec.artifact ? `<dt>model artifact</dt><dd><code>${e(rec.artifact)}</code></dd>` : ''}
  <dt>source</dt><dd>${e(rec.source)}</dd>
</dl>
<div class="rationale" id="rationale">${e(rec.rationale)}</div>`
    : '<p class="muted">No recommendation (yet).</p>';

  const timeline = data.timeline.length
    ? `<table><tbody>${data.timeline.map((t) => `<tr><td class="muted">${e(t.ts)}</td><td>${e(t.type)}</td><td>${e(t.text)}</td></tr>`).join('')}</tbody></table>`
    : '<p class="muted">No events.</p>';

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rankwright campaign ${e(data.campaignId)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Campaign ${e(data.campaignId)}</h1>
<dl class="meta">
  <dt>objective</dt><dd>${e(data.objective ?? '—')}</dd>
  <dt>strategy</dt><dd>${e(data.strategy)}</dd>
  <dt>phase</dt><dd>${e(data.phase)}${data.paused ? ' (paused)' : ''}</dd>
  <dt>review state</dt><dd><span class="state ${e(data.reviewState)}" id="review-state">${e(data.reviewState)}</span></dd>
  <dt>stop reason</dt><dd>${e(data.stopReason ?? '—')}</dd>
  <dt>budget used</dt><dd>${e(describeBudgetUsed(data.budgetUsed))}</dd>
  ${data.storage ? `<dt>storage</dt><dd id="storage">${e(describeStorage(data.storage))} in the home when this report was written${data.storage.shared ? `; ${e(describeSharedStorage(data.storage.shared))}` : ''}</dd>` : ''}
  <dt>generated</dt><dd>${e(data.generatedAt)}</dd>
</dl>
${badRowsSection(data.badRows)}
${dataChecksSection(data.dataChecks)}
<h2>Decisions</h2>
${decisions}
${promotion}
${refused}
</header>
<main>
<h2>Normalized entropy per experiment</h2>
${data.experiments.length ? '<div class="chart"><canvas id="ne-chart" aria-label="NE per experiment"></canvas></div>' : '<p class="muted">No experiments yet.</p>'}
${researchSection(data.research)}
${probesSection(data.probes)}
<h2>Leaderboard</h2>
<p class="muted">${data.decidedOn === 'validation' ? 'Ranked by validation NE, what the campaign decided on; test NE is information, compared with the baseline once, for the recommended model.' : 'Ranked by test NE (this campaign was recorded before validation decided).'}</p>
<table id="leaderboard"><thead><tr><th>#</th><th>experiment</th><th>phase</th><th>family</th><th>hypothesis</th><th>validation NE</th><th>test NE</th><th>Δ NE (test)</th><th>AUC</th><th>calibration</th><th>status</th><th>guardrail breaches</th></tr></thead>
<tbody>${data.leaderboard.map((x) => leaderboardRow(x, (data.decidedOn === 'validation' ? x.validationNe : x.ne) === undefined ? 0 : ++rank)).join('\n')}</tbody></table>
<h2>Calibration</h2>
${data.experiments.length ? '<div class="chart"><canvas id="calibration-chart" aria-label="calibration per experiment"></canvas></div>' : ''}
${data.segments.length ? `<h2>Per-segment NE of the recommended model</h2><div class="chart"><canvas id="segment-chart" aria-label="per-segment NE"></canvas></div>` : ''}
<h2>Recommendation</h2>
${recommendation}
<h2>Timeline</h2>
${timeline}
</main>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
${data.experiments.length ? `<script>${chartJsSource}</script>\n<script>${CHART_SCRIPT}</script>` : ''}
</body>
</html>
`;
}
