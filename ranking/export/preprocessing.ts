import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BUCKETED_TRANSFORMS,
  CATEGORICAL_FIELDS,
  DENSE_FIELDS,
  DeclaredData,
  FIELD_NAMES,
  columnSpec,
  schemaLayout,
  type DeclaredSchema,
  type FieldTransform,
  type SchemaLayout,
} from '../../contracts';
import { parseCriteoLine } from '../data/criteo-reader';
import { readDeclaredChunks } from '../data/declared-reader';
import { RowBlockBuilder, type RowBlock } from '../data/rows';
import { crossSalts, denseWidthOf, encodeRows, featureName, numericRowsOf, slotTablesOf, type FeatureSpec } from '../features';
import { fieldSeed, hashFieldValue } from '../hash';
import type { ModelArtifactHeader } from '../model-artifact';
import { graphInterface } from './onnx-graph';

/**
 * The preprocessing spec written beside an exported ONNX model: how a raw row (a Criteo line, or a row of the declared
 * table the model was trained on, by column name) becomes the graph's inputs,
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
  fieldSeed:
    'seed(f) = 0x5bd1e995 XOR ((f + 1) * 0x27d4eb2d mod 2^32), f the feature number (Criteo: I1..I13 = 0..12, C1..C26 = 13..38; a declared table: its rawInput.layout says).',
  combine: 'combine(a, b, salt) = fmix32(((a XOR salt) * 0x9e3779b1) + fmix32(b + salt * 0x85ebca6b)), uint32 arithmetic, wrapping.',
  tableRow: 'row = slot.table.offset + (token AND (2^slot.table.bits - 1)).',
};

function transformsOf(spec: FeatureSpec): FieldTransform[] {
  return spec.denseTransforms ?? spec.denseFields.map(() => spec.denseTransform);
}

/**
 * Where a feature's raw value comes from in a declared table: its column, and for a multi-valued column which of the
 * cell's distinct values (in order of appearance, split on the separator) it is, and the seed its values hash with
 * (every value of a list hashes with its first slot's feature number: a bag of values). Undefined for Criteo.
 */
function sourceOf(
  layout: SchemaLayout | undefined,
  schema: DeclaredSchema | undefined,
  feature: number,
  denseWidth: number,
): Record<string, unknown> {
  if (!layout || !schema) return {};
  if (feature < denseWidth) return { column: layout.dense[feature].column };
  const slot = layout.categorical[feature - denseWidth];
  const first = layout.categorical.findIndex((s) => s.column === slot.column);
  if (slot.value === undefined) return { column: slot.column };
  const spec = columnSpec(schema.columns[slot.column]);
  return { column: slot.column, value: slot.value, separator: spec.separator ?? ',', valueSeed: fieldSeed(denseWidth + first) >>> 0 };
}

/** How the token of feature number `feature` is made, as a cross component sees it. */
function tokenRule(spec: FeatureSpec, feature: number, layout?: SchemaLayout, schema?: DeclaredSchema): Record<string, unknown> {
  const dw = denseWidthOf(spec);
  const name = featureName(feature, dw);
  const missingToken = hashFieldValue(feature, RESERVED.missing);
  const source = sourceOf(layout, schema, feature, dw);
  if (feature >= dw) {
    const seed = (source.valueSeed as number | undefined) ?? fieldSeed(feature) >>> 0;
    const { valueSeed: _, ...from } = source;
    return { feature: name, featureNumber: feature, ...from, rule: 'categorical', seed, missingToken };
  }
  const j = spec.denseFields.indexOf(feature);
  const quantile = j >= 0 && transformsOf(spec)[j] === 'quantile';
  return quantile
    ? {
        feature: name,
        featureNumber: feature,
        ...source,
        rule: 'quantileBucket',
        boundaries: spec.quantileBoundaries?.[j] ?? [],
        seed: fieldSeed(feature) >>> 0,
        missingToken,
      }
    : { feature: name, featureNumber: feature, ...source, rule: 'logBucket', seed: fieldSeed(feature) >>> 0, missingToken };
}

