import {
  DataConfig,
  ModelConfig,
  type BadRows,
  type DataConfigInput,
  type Metrics,
  type ModelConfigInput,
  type TrainingProgress,
  type ValidationMetrics,
  fieldOfName,
} from '../contracts';
import { InvalidInputError, parseOrExplain } from '../contracts/errors';
import { engineModel, engineSegmentField, fieldLabels, modelFieldProblems } from '../contracts/field-names';
import { LoadedDataset, inMemoryTrainRows, loadDataset } from './data/load-data';
import { RowBlock, valueName } from './data/rows';
import {
  type CalibrationReport,
  type LevelPrior,
  CROSS_FIT_FOLDS,
  chooseCalibrator,
  calibrationSummary,
  applyCalibrator,
  correctNegativeSampling,
  crossFittedCalibration,
  sampleNegatives,
} from './calibration';
import {
  EncodedRows,
  buildFeatureSpec,
  listColumnsOfData,
  pooledFieldCount,
  encodeRows,
  featureTableRows,
  featureTableRowsAt,
  slotCounts,
  slotNames,
  slotTablesOf,
  takeEncodedRows,
} from './features';
import { encodedCollisionRate } from './hash-report';
import { TrainingFailure } from './failure';
import { selectGpuBackendAsync, sharedKernels } from './kernels';
import {
  auc,
  calibration,
  clickCount,
  clickThroughRate,
  logLoss,
  normalizedEntropy,
  normalizedEntropyStdErr,
  pairedNormalizedEntropyStdErr,
  regret,
  segmentNormalizedEntropy,
} from './metrics';
import { loadCheckpoint, saveCheckpoint, saveModelArtifact } from './model-artifact';
import { CheckpointUnreadable, checkpointIntervalMs, checkpointPath, type CheckpointSlot } from '../store/checkpoints';
import { createModel } from './models/create-model';
import { estimateTrainingBytes, type RankingModel } from './models/model';
import { crossFittedScoresWith, pairedStdErrAgainst } from './paired-comparison';
import type { EarlyStopping, LearningCurvePoint, ValidationSplit } from '../contracts';
import { validationSplitOf } from './learning-curve';
import { DiskTrainRows } from './streamed-rows';
import { runTrainingLoop, type StreamedRows } from './trainer';

/** Default memory budget for parameters + optimizer state. */
export const DEFAULT_MAX_MEMORY_BYTES = 1.5 * 2 ** 30;
const SEGMENTS_REPORTED = 10;

export interface TrainExperimentRequest {
  data: DataConfigInput | DataConfig;
  model: ModelConfigInput | ModelConfig;
  segmentField?: string;
  /**
   * Where this run keeps its checkpoint (one file, replaced in place; store/checkpoints.ts), whether to resume from
   * what is there, and the training time between checkpoints (default RANKWRIGHT_CHECKPOINT_MINUTES, 3 minutes). A
   * checkpoint that is missing, damaged or written for another config or dataset is not resumed from: the run starts
   * from its first step and says why through onWarning.
   */
  checkpoint?: { slot: CheckpointSlot; resume?: boolean; everyMs?: number };
  onProgress?(p: TrainingProgress): void;
  /** A checkpoint was written (its file, size and step); the run goes on when the promise settles. */
  onCheckpoint?(written: { path: string; bytes: number; step: number }, p: TrainingProgress): void | Promise<void>;
  /** Something the run survived but a reviewer should hear of (a lost checkpoint it could not resume from). */
  onWarning?(message: string): void;
  /**
   * Called between slices of the scoring after training (validation, test): a worker scoring a big DCN is alive, and
   * an activity heartbeats from here so Temporal doesn't take the long pass for a dead worker.
   */
  onAlive?(): void;
  signal?: AbortSignal;
  /**
   * Memory budget: parameters, optimizer state and best-validation weights must fit it (else a resource failure),
   * and training rows are held in memory only up to its worth (IN_MEMORY_BYTES_PER_TRAIN_ROW each); a bigger
   * training set is parsed once into a row cache on disk and streamed (out-of-core). Default 1.5 GiB.
   */
  maxMemoryBytes?: number;
  /** Most training rows held in memory, overriding what maxMemoryBytes implies (tests and benches force streaming). */
  maxInMemoryTrainRows?: number;
  /** Rows shuffled together when training streams (default DEFAULT_WINDOW_ROWS). */
  streamWindowRows?: number;
  /**
   * The campaign baseline's model: when given, the NE change is also tested paired on the same test rows, and on the
   * same validation rows (validationMetrics.neDeltaStdErr).
   */
  baselineArtifact?: string;
}

