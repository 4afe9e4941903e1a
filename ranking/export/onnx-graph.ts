import type { Calibrator } from '../../contracts';
import type { ModelArtifactHeader } from '../model-artifact';
import { featureTableRows, listPoolsOf, numericRowsOf, slotCounts, type FeatureSpec } from '../features';
import { pooledFields } from '../models/pooling';
import type { Tensor } from '../models/model';
import { AttributeType, DataType, encodeModel, type Node, type TensorInit, type ValueInfo } from './onnx-proto';

/**
 * A model artifact as an ONNX inference graph: encoded features in, the calibrated click probability out — exactly
 * the arithmetic of `rankwright score` after encoding (the model's predict, then applyCalibrator), so an ONNX
 * runtime reproduces its scores. Where the engine computes in float64 (LR and FM throughout, DCN's output layer and
 * wide part, every calibrator) the graph does too; DCN's dense layers run in float32 as in the engine. Weights are
 * stored with the bits the artifact holds (float32 stays float32 and is cast after the gather).
 *
 * Inputs (batch dimension "batch"; an input whose slot count is 0 is left out):
 *   cat_index   int64   [batch, catSlots]    parameter-table row of each categorical slot (EncodedRows.catIndex)
 *   dense_value float32 [batch, denseSlots]  transformed numeric dense values (EncodedRows.denseValue)
 * Output:
 *   click_probability float64 [batch]
 * The numeric dense slots' table rows (EncodedRows.denseIndex) depend only on the feature spec: they are folded
 * into the graph's constants.
 */

export const ONNX_OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12). */
export const ONNX_IR_VERSION = 8;
export const INPUT_CAT = 'cat_index';
export const INPUT_DENSE = 'dense_value';
export const OUTPUT = 'click_probability';
/** The clamp calibration applies before a logit (ranking/calibration.ts's EDGE). */
const EDGE = 1e-6;

type Typed = Float32Array | Float64Array | BigInt64Array | Uint8Array;

function bytesOf(a: Typed): Uint8Array {
  // ONNX raw_data is little-endian; typed arrays are in the platform's order, little-endian on every platform Node runs on here.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Builds the node list and initializers; names are unique by a counter with a readable prefix. */
class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: TensorInit[] = [];
  private count = 0;
  private shared = new Map<string, string>();

  private fresh(prefix: string): string {
    return `${prefix}_${this.count++}`;
  }

  constant(prefix: string, dataType: TensorInit['dataType'], dims: number[], data: Typed): string {
    const name = this.fresh(prefix);
    this.initializers.push({ name, dims, dataType, rawData: bytesOf(data) });
    return name;
  }

  /** A float64 scalar (shared by value). */
  scalar(v: number): string {
    const key = `d:${v}`;
    let name = this.shared.get(key);
    if (!name) this.shared.set(key, (name = this.constant('c', DataType.DOUBLE, [], Float64Array.of(v))));
    return name;
  }

  /** An int64 vector (shared by value): axes, shapes. */
  ints(values: number[]): string {
    const key = `i:${values.join(',')}`;
    let name = this.shared.get(key);
    if (!name) this.shared.set(key, (name = this.constant('axes', DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt)))));
    return name;
  }

  op(opType: string, input: string[], attrs: Node['attribute'] = [], prefix = opType.toLowerCase()): string {
    const out = this.fresh(prefix);
    this.nodes.push({ opType, input, output: [out], name: out, attribute: attrs });
    return out;
  }

  /** Names the last node's output (graph outputs must be produced under their own name). */
  rename(from: string, to: string): void {
    const node = this.nodes.find((n) => n.output[0] === from)!;
    node.output = [to];
  }

  cast(x: string, to: TensorInit['dataType']): string {
    return this.op('Cast', [x], [{ name: 'to', type: AttributeType.INT, i: to }]);
  }

  gather(table: string, index: string): string {
    return this.op('Gather', [table, index], [{ name: 'axis', type: AttributeType.INT, i: 0 }]);
  }

  reduceSum(x: string, axes: number[]): string {
    return this.op('ReduceSum', [x, this.ints(axes)], [{ name: 'keepdims', type: AttributeType.INT, i: 0 }]);
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }

  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }

  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
}

function f64(t: Tensor | undefined, what: string): Float64Array {
  if (!t) throw new Error(`model artifact has no ${what} tensor`);
  return t instanceof Float64Array ? t : Float64Array.from(t);
}

