import { CATEGORICAL_FIELDS, PlantedOptions } from '../../contracts';
import { finalMix, hashFieldValue } from '../hash';
import { normalizedEntropy, logLoss, auc } from '../metrics';
import { SeededRandom } from '../rng';
import { CATEGORICAL_COUNT, DENSE_COUNT, MISSING_CATEGORICAL, RowBlock, RowBlockBuilder, ValueNames, newValueNames } from './rows';

/**
 * The planted-truth generator ("plantedScenario"): Criteo-layout rows whose true click probability is known, so
 * every experiment can be scored against the Bayes-optimal (oracle) model. The click logit is
 *
 *   bias + Σ_fields mainEffect[field][value]
 *        + Σ_planted pairs crossStrength · ⟨u_a[value_a], u_b[value_b]⟩ / √rank     (low-rank pairwise interaction)
 *        + Σ_dense slope·(log1p(x) − centre) + denseNonlinearity · (bump(log1p x) − mean bump)
 *
 * Interactions are low rank on purpose: real cross effects are (advertiser × user-segment affinities), and a
 * low-rank truth is what factorization machines and DCN can learn and plain LR cannot, unless it is given the cross.
 * Everything derives from the seed; each split draws from its own stream, so changing testRows leaves train alone.
 */

export interface PlantedScenario {
  options: PlantedOptions;
  train: RowBlock;
  validation: RowBlock;
  test: RowBlock;
  /** True click probability of each validation / test row. */
  validationTruth: Float64Array;
  testTruth: Float64Array;
  valueNames: ValueNames;
  activeCategorical: number[];
  activeDense: number[];
  /** The planted crosses, by field name (e.g. ["C1","C3"]). */
  plantedCrosses: [string, string][];
  oracle: { ne: number; logloss: number; auc: number };
}

const CROSS_RANK = 2;
const MAIN_EFFECT_SD = 0.6;

interface FieldTruth {
  field: number; // 0..25
  cdf: Float64Array; // Zipf CDF over value ranks
  effect: Float64Array; // main effect per value rank
  factors: Float64Array; // cardinality × CROSS_RANK latent factors for crosses
  hashes: Uint32Array; // categorical hash per value rank
  names: string[];
}