export interface TrainExperimentResult {
  artifact: string;
  /** Test metrics: scored for every run, as information (a campaign decides on validationMetrics). */
  metrics: Metrics;
  /** Best validation NE while training (before calibration): what early stopping kept. */
  validationNe: number;
  /**
   * The served (calibrated) model on the validation rows, its calibrator cross-fitted (see calibrateOnValidation):
   * what a campaign decides on. Absent when validation lacks clicks or non-clicks (no NE to measure), and on
   * summaries recorded before it existed.
   */
  validationMetrics?: ValidationMetrics;
  neStdErr: number;
  /** Paired standard error of (NE − baseline NE), when a baseline artifact was given. */
  neDeltaStdErr?: number;
  dataFingerprint: string;
  /** Malformed rows the data load skipped (count per file, first examples). */
  badRows: BadRows;
  /**
   * The calibrator chosen and fitted on validation (stored in the artifact; the test metrics are after it). Always
   * set by trainExperiment; optional because training summaries recorded before calibration existed lack it.
   */
  calibration?: CalibrationReport;
  trainSeconds: number;
  modelBytes: number;
  progress: TrainingProgress[];
  /** The rows that decided training (a validation file, the held-out tail of train, or planted validation rows). */
  validation: ValidationSplit;
  /** Evaluations, early stop, and the step whose (best-validation) weights the model kept. */
  earlyStopping: EarlyStopping;
  /** Train and validation NE per evaluation (≤ 200 points; also stored in the artifact). */
  learningCurve: LearningCurvePoint[];
}

/**
 * Trains one model on one dataset and evaluates it on the test set: the engine's whole job for one experiment.
 * Failures come out as TrainingFailure (diverged / resource / bad-data); cancellation as the signal's reason.
 */
export async function trainExperiment(req: TrainExperimentRequest): Promise<TrainExperimentResult> {
  const clock: TrainingClock = {};
  try {
    return await trainAndEvaluate(req, clock);
  } catch (err) {
    // A failure once training began cost training time (a divergence in the second epoch, a full disk at the model's
    // save): its report says how much, so a campaign's trainSeconds budget counts it.
    if (err instanceof TrainingFailure && clock.started !== undefined && err.trainSeconds === undefined)
      err.trainSeconds = (performance.now() - clock.started) / 1000;
    throw err;
  }
}

/** When training began (the end of encoding: the clock of a finished run's trainSeconds); unset before that. */
interface TrainingClock {
  started?: number;
}