function f32(t: Tensor | undefined, what: string): Float32Array {
  if (!t) throw new Error(`model artifact has no ${what} tensor`);
  return t instanceof Float32Array ? t : Float32Array.from(t);
}

/** Rows of a float32 [rows, width] table, in the order given, as float64 (a constant the graph computes with). */
function rowsAsDouble(table: Float32Array, width: number, rows: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows.length * width);
  for (let j = 0; j < rows.length; j++) for (let c = 0; c < width; c++) out[j * width + c] = table[rows[j] * width + c];
  return out;
}

interface Inputs {
  cat?: string;
  dense?: string;
  catSlots: number;
  denseSlots: number;
}

/**
 * A spec's list fields pooled in-graph (ranking/models/pooling.ts), float64: `e` is the gathered embeddings
 * [batch, catSlots, k]; the result is [batch, catFields, k], a list's present values' embeddings averaged (or summed)
 * into one field, every other slot its own field. A list position is present unless its table row is the position's
 * missing row (the first position always counts), so the graph needs no input beyond cat_index:
 *   present[b, s] = cat_index[b, s] ≠ missingRow[s];  n = (present·Pᵀ)·P  (the present count of each slot's field)
 *   coef = present / (n where the field averages, else 1);  pooled = P · (coef ⊙ e)
 * with P the 0/1 [catFields, catSlots] map of slots to fields. Without lists, `e` is returned as it is.
 */
function poolLists(g: GraphBuilder, spec: FeatureSpec, cat: string, e: string, catSlots: number): { pooled: string; catFields: number } {
  const fields = pooledFields(catSlots, listPoolsOf(spec));
  if (!fields) return { pooled: e, catFields: catSlots };
  const F = fields.catFields;
  const map = new Float64Array(F * catSlots);
  const transposed = new Float64Array(catSlots * F);
  const averaged = new Float64Array(catSlots);
  for (let s = 0; s < catSlots; s++) {
    const f = fields.fieldOf[s];
    map[f * catSlots + s] = 1;
    transposed[s * F + f] = 1;
    averaged[s] = fields.mean[f];
  }
  const missing = g.constant(
    'list_missing_row',
    DataType.INT64,
    [catSlots],
    BigInt64Array.from(fields.missingRow, (r) => BigInt(r)),
  );
  const present = g.cast(g.op('Not', [g.op('Equal', [cat, missing])]), DataType.DOUBLE); // [batch, catSlots]
  const toFields = g.constant('list_slots_to_fields', DataType.DOUBLE, [catSlots, F], transposed);
  const fromFields = g.constant('list_fields_to_slots', DataType.DOUBLE, [F, catSlots], map);
  const count = g.op('MatMul', [g.op('MatMul', [present, toFields]), fromFields]); // [batch, catSlots]
  const averagedName = g.constant('list_averaged', DataType.DOUBLE, [catSlots], averaged);
  const denominator = g.add(g.mul(count, averagedName), g.sub(g.scalar(1), averagedName));
  const coef = g.div(present, denominator);
  const weighted = g.mul(e, g.op('Unsqueeze', [coef, g.ints([2])])); // [batch, catSlots, k]
  return { pooled: g.op('MatMul', [fromFields, weighted]), catFields: F };
}

/** Logistic regression: σ(w_bias + Σ_slots w[cat_index] + Σ_j w[denseRow_j]·dense_value_j), in float64. */
function lrLogit(g: GraphBuilder, header: ModelArtifactHeader, tensors: Record<string, Tensor>, x: Inputs): string {
  const bias = featureTableRows(header.featureSpec);
  const w = new Float64Array(bias + 1);
  const index = tensors.weightIndex;
  const value = f64(tensors.weightValue, 'weightValue');
  if (!index) throw new Error('model artifact has no weightIndex tensor');
  for (let k = 0; k < index.length; k++) w[index[k]] = value[k];
  let logit = g.scalar(w[bias]);
  if (x.cat) {
    const table = g.constant('lr_weight', DataType.DOUBLE, [bias + 1], w);
    logit = g.add(logit, g.reduceSum(g.gather(table, x.cat), [1]));
  }
  if (x.dense) {
    const rows = numericRowsOf(header.featureSpec);
    const wd = g.constant(
      'lr_dense_weight',
      DataType.DOUBLE,
      [rows.length],
      Float64Array.from(rows, (r) => w[r]),
    );
    logit = g.add(logit, g.reduceSum(g.mul(g.cast(x.dense, DataType.DOUBLE), wd), [1]));
  }
  return logit;
}

