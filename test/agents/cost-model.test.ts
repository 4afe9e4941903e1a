import { strict as assert } from 'node:assert';
import { DataConfig, ModelConfig, type ExperimentResult, type ExperimentSummary } from '../../contracts';
import { costModelError } from '../../bench/agent/cost-check';
import { designHeuristically } from '../../agents/heuristic-designer';
import { designPrompt } from '../../agents/hypothesis-designer';
import { baseline, designRequest } from './fixtures';
import {
  costModelFor,
  fitCostModel,
  modelFieldCount,
  predictTrainingSeconds,
  priorTrainingSeconds,
  relativeCost,
  type CostObservation,
} from '../../agents/cost-model';

const lr = ModelConfig.parse({ family: 'lr' });
const fm = ModelConfig.parse({ family: 'fm' });
const dcn = ModelConfig.parse({ family: 'dcn' });
const data = { rows: 50_000, fields: 39 };
const observed = (config: ModelConfig, seconds: number, weight = 1, rows = data.rows): CostObservation => ({
  config,
  rows,
  fields: data.fields,
  seconds,
  weight,
});

describe('cost model', () => {
  it('without observations predicts the prior, basis assumed', () => {
    const model = fitCostModel(data, []);
    for (const config of [lr, fm, dcn]) {
      const p = predictTrainingSeconds(model, config);
      assert.equal(p.basis, 'assumed');
      assert.equal(p.seconds, priorTrainingSeconds(config, data.rows, data.fields));
    }
  });

  it('the prior grows with rows, epochs, crosses, embedding dim and DCN layers, and orders the families lr < fm < dcn', () => {
    const prior = (c: object, rows = data.rows) => priorTrainingSeconds(ModelConfig.parse(c), rows, data.fields);
    assert.ok(prior({ family: 'lr' }, 100_000) > prior({ family: 'lr' }));
    assert.ok(prior({ family: 'lr', epochs: 4 }) > prior({ family: 'lr' }));
    assert.ok(prior({ family: 'lr', crosses: [['C1', 'C2']] }) > prior({ family: 'lr' }));
    assert.ok(prior({ family: 'lr', fields: { C1: { drop: true } } }) < prior({ family: 'lr' }));
    assert.ok(prior({ family: 'fm', embeddingDim: 16 }) > prior({ family: 'fm' }));
    assert.ok(prior({ family: 'dcn', embeddingDim: 16 }) > prior({ family: 'dcn' }));
    assert.ok(prior({ family: 'dcn', crossLayers: 3 }) > prior({ family: 'dcn' }));
    assert.ok(prior({ family: 'dcn', mlp: [256, 128] }) > prior({ family: 'dcn' }));
    // Low-rank cross layers: 2·width·r products a layer instead of width² (width 312 here), so cost falls with the rank.
    const dcnAt = (crossRank: number | 'full') => prior({ family: 'dcn', crossRank });
    assert.ok(dcnAt(16) < dcnAt(32) && dcnAt(32) < dcnAt(64) && dcnAt(64) < dcnAt('full'));
    assert.ok(dcnAt(32) < 0.75 * dcnAt('full'), `rank 32 ${dcnAt(32)} vs full ${dcnAt('full')}`);
    assert.ok(prior({ family: 'lr', negativeSamplingRate: 0.25 }) < prior({ family: 'lr' }));
    assert.ok(prior({ family: 'lr' }) < prior({ family: 'fm' }) && prior({ family: 'fm' }) < prior({ family: 'dcn' }));
  });

  it("a family's measured runs move its prediction toward what they took", () => {
    const prior = priorTrainingSeconds(fm, data.rows, data.fields);
    // LR ran as its prior says (the machine factor is pulled toward 1); FM took 4x its prior.
    const lrAsPrior = observed(lr, priorTrainingSeconds(lr, data.rows, data.fields));
    const one = predictTrainingSeconds(fitCostModel(data, [lrAsPrior, observed(fm, prior * 4)]), fm);
    assert.equal(one.basis, 'measured');
    assert.ok(one.seconds > prior * 2 && one.seconds < prior * 4, `${one.seconds} vs prior ${prior}`);
    const three = predictTrainingSeconds(fitCostModel(data, [lrAsPrior, ...[1, 2, 3].map(() => observed(fm, prior * 4))]), fm);
    assert.ok(three.seconds > one.seconds && three.seconds <= prior * 4 + 1e-9, 'more runs, closer to the measurement');
    // A run at other rows corrects the same per-row rate: a probe on a fifth of the rows predicts the full run.
    const probe = fitCostModel(data, [lrAsPrior, observed(fm, (prior * 4) / 5, 1, data.rows / 5)]);
    assert.ok(Math.abs(predictTrainingSeconds(probe, fm).seconds - one.seconds) / one.seconds < 0.2);
  });

  it('a family nobody measured takes the machine factor of the others', () => {
    const slow = 3;
    const model = fitCostModel(data, [observed(lr, slow * priorTrainingSeconds(lr, data.rows, data.fields))]);
    const p = predictTrainingSeconds(model, dcn);
    assert.equal(p.basis, 'machine');
    assert.ok(Math.abs(p.seconds / priorTrainingSeconds(dcn, data.rows, data.fields) - slow) < 1e-9);
    // Relative costs then keep the prior's ratio.
    assert.ok(Math.abs(relativeCost(model, dcn, lr) - priorTrainingSeconds(dcn, 1, 39) / priorTrainingSeconds(lr, 1, 39)) < 1e-9);
  });

  it("measured families change the ratio: a DCN measured as cheap as LR costs about LR's", () => {
    const model = fitCostModel(data, [observed(lr, 1), observed(lr, 1), observed(dcn, 1), observed(dcn, 1)]);
    const ratio = relativeCost(model, dcn, lr);
    assert.ok(ratio > 0.5 && ratio < 3, `dcn/lr ${ratio}`);
  });

  it('weights: a heavy observation counts more than a light one', () => {
    const prior = priorTrainingSeconds(lr, data.rows, data.fields);
    const model = fitCostModel(data, [observed(lr, prior * 8, 1), observed(lr, prior / 8, 0.1)]);
    assert.ok(predictTrainingSeconds(model, lr).seconds > prior * 2);
  });

  it("is built from a design request: the campaign's runs (probes at their rows), past runs from the insights", () => {
    const run = (id: string, config: ModelConfig, trainSeconds: number, extra: Partial<ExperimentSummary> = {}): ExperimentSummary => ({
      experimentId: id,
      phase: 'validation',
      family: config.family,
      config,
      status: 'succeeded',
      trainSeconds,
      ...extra,
    });
    const baseline = run('b', lr, 2);
    const fmPrior = priorTrainingSeconds(fm, data.rows, data.fields);
    const req = {
      baseline,
      history: [baseline, run('probe', fm, fmPrior, { trainRows: data.rows / 10 }), run('failed', dcn, 0, { status: 'failed' })],
      trainRows: data.rows,
      fieldCount: data.fields,
      measuredCosts: [{ experimentId: 'past', config: dcn, rows: 10_000, fields: 39, seconds: 40, similarity: 1 }],
    };
    const model = costModelFor(req);
    assert.equal(model.rows, data.rows);
    assert.equal(model.families.lr.basis, 'measured');
    assert.equal(model.families.lr.runs, 1, 'the baseline counts once');
    // The probe read a tenth of the rows in the prior's full-run time: fm is predicted ~10x slower than its prior.
    assert.ok(predictTrainingSeconds(model, fm).seconds > 4 * fmPrior);
    assert.equal(model.families.dcn.basis, 'measured', 'the insights measured dcn; the failed run measured nothing');
    // Deterministic: the same request, the same model.
    assert.deepEqual(costModelFor(req), model);
  });
});

