import { BUCKETED_TRANSFORMS, CATEGORICAL_FIELDS, DENSE_FIELDS, FIELD_NAMES, type FieldTransform } from '../../contracts';
import { parseCriteoLine } from '../data/criteo-reader';
import { DENSE_COUNT, RowBlockBuilder } from '../data/rows';
import { encodeRows, numericRowsOf, slotTablesOf, type FeatureSpec } from '../features';
import { fieldSeed, hashFieldValue } from '../hash';
import type { ModelArtifactHeader } from '../model-artifact';
import { graphInterface } from './onnx-graph';

/**
 * The preprocessing spec written beside an exported ONNX model: how a raw Criteo row becomes the graph's inputs,
 * generated from the artifact's feature spec so that a serving team can reimplement the encoding without reading
 * this code. Everything the encoder fitted on train (quantile boundaries, dense moments, table regions) is in it,
 * with every seed and salt as a number, and test vectors (raw rows → inputs → probability) computed by the engine's
 * own encoder and scorer to check a reimplementation against.
 */

export const PREPROCESSING_FORMAT = 'rankwright-preprocessing';
export const PREPROCESSING_VERSION = 1;

/** Reserved strings hashed in a field's hash space for tokens that are not a raw categorical value. */
const RESERVED = {
  missing: '\u0000missing',
  logBucket: '\u0000b{bucket}',
  quantileBucket: '\u0000q{bucket}',
};

const ALGORITHMS = {
  murmur3_x86_32: [
    'MurmurHash3 x86 32-bit over the value, little-endian 4-byte blocks; all arithmetic on uint32, wrapping.',
    'Key units: the value\u2019s UTF-16 code units; block k = u[i] | u[i+1] << 8 | u[i+2] << 16 | u[i+3] << 24 (a tail of 1-3 units',
    'likewise). For values whose characters are all below U+0080 (every Criteo value: ASCII hex) this is exactly standard',
    'murmur3_x86_32 of the value\u2019s bytes. Per block: k *= 0xcc9e2d51; k = rotl(k, 15); k *= 0x1b873593; h ^= k;',
    'h = rotl(h, 13); h = h * 5 + 0xe6546b64. Tail: k *= 0xcc9e2d51; k = rotl(k, 15); k *= 0x1b873593; h ^= k.',
    'Then h ^= length (in units), h = fmix32(h).',
  ].join(' '),
  fmix32: 'h ^= h >>> 16; h *= 0x85ebca6b; h ^= h >>> 13; h *= 0xc2b2ae35; h ^= h >>> 16 (uint32, wrapping).',
  fieldSeed: 'seed(f) = 0x5bd1e995 XOR ((f + 1) * 0x27d4eb2d mod 2^32), f the Criteo feature number (I1..I13 = 0..12, C1..C26 = 13..38).',
  combine: 'combine(a, b, salt) = fmix32(((a XOR salt) * 0x9e3779b1) + fmix32(b + salt * 0x85ebca6b)), uint32 arithmetic, wrapping.',
  tableRow: 'row = slot.table.offset + (token AND (2^slot.table.bits - 1)).',
};

function transformsOf(spec: FeatureSpec): FieldTransform[] {
  return spec.denseTransforms ?? spec.denseFields.map(() => spec.denseTransform);
}

/** How the token of Criteo feature `feature` (0..38) is made, as a cross component sees it. */
function tokenRule(spec: FeatureSpec, feature: number): Record<string, unknown> {
  const name = FIELD_NAMES[feature];
  const missingToken = hashFieldValue(feature, RESERVED.missing);
  if (feature >= DENSE_COUNT) {
    return { feature: name, featureNumber: feature, rule: 'categorical', seed: fieldSeed(feature) >>> 0, missingToken };
  }
  const j = spec.denseFields.indexOf(feature);
  const quantile = j >= 0 && transformsOf(spec)[j] === 'quantile';
  return quantile
    ? {
        feature: name,
        featureNumber: feature,
        rule: 'quantileBucket',
        boundaries: spec.quantileBoundaries?.[j] ?? [],
        seed: fieldSeed(feature) >>> 0,
        missingToken,
      }
    : { feature: name, featureNumber: feature, rule: 'logBucket', seed: fieldSeed(feature) >>> 0, missingToken };
}

