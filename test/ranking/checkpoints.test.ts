import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { trainExperiment } from '../../ranking';
import { decodeTensorFile } from '../../ranking/tensor-file';
import { getArtifact } from '../../store/artifacts';
import {
  checkpointIntervalMs,
  checkpointPath,
  deleteCheckpoints,
  experimentCheckpointsDir,
  readCheckpoint,
  writeCheckpoint,
} from '../../store/checkpoints';
import { recordCheckpoints, removeTestCheckpoints, resumeFrom, testSlot } from '../support/checkpoints';

/**
 * Issue 23: one checkpoint per attempt, replaced in place, by training time (checkpointEvery only bounds the steps
 * between two), resumed bit-identically, and a missing or damaged one is a warning and a fresh start, never a failure.
 */
const small = { planted: { trainRows: 3_000, validationRows: 500, testRows: 1_000 } };

describe('checkpoints: one per attempt, replaced in place', () => {
  after(removeTestCheckpoints);

  for (const model of [
    { family: 'lr' as const, epochs: 2, batchSize: 128, checkpointEvery: 7 },
    { family: 'fm' as const, epochs: 2, batchSize: 128, checkpointEvery: 7 },
    { family: 'dcn' as const, epochs: 2, batchSize: 128, checkpointEvery: 7, mlp: [16], crossLayers: 1 },
  ]) {
    it(`${model.family}: one file the whole run, and resuming from a mid-run state gives bit-identical weights and metrics`, async () => {
      const slot = testSlot(model.family);
      const { request, saved, filesSeen } = recordCheckpoints(slot);
      const full = await trainExperiment({ data: small, model, ...request });
      assert.ok(saved.length >= 3, `got ${saved.length} checkpoints`);
      assert.deepEqual(
        saved.map((c) => c.step),
        saved.map((_, i) => (i + 1) * 7),
        'checkpointEvery bounds the steps between checkpoints',
      );
      assert.ok(
        filesSeen.every((n) => n === 1),
        `the attempt's folder held ${filesSeen.join(',')} files at its checkpoints: one, replaced`,
      );
      // One inside the first epoch (24 steps/epoch) and one inside the second.
      for (const cp of [saved[1], saved[saved.length - 1]]) {
        const warnings: string[] = [];
        const resumed = await trainExperiment({ data: small, model, ...resumeFrom(slot, cp), onWarning: (m) => warnings.push(m) });
        assert.deepEqual(warnings, []);
        assert.equal(resumed.artifact, full.artifact, `resume from step ${cp.step}`);
        assert.deepEqual(resumed.metrics, full.metrics);
      }
    });
  }

  it('model artifacts hold the weights scoring needs, never optimizer state; checkpoints hold both', async () => {
    for (const model of [
      { family: 'fm' as const, epochs: 1, batchSize: 128, checkpointEvery: 10 },
      { family: 'dcn' as const, epochs: 1, batchSize: 128, checkpointEvery: 10, mlp: [16], crossLayers: 1 },
    ]) {
      const slot = testSlot(`artifact-${model.family}`);
      const { request, saved } = recordCheckpoints(slot);
      const r = await trainExperiment({ data: small, model, ...request });
      const artifactTensors = Object.keys(decodeTensorFile(await getArtifact(r.artifact)).tensors);
      const checkpointTensors = Object.keys(decodeTensorFile(saved[0].bytes.subarray(0, saved[0].bytes.length - 32)).tensors);
      const optimizerState = checkpointTensors.filter((name) => !name.startsWith('best.') && !artifactTensors.includes(name));
      assert.ok(optimizerState.length > 0, `${model.family}: a checkpoint carries optimizer state (${checkpointTensors.join(', ')})`);
      assert.deepEqual(
        artifactTensors.filter((name) => optimizerState.includes(name)),
        [],
        `${model.family}: the model artifact (${artifactTensors.join(', ')}) holds none of it`,
      );
    }
  });
});

