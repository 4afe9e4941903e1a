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

/** What one gap between trainings held, over every history of the campaign (its own and its experiments'). */
export interface GapParts {
  ms: number;
  /** Workflow tasks that ran in the gap (a round trip between the server and a worker each). */
  workflowTasks: number;
  /** Their summed time, scheduled → completed (clipped to the gap). */
  workflowTaskMs: number;
  /** Activities (task-queue round trips) by type: how many were scheduled in the gap, and their time in it. */
  activities: Record<string, { count: number; ms: number }>;
  /** Local activities by type (they run inside a workflow task: no round trip of their own). */
  localActivities: Record<string, number>;
  /** Child workflows started in the gap, and the time from asking to start one to its start. */
  childStarts: number;
  childStartMs: number;
}

/** The name of the marker a local activity's result is recorded under (Temporal's core SDK). */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/** The activity type a local activity's marker names (its `data` detail is JSON); "local activity" if unreadable. */
function localActivityType(e: HistoryEvent): string {
  const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
  try {
    return (JSON.parse(Buffer.from(data ?? '').toString('utf8')) as { activity_type?: string }).activity_type ?? 'local activity';
  } catch {
    return 'local activity';
  }
}

/**
 * The anatomy of each gap from one training's end to the next training's scheduling (the gaps campaignTimeline
 * measures): which workflow tasks, activities, local activities and child starts sat in it. This is what the
 * orchestration work of issue 26 cut; the load bench prints it so a later change can see what a gap still holds.
 */
export function gapAnatomy(campaign: HistoryEvent[], experiments: HistoryEvent[][], trainingActivity = 'trainModel'): GapParts[] {
  const histories = [campaign, ...experiments];
  const trainings = histories
    .flatMap(activitySpans)
    .filter((s) => s.type === trainingActivity && s.closed !== undefined)
    .sort((a, b) => a.scheduled - b.scheduled);
  const overlap = (a: number, b: number, from: number, to: number) => Math.max(0, Math.min(b, to) - Math.max(a, from));
  const parts: GapParts[] = [];
  for (const t of trainings) {
    const next = trainings.find((n) => n.scheduled >= t.closed!);
    if (!next) continue;
    const [from, to] = [t.closed!, next.scheduled];
    const gap: GapParts = {
      ms: to - from,
      workflowTasks: 0,
      workflowTaskMs: 0,
      activities: {},
      localActivities: {},
      childStarts: 0,
      childStartMs: 0,
    };
    for (const events of histories) {
      const scheduledAt = new Map<string, number>();
      for (const e of events) {
        const at = timeOf(e);
        if (e.workflowTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes) scheduledAt.set(String(e.eventId), at);
        const wft = e.workflowTaskCompletedEventAttributes;
        const begun = wft ? scheduledAt.get(String(wft.scheduledEventId)) : undefined;
        if (begun !== undefined && overlap(begun, at, from, to) > 0) {
          gap.workflowTasks++;
          gap.workflowTaskMs += overlap(begun, at, from, to);
        }
        const child = e.childWorkflowExecutionStartedEventAttributes;
        const asked = child ? scheduledAt.get(String(child.initiatedEventId)) : undefined;
        if (asked !== undefined && asked >= from && asked < to) {
          gap.childStarts++;
          gap.childStartMs += at - asked;
        }
        if (e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER && at >= from && at <= to) {
          const type = localActivityType(e);
          gap.localActivities[type] = (gap.localActivities[type] ?? 0) + 1;
        }
      }
      for (const s of activitySpans(events)) {
        if (s.type === trainingActivity || s.closed === undefined || s.scheduled < from || s.scheduled >= to) continue;
        const a = (gap.activities[s.type] ??= { count: 0, ms: 0 });
        a.count++;
        a.ms += overlap(s.scheduled, s.closed, from, to);
      }
    }
    parts.push(gap);
  }
  return parts;
}

/** The mean of each part over gaps: what a typical gap held (counts and ms per gap). */
export function meanGapParts(gaps: GapParts[]): GapParts {
  const n = Math.max(1, gaps.length);
  const mean = (f: (g: GapParts) => number) => Number((gaps.reduce((a, g) => a + f(g), 0) / n).toFixed(2));
  const activityTypes = [...new Set(gaps.flatMap((g) => Object.keys(g.activities)))].sort();
  const localTypes = [...new Set(gaps.flatMap((g) => Object.keys(g.localActivities)))].sort();
  return {
    ms: mean((g) => g.ms),
    workflowTasks: mean((g) => g.workflowTasks),
    workflowTaskMs: mean((g) => g.workflowTaskMs),
    activities: Object.fromEntries(
      activityTypes.map((type) => [type, { count: mean((g) => g.activities[type]?.count ?? 0), ms: mean((g) => g.activities[type]?.ms ?? 0) }]),
    ),
    localActivities: Object.fromEntries(localTypes.map((type) => [type, mean((g) => g.localActivities[type] ?? 0)])),
    childStarts: mean((g) => g.childStarts),
    childStartMs: mean((g) => g.childStartMs),
  };
}

/** The p-quantile (0..1) of values, nearest rank; NaN when there are none. */
export function quantile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}
