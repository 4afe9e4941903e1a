/**
 * The DCN's dense stack (cross layers and ReLU MLP, not the 1-wide output layer) as two ONNX graphs on ONNX Runtime —
 * the forward pass and the backward pass, each one call a step — instead of one call per product with TypeScript
 * loops between them. Inside a graph the gating x0 ⊙ z + x_l, dz = dx ⊙ x0, the residual adds, ReLU masks and bias
 * sums are ONNX Runtime's vectorised kernels, and the transposes are Gemm's flags. Why: with the products on MLAS a
 * default step's products took 3.5 of its 15.5 CPU-ms, and the loops between them and the calls into ONNX Runtime were
 * a large share of the rest (bench/results/dense.md).
 *
 * The graphs are built for the model's layer shapes (rows symbolic) when the stack is made. The weights go in as views
 * of the model's arrays at every call (they change every step); the forward pass writes what the backward pass needs
 * (each layer's input, z and, at low rank, x·V) into buffers kept here, and the backward pass writes each parameter's
 * gradient straight into the model's gradient arrays and x0's gradient into the caller's buffer.
 *
 * Float32 throughout, like dcn-resident.ts's tfjs stack (the loop path sums bias gradients and x0·z + x in float64), so
 * its numbers differ from DeepCrossNetwork's loop path in the last bits (test/ranking/dcn-onnx-stack.test.ts).
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { AttributeType, DataType, encodeModel, type Node, type TensorInit, type ValueInfo } from '../export/onnx-proto';
import { loadOnnxRuntime, onnxSessionOptions } from '../kernels/onnx-kernels';
import type { StackLayer } from './dcn-resident';

type Ort = Awaited<ReturnType<typeof loadOnnxRuntime>>;

const float = (name: string, shape: (number | string)[]): ValueInfo => ({ name, elemType: DataType.FLOAT, shape });
const node = (opType: string, input: string[], output: string, attribute: Node['attribute'] = []): Node => ({
  opType,
  input,
  output: [output],
  attribute,
});
const gemm = (input: string[], output: string, trans: { a?: boolean; b?: boolean } = {}): Node =>
  node('Gemm', input, output, [
    ...(trans.a ? [{ name: 'transA', type: AttributeType.INT, i: 1 }] : []),
    ...(trans.b ? [{ name: 'transB', type: AttributeType.INT, i: 1 }] : []),
  ]);

/** Names of layer l's parameters, in the model's order (cross: W, b; low rank: V, U, b; mlp: W, b). */
function paramNames(layer: StackLayer, l: number): string[] {
  return layer.kind === 'lowRankCross' ? [`V${l}`, `U${l}`, `b${l}`] : [`W${l}`, `b${l}`];
}

function paramShapes(layer: StackLayer): number[][] {
  if (layer.kind === 'lowRankCross') return [[layer.inDim, layer.rank], [layer.rank, layer.outDim], [layer.outDim]];
  return [[layer.inDim, layer.outDim], [layer.outDim]];
}

/** What the forward pass keeps for the backward pass: per layer, the name and width of each kept value. */
function keptOf(layers: readonly StackLayer[]): { name: string; width: number }[] {
  const kept: { name: string; width: number }[] = [];
  layers.forEach((layer, l) => {
    if (l > 0) kept.push({ name: `x${l}`, width: layer.inDim }); // the layer's input (layer 0's is x0)
    if (layer.kind === 'lowRankCross') kept.push({ name: `t${l}`, width: layer.rank });
    // z for a cross layer; a ReLU layer's output (its mask) is the next layer's input, or h for the last.
    if (layer.kind !== 'mlp') kept.push({ name: `z${l}`, width: layer.outDim });
  });
  return kept;
}

function model(name: string, nodes: Node[], inputs: ValueInfo[], outputs: ValueInfo[], initializers: TensorInit[] = []): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opset: 17,
    producerName: 'rankwright',
    producerVersion: '1',
    docString: `Rankwright DCN dense stack: ${name}`,
    graphName: name,
    nodes,
    initializers,
    inputs,
    outputs,
    metadata: {},
  });
}

