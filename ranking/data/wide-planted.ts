import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATEGORICAL_FIELDS, DENSE_FIELDS } from '../../contracts';
import { parseOrExplain } from '../../contracts/errors';
import { InvalidInputError } from '../../contracts/errors';
import { WideScenarioOptions, driftEnd, driftStartCtr, type WideScenarioInput } from '../../contracts/wide-planted';
import { finalMix } from '../hash';
import { backgroundEntropy, exampleLogLoss } from '../metrics';
import { SeededRandom } from '../rng';

/**
 * The full-width planted-truth generator ("wide planted scenario"): Criteo-layout files (label, I1..I13, C1..C26)
 * whose true click probability is known, streamed block by block so millions of rows never sit in memory.
 *
 * Every row: 26 categorical fields drawn from per-field Zipf distributions (cardinality up to 1e5, own missing rate),
 * 13 dense fields of heavy-tailed non-negative integer counts (a point mass at 0, log-normal tail, own missing rate,
 * correlated through a shared per-row activity level). The click logit is the sum of the truth kinds
 *
 *   categoricalMain   Σ_f effect_f[value]                                  (missing has its own effect)
 *   denseMain         Σ_j slope_j · s_j                                    s_j = standardised log1p(I_j)
 *   crosses           Σ strength · ⟨u[value_a], v[value_b]⟩ / √rank           (low-rank pairwise)
 *   denseCategorical  Σ strength · w[value_c] · s_j                       (a dense slope that varies by value)
 *   threeWay          Σ strength · Σ_k u_k[a] v_k[b] w_k[c] / √rank        (low-rank trilinear)
 *   denseShapes       Σ height · exp(−(log1p(I_j) − centre)² / 2width²)      (bumps and dips: non-monotone)
 *
 * plus a bias fitted so the average click probability is `baseCtr`; the label is then flipped with probability
 * `labelNoise`, so the true probability is ε + (1 − 2ε)·σ(bias + logit). Interaction factors are centred and scaled
 * under their field's value frequencies, so an interaction's `strength` is its standard deviation on the logit and
 * it carries no main effect a model could pick up without the interaction.
 *
 * The truth is a function of what the files show (the written integer counts and value names), so the true
 * probability is the Bayes-optimal prediction and its scores on the test file are the oracle's. Everything derives
 * from the seed; the structure, the pilot sample (bias fitting) and each split draw from their own streams, so train
 * rows are a prefix-stable stream (fewer rows = the first rows of more) and changing test rows leaves train alone.
 *
 * With `drift` the rows are in time order and the truth moves along a time axis τ (training τ ∈ [0, 1), then the
 * validation and test periods): the bias follows a click rate that changes log-linearly, one interaction term can
 * turn its sign, and chosen fields' popularity order turns over. Each split then spans its whole period whatever its
 * row count, so fewer rows are a thinner sample of the same period, not a prefix.
 */

export const WIDE_GENERATOR_VERSION = 1;
export const WIDE_TRUTH_KINDS = ['categoricalMain', 'denseMain', 'crosses', 'denseCategorical', 'threeWay', 'denseShapes'] as const;
export type WideTruthKind = (typeof WIDE_TRUTH_KINDS)[number];
const KIND = { categoricalMain: 0, denseMain: 1, crosses: 2, denseCategorical: 3, threeWay: 4, denseShapes: 5 } as const;

const CATEGORICAL = 26;
const DENSE = 13;
const PILOT_ROWS = 20_000;
/** Drift: the bias is fitted at this many evenly spaced times over the timeline and interpolated between them. */
const DRIFT_BIAS_GRID = 17;
/** Test AUC is computed from a histogram of true probabilities: memory stays flat whatever the row count. */
const AUC_BINS = 1 << 20;
const BLOCK_ROWS = 4096;
const MAX_LOG_COUNT = 36; // e^36 ≈ 4e15 < 2^53: counts stay exact integers

interface CategoricalTruth {
  field: string;
  cardinality: number;
  zipf: number;
  missingRate: number;
  effectSd: number;
  tailDecay: number;
  /** Zipf CDF over value ranks (rank 0 = most frequent). */
  cdf: Float64Array;
  /** guide[i] = first rank whose CDF exceeds i / guide.length: inversion starts there (a short scan, not a search). */
  guide: Int32Array;
  effect: Float32Array;
  missingEffect: number;
  /** Value names are computed from (field key, rank): no per-value strings in memory. */
  nameKey: number;
}

interface Bump {
  centre: number;
  width: number;
  height: number;
}

interface DenseTruth {
  field: string;
  logMean: number;
  logSd: number;
  zeroRate: number;
  missingRate: number;
  slope: number;
  missingEffect: number;
  /** Mean / sd of log1p(count) over present values (from the pilot sample): s = (log1p(x) − centre) / scale. */
  centre: number;
  scale: number;
}

interface CrossTruth {
  fields: [number, number];
  rank: number;
  strength: number;
  u: Float32Array;
  v: Float32Array;
}

interface ThreeWayTruth {
  fields: [number, number, number];
  rank: number;
  strength: number;
  u: Float32Array;
  v: Float32Array;
  w: Float32Array;
}

interface DenseCategoricalTruth {
  dense: number;
  categorical: number;
  strength: number;
  w: Float32Array;
}

interface DenseShapeTruth {
  field: number;
  bumps: Bump[];
}

/** How the truth moves over time (scenarios with `drift`). */
interface DriftTruth {
  /** Where each split's period starts on the time axis and how long it is (training: [0, 1)). */
  periods: Record<'train' | 'validation' | 'test', { start: number; span: number }>;
  /** The end of the timeline (of test's period). */
  end: number;
  /** The click rate the bias is fitted to at time τ: start · ctrRatio^τ. */
  startCtr: number;
  ctrRatio: number;
  /** The bias at τ = k · end / (DRIFT_BIAS_GRID − 1). */
  biasGrid: Float64Array;
  /** The interaction term (index in `interactionTerms` order) whose sign turns, or −1. */
  flipTerm: number;
  /** Per categorical field: the share of reversed-order draws at τ = 1 (0 = the field does not shift). */
  shift: Float64Array;
}

/** The planted structure of a scenario: distributions and truth terms, no rows. */
export interface WideTruth {
  options: WideScenarioOptions;
  categorical: CategoricalTruth[];
  dense: DenseTruth[];
  crosses: CrossTruth[];
  denseCategorical: DenseCategoricalTruth[];
  threeWay: ThreeWayTruth[];
  denseShapes: DenseShapeTruth[];
  /** Bias of the full truth (fitted to baseCtr on the pilot sample; under drift, the bias at τ = 0). */
  bias: number;
  /** Which kinds have any term (a kind with no term cannot be ablated). */
  kindsPresent: WideTruthKind[];
  drift?: DriftTruth;
}

