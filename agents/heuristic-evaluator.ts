import { EvaluateRequest, EvaluateResponse, type CandidateView } from '../contracts/agents';
import { compareNe, formatPercent, neOf, SIGNIFICANCE_Z, type NeComparison } from './significance';

/**
 * The deterministic result evaluator: ranks candidates on the NE their summaries carry — validation NE (the rows a
 * campaign decides on; test confirms the pick once, in the workflow), or test NE for campaigns recorded before —
 * tests each against the baseline (difference > 2 paired or combined standard errors), and recommends the best
 * eligible, significant one — or nobody. Guardrail and floor violations come from the workflow and are final here:
 * a violating candidate is ranked but never recommended.
 */

export interface AssessedCandidate {
  candidate: CandidateView;
  ne?: number;
  vsBaseline?: NeComparison;
  eligible: boolean;
  significant: boolean;
}

const f4 = (x: number) => x.toFixed(4);
const f3 = (x: number) => x.toFixed(3);

export function assessCandidates(req: EvaluateRequest): AssessedCandidate[] {
  const assessed = req.candidates.map((candidate) => {
    const vsBaseline = compareNe(candidate, req.baseline);
    const ne = neOf(candidate, req.baseline.ne);
    const measured = candidate.status === 'succeeded' && ne !== undefined;
    const isBaseline = candidate.experimentId === req.baseline.experimentId;
    return {
      candidate,
      ne: measured ? ne : undefined,
      vsBaseline,
      eligible: measured && !isBaseline && candidate.guardrailViolations.length === 0,
      significant: !isBaseline && (vsBaseline?.significant ?? false),
    };
  });
  // Best NE first; unmeasured (failed) last; ties by id so the order is reproducible.
  return assessed.sort((a, b) => (a.ne ?? Infinity) - (b.ne ?? Infinity) || a.candidate.experimentId.localeCompare(b.candidate.experimentId));
}

function noteFor(a: AssessedCandidate): string {
  const c = a.candidate;
  if (c.status !== 'succeeded' || a.ne === undefined) return `failed${c.failureClass ? ` (${c.failureClass})` : ''}; not measured`;
  const parts = [`NE ${f4(a.ne)}`];
  if (a.vsBaseline) {
    const se = a.vsBaseline.combinedStdErr;
    parts.push(`${formatPercent(a.vsBaseline.relativeNeChange)} vs baseline`);
    parts.push(
      a.significant
        ? 'significant'
        : se !== undefined
          ? `within noise (|ΔNE| ${f4(Math.abs(a.vsBaseline.neGain))} ≤ ${SIGNIFICANCE_Z}×SE ${f4(se)})`
          : 'not significant',
    );
  }
  if (c.auc !== undefined) parts.push(`AUC ${f3(c.auc)}`);
  if (c.calibration !== undefined) parts.push(`calibration ${f3(c.calibration)}`);
  if (c.guardrailViolations.length) parts.push(`blocked by guardrails: ${c.guardrailViolations.join('; ')}`);
  return parts.join(', ').slice(0, 500);
}

function oracleShare(req: EvaluateRequest, ne: number): string | undefined {
  const base = req.baseline.ne;
  if (req.oracleNe === undefined || base === undefined || base - req.oracleNe <= 0) return undefined;
  const share = (base - ne) / (base - req.oracleNe);
  return `captures ${(share * 100).toFixed(0)}% of the achievable gain (baseline NE ${f4(base)} → oracle NE ${f4(req.oracleNe)}, regret ${f4(ne - req.oracleNe)})`;
}

