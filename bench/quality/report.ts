import type { DeclaredSchema } from '../../contracts';
import type { QualityMetrics } from '../peers/measure';
import { commitLine, machineLine, type BenchStamp, type LoadRange } from '../stamp';

/**
 * The quality bench's results, its goals and how they are written (markdown + JSON). Pure functions: the harness
 * fills a QualityReport; tests feed made-up ones.
 */

/** The engine issue's goals. */
export const QUALITY_GOALS = {
  /** The best Rankwright family may trail LightGBM by at most this much test NE. */
  neGapToLightgbm: 0.005,
  /** Predicted clicks / observed clicks of every Rankwright family with defaults. */
  calibration: [0.97, 1.03] as const,
  /** The families the "best Rankwright family" and calibration goals look at (defaults, no tuning). */
  families: ['lr', 'fm', 'dcn'] as const,
};

export type RunStatus = 'ok' | 'capped' | 'failed';

export interface RunResult {
  /** 'ftrl-script' | 'textbook-ftrl' | 'lr' | 'fm' | 'dcn' | 'lightgbm' */
  id: string;
  label: string;
  kind: 'rankwright' | 'peer';
  status: RunStatus;
  /** Wall time of everything the contender ran (processes start to exit: read, train, score, write). */
  wallSeconds: number;
  metrics?: QualityMetrics;
  /** Why it failed / what was capped, or a remark (rounds, artifact). */
  note?: string;
  detail?: Record<string, unknown>;
}

export interface ScenarioFiles {
  name: string;
  /** Which generator made the files ('wide-planted' = ranking/data/wide-planted.ts; 'planted' = the small one). */
  source: string;
  description?: string;
  dir: string;
  train: string;
  validation?: string;
  test: string;
  rows: { train: number; validation: number; test: number };
  /** Rankwright validates on the last fraction of train when there is no validation file. */
  validationFraction: number;
  oracleNe?: number;
  /** A declared table (a header, columns by role) instead of Criteo's headerless layout: every contender reads it by this schema. */
  declared?: { format: 'csv'; schema: DeclaredSchema };
}

export type GoalStatus = 'pass' | 'miss' | 'unchecked';
export interface GoalResult {
  id: 'lr-vs-textbook' | 'interactions-vs-lr' | 'best-vs-lightgbm' | 'calibration';
  goal: string;
  status: GoalStatus;
  detail: string;
}

export interface ScenarioResult {
  scenario: Omit<ScenarioFiles, 'dir' | 'train' | 'validation' | 'test' | 'declared'> & { dir: string };
  runs: RunResult[];
  goals: GoalResult[];
}

export interface QualityReport extends BenchStamp {
  /** 1-minute load average sampled before and after every contender: other work on the machine inflates wall times. */
  loadAverage?: LoadRange;
  python?: { versions: Record<string, string>; venvSeconds: number; venvInstalled: boolean } | { error: string };
  options: { scenarios: string[]; rows?: number; families: string[]; peers: string[]; capSeconds: number; parallel?: number };
  scenarios: ScenarioResult[];
  /** Set by `--regoal`: the goals were re-checked by a later commit's report code; the runs are the original ones. */
  goalsRecheckedAt?: { commit: string; date: string };
}

const ok = (runs: RunResult[], id: string) => runs.find((r) => r.id === id && r.status === 'ok' && r.metrics);
const fmt = (x: number | undefined, digits = 4) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const signed = (x: number, digits = 4) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
/** Each of `ids` without an ok result, with why: its status, or 'not run' when it was left out of the run. */
const notFinished = (runs: RunResult[], ids: readonly string[]) =>
  ids.filter((id) => !ok(runs, id)).map((id) => `${id} ${runs.find((r) => r.id === id)?.status ?? 'not run'}`);

export function inCalibrationRange(c: number): boolean {
  return c >= QUALITY_GOALS.calibration[0] && c <= QUALITY_GOALS.calibration[1];
}

