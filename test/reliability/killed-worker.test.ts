import { strict as assert } from 'node:assert';
import { DataConfig, ModelConfig } from '../../contracts';
import type { ExperimentResult } from '../../contracts';
import { trainExperiment } from '../../ranking';
import { startWorkerProcess, type WorkerProcess } from '../support/processes';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually } from '../support/workers';

/**
 * Issue: a worker SIGKILLed in the middle of a training activity. The heartbeat carried the last checkpoint, so the
 * replacement worker resumes from it, and the experiment's final metrics equal those of an uninterrupted run.
 */
describe('reliability: a worker killed mid-training', function () {
  this.timeout(240_000);
  let temporal: TemporalForTests;
  const workers: WorkerProcess[] = [];
  before(async () => (temporal = await useTemporal()));
  after(async () => Promise.all(workers.map((w) => w.kill('SIGKILL'))));

  it('resumes from the heartbeat checkpoint on another worker and ends with the uninterrupted metrics', async () => {
    const data = DataConfig.parse({ planted: { seed: 21, trainRows: 30_000, testRows: 5_000, validationRows: 2_000 } });
    // The DCN-style network with frequent checkpoints: ~10 s of training, long enough to be killed in the middle.
    const model = ModelConfig.parse({ family: 'dcn', epochs: 2, checkpointEvery: 10, seed: 3 });
    const experimentId = `killed-worker-${Date.now()}`;

    const first = startWorkerProcess('all');
    workers.push(first);
    const handle = await temporal.client.workflow.start('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: experimentId,
      args: [{ experimentId, data, model, agents: 'heuristic' }],
    });

    // Wait for a heartbeat that carries a checkpoint reference, then kill the worker without warning.
    const checkpoint = await eventually(
      async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const details = pending[0]?.heartbeatDetails?.payloads?.[0]?.data;
        if (!details) return undefined;
        const parsed = JSON.parse(Buffer.from(details).toString('utf8')) as { checkpoint?: string; step?: number };
        return parsed.checkpoint ? parsed : undefined;
      },
      120_000,
      'a heartbeat with a checkpoint',
    ).catch((err) => {
      throw new Error(`${err.message}\nworker output:\n${first.output().slice(-3000)}`);
    });
    await first.kill('SIGKILL');
    assert.match(checkpoint.checkpoint!, /^sha256:[0-9a-f]{64}$/);

    const second = startWorkerProcess('all');
    workers.push(second);
    const result: ExperimentResult = await handle.result();
    assert.equal(result.status, 'succeeded');
    assert.match(second.output(), /resuming training from checkpoint/, 'the replacement worker resumed instead of starting over');

    const uninterrupted = await trainExperiment({ data, model });
    assert.deepEqual(result.metrics, uninterrupted.metrics);
    assert.equal(result.artifact, uninterrupted.artifact, 'the same model, byte for byte (content-addressed)');
  });
});
