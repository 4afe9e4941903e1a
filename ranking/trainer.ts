import type { EarlyStopping, LearningCurvePoint, ModelConfig, TrainingProgress } from '../contracts';
import type { EncodedRows } from './features';
import { TrainingFailure } from './failure';
import { downsampleCurve, resolveEvaluateEvery } from './learning-curve';
import { backgroundEntropy, clickThroughRate, logLoss, normalizedEntropy } from './metrics';
import type { RankingModel, Tensor } from './models/model';
import { SeededRandom } from './rng';

/** Work between yields to the event loop, so a Temporal worker can heartbeat and deliver cancellation. */
const YIELD_EVERY_MS = 50;
const MAX_PROGRESS_EVENTS = 1000;
/** Train NE is measured on this many training rows (evenly spaced, fixed for the run). */
const TRAIN_NE_SAMPLE_ROWS = 10_000;
/** The cursor keeps at most 2× this many curve points (thinned to every other one when it overflows). */
const CURVE_POINTS_KEPT = 200;
/** Rows scored between yields during an evaluation (a multiple of every family's scoring batch). */
const EVALUATION_CHUNK_ROWS = 65_536;
/** Checkpoint tensors holding the best-validation weights carry this prefix. */
const BEST_PREFIX = 'best.';

/** Where a run stands; all of it goes into a checkpoint. */
export interface TrainingCursor {
  step: number;
  epoch: number;
  stepInEpoch: number;
  examples: number;
  windowLoss: number;
  /** Rows of the window — with sample weights, their weight sum (what windowLoss sums over). */
  windowExamples: number;
  lastValidationNe: number;
  progress: TrainingProgress[];
  /** Validation evaluations so far. */
  evaluations: number;
  /** The best validation NE so far and where it was reached (null / 0 before the first evaluation). */
  bestValidationNe: number | null;
  bestStep: number;
  bestEpoch: number;
  /** The best evaluation's curve point (kept even when thinning drops it from `curve`). */
  bestPoint: LearningCurvePoint | null;
  /** Evaluations since the last improvement by more than minDelta; at `patience` the run stops. */
  sinceImprovement: number;
  stoppedEarly: boolean;
  /** Every `curveStride`-th evaluation's point (first included); the last evaluation's point beside it. */
  curve: LearningCurvePoint[];
  curveStride: number;
  lastPoint: LearningCurvePoint | null;
}

/** What a training run hands back: its log, the kept weights' validation NE, and how validation decided it. */
export interface TrainingLoopResult {
  progress: TrainingProgress[];
  /** Validation NE of the kept (best-validation) weights; NaN without validation rows. */
  validationNe: number;
  /** Train and validation NE per evaluation, at most 200 points (first, best and last always among them). */
  learningCurve: LearningCurvePoint[];
  earlyStopping: EarlyStopping;
}

/** One training step's rows: positions [start, end) of `order` index rows of `data`. */
export interface TrainBatch {
  data: EncodedRows;
  order: Int32Array;
  start: number;
  end: number;
}

/**
 * Training rows that are not held in memory (out-of-core training, ranking/streamed-rows.ts): the loop asks for an
 * epoch's batches from a row position on, and for a fixed sample of rows to measure train NE on.
 */
export interface StreamedRows {
  /** Rows per epoch. */
  readonly rows: number;
  /** Their labels (1 byte a row). */
  readonly labels: Uint8Array;
  /**
   * Their sample weights, when the rows carry any (a declared schema's weight column; such data is not streamed
   * today, so DiskTrainRows never sets it). Batches carry them in `data.weights`.
   */
  readonly weights?: Float32Array;
  /** Rows ⌊k·rows/count⌋ for k < count, in order (all rows when there are fewer): the same rows evenlySpacedRows picks. */
  sample(count: number): Promise<EncodedRows>;
  /** The epoch's batches of `batch` rows from row position `from` (a multiple of `batch`) to its end. */
  batches(epoch: number, batch: number, from: number): AsyncIterable<TrainBatch>;
}

