import { DesignRequest, DesignResponse, type ExperimentSummary, type ProposedExperiment } from '../contracts/agents';
import type { SearchSpace } from '../contracts/campaign';
import type { ModelConfig, ModelFamily } from '../contracts/model';
import { canonicalConfigKey, canonicalCrosses } from '../contracts/canonical-config';
import {
  analyzeInteractions,
  bestRun,
  relativeTrainingCost,
  significantWinners,
  trackRecordMultiplier,
  type InteractionSignal,
  knownConfigKeys,
} from './design-context';
import { designRandomly } from './random-designer';
import { tieBreaker } from './rng';
import { DEFAULT_LEARNING_RATE, clampToSearchSpace, type ModelConfigDraft } from './search-space';
import { compareNe, formatPercent, neOf } from './significance';
import { technique } from './techniques';

/**
 * The deterministic hypothesis designer (what most users run). Each phase generates scored candidates from the
 * evidence in the request — residual interaction signal, significant winners, line searches around the best — and a
 * shared selector picks the `count` best untried ones, preferring cheap experiments and techniques with a good track
 * record on similar data.
 */

interface Candidate {
  config: ModelConfig;
  technique: string;
  title: string;
  rationale: string;
  expectedEffect?: string;
  parents: string[];
  /** Prior expected gain, before the track-record and cost adjustments. */
  prior: number;
}

/** Each further pick of the same technique is discounted, so a batch covers several ideas. */
const SAME_TECHNIQUE_DISCOUNT = 0.75;
/** Score ∝ cost^-0.25: a 20x slower family needs ~2x the expected gain to be picked over LR. */
const COST_EXPONENT = 0.25;

