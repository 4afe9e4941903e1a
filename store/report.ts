import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CampaignStatus,
  SafeId,
  campaignBadRows,
  canonicalConfigKey,
  type BadRows,
  type CampaignEvent,
  type DataChecks,
  type Decision,
  type ExperimentResult,
  type TestConfirmation,
} from '../contracts';
import { decisionMetrics } from '../contracts/decision-metrics';
import { REFERENCE_PROBE } from '../contracts/probe';
import { externalTrainerLabel } from '../contracts/trainer';
import { putArtifact } from './artifacts';
import { asDiskFull } from './disk-space';
import { campaignStorage, refsOfStatus, type CampaignStorage } from './campaign-storage';
import { summarizeEvent, isNotableEvent } from './event-summary';
import { rankwrightHome } from './home';
import { renderReportHtml } from './report-template';
import { labelFields } from '../contracts/field-names';

/**
 * The campaign report: one self-contained HTML page (chart.js and CSS inline, no network at view time) that a
 * reviewer reads before signing off. This file gathers what the page shows; store/report-template.ts renders it.
 */

export interface LeaderboardEntry {
  experimentId: string;
  phase: string;
  family: string;
  title?: string;
  rationale?: string;
  technique?: string;
  /** Which designer proposed it (llm, heuristic, random). */
  designer?: string;
  status: ExperimentResult['status'];
  failureClass?: string;
  /** Test NE (information; campaigns recorded before validation decided: what they decided on). */
  ne?: number;
  relativeNeChange?: number;
  /** The NE the campaign decided on: the served model's on validation (or the best during training, for old runs). */
  validationNe?: number;
  validationStdErr?: number;
  auc?: number;
  calibration?: number;
  regret?: number;
  breaches: string[];
  isBaseline: boolean;
  isRecommended: boolean;
}

export interface SegmentComparison {
  segment: string;
  count: number;
  ne: number;
  baselineNe?: number;
}

export interface ReportTimelineEntry {
  ts: string;
  type: string;
  text: string;
}

/** Everything the page shows; also embedded in the page as JSON for the charts (and for tools that scrape it). */
export interface CampaignReportData {
  campaignId: string;
  objective?: string;
  strategy: string;
  phase: string;
  reviewState: string;
  paused: boolean;
  stopReason?: string;
  budgetUsed: { experiments: number; trainSeconds: number; compute?: number; probes?: number };
  generatedAt: string;
  decisions: Decision[];
  /** The onApprove hook's run, when the campaign has one and was approved. */
  promotion?: CampaignStatus['promotion'];
  /** Sign-off messages the campaign refused (e.g. from someone not on the approver list). */
  ignoredMessages: { kind: string; by?: string; at: string; reason: string }[];
  baselineId?: string;
  baselineNe?: number;
  oracleNe?: number;
  calibrationBand: [number, number];
  /** In experiment order (the order the campaign ran them). */
  experiments: LeaderboardEntry[];
  /** Succeeded experiments by NE, best first; then failed ones. */
  leaderboard: LeaderboardEntry[];
  recommendation: null | {
    experimentId: string;
    rationale: string;
    source: string;
    artifact?: string;
    ne: number;
    relativeNeChange?: number;
    calibration: number;
    /** (NE_baseline − NE) / (NE_baseline − NE_oracle), on planted data. */
    capturedGainShare?: number;
    /** The validation NE it was selected on, and the one comparison with the baseline on test. */
    validationNe?: number;
    validationStdErr?: number;
    confirmation?: TestConfirmation;
  };
  /** Which rows the campaign decided on (validation; test for campaigns recorded before). */
  decidedOn: 'validation' | 'test';
  /** What the data can detect and how it drifts, checked before the budget was spent. */
  dataChecks?: DataChecks;
  segments: SegmentComparison[];
  /** Malformed rows the campaign's data load skipped (from the baseline); absent when no experiment read files. */
  badRows?: BadRows;
  timeline: ReportTimelineEntry[];
  /** The research step (agent strategy): the baseline's fit, the most important fields, the ranked hypotheses. */
  research?: ReportResearch;
  /** Ideas screened on a row sample before any full run (successive halving), in the order they ran. */
  probes?: ReportProbe[];
  /** What the campaign stored in the home when the report was written: its artifacts and live checkpoints. */
  storage?: CampaignStorage;
}

