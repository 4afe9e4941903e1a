import { strict as assert } from 'node:assert';
import { Context } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { whileAlive } from '../../activities/liveness';
import { RankwrightClient } from '../../client/rankwright-client';
import { scriptedActivities } from '../support/scripted-activities';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withWorkers } from '../support/workers';

/**
 * Activities that report no progress of their own (a design, triage, the evaluation, describing the data, the
 * research step) heartbeat while they run, and the workflows give them a heartbeat timeout: a worker that dies running
 * one is replaced within a minute, not after the 10 to 30 minutes of their start-to-close timeouts.
 */
describe('liveness of the activities without progress of their own', function () {
  this.timeout(240_000);

  it('whileAlive heartbeats while its work runs, and stops when it ends', async () => {
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => beats++);
    const value = await env.run(() => whileAlive(() => new Promise((r) => setTimeout(() => r('designed'), 300)), 20));
    assert.equal(value, 'designed');
    assert.ok(beats >= 5, `heartbeats while the work ran: ${beats}`);
    const after = beats;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(beats, after, 'no heartbeat once the work ended');
    // Outside an activity (a direct call) it just runs the work.
    assert.equal(await whileAlive(async () => 7), 7);
  });

  describe('a design whose worker stops heartbeating (real Temporal)', () => {
    let temporal: TemporalForTests;
    before(async () => {
      temporal = await useTemporal();
    });

    it('is retried after the heartbeat timeout, and the campaign goes on', async () => {
      const script = scriptedActivities();
      let designCalls = 0;
      const design = script.activities.designExperiments;
      const activities = {
        ...script.activities,
        // The first design hangs without a heartbeat, as one on a SIGKILLed worker would; the retry designs.
        async designExperiments(...args: Parameters<typeof design>) {
          if (++designCalls === 1) {
            // Silent past the one-minute heartbeat timeout (then it ends, so the test's worker can shut down).
            await Promise.race([Context.current().cancelled, new Promise((r) => setTimeout(r, 75_000))]).catch(() => {});
            throw new Error('this worker is gone');
          }
          return design(...args);
        },
      };
      const client = new RankwrightClient(temporal.client);
      await withWorkers(temporal, activities, async () => {
        const { workflowId } = await client.startCampaign(
          { data: { planted: { seed: 3 } }, budget: { experiments: 3, parallel: 1, stallGain: 0 }, approvers: ['ana'] },
          { id: `liveness-${Date.now()}` },
        );
        // Well before the design's 10-minute start-to-close timeout: only the heartbeat timeout can bring the retry.
        await eventually(
          async () => ((await client.status(workflowId)).experiments.length >= 2 ? true : undefined),
          180_000,
          'an experiment designed by the retry',
        );
        assert.equal(designCalls >= 2, true);
        const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
        const scheduled = (history.events ?? []).find(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'designExperiments',
        )?.activityTaskScheduledEventAttributes;
        assert.equal(Number(scheduled?.heartbeatTimeout?.seconds), 60, 'the design is scheduled with a one-minute heartbeat timeout');
        await client.abort(workflowId, { by: 'ana' });
        await client.waitForResult(workflowId);
      });
    });
  });
});
