import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RankwrightClient } from '../../client/rankwright-client';
import { readEvents } from '../../store/event-log';
import { rankwrightHome } from '../../store/home';
import { writeDeclaredTables } from '../support/declared-tables';
import { runCli } from '../support/processes';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { withRealWorkers, inReview } from '../support/workers';

/** A slot name of the engine (C3, I7): what a person must never have to read when their data has column names. */
const SLOT_NAME = /\b[IC]\d{1,2}\b/;

/**
 * A team's own table: Parquet with a declared schema — named columns, a multi-valued field (`interests`), sample
 * weights (`w`) and a time split (`ts`) — through a whole campaign with the real trainer, sub-agents and stores,
 * to a recommendation, a report and an approval that all speak the table's column names.
 */
describe('a campaign on a declared-schema Parquet table (real activities)', function () {
  this.timeout(600_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let dir: string;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-declared-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs to a recommendation that names columns, with weights and a time split', async () => {
    const tables = await writeDeclaredTables(dir, { rows: 20_000, seed: 11, formats: ['parquet'] });
    const data = tables.configs.parquet!;
    assert.ok(data.split, 'a time split, no test file');
    const id = `declared-${Date.now()}`;
    await withRealWorkers(temporal, async () => {
      await client.startCampaign(
        {
          data,
          // The baseline is written in the table's names: a column-name cross and a per-column knob.
          baseline: { family: 'lr', crosses: [['user_country', 'price']], fields: { age: { transform: 'quantile', buckets: 8 } } },
          budget: { experiments: 4, parallel: 2, probeFraction: 0 },
          agents: 'heuristic',
          approvers: ['ana'],
          segmentField: 'ad_category',
        },
        { id },
      );
      const status = await inReview(client, id, 500_000, 'the campaign to await review');
      const succeeded = status.experiments.filter((e) => e.status === 'succeeded');
      assert.ok(succeeded.length >= 3, status.experiments.map((e) => `${e.experimentId}: ${e.failure?.message ?? 'ok'}`).join('\n'));
      // Test rows are the ones at or after split.testFrom; the model is better than the base rate.
      const testRows = tables.rows.filter((r) => r.ts >= Date.parse(data.split!.testFrom)).length;
      for (const e of succeeded) {
        assert.equal(e.metrics!.examples, testRows);
        assert.ok(e.metrics!.ne < 1, `${e.experimentId} NE ${e.metrics!.ne}`);
      }
      // Segments are the ad categories' values, named as in the table.
      const segments = succeeded[0].metrics!.segments ?? [];
      assert.ok(segments.length > 0 && segments.every((s) => s.field === 'ad_category'), JSON.stringify(segments.slice(0, 3)));

      // Everything a person reads names columns, never slots.
      const hypotheses = status.experiments.map((e) => e.hypothesis).filter((h) => h && h.technique !== 'baseline');
      assert.ok(hypotheses.length >= 2);
      for (const h of hypotheses) for (const text of [h!.title, h!.rationale, h!.expectedEffect]) assert.doesNotMatch(text, SLOT_NAME, text);
      const named = hypotheses.map((h) => `${h!.title} ${h!.rationale}`).join('\n');
      assert.match(named, /user_country|ad_category|interests|price|age/, named);
      assert.ok(status.recommendation, 'a recommendation');
      assert.doesNotMatch(status.recommendation.rationale, SLOT_NAME, status.recommendation.rationale);

      const cli = await runCli(['status', id]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /user_country/);
      const { events } = await readEvents(id);
      for (const e of events) if (e.type === 'design' || e.type === 'recommendation') assert.doesNotMatch(JSON.stringify(e), SLOT_NAME);

      await client.approve(id, { by: 'ana' });
      const done = await client.waitForResult(id);
      assert.equal(done.reviewState, 'approved');
      const report = fs.readFileSync(path.join(rankwrightHome(), 'reports', `${id}.html`), 'utf8');
      assert.match(report, /user_country/);
    });
  });
});
