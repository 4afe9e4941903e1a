import { strict as assert } from 'node:assert';
import { SIGNALS } from '../../contracts';
import type { CampaignInputRaw } from '../../contracts';
import { RankwrightClient, SignOffRefusedError } from '../../client/rankwright-client';
import { MAX_IGNORED } from '../../workflows/sign-off';
import { scriptedActivities } from '../support/scripted-activities';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withWorkers } from '../support/workers';

const config = (over: Partial<CampaignInputRaw> = {}): CampaignInputRaw => ({
  data: { planted: { seed: 3 } },
  budget: { experiments: 6, parallel: 1, stallGain: 0 },
  approvers: ['ana'],
  operators: ['ops-olu'],
  ...over,
});

/**
 * Pause, resume and abort name who sent them, and only the campaign's approvers and operators may; an operator runs
 * the compute but can't sign off. Refused updates answer their sender; refused signals (the Web UI's form) are
 * recorded and ignored, and a flood of them can't grow the campaign's state without bound.
 */
describe('campaign controls: who may pause, resume and abort (real Temporal, scripted training and agents)', function () {
  this.timeout(180_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
  });

  it('an operator pauses and resumes (recorded with their name), a stranger cannot, and an operator cannot approve', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      const { workflowId } = await client.startCampaign(config(), { id: `controls-${Date.now()}` });
      await eventually(async () => ((await client.status(workflowId)).experiments.length >= 1 ? true : undefined), 30_000, 'the baseline');

      await assert.rejects(client.pause(workflowId, { by: 'mallory' }), (err: Error) => {
        assert.ok(err instanceof SignOffRefusedError);
        assert.match(err.message, /mallory is not an approver or operator of this campaign \(approvers: ana; operators: ops-olu\)/);
        return true;
      });
      // The Web UI's signal form: a pause without a name, and one from a stranger, are recorded and ignored.
      const handle = temporal.client.workflow.getHandle(workflowId);
      await handle.signal(SIGNALS.pause, {} as never);
      await handle.signal(SIGNALS.pause, { by: 'mallory' });
      const afterBad = await eventually(
        async () => {
          const s = await client.status(workflowId);
          return s.ignoredMessages.length >= 2 ? s : undefined;
        },
        20_000,
        'two ignored pause signals',
      );
      assert.equal(afterBad.paused, false, 'nobody valid paused it');
      assert.match(afterBad.ignoredMessages[0].reason, /invalid pause: by: /);
      assert.match(afterBad.ignoredMessages[1].reason, /mallory is not an approver or operator/);

      const paused = await client.pause(workflowId, { by: 'ops-olu', reason: 'cluster maintenance' });
      assert.deepEqual(
        { kind: paused.kind, by: paused.by, note: paused.note, via: paused.via },
        { kind: 'pause', by: 'ops-olu', note: 'cluster maintenance', via: 'update' },
      );
      await assert.rejects(client.pause(workflowId, { by: 'ana' }), /already paused/);
      const quiet = await eventually(
        async () => {
          const s = await client.status(workflowId);
          return s.paused && s.running.length === 0 ? s : undefined;
        },
        30_000,
        'a quiet, paused campaign',
      );
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await client.status(workflowId)).experiments.length, quiet.experiments.length, 'nothing launched while paused');

      await client.resume(workflowId, { by: 'ops-olu' });
      const review = await eventually(
        async () => {
          const s = await client.status(workflowId);
          return s.reviewState === 'awaiting-review' ? s : undefined;
        },
        60_000,
        'review',
      );
      assert.deepEqual(
        review.decisions.map((d) => [d.kind, d.by]),
        [
          ['pause', 'ops-olu'],
          ['resume', 'ops-olu'],
        ],
      );
      await assert.rejects(client.approve(workflowId, { by: 'ops-olu' }), /ops-olu is not an approver of this campaign \(approvers: ana\)/);
      await assert.rejects(client.pause(workflowId, { by: 'ops-olu' }), /cannot pause: the campaign is awaiting-review/);
      const aborted = await client.abort(workflowId, { by: 'ops-olu', reason: 'budget cut' });
      assert.equal(aborted.by, 'ops-olu');
      assert.equal((await client.waitForResult(workflowId)).reviewState, 'aborted');
    });
  });

  it('an abort while the last experiment trains ends the campaign aborted, not waiting in review', async () => {
    const script = scriptedActivities();
    const train = script.activities.trainModel;
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    let trainings = 0;
    const activities = {
      ...script.activities,
      // The budget's last training waits until the test has aborted, so the abort lands while the last wave runs.
      async trainModel(...args: Parameters<typeof train>) {
        if (++trainings === 3) await released;
        return train(...args);
      },
    };
    await withWorkers(temporal, activities, async () => {
      const { workflowId } = await client.startCampaign(config({ budget: { experiments: 3, parallel: 1, stallGain: 0 } }), {
        id: `abort-last-wave-${Date.now()}`,
      });
      await eventually(async () => (trainings >= 3 ? true : undefined), 60_000, 'the last training to start');
      await client.abort(workflowId, { by: 'ops-olu', reason: 'priorities changed' });
      release();
      const result = await client.waitForResult(workflowId);
      assert.equal(result.reviewState, 'aborted');
      assert.deepEqual(
        result.decisions.map((d) => [d.kind, d.by]),
        [['abort', 'ops-olu']],
      );
    });
  });

  it(`keeps the last ${MAX_IGNORED} refused signals, numbering every one's event uniquely`, async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      const { workflowId } = await client.startCampaign(config({ budget: { experiments: 2 } }), { id: `flood-${Date.now()}` });
      await eventually(async () => ((await client.status(workflowId)).reviewState === 'awaiting-review' ? true : undefined), 60_000, 'review');
      const handle = temporal.client.workflow.getHandle(workflowId);
      const flood = MAX_IGNORED + 20;
      for (let i = 0; i < flood; i++) await handle.signal(SIGNALS.approve, { by: `stranger-${i}` });
      const s = await eventually(
        async () => {
          const st = await client.status(workflowId);
          return st.ignoredMessages.at(-1)?.by === `stranger-${flood - 1}` ? st : undefined;
        },
        30_000,
        'every signal handled',
      );
      assert.equal(s.ignoredMessages.length, MAX_IGNORED);
      assert.equal(s.ignoredMessages[0].by, `stranger-${flood - MAX_IGNORED}`);
      assert.equal(s.reviewState, 'awaiting-review');
      await client.approve(workflowId, { by: 'ana' });
      await client.waitForResult(workflowId);
      const refusals = script.events.filter((e) => e.type === 'decision' && e.accepted === false);
      assert.equal(new Set(refusals.map((e) => e.eventId)).size, flood, 'every refused signal has its own event');
    });
  });
});
