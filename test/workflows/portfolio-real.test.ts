import { strict as assert } from 'node:assert';
import { CampaignInput, familyDefault, probeScaleFor } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { scriptedActivities } from '../support/scripted-activities';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { withRealWorkers, withWorkers, inReview } from '../support/workers';

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
      budget: { experiments: 7, parallel: 2, stallGain: 0 },
      agents: 'heuristic',
      approvers: ['ana'],
    });
    assert.equal(probeScaleFor(config.budget, PLANTED.trainRows, { smallData: true }), undefined, 'below the probe threshold');
    const status = await withRealWorkers(temporal, async () => {
      return reviewThenAbort(client, config, id, 850_000);
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
    // The validation phase (3 of the 6 units left) starts with the portfolio: the two families the baseline is not —
    // after a warm start when an earlier campaign on this or similar data left a winner (the suite's other campaigns).
    const warm = validation.filter((e) => e.hypothesis?.technique === 'warm-start');
    if (warm.length === 0) assert.deepEqual(firstTwoTitles(validation), PORTFOLIO_TITLES);
    const dcn = validation.find((e) => e.config.family === 'dcn')!;
    assert.ok(dcn, `a DCN in the first wave: ${validation.map((e) => e.hypothesis?.title).join('; ')}`);
    if (!warm.includes(dcn)) assert.deepEqual(dcn.config, familyDefault('dcn', base.config, config.searchSpace), 'the DCN at its own defaults');
    assert.equal(dcn.status, 'succeeded', dcn.failure?.message);
    assert.ok(dcn.validationNe! < base.validationNe!, `the DCN (${dcn.validationNe}) beats the LR baseline (${base.validationNe}) on validation`);
    // The best family is the DCN: the campaign's best run is one.
    assert.equal(status.experiments.find((e) => e.experimentId === status.best?.experimentId)?.config.family, 'dcn');
  });

  it('a 12-run campaign on 80k rows (below the probe threshold at 20%) runs every family in full, then screens ideas on small-data probes (scripted training)', async () => {
    const script = scriptedActivities();
    const id = `portfolio-small-${Date.now()}`;
    const status = await withWorkers(temporal, script.activities, async () => {
      const config = {
        data: { planted: { seed: 3, trainRows: 80_000 } },
        budget: { experiments: 12, parallel: 2, stallGain: 0 },
        approvers: ['ana'],
      };
      return reviewThenAbort(client, config, id, 120_000);
    });
    const probes = status.probes ?? [];
    // 20% of 80k is under probeMinRows: probes read 20k rows (25%). Validation's 4 units: the portfolio's FM and DCN
    // run in full first (a small probe ranks ideas within a family, not families), then 1 buys a reference and 3 ideas.
    const validation = status.experiments.filter((e) => e.phase === 'validation');
    assert.deepEqual(firstTwoTitles(validation), PORTFOLIO_TITLES);
    assert.equal(probes.length, 4);
    assert.ok(probes.every((p) => p.probe?.rowFraction === 0.25 && p.probe.trainRows === 20_000));
    const probeTrainings = script.trained.filter((t) => /-p\d+$/.test(t.experimentId));
    assert.ok(probeTrainings.length >= 4 && probeTrainings.every((t) => 'planted' in t.data && t.data.planted.trainRows === 20_000));
    assert.ok(
      probes.every((p) => !p.hypothesis?.title.startsWith('Portfolio:')),
      'no family default is probed',
    );
    assert.deepEqual([...new Set(status.experiments.map((p) => p.config.family))].sort(), ['dcn', 'fm', 'lr'], 'every family tried');
    assert.ok(status.budgetUsed.compute! <= 12);
  });
});

/** Starts the campaign, waits until it awaits review (its status then), and aborts it so that it ends. */
async function reviewThenAbort(client: RankwrightClient, config: Parameters<RankwrightClient['startCampaign']>[0], id: string, timeoutMs: number) {
  await client.startCampaign(config, { id });
  const review = await inReview(client, id, timeoutMs);
  await client.abort(id, { by: 'ana' });
  await client.waitForResult(id);
  return review;
}

/** The portfolio's two full runs beside an LR baseline, in title order. */
const PORTFOLIO_TITLES = ['Portfolio: dcn at its defaults', 'Portfolio: fm at its defaults'];

/** The titles of the validation phase's first two runs, sorted (they run in parallel and finish in either order). */
function firstTwoTitles(validation: Array<{ hypothesis?: { title: string } }>): Array<string | undefined> {
  return validation
    .slice(0, 2)
    .map((e) => e.hypothesis?.title)
    .sort();
}
