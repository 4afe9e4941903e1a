import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CampaignInput, ModelConfig, type BaselineResearch, type LearningCurvePoint, type ResearchHypothesis } from '../../contracts';
import { researchHypotheses } from '../../agents/research-hypotheses';
import { trainExperiment } from '../../ranking';
import { generateWideScenario, type WideMeta } from '../../ranking/data/wide-planted';
import { resolveWideScenario } from '../../ranking/data/wide-scenarios';
import { diagnoseFit, researchBaseline } from '../../ranking/research';
import { MIN_HELD_OUT_CLICKS, MIN_IMPORTANCE_CLICKS } from '../../contracts/research';

/** Techniques whose expected gain rests on residual statistics (not on importance or the learning curve). */
const RESIDUAL_TECHNIQUES = ['feature-cross', 'family-fm', 'family-dcn', 'dense-transform', 'hash-size'];

/** Every hypothesis carries its held-out bound, and its expected gain (also on the experiment it becomes) stays under it. */
function assertWithinHeldOutBounds(hypotheses: ResearchHypothesis[]): void {
  for (const h of hypotheses) {
    assert.ok(h.heldOutGain !== undefined, `${h.hypothesis.title} has a held-out bound`);
    assert.ok(h.expectedGain <= h.heldOutGain!, `${h.hypothesis.title}: expected ${h.expectedGain} > held-out ${h.heldOutGain}`);
    assert.equal(h.hypothesis.expectedGain, h.expectedGain, 'the experiment it becomes carries its expected gain');
  }
}

const campaignInput = () =>
  CampaignInput.parse({ objective: 'research test', data: { format: 'criteo-tsv', train: 'x', test: 'y' }, approvers: ['ana'] });

/** A wide planted scenario written to `dir`, an lr baseline trained on it and the research step's findings. */
async function researchPlanted(dir: string, options: Record<string, unknown>) {
  const scenario = resolveWideScenario(JSON.stringify({ extends: 'wide-small', ...options }));
  const meta = (await generateWideScenario(scenario, dir)).meta;
  const data = {
    format: 'criteo-tsv' as const,
    train: path.join(dir, 'train.tsv'),
    validation: path.join(dir, 'validation.tsv'),
    test: path.join(dir, 'test.tsv'),
  };
  const model = ModelConfig.parse({ family: 'lr', denseTransform: 'log' });
  const baseline = await trainExperiment({ data, model, segmentField: 'C1' });
  const findings = await researchBaseline(data, baseline.artifact, { learningCurve: baseline.learningCurve });
  const hypotheses = researchHypotheses(
    findings,
    { experimentId: 'camp-baseline', phase: 'baseline', family: 'lr', config: model, status: 'succeeded', ne: baseline.metrics.ne },
    campaignInput().searchSpace,
  );
  return { meta, findings, hypotheses };
}

/** Truth without any effect: every categorical and dense field independent of the label. */
const NO_SIGNAL = {
  categorical: { effectSd: [0, 0], cardinality: [2, 50_000] },
  dense: { slopeSd: 0 },
  crosses: 0,
  denseCategorical: 0,
  threeWay: 0,
  denseShapes: 0,
  labelNoise: 0,
};