/** One drawn row, in reusable buffers (a stream overwrites them on every `next()`). */
export interface WideRow {
  label: number;
  /** True click probability (after label noise): the Bayes-optimal prediction. */
  probability: number;
  /** Value rank per categorical field, −1 = missing. */
  ranks: Int32Array;
  /** Count per dense field, NaN = missing. */
  dense: Float64Array;
  /** Logit contribution per truth kind (WIDE_TRUTH_KINDS order). */
  parts: Float64Array;
  /** Logit contribution per interaction term, in `interactionTerms(truth)` order. */
  terms: Float64Array;
  /** The bias the row's probability was drawn with (the truth's; under drift, the bias at the row's time). */
  bias: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Structure

function streamSeed(seed: number, salt: number): number {
  return finalMix((Math.imul(seed, 0x9e3779b1) + Math.imul(salt, 0x85ebca6b)) | 0);
}

function zipfCdf(cardinality: number, exponent: number): Float64Array {
  const cdf = new Float64Array(cardinality);
  let total = 0;
  for (let r = 0; r < cardinality; r++) cdf[r] = total += 1 / Math.pow(r + 1, exponent);
  for (let r = 0; r < cardinality; r++) cdf[r] /= total;
  cdf[cardinality - 1] = 1;
  return cdf;
}

/** The tail fade of value rank r: (1 + r/10)^−decay. */
function tailScale(rank: number, decay: number): number {
  return decay === 0 ? 1 : Math.pow(1 + rank / 10, -decay);
}

/**
 * Draws `cardinality × rank` Gaussian factors (faded down the popularity order by the field's tailDecay), then
 * centres and scales each dimension under the value frequencies: the term has sd `strength` and no main effect.
 */
function plantedFactors(rng: SeededRandom, field: { cdf: Float64Array; tailDecay: number }, rank: number): Float32Array {
  const { cdf } = field;
  const n = cdf.length;
  const raw = new Float64Array(n * rank);
  for (let i = 0; i < raw.length; i++) raw[i] = rng.gaussian() * tailScale(Math.floor(i / rank), field.tailDecay);
  const out = new Float32Array(n * rank);
  for (let k = 0; k < rank; k++) {
    let mean = 0;
    for (let r = 0; r < n; r++) mean += (cdf[r] - (r ? cdf[r - 1] : 0)) * raw[r * rank + k];
    let variance = 0;
    for (let r = 0; r < n; r++) variance += (cdf[r] - (r ? cdf[r - 1] : 0)) * (raw[r * rank + k] - mean) ** 2;
    const sd = Math.sqrt(variance);
    for (let r = 0; r < n; r++) out[r * rank + k] = sd > 1e-12 ? (raw[r * rank + k] - mean) / sd : 0;
  }
  return out;
}

function uniformIn(rng: SeededRandom, [lo, hi]: [number, number]): number {
  return lo + (hi - lo) * rng.next();
}

function logUniformInt(rng: SeededRandom, [lo, hi]: [number, number]): number {
  const v = Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * rng.next());
  return Math.max(lo, Math.min(hi, Math.round(v)));
}

/** `count` distinct picks from `pool` (combinations given as arrays), by seed. */
function pickDistinct<T>(rng: SeededRandom, pool: T[], count: number): T[] {
  const left = [...pool];
  const out: T[] = [];
  for (let k = 0; k < count && left.length; k++) out.push(left.splice(rng.int(left.length), 1)[0]);
  return out;
}