function categoricalSlots(spec: FeatureSpec, layout?: SchemaLayout, schema?: DeclaredSchema): Record<string, unknown>[] {
  const dw = denseWidthOf(spec);
  const named = (feature: number) => (layout ? (layout.labels[featureName(feature, dw)] ?? featureName(feature, dw)) : featureName(feature, dw));
  const rule = (feature: number) => tokenRule(spec, feature, layout, schema);
  const tables = slotTablesOf(spec);
  const transforms = transformsOf(spec);
  const slots: Record<string, unknown>[] = [];
  const table = (s: number) => {
    const t = tables[s];
    return { offset: t.offset, bits: t.bits, mask: 2 ** t.bits - 1, shared: !!t.shared };
  };
  for (const c of spec.categoricalFields) {
    const s = slots.length;
    slots.push({ slot: s, name: named(dw + c), kind: 'categorical', token: rule(dw + c), table: table(s) });
  }
  for (const features of spec.crosses) {
    const s = slots.length;
    const [a, b, c] = features;
    const salts = crossSalts(a, b, c);
    slots.push({
      slot: s,
      name: features.map(named).join('×'),
      kind: 'cross',
      components: features.map(rule),
      pairSalt: salts.pair >>> 0,
      ...(c === undefined ? {} : { tripleSalt: salts.triple >>> 0 }),
      token: c === undefined ? 'combine(token(a), token(b), pairSalt)' : 'combine(combine(token(a), token(b), pairSalt), token(c), tripleSalt)',
      table: table(s),
    });
  }
  spec.denseFields.forEach((field, j) => {
    if (!BUCKETED_TRANSFORMS.includes(transforms[j])) return;
    const s = slots.length;
    slots.push({ slot: s, name: named(field), kind: 'bucket', transform: transforms[j], token: rule(field), table: table(s) });
  });
  return slots;
}

