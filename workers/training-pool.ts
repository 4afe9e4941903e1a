import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { DataConfig, FieldPairSignal, KnobValue, TrainingProgress } from '../contracts';
import type { EvaluateJobRequest, JobSpec } from '../ranking/external-job';
import type { BaselineResearch } from '../contracts/research';
import type { TrainExperimentRequest, TrainExperimentResult } from '../ranking/experiment';
import type { DataDescription } from '../ranking/data/describe';
import type { ResearchOptions } from '../ranking/research';
import { BadRowFailure, TrainingFailure } from '../ranking/failure';
import { SharedDatasets, type DatasetAnswer, type DatasetRequest, type SharedDatasetsSnapshot } from './dataset-share';

/**
 * The training pool: the training queue's CPU-heavy activities (trainModel, describeData, measureInteractions,
 * researchBaseline) run in worker threads, one job per thread, so a worker with N concurrent trainings really uses N
 * cores and its own event loop stays free for heartbeats, progress events and cancellation (no TMPRL1104).
 *
 * Threads rather than child processes: a thread starts in a fraction of the time, shares the process's environment
 * (SHARE_ENV: RANKWRIGHT_HOME, RANKWRIGHT_GPU_MODE…), and V8 bounds its heap on its own (resourceLimits), so an
 * out-of-memory ends that thread alone, not the worker. Checkpoints and artifacts go through the stores on disk, so only references, progress and summaries cross the thread boundary.
 *
 * Threads outlive their jobs: each keeps ranking/data/load-data.ts's dataset cache (the last two datasets), so the
 * next training on the same data skips the load. The threads share what they load (workers/dataset-share.ts): a
 * dataset's rows live once, in shared memory, however many threads train on it, and a dataset is loaded once even
 * when several threads ask for it at once (its typed arrays are outside the heap limit below).
 */

/** Settings: the thread count and each thread's heap limit (MB of V8 old generation). */
export interface TrainingPoolSettings {
  threads: number;
  maxOldGenerationSizeMb: number;
}

/**
 * Threads: RANKWRIGHT_TRAINING_THREADS, else the worker's maxConcurrentTraining, else the CPU cores (each training is
 * single-threaded). Heap per thread: RANKWRIGHT_TRAINING_HEAP_MB, else half the machine's memory split between the
 * threads (the rest is for the tensors and datasets in typed arrays, which the heap limit does not count, the main
 * thread and the OS), at least 512 MB and never above the main thread's own V8 heap limit.
 */
export function trainingPoolSettings(maxConcurrentTraining?: number, env: NodeJS.ProcessEnv = process.env): TrainingPoolSettings {
  const threads =
    positiveInt(env.RANKWRIGHT_TRAINING_THREADS, 'RANKWRIGHT_TRAINING_THREADS') ?? maxConcurrentTraining ?? Math.max(1, os.availableParallelism());
  const configured = positiveInt(env.RANKWRIGHT_TRAINING_HEAP_MB, 'RANKWRIGHT_TRAINING_HEAP_MB');
  return { threads, maxOldGenerationSizeMb: configured ?? defaultHeapMb(threads) };
}

function defaultHeapMb(threads: number): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const machine = constrained > 0 && constrained < os.totalmem() ? constrained : os.totalmem();
  const share = Math.floor(machine / 2 / threads / 2 ** 20);
  const mainLimit = Math.floor(v8.getHeapStatistics().heap_size_limit / 2 ** 20);
  return Math.min(mainLimit, Math.max(512, share));
}

