/**
 * A performance goal next to what was measured and, where there is one, the peer measured in the same run. Every
 * sub-bench of `npm run bench` reports its goals in this shape (in its results JSON under `goals`), so the runner can
 * print them all in one table, misses included, with the reason computed from the numbers.
 */
export interface BenchGoal {
  /** What is measured, e.g. "DCN training on full-width data". */
  name: string;
  /** The goal in words, e.g. "≥ 20,000 examples/s per core". */
  target: string;
  /** The measured value, in `unit`. */
  measured: number;
  unit: string;
  /** The peer measured in the same run, if the goal is relative to one. */
  peer?: { name: string; value: number; unit: string };
  met: boolean;
  /** Why it was missed (or what limits it), computed from the measurements; required when `met` is false. */
  why?: string;
}

/** `goal(…)` with `met` decided by comparing `measured` with `threshold` in the goal's direction. */
export function goal(g: Omit<BenchGoal, 'met'> & { threshold: number; direction: 'atLeast' | 'atMost' }): BenchGoal {
  const { threshold, direction, ...rest } = g;
  const met = direction === 'atLeast' ? g.measured >= threshold : g.measured <= threshold;
  return { ...rest, met, why: met ? undefined : g.why };
}

function formatValue(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits })} ${unit}`.trim();
}

/** A markdown table of goals: goal, target, measured, peer, met or MISS (with why). */
export function goalTable(goals: BenchGoal[]): string {
  const rows = goals.map(
    (g) =>
      `| ${g.name} | ${g.target} | ${formatValue(g.measured, g.unit)} | ${g.peer ? `${g.peer.name}: ${formatValue(g.peer.value, g.peer.unit)}` : '—'} | ${g.met ? 'met' : `**MISS**${g.why ? `: ${g.why}` : ''}`} |`,
  );
  return ['| goal | target | measured | peer (same run) | result |', '|---|---|---:|---|---|', ...rows].join('\n');
}
