import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { DataConfig, ModelConfig } from '../../contracts';
import type { ExperimentResult } from '../../contracts';
import { trainExperiment } from '../../ranking';
import { checkpointPath, experimentCheckpointsDir } from '../../store/checkpoints';
import { readEvents } from '../../store/event-log';
import { startWorkerProcess, type WorkerProcess } from '../support/processes';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually } from '../support/workers';

/**
 * Issue: a worker SIGKILLed in the middle of a training activity. The heartbeat said the attempt has a checkpoint, so
 * the replacement worker resumes from it, and the experiment's final metrics equal those of an uninterrupted run. A
 * checkpoint that is gone by the time the retry starts (issue 23) costs the time already trained, never the experiment.
 */
describe('reliability: a worker killed mid-training', function () {
  this.timeout(240_000);
  let temporal: TemporalForTests;
  const workers: WorkerProcess[] = [];
  before(async () => (temporal = await useTemporal()));
  after(async () => Promise.all(workers.map((w) => w.kill('SIGKILL'))));

  const data = DataConfig.parse({ planted: { seed: 21, trainRows: 30_000, testRows: 5_000, validationRows: 2_000 } });
  // The DCN with frequent checkpoints, trained long enough to be killed in the middle. The checkpoint reaches the
  // server only in a heartbeat, which the SDK throttles (at most one per 0.8 × the 20 s heartbeat timeout): with two
  // epochs a full `npm test` run once finished the training before one carrying a checkpoint went out, and the test
  // waited in vain. Six epochs, without early stopping, leave it the time.
  const model = ModelConfig.parse({ family: 'dcn', epochs: 6, patience: 6, checkpointEvery: 10, seed: 3 });
  let uninterrupted: Awaited<ReturnType<typeof trainExperiment>> | undefined;
  const uninterruptedRun = async () => (uninterrupted ??= await trainExperiment({ data, model }));

  /** Starts the experiment on a fresh worker and SIGKILLs that worker once a heartbeat says a checkpoint is on disk. */
  async function killedAfterACheckpoint(experimentId: string) {
    // Only this worker may take the training: an earlier test's worker would go on with it when this one dies.
    await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
    const first = startWorkerProcess('all');
    workers.push(first);
    const handle = await temporal.client.workflow.start('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: experimentId,
      args: [{ experimentId, data, model, agents: 'heuristic' }],
    });
    const heartbeat = await eventually(
      async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const details = pending[0]?.heartbeatDetails?.payloads?.[0]?.data;
        if (!details) return undefined;
        const parsed = JSON.parse(Buffer.from(details).toString('utf8')) as { checkpointStep?: number; step?: number };
        return parsed.checkpointStep !== undefined ? parsed : undefined;
      },
      120_000,
      'a heartbeat with a checkpoint',
    ).catch((err) => {
      throw new Error(`${err.message}\nworker output:\n${first.output().slice(-3000)}`);
    });
    await first.kill('SIGKILL');
    const slot = { campaignId: experimentId, experimentId, attempt: 1 };
    assert.ok(fs.existsSync(checkpointPath(slot)), `the attempt's checkpoint (step ${heartbeat.checkpointStep}) is on disk`);
    // A write the kill cut short may leave its temporary file (the retry's clean-up takes it); checkpoints: just one.
    const files = fs.readdirSync(experimentCheckpointsDir(slot)).filter((f) => !f.includes('.tmp-'));
    assert.deepEqual(files, ['attempt-1.ckpt'], 'one checkpoint, replaced in place');
    return { handle, slot };
  }

  it('resumes from the heartbeat checkpoint on another worker and ends with the uninterrupted metrics', async () => {
    const { handle, slot } = await killedAfterACheckpoint(`killed-worker-${Date.now()}`);
    const second = startWorkerProcess('all');
    workers.push(second);
    const result: ExperimentResult = await handle.result();
    assert.equal(result.status, 'succeeded');
    assert.match(second.output(), /resuming training from checkpoint/, 'the replacement worker resumed instead of starting over');
    assert.equal(fs.existsSync(experimentCheckpointsDir(slot)), false, 'the checkpoint went with the run');

    const expected = await uninterruptedRun();
    assert.deepEqual(result.metrics, expected.metrics);
    assert.equal(result.artifact, expected.artifact, 'the same model, byte for byte (content-addressed)');
  });

  it('survives a checkpoint deleted under the retry: it trains again from the start and warns, the experiment succeeds', async () => {
    const { handle, slot } = await killedAfterACheckpoint(`killed-lost-checkpoint-${Date.now()}`);
    fs.rmSync(checkpointPath(slot));
    const second = startWorkerProcess('all');
    workers.push(second);
    const result: ExperimentResult = await handle.result();
    assert.equal(result.status, 'succeeded', JSON.stringify(result.failure));
    const { events } = await readEvents(slot.campaignId);
    const warning = events.find((e) => e.type === 'experiment.warning');
    assert.ok(
      warning && 'message' in warning,
      `a warning event (got ${events.map((e) => e.type).join(', ')})\nworker output:\n${second.output().slice(-3000)}`,
    );
    assert.match(warning.message, /is missing; training again from the first step/);
    const expected = await uninterruptedRun();
    assert.equal(result.artifact, expected.artifact, 'trained again from the first step: the same model');
  });
});