/** Parses options (throws InvalidInputError naming each bad field) and plants the structure. */
export function plantWideTruth(input: WideScenarioInput | WideScenarioOptions): WideTruth {
  const options = parseOrExplain(WideScenarioOptions, input, 'wide planted scenario');
  const rng = new SeededRandom(streamSeed(options.seed, 1));

  const categorical: CategoricalTruth[] = CATEGORICAL_FIELDS.map((field, f) => {
    // Always draw every property (then apply pins), so pinning one field never shifts another field's draws.
    const drawn = {
      cardinality: logUniformInt(rng, options.categorical.cardinality),
      zipf: uniformIn(rng, options.categorical.zipf),
      missingRate: uniformIn(rng, options.categorical.missingRate),
      effectSd: uniformIn(rng, options.categorical.effectSd),
      tailDecay: uniformIn(rng, options.categorical.tailDecay),
    };
    const pin = options.categorical.fields[field] ?? {};
    const p = { ...drawn, ...pin };
    const cdf = zipfCdf(p.cardinality, p.zipf);
    const effect = new Float32Array(p.cardinality);
    for (let r = 0; r < p.cardinality; r++) effect[r] = rng.gaussian() * p.effectSd * tailScale(r, p.tailDecay);
    const missingEffect = rng.gaussian() * p.effectSd;
    return { field, ...p, cdf, guide: guideTable(cdf), effect, missingEffect, nameKey: streamSeed(options.seed, 1000 + f) };
  });

  const dense: DenseTruth[] = DENSE_FIELDS.map((field) => {
    const drawn = {
      logMean: uniformIn(rng, options.dense.logMean),
      logSd: uniformIn(rng, options.dense.logSd),
      zeroRate: uniformIn(rng, options.dense.zeroRate),
      missingRate: uniformIn(rng, options.dense.missingRate),
      slope: rng.gaussian() * options.dense.slopeSd,
    };
    const missingEffect = rng.gaussian() * options.dense.slopeSd;
    return { field, ...drawn, ...(options.dense.fields[field] ?? {}), missingEffect, centre: 0, scale: 1 };
  });

  const catIndex = (name: string) => CATEGORICAL_FIELDS.indexOf(name);
  const denseIndex = (name: string) => DENSE_FIELDS.indexOf(name);

  // Which fields each interaction uses: explicit lists as given, counts picked by seed (distinct combinations).
  const crossSpecs = Array.isArray(options.crosses)
    ? options.crosses.map((c) => ({ fields: [catIndex(c.fields[0]), catIndex(c.fields[1])] as [number, number], rank: c.rank, strength: c.strength }))
    : pickDistinct(rng, pairs(CATEGORICAL), options.crosses).map((fields) => ({ fields, rank: undefined, strength: undefined }));
  const dcSpecs = Array.isArray(options.denseCategorical)
    ? options.denseCategorical.map((d) => ({ dense: denseIndex(d.dense), categorical: catIndex(d.categorical), strength: d.strength }))
    : pickDistinct(
        rng,
        Array.from({ length: DENSE * CATEGORICAL }, (_, i) => [Math.floor(i / CATEGORICAL), i % CATEGORICAL] as const),
        options.denseCategorical,
      ).map(([d, c]) => ({ dense: d, categorical: c, strength: undefined }));
  const threeSpecs = Array.isArray(options.threeWay)
    ? options.threeWay.map((t) => ({ fields: t.fields.map(catIndex) as [number, number, number], rank: t.rank, strength: t.strength }))
    : pickDistinct(rng, triples(CATEGORICAL), options.threeWay).map((fields) => ({ fields, rank: undefined, strength: undefined }));
  const shapeSpecs: DenseShapeTruth[] = Array.isArray(options.denseShapes)
    ? options.denseShapes.map((s) => ({ field: denseIndex(s.field), bumps: s.bumps.map((b) => ({ ...b })) }))
    : pickDistinct(
        rng,
        Array.from({ length: DENSE }, (_, j) => j),
        options.denseShapes,
      ).map((j) => {
        // A bump and a dip inside the bulk of the field's log-count distribution: the effect rises, then falls
        // below where it started (no monotone transform of the count can express it).
        const t = dense[j];
        const first = t.logMean + t.logSd * (rng.next() * 0.6 - 0.5);
        const second = first + t.logSd * (0.7 + rng.next() * 0.5);
        const sign = rng.next() < 0.5 ? 1 : -1;
        const h = options.denseShapeHeight;
        const width = () => Math.max(0.15, t.logSd * (0.2 + rng.next() * 0.15));
        return {
          field: j,
          bumps: [
            { centre: Math.max(0.8, first), width: width(), height: sign * h * (0.8 + rng.next() * 0.4) },
            { centre: Math.max(1.4, second), width: width(), height: -sign * h * (0.8 + rng.next() * 0.4) },
          ],
        };
      });

  const crosses: CrossTruth[] = crossSpecs.map((s) => {
    const rank = s.rank ?? options.crossRank;
    return {
      fields: s.fields,
      rank,
      strength: s.strength ?? options.crossStrength,
      u: plantedFactors(rng, categorical[s.fields[0]], rank),
      v: plantedFactors(rng, categorical[s.fields[1]], rank),
    };
  });
  const denseCategorical: DenseCategoricalTruth[] = dcSpecs.map((s) => ({
    dense: s.dense,
    categorical: s.categorical,
    strength: s.strength ?? options.denseCategoricalStrength,
    w: plantedFactors(rng, categorical[s.categorical], 1),
  }));
  const threeWay: ThreeWayTruth[] = threeSpecs.map((s) => {
    const rank = s.rank ?? options.threeWayRank;
    return {
      fields: s.fields,
      rank,
      strength: s.strength ?? options.threeWayStrength,
      u: plantedFactors(rng, categorical[s.fields[0]], rank),
      v: plantedFactors(rng, categorical[s.fields[1]], rank),
      w: plantedFactors(rng, categorical[s.fields[2]], rank),
    };
  });

  const kindsPresent: WideTruthKind[] = [];
  if (categorical.some((c) => c.effectSd > 0)) kindsPresent.push('categoricalMain');
  if (dense.some((d) => d.slope !== 0 || d.missingEffect !== 0)) kindsPresent.push('denseMain');
  if (crosses.some((c) => c.strength > 0)) kindsPresent.push('crosses');
  if (denseCategorical.some((d) => d.strength > 0)) kindsPresent.push('denseCategorical');
  if (threeWay.some((t) => t.strength > 0)) kindsPresent.push('threeWay');
  if (shapeSpecs.some((s) => s.bumps.some((b) => b.height !== 0))) kindsPresent.push('denseShapes');

  const truth: WideTruth = { options, categorical, dense, crosses, denseCategorical, threeWay, denseShapes: shapeSpecs, bias: 0, kindsPresent };
  if (options.drift) truth.drift = plantDrift(truth);

  // The pilot stream (its own seed): standardise the dense log-counts, then fit the bias to the base CTR.
  standardiseDense(truth);
  if (truth.drift) fitDriftBiases(truth, truth.drift);
  const pilot = pilotSample(truth);
  pilots.set(truth, pilot);
  truth.bias = fitBias(pilot.logits, startCtr(truth), options.labelNoise);
  return truth;
}

/** The click rate the truth's bias is fitted to at τ = 0: the base CTR, or under drift the start of the trend. */
function startCtr(truth: WideTruth): number {
  return truth.drift ? truth.drift.startCtr : truth.options.baseCtr;
}

/** The drift's timeline, flipped term and shifted fields (the biases are fitted once the dense fields are standardised). */
function plantDrift(truth: WideTruth): DriftTruth {
  const { options } = truth;
  const drift = options.drift!;
  const end = driftEnd(drift, options.validationRows);
  const validationSpan = options.validationRows > 0 ? drift.validationSpan : 0;
  let flipTerm = -1;
  if (drift.flip !== undefined) {
    const names = interactionTerms(truth).map((t) => t.name);
    flipTerm = names.indexOf(drift.flip);
    if (flipTerm < 0)
      throw new InvalidInputError('wide planted scenario', [
        `drift.flip: ${JSON.stringify(drift.flip)} is not a planted interaction term (${names.length ? names.join(', ') : 'the scenario plants none'})`,
      ]);
  }
  const shift = new Float64Array(CATEGORICAL);
  for (const s of drift.populationShift) shift[CATEGORICAL_FIELDS.indexOf(s.field)] = s.share;
  return {
    periods: {
      train: { start: 0, span: 1 },
      validation: { start: 1, span: validationSpan },
      test: { start: 1 + validationSpan, span: drift.testSpan },
    },
    end,
    startCtr: driftStartCtr(options.baseCtr, drift.ctrRatio),
    ctrRatio: drift.ctrRatio,
    biasGrid: new Float64Array(DRIFT_BIAS_GRID),
    flipTerm,
    shift,
  };
}

/**
 * The bias at each grid time, fitted to the trend's click rate there on a pilot drawn at that time. Every grid
 * point's pilot draws the same random numbers (the pilot stream), so the fitted biases move smoothly with τ.
 */
function fitDriftBiases(truth: WideTruth, drift: DriftTruth): void {
  for (let k = 0; k < DRIFT_BIAS_GRID; k++) {
    const at = (k * drift.end) / (DRIFT_BIAS_GRID - 1);
    const stream = new WideRowStream(truth, 'pilot', PILOT_ROWS, { evaluate: true, drawLabels: false, at });
    const logits = new Float64Array(PILOT_ROWS);
    for (let i = 0; i < PILOT_ROWS; i++) {
      const row = stream.next();
      let z = 0;
      for (let p = 0; p < row.parts.length; p++) z += row.parts[p];
      logits[i] = z;
    }
    drift.biasGrid[k] = fitBias(logits, drift.startCtr * Math.pow(drift.ctrRatio, at), truth.options.labelNoise);
  }
}