export interface ReportProbe {
  experimentId: string;
  title: string;
  family: string;
  rows?: number;
  validationNe?: number;
  isReference: boolean;
  failureClass?: string;
  /** The full run it earned, and what that run measured on test. */
  promotedTo?: string;
  promotedChange?: number;
}

export interface ReportResearch {
  fit: string;
  seconds: number;
  importance: { field: string; neIncrease: number; stdErr: number }[];
  /** Ranked as the research step ranked them; `experimentId` / `measuredChange` once an experiment ran the same config. */
  hypotheses: {
    title: string;
    technique: string;
    expectedGain: number;
    cost: number;
    evidence: string;
    /** What the held-out measurements behind it support: the bound its expected gain is a share of. */
    heldOutGain?: number;
    experimentId?: string;
    measuredChange?: number;
  }[];
  /** Findings the data had too few clicks to estimate ("not estimable with N clicks"). */
  notEstimable: string[];
}

export interface CampaignReportOptions {
  home?: string;
  /** The campaign objective (CampaignStatus does not carry it; otherwise read from the campaign.started event). */
  objective?: string;
  /** The guardrail calibration band, drawn on the calibration chart (default ±5% around the ideal 1.0). */
  calibrationBand?: [number, number];
  generatedAt?: string;
  /** Also store the page as a content-addressed artifact (default true); the ref is returned. */
  storeArtifact?: boolean;
  /** The campaign's storage; writeCampaignReport measures it in the home when not given. */
  storage?: CampaignStorage;
}

