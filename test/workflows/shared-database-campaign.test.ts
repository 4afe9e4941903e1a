import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CampaignEvent } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { closePostgresEventStores } from '../../store/events/sql-event-store';
import { rankwrightHome } from '../../store/home';
import { InsightsStore } from '../../store/insights';
import { insightsBackends } from '../support/insights-backends';
import { runCli } from '../support/processes';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { withRealWorkers, inReview } from '../support/workers';

/** A small planted problem: quick to train. */
const PLANTED = { seed: 11, trainRows: 12_000, validationRows: 4_000, testRows: 4_000, categoricalFields: 4, crosses: 1, crossStrength: 2 };

/**
 * A fleet's shared database: a real campaign whose workers keep its events and insights in PostgreSQL
 * (RANKWRIGHT_DATABASE_URL), then read from a machine whose home has never run anything.
 */
describe('a campaign with its events and insights in PostgreSQL (real activities)', function () {
  this.timeout(600_000);
  const postgres = insightsBackends.find((b) => b.name === 'PostgreSQL')!;
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let third: string;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    process.env.RANKWRIGHT_DATABASE_URL = await postgres.fresh();
    third = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-third-home-'));
  });
  after(async () => {
    await closePostgresEventStores();
    delete process.env.RANKWRIGHT_DATABASE_URL;
    await postgres.cleanup();
    fs.rmSync(third, { recursive: true, force: true });
  });

  it('a third home that never ran anything prints its events and writes its report', async () => {
    const id = `shared-db-${Date.now()}`;
    const status = await withRealWorkers(temporal, async () => {
      await client.startCampaign(
        {
          data: { planted: PLANTED },
          budget: { experiments: 3, parallel: 2 },
          agents: 'heuristic',
          approvers: ['ana'],
          searchSpace: { families: ['lr', 'fm'] },
        },
        { id },
      );
      const review = await inReview(client, id, 500_000);
      await client.abort(id, { by: 'ana' });
      await client.waitForResult(id);
      return review;
    });
    assert.ok(!fs.existsSync(path.join(rankwrightHome(), 'events', `${id}.jsonl`)), 'the workers kept no event log in their home');

    // Another machine: nothing in its home but what the commands below write; the same database.
    const printed = await runCli(['events', id, '--json'], { RANKWRIGHT_HOME: third });
    assert.equal(printed.code, 0, printed.stderr);
    const events = printed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as CampaignEvent);
    // The campaign's own events are flushed in batches, so experiments' events may come first; its end comes last.
    const types = events.map((e) => e.type);
    assert.ok(types.includes('campaign.started'), types.join(', '));
    assert.equal(types.indexOf('campaign.finished'), types.length - 1, types.join(', '));
    const finished = events.flatMap((e) => (e.type === 'experiment.finished' ? [e.experimentId] : []));
    for (const e of status.experiments.filter((x) => x.status === 'succeeded')) assert.ok(finished.includes(e.experimentId), e.experimentId);

    const report = await runCli(['report', id, '--json'], { RANKWRIGHT_HOME: third });
    assert.equal(report.code, 0, report.stderr);
    const written = JSON.parse(report.stdout) as { path: string };
    assert.equal(written.path, path.join(third, 'reports', `${id}.html`));
    const html = fs.readFileSync(written.path, 'utf8');
    for (const e of status.experiments) assert.ok(html.includes(e.experimentId), e.experimentId);
    assert.match(html, /campaign\.started/, "the report's timeline is read from the shared event log");
    assert.ok(!fs.existsSync(path.join(third, 'events')) && !fs.existsSync(path.join(third, 'insights.sqlite')));

    // The insights the workers recorded are in the same database.
    const insights = await InsightsStore.open();
    try {
      const rows = await insights.list({ campaignId: id, limit: 100 });
      assert.deepEqual(rows.map((r) => r.experimentId).sort(), status.experiments.map((e) => e.experimentId).sort());
    } finally {
      await insights.close();
    }
  });
});
