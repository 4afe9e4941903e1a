import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CampaignInput, ModelConfig, type BaselineResearch, type LearningCurvePoint } from '../../contracts';
import { researchHypotheses } from '../../agents/research-hypotheses';
import { trainExperiment } from '../../ranking';
import { generateWideScenario, type WideMeta } from '../../ranking/data/wide-planted';
import { resolveWideScenario } from '../../ranking/data/wide-scenarios';
import { diagnoseFit, researchBaseline } from '../../ranking/research';

/**
 * The research step on planted data whose truth is known: a wide file with one strong pairwise cross, one
 * non-monotone dense field and nothing else beyond main effects, and an lr baseline that can fit neither (log
 * transform, no crosses). The research must name both, and rank hypotheses that act on them.
 */
describe('research step (baseline findings and the hypotheses ranked from them)', function () {
  this.timeout(240_000);
  let meta: WideMeta;
  let findings: BaselineResearch;
  let baselineConfig: ModelConfig;
  let dir: string;
  const home = process.env.RANKWRIGHT_HOME;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-research-'));
    process.env.RANKWRIGHT_HOME = path.join(dir, 'home');
    const scenario = resolveWideScenario(
      JSON.stringify({
        extends: 'wide-small',
        seed: 31,
        trainRows: 40_000,
        validationRows: 10_000,
        testRows: 5_000,
        crosses: 1,
        crossStrength: 1.2,
        denseCategorical: 0,
        threeWay: 0,
        denseShapes: 1,
        denseShapeHeight: 1.4,
        labelNoise: 0,
      }),
    );
    meta = (await generateWideScenario(scenario, dir)).meta;
    const data = {
      format: 'criteo-tsv' as const,
      train: path.join(dir, 'train.tsv'),
      validation: path.join(dir, 'validation.tsv'),
      test: path.join(dir, 'test.tsv'),
    };
    baselineConfig = ModelConfig.parse({ family: 'lr', denseTransform: 'log' });
    const baseline = await trainExperiment({ data, model: baselineConfig, segmentField: 'C1' });
    findings = await researchBaseline(data, baseline.artifact, { learningCurve: baseline.learningCurve });
  });

  after(() => {
    if (home === undefined) delete process.env.RANKWRIGHT_HOME;
    else process.env.RANKWRIGHT_HOME = home;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds the planted cross among the strongest pairs, far above the noise floor', () => {
    const planted = [...meta.structure.crosses[0].fields].sort().join('×');
    const top = findings.pairs.slice(0, 3).map((p) => [...p.fields].sort().join('×'));
    assert.ok(top.includes(planted), `planted ${planted} in the top 3 pairs, got ${top.join(', ')}`);
    const strength = findings.pairs.find((p) => [...p.fields].sort().join('×') === planted)!.strength;
    assert.ok(strength > 10 * findings.noiseFloor, `planted cross ${strength} vs noise floor ${findings.noiseFloor}`);
  });

  it('calls the planted bumpy dense field non-monotone and sees the log transform miss its effect', () => {
    const field = meta.structure.denseShapes[0].field;
    const shape = findings.denseShapes.find((d) => d.field === field)!;
    assert.equal(shape.shape, 'non-monotone', `${field}: ${JSON.stringify(shape)}`);
    assert.equal(shape.transform, 'log');
    const missed = findings.mainEffects.find((m) => m.fields[0] === field)!;
    assert.ok(missed.strength > 3 * findings.noiseFloor, `missed main effect of ${field}: ${missed.strength}`);
  });

  it('measures permutation importance on validation: fields that carry signal cost NE when shuffled', () => {
    assert.equal(findings.importance.length, findings.mainEffects.length);
    const cross = meta.structure.crosses[0].fields;
    for (const f of cross) {
      const imp = findings.importance.find((i) => i.field === f)!;
      assert.ok(imp.neIncrease > 2 * imp.stdErr, `${f} importance ${imp.neIncrease} ± ${imp.stdErr}`);
    }
    // Sorted most important first, each with a standard error.
    for (let i = 1; i < findings.importance.length; i++) assert.ok(findings.importance[i - 1].neIncrease >= findings.importance[i].neIncrease);
    assert.ok(findings.importance.every((i) => i.stdErr >= 0));
    assert.ok(findings.hashing.slots.length > 0 && findings.hashing.expectedCollisionRate >= 0);
  });

  it('ranks hypotheses that act on what it found, by expected gain per unit of cost, with evidence', () => {
    const input = CampaignInput.parse({ objective: 'research test', data: { format: 'criteo-tsv', train: 'x', test: 'y' }, approvers: ['ana'] });
    const hypotheses = researchHypotheses(
      findings,
      { experimentId: 'camp-baseline', phase: 'baseline', family: 'lr', config: baselineConfig, status: 'succeeded', ne: 0.8 },
      input.searchSpace,
    );
    const cross = meta.structure.crosses[0].fields;
    const crossing = hypotheses.find(
      (h) => h.hypothesis.technique === 'feature-cross' && h.model.crosses.some((c) => [...c].sort().join() === [...cross].sort().join()),
    );
    assert.ok(crossing, `a cross of ${cross.join('×')}: ${hypotheses.map((h) => h.hypothesis.title).join('; ')}`);
    const field = meta.structure.denseShapes[0].field;
    const bucketing = hypotheses.find((h) => h.hypothesis.technique === 'dense-transform' && h.model.fields?.[field]?.transform === 'quantile');
    assert.ok(bucketing, `quantile buckets for ${field}`);
    for (const h of hypotheses) {
      assert.ok(h.expectedGain > 0 && h.cost > 0 && h.evidence.length > 0, JSON.stringify(h));
      assert.deepEqual(h.hypothesis.parents, ['camp-baseline']);
      assert.ok(ModelConfig.safeParse(h.model).success);
    }
    const perCost = hypotheses.map((h) => h.expectedGain / h.cost);
    for (let i = 1; i < perCost.length; i++) assert.ok(perCost[i - 1] >= perCost[i], `ranked by gain per cost: ${perCost.join(', ')}`);
    assert.equal(new Set(hypotheses.map((h) => JSON.stringify(h.model))).size, hypotheses.length, 'no config twice');
  });
});

describe('reading a learning curve', () => {
  const point = (i: number, trainNe: number, validationNe: number): LearningCurvePoint => ({
    step: i * 100,
    epoch: i,
    examples: i * 1000,
    trainNe,
    validationNe,
  });

  it('calls a wide train/validation gap, or validation rising after its best, over-fitting', () => {
    assert.equal(diagnoseFit([point(1, 0.7, 0.8), point(2, 0.6, 0.81)]).verdict, 'overfitting');
    assert.equal(diagnoseFit([point(1, 0.79, 0.8), point(2, 0.785, 0.803)]).verdict, 'overfitting');
  });

  it('calls a curve still falling at its end under-fitting, and a flat close one balanced', () => {
    const under = diagnoseFit([point(1, 0.9, 0.91), point(2, 0.87, 0.88)]);
    assert.equal(under.verdict, 'underfitting');
    assert.ok(under.lastImprovement! > 0.03);
    assert.equal(diagnoseFit([point(1, 0.8, 0.81), point(2, 0.799, 0.8099)]).verdict, 'balanced');
    assert.equal(diagnoseFit([]).verdict, 'unknown');
  });
});
