import type { BadRows, CampaignEvent } from '../contracts';

/**
 * The skipped malformed rows in one line, e.g. `3 bad rows skipped (train.tsv:17: expected 40 tab-separated columns …,
 * got 12; train.tsv:9: …; test.tsv:4: …)`; with the count per file when more than one file had some.
 */
export function describeBadRows(b: BadRows): string {
  if (b.count === 0) return 'no bad rows';
  const files = b.files.filter((f) => f.badRows > 0);
  const perFile = files.length > 1 ? `: ${files.map((f) => `${f.badRows} in ${f.file}`).join(', ')}` : '';
  const examples = b.examples.map((e) => `${e.file}:${e.line}: ${e.problem}`);
  if (b.count > b.examples.length) examples.push(`${b.count - b.examples.length} more`);
  return `${b.count} bad row${b.count === 1 ? '' : 's'} skipped${perFile} (${examples.join('; ')})`;
}

/**
 * The budget used in one line, e.g. `7 experiments + 9 probes = 8.8 full-run equivalents of compute, 312.4 s training`
 * (campaigns that count compute), or `7 experiments, 312.4 s training` (older ones).
 */
export function describeBudgetUsed(b: { experiments: number; trainSeconds: number; compute?: number; probes?: number }): string {
  const runs = `${b.experiments} experiment${b.experiments === 1 ? '' : 's'}${b.probes ? ` + ${b.probes} probe${b.probes === 1 ? '' : 's'}` : ''}`;
  const compute = b.compute === undefined ? '' : ` = ${Number(b.compute.toFixed(2))} full-run equivalents of compute (retries included)`;
  return `${runs}${compute}, ${b.trainSeconds.toFixed(1)} s training`;
}

/** One human line per campaign event, in the team's words (used by `rankwright events` and the report timeline). */
export function summarizeEvent(e: CampaignEvent): string {
  const pct = (r: number | undefined) => (r === undefined ? '' : ` (${r > 0 ? '+' : ''}${(r * 100).toFixed(2)}% NE)`);
  switch (e.type) {
    case 'campaign.started':
      return `campaign started (${e.strategy}): ${e.objective}`;
    case 'campaign.phase':
      return `phase ${e.phase}${e.note ? ` — ${e.note}` : ''}`;
    case 'campaign.data-checks': {
      const detectable = e.detectable.map((d) => `${d.split} detects ≥ ${(100 * d.relativeNeChange).toFixed(2)}% NE`).join(', ');
      return `data checks${detectable ? ` (${detectable})` : ''}: ${e.findings.length ? e.findings.map((f) => `[${f.severity}] ${f.message}`).join(' ') : 'no findings'}`;
    }
    case 'design':
      return `${e.phase} wave: ${e.proposals} proposal${e.proposals === 1 ? '' : 's'} by the ${e.source} designer${e.fallbackReason ? ` (LLM answer not used: ${e.fallbackReason})` : ''}${e.notes?.length ? `; ${e.notes.join('; ')}` : ''}`;
    case 'campaign.research':
      return `research: ${e.hypotheses.length} hypothes${e.hypotheses.length === 1 ? 'is' : 'es'} ranked by expected gain per cost${e.hypotheses.length ? ` (top: ${e.hypotheses[0].title}, NE −${(100 * e.hypotheses[0].expectedGain).toFixed(2)}% expected at ${e.hypotheses[0].cost}x cost)` : ''}; baseline ${e.fit}`;
    case 'campaign.probes': {
      const ref = e.referenceValidationNe === undefined ? 'the reference probe failed' : `reference probe ${e.referenceValidationNe.toFixed(4)}`;
      const promoted = e.probes.filter((p) => p.promotedTo).map((p) => `${p.title} → ${p.promotedTo}`);
      return `probes: ${e.probes.length} idea${e.probes.length === 1 ? '' : 's'} screened on ${e.rows} rows (validation NE, ${ref}); ${e.promoted} promoted to full runs${promoted.length ? `: ${promoted.join('; ')}` : ''}`;
    }
    case 'campaign.promotion':
      return `onApprove hook ${e.hook} ${e.state === 'running' ? `running for ${e.experimentId}` : `${e.state} for ${e.experimentId}`}${e.attempts && e.attempts > 1 ? ` after ${e.attempts} attempts` : ''}${e.detail ? `: ${e.detail}` : ''}`;
    case 'campaign.finished':
      return `campaign finished: ${e.reviewState}${e.stopReason ? ` (${e.stopReason})` : ''}`;
    case 'experiment.started':
      return `${e.experimentId} started: ${e.family}${e.title ? ` — ${e.title}` : ''}`;
    case 'experiment.progress': {
      const p = e.progress;
      return `${e.experimentId} epoch ${p.epoch} step ${p.step}: logloss ${p.runningLogloss.toFixed(4)}${p.validationNe === undefined ? '' : `, validation NE ${p.validationNe.toFixed(4)}`}`;
    }
    case 'experiment.job':
      return `${e.experimentId} external job ${e.jobId} (${e.trainer}) ${e.state}${e.detail ? `: ${e.detail}` : ''}`;
    case 'experiment.finished':
      return e.validation
        ? `${e.experimentId} finished: validation NE ${e.validation.ne.toFixed(4)} ± ${e.validation.neStdErr.toFixed(4)}${pct(e.validation.relativeNeChange)}, AUC ${e.validation.auc.toFixed(4)}, calibration ${e.validation.calibration.toFixed(3)}; test NE ${e.metrics.ne.toFixed(4)}`
        : `${e.experimentId} finished: NE ${e.metrics.ne.toFixed(4)}${pct(e.relativeNeChange)}, AUC ${e.metrics.auc.toFixed(4)}, calibration ${e.metrics.calibration.toFixed(3)}`;
    case 'data.bad-rows':
      return `${e.experimentId} read the data: ${describeBadRows(e.badRows)}`;
    case 'experiment.failed':
      return `${e.experimentId} failed (${e.failureClass}): ${e.message}`;
    case 'experiment.warning':
      return `${e.experimentId} warning: ${e.message}`;
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
