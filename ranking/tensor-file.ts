import type { Tensor } from './models/model';

/**
 * The one binary container for model artifacts and checkpoints: "RWT1" | u32 header length | JSON header |
 * 8-byte-aligned raw tensors. Raw little-endian typed arrays (not JSON numbers) so a round trip is bit-exact —
 * what makes resume-from-checkpoint reproduce an uninterrupted run.
 */

const MAGIC = 'RWT1';
type DType = 'f32' | 'f64' | 'i32';

interface TensorEntry {
  name: string;
  dtype: DType;
  length: number;
  offset: number;
}

export function encodeTensorFile(header: Record<string, unknown>, tensors: Record<string, Tensor>): Uint8Array {
  return Buffer.concat(tensorFileParts(header, tensors));
}

/**
 * The same file as consecutive byte chunks: the header chunk, then each tensor's bytes (views of the tensors
 * themselves, not copies) with zero padding to 8 bytes between them. A writer that streams the parts to disk never
 * holds a second copy of a model: what keeps a 590 MB DCN checkpoint from needing 590 MB more.
 */
export function tensorFileParts(header: Record<string, unknown>, tensors: Record<string, Tensor>): Uint8Array[] {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    entries.push({ name, dtype: dtypeOf(t), length: t.length, offset });
    offset += align8(t.byteLength);
  }
  const json = Buffer.from(JSON.stringify({ ...header, tensors: entries }), 'utf8');
  const head = new Uint8Array(align8(8 + json.length));
  head.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(head.buffer).setUint32(4, json.length, true);
  head.set(json, 8);
  const parts: Uint8Array[] = [head];
  for (const e of entries) {
    const t = tensors[e.name];
    parts.push(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
    const pad = align8(t.byteLength) - t.byteLength;
    if (pad > 0) parts.push(new Uint8Array(pad));
  }
  return parts;
}

export function decodeTensorFile<H = Record<string, unknown>>(bytes: Uint8Array): { header: H; tensors: Record<string, Tensor> } {
  if (bytes.length < 8 || Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== MAGIC) throw new Error('not a Rankwright tensor file (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(4, true);
  const parsed = JSON.parse(Buffer.from(bytes.subarray(8, 8 + len)).toString('utf8')) as H & { tensors: TensorEntry[] };
  const headerEnd = align8(8 + len);
  const tensors: Record<string, Tensor> = {};
  for (const e of parsed.tensors) {
    const start = headerEnd + e.offset;
    const size = e.length * (e.dtype === 'f64' ? 8 : 4);
    if (start + size > bytes.length) throw new Error(`truncated Rankwright tensor file: tensor ${e.name} ends past the file's ${bytes.length} bytes`);
    // Copy into a fresh, aligned buffer (the source Buffer may sit at an unaligned offset of a shared pool).
    const copy = new Uint8Array(size);
    copy.set(bytes.subarray(start, start + size));
    tensors[e.name] =
      e.dtype === 'f64' ? new Float64Array(copy.buffer) : e.dtype === 'i32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  }
  return { header: parsed, tensors };
}

function dtypeOf(t: Tensor): DType {
  if (t instanceof Float64Array) return 'f64';
  if (t instanceof Int32Array) return 'i32';
  return 'f32';
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