/**
 * Factorization machine in float64 over float32 weights:
 * w_bias + Σ_i w_i·x_i + ½·[Σ_c (Σ_i v_ic·x_i)² − Σ_i Σ_c (v_ic·x_i)²], x_i = 1 for categorical slots.
 */
function fmLogit(g: GraphBuilder, header: ModelArtifactHeader, tensors: Record<string, Tensor>, x: Inputs): string {
  if (header.config.family !== 'fm') throw new Error('not an fm');
  const k = header.config.embeddingDim;
  const bias = featureTableRows(header.featureSpec);
  const w = f32(tensors.w, 'w');
  const v = f32(tensors.v, 'v');
  let logit = g.scalar(w[bias]);
  const parts: string[] = [];
  if (x.cat) {
    const wTable = g.constant('fm_w', DataType.FLOAT, [bias + 1], w);
    const vTable = g.constant('fm_v', DataType.FLOAT, [bias + 1, k], v);
    logit = g.add(logit, g.reduceSum(g.cast(g.gather(wTable, x.cat), DataType.DOUBLE), [1]));
    // [batch, catFields, k]: a list's values pooled into one field (the linear term above keeps a weight per slot).
    parts.push(poolLists(g, header.featureSpec, x.cat, g.cast(g.gather(vTable, x.cat), DataType.DOUBLE), x.catSlots).pooled);
  }
  if (x.dense) {
    const rows = numericRowsOf(header.featureSpec);
    const xd = g.cast(x.dense, DataType.DOUBLE);
    const wd = g.constant('fm_dense_w', DataType.DOUBLE, [rows.length], rowsAsDouble(w, 1, rows));
    const vd = g.constant('fm_dense_v', DataType.DOUBLE, [rows.length, k], rowsAsDouble(v, k, rows));
    logit = g.add(logit, g.reduceSum(g.mul(xd, wd), [1]));
    parts.push(g.mul(g.op('Unsqueeze', [xd, g.ints([2])]), vd)); // [batch, denseSlots, k]
  }
  if (parts.length) {
    const e = parts.length === 1 ? parts[0] : g.op('Concat', parts, [{ name: 'axis', type: AttributeType.INT, i: 1 }]);
    const sum = g.reduceSum(e, [1]); // [batch, k]
    const pair = g.sub(g.reduceSum(g.mul(sum, sum), [1]), g.reduceSum(g.mul(e, e), [1, 2]));
    logit = g.add(logit, g.mul(g.scalar(0.5), pair));
  }
  return logit;
}

/**
 * DCN-v2 with a wide part: x0 = [embeddings of the categorical fields (a list's pooled: poolLists) ‖ dense values] (float32);
 * x_{l+1} = x0 ⊙ (x_l·W_l + b_l) + x_l (W_l = V_l·U_l, two MatMuls, for low-rank cross layers); h = ReLU MLP; logit = h·w_o + b_o (float64) + Σ wide[cat_index] (float64).
 */
