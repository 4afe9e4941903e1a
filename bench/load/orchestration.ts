import type { temporal } from '@temporalio/proto';

/**
 * Where a campaign's wall time went, read from its Temporal histories (the campaign's and its experiments'): the
 * time some activity of it was running on a worker, the time one was waiting in a task queue for a free slot
 * (contention: fifty campaigns share one machine), and the rest, when nothing of it was scheduled at all: Temporal's
 * own share (workflow tasks deciding the next step, child workflows starting, the round trips between). Also the gap
 * from one experiment's training end to the next training's scheduling in the same campaign.
 */
export interface CampaignTimeline {
  wallMs: number;
  /** Union of the time any activity of the campaign was running on a worker. */
  runningMs: number;
  /** Time an activity was waiting for a worker slot while none was running. */
  queuedMs: number;
  /** wall − (running ∪ queued): nothing of the campaign scheduled or running. */
  orchestrationMs: number;
  /** Per finished training: ms from its end to the next training the campaign scheduled after it. */
  experimentGapsMs: number[];
  /** The part of each of those gaps when nothing of the campaign was scheduled (the rest is its agents' activities). */
  experimentGapsIdleMs: number[];
  trainings: number;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

interface ActivitySpan {
  type: string;
  scheduled: number;
  started?: number;
  closed?: number;
}

function timeOf(e: HistoryEvent): number {
  const t = e.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
}

/** Every activity of one workflow's history, with its scheduled, started and closed times. */
export function activitySpans(events: HistoryEvent[]): ActivitySpan[] {
  const byScheduledId = new Map<string, ActivitySpan>();
  for (const e of events) {
    const at = timeOf(e);
    if (e.activityTaskScheduledEventAttributes) {
      byScheduledId.set(String(e.eventId), { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', scheduled: at });
      continue;
    }
    const ref =
      e.activityTaskStartedEventAttributes ??
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes ??
      e.activityTaskCanceledEventAttributes;
    const span = ref ? byScheduledId.get(String(ref.scheduledEventId)) : undefined;
    if (!span) continue;
    if (e.activityTaskStartedEventAttributes) span.started = at;
    else span.closed = at;
  }
  return [...byScheduledId.values()];
}

/** Length of the union of intervals. */
function unionMs(intervals: [number, number][]): number {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let [curA, curB] = [-Infinity, -Infinity];
  for (const [a, b] of sorted) {
    if (a > curB) {
      if (curB > curA) total += curB - curA;
      [curA, curB] = [a, b];
    } else curB = Math.max(curB, b);
  }
  if (curB > curA) total += curB - curA;
  return total;
}

/**
 * A campaign's timeline from its own history and its experiments' histories. The campaign's wall time runs from its
 * start to its last activity's end (after that it only waits for a human's sign-off, which is not machine time).
 */
export function campaignTimeline(campaign: HistoryEvent[], experiments: HistoryEvent[][], trainingActivity = 'trainModel'): CampaignTimeline {
  const spans = [campaign, ...experiments].flatMap(activitySpans).filter((s) => s.closed !== undefined);
  const start = campaign.length ? timeOf(campaign[0]) : 0;
  const end = Math.max(start, ...spans.map((s) => s.closed!));
  const wallMs = end - start;
  const running = spans.filter((s) => s.started !== undefined).map((s): [number, number] => [s.started!, s.closed!]);
  const scheduled = spans.map((s): [number, number] => [s.scheduled, s.closed!]);
  const runningMs = unionMs(running);
  const busyMs = unionMs(scheduled);
  const trainings = spans.filter((s) => s.type === trainingActivity).sort((a, b) => a.scheduled - b.scheduled);
  const experimentGapsMs: number[] = [];
  const experimentGapsIdleMs: number[] = [];
  for (const t of trainings) {
    const next = trainings.find((n) => n.scheduled >= t.closed!);
    if (!next) continue;
    const [from, to] = [t.closed!, next.scheduled];
    experimentGapsMs.push(to - from);
    const clipped = scheduled.map(([a, b]): [number, number] => [Math.max(a, from), Math.min(b, to)]);
    experimentGapsIdleMs.push(to - from - unionMs(clipped));
  }
  return {
    wallMs,
    runningMs,
    queuedMs: busyMs - runningMs,
    orchestrationMs: Math.max(0, wallMs - busyMs),
    experimentGapsMs,
    experimentGapsIdleMs,
    trainings: trainings.length,
  };
}

/** The p-quantile (0..1) of values, nearest rank; NaN when there are none. */
export function quantile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}
