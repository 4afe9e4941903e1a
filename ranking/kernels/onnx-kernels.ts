import type { DenseKernels } from './dense-kernels';
import { fmInteractionReference } from './reference';
import { AttributeType, DataType, encodeModel, type Node, type ValueInfo } from '../export/onnx-proto';

/**
 * The dense kernels on ONNX Runtime's CPU execution provider (`onnxruntime-node`): each product is a one-node ONNX
 * graph (Gemm, with the bias, ReLU, gating or residual add that follows it fused into the same graph), run on
 * Microsoft's MLAS GEMM, which uses the CPU's own vector units (AVX2/AVX-512 FMA on x86-64, NEON on ARM). WebAssembly
 * cannot reach those: measured on DCN's 256×312·312×312 product, MLAS needs about a quarter of tfjs-wasm's CPU time
 * (bench/dense.ts, bench/results/dense.md). The graphs are built here with the exporter's ONNX encoder, once per
 * process, with symbolic dimensions, so one session serves every shape.
 *
 * One intra-op thread: a training process is one core's worth of work, and a campaign's `parallel` runs fill the
 * others — examples per CPU-second is what a machine's throughput follows. Inputs are handed over as views of the
 * caller's arrays and outputs written straight into the caller's buffers (ONNX Runtime's pre-allocated outputs),
 * so a training step allocates no arrays here either.
 *
 * Optional like tfjs-wasm: the package is loaded on first use, and `onnxRuntimeAvailable()` says whether it can be.
 */

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

/** Whether onnxruntime-node can be loaded in this process (a devDependency: absent from a production install). */
export function onnxRuntimeAvailable(): boolean {
  try {
    require.resolve('onnxruntime-node');
    return true;
  } catch {
    return false;
  }
}

let ortPromise: Promise<Ort> | null = null;
/** onnxruntime-node, loaded on first use (once per process). */
export function loadOnnxRuntime(): Promise<Ort> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ortPromise ??= Promise.resolve().then(() => require('onnxruntime-node') as Ort);
  return ortPromise;
}

/** How every Rankwright session runs: one thread (see above), the graph optimised, warnings only. */
export function onnxSessionOptions(): import('onnxruntime-node').InferenceSession.SessionOptions {
  return { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 };
}

const float = (name: string, shape: string[]): ValueInfo => ({ name, elemType: DataType.FLOAT, shape });
const gemm = (inputs: string[], output: string, trans: { a?: boolean; b?: boolean } = {}): Node => ({
  opType: 'Gemm',
  input: inputs,
  output: [output],
  attribute: [
    ...(trans.a ? [{ name: 'transA', type: AttributeType.INT, i: 1 }] : []),
    ...(trans.b ? [{ name: 'transB', type: AttributeType.INT, i: 1 }] : []),
  ],
});

/** The graphs, by what they compute. Dimension names: r rows, i a layer's input width, o its output width. */
const GRAPHS = {
  /** y = x·W + b */
  affine: { nodes: [gemm(['x', 'w', 'b'], 'y')], inputs: [float('x', ['r', 'i']), float('w', ['i', 'o']), float('b', ['o'])], outputs: ['y'] },
  /** y = relu(x·W + b) */
  affineRelu: {
    nodes: [gemm(['x', 'w', 'b'], 'p'), { opType: 'Relu', input: ['p'], output: ['y'] }],
    inputs: [float('x', ['r', 'i']), float('w', ['i', 'o']), float('b', ['o'])],
    outputs: ['y'],
  },
  /** z = t·W + b, y = x0 ⊙ z + x_l (a cross layer: t = x_l at full rank, x_l·V at low rank) */
  crossGated: {
    nodes: [gemm(['t', 'w', 'b'], 'z'), { opType: 'Mul', input: ['x0', 'z'], output: ['g'] }, { opType: 'Add', input: ['g', 'xl'], output: ['y'] }],
    inputs: [float('t', ['r', 'i']), float('w', ['i', 'o']), float('b', ['o']), float('x0', ['r', 'o']), float('xl', ['r', 'o'])],
    outputs: ['z', 'y'],
  },
  /** dx = dy·Wᵀ */
  inputGradient: { nodes: [gemm(['dy', 'w'], 'dx', { b: true })], inputs: [float('dy', ['r', 'o']), float('w', ['i', 'o'])], outputs: ['dx'] },
  /** dx = dy·Wᵀ + addend */
  inputGradientPlus: {
    nodes: [gemm(['dy', 'w', 'addend'], 'dx', { b: true })],
    inputs: [float('dy', ['r', 'o']), float('w', ['i', 'o']), float('addend', ['r', 'i'])],
    outputs: ['dx'],
  },
  /** dW = xᵀ·dy */
  weightGradient: { nodes: [gemm(['x', 'dy'], 'dw', { a: true })], inputs: [float('x', ['r', 'i']), float('dy', ['r', 'o'])], outputs: ['dw'] },
} satisfies Record<string, { nodes: Node[]; inputs: ValueInfo[]; outputs: string[] }>;
type GraphName = keyof typeof GRAPHS;

const OUTPUT_SHAPES: Record<string, string[]> = { y: ['r', 'o'], z: ['r', 'o'], dx: ['r', 'i'], dw: ['i', 'o'] };

