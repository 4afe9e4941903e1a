import { strict as assert } from 'node:assert';
import type { temporal } from '@temporalio/proto';
import { campaignTimeline, gapAnatomy, meanGapParts, quantile } from '../../bench/load/orchestration';

type Event = temporal.api.history.v1.IHistoryEvent;

/** A tiny history builder: times in seconds from 0, event ids in order. */
function history(): { events: Event[]; at(seconds: number, attrs: Partial<Event>): number } {
  const events: Event[] = [];
  return {
    events,
    at(seconds, attrs) {
      const eventId = events.length + 1;
      events.push({
        eventId: eventId as never,
        eventTime: { seconds: Math.floor(seconds) as never, nanos: Math.round((seconds % 1) * 1e9) },
        ...attrs,
      });
      return eventId;
    },
  };
}

function activity(h: ReturnType<typeof history>, name: string, scheduled: number, started: number, closed: number): void {
  const id = h.at(scheduled, { activityTaskScheduledEventAttributes: { activityType: { name } } });
  h.at(started, { activityTaskStartedEventAttributes: { scheduledEventId: id as never } });
  h.at(closed, { activityTaskCompletedEventAttributes: { scheduledEventId: id as never } });
}

describe('load bench: where a campaign’s wall time went, from its histories', () => {
  it('splits wall time into running, queued and nothing scheduled, and measures the gaps between trainings', () => {
    const campaign = history();
    campaign.at(0, { workflowExecutionStartedEventAttributes: {} });
    activity(campaign, 'describeData', 1, 1, 3); // 1 s with nothing scheduled before it
    activity(campaign, 'designExperiments', 9.5, 9.5, 10);
    const first = history();
    activity(first, 'trainModel', 4, 5, 9); // 1 s queued, 4 s running
    const second = history();
    activity(second, 'trainModel', 11, 11, 15); // gap 9 → 11: 0.5 s design activity, 1.5 s nothing scheduled
    const t = campaignTimeline(campaign.events, [first.events, second.events]);
    assert.equal(t.wallMs, 15_000);
    assert.equal(t.runningMs, 2_000 + 4_000 + 500 + 4_000);
    assert.equal(t.queuedMs, 1_000);
    assert.equal(t.orchestrationMs, 15_000 - 11_500);
    assert.deepEqual(t.experimentGapsMs, [2_000]);
    assert.deepEqual(t.experimentGapsIdleMs, [1_500]);
    assert.equal(t.trainings, 2);
  });

  it('counts overlapping activities once and ignores activities that never closed', () => {
    const campaign = history();
    campaign.at(0, { workflowExecutionStartedEventAttributes: {} });
    const a = history();
    activity(a, 'trainModel', 0, 0, 10);
    const b = history();
    activity(b, 'trainModel', 2, 2, 6); // inside a: no gap, no extra running time
    b.at(7, { activityTaskScheduledEventAttributes: { activityType: { name: 'trainModel' } } }); // still running when read
    const t = campaignTimeline(campaign.events, [a.events, b.events]);
    assert.equal(t.wallMs, 10_000);
    assert.equal(t.runningMs, 10_000);
    assert.equal(t.orchestrationMs, 0);
    assert.deepEqual(t.experimentGapsMs, []);
  });

  it('says what each gap between trainings held: workflow tasks, activities, local activities, child starts', () => {
    const campaign = history();
    campaign.at(0, { workflowExecutionStartedEventAttributes: {} });
    const first = history();
    activity(first, 'trainModel', 1, 1, 5);
    // The first experiment's last workflow task (5 → 5.2) records its result as a local activity.
    const wftA = first.at(5, { workflowTaskScheduledEventAttributes: {} });
    first.at(5.2, { workflowTaskCompletedEventAttributes: { scheduledEventId: wftA as never } });
    const marker = { activity_type: 'recordExperiment' };
    first.at(5.2, {
      markerRecordedEventAttributes: {
        markerName: 'core_local_activity',
        details: { data: { payloads: [{ data: Buffer.from(JSON.stringify(marker)) }] } },
      },
    });
    // The campaign designs (5.4 → 5.6, inside a workflow task 5.3 → 5.35) and starts the next child (5.7 → 5.8).
    const wftC = campaign.at(5.3, { workflowTaskScheduledEventAttributes: {} });
    campaign.at(5.35, { workflowTaskCompletedEventAttributes: { scheduledEventId: wftC as never } });
    activity(campaign, 'designExperiments', 5.4, 5.4, 5.6);
    const initiated = campaign.at(5.7, { startChildWorkflowExecutionInitiatedEventAttributes: {} });
    campaign.at(5.8, { childWorkflowExecutionStartedEventAttributes: { initiatedEventId: initiated as never } });
    const second = history();
    activity(second, 'trainModel', 6, 6, 9);
    // A workflow task after the second training is in no gap.
    const late = second.at(9, { workflowTaskScheduledEventAttributes: {} });
    second.at(9.1, { workflowTaskCompletedEventAttributes: { scheduledEventId: late as never } });

    const [gap, ...none] = gapAnatomy(campaign.events, [first.events, second.events]);
    assert.deepEqual(none, []);
    assert.equal(gap.ms, 1_000);
    assert.equal(gap.workflowTasks, 2);
    assert.equal(Math.round(gap.workflowTaskMs), 250);
    assert.deepEqual(gap.activities, { designExperiments: { count: 1, ms: 200 } });
    assert.deepEqual(gap.localActivities, { recordExperiment: 1 });
    assert.equal(gap.childStarts, 1);
    assert.equal(Math.round(gap.childStartMs), 100);
    const mean = meanGapParts([gap, { ...gap, ms: 3_000, activities: {}, localActivities: {}, childStarts: 0, childStartMs: 0 }]);
    assert.equal(mean.ms, 2_000);
    assert.deepEqual(mean.activities, { designExperiments: { count: 0.5, ms: 100 } });
    assert.deepEqual(mean.localActivities, { recordExperiment: 0.5 });
  });

  it('takes quantiles by nearest rank', () => {
    assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
    assert.equal(quantile([5, 1, 3, 2, 4], 0.95), 5);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });
});