function forwardGraph(layers: readonly StackLayer[], inputDim: number): Uint8Array {
  const nodes: Node[] = [];
  const params: ValueInfo[] = [];
  let x = 'x0';
  layers.forEach((layer, l) => {
    const names = paramNames(layer, l);
    paramShapes(layer).forEach((shape, k) => params.push(float(names[k], shape)));
    const next = l === layers.length - 1 ? 'h' : `x${l + 1}`;
    if (layer.kind === 'mlp') {
      nodes.push(gemm([x, names[0], names[1]], `a${l}`), node('Relu', [`a${l}`], next));
    } else {
      const t = layer.kind === 'lowRankCross' ? `t${l}` : x;
      if (layer.kind === 'lowRankCross') nodes.push(gemm([x, names[0]], t));
      nodes.push(gemm([t, names[names.length - 2], names[names.length - 1]], `z${l}`));
      nodes.push(node('Mul', ['x0', `z${l}`], `g${l}`), node('Add', [`g${l}`, x], next));
    }
    x = next;
  });
  const last = layers[layers.length - 1];
  const outputs = [float('h', ['r', last.outDim]), ...keptOf(layers).map((k) => float(k.name, ['r', k.width]))];
  return model('forward', nodes, [float('x0', ['r', inputDim]), ...params], outputs);
}

function backwardGraph(layers: readonly StackLayer[], inputDim: number): Uint8Array {
  const nodes: Node[] = [];
  const params: ValueInfo[] = [];
  const grads: ValueInfo[] = [];
  const zero: TensorInit = { name: 'zero', dims: [], dataType: DataType.FLOAT, rawData: new Uint8Array(4) };
  const rowsAxis: TensorInit = { name: 'rowsAxis', dims: [1], dataType: DataType.INT64, rawData: new Uint8Array(8) };
  const biasSum = (dy: string, out: string) => node('ReduceSum', [dy, 'rowsAxis'], out, [{ name: 'keepdims', type: AttributeType.INT, i: 0 }]);
  let dx = 'dh';
  let dx0: string | null = null;
  for (let l = layers.length - 1; l >= 0; l--) {
    const layer = layers[l];
    const names = paramNames(layer, l);
    paramShapes(layer).forEach((shape, k) => {
      params.push(float(names[k], shape));
      grads.push(float(`grad_${names[k]}`, shape));
    });
    const input = l === 0 ? 'x0' : `x${l}`;
    if (layer.kind === 'mlp') {
      const out = l === layers.length - 1 ? 'h' : `x${l + 1}`;
      nodes.push(
        node('Greater', [out, 'zero'], `on${l}`),
        node('Cast', [`on${l}`], `mask${l}`, [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }]),
        node('Mul', [dx, `mask${l}`], `dy${l}`),
        gemm([input, `dy${l}`], `grad_${names[0]}`, { a: true }),
        biasSum(`dy${l}`, `grad_${names[1]}`),
      );
      nodes.push(gemm([`dy${l}`, names[0]], `dIn${l}`, { b: true }));
      dx = `dIn${l}`;
      continue;
    }
    // x_{l+1} = x0 ⊙ z + x_l: dz = dx ⊙ x0, dx0 += dx ⊙ z, and dx flows on to x_l through the residual.
    nodes.push(node('Mul', [dx, 'x0'], `dz${l}`), node('Mul', [dx, `z${l}`], `viaZ${l}`));
    if (dx0) nodes.push(node('Add', [dx0, `viaZ${l}`], `dx0acc${l}`));
    dx0 = dx0 ? `dx0acc${l}` : `viaZ${l}`;
    nodes.push(biasSum(`dz${l}`, `grad_${names[names.length - 1]}`));
    if (layer.kind === 'cross') {
      nodes.push(gemm([input, `dz${l}`], `grad_${names[0]}`, { a: true }), gemm([`dz${l}`, names[0], dx], `dIn${l}`, { b: true }));
    } else {
      // z = t·U + b with t = x·V: dU = tᵀ·dz, dt = dz·Uᵀ, dV = xᵀ·dt, dx = dt·Vᵀ (+ the residual's dx).
      nodes.push(
        gemm([`t${l}`, `dz${l}`], `grad_${names[1]}`, { a: true }),
        gemm([`dz${l}`, names[1]], `dt${l}`, { b: true }),
        gemm([input, `dt${l}`], `grad_${names[0]}`, { a: true }),
        gemm([`dt${l}`, names[0], dx], `dIn${l}`, { b: true }),
      );
    }
    dx = `dIn${l}`;
  }
  nodes.push(dx0 ? node('Add', [dx0, dx], 'dx0') : node('Identity', [dx], 'dx0'));
  const last = layers[layers.length - 1];
  const inputs = [
    float('dh', ['r', last.outDim]),
    float('x0', ['r', inputDim]),
    float('h', ['r', last.outDim]),
    ...keptOf(layers).map((k) => float(k.name, ['r', k.width])),
    ...params,
  ];
  return model('backward', nodes, inputs, [...grads, float('dx0', ['r', inputDim])], [zero, rowsAxis]);
}