/** The three goals on one scenario's runs. A goal whose contenders did not all run is 'unchecked', not a pass. */
export function checkGoals(runs: RunResult[]): GoalResult[] {
  const goals: GoalResult[] = [];

  const lr = ok(runs, 'lr');
  const ftrl = ok(runs, 'ftrl-script');
  const g1 = 'default `lr` no worse than the textbook FTRL (test NE ≤)';
  if (lr && ftrl) {
    const d = lr.metrics!.ne - ftrl.metrics!.ne;
    goals.push({
      id: 'lr-vs-textbook',
      goal: g1,
      status: d <= 0 ? 'pass' : 'miss',
      detail: `lr ${fmt(lr.metrics!.ne)} vs textbook ${fmt(ftrl.metrics!.ne)} (${signed(d)})`,
    });
  } else {
    goals.push({
      id: 'lr-vs-textbook',
      goal: g1,
      status: 'unchecked',
      detail: `needs lr and ftrl-script results (${notFinished(runs, ['lr', 'ftrl-script']).join(', ') || 'not run'})`,
    });
  }

  // Every wide scenario plants interactions (pairwise, dense×categorical or three-way), so the interaction families
  // are held to it on all of them.
  const g4 = '`fm` and `dcn` no worse than `lr` (every wide scenario has interactions)';
  const interactionFamilies = ['fm', 'dcn'].map((f) => ok(runs, f)).filter((r): r is RunResult => !!r);
  if (lr && interactionFamilies.length) {
    const worse = interactionFamilies.filter((r) => r.metrics!.ne > lr.metrics!.ne);
    const missing = notFinished(runs, ['fm', 'dcn']);
    goals.push({
      id: 'interactions-vs-lr',
      goal: g4,
      status: worse.length ? 'miss' : missing.length ? 'unchecked' : 'pass',
      detail: `${interactionFamilies.map((r) => `${r.id} ${fmt(r.metrics!.ne)} (${signed(r.metrics!.ne - lr.metrics!.ne)})`).join(', ')} vs lr ${fmt(lr.metrics!.ne)}${missing.length ? `; not finished: ${missing.join(', ')}` : ''}`,
    });
  } else {
    goals.push({
      id: 'interactions-vs-lr',
      goal: g4,
      status: 'unchecked',
      detail: `needs lr and fm or dcn results (${notFinished(runs, ['lr', 'fm', 'dcn']).join(', ') || 'not run'})`,
    });
  }

  const families = QUALITY_GOALS.families.map((f) => ok(runs, f)).filter((r): r is RunResult => !!r);
  const lgb = ok(runs, 'lightgbm');
  const g2 = `best Rankwright family within ${QUALITY_GOALS.neGapToLightgbm} NE of LightGBM, or better`;
  const missingFamilies = notFinished(runs, QUALITY_GOALS.families);
  if (families.length && lgb) {
    const best = families.reduce((a, b) => (b.metrics!.ne < a.metrics!.ne ? b : a));
    const gap = best.metrics!.ne - lgb.metrics!.ne;
    const pass = gap <= QUALITY_GOALS.neGapToLightgbm;
    // A gap with a family missing is not a miss: the missing family may be the best one (the DCN usually is).
    goals.push({
      id: 'best-vs-lightgbm',
      goal: g2,
      status: pass ? 'pass' : missingFamilies.length ? 'unchecked' : 'miss',
      detail: `best ${best.id} ${fmt(best.metrics!.ne)} vs LightGBM ${fmt(lgb.metrics!.ne)} (${signed(gap)})${missingFamilies.length ? `; not in the comparison: ${missingFamilies.join(', ')}` : ''}`,
    });
  } else {
    goals.push({
      id: 'best-vs-lightgbm',
      goal: g2,
      status: 'unchecked',
      detail: `needs LightGBM and at least one family (${notFinished(runs, [...QUALITY_GOALS.families, 'lightgbm']).join(', ') || 'not run'})`,
    });
  }

  const [lo, hi] = QUALITY_GOALS.calibration;
  const g3 = `calibration of every Rankwright family in [${lo}, ${hi}]`;
  if (families.length) {
    const misses = families.filter((r) => !inCalibrationRange(r.metrics!.calibration));
    const all = families.map((r) => `${r.id} ${r.metrics!.calibration.toFixed(3)}`).join(', ');
    const unchecked = missingFamilies.length ? `; unchecked: ${missingFamilies.join(', ')}` : '';
    goals.push({
      id: 'calibration',
      goal: g3,
      status: misses.length ? 'miss' : missingFamilies.length ? 'unchecked' : 'pass',
      detail: `${all}${misses.length ? ` — out of range: ${misses.map((r) => r.id).join(', ')}` : ''}${unchecked}`,
    });
  } else {
    goals.push({ id: 'calibration', goal: g3, status: 'unchecked', detail: `no family finished (${missingFamilies.join(', ') || 'not run'})` });
  }
  return goals;
}

export function goalMark(status: GoalStatus): string {
  return status === 'pass' ? '✔' : status === 'miss' ? '✘ MISS' : '— not checked';
}

