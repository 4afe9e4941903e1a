import type { ModelConfig, TrainingProgress } from '../contracts';
import type { EncodedRows } from './features';
import { TrainingFailure } from './failure';
import { backgroundEntropy, clickThroughRate, normalizedEntropy } from './metrics';
import type { RankingModel, Tensor } from './models/model';
import { SeededRandom } from './rng';

/** Work between yields to the event loop, so a Temporal worker can heartbeat and deliver cancellation. */
const YIELD_EVERY_MS = 50;
const MAX_PROGRESS_EVENTS = 1000;

/** Where a run stands; all of it goes into a checkpoint. */
export interface TrainingCursor {
  step: number;
  epoch: number;
  stepInEpoch: number;
  examples: number;
  windowLoss: number;
  windowExamples: number;
  lastValidationNe: number;
  progress: TrainingProgress[];
}

export interface TrainingLoopOptions {
  onProgress?(p: TrainingProgress): void;
  /** Called every `checkpointEvery` steps with the serialised state; the caller stores it and may await. */
  onCheckpoint?(state: { tensors: Record<string, Tensor>; scalars: Record<string, number>; cursor: TrainingCursor }, p: TrainingProgress): Promise<void>;
  signal?: AbortSignal;
  resume?: { tensors: Record<string, Tensor>; scalars: Record<string, number>; cursor: TrainingCursor };
}

/**
 * The training loop shared by all families: shuffled epochs (a permutation per (seed, epoch), recomputed on
 * resume instead of stored), learning-rate decay per epoch, progress events with a running log loss, validation
 * NE at epoch ends, divergence detection, checkpoints and cooperative yielding/cancellation.
 */
export async function runTrainingLoop(
  model: RankingModel,
  config: ModelConfig,
  train: EncodedRows,
  validation: EncodedRows,
  opts: TrainingLoopOptions,
): Promise<{ progress: TrainingProgress[]; validationNe: number }> {
  const started = performance.now();
  const n = train.rows;
  const batch = config.batchSize;
  const stepsPerEpoch = Math.ceil(n / batch);
  const totalSteps = stepsPerEpoch * config.epochs;
  const progressEvery = Math.max(1, Math.min(50, Math.floor(totalSteps / 25)));
  // Loss above this after warm-up means the run is exploding, not learning (the base-rate predictor scores H(ctr)).
  const explodingLoss = Math.max(1.5, 2.5 * backgroundEntropy(clickThroughRate(train.labels)));

  const cursor: TrainingCursor = opts.resume
    ? { ...opts.resume.cursor, progress: [...opts.resume.cursor.progress] }
    : { step: 0, epoch: 0, stepInEpoch: 0, examples: 0, windowLoss: 0, windowExamples: 0, lastValidationNe: NaN, progress: [] };
  if (opts.resume) model.loadState(opts.resume.tensors, opts.resume.scalars);

  const emit = (p: TrainingProgress) => {
    cursor.progress.push(p);
    if (cursor.progress.length > MAX_PROGRESS_EVENTS) cursor.progress.splice(0, cursor.progress.length - MAX_PROGRESS_EVENTS);
    opts.onProgress?.(p);
  };
  const fail = (message: string): never => {
    throw new TrainingFailure('diverged', message, cursor.progress.slice(-50));
  };
  let lastYield = performance.now();
  let lastGradNorm = 0;

  for (; cursor.epoch < config.epochs; cursor.epoch++, cursor.stepInEpoch = 0) {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    new SeededRandom(config.seed * 1_000_003 + cursor.epoch).shuffle(order);
    const lrScale = config.lrDecay ** cursor.epoch;
    for (; cursor.stepInEpoch < stepsPerEpoch; ) {
      const start = cursor.stepInEpoch * batch;
      const end = Math.min(n, start + batch);
      const { lossSum, gradNorm } = await model.trainStep(train, order, start, end, lrScale);
      cursor.stepInEpoch++;
      cursor.step++;
      cursor.examples += end - start;
      cursor.windowLoss += lossSum;
      cursor.windowExamples += end - start;
      lastGradNorm = gradNorm;
      if (!Number.isFinite(lossSum) || !Number.isFinite(gradNorm)) {
        emit(progressEvent(cursor, started, gradNorm));
        fail(`training diverged at step ${cursor.step} (epoch ${cursor.epoch + 1}): loss or gradient became ${Number.isNaN(lossSum) || Number.isNaN(gradNorm) ? 'NaN' : 'infinite'} (learningRate ${config.learningRate}${config.gradientClip ? `, gradientClip ${config.gradientClip}` : ', no gradientClip'})`);
      }
      if (cursor.step % progressEvery === 0 || cursor.stepInEpoch === stepsPerEpoch) {
        const p = progressEvent(cursor, started, gradNorm);
        cursor.windowLoss = 0;
        cursor.windowExamples = 0;
        emit(p);
        if (cursor.step >= 20 && p.runningLogloss > explodingLoss) {
          fail(`training diverged at step ${cursor.step} (epoch ${cursor.epoch + 1}): running log loss ${p.runningLogloss.toFixed(3)} exceeds ${explodingLoss.toFixed(3)} (2.5× the base-rate log loss) — the loss is exploding (learningRate ${config.learningRate})`);
        }
      }
      // A checkpoint taken at an epoch's last step resumes straight into that epoch's validation.
      if (opts.onCheckpoint && cursor.step % config.checkpointEvery === 0) {
        await opts.onCheckpoint(snapshot(model, cursor), progressEvent(cursor, started, gradNorm));
      }
      if (performance.now() - lastYield >= YIELD_EVERY_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
        throwIfAborted(opts.signal);
      }
    }
    // Epoch end: validation NE (progressive training loss can hide overfitting; validation can't).
    if (validation.rows > 0) {
      const scores = new Float64Array(validation.rows);
      await model.predict(validation, 0, validation.rows, scores);
      const ne = normalizedEntropy(scores, validation.labels);
      if (Number.isNaN(ne) && scores.some((s) => !Number.isFinite(s))) fail(`training diverged in epoch ${cursor.epoch + 1}: validation predictions are not finite`);
      cursor.lastValidationNe = ne;
      emit({ ...progressEvent(cursor, started, lastGradNorm), runningLogloss: cursor.progress.at(-1)?.runningLogloss ?? 0, validationNe: ne });
    }
    throwIfAborted(opts.signal);
  }
  return { progress: cursor.progress, validationNe: cursor.lastValidationNe };
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

function snapshot(model: RankingModel, cursor: TrainingCursor) {
  // Copies: the model keeps training while the caller writes the checkpoint.
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(model.stateTensors())) tensors[k] = t.slice() as Tensor;
  return { tensors, scalars: { ...model.scalars() }, cursor: { ...cursor, progress: cursor.progress.slice(-50) } };
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
