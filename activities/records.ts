import type { CampaignStatus, DataConfig, ExperimentResult, NewCampaignEvent } from '../contracts';
import { appendEvents, readEvents } from '../store/event-log';
import { dataTraitsOf, InsightsStore } from '../store/insights';
import { writeCampaignReport } from '../store/report';

/**
 * Records a finished experiment in the insights database and the event log (with a `data.bad-rows` event when its
 * data load skipped malformed rows). The writes are keyed by experiment id (the bad-row event by dataset), so a
 * retried activity (or a replayed workflow) never counts an experiment twice.
 */
export async function recordExperiment(result: ExperimentResult, data: DataConfig): Promise<void> {
  // A probe measured an idea on a row sample: the insights database keeps full runs only (what later campaigns and
  // warm starts build on); the probe stays in its campaign's status, events and report.
  if (!result.probe) {
    const insights = await InsightsStore.open();
    try {
      // A run that failed before reading its data has no fingerprint; it is kept (lineage) under "unknown".
      await insights.recordExperiment({
        ...result,
        dataFingerprint: result.dataFingerprint ?? 'unknown',
        dataTraits: dataTraitsOf(data, result.metrics?.ctr),
      });
    } finally {
      await insights.close();
    }
  }
  const campaignId = result.campaignId ?? result.experimentId;
  const event: NewCampaignEvent =
    result.status === 'succeeded' && result.metrics
      ? {
          type: 'experiment.finished',
          eventId: `${result.experimentId}:finished`,
          campaignId,
          experimentId: result.experimentId,
          metrics: result.metrics,
          relativeNeChange: result.relativeNeChange,
          ...(result.validationMetrics ? { validation: pickValidation(result.validationMetrics) } : {}),
          // Probes too: they are in no insights row, and `rankwright gc` keeps what a live campaign's log names.
          ...(result.artifact ? { artifact: result.artifact } : {}),
        }
      : {
          type: 'experiment.failed',
          eventId: `${result.experimentId}:failed`,
          campaignId,
          experimentId: result.experimentId,
          failureClass: result.failure?.failureClass ?? 'infrastructure',
          message: result.failure?.message ?? 'unknown failure',
        };
  // Skipped rows are logged once per campaign and dataset (the id is the fingerprint): the first run to read the data
  // says so, and the many experiments on the same files after it don't repeat it.
  const events: NewCampaignEvent[] = [];
  if (result.badRows && result.badRows.count > 0) {
    const dataKey = result.dataFingerprint ?? result.experimentId;
    events.push({
      type: 'data.bad-rows',
      eventId: `${campaignId}:bad-rows:${dataKey}`,
      campaignId,
      experimentId: result.experimentId,
      dataFingerprint: result.dataFingerprint,
      badRows: result.badRows,
    });
  }
  events.push(event);
  await appendEvents(campaignId, events);
}

/** Appends events whose ids the workflow derived deterministically (idempotent on retry and replay). */
export async function recordEvents(campaignId: string, events: NewCampaignEvent[]): Promise<void> {
  await appendEvents(campaignId, events);
}

/** Writes the campaign's HTML report (plots, leaderboard, decisions) and returns where it is. */
export async function writeReport(status: CampaignStatus): Promise<{ path: string; artifact?: string }> {
  const { events } = await readEvents(status.campaignId);
  return writeCampaignReport(status, events);
}

/** What the log keeps of a run's validation metrics: the numbers its campaign decided on. */
function pickValidation(v: NonNullable<ExperimentResult['validationMetrics']>) {
  return {
    ne: v.ne,
    neStdErr: v.neStdErr,
    auc: v.auc,
    calibration: v.calibration,
    ...(v.relativeNeChange !== undefined ? { relativeNeChange: v.relativeNeChange } : {}),
  };
}