/** The recommendation's case: the numbers, the trade-offs, and why not the runner-up. */
function explain(req: EvaluateRequest, ranked: AssessedCandidate[], chosen: AssessedCandidate | undefined): string {
  const blocked = ranked.filter((a) => a.candidate.guardrailViolations.length > 0);
  const blockedText = blocked.length
    ? ` Excluded by guardrails: ${blocked
        .slice(0, 5)
        .map((a) => `${a.candidate.experimentId} (${a.candidate.guardrailViolations.join('; ')})`)
        .join(', ')}${blocked.length > 5 ? ` and ${blocked.length - 5} more` : ''}.`
    : '';
  if (!chosen) {
    const eligible = ranked.filter((a) => a.eligible);
    if (!eligible.length) {
      return `No recommendation: none of the ${ranked.length} candidates is eligible (each failed or breaks a guardrail).${blockedText} Keep the baseline ${req.baseline.experimentId}.`.slice(
        0,
        4000,
      );
    }
    const top = eligible[0];
    return (
      `No recommendation: none of the ${eligible.length} eligible candidates beats the baseline NE${req.baseline.ne !== undefined ? ` ${f4(req.baseline.ne)}` : ''} by more than ${SIGNIFICANCE_Z} combined standard errors. ` +
      `Best eligible: ${top.candidate.experimentId} (${noteFor(top)}).${blockedText} Keep the baseline ${req.baseline.experimentId}.`
    ).slice(0, 4000);
  }
  const c = chosen.candidate;
  const v = chosen.vsBaseline!;
  const sentences = [
    `Recommend ${c.experimentId} (${c.trainer ?? `${c.config.family}${c.config.crosses.length ? ` with ${c.config.crosses.length} crosses` : ''}`}): ${c.measuredOn ?? 'test'} NE ${f4(chosen.ne!)} vs baseline ${f4(req.baseline.ne ?? chosen.ne! - v.neGain)} (${formatPercent(v.relativeNeChange)}), significant: ΔNE ${f4(v.neGain)} > ${SIGNIFICANCE_Z}×SE ${v.combinedStdErr !== undefined ? f4(v.combinedStdErr) : 'n/a'}.`,
  ];
  const metrics: string[] = [];
  if (c.auc !== undefined)
    metrics.push(
      `${c.measuredOn === 'validation' ? 'validation ' : ''}AUC ${f3(c.auc)}${req.baseline.auc !== undefined ? ` (baseline ${f3(req.baseline.auc)}, ${c.auc - req.baseline.auc >= 0 ? '+' : ''}${f3(c.auc - req.baseline.auc)})` : ''}`,
    );
  if (c.calibration !== undefined) {
    const band = req.guardrails.calibrationBand;
    metrics.push(
      `calibration ${f3(c.calibration)}${band ? ` (within the band [${band[0]}, ${band[1]}])` : Math.abs(c.calibration - 1) > 0.05 ? ' (more than 5% off 1.0: watch it)' : ''}`,
    );
  }
  const oracle = oracleShare(req, chosen.ne!);
  if (oracle) metrics.push(oracle);
  if (c.trainSeconds !== undefined) metrics.push(`trained in ${c.trainSeconds.toFixed(0)} s`);
  if (metrics.length) sentences.push(`${metrics.join('; ')}.`);
  const runnerUp = ranked.find((a) => a !== chosen && a.eligible);
  if (runnerUp) {
    const gap = compareNe(chosen.candidate, runnerUp.candidate);
    const why =
      runnerUp.ne! < chosen.ne!
        ? 'lower NE but not significantly better than the baseline'
        : gap?.significant
          ? 'significantly higher NE'
          : `higher NE, though within noise of ${c.experimentId} (a cheaper or simpler runner-up may be worth a look)`;
    sentences.push(
      `Runner-up ${runnerUp.candidate.experimentId}: NE ${f4(runnerUp.ne!)}${runnerUp.vsBaseline ? ` (${formatPercent(runnerUp.vsBaseline.relativeNeChange)})` : ''} — not chosen: ${why}.`,
    );
  }
  return (sentences.join(' ') + blockedText).slice(0, 4000);
}

export function evaluateHeuristically(input: EvaluateRequest): EvaluateResponse {
  const req = EvaluateRequest.parse(input);
  const ranked = assessCandidates(req);
  const chosen = ranked.find((a) => a.eligible && a.significant);
  return EvaluateResponse.parse({
    ranking: ranked.map((a) => ({ experimentId: a.candidate.experimentId, significant: a.significant, note: noteFor(a) })),
    recommended: chosen ? chosen.candidate.experimentId : null,
    rationale: explain(req, ranked, chosen),
    source: 'heuristic',
  });
}

export { explain as explainRecommendation };