/** The bias at time τ (linear between grid times; held beyond the timeline's ends). */
function driftBiasAt(drift: DriftTruth, at: number): number {
  const x = (Math.min(Math.max(at, 0), drift.end) / drift.end) * (DRIFT_BIAS_GRID - 1);
  const k = Math.min(DRIFT_BIAS_GRID - 2, Math.floor(x));
  const w = x - k;
  return drift.biasGrid[k] * (1 - w) + drift.biasGrid[k + 1] * w;
}

/** The flipped term's weight at time τ: +1 at the first training row, 0 halfway through training, −1 from its end on. */
function flipWeight(at: number): number {
  return Math.max(-1, 1 - 2 * at);
}

function pairs(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) out.push([a, b]);
  return out;
}

function triples(n: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) for (let c = b + 1; c < n; c++) out.push([a, b, c]);
  return out;
}

/** Names of the interaction terms (one per cross / dense×categorical / three-way / shaped field), in `terms` order. */
export function interactionTerms(truth: WideTruth): { kind: WideTruthKind; name: string }[] {
  const c = (i: number) => CATEGORICAL_FIELDS[i];
  const d = (j: number) => DENSE_FIELDS[j];
  return [
    ...truth.crosses.map((x) => ({ kind: 'crosses' as const, name: `${c(x.fields[0])}×${c(x.fields[1])}` })),
    ...truth.denseCategorical.map((x) => ({ kind: 'denseCategorical' as const, name: `${d(x.dense)}×${c(x.categorical)}` })),
    ...truth.threeWay.map((x) => ({ kind: 'threeWay' as const, name: x.fields.map(c).join('×') })),
    ...truth.denseShapes.map((x) => ({ kind: 'denseShapes' as const, name: `shape(${d(x.field)})` })),
  ];
}

/** Each planted truth's pilot logits (kept for the ablations' bias fits; dropped with the truth). */
const pilots = new WeakMap<WideTruth, Pilot>();

interface Pilot {
  /** Logit without bias of every pilot row: the full truth, then with each kind removed, then each term removed. */
  logits: Float64Array;
  byKind: Float64Array[];
  byTerm: Float64Array[];
}

/** Sets each dense field's centre / scale (mean / sd of log1p(count) over present values) from the pilot stream. */
function standardiseDense(truth: WideTruth): void {
  const stats = new Float64Array(DENSE * 3);
  const draw = new WideRowStream(truth, 'pilot', PILOT_ROWS, { evaluate: false });
  for (let i = 0; i < PILOT_ROWS; i++) {
    const row = draw.next();
    for (let j = 0; j < DENSE; j++) {
      const x = row.dense[j];
      if (Number.isNaN(x)) continue;
      const l = Math.log1p(x);
      stats[j * 3] += 1;
      stats[j * 3 + 1] += l;
      stats[j * 3 + 2] += l * l;
    }
  }
  for (let j = 0; j < DENSE; j++) {
    const n = stats[j * 3];
    const mean = n ? stats[j * 3 + 1] / n : 0;
    const variance = n ? stats[j * 3 + 2] / n - mean * mean : 1;
    truth.dense[j].centre = mean;
    truth.dense[j].scale = Math.sqrt(Math.max(variance, 1e-6));
  }
}

