import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CampaignStatus } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { readEvents } from '../../store/event-log';
import { InsightsStore } from '../../store/insights';
import { REPO_ROOT, useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withRealWorkers } from '../support/workers';

const SERVER_ENV = { ...process.env, RANKWRIGHT_HOME: path.join(REPO_ROOT, '.rankwright') };
const PID_FILE = path.join(REPO_ROOT, '.rankwright', 'temporal', 'server.pid');

/**
 * The Temporal dev server SIGKILLed in the middle of a campaign and restarted on the same SQLite database: the
 * campaign completes, and what was recorded (history, insights database, event log) is exactly what the planner
 * scheduled — none lost, none doubled.
 */
describe('reliability: the Temporal server killed mid-campaign', function () {
  this.timeout(600_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
  });
  after(() => {
    // Leave a running server for the tests after this one, whatever happened here.
    execFileSync(path.join(REPO_ROOT, 'temporal-dev.sh'), ['start'], { env: SERVER_ENV, stdio: 'ignore' });
  });

  it('completes the campaign with every scheduled experiment recorded exactly once', async () => {
    if (!fs.existsSync(PID_FILE)) throw new Error(`this test kills the dev server started by temporal-dev.sh; no ${PID_FILE}`);
    const id = `killed-server-${Date.now()}`;
    const status: CampaignStatus = await withRealWorkers(temporal, async () => {
      await client.startCampaign(
        {
          data: { planted: { seed: 9, trainRows: 20_000, validationRows: 4_000, testRows: 6_000 } },
          budget: { experiments: 7, parallel: 2, stallGain: 0 },
          agents: 'heuristic',
          approvers: ['ana'],
          searchSpace: { families: ['lr', 'fm'] },
        },
        { id },
      );
      // Kill the server once the campaign is past its baseline, while experiments are in flight.
      await eventually(async () => ((await client.status(id)).experiments.length >= 2 ? true : undefined), 180_000, 'two experiments');
      const pid = Number(fs.readFileSync(PID_FILE, 'utf8'));
      process.kill(pid, 'SIGKILL');
      await eventually(async () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      }, 10_000, 'the server to die');
      await new Promise((r) => setTimeout(r, 2000));
      execFileSync(path.join(REPO_ROOT, 'temporal-dev.sh'), ['start'], { env: SERVER_ENV, stdio: 'ignore' });

      await eventually(async () => ((await client.status(id)).reviewState === 'awaiting-review' ? true : undefined), 400_000, 'the campaign to reach review after the restart');
      await client.approve(id, { by: 'ana', note: 'after the crash' });
      return client.waitForResult(id);
    });

    assert.equal(status.reviewState, 'approved');
    const scheduled = status.experiments.map((e) => e.experimentId).sort();
    assert.equal(scheduled.length, 7, 'the whole budget, no more');
    assert.equal(new Set(scheduled).size, scheduled.length, 'no experiment twice in the campaign');

    // Temporal: exactly one child workflow per scheduled experiment.
    const children: string[] = [];
    for await (const wf of temporal.client.workflow.list({ query: `WorkflowType = 'rankingExperiment' AND WorkflowId STARTS_WITH '${id}'` })) children.push(wf.workflowId);
    assert.deepEqual(children.sort(), scheduled);

    // Insights database: one row per experiment.
    const insights = InsightsStore.open();
    const rows = insights.list({ campaignId: id, limit: 100 });
    insights.close();
    assert.deepEqual(rows.map((r) => r.experimentId).sort(), scheduled);

    // Event log: one finished/failed event per experiment, no event id twice.
    const { events } = await readEvents(id);
    const ends = events.filter((e) => e.type === 'experiment.finished' || e.type === 'experiment.failed').map((e) => (e as { experimentId: string }).experimentId);
    assert.deepEqual(ends.sort(), scheduled);
    assert.equal(new Set(events.map((e) => e.eventId)).size, events.length);
  });
});
