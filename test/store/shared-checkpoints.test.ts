import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrainingProgress } from '../../contracts';
import { trainExperiment } from '../../ranking';
import { checkpointKey, deleteCheckpoints, deleteOtherAttempts, readCheckpoint, writeCheckpoint } from '../../store/checkpoints';
import { sharedStore } from '../../store/object-store';
import { useMinioStore } from '../support/minio';
import { testSlot } from '../support/checkpoints';

/**
 * Checkpoints with RANKWRIGHT_STORE set: copied into the store as they are written, so an attempt killed on one
 * machine resumes on another whose home has never seen it; deleted there when their run ends.
 */

function inHome<T>(home: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.RANKWRIGHT_HOME;
  process.env.RANKWRIGHT_HOME = home;
  return body().finally(() => (process.env.RANKWRIGHT_HOME = saved));
}

const newHome = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `rw-ckpt-${name}-`));

async function keysIn(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of sharedStore()!.list(prefix)) keys.push(o.key);
  return keys.sort();
}

describe('store/checkpoints with a shared store (MinIO)', function () {
  this.timeout(180_000);
  let restore: () => void;
  beforeEach(() => ({ restore } = useMinioStore()));
  afterEach(async () => {
    for (const key of await keysIn('')) await sharedStore()!.delete(key);
    restore();
  });

  it('a checkpoint written in home A is read in an empty home B; other attempts and ended runs leave the store too', async () => {
    const slot = testSlot('shared');
    await inHome(newHome('a'), async () => {
      await writeCheckpoint(slot, [Buffer.from('attempt one')]);
      await writeCheckpoint({ ...slot, attempt: 2 }, [Buffer.from('attempt two')]);
    });
    const experiment = checkpointKey(slot).replace(/attempt-1\.ckpt$/, '');
    assert.deepEqual(await keysIn(experiment), [`${experiment}attempt-1.ckpt`, `${experiment}attempt-2.ckpt`]);
    await inHome(newHome('b'), async () => {
      assert.equal((await readCheckpoint({ ...slot, attempt: 2 })).toString(), 'attempt two');
      // Attempt 2 starting on this machine drops attempt 1 everywhere: it trained another config.
      await deleteOtherAttempts({ ...slot, attempt: 2 });
      assert.deepEqual(await keysIn(experiment), [`${experiment}attempt-2.ckpt`]);
      // The run ended: all its checkpoints go (no attempt named).
      await deleteCheckpoints({ campaignId: slot.campaignId, experimentId: slot.experimentId });
    });
    assert.deepEqual(await keysIn(experiment), []);
  });

  it('a run stopped mid-way in home A resumes from its shared checkpoint in an empty home B, to the same model', async () => {
    const data = { planted: { trainRows: 3_000, validationRows: 500, testRows: 1_000 } };
    const model = { family: 'lr' as const, epochs: 2, batchSize: 128, checkpointEvery: 7 };
    const slot = testSlot('resume');
    const full = await inHome(newHome('full'), () => trainExperiment({ data, model }));
    // The first machine dies after its second checkpoint (an abort, as the activity's cancellation does).
    const stop = new AbortController();
    let checkpoints = 0;
    await inHome(newHome('killed'), () =>
      trainExperiment({
        data,
        model,
        checkpoint: { slot, everyMs: 24 * 3600_000 },
        onCheckpoint: () => {
          if (++checkpoints === 2) stop.abort(new Error('killed'));
        },
        signal: stop.signal,
      }),
    ).then(
      () => assert.fail('the run was not stopped'),
      (err: Error) => assert.match(err.message, /killed/),
    );
    assert.deepEqual(await keysIn(checkpointKey(slot)), [checkpointKey(slot)]);
    const warnings: string[] = [];
    const steps: number[] = [];
    const resumed = await inHome(newHome('other-machine'), () =>
      trainExperiment({
        data,
        model,
        checkpoint: { slot, resume: true, everyMs: 24 * 3600_000 },
        onWarning: (m) => warnings.push(m),
        onProgress: (p: TrainingProgress) => steps.push(p.step),
      }),
    );
    assert.deepEqual(warnings, [], 'the checkpoint was found and used');
    assert.ok(steps[0] >= 14, `the resumed run started after the checkpoint, at step ${steps[0]}`);
    assert.equal(resumed.artifact, full.artifact);
    assert.deepEqual(resumed.metrics, full.metrics);
  });

  it('a store that cannot take a checkpoint costs the share, not the checkpoint', async () => {
    const saved = { endpoint: process.env.AWS_ENDPOINT_URL, retry: process.env.RANKWRIGHT_STORE_RETRY_SECONDS };
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    process.env.RANKWRIGHT_STORE_RETRY_SECONDS = '1';
    try {
      const slot = testSlot('unshared');
      const written = await writeCheckpoint(slot, [Buffer.from('kept locally')]);
      assert.match(written.unshared ?? '', /putting checkpoints\/.* failed: the store was unavailable for 1 s/);
      assert.equal((await readCheckpoint(slot)).toString(), 'kept locally');
      await deleteCheckpoints(slot); // best-effort in the store: no error
    } finally {
      process.env.AWS_ENDPOINT_URL = saved.endpoint;
      if (saved.retry === undefined) delete process.env.RANKWRIGHT_STORE_RETRY_SECONDS;
      else process.env.RANKWRIGHT_STORE_RETRY_SECONDS = saved.retry;
    }
  });
});
