import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { trainModel, type TrainModelInput, type TrainSummary } from '../../activities/training';
import { DataConfig, ModelConfig } from '../../contracts';
import { trainExperiment } from '../../ranking';
import { artifactsDir } from '../../store/artifacts';
import { checkpointPath, checkpointsDir, experimentCheckpointsDir } from '../../store/checkpoints';
import { readEvents } from '../../store/event-log';
import { treeBytes } from '../../store/gc';
import { recordCheckpoints, resumeFrom } from '../support/checkpoints';

/**
 * Issue 23: a long DCN run filled a disk with a new 590 MB checkpoint artifact every 10 seconds. Through the training
 * activity, as a worker runs it: the home grows by one checkpoint (replaced in place) while the run trains, and by the
 * model artifact alone once it ends; a retry resumes from the attempt's checkpoint, or, when that checkpoint is gone,
 * trains again from the start with a warning event instead of failing.
 */
describe('reliability: the storage a training run needs', function () {
  this.timeout(300_000);
  const quiet: Logger = { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const savedInterval = process.env.RANKWRIGHT_CHECKPOINT_MINUTES;
  afterEach(() => {
    if (savedInterval === undefined) delete process.env.RANKWRIGHT_CHECKPOINT_MINUTES;
    else process.env.RANKWRIGHT_CHECKPOINT_MINUTES = savedInterval;
  });

  it('a DCN run keeps one checkpoint at a time, and leaves none behind: the home peaks within a few model sizes', async () => {
    // A checkpoint every 0.12 s of training (the default is 3 minutes): many checkpoints in a short run, however fast
    // the DCN steps.
    process.env.RANKWRIGHT_CHECKPOINT_MINUTES = '0.002';
    // A home of its own (the training thread shares this process's environment): the run's storage is all it holds.
    const runHome = process.env.RANKWRIGHT_HOME;
    const ownHome = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-dcn-storage-'));
    process.env.RANKWRIGHT_HOME = ownHome;
    try {
      await dcnRunInItsOwnHome();
    } finally {
      process.env.RANKWRIGHT_HOME = runHome;
      fs.rmSync(ownHome, { recursive: true, force: true });
    }
  });

  async function dcnRunInItsOwnHome() {
    const input: TrainModelInput = {
      experimentId: `storage-dcn-${process.pid}`,
      campaignId: `storage-campaign-${process.pid}`,
      attempt: 1,
      data: DataConfig.parse({ planted: { seed: 11, trainRows: 40_000, validationRows: 4_000, testRows: 4_000 } }),
      model: ModelConfig.parse({ family: 'dcn', epochs: 2, hashBits: 18 }),
      segmentField: 'C1',
    };
    const artifactsBefore = await treeBytes(artifactsDir());
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    const checkpointSteps = new Set<number>();
    env.on('heartbeat', (d: { checkpointStep?: number }) => d?.checkpointStep !== undefined && checkpointSteps.add(d.checkpointStep));
    let peak = 0;
    let peakCheckpoints = 0;
    let largestCheckpointFile = 0;
    // Samples one after another (a slow walk never overlaps the next).
    let sampling = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = sampling.then(async () => {
        const checkpoints = await treeBytes(checkpointsDir());
        peakCheckpoints = Math.max(peakCheckpoints, checkpoints);
        peak = Math.max(peak, checkpoints + (await treeBytes(artifactsDir())) - artifactsBefore);
        const size = await fs.promises.stat(checkpointPath(input)).then(
          (st) => st.size,
          () => 0,
        );
        largestCheckpointFile = Math.max(largestCheckpointFile, size);
      });
    }, 50);
    let summary: TrainSummary;
    try {
      summary = (await env.run(trainModel, input)) as TrainSummary;
    } finally {
      clearInterval(sampler);
      await sampling;
    }
    assert.ok(checkpointSteps.size >= 5, `checkpoints written at ${checkpointSteps.size} steps`);
    assert.ok(largestCheckpointFile > summary.modelBytes, 'a checkpoint holds more than the model (optimizer state)');
    // Replacing one checkpoint briefly holds the old one and the new one's temporary file: never more.
    assert.ok(peakCheckpoints <= 2 * largestCheckpointFile, `checkpoints peaked at ${mb(peakCheckpoints)}, one is ${mb(largestCheckpointFile)}`);
    assert.ok(peak <= 2 * largestCheckpointFile + summary.modelBytes, `the run's storage peaked at ${mb(peak)}`);
    assert.equal(fs.existsSync(experimentCheckpointsDir(input)), false, 'no checkpoint left after the run');
    const grown = (await treeBytes(artifactsDir())) - artifactsBefore;
    assert.ok(grown <= summary.modelBytes, `the run left ${mb(grown)} of artifacts; its model is ${mb(summary.modelBytes)}`);
  }

  describe('a retry of the training activity', () => {
    const data = DataConfig.parse({ planted: { seed: 12, trainRows: 3_000, validationRows: 500, testRows: 1_000 } });
    const model = ModelConfig.parse({ family: 'fm', epochs: 2, batchSize: 128, checkpointEvery: 7 });
    const input = (experimentId: string): TrainModelInput => ({
      experimentId,
      campaignId: `retry-campaign-${process.pid}`,
      attempt: 1,
      data,
      model,
      segmentField: 'C1',
    });
    let uninterrupted: Awaited<ReturnType<typeof trainExperiment>>;
    before(async () => (uninterrupted = await trainExperiment({ data, model })));

    /** The attempt's checkpoint at step 14, as a worker that then died would have left it. */
    async function leftByADeadWorker(slot: TrainModelInput) {
      const scratch = { ...slot, experimentId: `${slot.experimentId}-scratch` };
      const { request, saved } = recordCheckpoints(scratch);
      await trainExperiment({ data, model, ...request });
      const at14 = saved.find((c) => c.step === 14)!;
      resumeFrom(slot, at14);
      return at14;
    }

    it('resumes from the checkpoint its heartbeat named, to the same model, and deletes it at the end', async () => {
      const slot = input(`retry-resume-${process.pid}`);
      await leftByADeadWorker(slot);
      const logs: string[] = [];
      const logger: Logger = { ...quiet, info: (m) => void logs.push(m), warn: (m) => void logs.push(`warn ${m}`) };
      const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { checkpointStep: 14, attempt: 1 } }, { logger });
      const steps: number[] = [];
      env.on('heartbeat', (d: { step?: number }) => d?.step !== undefined && steps.push(d.step));
      const out = (await env.run(trainModel, slot)) as TrainSummary;
      assert.ok(logs.includes('resuming training from checkpoint'), logs.join('\n'));
      assert.ok(steps[0] > 14, `training went on after step 14 (first heartbeat at step ${steps[0]})`);
      assert.equal(out.artifact, uninterrupted.artifact);
      assert.equal(fs.existsSync(checkpointPath(slot)), false);
    });

    it('whose checkpoint was deleted trains again from the start, with a warning event, and does not fail', async () => {
      const slot = input(`retry-lost-${process.pid}`);
      await leftByADeadWorker(slot);
      fs.rmSync(checkpointPath(slot));
      const env = new MockActivityEnvironment({ attempt: 3, heartbeatDetails: { checkpointStep: 14, attempt: 1 } }, { logger: quiet });
      const out = (await env.run(trainModel, slot)) as TrainSummary;
      assert.equal(out.artifact, uninterrupted.artifact, 'the same model, trained from the first step');
      const { events } = await readEvents(slot.campaignId);
      const warnings = events.filter((e) => e.type === 'experiment.warning' && e.experimentId === slot.experimentId);
      assert.equal(warnings.length, 1);
      assert.match((warnings[0] as { message: string }).message, /attempt-1\.ckpt is missing; training again from the first step/);
    });

    it("a first try never resumes from a file of a run it doesn't continue, and earlier attempts' checkpoints go", async () => {
      const slot = input(`retry-stale-${process.pid}`);
      await leftByADeadWorker(slot);
      // Attempt 2 of the experiment (the workflow's retry with another config) starts: attempt 1's file is useless.
      const second = { ...slot, attempt: 2 };
      await leftByADeadWorker(second);
      const steps: number[] = [];
      const env = new MockActivityEnvironment({ attempt: 1 }, { logger: quiet });
      env.on('heartbeat', (d: { step?: number }) => d?.step !== undefined && steps.push(d.step));
      const out = (await env.run(trainModel, second)) as TrainSummary;
      assert.ok(steps[0] <= 7, `started from the first step (first heartbeat at step ${steps[0]})`);
      assert.equal(out.artifact, uninterrupted.artifact);
      assert.equal(fs.existsSync(experimentCheckpointsDir(slot)), false, "attempt 1's checkpoint was deleted too");
    });
  });
});

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}