function dcnLogit(g: GraphBuilder, header: ModelArtifactHeader, tensors: Record<string, Tensor>, x: Inputs): string {
  const config = header.config;
  if (config.family !== 'dcn') throw new Error('not a dcn');
  const d = config.embeddingDim;
  const tableRows = featureTableRows(header.featureSpec);
  const lists = listPoolsOf(header.featureSpec).length > 0;
  const catFields = lists ? pooledFields(x.catSlots, listPoolsOf(header.featureSpec))!.catFields : x.catSlots;
  const inputDim = catFields * d + x.denseSlots;
  const pieces: string[] = [];
  if (x.cat) {
    const emb = g.constant('dcn_embedding', DataType.FLOAT, [tableRows, d], f32(tensors.embedding, 'embedding'));
    let gathered = g.gather(emb, x.cat);
    // Lists: pooled in float64 and stored as float32, as the engine's gather does.
    if (lists) gathered = g.cast(poolLists(g, header.featureSpec, x.cat, g.cast(gathered, DataType.DOUBLE), x.catSlots).pooled, DataType.FLOAT);
    pieces.push(g.op('Reshape', [gathered, g.ints([0, catFields * d])]));
  }
  if (x.dense) pieces.push(x.dense);
  if (!pieces.length) throw new Error('a DCN without input slots cannot be exported');
  const x0 = pieces.length === 1 ? pieces[0] : g.op('Concat', pieces, [{ name: 'axis', type: AttributeType.INT, i: 1 }]);
  let p = 0;
  const param = (dims: number[]) => g.constant(`dcn_p${p}`, DataType.FLOAT, dims, f32(tensors[`p${p++}`], `p${p - 1}`));
  let h = x0;
  // Configs from before crossRank existed are full rank (ranking/models/dcn.ts reads them the same way).
  const rank = config.crossRank ?? 'full';
  for (let l = 0; l < config.crossLayers; l++) {
    // Full rank: z = h·W + b. Low rank r: z = (h·V)·U + b with V of D×r and U of r×D, the engine's two products.
    const product =
      rank === 'full'
        ? g.op('MatMul', [h, param([inputDim, inputDim])])
        : g.op('MatMul', [g.op('MatMul', [h, param([inputDim, rank])]), param([rank, inputDim])]);
    const z = g.add(product, param([inputDim]));
    h = g.add(g.mul(x0, z), h);
  }
  let width = inputDim;
  for (const out of config.mlp) {
    h = g.op('Relu', [g.add(g.op('MatMul', [h, param([width, out])]), param([out]))]);
    width = out;
  }
  // The output layer: the engine sums h·w_o in float64 over float32 values.
  const wo = Float64Array.from(f32(tensors[`p${p}`], `p${p}`));
  const bo = f32(tensors[`p${p + 1}`], `p${p + 1}`)[0];
  const woName = g.constant('dcn_out_w', DataType.DOUBLE, [width, 1], wo);
  const deep = g.op('Reshape', [g.op('MatMul', [g.cast(h, DataType.DOUBLE), woName]), g.ints([-1])]);
  let logit = g.add(deep, g.scalar(bo));
  // Artifacts written before the wide part have none: zero weights, nothing to add.
  if (x.cat && tensors.wide) {
    const wide = g.constant('dcn_wide', DataType.FLOAT, [tableRows], f32(tensors.wide, 'wide'));
    logit = g.add(logit, g.reduceSum(g.cast(g.gather(wide, x.cat), DataType.DOUBLE), [1]));
  }
  return logit;
}

/**
 * The calibrator (ranking/calibration.ts's calibrateProbability) on float64 probabilities: the negative-downsampling
 * correction p / (p + (1 − p)/r), then identity, Platt σ(a·logit(clamp(q)) + b) or the isotonic piecewise-linear map
 * (flat outside its breakpoints), all in-graph.
 */
function calibrate(g: GraphBuilder, p: string, c: Calibrator | undefined): string {
  if (!c) return p;
  let q = p;
  if (c.negativeSamplingRate !== undefined && c.negativeSamplingRate < 1) {
    q = g.div(p, g.add(p, g.div(g.sub(g.scalar(1), p), g.scalar(c.negativeSamplingRate))));
  }
  switch (c.method) {
    case 'none':
      return q;
    case 'platt': {
      const clamped = g.op('Clip', [q, g.scalar(EDGE), g.scalar(1 - EDGE)]);
      const logit = g.op('Log', [g.div(clamped, g.sub(g.scalar(1), clamped))]);
      return g.op('Sigmoid', [g.add(g.mul(g.scalar(c.a), logit), g.scalar(c.b))]);
    }
    case 'isotonic':
      return isotonic(g, q, c.x, c.y);
  }
}

/**
 * interpolate() of ranking/calibration.ts as tensor ops. For breakpoints xs (ascending) the segment of an inner p is
 * lo = #{j : xs[j] ≤ p} − 1 (what its binary search finds); p ≤ xs[0] and p ≥ xs[last] take the end values. The
 * segment's rise and span are computed here in float64 exactly as the engine computes them per call.
 */