async function trainAndEvaluate(req: TrainExperimentRequest, clock: TrainingClock): Promise<TrainExperimentResult> {
  const data = parseOrExplain(DataConfig, req.data, 'data config');
  // Field names are checked against the data and turned into slots here too, for callers that reach the engine
  // without a workflow or CLI input (which did it already; on slot names it changes nothing).
  const written = parseOrExplain(ModelConfig, req.model, 'model config');
  const problems = modelFieldProblems(written, data);
  if (problems.length)
    throw new InvalidInputError(
      'model config',
      problems.map((p) => `${p.path.join('.')}: ${p.message}`),
    );
  const model = engineModel(written, data);
  const segmentField = engineSegmentField(req.segmentField ?? 'C1', data);
  // Without a budget or a row limit the loader's default applies (RANKWRIGHT_IN_MEMORY_TRAIN_ROWS or the default
  // budget's rows), so describe/research and training share the process's loaded dataset.
  const maxInMemoryTrainRows = req.maxInMemoryTrainRows ?? (req.maxMemoryBytes !== undefined ? inMemoryTrainRows(req.maxMemoryBytes) : undefined);
  const dataset = await loadDataset(data, { maxInMemoryTrainRows });
  const onDisk = dataset.trainOnDisk;
  requireBothClasses(dataset.test, 'test');
  requireBothClasses(onDisk ? { rows: onDisk.rows, labels: onDisk.labels } : dataset.train, 'train');
  // Streamed: the statistics the spec is fitted on (dense moments, quantiles, auto table sizes) come from an evenly
  // spaced sample of the training rows (dataset.train, ≤ TRAIN_SAMPLE_ROWS).
  const spec = buildFeatureSpec(model, dataset.train, dataset.active, listColumnsOfData(data));
  const { denseSlots } = slotCounts(spec);

  const budget = req.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
  // DCN's dense layers are as wide as its fields (a list is one), not its slots.
  const { catFields } = pooledFieldCount(spec);
  const needed = estimateTrainingBytes(model, catFields, denseSlots, featureTableRows(spec));
  if (needed > budget) {
    let bits = model.hashBits;
    const bytesAt = (b: number) => estimateTrainingBytes({ ...model, hashBits: b }, catFields, denseSlots, featureTableRowsAt(spec, b));
    while (bits > 8 && bytesAt(bits) > budget) bits--;
    // Fields with a fixed hashBits of their own keep their tables whatever hashBits is: name them when they are the problem.
    const names = slotNames(spec);
    const own = slotTablesOf(spec).flatMap((t, s) => (!t.shared && t.distinct === undefined ? [`${names[s]} 2^${t.bits}`] : []));
    const remedy =
      bytesAt(bits) <= budget
        ? `hashBits ${bits} would fit`
        : `even hashBits 8 would not fit with the fields' own tables (${own.join(', ')} rows): lower their hashBits`;
    throw new TrainingFailure(
      'resource',
      `${model.family} with hashBits ${model.hashBits}${'embeddingDim' in model ? ` and embeddingDim ${model.embeddingDim}` : ''} needs about ${formatBytes(needed)} for parameters, optimizer state and the best-validation weights, over the ${formatBytes(budget)} budget; ${remedy}`,
    );
  }

  // negativeSamplingRate < 1: the model trains on a seeded subsample of train's non-clicks (every click kept).
  // Streamed, the same rows are kept (the same draw over all training labels), read window by window.
  // Sample weights travel with the kept rows unchanged: the model then learns the weighted click odds times 1/r, and
  // the same correction as without weights (correctNegativeSampling) undoes it — scaling kept non-clicks by 1/r as
  // well would count the downsampling twice.
  const allTrain = encodeRows(dataset.train, spec);
  let train: EncodedRows | StreamedRows;
  if (onDisk) {
    const kept = model.negativeSamplingRate < 1 ? sampleNegatives(onDisk.labels, model.negativeSamplingRate, model.seed) : undefined;
    train = new DiskTrainRows(onDisk, spec, { kept, seed: model.seed, windowRows: req.streamWindowRows });
  } else {
    train =
      model.negativeSamplingRate < 1 ? takeEncodedRows(allTrain, sampleNegatives(allTrain.labels, model.negativeSamplingRate, model.seed)) : allTrain;
  }
  const validation = encodeRows(dataset.validation, spec);
  const test = encodeRows(dataset.test, spec);
  await selectGpuBackendAsync();
  const ranker = createModel(model, spec, sharedKernels());

  const resume = req.checkpoint?.resume ? await resumableState(req.checkpoint.slot, model, dataset.fingerprint, req.onWarning) : undefined;
  const slot = req.checkpoint?.slot;

  const validationSplit = validationSplitOf(data, validation.rows);
  const started = (clock.started = performance.now());
  const { progress, validationNe, learningCurve, earlyStopping } = await runTrainingLoop(ranker, model, train, validation, {
    onProgress: req.onProgress,
    signal: req.signal,
    resume,
    // Validation NE of what the model will serve: corrected for negative downsampling (calibration comes after).
    adjustScores: model.negativeSamplingRate < 1 ? (s) => correctAll(s, model.negativeSamplingRate) : undefined,
    checkpointEveryMs: req.checkpoint ? (req.checkpoint.everyMs ?? checkpointIntervalMs()) : undefined,
    onCheckpoint: slot
      ? async (state, p) => {
          const written = await saveCheckpoint(
            slot,
            {
              family: model.family,
              config: model,
              dataFingerprint: dataset.fingerprint,
              featureSpec: spec,
              scalars: state.scalars,
              cursor: state.cursor,
            },
            state.tensors,
          );
          await req.onCheckpoint?.({ ...written, step: state.cursor.step }, p);
        }
      : undefined,
  });

  const prior: LevelPrior = { trainCtr: trainClickRate(dataset) };
  const { calibrator, report: calibration, crossFitted } = await calibrateOnValidation(ranker, model, validation, prior, req.onAlive);
  const scores = new Float64Array(test.rows);
  await predictInSlices(ranker, test, scores, req.onAlive);
  applyCalibrator(calibrator, scores);
  const trainSeconds = (performance.now() - started) / 1000;
  const metrics = evaluate(scores, dataset.test, dataset, segmentField);
  // Streamed: on the encoded sample (the collision rate is a rate; the sample estimates it).
  metrics.hashCollisionRate = encodedCollisionRate(spec, allTrain);
  if (!Number.isFinite(metrics.ne)) throw new TrainingFailure('diverged', `test predictions are not finite (NE ${metrics.ne})`, progress.slice(-50));
  const neDeltaStdErr = req.baselineArtifact ? await pairedStdErrAgainst(req.baselineArtifact, dataset.test, scores) : undefined;
  // The baseline's validation scores are cross-fitted the same way as this model's, on the same folds: a fair pair.
  const baselineValidation = req.baselineArtifact ? await crossFittedScoresWith(req.baselineArtifact, dataset.validation, prior) : undefined;
  const validationMetrics = evaluateValidation(crossFitted, dataset.validation, dataset, segmentField, baselineValidation);
  const testWeights = dataset.test.weights;
  const saved = await saveModelArtifact(
    {
      family: model.family,
      config: model,
      dataFingerprint: dataset.fingerprint,
      featureSpec: spec,
      metrics,
      validationNe,
      calibrator,
      ...('schema' in dataset.config ? { schema: dataset.config.schema } : {}),
    },
    ranker.weightTensors(),
    { learningCurve, earlyStopping, validation: validationSplit },
  );
  return {
    artifact: saved.ref,
    metrics,
    validationNe,
    ...(validationMetrics ? { validationMetrics } : {}),
    neStdErr: normalizedEntropyStdErr(scores, dataset.test.labels, testWeights),
    neDeltaStdErr,
    dataFingerprint: dataset.fingerprint,
    badRows: dataset.badRows,
    calibration,
    trainSeconds,
    modelBytes: saved.bytes,
    progress,
    validation: validationSplit,
    earlyStopping,
    learningCurve,
  };
}

