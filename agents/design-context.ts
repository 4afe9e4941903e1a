import type { DesignRequest, ExperimentSummary, FieldPairSignal, Insight } from '../contracts/agents';
import { CATEGORICAL_FIELDS, fieldOfName } from '../contracts/data';
import type { ModelConfig } from '../contracts/model';
import { canonicalConfigKey, canonicalCrosses } from '../contracts/canonical-config';
import { isSignificantWin, neOf } from './significance';

/**
 * Facts a designer derives from a DesignRequest: what ran, what won, where the residual interaction signal is, what
 * past campaigns learned. Pure functions, so the heuristic designer and the technique preconditions agree.
 */

export interface InteractionSignal {
  /** Pairs whose residual interaction stands out of the noise, strongest first, fields in canonical order. */
  strongPairs: FieldPairSignal[];
  maxStrength: number;
  /** Median |strength| over all measured pairs: most pairs of a real dataset carry no interaction, so it is noise. */
  noiseFloor: number;
  /** At least one pair interacts: crosses (or a family that learns interactions) should help. */
  matters: boolean;
  /** Many pairs interact: a family that learns every pair (FM/DCN) is cheaper than enumerating crosses. */
  many: boolean;
}

/**
 * A pair must be this many times the median |strength| to count as signal. The engine's score is ~0 in expectation
 * for a pair without interaction (it can be negative), so the median |strength| over many pairs estimates the noise
 * scale; 3x it is ~2 sigma: a few noise pairs may pass, which costs one cheap LR experiment each, while missing a real cross costs the campaign its gain.
 */
const SIGNAL_OVER_NOISE = 3;
/** ...and at least this share of the strongest pair's strength, so a long tail of weak pairs is not proposed. */
const MIN_SHARE_OF_STRONGEST = 0.2;
/** With this many interacting pairs, learning all interactions (FM/DCN) beats hand-picking crosses. */
const MANY_PAIRS = 4;

function median(values: number[]): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const isSlot = (name: string): boolean => fieldOfName(name) !== undefined;
/** Slot order: dense fields (I1, I2, …) before categorical ones (C1, C2, …), each by number (C9 before C10). */
function bySlot(a: string, b: string): number {
  const fa = fieldOfName(a);
  const fb = fieldOfName(b);
  if (!fa || !fb) return a < b ? -1 : a > b ? 1 : 0;
  return fa.kind !== fb.kind ? (fa.kind === 'dense' ? -1 : 1) : fa.index - fb.index;
}

export function analyzeInteractions(signal: readonly FieldPairSignal[], alreadyCrossed: readonly (readonly string[])[] = []): InteractionSignal {
  // A 3-field cross does not cover its pairs: only pair crosses count as already crossed.
  const crossed = new Set(canonicalCrosses(alreadyCrossed).map((cross) => cross.join('x')));
  const valid = signal
    .filter((p) => Number.isFinite(p.strength) && p.fields[0] !== p.fields[1] && isSlot(p.fields[0]) && isSlot(p.fields[1]))
    .map((p) => ({ fields: [...p.fields].sort() as [string, string], strength: p.strength }));
  const strengths = valid.map((p) => p.strength);
  const maxStrength = strengths.length ? Math.max(...strengths) : 0;
  // With only a handful of pairs measured the median is not a noise estimate; then any positive strength counts.
  const noiseFloor = valid.length >= 6 ? median(strengths.map(Math.abs)) : 0;
  const threshold = Math.max(noiseFloor * SIGNAL_OVER_NOISE, maxStrength * MIN_SHARE_OF_STRONGEST, Number.MIN_VALUE);
  const strongPairs = valid
    .filter((p) => p.strength >= threshold && p.strength > 0 && !crossed.has(`${p.fields[0]}x${p.fields[1]}`))
    .sort((a, b) => b.strength - a.strength || `${a.fields}`.localeCompare(`${b.fields}`));
  return { strongPairs, maxStrength, noiseFloor, matters: strongPairs.length > 0, many: strongPairs.length >= MANY_PAIRS };
}

/** Every succeeded run of the campaign, baseline included. */
export function succeededRuns(req: DesignRequest): ExperimentSummary[] {
  const runs = [req.baseline, ...req.history.filter((h) => h.experimentId !== req.baseline.experimentId)];
  return runs.filter((r) => r.status === 'succeeded' && neOf(r, req.baseline.ne) !== undefined);
}