export class OnnxDenseStack {
  private readonly kept: Record<string, Float32Array>;
  private keptRows = 0;
  private hasKept = false;

  private constructor(
    private readonly ort: Ort,
    private readonly forwardSession: InferenceSession,
    private readonly backwardSession: InferenceSession,
    private readonly layers: readonly StackLayer[],
    private readonly inputDim: number,
  ) {
    this.kept = {};
  }

  static async create(layers: readonly StackLayer[], inputDim: number): Promise<OnnxDenseStack> {
    const ort = await loadOnnxRuntime();
    const [f, b] = await Promise.all([
      ort.InferenceSession.create(forwardGraph(layers, inputDim), onnxSessionOptions()),
      ort.InferenceSession.create(backwardGraph(layers, inputDim), onnxSessionOptions()),
    ]);
    return new OnnxDenseStack(ort, f, b, layers, inputDim);
  }

  private tensor(data: Float32Array, dims: number[]): Tensor {
    return new this.ort.Tensor('float32', data, dims);
  }

  /** The layers' parameters as graph inputs (views of the model's arrays: read at this call). */
  private params(): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    this.layers.forEach((layer, l) => {
      const names = paramNames(layer, l);
      paramShapes(layer).forEach((shape, k) => (feeds[names[k]] = this.tensor(layer.params[k], shape)));
    });
    return feeds;
  }

  /** A kept value's buffer for `rows` rows (grown, never shrunk: steps and scoring batches reuse it). */
  private keptBuffer(name: string, size: number): Float32Array {
    let b = this.kept[name];
    if (!b || b.length < size) b = this.kept[name] = new Float32Array(size);
    return b.subarray(0, size);
  }

  /**
   * Runs the stack on x0 (rows × inputDim) into `out` (rows × the last layer's width). With `keep`, holds what backward
   * needs (in buffers of this stack's, until the next forward).
   */
  async forward(x0: Float32Array, rows: number, keep: boolean, out: Float32Array): Promise<Float32Array> {
    const last = this.layers[this.layers.length - 1];
    const fetches: Record<string, Tensor> = { h: this.tensor(out.subarray(0, rows * last.outDim), [rows, last.outDim]) };
    if (keep) for (const k of keptOf(this.layers)) fetches[k.name] = this.tensor(this.keptBuffer(k.name, rows * k.width), [rows, k.width]);
    await this.forwardSession.run({ x0: this.tensor(x0.subarray(0, rows * this.inputDim), [rows, this.inputDim]), ...this.params() }, fetches);
    this.hasKept = keep;
    this.keptRows = rows;
    return out;
  }

  /**
   * Back-propagates dh (rows × the last layer's width) through the pass kept by the last forward: writes each layer's
   * gradients into its `grads` arrays and x0's gradient into `dx0` (rows × inputDim). `x0` and `h` are the values
   * that forward was given and returned.
   */
  async backward(dh: Float32Array, x0: Float32Array, h: Float32Array, rows: number, dx0: Float32Array): Promise<Float32Array> {
    if (!this.hasKept || this.keptRows !== rows) throw new Error('OnnxDenseStack.backward without a kept forward pass of these rows');
    const last = this.layers[this.layers.length - 1];
    const feeds: Record<string, Tensor> = {
      dh: this.tensor(dh.subarray(0, rows * last.outDim), [rows, last.outDim]),
      x0: this.tensor(x0.subarray(0, rows * this.inputDim), [rows, this.inputDim]),
      h: this.tensor(h.subarray(0, rows * last.outDim), [rows, last.outDim]),
      ...this.params(),
    };
    for (const k of keptOf(this.layers)) feeds[k.name] = this.tensor(this.keptBuffer(k.name, rows * k.width), [rows, k.width]);
    const fetches: Record<string, Tensor> = { dx0: this.tensor(dx0.subarray(0, rows * this.inputDim), [rows, this.inputDim]) };
    this.layers.forEach((layer, l) => {
      const names = paramNames(layer, l);
      paramShapes(layer).forEach((shape, k) => (fetches[`grad_${names[k]}`] = this.tensor(layer.grads[k], shape)));
    });
    await this.backwardSession.run(feeds, fetches);
    this.hasKept = false;
    return dx0;
  }

  /** Forgets the kept pass (a step that stopped before its backward pass). */
  release(): void {
    this.hasKept = false;
  }

  destroy(): void {
    void this.forwardSession.release().catch(() => undefined);
    void this.backwardSession.release().catch(() => undefined);
  }
}