function runRow(r: RunResult, oracleNe: number | undefined): string {
  const m = r.metrics;
  const wall = `${r.wallSeconds.toFixed(1)}${r.status === 'capped' ? ' (cap)' : ''}`;
  if (r.status !== 'ok' || !m) {
    return `| ${r.label} | ${r.status === 'capped' ? 'CAPPED' : 'FAILED'} | | | | ${fmt(oracleNe)} | | ${wall} | ${escapeCell(r.note ?? '')} |`;
  }
  const calibrationGoal = (QUALITY_GOALS.families as readonly string[]).includes(r.id) ? (inCalibrationRange(m.calibration) ? ' ✔' : ' ✘ MISS') : '';
  const regret = oracleNe === undefined ? '—' : fmt(m.ne - oracleNe);
  return `| ${r.label} | ${fmt(m.ne)} ± ${fmt(m.neStdErr)} | ${fmt(m.auc)} | ${m.calibration.toFixed(3)}${calibrationGoal} | ${fmt(oracleNe)} | ${regret} | ${wall} | ${escapeCell(r.note ?? '')} |`;
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The whole report as markdown: header (commit, machine), then per scenario a table and its goals. */
export function qualityMarkdown(report: QualityReport): string {
  const py = report.python;
  const lines = [
    '# Quality benchmark',
    '',
    `${commitLine(report)}${report.goalsRecheckedAt ? ` Goals re-checked (runs unchanged) by commit \`${report.goalsRecheckedAt.commit}\`, ${report.goalsRecheckedAt.date}.` : ''}`,
    machineLine(report, report.loadAverage),
    py
      ? 'error' in py
        ? `Python peers: unavailable (${py.error}).`
        : `Python peers (bench venv .bench/venv): ${Object.entries(py.versions)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}${py.venvInstalled ? `; venv created/installed in ${py.venvSeconds.toFixed(0)} s` : '; venv reused'}.`
      : 'Python peers: not run.',
    `Run: scenarios ${report.options.scenarios.join(', ')}${report.options.rows ? `, **quick run: --rows ${report.options.rows}**` : ''}; contenders ${[...report.options.peers, ...report.options.families].join(', ')}; time cap ${report.options.capSeconds} s per contender${(report.options.parallel ?? 1) > 1 ? `; ${report.options.parallel} scenarios at a time (wall times are shared-machine times)` : ''}.`,
    '',
    'Every row is measured the same way: the contender writes one probability per test row, and one function (bench/peers/measure.ts, ranking/metrics.ts) computes test NE (± its standard error), AUC and calibration (predicted / observed clicks) from that file and the test labels. Regret = NE − oracle NE. Wall = seconds from process start to exit, everything included (read, train, score, write); Rankwright rows are `rankwright train` + `rankwright score` as a user runs them.',
    '',
  ];
  for (const s of report.scenarios) {
    const sc = s.scenario;
    lines.push(
      `## ${sc.name}`,
      '',
      `${sc.description ? `${sc.description.replace(/\.?$/, '.')} ` : ''}Source: ${sc.source}; ${sc.rows.train.toLocaleString('en-US')} train / ${sc.rows.validation.toLocaleString('en-US')} validation${sc.rows.validation ? '' : ` (Rankwright and LightGBM validate on the last ${sc.validationFraction * 100}% of train)`} / ${sc.rows.test.toLocaleString('en-US')} test rows; oracle NE ${fmt(sc.oracleNe)}.`,
      '',
      '| model | test NE | AUC | calibration | oracle NE | regret | wall s | notes |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
      ...s.runs.map((r) => runRow(r, sc.oracleNe)),
      '',
      'Goals:',
      '',
      ...s.goals.map((g) => `- ${goalMark(g.status)} ${g.goal}: ${g.detail}`),
      '',
    );
  }
  const all = report.scenarios.flatMap((s) => s.goals.map((g) => ({ scenario: s.scenario.name, ...g })));
  const misses = all.filter((g) => g.status === 'miss');
  const unchecked = all.filter((g) => g.status === 'unchecked');
  lines.push(
    '## Summary',
    '',
    misses.length ? `${misses.length} goal miss(es): ${misses.map((g) => `${g.scenario}: ${g.id}`).join('; ')}.` : 'No goal missed.',
    unchecked.length
      ? `${unchecked.length} goal(s) not checked: ${unchecked.map((g) => `${g.scenario}: ${g.id}`).join('; ')}.`
      : 'Every goal was checked.',
    '',
  );
  return lines.join('\n');
}