type ModelState = { tensors: Record<string, Tensor>; scalars: Record<string, number>; cursor: TrainingCursor };

export interface TrainingLoopOptions {
  onProgress?(p: TrainingProgress): void;
  /**
   * Called with the state to save every `checkpointEveryMs` of training, and every `checkpointEvery` steps when the
   * config sets that bound. The loop awaits it and touches no weight until it returns, so the state's tensors are the
   * model's own (no copy of a 590 MB DCN is made): the caller must be done with them when its promise settles.
   */
  onCheckpoint?(state: ModelState, p: TrainingProgress): Promise<void>;
  /** Training time between checkpoints (default: none by time, only `checkpointEvery` steps when set). */
  checkpointEveryMs?: number;
  signal?: AbortSignal;
  /** A checkpoint's state: the model's tensors (and `best.*`, the best-validation weights), scalars and cursor. */
  resume?: ModelState;
  /**
   * Applied to validation scores before their NE (e.g. the negative-downsampling correction every served prediction
   * goes through); train NE stays on raw scores, against the rows the model trains on.
   */
  adjustScores?(scores: Float64Array): void;
}

/**
 * The training loop shared by all families: shuffled epochs (a permutation per (seed, epoch), recomputed on
 * resume instead of stored), learning-rate decay per epoch, progress events with a running log loss, divergence
 * detection, checkpoints and cooperative yielding/cancellation — and training decided by validation: an evaluation
 * every `evaluateEvery` steps and at every epoch's end (validation NE, and train NE of the same weights on a fixed
 * sample of train rows), a copy of the best-validation weights, a stop after `patience` evaluations without
 * improvement, and the best weights restored at the end. `epochs` is the maximum. The best weights and the whole
 * evaluation state travel in checkpoints, so a resumed run ends with the same model as an uninterrupted one.
 */