function categoricalSlots(spec: FeatureSpec): Record<string, unknown>[] {
  const tables = slotTablesOf(spec);
  const transforms = transformsOf(spec);
  const slots: Record<string, unknown>[] = [];
  const table = (s: number) => {
    const t = tables[s];
    return { offset: t.offset, bits: t.bits, mask: 2 ** t.bits - 1, shared: !!t.shared };
  };
  for (const c of spec.categoricalFields) {
    const s = slots.length;
    slots.push({ slot: s, name: CATEGORICAL_FIELDS[c], kind: 'categorical', token: tokenRule(spec, DENSE_COUNT + c), table: table(s) });
  }
  for (const features of spec.crosses) {
    const s = slots.length;
    const [a, b, c] = features;
    const pairSalt = a * 64 + b;
    slots.push({
      slot: s,
      name: features.map((f) => FIELD_NAMES[f]).join('×'),
      kind: 'cross',
      components: features.map((f) => tokenRule(spec, f)),
      pairSalt,
      ...(c === undefined ? {} : { tripleSalt: 0x100000 + pairSalt * 64 + c }),
      token: c === undefined ? 'combine(token(a), token(b), pairSalt)' : 'combine(combine(token(a), token(b), pairSalt), token(c), tripleSalt)',
      table: table(s),
    });
  }
  spec.denseFields.forEach((field, j) => {
    if (!BUCKETED_TRANSFORMS.includes(transforms[j])) return;
    const s = slots.length;
    slots.push({ slot: s, name: DENSE_FIELDS[field], kind: 'bucket', transform: transforms[j], token: tokenRule(spec, field), table: table(s) });
  });
  return slots;
}

function denseSlots(spec: FeatureSpec): Record<string, unknown>[] {
  const rows = numericRowsOf(spec);
  const transforms = transformsOf(spec);
  const out: Record<string, unknown>[] = [];
  spec.denseFields.forEach((field, j) => {
    if (BUCKETED_TRANSFORMS.includes(transforms[j])) return;
    const transform = transforms[j];
    out.push({
      slot: out.length,
      name: DENSE_FIELDS[field],
      featureNumber: field,
      transform,
      ...(transform === 'standardize' ? { mean: spec.denseMean[j], std: spec.denseStd[j] } : {}),
      tableRow: rows[out.length],
    });
  });
  return out;
}

/** Raw rows for the test vectors: every value missing, small counts (one negative), and larger ones. */
function testRows(): string[][] {
  const hex = (i: number, salt: number) => ((Math.imul(i + 1, 0x9e3779b1) ^ salt) >>> 0).toString(16).padStart(8, '0');
  return [
    Array.from({ length: 39 }, () => ''),
    [...DENSE_FIELDS.map((_, f) => String(f === 1 ? -1 : f % 4)), ...CATEGORICAL_FIELDS.map((_, c) => hex(c, 0x1234))],
    [
      ...DENSE_FIELDS.map((_, f) => (f % 3 === 2 ? '' : String(7 ** (f % 8)))),
      ...CATEGORICAL_FIELDS.map((_, c) => (c % 5 === 4 ? '' : hex(c, 0x5678))),
    ],
  ];
}

export interface PreprocessingSpec {
  format: typeof PREPROCESSING_FORMAT;
  version: number;
  [key: string]: unknown;
}

/**
 * The spec of an artifact. `score` scores encoded rows with the artifact (what `rankwright score` does after encoding),
 * for the test vectors' expected probabilities.
 */