function denseSlots(spec: FeatureSpec, layout?: SchemaLayout): Record<string, unknown>[] {
  const rows = numericRowsOf(spec);
  const transforms = transformsOf(spec);
  const out: Record<string, unknown>[] = [];
  spec.denseFields.forEach((field, j) => {
    if (BUCKETED_TRANSFORMS.includes(transforms[j])) return;
    const transform = transforms[j];
    out.push({
      slot: out.length,
      name: layout ? layout.dense[field].column : DENSE_FIELDS[field],
      featureNumber: field,
      ...(layout ? { column: layout.dense[field].column } : {}),
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

/**
 * Raw rows of a declared table for the test vectors, by column name: every value missing, then two rows of made-up
 * values (numbers for dense columns, words for categorical ones, lists with repeats and more values than are kept).
 */
function declaredTestRows(schema: DeclaredSchema): Record<string, string>[] {
  const features = Object.keys(schema.columns)
    .sort()
    .filter((c) => ['dense', 'categorical', 'multiCategorical'].includes(columnSpec(schema.columns[c]).role));
  const value = (column: string, i: number, row: number): string => {
    const spec = columnSpec(schema.columns[column]);
    if (spec.role === 'dense') return row === 1 ? String(i % 4 === 1 ? -1 : i % 5) : i % 3 === 2 ? '' : String(7 ** (i % 6) / 4);
    if (spec.role === 'categorical') return row === 2 && i % 5 === 4 ? '' : `v${row}-${i}`;
    const sep = spec.separator ?? ',';
    return [`a${row}`, `b${i}`, `a${row}`, `c`, `d`, `e`].join(sep);
  };
  return [0, 1, 2].map((row) => Object.fromEntries(features.map((c, i) => [c, row === 0 ? '' : value(c, i, row)])));
}

/** The rows through the engine's own declared reader (a CSV written and read back), as the model would score them. */
async function readDeclaredRows(schema: DeclaredSchema, raw: Record<string, string>[]): Promise<RowBlock> {
  const columns = Object.keys(raw[0]);
  const quote = (v: string) => `"${v.replace(/"/g, '""')}"`;
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'rw-vectors-'));
  const file = path.join(dir, 'vectors.csv');
  try {
    await fs.promises.writeFile(file, [columns.map(quote).join(','), ...raw.map((r) => columns.map((c) => quote(r[c])).join(','))].join('\n') + '\n');
    const config = DeclaredData.parse({ format: 'csv', train: file, test: file, schema, strict: true });
    const blocks: RowBlock[] = [];
    await readDeclaredChunks(file, config, async ({ block }) => void blocks.push(block), { featuresOnly: true });
    return blocks[0];
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
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
  const schema = header.schema;
  const layout = schema ? schemaLayout(schema) : undefined;

  let raw: Record<string, string>[];
  let block: RowBlock;
  if (schema) {
    raw = declaredTestRows(schema);
    block = await readDeclaredRows(schema, raw);
  } else {
    const lines = testRows();
    raw = lines.map((cols) => Object.fromEntries(FIELD_NAMES.map((name, f) => [name, cols[f]])));
    const builder = new RowBlockBuilder(lines.length);
    for (const cols of lines) {
      const problem = parseCriteoLine(cols.join('\t'), builder, true);
      if (problem) throw new Error(`test vector row: ${problem}`);
    }
    block = builder.build();
  }
  const encoded = encodeRows(block, spec);
  const probabilities = await score(encoded);
  const testVectors = raw.map((cells, r) => ({
    raw: cells,
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
    rawInput: layout && schema ? declaredInput(layout, schema) : CRITEO_INPUT,
    hashing: {
      ...ALGORITHMS,
      ...(layout ? {} : { fieldSeeds: Object.fromEntries(FIELD_NAMES.map((name, f) => [name, fieldSeed(f) >>> 0])) }),
      categoricalToken: 'token = murmur3_x86_32(value, seed(f)); a token of 0 becomes 1 (0 marks a missing value). Missing: token = missingToken.',
      missingToken: `murmur3_x86_32("${JSON.stringify(RESERVED.missing).slice(1, -1)}", seed(f)): each field\u2019s is given in its slot\u2019s token rule.`,
      logBucket: `For a dense feature in a cross or a "bucketize" slot: bucket = -1 if x < 0 else floor(2 * ln(1 + x)) (x the float32 value); token = murmur3_x86_32("\\u0000b" + decimal(bucket), seed(f)); missing: missingToken.`,
      quantileBucket: `For a dense feature with transform "quantile": bucket = number of boundaries <= x; token = murmur3_x86_32("\\u0000q" + decimal(bucket), seed(f)); missing: missingToken.`,
      crossToken:
        'A cross of features (a, b[, c]) combines their tokens (categorical, logBucket or quantileBucket by each component\u2019s rule, missingToken when missing).',
    },
    categoricalSlots: categoricalSlots(spec, layout, schema),
    // Lists: which slots form one pooled field. Informational: the graph pools them from cat_index itself.
    ...(spec.lists?.length
      ? {
          listFields: spec.lists.map((l) => ({ column: l.column, firstSlot: l.firstSlot, length: l.length, pooling: l.pooling })),
          listPooling:
            'A list column fills `length` consecutive categorical slots from `firstSlot` (its kept values in order, then empty positions, each encoded as above). ' +
            'The graph pools them into one field: FM and DCN average (pooling "mean") or sum the embeddings of its present values; a position after the first whose index is its missing token’s row is empty. Encode every slot as usual.',
        }
      : {}),
    denseSlots: denseSlots(spec, layout),
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

const CRITEO_INPUT = {
  layout:
    'Criteo TSV: tab-separated [label,] I1..I13, C1..C26 (40 columns with the label, 39 without). Feature numbers: I1..I13 = 0..12, C1..C26 = 13..38.',
  columns: FIELD_NAMES,
  dense: 'I1..I13: an integer (optional leading "-") or empty = missing. The parsed value is rounded to float32 before any transform.',
  categorical: 'C1..C26: any string; empty = missing.',
};

/** A declared table's raw input: its feature columns by name, each with its role and where its values go. */
function declaredInput(layout: SchemaLayout, schema: DeclaredSchema): Record<string, unknown> {
  const columns = Object.keys(schema.columns)
    .sort()
    .flatMap((name) => {
      const spec = columnSpec(schema.columns[name]);
      if (!['dense', 'categorical', 'multiCategorical'].includes(spec.role)) return [];
      const features = layout.slots[name] ?? [];
      return [
        {
          column: name,
          role: spec.role,
          features,
          ...(spec.role === 'multiCategorical' ? { separator: spec.separator ?? ',', maxValues: spec.maxValues ?? features.length } : {}),
        },
      ];
    });
  return {
    layout:
      `A row of the declared table, by column name (CSV, TSV or Parquet; other columns are not read). Feature numbers: ` +
      `dense columns 0..${layout.widths.dense - 1}, categorical values from ${layout.widths.dense} (feature number = ${layout.widths.dense} + C slot − 1).`,
    columns,
    dense: 'a number, or empty = missing. The parsed value is rounded to float32 before any transform.',
    categorical: 'any string, as it is; empty or blank = missing. Its token uses the seed in its token rule.',
    multiCategorical:
      'the cell split on the separator, each part trimmed, empties and repeats dropped, in order of appearance; the k-th kept value (token rule "value" k, 0-based) fills that feature, missing when the cell has fewer. Every value of a column hashes with the seed in its rule (the column\u2019s first feature\u2019s).',
  };
}
