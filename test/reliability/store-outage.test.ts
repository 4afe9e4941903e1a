import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig, ModelConfig, type ExperimentResult } from '../../contracts';
import { artifactKey } from '../../store/artifacts';
import { sharedStore } from '../../store/object-store';
import { startMinioAsync, stopMinio, useMinioStore } from '../support/minio';
import { runCli, startWorkerProcess, type WorkerProcess } from '../support/processes';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually } from '../support/workers';

/**
 * Issue 25: the shared store is stopped while a real worker trains. The training's model write waits for the store
 * (the activity keeps heartbeating meanwhile, also while a request hangs on the store starting up again, so Temporal
 * does not give it up), then succeeds: the experiment succeeds on its first try, and its model is in the store for
 * any other machine to read. The outage lasts 35 s, not the 20: the training itself takes a few seconds of
 * it, and the model write must wait longer than the training activity's 20 s heartbeat timeout for the test to show
 * that the heartbeats go on.
 */
const OUTAGE_MS = 35_000;

describe('reliability: the shared store stopped during a training, for longer than the heartbeat timeout', function () {
  this.timeout(300_000);
  let temporal: TemporalForTests;
  let worker: WorkerProcess | undefined;
  let restore: () => void = () => undefined;
  let storeUp = true;
  before(async () => (temporal = await useTemporal()));
  after(async () => {
    await worker?.kill('SIGKILL');
    if (!storeUp) await startMinioAsync();
    const store = sharedStore();
    if (store) for await (const o of store.list('')) await store.delete(o.key);
    restore();
  });

  it('the model write waits for the store and the experiment succeeds at its first try, no activity retried', async () => {
    const { vars, restore: undo } = useMinioStore();
    restore = undo;
    worker = startWorkerProcess('all', { ...vars, RANKWRIGHT_TRAINING_THREADS: '1' });
    await eventually(async () => (/serving/.test(worker!.output()) ? true : undefined), 120_000, 'the worker to serve');
    assert.match(worker.output(), /artifacts: s3:\/\/rankwright\/test-/);

    stopMinio();
    storeUp = false;
    const experimentId = `store-outage-${Date.now()}`;
    const data = DataConfig.parse({ planted: { seed: 9, trainRows: 2_000, validationRows: 500, testRows: 500 } });
    const model = ModelConfig.parse({ family: 'lr', epochs: 1 });
    const result: Promise<ExperimentResult> = temporal.client.workflow.execute('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: experimentId,
      args: [{ experimentId, data, model, agents: 'heuristic', maxAttempts: 2 }],
    });
    let settled = false;
    void result.finally(() => (settled = true)).catch(() => {});
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    assert.equal(settled, false, 'the experiment waited for the store');
    await startMinioAsync();
    storeUp = true;

    const done = await result;
    assert.equal(done.status, 'succeeded', worker.output().slice(-3000));
    assert.equal(done.attempts.length, 1, 'one attempt: the outage cost no retry of the experiment');
    const history = await temporal.client.workflow.getHandle(experimentId).fetchHistory();
    // A retried activity shows only its last try in history, as the attempt number of its start.
    const retried = (history.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    // On failure, say which activity was retried and what the worker logged around it.
    const scheduled = (id: unknown) =>
      (history.events ?? []).find((e) => String(e.eventId) === String(id))?.activityTaskScheduledEventAttributes?.activityType?.name;
    const retriedTypes = retried.map((e) => scheduled(e.activityTaskStartedEventAttributes?.scheduledEventId));
    assert.deepEqual(retriedTypes, [], `no activity was retried: none timed out while the store was down\n${worker.output().slice(-4000)}`);
    const artifact = done.artifact!;
    assert.ok(await sharedStore()!.head(artifactKey(artifact)), 'the model is in the store');
    // Any other machine scores it: an export from an empty home.
    const exported = await runCli(['export', '--model', artifact, '--out', path.join(os.tmpdir(), `${experimentId}.onnx`)], {
      ...vars,
      RANKWRIGHT_HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'rw-outage-reader-')),
    });
    assert.equal(exported.code, 0, exported.stderr);
  });
});
