import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CampaignInput, type CampaignStatus } from '../../contracts';
import { decisionMetrics } from '../../contracts/decision-metrics';
import { RankwrightClient } from '../../client/rankwright-client';
import { generateWideScenario } from '../../ranking/data/wide-planted';
import { resolveWideScenario } from '../../ranking/data/wide-scenarios';
import { readEvents } from '../../store/event-log';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withRealWorkers, inReview } from '../support/workers';

/**
 * Whole agent campaigns with the real trainer, stores and worker on the real dev server, on the planted cases of real
 * logs' trouble: rare clicks, drift and small data (the generator's `rare-clicks`, `drift`, `small-data`, cut to test
 * size), and labels that are pure noise. What they must show: decisions made on validation and a pick confirmed on
 * test once; the floor (no recommendation worse than a constant, or below chance); the drift reported before the
 * budget is spent; and research expectations that never exceed their held-out bound.
 */
describe('campaigns on rare clicks, drift and small data (real activities)', function () {
  this.timeout(900_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-trust-'));
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Writes a scenario's files through the generator, as `rankwright generate` does; returns its data config. */
  async function scenarioData(spec: string, rows?: number) {
    const out = path.join(dir, spec.startsWith('{') ? `custom-${fs.readdirSync(dir).length}` : spec);
    const { meta } = await generateWideScenario(resolveWideScenario(spec, rows ? { rows } : {}), out);
    return {
      format: 'criteo-tsv' as const,
      train: path.join(out, meta.data.train),
      test: path.join(out, meta.data.test),
      ...(meta.data.validation ? { validation: path.join(out, meta.data.validation) } : {}),
    };
  }

  /** A 4-experiment agent campaign with heuristic sub-agents (LR only: quick); its status once it awaits a human. */
  async function campaignOn(data: Awaited<ReturnType<typeof scenarioData>>, id: string): Promise<CampaignStatus> {
    const config = CampaignInput.parse({
      campaignId: id,
      data,
      budget: { experiments: 4, parallel: 2, stallGain: 0 },
      agents: 'heuristic',
      approvers: ['ana'],
      searchSpace: { families: ['lr'] },
    });
    await client.startCampaign(config, { id });
    return inReview(client, id, 800_000);
  }

  /** Every recommendation clears the floor on validation; no recommendation means a halt that says why. */
  function assertFloor(status: CampaignStatus) {
    const rec = status.recommendation;
    if (!rec) {
      assert.equal(status.reviewState, 'needs-review');
      return;
    }
    const chosen = status.experiments.find((e) => e.experimentId === rec.experimentId)!;
    const v = decisionMetrics(chosen, 'validation')!;
    assert.ok(v.ne + (v.neStdErr ?? 0) < 1, `validation NE ${v.ne} ± ${v.neStdErr} clears 1`);
    assert.ok(v.auc! > 0.5, `validation AUC ${v.auc}`);
    assert.ok(v.calibration! >= 0.8 && v.calibration! <= 1.25, `validation calibration ${v.calibration}`);
  }

  /** The pick was selected on validation and compared with the baseline on test once, in words a reviewer reads. */
  function assertSelectedOnValidation(status: CampaignStatus) {
    assert.equal(status.decidedOn, 'validation');
    const measured = status.experiments.filter((e) => e.validationMetrics);
    assert.equal(measured.length, status.experiments.filter((e) => e.status === 'succeeded').length, 'every run has validation metrics');
    const lowest = Math.min(...measured.map((e) => e.validationMetrics!.ne));
    assert.equal(status.best?.validationNe, lowest, 'the best run is the lowest validation NE');
    const rec = status.recommendation;
    if (rec) {
      assert.equal(rec.confirmation?.selectedOn, 'validation');
      assert.match(rec.rationale, /^Selected on validation \(NE [0-9.]+/);
      assert.match(rec.rationale, /(confirmed|NOT confirmed) on test: test NE/);
      assert.ok(rec.validationMetrics, 'the recommendation carries the validation numbers it was chosen by');
    }
  }

  /** Research never expects more than its held-out measurement supports. */
  function assertResearchBounded(status: CampaignStatus) {
    assert.ok(status.research, 'the research step ran');
    for (const h of status.research.hypotheses) {
      assert.ok(h.heldOutGain !== undefined, `${h.hypothesis.title} carries its held-out bound`);
      assert.ok(h.expectedGain <= h.heldOutGain + 1e-12, `${h.hypothesis.title}: expected ${h.expectedGain} ≤ held-out ${h.heldOutGain}`);
    }
  }

  it('drift: the falling click rate is a finding before the budget is spent, and the pick is chosen on validation', async () => {
    const id = `trust-drift-${Date.now()}`;
    const status = await withRealWorkers(temporal, async () => {
      const s = await campaignOn(await scenarioData('drift', 60_000), id);
      await client.abort(id, { by: 'ana' });
      return s;
    });
    const kinds = status.dataChecks?.findings.map((f) => f.kind) ?? [];
    assert.ok(kinds.includes('test-base-rate') || kinds.includes('base-rate-trend'), `a base-rate finding: ${kinds.join(', ')}`);
    const events = (await readEvents(id)).events;
    const checks = events.find((e) => e.type === 'campaign.data-checks');
    assert.ok(checks && checks.type === 'campaign.data-checks' && checks.findings.length > 0, 'the data checks are in the event log');
    const order = events.map((e) => e.type);
    assert.ok(order.indexOf('campaign.data-checks') < order.indexOf('campaign.phase'), 'reported before the first phase');
    assertSelectedOnValidation(status);
    assertFloor(status);
    assertResearchBounded(status);
    if (process.env.RANKWRIGHT_TEST_VERBOSE)
      console.log(JSON.stringify({ checks: status.dataChecks, rec: status.recommendation, research: status.research?.hypotheses }, null, 1));
  });

  it('rare clicks: the floor holds and research stays within what its held-out rows support', async () => {
    const id = `trust-rare-${Date.now()}`;
    const status = await withRealWorkers(temporal, async () => {
      const s = await campaignOn(await scenarioData('rare-clicks', 100_000), id);
      await client.abort(id, { by: 'ana' });
      return s;
    });
    if (process.env.RANKWRIGHT_TEST_VERBOSE)
      console.log(JSON.stringify({ checks: status.dataChecks, rec: status.recommendation, research: status.research?.hypotheses }, null, 1));
    assertSelectedOnValidation(status);
    assertFloor(status);
    assertResearchBounded(status);
  });

  it('small data: says what the validation rows can detect, and never recommends past the floor', async () => {
    const id = `trust-small-${Date.now()}`;
    const status = await withRealWorkers(temporal, async () => {
      const s = await campaignOn(await scenarioData('small-data'), id);
      await client.abort(id, { by: 'ana' });
      return s;
    });
    const detectable = status.dataChecks?.detectable.find((d) => d.split === 'validation');
    assert.ok(detectable && detectable.relativeNeChange > 0.01, `validation detects ${detectable?.relativeNeChange}`);
    assert.ok(
      status.dataChecks!.findings.some((f) => f.kind === 'detectable-validation'),
      'a finding says a 1% change is out of reach',
    );
    assertFloor(status);
    assertResearchBounded(status);
  });

  it('pure noise: no recommendation, a halt that says the data holds no usable signal; an override with a reason picks anyway', async () => {
    const noise = JSON.stringify({
      name: 'noise',
      seed: 909,
      trainRows: 30_000,
      validationRows: 6_000,
      testRows: 10_000,
      baseCtr: 0.005,
      categorical: { effectSd: [0, 0] },
      dense: { slopeSd: 0 },
      crosses: 0,
      denseCategorical: 0,
      threeWay: 0,
      denseShapes: 0,
      labelNoise: 0,
    });
    const id = `trust-noise-${Date.now()}`;
    await withRealWorkers(temporal, async () => {
      const halted = await campaignOn(await scenarioData(noise), id);
      assert.equal(halted.reviewState, 'needs-review');
      assert.equal(halted.recommendation, null);
      assert.ok(
        halted.guardrailBreaches.some((b) => b.experimentId === halted.baselineId && b.constraint.startsWith('floor.')),
        'the baseline breaks the floor',
      );
      const said = (await readEvents(id)).events.find((e) => e.type === 'recommendation');
      assert.ok(said && said.type === 'recommendation');
      assert.equal(said.experimentId, null);
      assert.match(said.rationale, /No recommendation: the data holds no usable signal/);
      assert.match(said.rationale, /What would help: more clicks \(the validation rows hold \d+/);
      await assert.rejects(client.approve(id, { by: 'ana' }), /cannot approve/);
      await client.override(id, { by: 'ana', reason: 'shadow test it anyway' });
      const overridden = await eventually(async () => {
        const s = await client.status(id);
        return s.reviewState === 'awaiting-review' ? s : undefined;
      });
      assert.match(overridden.recommendation!.rationale, /Floor overridden by ana: "shadow test it anyway"/);
      await client.abort(id, { by: 'ana' });
    });
  });
});