function fmt(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

function crossName([a, b]: readonly [string, string] | readonly string[]): string {
  return `${a}×${b}`;
}

function describeRun(run: ExperimentSummary): string {
  const ne = run.ne !== undefined ? `NE ${run.ne.toFixed(4)}` : 'NE n/a';
  return `${run.experimentId} (${run.config.family}, ${ne})`;
}

function modify(base: ModelConfig, changes: Partial<ModelConfigDraft>, space: SearchSpace): ModelConfig {
  return clampToSearchSpace({ ...(base as ModelConfigDraft), ...changes } as ModelConfigDraft, space);
}

/** Keys whose meaning depends on the family (an FTRL alpha is not an Adam step). */
const FAMILY_SPECIFIC_KEYS = ['learningRate', 'l2', 'l1', 'ftrlBeta', 'embeddingDim', 'crossLayers', 'mlp'] as const;
const SHARED_KEYS = ['hashBits', 'epochs', 'batchSize', 'denseTransform', 'lrDecay', 'gradientClip'] as const;

/** The same features and training schedule in another family, with that family's default step size. */
function switchFamily(base: ModelConfig, family: ModelFamily, space: SearchSpace): ModelConfig {
  const draft: ModelConfigDraft = { family, crosses: base.crosses, learningRate: DEFAULT_LEARNING_RATE[family], seed: base.seed, checkpointEvery: base.checkpointEvery };
  for (const key of SHARED_KEYS) (draft as Record<string, unknown>)[key] = base[key];
  return clampToSearchSpace(draft, space);
}

// ---------------------------------------------------------------------------------------------------------------
// Line search: one knob around a config, using sibling runs (same config except that knob) to pick the direction.

interface Knob {
  key: 'learningRate' | 'epochs' | 'embeddingDim' | 'hashBits' | 'l2' | 'l1' | 'lrDecay' | 'crossLayers';
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
/** Starting L2 strengths per family when none is set (FTRL's l2 is per-coordinate; AdaGrad/Adam want much less). */
const L2_START: Record<ModelFamily, number> = { lr: 1, fm: 1e-4, dcn: 1e-5 };

/** Knobs a tuner turns; the learning rate moves by `lrFactor` on a log scale (x3 to explore, x2 to refine). */
function knobsFor(lrFactor: number): Knob[] {
  return [
    {
      key: 'learningRate', technique: 'learning-rate', priorUp: 0.45, priorDown: 0.3, integer: false,
      up: (v) => v * lrFactor, down: (v) => v / lrFactor, between: geometricMean,
    },
    {
      key: 'epochs', technique: 'more-epochs', priorUp: 0.3, priorDown: 0.08, integer: true,
      up: (v) => v + Math.max(1, Math.round(v / 2)), down: (v) => (v > 1 ? v - 1 : undefined), between: intMid,
    },
    {
      key: 'embeddingDim', technique: 'embedding-dim', priorUp: 0.3, priorDown: 0.12, integer: true,
      up: (v) => v * 2, down: (v) => (v > 1 ? Math.max(1, Math.round(v / 2)) : undefined), between: (a, b) => {
        const m = Math.round(geometricMean(a, b));
        return m !== a && m !== b ? m : undefined;
      },
    },
    {
      key: 'hashBits', technique: 'hash-size', priorUp: 0.2, priorDown: 0.06, integer: true,
      up: (v) => v + 2, down: (v) => v - 2, between: intMid,
    },
    {
      key: 'l2', technique: 'regularization-l2', priorUp: 0.15, priorDown: 0.1, integer: false,
      up: (v, c) => (v > 0 ? v * 3 : L2_START[c.family]), down: (v, c) => (v > L2_START[c.family] / 3 ? v / 3 : v > 0 ? 0 : undefined), between: geometricMean,
    },
    {
      key: 'l1', technique: 'regularization-l1', priorUp: 0.1, priorDown: 0.12, integer: false,
      up: (v) => (v > 0 ? v * 3 : 0.5), down: (v) => (v > 0.05 ? v / 3 : undefined), between: geometricMean,
    },
    {
      key: 'lrDecay', technique: 'lr-decay', priorUp: 0.05, priorDown: 0.15, integer: false,
      up: (v) => (v < 1 ? Math.min(1, v / 0.8) : undefined), down: (v) => (v > 0.3 ? v * 0.8 : undefined), between: (a, b) => (a + b) / 2,
    },
    {
      key: 'crossLayers', technique: 'dcn-depth', priorUp: 0.15, priorDown: 0.08, integer: true,
      up: (v) => v + 1, down: (v) => (v > 0 ? v - 1 : undefined), between: intMid,
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
function lineSearch(req: DesignRequest, center: ExperimentSummary, knob: Knob, phaseWeight: number, probeOnly = false): Candidate[] {
  const base = center.config;
  const v0 = valueOf(base, knob.key);
  if (v0 === undefined) return [];
  const space = req.searchSpace;
  const keyWithout = (c: ModelConfig) => canonicalConfigKey({ ...c, [knob.key]: v0 } as ModelConfig);
  const centerKey = keyWithout(base);
  const centerNe = neOf(center, req.baseline.ne) ?? Infinity;
  // Siblings: runs identical to the center except for this knob. A failed sibling counts as worse than the center.
  const siblings = [req.baseline, ...req.history]
    .filter((r) => r.config.family === base.family && valueOf(r.config, knob.key) !== undefined && valueOf(r.config, knob.key) !== v0 && keyWithout(r.config) === centerKey)
    .map((r) => ({ value: valueOf(r.config, knob.key)!, ne: r.status === 'succeeded' ? (neOf(r, req.baseline.ne) ?? Infinity) : Infinity, id: r.experimentId }));
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

// ---------------------------------------------------------------------------------------------------------------
// Candidate generators per idea.

function crossCandidates(req: DesignRequest, center: ExperimentSummary, signal: InteractionSignal, weight: number, limit: number): Candidate[] {
  const measured = req.fieldPairSignal.length;
  return signal.strongPairs.slice(0, limit).map((pair, rank) => {
    const overNoise = signal.noiseFloor > 0 ? `, ${fmt(pair.strength / signal.noiseFloor)}x the median pair` : '';
    return {
      config: modify(center.config, { crosses: [...center.config.crosses, pair.fields] }, req.searchSpace),
      technique: 'feature-cross',
      title: `Cross ${crossName(pair.fields)} on ${center.config.family}`,
      rationale: `Residual interaction of ${crossName(pair.fields)} is ${fmt(pair.strength)} (#${rank + 1} of ${measured} measured pairs${overNoise}) on ${describeRun(center)}; an explicit cross lets the model learn it.`,
      parents: [center.experimentId],
      prior: weight * (signal.maxStrength > 0 ? pair.strength / signal.maxStrength : 0.5),
    };
  });
}

function familyCandidates(req: DesignRequest, center: ExperimentSummary, signal: InteractionSignal, weight: number): Candidate[] {
  const out: Candidate[] = [];
  const pairs = signal.strongPairs.length;
  const evidence = signal.many
    ? `${pairs} field pairs interact in the residuals; learning all pairs beats hand-picking crosses`
    : signal.matters
      ? `${pairs} field pair${pairs > 1 ? 's' : ''} interact in the residuals; a family that learns interactions may capture more than single crosses`
      : 'no strong pairwise residual signal, so this is a capacity check';
  for (const family of ['fm', 'dcn'] as const) {
    if (!req.searchSpace.families.includes(family) || center.config.family === family) continue;
    if (family === 'fm' && center.config.family === 'dcn') continue; // fm is not richer than dcn
    const prior = family === 'fm' ? (signal.many ? 1.2 : signal.matters ? 0.8 : 0.25) : signal.many ? 1.4 : signal.matters ? 0.75 : 0.3;
    out.push({
      config: switchFamily(center.config, family, req.searchSpace),
      technique: `family-${family}`,
      title: `Switch ${center.config.family} → ${family} (same features)`,
      rationale: `${evidence} (${describeRun(center)}).`,
      parents: [center.experimentId],
      prior: prior * weight,
    });
  }
  return out;
}

function denseTransformCandidates(req: DesignRequest, center: ExperimentSummary, weight: number): Candidate[] {
  const options: Array<[ModelConfig['denseTransform'], number, string]> = [
    ['bucketize', 0.7, 'piecewise-constant buckets let a linear model fit non-linear effects of the integer features'],
    ['log', 0.2, 'log compresses heavy-tailed counts so a few large values do not dominate'],
    ['standardize', 0.12, 'standardized inputs condition the optimizer better'],
  ];
  return options
    .filter(([t]) => t !== center.config.denseTransform)
    .map(([t, prior, why]) => ({
      config: modify(center.config, { denseTransform: t }, req.searchSpace),
      technique: 'dense-transform',
      title: `Dense features ${center.config.denseTransform} → ${t}`,
      rationale: `${why[0].toUpperCase()}${why.slice(1)}.`,
      parents: [center.experimentId],
      prior: prior * weight,
    }));
}

/** Re-run diverged hypotheses with gradient clipping and a third of the step: the idea was never actually tested. */
function clippedRetryCandidates(req: DesignRequest, weight: number): Candidate[] {
  return req.history
    .filter((r) => r.failureClass === 'diverged')
    .map((r) => ({
      config: modify(r.config, { learningRate: r.config.learningRate / 3, gradientClip: Math.min(r.config.gradientClip ?? 5, 5) }, req.searchSpace),
      technique: 'gradient-clipping',
      title: `Retry ${r.experimentId} with gradient clipping at 5 and learningRate / 3`,
      rationale: `${r.experimentId} diverged, so its hypothesis${r.hypothesis ? ` "${r.hypothesis.title.slice(0, 80)}"` : ''} was never measured; clip gradients and lower the step.`,
      parents: [r.experimentId],
      prior: 0.5 * weight,
    }));
}

function calibrationCandidate(req: DesignRequest, center: ExperimentSummary, weight: number): Candidate[] {
  const c = center.calibration;
  if (c === undefined || Math.abs(c - 1) <= 0.05) return [];
  const l2 = center.config.l2 > 0 ? center.config.l2 * 3 : L2_START[center.config.family];
  return [{
    config: modify(center.config, { l2, lrDecay: Math.min(center.config.lrDecay, 0.8) }, req.searchSpace),
    technique: 'calibration',
    title: `Calibrate ${center.experimentId}: l2 ${fmt(center.config.l2)} → ${fmt(l2)}, lrDecay ≤ 0.8`,
    rationale: `Best run predicts ${fmt(c)}x the observed clicks; stronger L2 and a decaying step curb over-confident late updates.`,
    parents: [center.experimentId],
    prior: 0.15 * weight * Math.min(3, Math.abs(c - 1) / 0.05),
  }];
}

// ---------------------------------------------------------------------------------------------------------------
// Phases.

function validationCandidates(req: DesignRequest): { candidates: Candidate[]; note?: string } {
  const center = req.baseline;
  const signal = analyzeInteractions(req.fieldPairSignal, center.config.crosses);
  const knobs = knobsFor(3).filter((k) => ['learningRate', 'hashBits', 'epochs', 'l2'].includes(k.key));
  return {
    candidates: [
      ...crossCandidates(req, center, signal, 1, Math.max(req.count, 4)),
      ...familyCandidates(req, center, signal, 1),
      ...denseTransformCandidates(req, center, 1),
      ...knobs.flatMap((k) => lineSearch(req, center, k, 1, true)),
      ...clippedRetryCandidates(req, 1),
    ],
  };
}

interface ConfigDelta {
  run: ExperimentSummary;
  family: ModelFamily;
  crossesAdded: [string, string][];
  keys: Partial<Record<string, unknown>>;
}

function deltaFromBaseline(baseline: ModelConfig, run: ExperimentSummary): ConfigDelta {
  const base = canonicalCrosses(baseline.crosses).map(crossName);
  const crossesAdded = run.config.crosses.filter((c) => !base.includes(crossName([...c].sort())));
  const keys: Record<string, unknown> = {};
  const all = [...SHARED_KEYS, ...FAMILY_SPECIFIC_KEYS] as string[];
  for (const key of all) {
    const mine = (run.config as Record<string, unknown>)[key];
    const theirs = (baseline as Record<string, unknown>)[key];
    if (mine !== undefined && JSON.stringify(mine) !== JSON.stringify(theirs)) keys[key] = mine;
  }
  return { run, family: run.config.family, crossesAdded, keys };
}

/** Apply another winner's change on top of a target config (crosses united, knobs the target kept at baseline). */
function applyDelta(target: ModelConfig, baseline: ModelConfig, delta: ConfigDelta, space: SearchSpace): ModelConfig {
  const draft: Record<string, unknown> = { ...target, crosses: [...target.crosses, ...delta.crossesAdded] };
  for (const [key, value] of Object.entries(delta.keys)) {
    const familySpecific = (FAMILY_SPECIFIC_KEYS as readonly string[]).includes(key);
    if (familySpecific && !(delta.family === target.family && target.family === baseline.family)) continue;
    const targetChangedIt = JSON.stringify((target as Record<string, unknown>)[key]) !== JSON.stringify((baseline as Record<string, unknown>)[key]);
    if (!targetChangedIt) draft[key] = value;
  }
  return clampToSearchSpace(draft as ModelConfigDraft, space);
}

function combinationCandidates(req: DesignRequest): { candidates: Candidate[]; note?: string } {
  const winners = significantWinners(req);
  const best = bestRun(req);
  const baseline = req.baseline.config;
  const space = req.searchSpace;
  if (!winners.length) {
    // Nothing to stack. Keep exploring around the best run with the ideas validation did not get to.
    const signal = analyzeInteractions(req.fieldPairSignal, best.config.crosses);
    return {
      note: 'no experiment beat the baseline by more than 2 standard errors, so there is nothing to stack; exploring untried single changes instead',
      candidates: [
        ...crossCandidates(req, best, signal, 0.8, req.count),
        ...familyCandidates(req, best, signal, 0.8),
        ...denseTransformCandidates(req, best, 0.6),
        ...knobsFor(3).flatMap((k) => lineSearch(req, best, k, 0.6)),
      ],
    };
  }
  const gains = new Map(winners.map((w) => [w.experimentId, compareNe(w, req.baseline)!]));
  const gainText = (w: ExperimentSummary) => `${w.experimentId} ${formatPercent(gains.get(w.experimentId)!.relativeNeChange)}`;
  const deltas = winners.map((w) => deltaFromBaseline(baseline, w));
  const top = winners[0];
  const ids = winners.map((w) => w.experimentId);
  const candidates: Candidate[] = [];

  // A: everything that won, stacked onto the best winner.
  let stacked = top.config;
  for (const delta of deltas.slice(1)) stacked = applyDelta(stacked, baseline, delta, space);
  candidates.push({
    config: stacked,
    technique: 'stack-winners',
    title: `Stack all ${winners.length} significant winners onto ${top.experimentId}`,
    rationale: `Each beat the baseline by >2 standard errors (${winners.map(gainText).join(', ')}); complementary changes should add up.`,
    parents: ids,
    prior: 1.5,
  });

  // B: each winning family with the union of the winning crosses.
  const unionCrosses = deltas.flatMap((d) => d.crossesAdded);
  const crossWinners = deltas.filter((d) => d.crossesAdded.length > 0);
  for (const family of [...new Set(winners.map((w) => w.config.family))].filter((f) => f !== baseline.family)) {
    const familyWinner = winners.find((w) => w.config.family === family)!;
    if (!unionCrosses.length) break;
    candidates.push({
      config: modify(familyWinner.config, { crosses: [...familyWinner.config.crosses, ...unionCrosses] }, space),
      technique: 'stack-winners',
      title: `${family} with the ${canonicalCrosses(unionCrosses).length} winning crosses`,
      rationale: `${gainText(familyWinner)} won as a family change and ${crossWinners.map((d) => gainText(d.run)).join(', ') || 'the crosses'} won as crosses; an explicit cross still helps an embedding model on rare pairs.`,
      parents: [familyWinner.experimentId, ...crossWinners.map((d) => d.run.experimentId)],
      prior: 1.3,
    });
  }

  // B2: the richest allowed family not tried yet, with every winning cross — REA's move to a bigger model once the
  // winning features are known (a DCN learns the interactions no single cross captured, and dense non-linearities).
  const richest = (['dcn', 'fm'] as const).find((f) => space.families.includes(f));
  const triedFamilies = new Set([req.baseline, ...req.history].map((r) => r.config.family));
  if (richest && !triedFamilies.has(richest)) {
    candidates.push({
      config: modify(switchFamily(top.config, richest, space), { crosses: [...top.config.crosses, ...unionCrosses] }, space),
      technique: `family-${richest}`,
      title: `${richest} with the ${canonicalCrosses([...top.config.crosses, ...unionCrosses]).length} winning crosses`,
      rationale: `The winners (${winners.map(gainText).join(', ')}) show interactions matter; ${richest} learns the pairs no explicit cross covers.`,
      parents: ids,
      prior: 1.4,
    });
  }

  // C: the cheap family with all winning crosses (tells whether the expensive family is needed at all).
  if (crossWinners.length >= 1) {
    candidates.push({
      config: modify(baseline, { crosses: [...baseline.crosses, ...unionCrosses] }, space),
      technique: 'feature-cross',
      title: `${baseline.family} baseline with all ${canonicalCrosses(unionCrosses).length} winning crosses`,
      rationale: `Union of the crosses that won (${crossWinners.map((d) => gainText(d.run)).join(', ')}) at baseline cost.`,
      parents: crossWinners.map((d) => d.run.experimentId),
      prior: 0.5,
    });
  }

  // D: pairwise stacks, best winner + one other winner (isolates interference between changes).
  for (const delta of deltas.slice(1)) {
    const share = Math.max(0.1, gains.get(delta.run.experimentId)!.neGain / Math.max(1e-12, gains.get(top.experimentId)!.neGain));
    candidates.push({
      config: applyDelta(top.config, baseline, delta, space),
      technique: 'stack-winners',
      title: `${top.experimentId} + the change of ${delta.run.experimentId}`,
      rationale: `Pairwise stack of the two winners ${gainText(top)} and ${gainText(delta.run)}.`,
      parents: [top.experimentId, delta.run.experimentId],
      prior: 0.9 * Math.min(1, share),
    });
  }

  // E: residual interactions still present on the current best model, crossed into the full stack.
  const stackedRun = { ...best, config: stacked, experimentId: best.experimentId };
  const residual = analyzeInteractions(req.fieldPairSignal, stacked.crosses);
  // Strong pairs that validation had no slot for: all of them onto the stack at once, ranked above the plain stack
  // (it is a superset backed by the residual signal; the plain stack beside it tells whether the extra pairs helped),
  // then singly, so a bad one can be told apart.
  const untested = residual.strongPairs.slice(0, 4).map((p) => p.fields);
  if (untested.length >= 2) {
    candidates.push({
      config: modify(stacked, { crosses: [...stacked.crosses, ...untested] }, space),
      technique: 'feature-cross',
      title: `Stack + the ${untested.length} remaining interacting pairs (${untested.map(crossName).join(', ')})`,
      rationale: `The residual signal on the best model still shows ${untested.map(crossName).join(', ')} well above the noise floor; validation had no slot for them.`,
      parents: [...ids],
      prior: 1.6,
    });
  }
  candidates.push(...crossCandidates(req, stackedRun, residual, 0.8, 2).map((c) => ({ ...c, parents: [...ids] })));

  // F: when the batch is larger than the ideas above, start tuning the best winner.
  candidates.push(...knobsFor(2).flatMap((k) => lineSearch(req, top, k, 0.5)));
  return { candidates };
}

function exploitationCandidates(req: DesignRequest): { candidates: Candidate[]; note?: string } {
  const best = bestRun(req);
  const signal = analyzeInteractions(req.fieldPairSignal, best.config.crosses);
  return {
    candidates: [
      ...knobsFor(2).flatMap((k) => lineSearch(req, best, k, 1)),
      ...crossCandidates(req, best, signal, 0.6, 2),
      ...calibrationCandidate(req, best, 1),
      ...clippedRetryCandidates(req, 0.8),
    ],
    note: best.experimentId === req.baseline.experimentId ? 'no run beat the baseline yet, so tuning the baseline itself' : undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------

function score(req: DesignRequest, candidate: Candidate, reference: ModelConfig): number {
  const cost = relativeTrainingCost(candidate.config) / Math.max(1e-9, relativeTrainingCost(reference));
  // Only a more expensive run pays: a cheaper one gets no bonus, or cheap ideas would crowd out the phase's main move
  // (e.g. stacking every winner onto an expensive winning family).
  return (candidate.prior * trackRecordMultiplier(req.insights, candidate.technique)) / Math.pow(Math.max(cost, 1), COST_EXPONENT);
}

function expectedEffectOf(candidate: Candidate, reference: ModelConfig): string {
  const base = candidate.expectedEffect ?? safeTechniqueEffect(candidate.technique);
  const cost = relativeTrainingCost(candidate.config) / Math.max(1e-9, relativeTrainingCost(reference));
  return `${base}; est. training cost ${fmt(cost)}x the reference run`.slice(0, 300);
}

function safeTechniqueEffect(id: string): string {
  try {
    return technique(id).expectedEffect;
  } catch {
    return 'small NE change expected';
  }
}

/** Greedy pick: highest adjusted score first, seeded tie-break, never a known or repeated config. */
function selectProposals(req: DesignRequest, candidates: Candidate[], reference: ModelConfig): ProposedExperiment[] {
  const known = knownConfigKeys(req);
  const pool = candidates.map((c) => ({ c, key: canonicalConfigKey(c.config), base: score(req, c, reference) }));
  const used = new Map<string, number>();
  const picked: ProposedExperiment[] = [];
  while (picked.length < req.count) {
    let bestItem: (typeof pool)[number] | undefined;
    let bestScore = -Infinity;
    for (const item of pool) {
      if (known.has(item.key)) continue;
      const s = item.base * Math.pow(SAME_TECHNIQUE_DISCOUNT, used.get(item.c.technique) ?? 0);
      const better = s > bestScore + 1e-12 || (Math.abs(s - bestScore) <= 1e-12 && bestItem && tieBreaker(req.seed, item.key) < tieBreaker(req.seed, bestItem.key));
      if (better) {
        bestItem = item;
        bestScore = s;
      }
    }
    if (!bestItem) break;
    known.add(bestItem.key);
    used.set(bestItem.c.technique, (used.get(bestItem.c.technique) ?? 0) + 1);
    picked.push({
      model: bestItem.c.config,
      hypothesis: {
        title: bestItem.c.title.slice(0, 200),
        technique: bestItem.c.technique,
        rationale: bestItem.c.rationale.slice(0, 600),
        expectedEffect: expectedEffectOf(bestItem.c, reference),
        parents: [...new Set(bestItem.c.parents)].slice(0, 20),
      },
    });
  }
  return picked;
}

/**
 * Propose `count` experiments for the request's phase: validation = single changes to the baseline; combination =
 * stacks of the significant winners; exploitation = line searches around the best run. Deterministic per request.
 */
export function designHeuristically(input: DesignRequest): DesignResponse {
  const req = DesignRequest.parse(input);
  const generated = req.phase === 'validation' ? validationCandidates(req) : req.phase === 'combination' ? combinationCandidates(req) : exploitationCandidates(req);
  const reference = req.phase === 'validation' ? req.baseline.config : bestRun(req).config;
  const proposals = selectProposals(req, generated.candidates, reference);
  if (generated.note) {
    for (const p of proposals) p.hypothesis.rationale = `${p.hypothesis.rationale} (Note: ${generated.note}.)`.slice(0, 600);
  }
  // Every idea already tried (a small space or a long campaign): fill with untried random points, labelled as such.
  if (proposals.length < req.count) {
    const filler = designRandomly({ ...req, count: req.count - proposals.length, history: [...req.history, ...proposals.map(toSummary(req))] });
    proposals.push(...filler.proposals);
  }
  return DesignResponse.parse({ proposals, source: 'heuristic' });
}

/** Pretend proposals already ran, so the random filler does not repeat them. */
function toSummary(req: DesignRequest) {
  return (p: ProposedExperiment, i: number): ExperimentSummary => ({
    experimentId: `proposed-${i}`,
    phase: req.phase,
    family: p.model.family,
    config: p.model,
    status: 'failed',
  });
}
