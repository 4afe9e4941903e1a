import { parentPort } from 'node:worker_threads';
import type { TrainingProgress } from '../contracts';
import { trainExperiment } from '../ranking/experiment';
import { describeData } from '../ranking/data/describe';
import { clearDatasetCache, shareDatasetsThrough } from '../ranking/data/load-data';
import { onRowCacheUploads } from '../ranking/data/shared-row-cache';
import { measureFieldPairSignal } from '../ranking/pair-signal';
import { researchBaseline } from '../ranking/research';
import { evaluateJob, prepareJob } from '../ranking/external-job';
import { BadRowFailure, TrainingFailure } from '../ranking/failure';
import { whileWaitingForStore } from '../store/object-store/retry';
import type { FromThread, SerializedError, ThreadJob, ToThread } from './training-pool';
import { threadDatasetShare } from './dataset-share';

/**
 * A training thread of the pool (workers/training-pool.ts): runs one CPU-heavy job at a time — a training, a data
 * description, an interaction measurement or a baseline's research — and reports back by message. It imports only
 * the ranking engine (no Temporal, no agents): every module a thread loads is heap it keeps for its whole life.
 * The thread lives across jobs, so ranking/data/load-data.ts's dataset cache still saves the reload between trainings;
 * its loads go through the pool's registry of shared datasets, so threads on the same data hold one copy of it.
 */

if (!parentPort) throw new Error('workers/training-thread.ts runs inside a worker thread of the training pool');
const port = parentPort;
const running = new Map<number, AbortController>();
const datasets = threadDatasetShare((request) => send({ type: 'dataset', request }));
shareDatasetsThrough(datasets);
// A cache this thread parsed uploads after its job ends: the pool counts them, so a worker stopping waits for them.
onRowCacheUploads((inFlight) => send({ type: 'rowCacheUploads', inFlight }));

port.on('message', (message: ToThread) => {
  if (message.type === 'cancel') {
    running.get(message.jobId)?.abort(new CancelledInThread());
    return;
  }
  if (message.type === 'clearDatasetCache') return clearDatasetCache();
  if (message.type === 'dataset') return datasets.answered(message.answer);
  const abort = new AbortController();
  running.set(message.jobId, abort);
  // A job waiting out a shared store's outage (a model or checkpoint to store, a baseline to fetch) is alive: it says
  // so at every retry, or its activity's heartbeat timeout (20 s) would give it up while the store restarts.
  whileWaitingForStore(
    () => send({ type: 'alive', jobId: message.jobId }),
    () => runJob(message.jobId, message.job, abort.signal),
  )
    .then((result) => send({ type: 'done', jobId: message.jobId, result }))
    .catch((err: unknown) => send({ type: 'failed', jobId: message.jobId, error: serializeError(err) }))
    .finally(() => running.delete(message.jobId));
});

function send(message: FromThread): void {
  port.postMessage(message);
}

async function runJob(jobId: number, job: ThreadJob, signal: AbortSignal): Promise<unknown> {
  switch (job.kind) {
    case 'train':
      return trainExperiment({
        ...job.request,
        signal,
        onProgress: (progress: TrainingProgress) => send({ type: 'progress', jobId, progress }),
        // Only the file's name crosses: the checkpoint itself is already on disk, written by this thread.
        onCheckpoint: job.checkpoints ? (written, progress) => send({ type: 'checkpoint', jobId, file: written.path, progress }) : undefined,
        onWarning: (message) => send({ type: 'warning', jobId, message }),
        onAlive: () => send({ type: 'alive', jobId }),
      });
    case 'describeData':
      return describeData(job.data);
    case 'measureInteractions':
      return measureFieldPairSignal(job.data, job.artifact, job.options);
    case 'researchBaseline':
      return researchBaseline(job.data, job.artifact, job.options);
    case 'prepareExternalJob':
      return prepareJob(job.data, job.jobId, job.params);
    case 'evaluateExternalJob':
      return evaluateJob(job.request);
  }
}

/** The main thread answers a cancellation with its own signal's reason; this one only has to stop the work. */
class CancelledInThread extends Error {
  constructor() {
    super('cancelled');
    this.name = 'AbortError';
  }
}

/**
 * Errors cross as plain data: a TrainingFailure keeps its class, message, last progress and seconds trained (the main
 * thread rebuilds it, so its report is the one a same-thread run would give); any other error keeps its name (a
 * RangeError stays a RangeError, so allocation failures are still classed `resource`), message, stack and code.
 */
function serializeError(err: unknown): SerializedError {
  if (err instanceof TrainingFailure) {
    const training = {
      failureClass: err.failureClass,
      lastProgress: err.lastProgress.slice(-50),
      ...(err.trainSeconds !== undefined ? { trainSeconds: err.trainSeconds } : {}),
    };
    const badRow = err instanceof BadRowFailure ? { file: err.file, line: err.line, problem: err.problem } : undefined;
    return { name: err.name, message: err.message, stack: err.stack, training, ...(badRow ? { badRow } : {}) };
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { name: err.name, message: err.message, stack: err.stack, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}