function positiveInt(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${JSON.stringify(raw)} must be a positive whole number`);
  return n;
}

/** What a thread runs: plain data only (configs, references); callbacks stay in the main thread as hooks. */
export type ThreadJob =
  | { kind: 'train'; request: Omit<TrainExperimentRequest, 'onProgress' | 'onCheckpoint' | 'onWarning' | 'onAlive' | 'signal'>; checkpoints: boolean }
  | { kind: 'describeData'; data: DataConfig }
  | { kind: 'measureInteractions'; data: DataConfig; artifact: string; options?: { sampleRows?: number } }
  | { kind: 'researchBaseline'; data: DataConfig; artifact: string; options?: ResearchOptions }
  | { kind: 'prepareExternalJob'; data: DataConfig; jobId: string; params: Record<string, KnobValue> }
  | { kind: 'evaluateExternalJob'; request: EvaluateJobRequest };

export type ThreadResult<J extends ThreadJob> = J extends { kind: 'train' }
  ? TrainExperimentResult
  : J extends { kind: 'describeData' }
    ? DataDescription
    : J extends { kind: 'measureInteractions' }
      ? FieldPairSignal[]
      : J extends { kind: 'prepareExternalJob' }
        ? JobSpec
        : J extends { kind: 'evaluateExternalJob' }
          ? Omit<TrainExperimentResult, 'progress'>
          : BaselineResearch;

/** The main thread's side of a job: what the thread's messages call, and the activity's cancellation. */
export interface JobHooks {
  onProgress?(p: TrainingProgress): void;
  /** A checkpoint was written to `file` (the attempt's one checkpoint, replaced in place). */
  onCheckpoint?(file: string, p: TrainingProgress): void;
  /** The job survived something a reviewer should hear of (e.g. a checkpoint it could not resume from). */
  onWarning?(message: string): void;
  /**
   * Called on the thread's "still scoring" messages, and every few seconds from submission to the end: the job is
   * alive as long as it waits for a thread or its thread lives (a dead thread fails the job at once; a dead process
   * stops these calls). So a long data load or scoring pass never reads as a dead worker; the price is that a thread
   * stuck forever is only caught by the activity's start-to-close timeout.
   */
  onAlive?(): void;
  signal?: AbortSignal;
}

export type ToThread =
  | { type: 'run'; jobId: number; job: ThreadJob }
  | { type: 'cancel'; jobId: number }
  | { type: 'clearDatasetCache' }
  | { type: 'dataset'; answer: DatasetAnswer };

export type FromThread =
  | { type: 'progress'; jobId: number; progress: TrainingProgress }
  | { type: 'checkpoint'; jobId: number; file: string; progress: TrainingProgress }
  | { type: 'warning'; jobId: number; message: string }
  | { type: 'alive'; jobId: number }
  | { type: 'done'; jobId: number; result: unknown }
  | { type: 'failed'; jobId: number; error: SerializedError }
  /** The thread's dataset loader asks or tells the pool's registry of shared datasets (not tied to a job). */
  | { type: 'dataset'; request: DatasetRequest }
  /** Row-cache uploads in flight in the thread now (sent at each change; see rowCacheUploadsInFlight). */
  | { type: 'rowCacheUploads'; inFlight: number };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  training?: { failureClass: TrainingFailure['failureClass']; lastProgress: TrainingProgress[]; trainSeconds?: number };
  badRow?: { file: string; line: number; problem: string };
}

/**
 * A thread that ran past its heap limit (ERR_WORKER_OUT_OF_MEMORY). A RangeError whose message says "out of memory",
 * like the allocation failures V8 throws, so resourceFailureOf classes it `resource` and the retry policy retries a
 * smaller model.
 */
export class ThreadOutOfMemory extends RangeError {
  constructor(limitMb: number) {
    super(`out of memory: the training thread ran past its ${limitMb} MB heap limit (RANKWRIGHT_TRAINING_HEAP_MB) and was replaced`);
    this.name = 'ThreadOutOfMemory';
  }
}

/** How long a cancelled job may take to stop on its own before its thread is terminated (and replaced). */
const CANCEL_GRACE_MS = 10_000;
/** How often a job says it is alive while it waits for or runs on a thread (well within any heartbeat timeout). */
const ALIVE_EVERY_MS = 5_000;

/**
 * The thread entry is TypeScript and threads don't inherit the tsx require hook: each thread installs it first, by
 * absolute path, so this works the same under mocha, bin/rankwright.js and `tsx`.
 */
const THREAD_BOOT = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(path.join(__dirname, 'training-thread.ts'))});`;

interface PendingJob {
  jobId: number;
  job: ThreadJob;
  hooks: JobHooks;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** Set once the job's thread is asked to stop: the error the job ends with, whatever the thread answers. */
  cancelledWith?: unknown;
  alive?: NodeJS.Timeout;
  cleanup: (() => void)[];
}

interface PoolThread {
  worker: Worker;
  job?: PendingJob;
  /** Set when the thread is being terminated: its exit is expected. */
  retiring?: boolean;
}

export class TrainingPool {
  readonly settings: TrainingPoolSettings;
  private readonly threads = new Set<PoolThread>();
  private readonly queue: PendingJob[] = [];
  private nextJobId = 1;
  private closed = false;
  /** Row-cache uploads in flight per thread, and who waits for a change of their sum. */
  private readonly uploads = new Map<PoolThread, number>();
  private uploadsChanged: (() => void)[] = [];
  private readonly datasets = new SharedDatasets<PoolThread>((thread, answer) => {
    // A thread that ended meanwhile has left the registry (threadEnded): nothing waits for this answer.
    if (this.threads.has(thread)) thread.worker.postMessage({ type: 'dataset', answer } satisfies ToThread);
  });

  constructor(settings: Partial<TrainingPoolSettings> = {}) {
    this.settings = { ...trainingPoolSettings(), ...settings };
  }

  /** Threads alive now (started on demand, up to settings.threads). */
  get size(): number {
    return this.threads.size;
  }

  /**
   * Runs a job on a free thread (queued in order when every thread is busy). Rejects with the thread's error (a
   * TrainingFailure rebuilt), with ThreadOutOfMemory when the thread ran out of heap, or with the signal's reason when
   * cancelled.
   */
  run<J extends ThreadJob>(job: J, hooks: JobHooks = {}): Promise<ThreadResult<J>> {
    if (this.closed) return Promise.reject(new Error('the training pool is closed'));
    return new Promise<ThreadResult<J>>((resolve, reject) => {
      const pending: PendingJob = { jobId: this.nextJobId++, job, hooks, resolve: resolve as (v: unknown) => void, reject, cleanup: [] };
      const signal = hooks.signal;
      if (signal?.aborted) return reject(abortReason(signal));
      if (signal) {
        const onAbort = () => this.cancel(pending, abortReason(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        pending.cleanup.push(() => signal.removeEventListener('abort', onAbort));
      }
      if (hooks.onAlive) pending.alive = setInterval(() => hooks.onAlive?.(), ALIVE_EVERY_MS);
      this.queue.push(pending);
      this.dispatch();
    });
  }

  /**
   * Empties every thread's dataset cache (ranking/data/load-data.ts clearDatasetCache, per thread): for a bench that
   * times each run's data load as a fresh worker's. A training under way keeps the dataset it holds.
   */
  clearDatasetCaches(): void {
    for (const t of this.threads) t.worker.postMessage({ type: 'clearDatasetCache' } satisfies ToThread);
  }

  /** The datasets the threads share now, and how many loads and reuses sharing has seen (tests, benches). */
  sharedDatasets(): SharedDatasetsSnapshot {
    return this.datasets.snapshot();
  }

  /**
   * Row-cache uploads in flight in the pool's threads (ranking/data/shared-row-cache.ts): a cache parsed by a training
   * goes on uploading after its job ends, and a thread terminated (the process exiting) cuts it off.
   */
  rowCacheUploadsInFlight(): number {
    let n = 0;
    for (const count of this.uploads.values()) n += count;
    return n;
  }

  /** Resolves at the next change of rowCacheUploadsInFlight (an upload started or ended, a thread gone). */
  rowCacheUploadsChange(): Promise<void> {
    return new Promise((resolve) => this.uploadsChanged.push(resolve));
  }

  private setUploads(thread: PoolThread, inFlight: number | undefined): void {
    if (inFlight) this.uploads.set(thread, inFlight);
    else this.uploads.delete(thread);
    for (const resolve of this.uploadsChanged.splice(0)) resolve();
  }

  /** Terminates every thread; jobs still running or queued reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) this.settle(pending, new Error('the training pool closed'));
    await Promise.all([...this.threads].map((t) => this.retire(t, new Error('the training pool closed'))));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let thread = [...this.threads].find((t) => !t.job && !t.retiring);
      if (!thread) {
        if (this.threads.size >= this.settings.threads) return;
        thread = this.startThread();
      }
      const pending = this.queue.shift()!;
      thread.job = pending;
      // A busy thread keeps the process alive (a test awaiting its training); an idle one does not (a CLI can exit).
      thread.worker.ref();
      thread.worker.postMessage({ type: 'run', jobId: pending.jobId, job: pending.job } satisfies ToThread);
    }
  }

  private startThread(): PoolThread {
    const worker = new Worker(THREAD_BOOT, {
      eval: true,
      env: SHARE_ENV,
      resourceLimits: { maxOldGenerationSizeMb: this.settings.maxOldGenerationSizeMb },
    });
    const thread: PoolThread = { worker };
    this.threads.add(thread);
    worker.on('message', (message: FromThread) => this.onMessage(thread, message));
    let death: unknown;
    worker.on('error', (err: Error & { code?: string }) => {
      death = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new ThreadOutOfMemory(this.settings.maxOldGenerationSizeMb) : err;
    });
    worker.on('exit', (code) => {
      this.threads.delete(thread);
      this.datasets.threadEnded(thread);
      this.setUploads(thread, undefined);
      const job = thread.job;
      thread.job = undefined;
      if (job && !thread.retiring) {
        this.settle(job, death ?? new Error(`the training thread exited (code ${code}) in the middle of its job`));
      }
      // A dead thread is replaced by the next job that needs one (started on demand, like the first).
      if (!this.closed) this.dispatch();
    });
    return thread;
  }

  private onMessage(thread: PoolThread, message: FromThread): void {
    if (message.type === 'dataset') return this.datasets.handle(thread, message.request);
    if (message.type === 'rowCacheUploads') return this.setUploads(thread, message.inFlight);
    const job = thread.job;
    if (!job || job.jobId !== message.jobId) return;
    const hooks = job.hooks;
    switch (message.type) {
      case 'progress':
        return hooks.onProgress?.(message.progress);
      case 'checkpoint':
        return hooks.onCheckpoint?.(message.file, message.progress);
      case 'warning':
        return hooks.onWarning?.(message.message);
      case 'alive':
        return hooks.onAlive?.();
      case 'done':
      case 'failed':
        thread.job = undefined;
        thread.worker.unref();
        if (message.type === 'done') this.settle(job, undefined, message.result);
        else this.settle(job, rebuildError(message.error));
        this.dispatch();
        return;
    }
  }

  /** Stops a job: dropped from the queue, or its thread asked to stop and terminated if it doesn't within the grace. */
  private cancel(pending: PendingJob, reason: unknown): void {
    const queued = this.queue.indexOf(pending);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      return this.settle(pending, reason);
    }
    const thread = [...this.threads].find((t) => t.job === pending);
    if (!thread || pending.cancelledWith !== undefined) return;
    pending.cancelledWith = reason;
    thread.worker.postMessage({ type: 'cancel', jobId: pending.jobId } satisfies ToThread);
    const timer = setTimeout(() => {
      if (thread.job !== pending) return;
      thread.job = undefined;
      this.settle(pending, reason);
      void this.retire(thread);
    }, CANCEL_GRACE_MS);
    timer.unref();
    pending.cleanup.push(() => clearTimeout(timer));
  }

  private async retire(thread: PoolThread, reason?: unknown): Promise<void> {
    thread.retiring = true;
    const job = thread.job;
    thread.job = undefined;
    if (job) this.settle(job, reason ?? new Error('the training thread was terminated'));
    await thread.worker.terminate();
  }

  private settle(pending: PendingJob, err: unknown, result?: unknown): void {
    clearInterval(pending.alive);
    pending.cleanup.splice(0).forEach((f) => f());
    // A cancelled job ends as cancelled, whatever the thread answered while stopping.
    if (pending.cancelledWith !== undefined) pending.reject(pending.cancelledWith);
    else if (err !== undefined) pending.reject(err);
    else pending.resolve(result);
  }
}

/** What a cancelled training threw before it ran in a thread (ranking/trainer.ts throwIfAborted): the signal's reason. */
function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error(typeof reason === 'string' ? reason : 'training aborted');
  e.name = 'AbortError';
  return e;
}

const ERRORS: Record<string, new (message: string) => Error> = { RangeError, TypeError, SyntaxError, ReferenceError, EvalError, URIError };

/** The thread's error as the main thread would have seen it thrown: a TrainingFailure stays one, a RangeError one. */
export function rebuildError(e: SerializedError): Error {
  let err: Error;
  if (e.badRow) {
    const badRow = new BadRowFailure(e.badRow.file, e.badRow.line, e.badRow.problem);
    // A bad row met while streaming the training rows comes after training began.
    if (e.training?.trainSeconds !== undefined) badRow.trainSeconds = e.training.trainSeconds;
    err = badRow;
  } else if (e.training) err = new TrainingFailure(e.training.failureClass, e.message, e.training.lastProgress, e.training.trainSeconds);
  else err = new (ERRORS[e.name] ?? Error)(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  if (e.code) (err as NodeJS.ErrnoException).code = e.code;
  return err;
}

let shared: TrainingPool | undefined;

/**
 * The process's training pool, started on first use. createWorkers configures it first (its maxConcurrentTraining);
 * an activity called outside a worker (tests, benches) gets the default settings.
 */
export function trainingPool(): TrainingPool {
  shared ??= new TrainingPool();
  return shared;
}

/** Sets the process's pool size before first use; a pool already started (an earlier worker in this process) is kept. */
export function configureTrainingPool(settings: TrainingPoolSettings): TrainingPool {
  if (!shared) shared = new TrainingPool(settings);
  return shared;
}