export function buildReportData(status: CampaignStatus, events: CampaignEvent[], opts: CampaignReportOptions = {}): CampaignReportData {
  const recommendedId = status.recommendation?.experimentId;
  const baseline = status.experiments.find((e) => e.experimentId === status.baselineId);
  const baselineNe = baseline?.metrics?.ne;
  const oracleNe = status.oracleNe ?? status.experiments.find((e) => e.metrics?.oracleNe !== undefined)?.metrics?.oracleNe;

  const breachesOf = new Map<string, string[]>();
  for (const breach of status.guardrailBreaches) {
    breachesOf.set(breach.experimentId, [...(breachesOf.get(breach.experimentId) ?? []), `${breach.constraint}: ${breach.detail}`]);
  }

  const experiments: LeaderboardEntry[] = status.experiments.map((e) => ({
    experimentId: e.experimentId,
    phase: e.phase,
    // An external trainer's run: the trainer and its knobs, not the built-in family it did not use.
    family: e.externalJob ? externalTrainerLabel(e.externalJob) : e.config.family,
    title: e.hypothesis?.title ?? (e.experimentId === status.baselineId ? 'baseline' : undefined),
    rationale: e.hypothesis?.rationale,
    technique: e.hypothesis?.technique,
    designer: e.hypothesis?.designer,
    status: e.status,
    failureClass: e.failure?.failureClass,
    ne: e.metrics?.ne,
    relativeNeChange: e.relativeNeChange ?? relativeChange(e.metrics?.ne, baselineNe),
    validationNe: decisionMetrics(e, 'validation')?.ne,
    validationStdErr: decisionMetrics(e, 'validation')?.neStdErr,
    auc: e.metrics?.auc,
    calibration: e.metrics?.calibration,
    regret: e.metrics?.regret ?? (e.metrics && oracleNe !== undefined ? e.metrics.ne - oracleNe : undefined),
    breaches: breachesOf.get(e.experimentId) ?? [],
    isBaseline: e.experimentId === status.baselineId,
    isRecommended: e.experimentId === recommendedId,
  }));
  const decidedOn = status.decidedOn ?? 'test';
  // Ranked by what the campaign decided on: validation NE (test NE beside it is information).
  const rankNe = (x: LeaderboardEntry) => (decidedOn === 'validation' ? x.validationNe : x.ne);
  const leaderboard = [...experiments].sort((a, b) => {
    if ((rankNe(a) === undefined) !== (rankNe(b) === undefined)) return rankNe(a) === undefined ? 1 : -1;
    return (rankNe(a) ?? 0) - (rankNe(b) ?? 0) || a.experimentId.localeCompare(b.experimentId);
  });

  const rec = status.recommendation;
  const recommendation = rec && {
    experimentId: rec.experimentId,
    rationale: rec.rationale,
    source: rec.source,
    artifact: rec.artifact,
    ne: rec.metrics.ne,
    relativeNeChange: rec.relativeNeChange ?? relativeChange(rec.metrics.ne, baselineNe),
    calibration: rec.metrics.calibration,
    capturedGainShare:
      baselineNe !== undefined && oracleNe !== undefined && baselineNe - oracleNe > 0
        ? (baselineNe - rec.metrics.ne) / (baselineNe - oracleNe)
        : undefined,
    ...(rec.validationMetrics ? { validationNe: rec.validationMetrics.ne, validationStdErr: rec.validationMetrics.neStdErr } : {}),
    ...(rec.confirmation ? { confirmation: rec.confirmation } : {}),
  };

  const baselineSegments = new Map((baseline?.metrics?.segments ?? []).map((s) => [`${s.field}=${s.value}`, s.ne]));
  const segments: SegmentComparison[] = (rec?.metrics.segments ?? []).map((s) => ({
    // A declared schema's column name when the research step recorded the labels (segments are measured on a slot).
    segment: `${status.research?.fieldLabels?.[s.field] ?? s.field}=${s.value}`,
    count: s.count,
    ne: s.ne,
    baselineNe: baselineSegments.get(`${s.field}=${s.value}`),
  }));

  const started = events.find((e): e is Extract<CampaignEvent, { type: 'campaign.started' }> => e.type === 'campaign.started');
  return {
    campaignId: status.campaignId,
    objective: opts.objective ?? started?.objective,
    strategy: status.strategy,
    phase: status.phase,
    reviewState: status.reviewState,
    paused: status.paused,
    stopReason: status.stopReason,
    budgetUsed: status.budgetUsed,
    generatedAt: opts.generatedAt ?? new Date().toISOString(),
    decisions: status.decisions,
    promotion: status.promotion,
    ignoredMessages: (status as { ignoredMessages?: CampaignReportData['ignoredMessages'] }).ignoredMessages ?? [],
    baselineId: status.baselineId,
    baselineNe,
    oracleNe,
    calibrationBand: opts.calibrationBand ?? [0.95, 1.05],
    experiments,
    leaderboard,
    recommendation,
    decidedOn,
    ...(status.dataChecks ? { dataChecks: status.dataChecks } : {}),
    segments,
    badRows: campaignBadRows(status.experiments),
    timeline: events.filter(isNotableEvent).map((e) => ({ ts: e.ts, type: e.type, text: summarizeEvent(e) })),
    research: researchView(status),
    ...(status.probes?.length ? { probes: probesView(status) } : {}),
    ...(opts.storage ? { storage: opts.storage } : {}),
  };
}

