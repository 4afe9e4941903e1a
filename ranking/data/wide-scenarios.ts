import * as fs from 'node:fs';
import { InvalidInputError, parseOrExplain } from '../../contracts/errors';
import { WideScenarioOptions, type WideScenarioInput } from '../../contracts/wide-planted';

/**
 * Named full-width planted scenarios. The wide ones (≥ 500k train rows, 100k test rows, a separate 50k-row
 * validation file) differ in seed AND in truth structure, so a model tuned to one of them is caught by the others;
 * rare-clicks, drift and small-data are real logs' hard cases (BENCH_TRUST_SCENARIOS); the small ones are for tests
 * and quick runs. `rankwright generate --scenario NAME` writes one to files.
 */
export const WIDE_SCENARIOS = {
  'wide-crosses': {
    description: 'six low-rank pairwise crosses carry most of the signal; mild dense effects, no three-way',
    seed: 101,
    baseCtr: 0.1,
    crosses: 6,
    crossRank: 4,
    crossStrength: 0.6,
    denseCategorical: 1,
    threeWay: 0,
    denseShapes: 1,
    labelNoise: 0,
  },
  'wide-dense-nonmonotone': {
    description:
      'the dense counts matter: strong slopes, bumps and dips in log1p(count) on five fields, four dense×categorical interactions, correlated counts',
    seed: 202,
    baseCtr: 0.2,
    categorical: { effectSd: [0, 0.25] },
    dense: { slopeSd: 0.35, zeroRate: [0, 0.5], missingRate: [0, 0.3], correlation: 0.6 },
    crosses: 1,
    denseCategorical: 4,
    denseCategoricalStrength: 0.5,
    threeWay: 0,
    denseShapes: 5,
    denseShapeHeight: 0.9,
    labelNoise: 0.01,
  },
  'wide-three-way': {
    description: 'a strong rank-4 three-way cross over mid-cardinality fields (C3×C9×C17) next to two pairwise crosses; rare clicks',
    seed: 303,
    baseCtr: 0.05,
    categorical: { fields: { C3: { cardinality: 60, zipf: 1 }, C9: { cardinality: 400, zipf: 1.1 }, C17: { cardinality: 2500, zipf: 1.2 } } },
    crosses: 2,
    threeWay: [{ fields: ['C3', 'C9', 'C17'], rank: 4, strength: 1.0 }],
    denseCategorical: 1,
    denseShapes: 1,
    labelNoise: 0.005,
  },
  'wide-sparse-highcard': {
    description:
      'high cardinality everywhere (1e3–1e5 values, flat Zipf, many missing), effects barely fade down the tail: much of the signal sits in rare values; 3% CTR',
    seed: 404,
    baseCtr: 0.03,
    categorical: { cardinality: [1000, 100_000], zipf: [0.6, 1.0], missingRate: [0, 0.45], effectSd: [0.1, 0.5], tailDecay: [0, 0.2] },
    dense: { slopeSd: 0.1 },
    crosses: 4,
    crossStrength: 0.8,
    denseCategorical: 1,
    threeWay: 0,
    denseShapes: 0,
    labelNoise: 0,
  },
  'wide-criteo-like': {
    description: 'every kind of truth at moderate strength, Criteo-like 25% CTR, 2% flipped labels',
    seed: 505,
    baseCtr: 0.25,
    categorical: { cardinality: [3, 100_000] },
    crosses: 4,
    denseCategorical: 2,
    threeWay: 1,
    denseShapes: 2,
    labelNoise: 0.02,
  },
  // Real logs' hard cases (rare clicks, drift, small data): what keeps the statistics honest. Each one's sizes leave
  // enough clicks for its point and no more.
  'rare-clicks': {
    description:
      '0.3% CTR, as real ads logs: ~1,500 clicks in 500k train rows, ~300 in the 100k-row validation file, ~600 in test; three crosses, mild dense effects',
    seed: 606,
    trainRows: 500_000,
    validationRows: 100_000,
    testRows: 200_000,
    baseCtr: 0.003,
    categorical: { cardinality: [10, 20_000], effectSd: [0, 0.5] },
    dense: { slopeSd: 0.3 },
    crosses: 3,
    crossStrength: 0.8,
    denseCategorical: 1,
    threeWay: 0,
    denseShapes: 1,
    labelNoise: 0,
  },
  drift: {
    description:
      "rows in time order: the click rate halves from the first training row to the last and keeps falling through test (2% on average in train, ~1.2% in test); the C2×C9 cross turns from positive to negative; C4's popularity order turns over; no validation file (the latest training rows validate)",
    seed: 707,
    trainRows: 200_000,
    validationRows: 0,
    testRows: 50_000,
    baseCtr: 0.02,
    categorical: { fields: { C2: { cardinality: 40, zipf: 1 }, C9: { cardinality: 300, zipf: 1.1 }, C4: { cardinality: 200, zipf: 1.2 } } },
    crosses: [{ fields: ['C2', 'C9'], strength: 1 }, { fields: ['C5', 'C14'] }, { fields: ['C11', 'C20'] }],
    denseCategorical: 1,
    threeWay: 0,
    denseShapes: 1,
    labelNoise: 0,
    drift: { ctrRatio: 0.5, testSpan: 0.5, flip: 'C2×C9', populationShift: [{ field: 'C4', share: 0.5 }] },
  },
  'small-data': {
    description:
      '30k train rows at 0.55% CTR: ~150 training clicks and ~15 in the validation tail (no validation file), ~110 in 20k test rows: too little for most of what a model could learn',
    seed: 808,
    trainRows: 30_000,
    validationRows: 0,
    testRows: 20_000,
    baseCtr: 0.0055,
    categorical: { cardinality: [5, 5_000] },
    crosses: 2,
    crossStrength: 0.8,
    denseCategorical: 1,
    threeWay: 0,
    denseShapes: 1,
    labelNoise: 0,
  },
  // Small ones, for tests and quick runs.
  'wide-small': {
    description: 'every kind of truth, 20k train rows (tests, quick runs)',
    seed: 11,
    trainRows: 20_000,
    validationRows: 5_000,
    testRows: 10_000,
    baseCtr: 0.15,
    crosses: 3,
    crossStrength: 0.8,
    denseCategorical: 2,
    denseCategoricalStrength: 0.6,
    threeWay: 1,
    threeWayStrength: 0.9,
    denseShapes: 2,
    denseShapeHeight: 0.9,
    labelNoise: 0.02,
  },
  'wide-tiny': {
    description: '2k train rows, no validation file (format and determinism tests)',
    seed: 12,
    trainRows: 2_000,
    validationRows: 0,
    testRows: 2_000,
    categorical: { cardinality: [2, 5_000] },
  },
} satisfies Record<string, WideScenarioInput & { description: string }>;

