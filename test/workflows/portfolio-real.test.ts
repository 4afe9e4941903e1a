import { strict as assert } from 'node:assert';
import { CampaignInput, familyDefault, probeScaleFor } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withRealWorkers } from '../support/workers';

/**
 * 30k planted rows whose clicks turn on strong interactions between categorical fields: a linear model without crosses
 * cannot fit them, a DCN learns them. At the default probeMinRows (20k) these rows are below the probe threshold, even
 * for small-data probes (20k rows would be two thirds of them): every idea runs in full.
 */
const PLANTED = {
  seed: 11,
  trainRows: 30_000,
  validationRows: 8_000,
  testRows: 8_000,
  categoricalFields: 6,
  denseFields: 2,
  cardinality: 30,
  crosses: 4,
  crossStrength: 3,
};

/** Issue 27: a portfolio before a ladder, with the real trainer, sub-agents, stores and worker on the dev server. */
describe('the family portfolio on small data (real activities)', function () {
  this.timeout(900_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
  });

  it('a campaign on a small planted table (below the probe threshold) whose best family is the DCN runs a DCN', async () => {
    const id = `portfolio-real-${Date.now()}`;
    const config = CampaignInput.parse({
      campaignId: id,
      data: { planted: PLANTED },
      budget: { experiments: 4, parallel: 2, stallGain: 0 },
      agents: 'heuristic',
      approvers: ['ana'],
    });
    assert.equal(probeScaleFor(config.budget, PLANTED.trainRows, { smallData: true }), undefined, 'below the probe threshold');
    const status = await withRealWorkers(temporal, async () => {
      await client.startCampaign(config, { id });
      const review = await eventually(
        async () => {
          const s = await client.status(id);
          return s.reviewState === 'awaiting-review' || s.reviewState === 'needs-review' ? s : undefined;
        },
        850_000,
        `${id} to await review`,
      );
      await client.abort(id, { by: 'ana' });
      await client.waitForResult(id);
      return review;
    });
    if (process.env.RANKWRIGHT_TEST_VERBOSE)
      console.log(
        status.experiments.map(
          (e) => `${e.experimentId} ${e.phase} ${e.config.family} ${e.hypothesis?.title} val ${e.validationNe} test ${e.metrics?.ne}`,
        ),
      );

    assert.deepEqual(status.probes ?? [], [], 'no probes: every idea ran in full');
    const base = status.experiments.find((e) => e.phase === 'baseline')!;
    const validation = status.experiments.filter((e) => e.phase === 'validation');
    // The validation phase (2 of the 3 units left) is the portfolio: the two families the baseline is not.
    assert.deepEqual(
      validation.map((e) => e.hypothesis?.title),
      ['Portfolio: fm at its defaults', 'Portfolio: dcn at its defaults'],
    );
    const dcn = validation.find((e) => e.config.family === 'dcn')!;
    assert.deepEqual(dcn.config, familyDefault('dcn', base.config, config.searchSpace), 'the DCN at its own defaults');
    assert.equal(dcn.status, 'succeeded', dcn.failure?.message);
    assert.ok(dcn.validationNe! < base.validationNe!, `the DCN (${dcn.validationNe}) beats the LR baseline (${base.validationNe}) on validation`);
    // The best family is the DCN: the campaign's best run is one.
    assert.equal(status.experiments.find((e) => e.experimentId === status.best?.experimentId)?.config.family, 'dcn');
  });
});