/** The pilot stream's logits (no bias): the full truth, and with each kind / each interaction term removed. */
function pilotSample(truth: WideTruth): Pilot {
  const termCount = interactionTerms(truth).length;
  const logits = new Float64Array(PILOT_ROWS);
  const byKind = WIDE_TRUTH_KINDS.map(() => new Float64Array(PILOT_ROWS));
  const byTerm = Array.from({ length: termCount }, () => new Float64Array(PILOT_ROWS));
  const stream = new WideRowStream(truth, 'pilot', PILOT_ROWS, { evaluate: true, drawLabels: false });
  for (let i = 0; i < PILOT_ROWS; i++) {
    const row = stream.next();
    let z = 0;
    for (let k = 0; k < row.parts.length; k++) z += row.parts[k];
    logits[i] = z;
    for (let k = 0; k < byKind.length; k++) byKind[k][i] = z - row.parts[k];
    for (let t = 0; t < termCount; t++) byTerm[t][i] = z - row.terms[t];
  }
  return { logits, byKind, byTerm };
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** The bias b with mean(ε + (1 − 2ε)·σ(b + z)) = ctr over the pilot logits (safeguarded Newton). */
function fitBias(logits: Float64Array, ctr: number, noise: number): number {
  const target = (ctr - noise) / (1 - 2 * noise);
  let lo = -40;
  let hi = 40;
  let b = Math.log(target / (1 - target));
  for (let it = 0; it < 100; it++) {
    let mean = 0;
    let slope = 0;
    for (let i = 0; i < logits.length; i++) {
      const p = sigmoid(b + logits[i]);
      mean += p;
      slope += p * (1 - p);
    }
    mean /= logits.length;
    slope /= logits.length;
    const gap = mean - target;
    if (Math.abs(gap) < 1e-12) break;
    if (gap > 0) hi = b;
    else lo = b;
    let next = slope > 1e-15 ? b - gap / slope : (lo + hi) / 2;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - b) < 1e-13) break;
    b = next;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Rows

export type WideSplit = 'train' | 'validation' | 'test' | 'pilot';
const SPLIT_SALT: Record<WideSplit, number> = { pilot: 2, train: 3, validation: 4, test: 5 };

/** guide[i] = the first rank whose CDF exceeds i / m (m ≤ 4096: the table stays in cache), guide[m] = last rank. */
function guideTable(cdf: Float64Array): Int32Array {
  const m = Math.min(4096, cdf.length);
  const guide = new Int32Array(m + 1);
  let r = 0;
  for (let i = 0; i < m; i++) {
    while (r < cdf.length - 1 && cdf[r] <= i / m) r++;
    guide[i] = r;
  }
  guide[m] = cdf.length - 1;
  return guide;
}

/**
 * The smallest rank r with cdf[r] > u (inversion): the guide table brackets it (guide[i] ≤ r ≤ guide[i + 1] for
 * u in [i/m, (i+1)/m)), a binary search finishes inside the bracket — one step for the Zipf head.
 */
function sampleCdf(cdf: Float64Array, guide: Int32Array, u: number): number {
  const i = Math.floor(u * (guide.length - 1));
  let lo = guide[i];
  let hi = guide[i + 1];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] <= u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Draws the rows of one split, one at a time, into reusable buffers: memory is constant in the number of rows.
 * Row n of a split is the same whatever the split's length (each split is its own stream).
 */
export class WideRowStream {
  readonly row: WideRow;
  private readonly rng: SeededRandom;
  private readonly evaluate: boolean;
  private readonly drawLabels: boolean;
  private readonly rho: number;
  private readonly rhoRest: number;
  private readonly truth: WideTruth;
  private drawn = 0;

  /** Drift: the time of row n is timeStart + timeStep · n (or a fixed time: a pilot drawn at one moment). */
  private readonly timeStart: number;
  private readonly timeStep: number;

  constructor(
    truth: WideTruth,
    split: WideSplit,
    readonly rows: number,
    opts: { evaluate?: boolean; drawLabels?: boolean; at?: number } = {},
  ) {
    this.truth = truth;
    const period = split === 'pilot' ? undefined : truth.drift?.periods[split];
    this.timeStart = opts.at ?? period?.start ?? 0;
    this.timeStep = opts.at === undefined && period ? period.span / rows : 0;
    this.rng = new SeededRandom(streamSeed(truth.options.seed, SPLIT_SALT[split]));
    this.evaluate = opts.evaluate ?? true;
    this.drawLabels = opts.drawLabels ?? this.evaluate;
    this.rho = truth.options.dense.correlation;
    this.rhoRest = Math.sqrt(1 - this.rho * this.rho);
    this.row = {
      label: 0,
      probability: NaN,
      ranks: new Int32Array(CATEGORICAL),
      dense: new Float64Array(DENSE),
      parts: new Float64Array(WIDE_TRUTH_KINDS.length),
      terms: new Float64Array(interactionTerms(truth).length),
      bias: truth.bias,
    };
  }

  get remaining(): number {
    return this.rows - this.drawn;
  }

  next(): WideRow {
    if (this.drawn >= this.rows) throw new Error(`the stream holds ${this.rows} rows`);
    const at = this.timeStart + this.timeStep * this.drawn;
    this.drawn++;
    const { rng, truth, row } = this;
    const { ranks, dense } = row;
    const drift = truth.drift;
    // One uniform per field decides both: below the missing rate = missing, else rescaled and inverted (Zipf rank).
    for (let f = 0; f < CATEGORICAL; f++) {
      const c = truth.categorical[f];
      const u = rng.next();
      ranks[f] = u < c.missingRate ? -1 : sampleCdf(c.cdf, c.guide, (u - c.missingRate) / (1 - c.missingRate));
      // A shifting field: a growing share of its values come from the reversed popularity order.
      if (drift && drift.shift[f] > 0 && rng.next() < Math.min(1, drift.shift[f] * at) && ranks[f] >= 0) ranks[f] = c.cardinality - 1 - ranks[f];
    }
    const activity = rng.gaussian();
    for (let j = 0; j < DENSE; j++) {
      const d = truth.dense[j];
      const u = rng.next();
      if (u < d.missingRate) dense[j] = NaN;
      else if (u < d.missingRate + (1 - d.missingRate) * d.zeroRate) dense[j] = 0;
      else {
        const l = Math.min(MAX_LOG_COUNT, d.logMean + d.logSd * (this.rho * activity + this.rhoRest * rng.gaussian()));
        dense[j] = l <= 0 ? 0 : Math.floor(Math.expm1(l));
      }
    }
    const u = rng.next();
    if (!this.evaluate) return row;
    const z = drift ? evaluateLogit(truth, row, drift.flipTerm, flipWeight(at)) : evaluateLogit(truth, row);
    const eps = truth.options.labelNoise;
    row.bias = drift ? driftBiasAt(drift, at) : truth.bias;
    row.probability = eps + (1 - 2 * eps) * sigmoid(row.bias + z);
    row.label = this.drawLabels && u < row.probability ? 1 : 0;
    return row;
  }
}

/**
 * Fills row.parts / row.terms from the row's ranks and counts; returns the logit without bias. Drift: the term
 * `flipTerm` (interactionTerms order) is weighted by `flip` (its sign turning over time).
 */
export function evaluateLogit(truth: WideTruth, row: WideRow, flipTerm = -1, flip = 1): number {
  const { ranks, dense, parts, terms } = row;
  parts.fill(0);
  let t = 0;
  let s = 0;
  for (let f = 0; f < CATEGORICAL; f++) {
    const c = truth.categorical[f];
    s += ranks[f] < 0 ? c.missingEffect : c.effect[ranks[f]];
  }
  parts[KIND.categoricalMain] = s;
  s = 0;
  for (let j = 0; j < DENSE; j++) {
    const d = truth.dense[j];
    const x = dense[j];
    s += Number.isNaN(x) ? d.missingEffect : d.slope * ((Math.log1p(x) - d.centre) / d.scale);
  }
  parts[KIND.denseMain] = s;
  for (const x of truth.crosses) {
    const a = ranks[x.fields[0]];
    const b = ranks[x.fields[1]];
    let v = 0;
    if (a >= 0 && b >= 0) {
      let dot = 0;
      for (let k = 0; k < x.rank; k++) dot += x.u[a * x.rank + k] * x.v[b * x.rank + k];
      v = (x.strength * dot) / Math.sqrt(x.rank);
    }
    if (t === flipTerm) v *= flip;
    terms[t++] = v;
    parts[KIND.crosses] += v;
  }
  for (const x of truth.denseCategorical) {
    const c = ranks[x.categorical];
    const value = dense[x.dense];
    let v = 0;
    if (c >= 0 && !Number.isNaN(value)) {
      const d = truth.dense[x.dense];
      v = x.strength * x.w[c] * ((Math.log1p(value) - d.centre) / d.scale);
    }
    if (t === flipTerm) v *= flip;
    terms[t++] = v;
    parts[KIND.denseCategorical] += v;
  }
  for (const x of truth.threeWay) {
    const a = ranks[x.fields[0]];
    const b = ranks[x.fields[1]];
    const c = ranks[x.fields[2]];
    let v = 0;
    if (a >= 0 && b >= 0 && c >= 0) {
      let sum = 0;
      for (let k = 0; k < x.rank; k++) sum += x.u[a * x.rank + k] * x.v[b * x.rank + k] * x.w[c * x.rank + k];
      v = (x.strength * sum) / Math.sqrt(x.rank);
    }
    if (t === flipTerm) v *= flip;
    terms[t++] = v;
    parts[KIND.threeWay] += v;
  }
  for (const x of truth.denseShapes) {
    const value = dense[x.field];
    let v = 0;
    if (!Number.isNaN(value)) {
      const l = Math.log1p(value);
      for (const b of x.bumps) v += b.height * Math.exp(-((l - b.centre) ** 2) / (2 * b.width * b.width));
    }
    if (t === flipTerm) v *= flip;
    terms[t++] = v;
    parts[KIND.denseShapes] += v;
  }
  let z = 0;
  for (let k = 0; k < parts.length; k++) z += parts[k];
  return z;
}

/** Criteo-like 8-hex-digit value name of a value rank: distinct per field (finalMix is a bijection). */
export function wideValueName(c: CategoricalTruth, rank: number): string {
  return finalMix((c.nameKey + rank) | 0)
    .toString(16)
    .padStart(8, '0');
}

/** The longest line: label, 13 counts of up to 16 digits, 26 names of 8 hex digits, 39 tabs and a newline. */
const MAX_LINE_BYTES = 1 + 13 * 16 + 26 * 8 + 39 + 1;
const TAB = 9;
const NEWLINE = 10;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Writes one row as a Criteo TSV line (label, I1..I13, C1..C26; empty = missing; newline-terminated) into `buf` at
 * `at`, as ASCII bytes (no strings: this is the generator's hot loop); returns the offset after the line.
 */
export function writeWideRow(truth: WideTruth, row: WideRow, buf: Buffer, at: number): number {
  buf[at++] = row.label === 1 ? 49 : 48;
  for (let j = 0; j < DENSE; j++) {
    buf[at++] = TAB;
    const x = row.dense[j];
    if (Number.isNaN(x)) continue;
    // Non-negative integer below 2^53: digits from the right, then reverse.
    const start = at;
    let v = x;
    do {
      const q = Math.floor(v / 10);
      buf[at++] = 48 + (v - q * 10);
      v = q;
    } while (v > 0);
    for (let i = start, k = at - 1; i < k; i++, k--) {
      const t = buf[i];
      buf[i] = buf[k];
      buf[k] = t;
    }
  }
  for (let f = 0; f < CATEGORICAL; f++) {
    buf[at++] = TAB;
    const r = row.ranks[f];
    if (r < 0) continue;
    const h = finalMix((truth.categorical[f].nameKey + r) | 0);
    for (let shift = 28; shift >= 0; shift -= 4) buf[at++] = HEX[(h >>> shift) & 15];
  }
  buf[at++] = NEWLINE;
  return at;
}

/** One row as a Criteo TSV line (no newline). */
export function wideRowLine(truth: WideTruth, row: WideRow): string {
  const buf = Buffer.allocUnsafe(MAX_LINE_BYTES);
  return buf.toString('latin1', 0, writeWideRow(truth, row, buf, 0) - 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Scores accumulated while streaming

/** Log loss / NE / binned AUC of one predictor over a stream of (probability, label), in constant memory. */
class StreamingScore {
  n = 0;
  clicks = 0;
  lossSum = 0;
  predictedSum = 0;
  private pos: Uint32Array | null;
  private neg: Uint32Array | null;

  constructor(withAuc: boolean) {
    this.pos = withAuc ? new Uint32Array(AUC_BINS) : null;
    this.neg = withAuc ? new Uint32Array(AUC_BINS) : null;
  }

  add(p: number, label: number): void {
    this.n++;
    this.clicks += label;
    this.lossSum += exampleLogLoss(p, label);
    this.predictedSum += p;
    if (this.pos) {
      const bin = Math.min(AUC_BINS - 1, Math.floor(p * AUC_BINS));
      if (label) this.pos[bin]++;
      else this.neg![bin]++;
    }
  }

  get logloss(): number {
    return this.lossSum / this.n;
  }

  get ne(): number {
    const h = backgroundEntropy(this.clicks / this.n);
    return h > 0 ? this.logloss / h : NaN;
  }

  /** Mann–Whitney AUC over probability bins of width 2^−20 (rows in one bin count as ties). */
  get auc(): number {
    if (!this.pos || !this.neg) return NaN;
    let negBelow = 0;
    let wins = 0;
    for (let b = 0; b < AUC_BINS; b++) {
      const p = this.pos[b];
      const q = this.neg[b];
      if (p) wins += p * (negBelow + q / 2);
      negBelow += q;
    }
    const negatives = this.n - this.clicks;
    return this.clicks && negatives ? wins / (this.clicks * negatives) : NaN;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Files

export interface WideSplitSummary {
  file: string;
  rows: number;
  clicks: number;
  ctr: number;
  bytes: number;
  /** The Bayes-optimal predictor (the true probabilities) on this split. */
  oracle: { ne: number; logloss: number; auc?: number; meanProbability: number };
  /** Per-line true probabilities (test and validation). */
  truthFile?: string;
}

export interface WideAblation {
  /** A truth kind, or one interaction term ("C3×C17", "I4×C9", "C1×C5×C20", "shape(I2)"), or "labelNoise". */
  remove: string;
  kind: WideTruthKind | 'labelNoise';
  ne: number;
  logloss: number;
  /** ne − oracle NE on test: what a model that cannot represent this part loses (at least roughly). */
  neGap: number;
  /** Paired standard error of neGap (per-row loss differences on the same test rows). */
  neGapStdErr: number;
}

export interface WideMeta {
  format: 'rankwright-wide-planted';
  generatorVersion: number;
  scenario: string | null;
  options: WideScenarioOptions;
  /** A data config for `rankwright train` / campaigns, with paths relative to this directory. */
  data: { format: 'criteo-tsv'; train: string; test: string; validation?: string };
  splits: { train: WideSplitSummary; validation?: WideSplitSummary; test: WideSplitSummary };
  baseCtr: { target: number; train: number; test: number };
  /** The oracle (Bayes-optimal) scores on test: the ceiling no model can beat in expectation. */
  oracle: { ne: number; logloss: number; auc: number; aucMethod: string };
  /**
   * The truth with one part removed (bias refitted to the base CTR): how much each kind / term moves the labels.
   * A model missing the part should not expect a test NE much below `ne`.
   */
  ablations: WideAblation[];
  structure: {
    bias: number;
    labelNoise: number;
    kindsPresent: WideTruthKind[];
    categorical: { field: string; cardinality: number; zipf: number; missingRate: number; effectSd: number; tailDecay: number }[];
    dense: { field: string; logMean: number; logSd: number; zeroRate: number; missingRate: number; slope: number; centre: number; scale: number }[];
    crosses: { fields: [string, string]; rank: number; strength: number }[];
    denseCategorical: { dense: string; categorical: string; strength: number }[];
    threeWay: { fields: [string, string, string]; rank: number; strength: number }[];
    denseShapes: { field: string; bumps: Bump[] }[];
    /** Scenarios with drift: each split's period on the time axis (training [0, 1)) and the trend's click rate at its ends. */
    drift?: {
      ctrRatio: number;
      flip: string | null;
      populationShift: { field: string; share: number }[];
      periods: { train: [number, number]; validation?: [number, number]; test: [number, number] };
      trendCtr: { trainStart: number; trainEnd: number; testStart: number; testEnd: number };
    };
  };
}

export interface WideProgress {
  split: 'train' | 'validation' | 'test';
  rows: number;
  total: number;
}

export interface WideGenerateResult {
  outDir: string;
  meta: WideMeta;
  seconds: number;
}

const round = (x: number, digits = 6) => Number(x.toFixed(digits));

function describeStructure(truth: WideTruth): WideMeta['structure'] {
  const c = (i: number) => CATEGORICAL_FIELDS[i];
  const d = (j: number) => DENSE_FIELDS[j];
  return {
    bias: truth.bias,
    labelNoise: truth.options.labelNoise,
    kindsPresent: truth.kindsPresent,
    categorical: truth.categorical.map((x) => ({
      field: x.field,
      cardinality: x.cardinality,
      zipf: round(x.zipf, 4),
      missingRate: round(x.missingRate, 4),
      effectSd: round(x.effectSd, 4),
      tailDecay: round(x.tailDecay, 4),
    })),
    dense: truth.dense.map((x) => ({
      field: x.field,
      logMean: round(x.logMean, 4),
      logSd: round(x.logSd, 4),
      zeroRate: round(x.zeroRate, 4),
      missingRate: round(x.missingRate, 4),
      slope: round(x.slope, 4),
      centre: round(x.centre, 4),
      scale: round(x.scale, 4),
    })),
    crosses: truth.crosses.map((x) => ({ fields: [c(x.fields[0]), c(x.fields[1])] as [string, string], rank: x.rank, strength: x.strength })),
    denseCategorical: truth.denseCategorical.map((x) => ({ dense: d(x.dense), categorical: c(x.categorical), strength: x.strength })),
    threeWay: truth.threeWay.map((x) => ({ fields: x.fields.map(c) as [string, string, string], rank: x.rank, strength: x.strength })),
    denseShapes: truth.denseShapes.map((x) => ({
      field: d(x.field),
      bumps: x.bumps.map((b) => ({ centre: round(b.centre, 4), width: round(b.width, 4), height: round(b.height, 4) })),
    })),
    ...(truth.drift ? { drift: describeDrift(truth, truth.drift) } : {}),
  };
}

function describeDrift(truth: WideTruth, drift: DriftTruth): NonNullable<WideMeta['structure']['drift']> {
  const span = (p: { start: number; span: number }): [number, number] => [round(p.start, 4), round(p.start + p.span, 4)];
  const ctrAt = (at: number) => round(drift.startCtr * Math.pow(drift.ctrRatio, at), 6);
  const { test } = drift.periods;
  return {
    ctrRatio: drift.ctrRatio,
    flip: truth.options.drift?.flip ?? null,
    populationShift: truth.options.drift?.populationShift ?? [],
    periods: {
      train: span(drift.periods.train),
      ...(truth.options.validationRows > 0 ? { validation: span(drift.periods.validation) } : {}),
      test: span(test),
    },
    trendCtr: { trainStart: ctrAt(0), trainEnd: ctrAt(1), testStart: ctrAt(test.start), testEnd: ctrAt(test.start + test.span) },
  };
}

/** Writes a split as `<split>.tsv` (and `<split>.truth.tsv`), block by block, under temporary names. */
async function writeSplit(
  truth: WideTruth,
  outDir: string,
  split: 'train' | 'validation' | 'test',
  rows: number,
  opts: { truthFile: boolean; ablations: Ablator | null; onProgress?: (p: WideProgress) => void },
): Promise<{ summary: WideSplitSummary; score: StreamingScore; temp: string[] }> {
  const file = `${split}.tsv`;
  const truthFile = opts.truthFile ? `${split}.truth.tsv` : undefined;
  const temp = [file, ...(truthFile ? [truthFile] : [])];
  const data = await fs.promises.open(path.join(outDir, file + '.partial'), 'w');
  const probs = truthFile ? await fs.promises.open(path.join(outDir, truthFile + '.partial'), 'w') : null;
  const score = new StreamingScore(split !== 'train');
  const stream = new WideRowStream(truth, split, rows);
  let bytes = 0;
  // One block buffer, reused: memory does not grow with rows.
  const block = Buffer.allocUnsafe(BLOCK_ROWS * MAX_LINE_BYTES);
  try {
    while (stream.remaining > 0) {
      const n = Math.min(BLOCK_ROWS, stream.remaining);
      let at = 0;
      let probText = '';
      for (let i = 0; i < n; i++) {
        const row = stream.next();
        at = writeWideRow(truth, row, block, at);
        // Shortest round-trip decimal: reading the file back gives exactly the probability scored here.
        if (probs) probText += row.probability + '\n';
        score.add(row.probability, row.label);
        opts.ablations?.add(row);
      }
      bytes += at;
      await data.write(block, 0, at);
      if (probs) await probs.write(probText);
      opts.onProgress?.({ split, rows: rows - stream.remaining, total: rows });
    }
  } finally {
    await data.close();
    await probs?.close();
  }
  const summary: WideSplitSummary = {
    file,
    rows: score.n,
    clicks: score.clicks,
    ctr: score.clicks / score.n,
    bytes,
    oracle: { ne: score.ne, logloss: score.logloss, meanProbability: score.predictedSum / score.n },
    ...(truthFile ? { truthFile } : {}),
  };
  if (split !== 'train') summary.oracle.auc = score.auc;
  return { summary, score, temp };
}

/**
 * Scores the truth with each part removed (bias refitted on the pilot) while the test split streams by. Under drift
 * the pilot is the truth at τ = 0; a row's ablated bias moves with the full truth's along the timeline (roughly
 * right: what an ablation measures is how much a part moves the labels, not the exact ablated oracle).
 */
class Ablator {
  readonly entries: {
    remove: string;
    kind: WideTruthKind | 'labelNoise';
    bias: number;
    source: { kind?: number; term?: number; noNoise?: true };
    score: StreamingScore;
    /** Σ and Σ² of (ablated − oracle) per-row log loss, for the paired standard error of the gap. */
    diff: number;
    diffSq: number;
  }[] = [];

  constructor(private readonly truth: WideTruth) {
    const pilot = pilots.get(truth) ?? pilotSample(truth);
    const { labelNoise } = truth.options;
    const baseCtr = startCtr(truth);
    for (const kind of truth.kindsPresent) {
      const k = KIND[kind];
      this.entries.push({
        remove: kind,
        kind,
        bias: fitBias(pilot.byKind[k], baseCtr, labelNoise),
        source: { kind: k },
        score: new StreamingScore(false),
        diff: 0,
        diffSq: 0,
      });
    }
    const terms = interactionTerms(truth);
    terms.forEach((term, t) => {
      // A kind with one term is already covered by the kind's entry.
      if (terms.filter((x) => x.kind === term.kind).length < 2) return;
      this.entries.push({
        remove: term.name,
        kind: term.kind,
        bias: fitBias(pilot.byTerm[t], baseCtr, labelNoise),
        source: { term: t },
        score: new StreamingScore(false),
        diff: 0,
        diffSq: 0,
      });
    });
    if (labelNoise > 0)
      this.entries.push({
        remove: 'labelNoise',
        kind: 'labelNoise',
        bias: fitBias(pilot.logits, baseCtr, 0),
        source: { noNoise: true },
        score: new StreamingScore(false),
        diff: 0,
        diffSq: 0,
      });
  }

  add(row: WideRow): void {
    let z = 0;
    for (let k = 0; k < row.parts.length; k++) z += row.parts[k];
    const eps = this.truth.options.labelNoise;
    const oracleLoss = exampleLogLoss(row.probability, row.label);
    const drifted = this.truth.drift ? row.bias - this.truth.bias : 0;
    for (const e of this.entries) {
      const bias = this.truth.drift ? e.bias + drifted : e.bias;
      let p: number;
      if (e.source.noNoise) p = sigmoid(bias + z);
      else {
        const zz = e.source.kind !== undefined ? z - row.parts[e.source.kind] : z - row.terms[e.source.term!];
        p = eps + (1 - 2 * eps) * sigmoid(bias + zz);
      }
      e.score.add(p, row.label);
      const d = exampleLogLoss(p, row.label) - oracleLoss;
      e.diff += d;
      e.diffSq += d * d;
    }
  }

  results(oracleNe: number): WideAblation[] {
    return this.entries.map((e) => {
      const n = e.score.n;
      const mean = e.diff / n;
      const variance = Math.max(0, (e.diffSq - n * mean * mean) / (n - 1));
      const h = backgroundEntropy(e.score.clicks / n);
      return {
        remove: e.remove,
        kind: e.kind,
        ne: e.score.ne,
        logloss: e.score.logloss,
        neGap: e.score.ne - oracleNe,
        neGapStdErr: Math.sqrt(variance / n) / h,
      };
    });
  }
}

/**
 * Generates a scenario into `outDir`: train.tsv, validation.tsv (when validationRows > 0), test.tsv, the true
 * probability of each test / validation row (test.truth.tsv, validation.truth.tsv: one per line, in row order),
 * and meta.json (written last: its presence means the directory is complete). Files are written under `.partial`
 * names and renamed at the end, so an interrupted run never leaves a half file under a real name.
 */
export async function generateWideScenario(
  input: WideScenarioInput | WideScenarioOptions,
  outDir: string,
  opts: { onProgress?: (p: WideProgress) => void } = {},
): Promise<WideGenerateResult> {
  const started = process.hrtime.bigint();
  const truth = plantWideTruth(input);
  const { options } = truth;
  await fs.promises.mkdir(outDir, { recursive: true });
  await fs.promises.rm(path.join(outDir, 'meta.json'), { force: true });

  const temp: string[] = [];
  const train = await writeSplit(truth, outDir, 'train', options.trainRows, { truthFile: false, ablations: null, onProgress: opts.onProgress });
  temp.push(...train.temp);
  const validation =
    options.validationRows > 0
      ? await writeSplit(truth, outDir, 'validation', options.validationRows, { truthFile: true, ablations: null, onProgress: opts.onProgress })
      : null;
  if (validation) temp.push(...validation.temp);
  else for (const f of ['validation.tsv', 'validation.truth.tsv']) await fs.promises.rm(path.join(outDir, f), { force: true });
  const ablator = new Ablator(truth);
  const test = await writeSplit(truth, outDir, 'test', options.testRows, { truthFile: true, ablations: ablator, onProgress: opts.onProgress });
  temp.push(...test.temp);
  for (const f of temp) await fs.promises.rename(path.join(outDir, f + '.partial'), path.join(outDir, f));

  const oracle = { ne: test.score.ne, logloss: test.score.logloss, auc: test.score.auc, aucMethod: `binned (${AUC_BINS} probability bins)` };
  const meta: WideMeta = {
    format: 'rankwright-wide-planted',
    generatorVersion: WIDE_GENERATOR_VERSION,
    scenario: options.name ?? null,
    options,
    data: { format: 'criteo-tsv', train: 'train.tsv', test: 'test.tsv', ...(validation ? { validation: 'validation.tsv' } : {}) },
    splits: { train: train.summary, ...(validation ? { validation: validation.summary } : {}), test: test.summary },
    baseCtr: { target: options.baseCtr, train: train.summary.ctr, test: test.summary.ctr },
    oracle,
    ablations: ablator.results(oracle.ne),
    structure: describeStructure(truth),
  };
  await fs.promises.writeFile(path.join(outDir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  return { outDir, meta, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Reads a generated directory's meta.json (null when the directory holds no complete scenario). */
export async function readWideMeta(outDir: string): Promise<WideMeta | null> {
  try {
    return JSON.parse(await fs.promises.readFile(path.join(outDir, 'meta.json'), 'utf8')) as WideMeta;
  } catch {
    return null;
  }
}

/**
 * Generates a scenario unless `outDir` already holds it (same options, same generator version, files of the
 * recorded sizes): benchmarks call this so the data is generated once per machine.
 */
export async function ensureWideScenario(
  input: WideScenarioInput | WideScenarioOptions,
  outDir: string,
  opts: { onProgress?: (p: WideProgress) => void } = {},
): Promise<WideGenerateResult & { reused: boolean }> {
  const options = parseOrExplain(WideScenarioOptions, input, 'wide planted scenario');
  const meta = await readWideMeta(outDir);
  if (meta && meta.generatorVersion === WIDE_GENERATOR_VERSION && JSON.stringify(meta.options) === JSON.stringify(options)) {
    const sizes = await Promise.all(
      Object.values(meta.splits).map(
        async (s: WideSplitSummary) => (await fs.promises.stat(path.join(outDir, s.file)).catch(() => null))?.size === s.bytes,
      ),
    );
    if (sizes.every(Boolean)) return { outDir, meta, seconds: 0, reused: true };
  }
  return { ...(await generateWideScenario(options, outDir, opts)), reused: false };
}