/**
 * The research step on planted data whose truth is known: a wide file at a 25% click rate with one strong pairwise
 * cross, one non-monotone dense field and nothing else beyond main effects, and an lr baseline that can fit neither
 * (log transform, no crosses). The research must name both, and rank hypotheses that act on them.
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
        baseCtr: 0.25,
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

  it('finds the planted cross first among the pairs, held out, far above its noise', () => {
    const planted = [...meta.structure.crosses[0].fields].sort().join('×');
    const top = findings.pairs.slice(0, 3).map((p) => [...p.fields].sort().join('×'));
    assert.equal(top[0], planted, `planted ${planted} first among the pairs, got ${top.join(', ')}`);
    const cross = findings.pairs[0];
    assert.ok(cross.significant && cross.estimable, JSON.stringify(cross));
    assert.ok(cross.strength > 10 * cross.stdErr! && cross.strength > 10 * findings.noiseFloor, JSON.stringify(cross));
    assert.ok(cross.heldOutGain! > 0.005, `a 1.2-sd cross is worth more than 0.5% NE: ${cross.heldOutGain}`);
    assert.ok(findings.clicks! > 5_000 && (findings.notEstimable ?? []).length === 0, `${findings.clicks} clicks`);
    // The significant pairs fitted together are worth about what the planted one is alone (nothing else interacts).
    assert.ok(findings.jointPairs && findings.jointPairs.heldOutGain < 1.2 * cross.heldOutGain!, JSON.stringify(findings.jointPairs));
  });

  it('calls the planted bumpy dense field non-monotone and sees the log transform miss its effect', () => {
    const field = meta.structure.denseShapes[0].field;
    const shape = findings.denseShapes.find((d) => d.field === field)!;
    assert.equal(shape.shape, 'non-monotone', `${field}: ${JSON.stringify(shape)}`);
    assert.equal(shape.transform, 'log');
    const missed = findings.mainEffects.find((m) => m.fields[0] === field)!;
    assert.ok(missed.significant && missed.strength > 3 * findings.noiseFloor, `missed main effect of ${field}: ${JSON.stringify(missed)}`);
    assert.ok(shape.nonMonotoneGain > 2 * shape.nonMonotoneStdErr!, `held out, the bumps carry over: ${JSON.stringify(shape)}`);
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
    const hypotheses = researchHypotheses(
      findings,
      { experimentId: 'camp-baseline', phase: 'baseline', family: 'lr', config: baselineConfig, status: 'succeeded', ne: 0.8 },
      campaignInput().searchSpace,
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
    assertWithinHeldOutBounds(hypotheses);
    assert.match(crossing.evidence, /held-out gain [0-9.]+% NE ± [0-9.]+% on \d+ clicks/);
  });
});

describe('research step on rare clicks (held-out estimates that hold at a 0.5% click rate)', function () {
  this.timeout(300_000);
  let dir: string;
  const home = process.env.RANKWRIGHT_HOME;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-research-rare-'));
    process.env.RANKWRIGHT_HOME = path.join(dir, 'home');
  });

  afterEach(() => {
    if (home === undefined) delete process.env.RANKWRIGHT_HOME;
    else process.env.RANKWRIGHT_HOME = home;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('on pure noise at 0.5% CTR every residual estimate is ≈ 0 and no hypothesis rests on one', async () => {
    const { findings, hypotheses } = await researchPlanted(dir, {
      seed: 41,
      baseCtr: 0.005,
      trainRows: 100_000,
      validationRows: 10_000,
      testRows: 2_000,
      ...NO_SIGNAL,
    });
    assert.ok(findings.clicks! > 350, `${findings.clicks} clicks`);
    for (const s of [...findings.mainEffects, ...findings.pairs, ...findings.triples]) {
      assert.ok(!s.significant, `noise called signal: ${JSON.stringify(s)}`);
      assert.ok(s.heldOutGain! < 0.003, `noise worth ${s.heldOutGain} NE: ${JSON.stringify(s)}`);
    }
    assert.equal(findings.jointPairs, undefined, 'no significant pair to fit together');
    const residual = hypotheses.filter((h) => RESIDUAL_TECHNIQUES.includes(h.hypothesis.technique));
    assert.deepEqual(
      residual.map((h) => `${h.hypothesis.title}: ${h.evidence}`),
      [],
    );
    assertWithinHeldOutBounds(hypotheses);
  });

  it('with very few clicks the findings are "not estimable with N clicks", and no number becomes a hypothesis', async () => {
    const { findings, hypotheses } = await researchPlanted(dir, {
      seed: 42,
      baseCtr: 0.005,
      labelNoise: 0,
      trainRows: 10_000,
      validationRows: 2_000,
      testRows: 2_000,
    });
    assert.ok(findings.clicks! < 2 * MIN_HELD_OUT_CLICKS, `${findings.clicks} clicks`);
    for (const s of [...findings.mainEffects, ...findings.pairs, ...findings.triples]) {
      assert.equal(s.estimable, false, JSON.stringify(s));
      assert.equal(s.strength, 0);
      assert.equal(s.heldOutGain, 0);
    }
    assert.deepEqual(findings.notEstimable, [
      `field importance on ${findings.importanceRows} validation rows: not estimable with ${findings.importanceClicks} clicks (needs ${MIN_IMPORTANCE_CLICKS})`,
      `residual statistics on ${findings.residualRows} rows: not estimable with ${findings.clicks} clicks (needs ${MIN_HELD_OUT_CLICKS} in each held-out half)`,
    ]);
    // Only the learning curve (validation NE over training) is left to go by.
    assert.deepEqual(
      hypotheses.filter((h) => [...RESIDUAL_TECHNIQUES, 'drop-field'].includes(h.hypothesis.technique)).map((h) => h.hypothesis.title),
      [],
    );
    assertWithinHeldOutBounds(hypotheses);
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
