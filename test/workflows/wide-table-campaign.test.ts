import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RankwrightClient } from '../../client/rankwright-client';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { writeWideTable } from '../support/wide-table';
import { withRealWorkers, inReview } from '../support/workers';

/**
 * The agent on a table wider than Criteo (80 categorical, 30 dense, 2 list columns; test/support/wide-table.ts):
 * with the real trainer, research and heuristic designer, its search reaches the planted cross of two columns far
 * past the 26th (c70 × c75, a pure interaction no single column shows) and recommends a model better than the
 * baseline, all in the table's column names.
 */
describe('a campaign on a table wider than Criteo (real activities)', function () {
  this.timeout(600_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let dir: string;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-wide-campaign-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds and crosses the planted pair past the 26th column, and recommends it', async () => {
    const table = writeWideTable(dir, { trainRows: 12_000, testRows: 4_000 });
    const id = `wide-${Date.now()}`;
    await withRealWorkers(temporal, async () => {
      await client.startCampaign(
        {
          data: { format: 'csv', train: table.train, test: table.test, schema: table.schema },
          baseline: { family: 'lr' },
          budget: { experiments: 8, parallel: 2, probeFraction: 0 },
          strategy: 'agent',
          agents: 'heuristic',
          approvers: ['ana'],
        },
        { id },
      );
      const status = await inReview(client, id, 500_000, 'the campaign to await review');
      const summary = status.experiments.map(
        (e) => `${e.experimentId} ${e.status} ${e.hypothesis?.title ?? ''} ${e.metrics?.ne ?? e.failure?.message ?? ''}`,
      );
      const crossing = status.experiments.filter(
        (e) => e.status === 'succeeded' && /c70/.test(e.hypothesis?.title ?? '') && /c75/.test(e.hypothesis?.title ?? ''),
      );
      assert.ok(crossing.length > 0, `an experiment crosses c70 and c75:\n${summary.join('\n')}`);
      const baseline = status.experiments.find((e) => e.hypothesis?.technique === 'baseline');
      assert.ok(status.recommendation, `a recommendation:\n${summary.join('\n')}`);
      const picked = status.experiments.find((e) => e.experimentId === status.recommendation!.experimentId)!;
      assert.ok(picked.metrics!.ne < baseline!.metrics!.ne - 0.01, `the pick ${picked.metrics!.ne} beats the baseline ${baseline!.metrics!.ne}`);
      await client.abort(id, { by: 'ana', reason: 'test done' }).catch(() => {});
    });
  });
});
