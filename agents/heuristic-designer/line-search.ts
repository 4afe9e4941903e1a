import type { DesignRequest, ExperimentSummary } from '../../contracts/agents';
import { CROSS_RANK_MAX, type ModelConfig } from '../../contracts/model';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { neOf } from '../significance';
import { L2_START, describeRun, fmt, modify, type Candidate } from './candidate';

/**
 * Line search: one knob around a config, using sibling runs (same config except that knob) to pick the direction.
 * Validation probes a knob once each way; combination and exploitation refine it around the best run. The step
 * sizes and priors live here, next to the search, because each knob's `up`/`down` only makes sense with its prior.
 */

interface Knob {
  key: 'learningRate' | 'epochs' | 'embeddingDim' | 'hashBits' | 'l2' | 'l1' | 'lrDecay' | 'crossLayers' | 'crossRank';
  technique: string;
  /** Prior expected gain of stepping up / down. */
  priorUp: number;
  priorDown: number;
  up(value: number, config: ModelConfig): number | undefined;
  down(value: number, config: ModelConfig): number | undefined;
  /** Midpoint between two tried values (geometric for scale parameters). */
  between(a: number, b: number): number | undefined;
  integer: boolean;
}

const geometricMean = (a: number, b: number) => (a > 0 && b > 0 ? Math.sqrt(a * b) : (a + b) / 2);
const intMid = (a: number, b: number) => {
  const m = Math.round((a + b) / 2);
  return m !== a && m !== b ? m : undefined;
};

/** Knobs a tuner turns; the learning rate moves by `lrFactor` on a log scale (x3 to explore, x2 to refine). */
export function knobsFor(lrFactor: number): Knob[] {
  return [
    {
      key: 'learningRate',
      technique: 'learning-rate',
      priorUp: 0.45,
      priorDown: 0.3,
      integer: false,
      up: (v) => v * lrFactor,
      down: (v) => v / lrFactor,
      between: geometricMean,
    },
    {
      key: 'epochs',
      technique: 'more-epochs',
      priorUp: 0.3,
      priorDown: 0.08,
      integer: true,
      up: (v) => v + Math.max(1, Math.round(v / 2)),
      down: (v) => (v > 1 ? v - 1 : undefined),
      between: intMid,
    },
    {
      key: 'embeddingDim',
      technique: 'embedding-dim',
      priorUp: 0.3,
      priorDown: 0.12,
      integer: true,
      up: (v) => v * 2,
      down: (v) => (v > 1 ? Math.max(1, Math.round(v / 2)) : undefined),
      between: (a, b) => {
        const m = Math.round(geometricMean(a, b));
        return m !== a && m !== b ? m : undefined;
      },
    },
    {
      key: 'hashBits',
      technique: 'hash-size',
      priorUp: 0.2,
      priorDown: 0.06,
      integer: true,
      up: (v) => v + 2,
      down: (v) => v - 2,
      between: intMid,
    },
    {
      key: 'l2',
      technique: 'regularization-l2',
      priorUp: 0.15,
      priorDown: 0.1,
      integer: false,
      up: (v, c) => (v > 0 ? v * 3 : L2_START[c.family]),
      down: (v, c) => (v > L2_START[c.family] / 3 ? v / 3 : v > 0 ? 0 : undefined),
      between: geometricMean,
    },
    {
      key: 'l1',
      technique: 'regularization-l1',
      priorUp: 0.1,
      priorDown: 0.12,
      integer: false,
      up: (v) => (v > 0 ? v * 3 : 0.5),
      down: (v) => (v > 0.05 ? v / 3 : undefined),
      between: geometricMean,
    },
    {
      key: 'lrDecay',
      technique: 'lr-decay',
      priorUp: 0.05,
      priorDown: 0.15,
      integer: false,
      up: (v) => (v < 1 ? Math.min(1, v / 0.8) : undefined),
      down: (v) => (v > 0.3 ? v * 0.8 : undefined),
      between: (a, b) => (a + b) / 2,
    },
    {
      key: 'crossLayers',
      technique: 'dcn-depth',
      priorUp: 0.15,
      priorDown: 0.08,
      integer: true,
      up: (v) => v + 1,
      down: (v) => (v > 0 ? v - 1 : undefined),
      between: intMid,
    },
    {
      // Halving or doubling a low-rank DCN's cross-layer rank (W ≈ V·U). A full-rank config has no number to step
      // from (valueOf is undefined), so this knob tunes low-rank configs only.
      key: 'crossRank',
      technique: 'dcn-rank',
      priorUp: 0.08,
      priorDown: 0.06,
      integer: true,
      up: (v) => (v < CROSS_RANK_MAX ? Math.min(CROSS_RANK_MAX, v * 2) : undefined),
      down: (v) => (v >= 8 ? Math.round(v / 2) : undefined),
      between: (a, b) => {
        const m = Math.round(geometricMean(a, b)); // a scale: 16 and 64 meet at 32
        return m !== a && m !== b ? m : undefined;
      },
    },
  ];
}