/**
 * The state to resume from: the slot's checkpoint when it can be read and was written for this very config and
 * dataset. Anything else (missing, damaged, another config) is not a failure: the attempt trains from its first step
 * (the same model, only later) and the warning says why.
 */
async function resumableState(slot: CheckpointSlot, model: ModelConfig, fingerprint: string, onWarning?: (message: string) => void) {
  try {
    const cp = await loadCheckpoint(slot);
    // Parsed again: a checkpoint written before a config key existed holds its default, as `model` does.
    const same = JSON.stringify(ModelConfig.parse(cp.header.config)) === JSON.stringify(model) && cp.header.dataFingerprint === fingerprint;
    if (!same) throw new CheckpointUnreadable(`checkpoint ${checkpointPath(slot)} was written for another model config or dataset`);
    return { tensors: cp.tensors, scalars: cp.header.scalars, cursor: cp.header.cursor };
  } catch (err) {
    if (!(err instanceof CheckpointUnreadable)) throw err;
    onWarning?.(`${err.message}; training again from the first step`);
    return undefined;
  }
}

/** Rows scored between two onAlive calls: a few seconds of DCN scoring on a busy 2-core machine. */
const SCORING_SLICE = 4096;

/** Scores every row, slice by slice, saying it is alive after each (same scores as one pass: rows are independent). */
async function predictInSlices(ranker: RankingModel, rows: EncodedRows, out: Float64Array, onAlive?: () => void): Promise<void> {
  for (let from = 0; from < rows.rows; from += SCORING_SLICE) {
    await ranker.predict(rows, from, Math.min(rows.rows, from + SCORING_SLICE), out);
    onAlive?.();
  }
}

