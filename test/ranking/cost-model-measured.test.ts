import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelConfig } from '../../contracts';
import { fitCostModel, predictTrainingSeconds } from '../../agents/cost-model';
import { trainExperiment } from '../../ranking';
import { generateWideScenario } from '../../ranking/data/wide-planted';
import { BENCH_WIDE_SCENARIOS, resolveWideScenario } from '../../ranking/data/wide-scenarios';

/**
 * Issue 27: the cost model's predictions are within 2x of measured on the wide scenarios. Timings move with the
 * machine's load, so the test calibrates the way a campaign does: a default LR measured on each scenario is the only
 * observation, and the model predicts the other families and an LR with more work from it, each then trained and timed
 * in the same test. A modest row count keeps the whole test to a minute or two; the ratios are what it checks.
 *
 * Load only ever slows a run down, so each side is its fastest run: the LR is timed before every predicted config and
 * after the last (a burst of load on the shared CI machine once inflated both of two back-to-back LR runs, and the
 * heavier LR, timed after it, came out "2.05x over"), and each predicted config three times.
 */
const ROWS = 12_000;
const FIELDS = 39;
const PREDICTED = [
  { family: 'fm' },
  { family: 'dcn' },
  {
    family: 'lr',
    epochs: 4,
    patience: 0,
    crosses: [
      ['C1', 'C2'],
      ['C3', 'C4'],
    ],
  },
];

describe('cost model against measured training time (wide scenarios)', function () {
  this.timeout(300_000);
  let dir: string;
  const home = process.env.RANKWRIGHT_HOME;
  const ratios: string[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-cost-'));
    process.env.RANKWRIGHT_HOME = path.join(dir, 'home');
  });

  after(() => {
    if (home === undefined) delete process.env.RANKWRIGHT_HOME;
    else process.env.RANKWRIGHT_HOME = home;
    fs.rmSync(dir, { recursive: true, force: true });
    if (ratios.length) console.log(`      predicted / measured: ${ratios.join(', ')}`);
  });

  BENCH_WIDE_SCENARIOS.forEach((name, i) => {
    it(`${name}: fm, dcn and a heavier lr predicted within 2x of measured from the measured lr`, async () => {
      const out = path.join(dir, name);
      await generateWideScenario(resolveWideScenario(name, { rows: ROWS }), out);
      const data = {
        format: 'criteo-tsv' as const,
        train: path.join(out, 'train.tsv'),
        validation: path.join(out, 'validation.tsv'),
        test: path.join(out, 'test.tsv'),
      };
      const train = (config: ModelConfig) => trainExperiment({ data, model: config, segmentField: 'C1' });
      const fastest = async (config: ModelConfig, runs: number) => {
        let seconds = Infinity;
        for (let r = 0; r < runs; r++) seconds = Math.min(seconds, (await train(config)).trainSeconds);
        return seconds;
      };
      const lr = ModelConfig.parse({ family: 'lr' });
      // The first run of the suite pays one-time start-up (the wasm backends, the DCN's dense products): warm both.
      if (i === 0) for (const family of ['lr', 'fm', 'dcn']) await train(ModelConfig.parse({ family }));
      const measuredLr = [await fastest(lr, 2)];
      const trained: { raw: object; config: ModelConfig; measured: number }[] = [];
      for (const raw of PREDICTED) {
        const config = ModelConfig.parse(raw);
        trained.push({ raw, config, measured: await fastest(config, 3) });
        measuredLr.push(await fastest(lr, 2));
      }
      const lrSeconds = Math.min(...measuredLr);
      const model = fitCostModel({ rows: ROWS, fields: FIELDS }, [{ config: lr, rows: ROWS, fields: FIELDS, seconds: lrSeconds, weight: 1 }]);
      for (const { raw, config, measured } of trained) {
        const predicted = predictTrainingSeconds(model, config).seconds;
        const ratio = predicted / measured;
        ratios.push(`${name} ${config.family}${config.crosses.length ? '+crosses' : ''} ${ratio.toFixed(2)}`);
        assert.ok(
          ratio >= 0.5 && ratio <= 2,
          `${name} ${JSON.stringify(raw)}: predicted ${predicted.toFixed(2)} s, measured ${measured.toFixed(2)} s (lr fastest ${lrSeconds.toFixed(2)} s of ${measuredLr.map((s) => s.toFixed(2)).join(', ')})`,
        );
      }
    });
  });
});
