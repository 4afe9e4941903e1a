import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflows } from './bundle';
import { homeBudgetFromEnv, startHomeBudget } from './home-budget';
import { installProcessGuards } from './process-guards';
import { waitForRowCacheUploads } from './row-cache-uploads';
import { configureTrainingPool, trainingPool, trainingPoolSettings } from './training-pool';
import { TASK_QUEUES } from '../contracts/names';
import * as activities from '../activities';
import { connectClient, ensureSearchAttributes, temporalSettings } from '../client/connection';
import { InsightsStore } from '../store/insights';
import { checkSharedStore } from '../store/object-store';

export type QueueChoice = 'agent' | 'training' | 'all';

/** Activities per task queue: GPU machines run `--queue training` and serve only what trains and scores. */
const TRAINING_ACTIVITIES = {
  trainModel: activities.trainModel,
  describeData: activities.describeData,
  measureInteractions: activities.measureInteractions,
  researchBaseline: activities.researchBaseline,
  // External trainers: writing a job's data hand-off and scoring its outputs read the whole dataset.
  submitTrainingJob: activities.submitTrainingJob,
  collectTrainingJob: activities.collectTrainingJob,
};
const AGENT_ACTIVITIES = {
  checkAgentEndpoint: activities.checkAgentEndpoint,
  designExperiments: activities.designExperiments,
  interpretFailure: activities.interpretFailure,
  evaluateResults: activities.evaluateResults,
  recordExperiment: activities.recordExperiment,
  recordEvents: activities.recordEvents,
  writeReport: activities.writeReport,
  checkApproveHook: activities.checkApproveHook,
  runApproveHook: activities.runApproveHook,
  checkTrainer: activities.checkTrainer,
  pollTrainingJob: activities.pollTrainingJob,
  cancelTrainingJob: activities.cancelTrainingJob,
  designTrainerExperiments: activities.designTrainerExperiments,
};

export interface RankwrightWorkerOptions {
  queue?: QueueChoice;
  /** A prebuilt workflow bundle (tests build it once); by default the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  connection?: NativeConnection;
  namespace?: string;
  /**
   * Concurrent training activities on this machine, each on its own thread of the training pool (default: CPU cores,
   * since each run is single-threaded; RANKWRIGHT_TRAINING_THREADS overrides both).
   */
  maxConcurrentTraining?: number;
}

/** Creates the workers for the chosen queue(s); the caller runs and shuts them down. */
export async function createWorkers(options: RankwrightWorkerOptions = {}): Promise<Worker[]> {
  const queue = options.queue ?? 'all';
  const settings = temporalSettings();
  const connection = options.connection ?? (await NativeConnection.connect(settings.connectionOptions));
  const namespace = options.namespace ?? settings.namespace;
  const workers: Worker[] = [];
  if (queue === 'agent' || queue === 'all') {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: TASK_QUEUES.agent,
        workflowBundle: options.workflowBundle ?? (await bundleWorkflows()),
        activities: AGENT_ACTIVITIES,
      }),
    );
  }
  if (queue === 'training' || queue === 'all') {
    // One activity per pool thread: a training accepted beyond the threads would only wait in the pool's queue.
    const pool = configureTrainingPool(trainingPoolSettings(options.maxConcurrentTraining));
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: TASK_QUEUES.training,
        activities: TRAINING_ACTIVITIES,
        // Heartbeats carry the checkpoint reference: send them at least every 2 s (the default throttle, 80% of the
        // heartbeat timeout, would let a killed worker lose up to 16 s of checkpoints).
        maxHeartbeatThrottleInterval: '2 seconds',
        maxConcurrentActivityTaskExecutions: pool.settings.threads,
      }),
    );
  }
  return workers;
}

/** `rankwright worker` / `npm run worker`: serve until SIGINT/SIGTERM, then let row-cache uploads finish (bounded). */
export async function runWorker(queue: QueueChoice = 'all'): Promise<void> {
  installProcessGuards();
  // Read before anything starts: a bad RANKWRIGHT_HOME_MAX_GB is reported at once, not found out when the disk fills.
  const homeBudget = homeBudgetFromEnv();
  // Opened (and migrated) before serving: a wrong or unreachable RANKWRIGHT_DATABASE_URL stops the worker here, with
  // the URL's password hidden, instead of failing every activity that records or reads an insight.
  const insights = await InsightsStore.open();
  const insightsAt = insights.location;
  await insights.close();
  // Likewise the shared artifact store: a bad RANKWRIGHT_STORE, an unreachable server or refused credentials stop the
  // worker here (after riding out a short restart), not the first training that stores a model.
  const storeAt = await checkSharedStore();
  const client = await connectClient();
  await ensureSearchAttributes(client);
  await client.connection.close();
  const workers = await createWorkers({ queue });
  const { connectionOptions, namespace } = temporalSettings();
  const threads =
    queue === 'agent' ? '' : `, ${trainingPool().settings.threads} training threads of ${trainingPool().settings.maxOldGenerationSizeMb} MB heap`;
  console.error(
    `rankwright worker: serving ${workers.map((w) => w.options.taskQueue).join(' + ')} on ${connectionOptions.address} (namespace ${namespace}${threads}; insights: ${insightsAt}; artifacts: ${storeAt})`,
  );
  if (homeBudget !== undefined) startHomeBudget({ maxBytes: homeBudget });
  await Promise.all(workers.map((w) => w.run()));
  // Stopped gracefully (SIGINT/SIGTERM: Temporal's runtime shuts the workers down and run() returns): row caches
  // parsed here may still be uploading, and exiting would cut them off.
  await waitForRowCacheUploads(queue === 'agent' ? {} : { pool: trainingPool() });
}

if (require.main === module) {
  const arg = process.argv.indexOf('--queue');
  const queue = (arg > 0 ? process.argv[arg + 1] : 'all') as QueueChoice;
  if (!['agent', 'training', 'all'].includes(queue)) {
    console.error(`--queue must be agent, training or all (got ${queue})`);
    process.exit(2);
  }
  runWorker(queue).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
