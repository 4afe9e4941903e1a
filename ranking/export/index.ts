import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { assertSafePath } from '../data/criteo-reader';
import { loadModelArtifact } from '../model-artifact';
import { loadArtifactScorer } from '../scoring';
import { buildOnnxModel } from './onnx-graph';
import { buildPreprocessingSpec } from './preprocessing';

export { buildOnnxModel, graphInterface, INPUT_CAT, INPUT_DENSE, OUTPUT, ONNX_OPSET } from './onnx-graph';
export { buildPreprocessingSpec, PREPROCESSING_FORMAT, PREPROCESSING_VERSION } from './preprocessing';
export type { PreprocessingSpec } from './preprocessing';

export const EXPORT_FORMATS = ['onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** protobuf's hard limit on one message; weights inside the file must fit it. */
const MAX_PROTO_BYTES = 2 ** 31 - 1;

/** `model.onnx` → `model.preprocessing.json` (beside it; any other name gets the suffix appended). */
export function preprocessingPathFor(onnxPath: string): string {
  const ext = path.extname(onnxPath);
  const base = ext.toLowerCase() === '.onnx' ? onnxPath.slice(0, -ext.length) : onnxPath;
  return `${base}.preprocessing.json`;
}

export interface ExportResult {
  onnxPath: string;
  preprocessingPath: string;
  onnxBytes: number;
  family: string;
}

/**
 * Exports a model artifact for serving: the ONNX graph at `outPath` and its preprocessing spec beside it, each written
 * atomically (tmp + rename).
 */
export async function exportModel(artifact: string, outPath: string, format: string = 'onnx'): Promise<ExportResult> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new Error(`unsupported export format ${JSON.stringify(format)}: supported: ${EXPORT_FORMATS.join(', ')}`);
  }
  assertSafePath(outPath, 'output');
  const { header, tensors } = await loadModelArtifact(artifact);
  const weightBytes = Object.values(tensors).reduce((s, t) => s + t.byteLength, 0);
  if (weightBytes > MAX_PROTO_BYTES * 0.9) {
    throw new Error(`model ${artifact} has ${weightBytes} bytes of weights: too large for one ONNX file (2 GiB protobuf limit)`);
  }
  const specPath = preprocessingPathFor(outPath);
  const onnx = buildOnnxModel(header, tensors, {
    artifact,
    producerVersion: packageVersion(),
    preprocessingFile: path.basename(specPath),
  });
  const scorer = await loadArtifactScorer(artifact);
  const spec = await buildPreprocessingSpec(header, { artifact, onnxFile: path.basename(outPath) }, (rows) => scorer.score(rows));
  await writeAtomically(outPath, onnx);
  await writeAtomically(specPath, JSON.stringify(spec, null, 2) + '\n');
  return { onnxPath: outPath, preprocessingPath: specPath, onnxBytes: onnx.byteLength, family: header.family };
}

async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await fs.promises.writeFile(tmp, data);
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    // Name the file asked for, not the temporary one beside it.
    const err = e as NodeJS.ErrnoException;
    throw new ExportWriteError(`cannot write ${file}: ${err.code ?? err.message}`, { cause: e });
  }
}

/** The ONNX file or its spec could not be written (unwritable or missing directory, full disk, …). */
export class ExportWriteError extends Error {}

function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