export async function buildPreprocessingSpec(
  header: ModelArtifactHeader,
  meta: { artifact: string; onnxFile: string },
  score: (rows: ReturnType<typeof encodeRows>) => Promise<Float64Array>,
): Promise<PreprocessingSpec> {
  const spec = header.featureSpec;
  const io = graphInterface(header);
  const dtype = (t: number) => (t === 7 ? 'int64' : t === 1 ? 'float32' : 'float64');

  const raw = testRows();
  const builder = new RowBlockBuilder(raw.length);
  for (const cols of raw) {
    const problem = parseCriteoLine(cols.join('\t'), builder, true);
    if (problem) throw new Error(`test vector row: ${problem}`);
  }
  const encoded = encodeRows(builder.build(), spec);
  const probabilities = await score(encoded);
  const testVectors = raw.map((cols, r) => ({
    raw: Object.fromEntries(FIELD_NAMES.map((name, f) => [name, cols[f]])),
    inputs: {
      ...(encoded.catSlots ? { cat_index: Array.from(encoded.catIndex.subarray(r * encoded.catSlots, (r + 1) * encoded.catSlots)) } : {}),
      ...(encoded.denseSlots ? { dense_value: Array.from(encoded.denseValue.subarray(r * encoded.denseSlots, (r + 1) * encoded.denseSlots)) } : {}),
    },
    click_probability: probabilities[r],
  }));

  return {
    format: PREPROCESSING_FORMAT,
    version: PREPROCESSING_VERSION,
    model: { artifact: meta.artifact, family: header.family, onnx: meta.onnxFile, dataFingerprint: header.dataFingerprint },
    onnx: {
      opset: io.opset,
      irVersion: io.irVersion,
      inputs: io.inputs.map((v) => ({ name: v.name, dtype: dtype(v.elemType), shape: v.shape, description: v.doc })),
      outputs: io.outputs.map((v) => ({ name: v.name, dtype: dtype(v.elemType), shape: v.shape, description: v.doc })),
      note: 'An input with 0 slots is not in the graph. The output already includes calibration: no post-processing step.',
    },
    rawInput: {
      layout:
        'Criteo TSV: tab-separated [label,] I1..I13, C1..C26 (40 columns with the label, 39 without). Feature numbers: I1..I13 = 0..12, C1..C26 = 13..38.',
      columns: FIELD_NAMES,
      dense: 'I1..I13: an integer (optional leading "-") or empty = missing. The parsed value is rounded to float32 before any transform.',
      categorical: 'C1..C26: any string; empty = missing.',
    },
    hashing: {
      ...ALGORITHMS,
      fieldSeeds: Object.fromEntries(FIELD_NAMES.map((name, f) => [name, fieldSeed(f) >>> 0])),
      categoricalToken: 'token = murmur3_x86_32(value, seed(f)); a token of 0 becomes 1 (0 marks a missing value). Missing: token = missingToken.',
      missingToken: `murmur3_x86_32("${JSON.stringify(RESERVED.missing).slice(1, -1)}", seed(f)): each field\u2019s is given in its slot\u2019s token rule.`,
      logBucket: `For a dense feature in a cross or a "bucketize" slot: bucket = -1 if x < 0 else floor(2 * ln(1 + x)) (x the float32 value); token = murmur3_x86_32("\\u0000b" + decimal(bucket), seed(f)); missing: missingToken.`,
      quantileBucket: `For a dense feature with transform "quantile": bucket = number of boundaries <= x; token = murmur3_x86_32("\\u0000q" + decimal(bucket), seed(f)); missing: missingToken.`,
      crossToken:
        'A cross of features (a, b[, c]) combines their tokens (categorical, logBucket or quantileBucket by each component\u2019s rule, missingToken when missing).',
    },
    categoricalSlots: categoricalSlots(spec),
    denseSlots: denseSlots(spec),
    denseTransforms: {
      none: 'value = x; missing: 0',
      log: 'value = ln(1 + x) if x >= 0 else -ln(1 - x); missing: 0',
      standardize: 'value = (x - mean) / std (float64), mean and std fitted on train; missing: 0',
      output: 'each value is rounded to float32 (the dense_value input is float32)',
    },
    parameterTable: { rows: spec.tableRows ?? 2 ** spec.hashBits, hashBits: spec.hashBits, hashSpace: spec.hashSpace ?? 'shared' },
    calibration: {
      calibrator: header.calibrator ?? null,
      appliedIn: 'the ONNX graph (negative-downsampling correction, then platt or isotonic); click_probability is final',
    },
    testVectors,
  };
}