export async function runTrainingLoop(
  model: RankingModel,
  config: ModelConfig,
  train: EncodedRows | StreamedRows,
  validation: EncodedRows,
  opts: TrainingLoopOptions,
): Promise<TrainingLoopResult> {
  const streamed = 'batches' in train ? train : null;
  const started = performance.now();
  const n = train.rows;
  const batch = config.batchSize;
  const stepsPerEpoch = Math.ceil(n / batch);
  const totalSteps = stepsPerEpoch * config.epochs;
  const progressEvery = Math.max(1, Math.min(50, Math.floor(totalSteps / 25)));
  // Weighted rows: the weighted CTR's entropy (what a weighted train NE and the running weighted log loss compare to).
  const trainEntropy = backgroundEntropy(clickThroughRate(train.labels, train.weights));
  // Loss above this after warm-up means the run is exploding, not learning (the base-rate predictor scores H(ctr)).
  const explodingLoss = Math.max(1.5, 2.5 * trainEntropy);
  const evaluateEvery = resolveEvaluateEvery(config.evaluateEvery, stepsPerEpoch);
  const trainSample = streamed ? await streamed.sample(TRAIN_NE_SAMPLE_ROWS) : evenlySpacedRows(train as EncodedRows, TRAIN_NE_SAMPLE_ROWS);

  const cursor: TrainingCursor = opts.resume
    ? { ...freshCursor(), ...opts.resume.cursor, progress: [...opts.resume.cursor.progress], curve: [...(opts.resume.cursor.curve ?? [])] }
    : freshCursor();
  // The best-validation weights so far (copies: the model keeps training).
  let best: Record<string, Tensor> | undefined;
  if (opts.resume) {
    model.loadState(opts.resume.tensors, opts.resume.scalars);
    const saved = Object.entries(opts.resume.tensors).filter(([k]) => k.startsWith(BEST_PREFIX));
    if (saved.length > 0) best = Object.fromEntries(saved.map(([k, t]) => [k.slice(BEST_PREFIX.length), t]));
  }

  const emit = (p: TrainingProgress) => {
    cursor.progress.push(p);
    if (cursor.progress.length > MAX_PROGRESS_EVENTS) cursor.progress.splice(0, cursor.progress.length - MAX_PROGRESS_EVENTS);
    opts.onProgress?.(p);
  };
  const fail = (message: string): never => {
    throw new TrainingFailure('diverged', message, cursor.progress.slice(-50));
  };
  let lastYield = performance.now();
  let lastCheckpointAt = performance.now();
  const checkpointDue = () =>
    (config.checkpointEvery !== undefined && cursor.step % config.checkpointEvery === 0) ||
    performance.now() - lastCheckpointAt >= (opts.checkpointEveryMs ?? Infinity);
  const yieldNow = async () => {
    if (performance.now() - lastYield < YIELD_EVERY_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    lastYield = performance.now();
    throwIfAborted(opts.signal);
  };
  const score = async (rows: EncodedRows): Promise<Float64Array> => {
    // In chunks with yields between them: a long validation split must not starve heartbeats or cancellation.
    const scores = new Float64Array(rows.rows);
    for (let from = 0; from < rows.rows; from += EVALUATION_CHUNK_ROWS) {
      await model.predict(rows, from, Math.min(rows.rows, from + EVALUATION_CHUNK_ROWS), scores);
      await yieldNow();
    }
    return scores;
  };
  const validationNeNow = async (): Promise<number> => {
    const scores = await score(validation);
    opts.adjustScores?.(scores);
    // Weighted validation rows: weighted NE (against the weighted CTR) — what early stopping and the kept weights go by.
    const ne = normalizedEntropy(scores, validation.labels, validation.weights);
    if (Number.isNaN(ne) && scores.some((s) => !Number.isFinite(s)))
      fail(`training diverged in epoch ${cursor.epoch + 1}: validation predictions are not finite`);
    return ne;
  };
  /** One evaluation: both NEs, the curve, the best copy, the patience count. Returns true when training should stop. */
  const evaluate = async (gradNorm: number): Promise<boolean> => {
    const ne = await validationNeNow();
    cursor.lastValidationNe = ne;
    emit({ ...progressEvent(cursor, started, gradNorm), runningLogloss: cursor.progress.at(-1)?.runningLogloss ?? 0, validationNe: ne });
    // A validation split without both classes has no NE: nothing to decide by (the run goes on to its last epoch).
    if (!Number.isFinite(ne)) return false;
    // Train NE: the same weights on the fixed train sample (raw scores: the rows are the ones the model trains on),
    // against the whole training set's base rate.
    const trainNe = logLoss(await score(trainSample), trainSample.labels, trainSample.weights) / trainEntropy;
    const point: LearningCurvePoint = { step: cursor.step, epoch: cursor.epoch + 1, examples: cursor.examples, trainNe, validationNe: ne };
    recordPoint(cursor, point);
    // Patience counts evaluations that do not beat the best by more than minDelta; the kept weights are always the
    // lowest validation NE seen (a small gain still moves them, it just doesn't buy more time).
    const improved = cursor.bestValidationNe === null || ne < cursor.bestValidationNe - config.minDelta;
    if (cursor.bestValidationNe === null || ne < cursor.bestValidationNe) {
      cursor.bestValidationNe = ne;
      cursor.bestStep = cursor.step;
      cursor.bestEpoch = cursor.epoch + 1;
      cursor.bestPoint = point;
      best = copyTensors(model.weightTensors());
    }
    cursor.sinceImprovement = improved ? 0 : cursor.sinceImprovement + 1;
    return config.patience > 0 && cursor.sinceImprovement >= config.patience;
  };

  epochs: for (; cursor.epoch < config.epochs && !cursor.stoppedEarly; cursor.epoch++, cursor.stepInEpoch = 0) {
    const lrScale = config.lrDecay ** cursor.epoch;
    // In memory: one permutation of all rows per (seed, epoch). Streamed: the rows' own shuffled batches.
    const batches = streamed
      ? streamed.batches(cursor.epoch, batch, cursor.stepInEpoch * batch)
      : inMemoryBatches(train as EncodedRows, config, cursor, batch);
    for await (const { data, order, start, end } of batches) {
      const { lossSum, gradNorm, weightSum } = await model.trainStep(data, order, start, end, lrScale);
      cursor.stepInEpoch++;
      cursor.step++;
      cursor.examples += end - start;
      cursor.windowLoss += lossSum;
      // Weighted: the running log loss is Σ w·loss / Σ w (examples stay a row count).
      cursor.windowExamples += weightSum ?? end - start;
      if (!Number.isFinite(lossSum) || !Number.isFinite(gradNorm)) {
        emit(progressEvent(cursor, started, gradNorm));
        fail(
          `training diverged at step ${cursor.step} (epoch ${cursor.epoch + 1}): loss or gradient became ${Number.isNaN(lossSum) || Number.isNaN(gradNorm) ? 'NaN' : 'infinite'} (learningRate ${config.learningRate}${config.gradientClip ? `, gradientClip ${config.gradientClip}` : ', no gradientClip'})`,
        );
      }
      if (cursor.step % progressEvery === 0 || cursor.stepInEpoch === stepsPerEpoch) {
        const p = progressEvent(cursor, started, gradNorm);
        cursor.windowLoss = 0;
        cursor.windowExamples = 0;
        emit(p);
        if (cursor.step >= 20 && p.runningLogloss > explodingLoss) {
          fail(
            `training diverged at step ${cursor.step} (epoch ${cursor.epoch + 1}): running log loss ${p.runningLogloss.toFixed(3)} exceeds ${explodingLoss.toFixed(3)} (2.5× the base-rate log loss) — the loss is exploding (learningRate ${config.learningRate})`,
          );
        }
      }
      // Validation (progressive training loss can hide overfitting; validation can't) every evaluateEvery steps and
      // at the epoch's end — before the checkpoint, so a checkpoint holds its step's evaluation and best weights.
      if (validation.rows > 0 && (cursor.stepInEpoch % evaluateEvery === 0 || cursor.stepInEpoch === stepsPerEpoch)) {
        if (await evaluate(gradNorm)) {
          cursor.stoppedEarly = true;
          break epochs;
        }
      }
      if (opts.onCheckpoint && checkpointDue()) {
        await opts.onCheckpoint(snapshot(model, cursor, best), progressEvent(cursor, started, gradNorm));
        lastCheckpointAt = performance.now();
      }
      await yieldNow();
    }
    throwIfAborted(opts.signal);
  }

  // Keep the best-validation weights: restore them unless the last evaluation was the best.
  let validationNe = cursor.lastValidationNe;
  if (best && cursor.bestStep !== cursor.step) {
    model.loadWeights(best);
    validationNe = await validationNeNow();
  } else if (cursor.bestValidationNe !== null) {
    validationNe = cursor.bestValidationNe;
  }
  const earlyStopping: EarlyStopping = {
    patience: config.patience,
    evaluateEvery,
    evaluations: cursor.evaluations,
    stoppedEarly: cursor.stoppedEarly,
    epochsRun: cursor.stoppedEarly ? cursor.epoch + 1 : config.epochs,
    bestStep: cursor.bestValidationNe === null ? cursor.step : cursor.bestStep,
    bestEpoch: cursor.bestValidationNe === null ? config.epochs : cursor.bestEpoch,
  };
  if (cursor.bestValidationNe !== null) earlyStopping.bestValidationNe = cursor.bestValidationNe;
  const curve = cursor.lastPoint && cursor.curve.at(-1)?.step !== cursor.lastPoint.step ? [...cursor.curve, cursor.lastPoint] : cursor.curve;
  return { progress: cursor.progress, validationNe, learningCurve: downsampleCurve(curve, undefined, cursor.bestPoint ?? undefined), earlyStopping };
}

function freshCursor(): TrainingCursor {
  return {
    step: 0,
    epoch: 0,
    stepInEpoch: 0,
    examples: 0,
    windowLoss: 0,
    windowExamples: 0,
    lastValidationNe: NaN,
    progress: [],
    evaluations: 0,
    bestValidationNe: null,
    bestStep: 0,
    bestEpoch: 0,
    bestPoint: null,
    sinceImprovement: 0,
    stoppedEarly: false,
    curve: [],
    curveStride: 1,
    lastPoint: null,
  };
}

/** The epoch's batches in memory: steps stepInEpoch.. of one seeded permutation of all rows. */
function* inMemoryBatches(train: EncodedRows, config: ModelConfig, cursor: TrainingCursor, batch: number): Generator<TrainBatch> {
  const n = train.rows;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new SeededRandom(config.seed * 1_000_003 + cursor.epoch).shuffle(order);
  for (let start = cursor.stepInEpoch * batch; start < n; start += batch) yield { data: train, order, start, end: Math.min(n, start + batch) };
}

/** Counts an evaluation and keeps its point when it falls on the stride; thins the kept points when they overflow. */
function recordPoint(cursor: TrainingCursor, point: LearningCurvePoint): void {
  const ordinal = cursor.evaluations++;
  cursor.lastPoint = point;
  if (ordinal % cursor.curveStride !== 0) return;
  cursor.curve.push(point);
  if (cursor.curve.length > 2 * CURVE_POINTS_KEPT) {
    // Points sit at ordinals 0, s, 2s, …: keeping the even ones leaves 0, 2s, 4s, … — the same grid at stride 2s.
    cursor.curve = cursor.curve.filter((_, i) => i % 2 === 0);
    cursor.curveStride *= 2;
  }
}

/** Up to `count` rows of `data`, evenly spaced (fixed for the run: the train sample of every evaluation). */
function evenlySpacedRows(data: EncodedRows, count: number): EncodedRows {
  if (data.rows <= count) return data;
  const { catSlots, denseSlots } = data;
  const catIndex = new Int32Array(count * catSlots);
  const denseValue = new Float32Array(count * denseSlots);
  const labels = new Uint8Array(count);
  const weights = data.weights ? new Float32Array(count) : undefined;
  for (let i = 0; i < count; i++) {
    const r = Math.floor((i * data.rows) / count);
    catIndex.set(data.catIndex.subarray(r * catSlots, (r + 1) * catSlots), i * catSlots);
    denseValue.set(data.denseValue.subarray(r * denseSlots, (r + 1) * denseSlots), i * denseSlots);
    labels[i] = data.labels[r];
    if (weights) weights[i] = data.weights![r];
  }
  const out: EncodedRows = { rows: count, catSlots, catIndex, denseSlots, denseValue, denseIndex: data.denseIndex, labels };
  if (weights) out.weights = weights;
  return out;
}

function copyTensors(tensors: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) out[k] = t.slice() as Tensor;
  return out;
}