export type WideScenarioName = keyof typeof WIDE_SCENARIOS;
/** The wide scenarios benchmarks default to (≥ 500k train rows each). */
export const BENCH_WIDE_SCENARIOS: WideScenarioName[] = [
  'wide-crosses',
  'wide-dense-nonmonotone',
  'wide-three-way',
  'wide-sparse-highcard',
  'wide-criteo-like',
];

/**
 * The planted cases of real logs' trouble (rare clicks, drift, small data) benchmarks run beside the wide ones: a
 * campaign on them must not recommend a model worse than a constant, and must report the drift.
 */
export const BENCH_TRUST_SCENARIOS: WideScenarioName[] = ['rare-clicks', 'drift', 'small-data'];

export function isWideScenarioName(name: string): name is WideScenarioName {
  return Object.prototype.hasOwnProperty.call(WIDE_SCENARIOS, name);
}

/** A named scenario's full options (validated), with its name. */
export function namedWideScenario(name: WideScenarioName): WideScenarioOptions {
  return parseOrExplain(WideScenarioOptions, { name, ...WIDE_SCENARIOS[name] }, `scenario ${name}`);
}

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * Resolves `--scenario`: a scenario name, a JSON file, or a JSON object string. A JSON scenario may start from a
 * named one with `"extends": NAME` and override any option (`categorical`, `dense` and their `fields` merge one
 * level deep). `rows` overrides train rows; validation and test rows keep their ratio to train (never more than the
 * scenario's, test at least 1,000), so the smaller test set is a prefix of the full one. Throws InvalidInputError
 * naming each bad field.
 */
export function resolveWideScenario(spec: string, opts: { rows?: number } = {}): WideScenarioOptions {
  const text = spec.trim();
  let raw: unknown;
  let what: string;
  if (isWideScenarioName(text)) {
    raw = { name: text, ...WIDE_SCENARIOS[text] };
    what = `scenario ${text}`;
  } else if (text.startsWith('{') || text.startsWith('[')) {
    what = 'scenario JSON';
    raw = parseJson(text, what);
  } else if (fs.existsSync(text) && fs.statSync(text).isFile()) {
    what = `scenario file ${text}`;
    raw = parseJson(fs.readFileSync(text, 'utf8'), what);
  } else {
    throw new InvalidInputError(`scenario ${JSON.stringify(spec)}`, [
      `not a named scenario (${Object.keys(WIDE_SCENARIOS).join(', ')}), a JSON file or a JSON object`,
    ]);
  }
  if (!isObject(raw)) throw new InvalidInputError(what, ['(root): expected a JSON object of scenario options']);
  if ('extends' in raw) raw = extendNamed(raw, what);
  let options = parseOrExplain(WideScenarioOptions, raw, what);
  if (opts.rows !== undefined) options = withTrainRows(options, opts.rows, what);
  return options;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError(what, [`not valid JSON (${(e as Error).message})`]);
  }
}

function extendNamed(raw: JsonObject, what: string): JsonObject {
  const { extends: base, ...rest } = raw;
  if (typeof base !== 'string' || !isWideScenarioName(base))
    throw new InvalidInputError(what, [`extends: expected one of ${Object.keys(WIDE_SCENARIOS).join(', ')}, got ${JSON.stringify(base)}`]);
  const named = WIDE_SCENARIOS[base] as JsonObject;
  const merged: JsonObject = { ...named, ...rest, name: typeof rest.name === 'string' ? rest.name : `${base}-custom` };
  for (const group of ['categorical', 'dense']) {
    const a = named[group];
    const b = rest[group];
    if (!isObject(b)) continue;
    const fromA = isObject(a) ? a : {};
    merged[group] = { ...fromA, ...b, fields: { ...(isObject(fromA.fields) ? fromA.fields : {}), ...(isObject(b.fields) ? b.fields : {}) } };
  }
  return merged;
}

function withTrainRows(options: WideScenarioOptions, rows: number, what: string): WideScenarioOptions {
  const ratio = rows / options.trainRows;
  const scaled = {
    ...options,
    trainRows: rows,
    validationRows: options.validationRows === 0 ? 0 : Math.min(options.validationRows, Math.max(1_000, Math.round(options.validationRows * ratio))),
    testRows: Math.min(options.testRows, Math.max(1_000, Math.round(options.testRows * ratio))),
  };
  return parseOrExplain(WideScenarioOptions, scaled, `${what} with --rows ${rows}`);
}
