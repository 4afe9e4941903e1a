import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CampaignInputRaw } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { generateWideScenario } from '../../ranking/data/wide-planted';
import { resolveWideScenario } from '../../ranking/data/wide-scenarios';
import { readEvents } from '../../store/event-log';
import { REPO_ROOT, useTemporal, type TemporalForTests } from '../support/temporal';
import { ensureTrainerVenv } from '../support/trainer-venv';
import { withRealWorkers, inReview } from '../support/workers';

const TRAINER = path.join(REPO_ROOT, 'examples', 'trainers', 'lightgbm', 'train.py');

/**
 * LightGBM as a family (searchSpace.trainers): a campaign of the built-in engine whose search space also lists the
 * worker's LightGBM trainer runs it in its first wave beside the built-in families, compares it on validation like any
 * run, and may recommend it. Real Temporal, the product's workers, the example trainer from its virtual environment,
 * on a small cut of the planted scenario where trees should win: bumpy, non-monotone dense effects.
 */
describe('a search space with a worker-configured LightGBM trainer (real campaign)', function () {
  this.timeout(900_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let dir: string;
  let data: CampaignInputRaw['data'];
  const previous = process.env.RANKWRIGHT_TRAINERS;
  const previousHome = process.env.RANKWRIGHT_HOME;

  before(async function () {
    this.timeout(900_000); // pip install from PyPI on a fresh machine
    const python = ensureTrainerVenv().python;
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-space-trainer-'));
    // The worker's owner configures the trainer by name; the campaign can only name it.
    fs.writeFileSync(path.join(dir, 'trainers.json'), JSON.stringify({ lightgbm: { command: [python, TRAINER] } }));
    process.env.RANKWRIGHT_TRAINERS = path.join(dir, 'trainers.json');
    // A home of its own: the suite's earlier campaigns would leave insights whose warm start takes the one slot of
    // this campaign's first wave (a warm start goes before the portfolio).
    process.env.RANKWRIGHT_HOME = path.join(dir, 'home');
    // wide-dense-nonmonotone cut to test size, its signal moved to where trees are at home: strong bumps and dips in
    // the dense counts, dense slopes that change with a categorical value (which LR's per-field buckets cannot express),
    // faint low-cardinality categorical effects, no crosses.
    const spec = JSON.stringify({
      extends: 'wide-dense-nonmonotone',
      trainRows: 20_000,
      validationRows: 5_000,
      testRows: 5_000,
      categorical: { cardinality: [2, 50], effectSd: [0, 0.05] },
      crosses: 0,
      denseCategorical: 4,
      denseCategoricalStrength: 1.2,
      denseShapeHeight: 1.5,
    });
    const out = path.join(dir, 'data');
    const { meta } = await generateWideScenario(resolveWideScenario(spec), out);
    data = {
      format: 'criteo-tsv',
      train: path.join(out, meta.data.train),
      test: path.join(out, meta.data.test),
      ...(meta.data.validation ? { validation: path.join(out, meta.data.validation) } : {}),
    };
  });
  after(() => {
    if (previous === undefined) delete process.env.RANKWRIGHT_TRAINERS;
    else process.env.RANKWRIGHT_TRAINERS = previous;
    if (previousHome === undefined) delete process.env.RANKWRIGHT_HOME;
    else process.env.RANKWRIGHT_HOME = previousHome;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs LightGBM in its first wave beside the built-in families, judges it on validation and may recommend it', async () => {
    const campaignId = `space-lightgbm-${Date.now().toString(36)}`;
    const config: CampaignInputRaw = {
      campaignId,
      data,
      // Baseline, a first wave of one (the portfolio: LR's default is the baseline, so LightGBM alone), then one knob move.
      budget: { experiments: 3, parallel: 1, stallGain: 0 },
      agents: 'heuristic',
      approvers: ['ana'],
      searchSpace: {
        families: ['lr'],
        trainers: [
          {
            kind: 'command',
            name: 'lightgbm',
            params: { num_boost_round: 150, learning_rate: 0.1, num_threads: 1 },
            searchSpace: { num_leaves: { type: 'int', min: 7, max: 63, log: true } },
            pollSeconds: 2,
          },
        ],
      },
    };
    const status = await withRealWorkers(temporal, async () => {
      await client.startCampaign(config, { id: campaignId });
      return inReview(client, campaignId, 800_000, 'the campaign awaiting review');
    });
    const [baseline, first, ...later] = status.experiments;
    assert.equal(baseline.phase, 'baseline');
    assert.equal(baseline.externalJob, undefined, 'the built-in engine trains the baseline');
    assert.equal(first.phase, 'validation');
    assert.equal(first.hypothesis?.technique, 'trainer-lightgbm', 'the first wave is the portfolio: LightGBM at its declared knobs');
    assert.equal(first.status, 'succeeded', first.failure?.message);
    assert.deepEqual(first.externalJob?.params, { num_boost_round: 150, learning_rate: 0.1, num_threads: 1 });
    // On bumpy dense effects the trees beat hashed LR on the validation rows the campaign decides on.
    assert.ok(
      first.validationNe! < baseline.validationNe!,
      `LightGBM validation NE ${first.validationNe} vs baseline ${baseline.validationNe}: trees should win here`,
    );
    // With LightGBM the best run, the next phase tunes its knobs within the declared range.
    assert.equal(later.length, 1);
    assert.equal(later[0].externalJob?.name, 'lightgbm', 'the best run is the trainer: the combination phase tunes it');
    const leaves = later[0].externalJob!.params.num_leaves as number;
    assert.ok(leaves >= 7 && leaves <= 63, `num_leaves ${leaves} within the search space`);
    // The recommendation is made on validation among every run, the trainer's included.
    assert.ok(status.recommendation, 'a recommendation');
    const chosen = status.experiments.find((e) => e.experimentId === status.recommendation!.experimentId)!;
    assert.equal(chosen.externalJob?.name, 'lightgbm', 'the trees are recommended');
    const { events } = await readEvents(campaignId);
    assert.ok(events.some((e) => e.type === 'experiment.job' && e.state === 'succeeded' && e.experimentId === first.experimentId));
  });

  it('a search space naming a trainer the worker lacks fails at the start, before any training, naming what it has', async () => {
    const campaignId = `space-missing-${Date.now().toString(36)}`;
    const failure = await withRealWorkers(temporal, async () => {
      await client.startCampaign(
        { campaignId, data, approvers: ['ana'], agents: 'heuristic', searchSpace: { trainers: [{ kind: 'command', name: 'xgboost' }] } },
        { id: campaignId },
      );
      return client.waitForResult(campaignId).then(
        () => 'completed',
        (err: Error & { cause?: Error }) => err.cause?.message ?? err.message,
      );
    });
    assert.match(failure, /searchSpace\.trainers: trainer "xgboost" is not configured on this worker \(.*has lightgbm\)/);
    assert.match(failure, /leave it out of the search space/);
    const { events } = await readEvents(campaignId);
    assert.ok(!events.some((e) => e.type === 'experiment.started'), 'no experiment started');
  });
});
