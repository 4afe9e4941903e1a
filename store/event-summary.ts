import type { CampaignEvent } from '../contracts';

/** One human line per campaign event, in the team's words (used by `rankwright events` and the report timeline). */
export function summarizeEvent(e: CampaignEvent): string {
  const pct = (r: number | undefined) => (r === undefined ? '' : ` (${r > 0 ? '+' : ''}${(r * 100).toFixed(2)}% NE)`);
  switch (e.type) {
    case 'campaign.started':
      return `campaign started (${e.strategy}): ${e.objective}`;
    case 'campaign.phase':
      return `phase ${e.phase}${e.note ? ` — ${e.note}` : ''}`;
    case 'campaign.finished':
      return `campaign finished: ${e.reviewState}${e.stopReason ? ` (${e.stopReason})` : ''}`;
    case 'experiment.started':
      return `${e.experimentId} started: ${e.family}${e.title ? ` — ${e.title}` : ''}`;
    case 'experiment.progress': {
      const p = e.progress;
      return `${e.experimentId} epoch ${p.epoch} step ${p.step}: logloss ${p.runningLogloss.toFixed(4)}${p.validationNe === undefined ? '' : `, validation NE ${p.validationNe.toFixed(4)}`}`;
    }
    case 'experiment.finished':
      return `${e.experimentId} finished: NE ${e.metrics.ne.toFixed(4)}${pct(e.relativeNeChange)}, AUC ${e.metrics.auc.toFixed(4)}, calibration ${e.metrics.calibration.toFixed(3)}`;
    case 'experiment.failed':
      return `${e.experimentId} failed (${e.failureClass}): ${e.message}`;
    case 'triage':
      return `${e.experimentId} triage [${e.source}] ${e.failureClass}: ${e.diagnosis} → ${e.fix}`;
    case 'guardrail':
      return `${e.experimentId} breaks ${e.constraint}: ${e.detail}`;
    case 'recommendation':
      return `recommend ${e.experimentId ?? 'nothing'}: ${e.rationale}`;
    case 'decision':
      return `${e.kind} by ${e.by} via ${e.via}${e.accepted ? '' : ' (refused)'}${e.note ? `: ${e.note}` : ''}`;
  }
}

/** Events a reviewer reads in the report's timeline; progress ticks and routine starts/finishes are left out. */
export function isNotableEvent(e: CampaignEvent): boolean {
  return e.type !== 'experiment.progress' && e.type !== 'experiment.started' && e.type !== 'experiment.finished';
}