function graphBytes(name: GraphName): Uint8Array {
  const g = GRAPHS[name];
  return encodeModel({
    irVersion: 8,
    opset: 17,
    producerName: 'rankwright',
    producerVersion: '1',
    docString: `Rankwright dense kernel: ${name}`,
    graphName: name,
    nodes: g.nodes,
    initializers: [],
    inputs: g.inputs,
    outputs: g.outputs.map((o) => float(o, OUTPUT_SHAPES[o])),
    metadata: {},
  });
}

export class OnnxRuntimeKernels implements DenseKernels {
  readonly backend = 'onnxruntime';
  /**
   * Whether a DCN on these kernels runs its whole dense stack as two ONNX graphs a step (ranking/models/dcn-onnx-stack.ts)
   * instead of one product at a time through this interface with TypeScript loops between. On by default; off leaves
   * the interface path, which tests compare it with.
   */
  readonly denseStack: boolean;

  constructor(opts: { denseStack?: boolean } = {}) {
    this.denseStack = opts.denseStack ?? true;
  }
  private readonly sessions = new Map<GraphName, Promise<Session>>();

  private session(name: GraphName): Promise<Session> {
    let s = this.sessions.get(name);
    if (!s) {
      s = loadOnnxRuntime().then((ort) => ort.InferenceSession.create(graphBytes(name), onnxSessionOptions()));
      this.sessions.set(name, s);
    }
    return s;
  }

  /**
   * Runs graph `name` on `feeds` (array and shape each), writing each output into the buffer given for it (a new
   * array where none is), and returns the outputs in the graph's order.
   */
  private async run(
    name: GraphName,
    feeds: Record<string, [Float32Array, number[]]>,
    outs: Record<string, [Float32Array | null | undefined, number[]]>,
  ): Promise<Float32Array[]> {
    const [ort, session] = await Promise.all([loadOnnxRuntime(), this.session(name)]);
    const inputs: Record<string, import('onnxruntime-node').Tensor> = {};
    for (const [k, [data, dims]] of Object.entries(feeds)) inputs[k] = new ort.Tensor('float32', data, dims);
    const buffers: Float32Array[] = [];
    const fetches: Record<string, import('onnxruntime-node').Tensor> = {};
    for (const [k, [out, dims]] of Object.entries(outs)) {
      const size = dims.reduce((a, b) => a * b, 1);
      const buffer = out ? out.subarray(0, size) : new Float32Array(size);
      buffers.push(buffer);
      fetches[k] = new ort.Tensor('float32', buffer, dims);
    }
    await session.run(inputs, fetches);
    return buffers;
  }

  async affine(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number, relu: boolean, out?: Float32Array) {
    const [y] = await this.run(
      relu ? 'affineRelu' : 'affine',
      { x: [x, [rows, inDim]], w: [w, [inDim, outDim]], b: [b, [outDim]] },
      { y: [out, [rows, outDim]] },
    );
    return y;
  }

  async crossLayer(x0: Float32Array, xl: Float32Array, w: Float32Array, b: Float32Array, rows: number, dim: number, out?: Float32Array) {
    return this.crossGated(xl, w, b, x0, xl, rows, dim, dim, null, out ?? new Float32Array(rows * dim));
  }

  async crossGated(
    t: Float32Array,
    w: Float32Array,
    b: Float32Array,
    x0: Float32Array,
    xl: Float32Array,
    rows: number,
    inDim: number,
    dim: number,
    z: Float32Array | null,
    out: Float32Array,
  ) {
    const outputs = await this.run(
      'crossGated',
      { t: [t, [rows, inDim]], w: [w, [inDim, dim]], b: [b, [dim]], x0: [x0, [rows, dim]], xl: [xl, [rows, dim]] },
      // Training keeps z for the backward pass; scoring fetches y alone (z stays inside ONNX Runtime).
      { ...(z ? { z: [z, [rows, dim]] as [Float32Array, number[]] } : {}), y: [out, [rows, dim]] },
    );
    return outputs[outputs.length - 1];
  }

  async inputGradient(dy: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number, out?: Float32Array) {
    const [dx] = await this.run('inputGradient', { dy: [dy, [rows, outDim]], w: [w, [inDim, outDim]] }, { dx: [out, [rows, inDim]] });
    return dx;
  }

  async inputGradientPlus(dy: Float32Array, w: Float32Array, addend: Float32Array, rows: number, inDim: number, outDim: number, out: Float32Array) {
    const [dx] = await this.run(
      'inputGradientPlus',
      { dy: [dy, [rows, outDim]], w: [w, [inDim, outDim]], addend: [addend, [rows, inDim]] },
      { dx: [out, [rows, inDim]] },
    );
    return dx;
  }

  async weightGradient(x: Float32Array, dy: Float32Array, rows: number, inDim: number, outDim: number, out?: Float32Array) {
    const [dw] = await this.run('weightGradient', { x: [x, [rows, inDim]], dy: [dy, [rows, outDim]] }, { dw: [out, [inDim, outDim]] });
    return dw;
  }

  async fmInteraction(e: Float32Array, rows: number, fields: number, dim: number) {
    // Memory-bound (O(fields·dim) per row): a graph call would cost as much as the loop.
    return fmInteractionReference(e, rows, fields, dim);
  }

  destroy(): void {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) void s.then((session) => session.release()).catch(() => undefined);
  }
}