describe('checkpoints by training time', () => {
  after(removeTestCheckpoints);
  const model = { family: 'lr' as const, epochs: 2, batchSize: 128 };

  it('without checkpointEvery, checkpoints follow the clock: many at a short interval, none within a long one', async () => {
    const often = recordCheckpoints(testSlot('clock-often'), 1);
    await trainExperiment({ data: small, model, ...often.request });
    assert.ok(often.saved.length >= 5, `a 1 ms interval checkpoints at most steps (got ${often.saved.length})`);
    const rare = recordCheckpoints(testSlot('clock-rare'), 60 * 60_000);
    await trainExperiment({ data: small, model, ...rare.request });
    assert.equal(rare.saved.length, 0, 'no checkpoint inside an hour-long interval');
  });

  it('the default interval is a few minutes, set with RANKWRIGHT_CHECKPOINT_MINUTES; a bad value is named', () => {
    assert.equal(checkpointIntervalMs({}), 3 * 60_000);
    assert.equal(checkpointIntervalMs({ RANKWRIGHT_CHECKPOINT_MINUTES: '0.5' }), 30_000);
    assert.throws(
      () => checkpointIntervalMs({ RANKWRIGHT_CHECKPOINT_MINUTES: 'soon' }),
      /RANKWRIGHT_CHECKPOINT_MINUTES="soon" must be a number of minutes/,
    );
    assert.throws(() => checkpointIntervalMs({ RANKWRIGHT_CHECKPOINT_MINUTES: '0' }), /above 0/);
  });
});

describe('a checkpoint that cannot be resumed from is a warning and a fresh start', () => {
  after(removeTestCheckpoints);
  const model = { family: 'lr' as const, epochs: 2, batchSize: 128, checkpointEvery: 7 };
  let uninterrupted: Awaited<ReturnType<typeof trainExperiment>>;
  before(async () => (uninterrupted = await trainExperiment({ data: small, model })));

  const cases: [string, (file: string) => void, RegExp][] = [
    ['missing', (file) => fs.rmSync(file), /is missing; training again from the first step/],
    [
      'damaged',
      (file) => {
        const bytes = fs.readFileSync(file);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        fs.writeFileSync(file, bytes);
      },
      /is damaged .*; training again from the first step/,
    ],
    ['truncated', (file) => fs.truncateSync(file, 100), /is damaged/],
  ];
  for (const [what, breakIt, warning] of cases) {
    it(`${what}: the run trains from step 0 to the same model and says why`, async () => {
      const slot = testSlot(`lost-${what}`);
      const { request, saved } = recordCheckpoints(slot);
      await trainExperiment({ data: small, model, ...request });
      const resume = resumeFrom(slot, saved[1]);
      breakIt(checkpointPath(slot));
      const warnings: string[] = [];
      const r = await trainExperiment({ data: small, model, ...resume, onWarning: (m) => warnings.push(m) });
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], warning);
      assert.ok(warnings[0].includes(checkpointPath(slot)), 'the warning names the file');
      assert.equal(r.artifact, uninterrupted.artifact, 'the same model as an uninterrupted run');
      assert.equal(r.progress[0].step < 7 + 1, true, 'training started again from the first step');
    });
  }

  it('a checkpoint of another config is not resumed from', async () => {
    const slot = testSlot('other-config');
    const { request, saved } = recordCheckpoints(slot);
    await trainExperiment({ data: small, model: { ...model, l1: 2 }, ...request });
    const warnings: string[] = [];
    const r = await trainExperiment({ data: small, model, ...resumeFrom(slot, saved[0]), onWarning: (m) => warnings.push(m) });
    assert.match(warnings.join('\n'), /written for another model config or dataset; training again from the first step/);
    assert.equal(r.artifact, uninterrupted.artifact);
  });
});

describe('the checkpoint store', () => {
  after(removeTestCheckpoints);
  it('replaces atomically, checks its checksum, deletes an experiment folder, and refuses ids that leave it', async () => {
    const slot = testSlot('store');
    await writeCheckpoint(slot, [Buffer.from('first state')]);
    await writeCheckpoint(slot, [Buffer.from('second '), Buffer.from('state')]);
    assert.equal((await readCheckpoint(slot)).toString(), 'second state');
    assert.deepEqual(fs.readdirSync(experimentCheckpointsDir(slot)), ['attempt-1.ckpt'], 'no temporary file left behind');
    await writeCheckpoint({ ...slot, attempt: 2 }, [Buffer.from('retry')]);
    await deleteCheckpoints(slot);
    assert.deepEqual(fs.readdirSync(experimentCheckpointsDir(slot)), ['attempt-2.ckpt'], "an attempt's deletion leaves the others");
    await deleteCheckpoints({ campaignId: slot.campaignId, experimentId: slot.experimentId });
    assert.equal(fs.existsSync(experimentCheckpointsDir(slot)), false);
    await assert.rejects(readCheckpoint(slot), /is missing/);
    assert.throws(() => checkpointPath({ ...slot, experimentId: '../../etc' }), /invalid experiment id/);
    assert.throws(() => checkpointPath({ ...slot, campaignId: `a${path.sep}b` }), /invalid campaign id/);
    assert.throws(() => checkpointPath({ ...slot, attempt: 0 }), /invalid checkpoint attempt/);
  });
});