/** The current best model (lowest test NE; ties to the earlier run, which is the cheaper-to-trust one). */
export function bestRun(req: DesignRequest): ExperimentSummary {
  let best = req.baseline;
  let bestNe = neOf(req.baseline) ?? Infinity;
  for (const run of succeededRuns(req)) {
    const ne = neOf(run, req.baseline.ne)!;
    if (ne < bestNe) {
      best = run;
      bestNe = ne;
    }
  }
  return best;
}

/** Runs that beat the baseline by more than ~2 standard errors, best first. */
export function significantWinners(req: DesignRequest): ExperimentSummary[] {
  return succeededRuns(req)
    .filter((r) => r.experimentId !== req.baseline.experimentId && isSignificantWin(r, req.baseline))
    .sort((a, b) => neOf(a, req.baseline.ne)! - neOf(b, req.baseline.ne)! || a.experimentId.localeCompare(b.experimentId));
}

/**
 * Canonical keys of every config this campaign ran (ideas that lost their probe included), plus those past campaigns
 * ran on the same data.
 */
export function knownConfigKeys(req: DesignRequest): Set<string> {
  const keys = new Set<string>([canonicalConfigKey(req.baseline.config)]);
  for (const run of [...req.history, ...(req.screened ?? [])]) keys.add(canonicalConfigKey(run.config));
  for (const insight of req.insights) if (insight.dataFingerprint === req.dataFingerprint) keys.add(canonicalConfigKey(insight.config));
  return keys;
}

/**
 * An earlier full run on this data that beat its campaign's baseline: significantly ('won', beyond 2 standard errors)
 * or on the point estimate alone ('neutral' with a lower NE). On rare-click data a campaign's best model is often
 * within noise of its baseline, and it is still the best measured start there is: re-running it costs one run, and a
 * campaign that stacks onto it learns whether the gain holds.
 */
export function improvedOnThisData(i: Insight, dataFingerprint: string): boolean {
  if (i.dataFingerprint !== dataFingerprint || i.relativeNeChange === undefined) return false;
  return i.outcome === 'won' || (i.outcome === 'neutral' && i.relativeNeChange < 0);
}

/** What technique a past experiment applied, when the insights database did not record it. */
export function inferTechnique(config: ModelConfig): string | undefined {
  if (config.family === 'fm') return 'family-fm';
  if (config.family === 'dcn') return 'family-dcn';
  if (config.crosses.length) return 'feature-cross';
  return undefined;
}

const OUTCOME_WEIGHT: Record<Insight['outcome'], number> = { won: 1, neutral: -0.25, lost: -0.6, failed: -0.8 };

/**
 * How past experiments with a technique went, weighted by how similar their data is to ours: > 0 it tended to win,
 * < 0 it tended to lose. Bounded to [-2, 2] so a long history cannot drown the current campaign's own evidence.
 */
export function techniqueTrackRecord(insights: readonly Insight[], technique: string): number {
  let score = 0;
  for (const insight of insights) {
    if ((insight.technique ?? inferTechnique(insight.config)) !== technique) continue;
    const similarity = Math.max(0, Math.min(1, insight.similarity));
    score += similarity * OUTCOME_WEIGHT[insight.outcome];
  }
  return Math.max(-2, Math.min(2, score));
}

/** Multiplier on a technique's prior from its track record: ×e^0.7 per similar win, ×e^−0.42 per similar loss (capped at e^±1.4). */
export function trackRecordMultiplier(insights: readonly Insight[], technique: string): number {
  return Math.exp(0.7 * techniqueTrackRecord(insights, technique));
}

export function hasDivergedRuns(req: DesignRequest): boolean {
  return req.history.some((r) => r.failureClass === 'diverged');
}

/**
 * Fields the data actually carries: a declared schema's categorical slots, else those the interaction signal was
 * measured on, else all categorical fields.
 */
export function activeCategoricalFields(req: DesignRequest): string[] {
  const declared = (req.fields ?? []).filter((f) => f.slot.startsWith('C')).map((f) => f.slot);
  if (declared.length >= 2) return declared.sort(bySlot);
  const seen = new Set<string>();
  for (const p of req.fieldPairSignal) for (const f of p.fields) if (isSlot(f)) seen.add(f);
  for (const run of [req.baseline, ...req.history]) for (const pair of run.config.crosses) for (const f of pair) seen.add(f);
  const fields = seen.size >= 2 ? [...seen] : [...CATEGORICAL_FIELDS];
  return fields.sort(bySlot);
}