describe('the fields the cost model scales by', () => {
  it('a declared table counts its columns, a list as one pooled field; other data their traits', () => {
    const schema = {
      columns: { y: 'label', price: 'dense', country: 'categorical', tags: { role: 'multiCategorical', maxValues: 6 }, ts: 'timestamp' },
    } as const;
    const declared = DataConfig.parse({ format: 'csv', train: 't.csv', test: 'e.csv', schema });
    // Six list positions are six slots of the layout and one field of the model: price, country, tags.
    assert.equal(modelFieldCount(declared, { categoricalFields: 7, denseFields: 1 }), 3);
    const criteo = DataConfig.parse({ format: 'criteo-tsv', train: 't.tsv', test: 'e.tsv' });
    assert.equal(modelFieldCount(criteo, { categoricalFields: 26, denseFields: 13 }), 39);
    assert.equal(modelFieldCount(criteo, {}), undefined);
    // A DCN on the pooled count is predicted cheaper than one on every slot.
    assert.ok(priorTrainingSeconds(dcn, 50_000, 3) < priorTrainingSeconds(dcn, 50_000, 8));
  });
});

describe('cost model in the designers', () => {
  it("the heuristic designer's rationale says the predicted seconds and whether the family's time was measured", () => {
    // The baseline (lr) trained in 2 s on 50k rows: lr is measured, fm only through the machine factor.
    const req = designRequest({ count: 4, baseline: { ...baseline, trainSeconds: 2 }, trainRows: 50_000, fieldCount: 39 });
    const res = designHeuristically(req);
    const cross = res.proposals.find((p) => p.model.family === 'lr')!;
    assert.match(cross.hypothesis.expectedEffect, /predicted training ~[\d.]+ s \(from measured runs of the family\), [\d.]+x the reference run/);
    const fmRun = res.proposals.find((p) => p.model.family === 'fm');
    if (fmRun) assert.match(fmRun.hypothesis.expectedEffect, /machine's other families/);
  });

  it("the LLM designer's prompt gives each family's predicted training time", () => {
    const prompt = designPrompt(designRequest({ count: 2, baseline: { ...baseline, trainSeconds: 2 }, trainRows: 50_000 }));
    assert.match(prompt.system, /Predicted training time of each family's default run on this data: lr ~[\d.]+ s \(from measured runs/);
    assert.match(prompt.system, /dcn ~[\d.]+ s \(from this machine's other families\)/);
  });
});

describe('cost model check in the agent bench', () => {
  it('predicts each run from the runs before it: 0 when every run took what the model predicts, 1 when off by 2x', () => {
    const result = (id: string, config: ModelConfig, trainSeconds: number): ExperimentResult => ({
      experimentId: id,
      phase: 'validation',
      status: 'succeeded',
      config,
      trainSeconds,
      modelBytes: 0,
      attempts: [],
    });
    const prior = (c: ModelConfig) => priorTrainingSeconds(c, 100_000, 39);
    assert.equal(costModelError([result('a', lr, prior(lr))]), undefined, 'nothing to predict the first run from');
    const exact = costModelError([result('a', lr, 3 * prior(lr)), result('b', fm, 3 * prior(fm)), result('c', dcn, 3 * prior(dcn))]);
    assert.ok(exact !== undefined && exact < 1e-9, `${exact}`);
    const slowDcn = costModelError([result('a', lr, prior(lr)), result('b', dcn, 2 * prior(dcn))]);
    assert.ok(Math.abs(slowDcn! - 1) < 1e-9, `${slowDcn}`);
  });
});