/** The probes as a reviewer reads them: what each screened idea measured, and the full run a winner earned. */
function probesView(status: CampaignStatus): ReportProbe[] {
  const byId = new Map(status.experiments.map((e) => [e.experimentId, e]));
  return (status.probes ?? []).map((p) => ({
    experimentId: p.experimentId,
    title: p.hypothesis?.title ?? p.experimentId,
    family: p.config.family,
    rows: p.probe?.trainRows,
    validationNe: p.validationNe,
    isReference: p.hypothesis?.technique === REFERENCE_PROBE,
    failureClass: p.failure?.failureClass,
    promotedTo: p.promotedTo,
    promotedChange: p.promotedTo ? byId.get(p.promotedTo)?.relativeNeChange : undefined,
  }));
}

/** The research step as a reviewer reads it: each hypothesis next to what the experiment that tested it measured. */
function researchView(status: CampaignStatus): ReportResearch | undefined {
  const r = status.research;
  if (!r) return undefined;
  const ran = new Map<string, ExperimentResult>();
  for (const e of status.experiments) if (e.phase !== 'baseline' && !ran.has(canonicalConfigKey(e.config))) ran.set(canonicalConfigKey(e.config), e);
  // Findings are measured on slots: a declared schema's column names are what a reviewer reads.
  const labels = r.fieldLabels ?? {};
  return {
    fit: labelFields(`${r.findings.fit.verdict}: ${r.findings.fit.explanation}`, labels),
    seconds: r.seconds,
    importance: r.findings.importance.slice(0, 10).map(({ field, neIncrease, stdErr }) => ({ field: labels[field] ?? field, neIncrease, stdErr })),
    hypotheses: r.hypotheses.map((h) => {
      const run = ran.get(canonicalConfigKey(h.model));
      return {
        title: h.hypothesis.title,
        technique: h.hypothesis.technique,
        expectedGain: h.expectedGain,
        cost: h.cost,
        evidence: h.evidence,
        ...(h.heldOutGain !== undefined ? { heldOutGain: h.heldOutGain } : {}),
        // Measured where the campaign decided: on validation (test for runs recorded before).
        ...(run ? { experimentId: run.experimentId, measuredChange: run.validationMetrics?.relativeNeChange ?? run.relativeNeChange } : {}),
      };
    }),
    notEstimable: (r.findings.notEstimable ?? []).map((line) => labelFields(line, labels)),
  };
}

function relativeChange(ne: number | undefined, baselineNe: number | undefined): number | undefined {
  return ne !== undefined && baselineNe !== undefined && baselineNe > 0 ? (ne - baselineNe) / baselineNe : undefined;
}

/** chart.js's UMD build, read once; inlined into every page so a report opens offline. */
let chartJsSource: string | undefined;
function chartJs(): string {
  // chart.js's package exports don't list the UMD file; it sits beside the main entry (dist/chart.cjs).
  chartJsSource ??= fs.readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
  return chartJsSource;
}

/** Renders the report page of a campaign to `${RANKWRIGHT_HOME}/reports/<campaignId>.html`. */
export async function writeCampaignReport(
  status: CampaignStatus,
  events: CampaignEvent[],
  opts: CampaignReportOptions = {},
): Promise<{ path: string; artifact?: string }> {
  const checked = CampaignStatus.parse(status);
  SafeId.parse(checked.campaignId); // the id becomes a file name
  const home = opts.home ?? rankwrightHome();
  // A figure for the reviewer, never a reason for the report to fail: an unreadable home only leaves it out.
  const storage = opts.storage ?? (await campaignStorage(checked.campaignId, { home, refs: refsOfStatus(checked) }).catch(() => undefined));
  const html = renderReportHtml(buildReportData(checked, events, { ...opts, storage }), chartJs());
  const file = path.join(home, 'reports', `${checked.campaignId}.html`);
  // Write then rename, so a reviewer refreshing the page never sees half a report. A full disk fails with a
  // DiskFullError (what, where, space left) and leaves no half-written temp file; the activity retries it.
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(tmp, html, 'utf8');
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw asDiskFull(err, 'a campaign report', path.dirname(file));
  }
  if (opts.storeArtifact === false) return { path: file };
  return { path: file, artifact: await putArtifact(html, 'a campaign report') };
}
