import type { Calibrator, DeclaredSchema, Metrics, ModelConfig } from '../contracts';
import { Calibrator as CalibratorSchema, DeclaredSchema as DeclaredSchemaContract, ModelConfig as ModelConfigSchema } from '../contracts';
import { storedModelConfig } from '../contracts/stored-config';
import type { EarlyStopping, LearningCurvePoint, ValidationSplit } from '../contracts';
import { getArtifact, putArtifact } from '../store/artifacts';
import { CheckpointUnreadable, checkpointPath, readCheckpoint, writeCheckpoint, type CheckpointSlot } from '../store/checkpoints';
import type { FeatureSpec } from './features';
import type { Tensor } from './models/model';
import type { TrainingCursor } from './trainer';
import { decodeTensorFile, encodeTensorFile, tensorFileParts } from './tensor-file';

/** Bumped on any incompatible change of what a model artifact or checkpoint holds. */
export const MODEL_FORMAT_VERSION = 1;

/** How validation decided the training that made a model: stored in its artifact (older artifacts have none). */
export interface TrainingRecord {
  /** Train and validation NE per evaluation (≤ 200 points). */
  learningCurve: LearningCurvePoint[];
  earlyStopping: EarlyStopping;
  validation: ValidationSplit;
}

export interface ModelArtifactHeader extends Partial<TrainingRecord> {
  kind: 'model';
  formatVersion: number;
  family: ModelConfig['family'];
  config: ModelConfig;
  dataFingerprint: string;
  featureSpec: FeatureSpec;
  metrics: Metrics;
  validationNe: number;
  /**
   * What turns the model's raw probabilities into calibrated ones (fitted on validation; ranking/calibration.ts).
   * Artifacts written before calibration existed have none: their scores are the raw probabilities.
   */
  calibrator?: Calibrator;
  /**
   * The declared schema of the table it was trained on (contracts/schema.ts): what lets `rankwright score` and the
   * ONNX preprocessing spec read a next day's table by its column names. Absent for Criteo and planted data.
   */
  schema?: DeclaredSchema;
}

export interface CheckpointHeader {
  kind: 'checkpoint';
  formatVersion: number;
  family: ModelConfig['family'];
  config: ModelConfig;
  dataFingerprint: string;
  featureSpec: FeatureSpec;
  scalars: Record<string, number>;
  cursor: TrainingCursor;
}

export async function saveModelArtifact(
  header: Omit<ModelArtifactHeader, 'kind' | 'formatVersion' | keyof TrainingRecord>,
  weights: Record<string, Tensor>,
  training?: TrainingRecord,
): Promise<{ ref: string; bytes: number }> {
  const bytes = encodeTensorFile({ kind: 'model', formatVersion: MODEL_FORMAT_VERSION, ...header, ...training }, weights);
  return { ref: await putArtifact(bytes), bytes: bytes.length };
}

export async function loadModelArtifact(ref: string): Promise<{ header: ModelArtifactHeader; tensors: Record<string, Tensor> }> {
  const { header, tensors } = decodeTensorFile<ModelArtifactHeader>(await getArtifact(ref));
  const external = header as unknown as { kind: string; trainer?: { name: string }; jobId?: string; model?: string };
  if (external.kind === 'external-model')
    throw new Error(
      `artifact ${ref} was trained by the external trainer ${external.trainer?.name} (job ${external.jobId}): Rankwright can't score or export it; its model file is artifact ${external.model}, for that trainer's own serving`,
    );
  if (header.kind !== 'model') throw new Error(`artifact ${ref} is a ${String(header.kind)}, not a model`);
  checkVersion(ref, header.formatVersion);
  const calibrator = header.calibrator === undefined ? undefined : CalibratorSchema.parse(header.calibrator);
  const schema = header.schema === undefined ? undefined : DeclaredSchemaContract.parse(header.schema);
  return { header: { ...header, config: ModelConfigSchema.parse(storedModelConfig(header.config)), calibrator, schema }, tensors };
}

/** Writes an attempt's checkpoint, replacing its previous one (store/checkpoints.ts); streamed, never copied whole. */
export async function saveCheckpoint(
  slot: CheckpointSlot,
  header: Omit<CheckpointHeader, 'kind' | 'formatVersion'>,
  state: Record<string, Tensor>,
): Promise<{ path: string; bytes: number }> {
  return writeCheckpoint(slot, tensorFileParts({ kind: 'checkpoint', formatVersion: MODEL_FORMAT_VERSION, ...header }, state));
}

/** Reads an attempt's checkpoint; CheckpointUnreadable when it is missing, damaged or not a checkpoint of this engine. */
export async function loadCheckpoint(slot: CheckpointSlot): Promise<{ header: CheckpointHeader; tensors: Record<string, Tensor> }> {
  const bytes = await readCheckpoint(slot);
  let decoded: { header: CheckpointHeader; tensors: Record<string, Tensor> };
  try {
    decoded = decodeTensorFile<CheckpointHeader>(bytes);
    if (decoded.header.kind !== 'checkpoint') throw new Error(`it is a ${String(decoded.header.kind)}, not a checkpoint`);
    checkVersion(checkpointPath(slot), decoded.header.formatVersion);
  } catch (err) {
    throw new CheckpointUnreadable(`checkpoint ${checkpointPath(slot)} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  // Read with what it meant when written (a DCN checkpoint without crossRank is full rank), so a checkpoint of an
  // older default is not resumed into a model of today's default.
  decoded.header.config = storedModelConfig(decoded.header.config) as ModelConfig;
  // JSON turned NaN into null; restore it.
  if (decoded.header.cursor.lastValidationNe === null) decoded.header.cursor.lastValidationNe = NaN;
  return decoded;
}

function checkVersion(ref: string, v: number): void {
  if (v !== MODEL_FORMAT_VERSION) throw new Error(`artifact ${ref} has format version ${v}; this engine reads version ${MODEL_FORMAT_VERSION}`);
}