function isotonic(g: GraphBuilder, p: string, xs: readonly number[], ys: readonly number[]): string {
  const m = xs.length;
  if (m === 1) return g.add(g.mul(p, g.scalar(0)), g.scalar(ys[0]));
  const segments = m - 1;
  const rise = new Float64Array(segments);
  const span = new Float64Array(segments);
  for (let k = 0; k < segments; k++) {
    span[k] = xs[k + 1] - xs[k];
    rise[k] = ys[k + 1] - ys[k];
  }
  const xsName = g.constant('iso_x', DataType.DOUBLE, [m], Float64Array.from(xs));
  const ysName = g.constant('iso_y', DataType.DOUBLE, [m], Float64Array.from(ys));
  const riseName = g.constant('iso_rise', DataType.DOUBLE, [segments], rise);
  const spanName = g.constant('iso_span', DataType.DOUBLE, [segments], span);
  const column = g.op('Unsqueeze', [p, g.ints([1])]); // [batch, 1]
  const atOrBelow = g.cast(g.op('LessOrEqual', [xsName, column]), DataType.INT64); // [batch, m]: xs[j] ≤ p
  const count = g.reduceSum(atOrBelow, [1]);
  const lo = g.op('Clip', [
    g.sub(count, g.constant('one', DataType.INT64, [], BigInt64Array.of(1n))),
    g.constant('zero', DataType.INT64, [], BigInt64Array.of(0n)),
    g.constant('last_segment', DataType.INT64, [], BigInt64Array.of(BigInt(segments - 1))),
  ]);
  const xlo = g.gather(xsName, lo);
  const ylo = g.gather(ysName, lo);
  // ys[lo] + ((ys[hi] − ys[lo])·(p − xs[lo])) / span, in the engine's order of operations.
  const inner = g.add(ylo, g.div(g.mul(g.gather(riseName, lo), g.sub(p, xlo)), g.gather(spanName, lo)));
  const below = g.op('LessOrEqual', [p, g.scalar(xs[0])]);
  const above = g.op('GreaterOrEqual', [p, g.scalar(xs[m - 1])]);
  return g.op('Where', [below, g.scalar(ys[0]), g.op('Where', [above, g.scalar(ys[m - 1]), inner])]);
}

export interface OnnxGraphInfo {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  opset: number;
  irVersion: number;
}

/** Inputs and outputs of the graph a model artifact exports to (what the preprocessing spec documents). */
export function graphInterface(header: ModelArtifactHeader): OnnxGraphInfo {
  const { catSlots, denseSlots } = slotCounts(header.featureSpec);
  const inputs: ValueInfo[] = [];
  if (catSlots > 0)
    inputs.push({
      name: INPUT_CAT,
      elemType: DataType.INT64,
      shape: ['batch', catSlots],
      doc: 'parameter-table row of each categorical slot (see the preprocessing spec)',
    });
  if (denseSlots > 0)
    inputs.push({
      name: INPUT_DENSE,
      elemType: DataType.FLOAT,
      shape: ['batch', denseSlots],
      doc: 'transformed value of each numeric dense slot (see the preprocessing spec)',
    });
  const outputs: ValueInfo[] = [{ name: OUTPUT, elemType: DataType.DOUBLE, shape: ['batch'], doc: 'calibrated click probability' }];
  return { inputs, outputs, opset: ONNX_OPSET, irVersion: ONNX_IR_VERSION };
}

/** The ONNX model (serialized ModelProto) of a model artifact. */
export function buildOnnxModel(
  header: ModelArtifactHeader,
  tensors: Record<string, Tensor>,
  meta: { artifact: string; producerVersion: string; preprocessingFile?: string },
): Uint8Array {
  const io = graphInterface(header);
  const { catSlots, denseSlots } = slotCounts(header.featureSpec);
  const g = new GraphBuilder();
  const x: Inputs = {
    cat: catSlots > 0 ? INPUT_CAT : undefined,
    dense: denseSlots > 0 ? INPUT_DENSE : undefined,
    catSlots,
    denseSlots,
  };
  // A spec always has slots in practice (some field has values); without any there is no batch to score.
  if (!x.cat && !x.dense) throw new Error('the model has no input slots: nothing to export');
  const logit =
    header.family === 'lr'
      ? lrLogit(g, header, tensors, x)
      : header.family === 'fm'
        ? fmLogit(g, header, tensors, x)
        : dcnLogit(g, header, tensors, x);
  // The last node's output (nothing else reads it) becomes the graph's output.
  g.rename(calibrate(g, g.op('Sigmoid', [logit]), header.calibrator), OUTPUT);
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    producerName: 'rankwright',
    producerVersion: meta.producerVersion,
    docString: `Rankwright ${header.family} model ${meta.artifact}: encoded features in, calibrated click probability out.`,
    graphName: `rankwright_${header.family}`,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: io.inputs,
    outputs: io.outputs,
    metadata: {
      'rankwright.artifact': meta.artifact,
      'rankwright.family': header.family,
      ...(meta.preprocessingFile ? { 'rankwright.preprocessing': meta.preprocessingFile } : {}),
    },
  });
}