/**
 * Fits the model's calibrator on the validation split (the rows the trainer evaluated on; never train): the raw
 * predictions are corrected for negative downsampling, then the configured calibration (or `auto`'s choice) is
 * fitted to them, its level shrunk toward the training click rate by the validation clicks (`prior`). The report
 * carries validation log loss, NE and calibration before and after (after: in-sample for the calibrator).
 *
 * `crossFitted` are the validation scores the served model's validation metrics are measured on: each fold's rows
 * calibrated by the same form fitted (and shrunk) on the other folds (crossFittedCalibration), so a calibrator cannot
 * flatter the rows it was fitted on. The stored calibrator is the one fitted on all rows.
 */
async function calibrateOnValidation(ranker: RankingModel, model: ModelConfig, validation: EncodedRows, prior: LevelPrior, onAlive?: () => void) {
  const raw = new Float64Array(validation.rows);
  await predictInSlices(ranker, validation, raw, onAlive);
  const rate = model.negativeSamplingRate;
  const corrected = rate < 1 ? correctAll(raw.slice(), rate) : raw;
  const w = validation.weights;
  // Weighted validation rows: the calibrator is fitted, chosen, shrunk, cross-fitted and reported weighted.
  const choice = chooseCalibrator(model.calibration, corrected, validation.labels, w, prior);
  const calibrator = rate < 1 ? { ...choice.calibrator, negativeSamplingRate: rate } : choice.calibrator;
  const after = applyCalibrator(calibrator, raw.slice());
  const crossFitted = crossFittedCalibration(choice.candidate, corrected, validation.labels, w, prior);
  const report: CalibrationReport = {
    method: calibrator.method,
    requested: choice.requested,
    negativeSamplingRate: rate,
    reason: choice.reason,
    heldOutLogloss: choice.heldOutLogloss,
    ...(choice.shrinkage ? { shrinkage: choice.shrinkage } : {}),
    ...(choice.candidate !== 'none' ? { crossFitFolds: CROSS_FIT_FOLDS } : {}),
    validation: {
      rows: validation.rows,
      before: { ...calibrationSummary(corrected, validation.labels, w), ne: normalizedEntropy(corrected, validation.labels, w) },
      after: { ...calibrationSummary(after, validation.labels, w), ne: normalizedEntropy(after, validation.labels, w) },
    },
  };
  return { calibrator, report, crossFitted };
}

/**
 * The training rows' click rate, the level a calibrator is shrunk toward: over all training rows (the full labels
 * when train streams from disk; there it has no weights), weighted with sample weights. Counted before negative
 * downsampling, so it is the rate the model's corrected predictions aim at, with no correction of its own.
 */
export function trainClickRate(dataset: LoadedDataset): number {
  const onDisk = dataset.trainOnDisk;
  if (onDisk && !dataset.train.weights) return onDisk.rows > 0 ? clickCount(onDisk.labels.subarray(0, onDisk.rows)) / onDisk.rows : 0;
  return clickThroughRate(dataset.train.labels, dataset.train.weights);
}

function correctAll(scores: Float64Array, rate: number): Float64Array {
  for (let i = 0; i < scores.length; i++) scores[i] = correctNegativeSampling(scores[i], rate);
  return scores;
}

/**
 * Test-set metrics (+ oracle NE and regret on planted data, + per-segment NE). Rows with sample weights are weighed
 * by them in every metric (`ctr` is the weighted CTR); `examples` stays the row count.
 */
