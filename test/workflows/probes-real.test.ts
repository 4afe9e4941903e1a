import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REFERENCE_PROBE } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { readEvents } from '../../store/event-log';
import { InsightsStore } from '../../store/insights';
import { rankwrightHome } from '../../store/home';
import { runCli } from '../support/processes';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { withRealWorkers, inReview } from '../support/workers';

/** 60k planted rows: probes at the default 20% train on 12k (probeMinRows lowered to 5,000 to allow it). */
const PLANTED = { seed: 9, trainRows: 60_000, validationRows: 6_000, testRows: 10_000, categoricalFields: 6, crosses: 2, crossStrength: 2 };

/** A campaign that screens its ideas as probes, with the real trainer, sub-agents, stores and worker on the dev server. */
describe('probes end to end (real activities)', function () {
  this.timeout(600_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
  });

  it('trains probes on the row sample, runs the winners in full, and shows the round in status, events, CLI and report', async () => {
    const id = `probes-real-${Date.now()}`;
    const status = await withRealWorkers(temporal, async () => {
      await client.startCampaign(
        {
          data: { planted: PLANTED },
          budget: { experiments: 5, parallel: 2, probeMinRows: 5_000, stallGain: 0 },
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

    // Validation had 2 of the 4 units left after the baseline: a reference and 4 ideas as probes (1 unit), then up to
    // 1 full run of the best probe that beat the reference.
    const probes = status.probes ?? [];
    assert.equal(probes.length, 5);
    const reference = probes.find((p) => p.hypothesis?.technique === REFERENCE_PROBE)!;
    const base = status.experiments.find((e) => e.phase === 'baseline')!;
    assert.deepEqual(reference.config, base.config);
    for (const p of probes) {
      assert.equal(p.status, 'succeeded', `${p.experimentId}: ${p.failure?.message}`);
      assert.deepEqual(p.probe, { rowFraction: 0.2, trainRows: 12_000 });
      assert.equal(typeof p.validationNe, 'number');
      // The real loader generated 12k training rows for it: its learning curve never saw more per epoch.
      const seen = Math.max(...p.learningCurve!.map((c) => c.examples));
      assert.ok(seen <= 12_000 * p.config.epochs, `${p.experimentId} trained on ${seen} examples`);
    }
    assert.ok(Math.max(...base.learningCurve!.map((c) => c.examples)) > 12_000 * base.config.epochs, 'the baseline trained on all rows');
    const promoted = probes.filter((p) => p.promotedTo);
    assert.ok(promoted.length <= 1);
    for (const p of promoted) {
      assert.ok(p.validationNe! < reference.validationNe!);
      const full = status.experiments.find((e) => e.experimentId === p.promotedTo)!;
      assert.ok(full.hypothesis?.parents.includes(p.experimentId));
      assert.deepEqual(full.config, p.config);
    }
    assert.ok(Math.abs(status.budgetUsed.compute! - (status.experiments.length + 0.2 * probes.length)) < 1e-9);
    assert.ok(status.budgetUsed.compute! <= 5);

    // Probes are recorded in the event log and the report, never in the insights database.
    const { events } = await readEvents(id);
    const round = events.find((e) => e.type === 'campaign.probes');
    assert.ok(round && round.type === 'campaign.probes' && round.probes.length === 4 && round.rows === 12_000);
    const insights = await InsightsStore.open();
    const rows = await insights.list({ campaignId: id, limit: 100 });
    await insights.close();
    assert.deepEqual(rows.map((r) => r.experimentId).sort(), status.experiments.map((e) => e.experimentId).sort());
    const report = fs.readFileSync(path.join(rankwrightHome(), 'reports', `${id}.html`), 'utf8');
    assert.ok(probes.every((p) => report.includes(p.experimentId)) && report.includes('id="probes"'));
    const text = await runCli(['status', id]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /probes \(validation NE on 12000 training rows; a winner earns a full run\):/);
    assert.match(text.stdout, /budget used: \d+ experiments \+ 5 probes = [\d.]+ full-run equivalents of compute/);
  });
});
