import { strict as assert } from 'node:assert';
import { DataConfig, ModelConfig, type ExperimentResult } from '../../contracts';
import { startWorkerProcess, type WorkerProcess } from '../support/processes';
import { useTemporal, type TemporalForTests } from '../support/temporal';

/**
 * Issue: a training that runs out of heap. It runs on a thread of the worker's training pool, with a heap limit: the
 * thread dies, not the worker. The experiment sees a resource failure (the retry policy tries a smaller model), and
 * the same worker process serves the next experiment on a replacement thread.
 */
describe('reliability: a training thread out of memory', function () {
  this.timeout(240_000);
  let temporal: TemporalForTests;
  let worker: WorkerProcess | undefined;
  before(async () => (temporal = await useTemporal()));
  after(async () => worker?.kill('SIGKILL'));

  const run = (experimentId: string, data: DataConfig, model: ModelConfig): Promise<ExperimentResult> =>
    temporal.client.workflow.execute('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: experimentId,
      args: [{ experimentId, data, model, agents: 'heuristic', maxAttempts: 2 }],
    });

  it('fails the experiment as resource, retried smaller, and the worker keeps serving trainings', async () => {
    // One thread with a 128 MB heap: a planted data set with a million values per field does not fit (its value
    // names alone take far more), the small one does.
    worker = startWorkerProcess('all', { RANKWRIGHT_TRAINING_THREADS: '1', RANKWRIGHT_TRAINING_HEAP_MB: '128' });
    const model = ModelConfig.parse({ family: 'lr', epochs: 1 });
    const huge = DataConfig.parse({ planted: { cardinality: 1_000_000, trainRows: 3_000, validationRows: 1_000, testRows: 1_000 } });
    const failed = await run(`thread-oom-${Date.now()}`, huge, model);
    assert.equal(failed.status, 'failed', worker.output().slice(-3000));
    assert.equal(failed.failure?.failureClass, 'resource');
    assert.equal(failed.attempts.length, 2, 'the retry policy tried once more');
    assert.match(failed.attempts[0].failure!.message, /^out of memory training lr with hashBits 22: .*128 MB heap limit/);
    assert.equal(failed.attempts[1].config.hashBits, 20, 'smaller, as for any resource failure');

    const small = DataConfig.parse({ planted: { seed: 4, trainRows: 3_000, validationRows: 1_000, testRows: 1_000 } });
    const served = await run(`thread-oom-after-${Date.now()}`, small, model);
    assert.equal(served.status, 'succeeded', worker.output().slice(-3000));
    assert.equal(worker.child.exitCode, null, 'the worker process is still serving');
    assert.equal(worker.child.signalCode, null);
  });
});