export function evaluate(scores: Float64Array, test: RowBlock, dataset: LoadedDataset, segmentField: string): Metrics {
  const y = test.labels;
  const w = test.weights;
  const ne = normalizedEntropy(scores, y, w);
  const metrics: Metrics = {
    ne,
    auc: auc(scores, y, w),
    logloss: logLoss(scores, y, w),
    calibration: calibration(scores, y, w),
    ctr: clickThroughRate(y, w),
    examples: test.rows,
  };
  if (dataset.oracle) {
    metrics.oracleNe = dataset.oracle.ne;
    metrics.regret = regret(ne, dataset.oracle.ne);
  }
  // Segments are named as the data names the field: a declared schema's column (`ad_category`), not its slot.
  const segmentName = fieldLabels(dataset.config)[segmentField] ?? segmentField;
  metrics.segments = segmentNormalizedEntropy(scores, y, segmentKeys(test, dataset, segmentField), segmentName, SEGMENTS_REPORTED, w);
  return metrics;
}

/**
 * The served model's metrics on the validation rows, from `scores` (a built-in model's cross-fitted calibrated
 * scores; an external trainer's predictions as delivered): NE with its standard error, AUC, calibration, weighted
 * clicks, per-segment NE (the test metrics' segment field), and, given the baseline's scores on the same rows made
 * the same way, the paired standard error of the NE change. Undefined when the rows lack clicks or non-clicks (by
 * weight): NE is not defined there, and NaN would not survive the trip through a workflow's history.
 */
export function evaluateValidation(
  scores: Float64Array,
  block: RowBlock,
  dataset: LoadedDataset,
  segmentField: string,
  baselineScores?: Float64Array,
): ValidationMetrics | undefined {
  const y = block.labels;
  const w = block.weights;
  const ctr = clickThroughRate(y, w);
  if (!(ctr > 0 && ctr < 1)) return undefined;
  const segmentName = fieldLabels(dataset.config)[segmentField] ?? segmentField;
  const neDeltaStdErr = baselineScores ? pairedNormalizedEntropyStdErr(scores, baselineScores, y, w) : undefined;
  return {
    ne: normalizedEntropy(scores, y, w),
    auc: auc(scores, y, w),
    logloss: logLoss(scores, y, w),
    calibration: calibration(scores, y, w),
    ctr,
    examples: block.rows,
    clicks: clickCount(y, w),
    neStdErr: normalizedEntropyStdErr(scores, y, w),
    ...(neDeltaStdErr !== undefined && Number.isFinite(neDeltaStdErr) ? { neDeltaStdErr } : {}),
    segments: segmentNormalizedEntropy(scores, y, segmentKeys(block, dataset, segmentField), segmentName, SEGMENTS_REPORTED, w),
  };
}

/** Segment key of every row: the readable value of `field` ('' when missing). */
export function segmentKeys(block: RowBlock, dataset: LoadedDataset, field: string): string[] {
  const keys = new Array<string>(block.rows);
  const named = fieldOfName(field);
  if (!named || named.index >= (named.kind === 'dense' ? block.denseWidth : block.categoricalWidth))
    throw new Error(`segmentField ${JSON.stringify(field)} is not a field of these rows (I1..I${block.denseWidth}, C1..C${block.categoricalWidth})`);
  if (named.kind === 'categorical') {
    const c = named.index;
    for (let r = 0; r < block.rows; r++) keys[r] = valueName(dataset.valueNames, c, block.categorical[r * block.categoricalWidth + c]);
    return keys;
  }
  const d = named.index;
  for (let r = 0; r < block.rows; r++) {
    const v = block.dense[r * block.denseWidth + d];
    keys[r] = Number.isNaN(v) ? '' : String(v);
  }
  return keys;
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** NE, AUC and calibration are undefined without both clicks and non-clicks: say so as bad data, not as a NaN. */
function requireBothClasses(block: Pick<RowBlock, 'rows' | 'labels'>, split: string): void {
  const clicks = block.labels.reduce((sum, y) => sum + y, 0);
  if (block.rows > 0 && (clicks === 0 || clicks === block.rows)) {
    throw new TrainingFailure(
      'bad-data',
      `the ${split} set has only ${clicks === 0 ? 'non-clicks (label 0)' : 'clicks (label 1)'} in its ${block.rows} rows; NE and AUC need both`,
    );
  }
}