function progressEvent(c: TrainingCursor, started: number, gradNorm: number): TrainingProgress {
  const p: TrainingProgress = {
    step: c.step,
    epoch: c.epoch + 1,
    examples: c.examples,
    runningLogloss: c.windowExamples > 0 ? c.windowLoss / c.windowExamples : (c.progress.at(-1)?.runningLogloss ?? 0),
    elapsedMs: Math.round(performance.now() - started),
  };
  if (Number.isFinite(gradNorm)) p.gradNorm = gradNorm;
  if (!Number.isFinite(p.runningLogloss)) p.runningLogloss = Number.MAX_VALUE;
  return p;
}

function snapshot(model: RankingModel, cursor: TrainingCursor, best: Record<string, Tensor> | undefined): ModelState {
  // No copies: the loop awaits the checkpoint's write before the next step (see onCheckpoint). The best weights are
  // already a copy that is replaced, never written into.
  const tensors = { ...model.stateTensors() };
  if (best) for (const [k, t] of Object.entries(best)) tensors[BEST_PREFIX + k] = t;
  return { tensors, scalars: { ...model.scalars() }, cursor: { ...cursor, progress: cursor.progress.slice(-50), curve: cursor.curve.slice() } };
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) {
    const reason = signal.reason;
    if (reason instanceof Error) throw reason;
    const e = new Error(typeof reason === 'string' ? reason : 'training aborted');
    e.name = 'AbortError';
    throw e;
  }
}