export function plantedScenario(input: Partial<PlantedOptions> = {}): PlantedScenario {
  const options = PlantedOptions.parse(input);
  const { seed, cardinality, categoricalFields, denseFields } = options;
  const rng = new SeededRandom(seed * 7 + 1);
  const activeCategorical = Array.from({ length: categoricalFields }, (_, i) => i);
  const activeDense = Array.from({ length: denseFields }, (_, i) => i);

  const fields: FieldTruth[] = activeCategorical.map((field) => {
    const cdf = new Float64Array(cardinality);
    let total = 0;
    for (let r = 0; r < cardinality; r++) cdf[r] = total += 1 / Math.pow(r + 1, options.zipf);
    for (let r = 0; r < cardinality; r++) cdf[r] /= total;
    const effect = new Float64Array(cardinality);
    const factors = new Float64Array(cardinality * CROSS_RANK);
    const hashes = new Uint32Array(cardinality);
    const names: string[] = [];
    for (let r = 0; r < cardinality; r++) {
      effect[r] = rng.gaussian() * MAIN_EFFECT_SD;
      for (let k = 0; k < CROSS_RANK; k++) factors[r * CROSS_RANK + k] = rng.gaussian();
      // Criteo-like 8-hex-digit value names, distinct per field.
      const name = finalMix((seed * 1_000_003 + field * 7_919 + r * 104_729) | 0)
        .toString(16)
        .padStart(8, '0');
      names.push(name);
      let h = hashFieldValue(DENSE_COUNT + field, name);
      if (h === MISSING_CATEGORICAL) h = 1;
      hashes[r] = h;
    }
    return { field, cdf, effect, factors, hashes, names };
  });

  const crossPairs = choosePlantedCrosses(options, activeCategorical, rng);
  const denseTruth = activeDense.map((f) => ({
    field: f,
    mu: 1 + rng.next() * 1.5,
    sigma: 0.8 + rng.next() * 0.8,
    slope: rng.gaussian() * 0.25,
    bumpCentre: 1 + rng.next() * 2,
    bumpSign: f % 2 === 0 ? 1 : -1,
  }));

  // The non-random part of the logit of one drawn row.
  const logitOf = (ranks: Int32Array, dense: Float64Array): number => {
    let z = 0;
    for (let i = 0; i < fields.length; i++) if (ranks[i] >= 0) z += fields[i].effect[ranks[i]];
    for (const [a, b] of crossPairs) {
      const ra = ranks[a];
      const rb = ranks[b];
      if (ra < 0 || rb < 0) continue;
      let dot = 0;
      for (let k = 0; k < CROSS_RANK; k++) dot += fields[a].factors[ra * CROSS_RANK + k] * fields[b].factors[rb * CROSS_RANK + k];
      z += (options.crossStrength * dot) / Math.sqrt(CROSS_RANK);
    }
    for (let i = 0; i < denseTruth.length; i++) {
      const x = dense[i];
      if (Number.isNaN(x)) continue;
      const t = denseTruth[i];
      const lx = Math.log1p(x);
      const bump = Math.exp(-((lx - t.bumpCentre) ** 2) / (2 * 0.35 ** 2));
      z += t.slope * (lx - t.mu) + options.denseNonlinearity * t.bumpSign * (bump - 0.3);
    }
    return z;
  };

  const drawRow = (r: SeededRandom, ranks: Int32Array, dense: Float64Array, drift: number) => {
    for (let i = 0; i < fields.length; i++) {
      if (r.next() < options.missingRate) {
        ranks[i] = -1;
        continue;
      }
      let rank = sampleCdf(fields[i].cdf, r.next());
      // Drift: part of the traffic sees a different popularity order (new advertisers / content win share).
      if (drift > 0 && r.next() < drift) rank = cardinality - 1 - rank;
      ranks[i] = rank;
    }
    for (let i = 0; i < denseTruth.length; i++) {
      if (r.next() < options.missingRate) {
        dense[i] = NaN;
        continue;
      }
      const t = denseTruth[i];
      dense[i] = Math.floor(Math.expm1(Math.max(0, t.mu + t.sigma * r.gaussian())));
    }
  };

  // Calibrate the bias on a pilot sample so the average click probability is the requested base CTR.
  const pilot = new SeededRandom(seed * 7 + 2);
  const ranks = new Int32Array(fields.length);
  const dense = new Float64Array(denseTruth.length);
  const pilotLogits: number[] = [];
  for (let i = 0; i < 4000; i++) {
    drawRow(pilot, ranks, dense, 0);
    pilotLogits.push(logitOf(ranks, dense));
  }
  let lo = -20;
  let hi = 20;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    let mean = 0;
    for (const z of pilotLogits) mean += sigmoid(z + mid);
    mean /= pilotLogits.length;
    if (mean > options.baseCtr) hi = mid;
    else lo = mid;
  }
  const bias = (lo + hi) / 2;

  const valueNames = newValueNames();
  const generate = (rows: number, streamSeed: number, drift: number) => {
    const r = new SeededRandom(streamSeed);
    const builder = new RowBlockBuilder(rows);
    const truth = new Float64Array(rows);
    for (let n = 0; n < rows; n++) {
      drawRow(r, ranks, dense, drift);
      const p = sigmoid(bias + logitOf(ranks, dense));
      truth[n] = p;
      const row = builder.appendRow(r.next() < p ? 1 : 0);
      for (let f = 0; f < DENSE_COUNT; f++) builder.setDense(row, f, NaN);
      for (let i = 0; i < denseTruth.length; i++) builder.setDense(row, denseTruth[i].field, dense[i]);
      for (let f = 0; f < CATEGORICAL_COUNT; f++) builder.setCategorical(row, f, MISSING_CATEGORICAL);
      for (let i = 0; i < fields.length; i++) {
        if (ranks[i] < 0) continue;
        const fd = fields[i];
        builder.setCategorical(row, fd.field, fd.hashes[ranks[i]]);
        const names = valueNames[fd.field];
        if (!names.has(fd.hashes[ranks[i]])) names.set(fd.hashes[ranks[i]], fd.names[ranks[i]]);
      }
    }
    return { block: builder.build(), truth };
  };

  const train = generate(options.trainRows, seed * 7 + 3, 0);
  const validation = generate(options.validationRows, seed * 7 + 4, 0);
  const test = generate(options.testRows, seed * 7 + 5, options.drift);
  const testLabels = test.block.labels;
  return {
    options,
    train: train.block,
    validation: validation.block,
    test: test.block,
    validationTruth: validation.truth,
    testTruth: test.truth,
    valueNames,
    activeCategorical,
    activeDense,
    plantedCrosses: crossPairs.map(([a, b]) => [CATEGORICAL_FIELDS[a], CATEGORICAL_FIELDS[b]] as [string, string]),
    oracle: {
      ne: normalizedEntropy(test.truth, testLabels),
      logloss: logLoss(test.truth, testLabels),
      auc: auc(test.truth, testLabels),
    },
  };
}

/** Explicit pairs are validated against the active fields; a number picks that many distinct pairs by seed. */
function choosePlantedCrosses(options: PlantedOptions, active: number[], rng: SeededRandom): [number, number][] {
  if (Array.isArray(options.crosses)) {
    return options.crosses.map(([a, b]) => {
      const ia = CATEGORICAL_FIELDS.indexOf(a);
      const ib = CATEGORICAL_FIELDS.indexOf(b);
      for (const [name, i] of [
        [a, ia],
        [b, ib],
      ] as const) {
        if (i < 0 || i >= active.length)
          throw new Error(`planted.crosses: ${JSON.stringify(name)} is not an active categorical field (active: C1..C${active.length})`);
      }
      if (ia === ib) throw new Error(`planted.crosses: a cross needs two different fields, got ${a} twice`);
      return [ia, ib] as [number, number];
    });
  }
  const all: [number, number][] = [];
  for (let i = 0; i < active.length; i++) for (let j = i + 1; j < active.length; j++) all.push([i, j]);
  const count = Math.min(options.crosses, all.length);
  const chosen: [number, number][] = [];
  for (let k = 0; k < count; k++) chosen.push(all.splice(rng.int(all.length), 1)[0]);
  return chosen;
}

function sampleCdf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}