function valueOf(config: ModelConfig, key: Knob['key']): number | undefined {
  const v = (config as Record<string, unknown>)[key];
  return typeof v === 'number' ? v : undefined;
}

/**
 * `probeOnly` (validation): one step each way and no bisection — validation asks "does this knob matter at all?";
 * refining a value belongs to exploitation, where it is done around the best run instead of the baseline.
 */
export function lineSearch(req: DesignRequest, center: ExperimentSummary, knob: Knob, phaseWeight: number, probeOnly = false): Candidate[] {
  const base = center.config;
  const v0 = valueOf(base, knob.key);
  if (v0 === undefined) return [];
  const space = req.searchSpace;
  const keyWithout = (c: ModelConfig) => canonicalConfigKey({ ...c, [knob.key]: v0 } as ModelConfig);
  const centerKey = keyWithout(base);
  const centerNe = neOf(center, req.baseline.ne) ?? Infinity;
  // Siblings: runs identical to the center except for this knob. A failed sibling counts as worse than the center.
  const siblings = [req.baseline, ...req.history]
    .filter(
      (r) =>
        r.config.family === base.family &&
        valueOf(r.config, knob.key) !== undefined &&
        valueOf(r.config, knob.key) !== v0 &&
        keyWithout(r.config) === centerKey,
    )
    .map((r) => ({
      value: valueOf(r.config, knob.key)!,
      ne: r.status === 'succeeded' ? (neOf(r, req.baseline.ne) ?? Infinity) : Infinity,
      id: r.experimentId,
    }));
  const out: Candidate[] = [];
  for (const direction of ['up', 'down'] as const) {
    const beyond = siblings
      .filter((s) => (direction === 'up' ? s.value > v0 : s.value < v0))
      .sort((a, b) => Math.abs(a.value - v0) - Math.abs(b.value - v0))[0];
    let value: number | undefined;
    let why: string;
    if (beyond && probeOnly) continue;
    if (!beyond) {
      value = direction === 'up' ? knob.up(v0, base) : knob.down(v0, base);
      why = `no run has tried ${knob.key} ${direction === 'up' ? 'above' : 'below'} ${fmt(v0)} on this config, so step ${direction}`;
    } else if (beyond.ne > centerNe) {
      value = knob.between(v0, beyond.value);
      why = `${beyond.id} at ${knob.key} ${fmt(beyond.value)} was worse than ${fmt(v0)}, so bisect between them`;
    } else {
      // The sibling beyond is at least as good: the optimum lies further out (it happens when the center is not the best run).
      value = direction === 'up' ? knob.up(beyond.value, base) : knob.down(beyond.value, base);
      why = `${beyond.id} at ${knob.key} ${fmt(beyond.value)} did as well or better, so continue ${direction}`;
    }
    if (value === undefined || !Number.isFinite(value)) continue;
    // Integers stay integers; scale knobs are rounded to 4 significant digits so configs read like a human wrote them.
    value = knob.integer ? Math.round(value) : Number(value.toPrecision(4));
    const config = modify(base, { [knob.key]: value }, space);
    const applied = valueOf(config, knob.key);
    if (applied === undefined || applied === v0) continue; // clamped back onto the center: the range edge is reached
    out.push({
      config,
      technique: knob.technique,
      title: `${knob.key} ${fmt(v0)} → ${fmt(applied)} on ${center.experimentId}`,
      rationale: `Tune the best run ${describeRun(center)}: ${why}.`,
      parents: [center.experimentId],
      prior: (direction === 'up' ? knob.priorUp : knob.priorDown) * phaseWeight,
    });
  }
  return out;
}
