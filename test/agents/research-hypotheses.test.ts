import { strict as assert } from 'node:assert';
import { SearchSpace } from '../../contracts/campaign';
import { type BaselineResearch, type ResidualSignal } from '../../contracts/research';
import { designHeuristically } from '../../agents/heuristic-designer';
import { researchHypotheses } from '../../agents/research-hypotheses';
import { fitCostModel } from '../../agents/cost-model';
import { ModelConfig } from '../../contracts/model';
import { baseline, designRequest } from './fixtures';

/**
 * From findings to hypotheses: an expected gain is a share of what held-out statistics measured, never more. The
 * issue's campaign expected −174% NE from a family switch and "387% NE in total" where experiments measured −4.3%: a
 * sum of per-pair numbers, each in-sample, a hub field's effect counted once per pair it is in.
 */

const LOSS_PER_ROW = 0.03;

/** A held-out finding worth `gain` (relative NE), standing `z` standard errors above 0, on `clicks` clicks. */
function signal(fields: string[], gain: number, opts: { z?: number; clicks?: number; significant?: boolean } = {}): ResidualSignal {
  const strength = gain * LOSS_PER_ROW;
  const z = opts.z ?? 10;
  return {
    fields,
    strength,
    stdErr: strength / z,
    clicks: opts.clicks ?? 900,
    estimable: true,
    heldOutGain: gain,
    significant: opts.significant ?? z > 3.6,
  };
}

function findings(extra: Partial<BaselineResearch> = {}): BaselineResearch {
  return {
    artifact: 'sha256:base',
    family: 'lr',
    importanceRows: 5000,
    residualRows: 200_000,
    logLossPerRow: LOSS_PER_ROW,
    noiseFloor: 0,
    clicks: 1000,
    notEstimable: [],
    importance: [],
    mainEffects: [],
    pairs: [],
    triples: [],
    denseShapes: [],
    hashing: { hashSpace: 'shared', hashBits: 18, expectedCollisionRate: 0.01, slots: [] },
    fit: { verdict: 'balanced', evaluations: 2, explanation: 'flat' },
    ...extra,
  };
}

const space = SearchSpace.parse({});

describe('research hypotheses (expected gains bounded by held-out statistics)', () => {
  it('a family switch expects no more than the significant pairs measured together, however many pairs share a hub field', () => {
    // Eight pairs through one hub field C1, each "worth" 3% alone: summed they would read 24%; fitted together
    // they are worth 4%, because each shows the same missed effect of C1.
    const pairs = ['C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8', 'C9'].map((f) => signal(['C1', f], 0.03));
    const jointPairs = {
      fields: pairs.map((p) => p.fields),
      strength: 0.04 * LOSS_PER_ROW,
      stdErr: 0.0001,
      clicks: 900,
      estimable: true,
      heldOutGain: 0.04,
    };
    const hypotheses = researchHypotheses(findings({ pairs, jointPairs, jointInteractions: jointPairs }), baseline, space);
    const fm = hypotheses.find((h) => h.hypothesis.technique === 'family-fm')!;
    const dcn = hypotheses.find((h) => h.hypothesis.technique === 'family-dcn')!;
    for (const h of [fm, dcn]) {
      assert.ok(h.heldOutGain! <= 0.04, `${h.hypothesis.title}: held-out bound ${h.heldOutGain}`);
      assert.ok(h.expectedGain <= h.heldOutGain!, `${h.hypothesis.title}: ${h.expectedGain} > ${h.heldOutGain}`);
      assert.match(h.evidence, /together worth 4\.00% NE held out/);
    }
    for (const h of hypotheses) {
      assert.ok(h.expectedGain <= h.heldOutGain!, `${h.hypothesis.title}: ${h.expectedGain} > ${h.heldOutGain}`);
      assert.equal(h.hypothesis.expectedGain, h.expectedGain);
      assert.match(h.hypothesis.expectedEffect, /held-out bound/);
    }
    const crosses = hypotheses.filter((h) => h.hypothesis.technique === 'feature-cross');
    assert.ok(crosses.length > 0 && crosses.every((h) => h.heldOutGain === 0.03 && h.expectedGain <= 0.03));
  });

  it('ranks by bounded gain per predicted cost: a DCN measured fast (as on a GPU worker) moves up', () => {
    const pairs = ['C2', 'C3', 'C4', 'C5'].map((f) => signal(['C1', f], 0.01));
    const jointPairs = {
      fields: pairs.map((p) => p.fields),
      strength: 0.03 * LOSS_PER_ROW,
      stdErr: 0.0001,
      clicks: 900,
      estimable: true,
      heldOutGain: 0.03,
    };
    const research = findings({ pairs, jointPairs, jointInteractions: jointPairs });
    const rankOf = (hs: ReturnType<typeof researchHypotheses>) => hs.findIndex((h) => h.hypothesis.technique === 'family-dcn');
    const assumed = researchHypotheses(research, { ...baseline, trainSeconds: 1 }, space);
    const dcnAssumed = assumed[rankOf(assumed)];
    assert.ok(dcnAssumed.cost > 3, `dcn predicted ${dcnAssumed.cost}x the baseline (the prior: 4x lr)`);
    const dcn = ModelConfig.parse({ family: 'dcn' });
    const costs = fitCostModel({ rows: 50_000, fields: 39 }, [
      { config: baseline.config, rows: 50_000, fields: 39, seconds: 1, weight: 1 },
      { config: dcn, rows: 50_000, fields: 39, seconds: 0.3, weight: 1 },
      { config: dcn, rows: 50_000, fields: 39, seconds: 0.3, weight: 1 },
    ]);
    const measured = researchHypotheses(research, { ...baseline, trainSeconds: 1 }, space, costs);
    assert.ok(measured[rankOf(measured)].cost < dcnAssumed.cost / 2, 'the measured DCN costs less');
    assert.ok(rankOf(measured) < rankOf(assumed), `dcn ranked ${rankOf(measured)} (measured) vs ${rankOf(assumed)} (assumed)`);
    for (let i = 1; i < measured.length; i++)
      assert.ok(measured[i - 1].expectedGain / measured[i - 1].cost >= measured[i].expectedGain / measured[i].cost - 1e-12, 'gain per cost order');
  });

  it('no total above what the held-out statistics sum to, even without a joint measurement', () => {
    const pairs = [signal(['C1', 'C2'], 0.02), signal(['C3', 'C4'], 0.01), signal(['C5', 'C6'], 0.005)];
    const hypotheses = researchHypotheses(findings({ pairs }), baseline, space);
    const sum = pairs.reduce((s, p) => s + p.heldOutGain!, 0);
    for (const h of hypotheses) assert.ok(h.heldOutGain! <= sum && h.expectedGain <= h.heldOutGain!, JSON.stringify(h));
  });

  it('findings that are not estimable, or do not stand out of their noise, become no hypothesis', () => {
    const notEstimable: ResidualSignal = { fields: ['C1', 'C2'], strength: 0, stdErr: 0, clicks: 40, estimable: false, heldOutGain: 0 };
    const noise = signal(['C3', 'C4'], 0.01, { z: 2.5 });
    const denseShapes = [
      { field: 'I1', transform: 'log', buckets: 16, missingShare: 0, shape: 'non-monotone' as const, nonMonotoneGain: 0.001, ctrByBucket: [] },
    ];
    const hypotheses = researchHypotheses(
      findings({
        pairs: [notEstimable, noise],
        mainEffects: [{ fields: ['I1'], strength: 0, stdErr: 0, clicks: 40, estimable: false, heldOutGain: 0 }],
        denseShapes,
        notEstimable: ['C1×C2: not estimable with 40 clicks (needs 50 in each held-out half)'],
      }),
      baseline,
      space,
    );
    assert.deepEqual(
      hypotheses.map((h) => h.hypothesis.title),
      [],
    );
  });

  it('ideas from importance and the learning curve carry a bound too', () => {
    const hypotheses = researchHypotheses(
      findings({
        importance: [{ field: 'C7', kind: 'categorical', neIncrease: -0.01, stdErr: 0.002 }],
        fit: { verdict: 'overfitting', evaluations: 3, relativeGap: 0.3, explanation: 'gap' },
      }),
      baseline,
      space,
    );
    const drop = hypotheses.find((h) => h.hypothesis.technique === 'drop-field')!;
    // The near end of its 2-SE interval, relative to the baseline's NE: (0.01 − 0.004) / 0.8.
    assert.ok(Math.abs(drop.expectedGain - 0.0075) < 1e-4, `${drop.expectedGain}`);
    const l2 = hypotheses.find((h) => h.hypothesis.technique === 'regularization-l2')!;
    assert.ok(l2.expectedGain <= 0.02 && l2.expectedGain <= l2.heldOutGain!, JSON.stringify(l2));
    // Importance measured on too few validation clicks is no evidence to drop a field on.
    const fewClicks = researchHypotheses(
      findings({ importanceClicks: 30, importance: [{ field: 'C7', kind: 'categorical', neIncrease: -0.01, stdErr: 0.002 }] }),
      baseline,
      space,
    );
    assert.equal(
      fewClicks.find((h) => h.hypothesis.technique === 'drop-field'),
      undefined,
    );
  });

  it('the experiment a research hypothesis becomes carries its expected gain, for comparison with what it measures', () => {
    const pairs = [signal(['C5', 'C6'], 0.02)];
    const research = researchHypotheses(findings({ pairs }), baseline, space);
    const cross = research.find((h) => h.hypothesis.technique === 'feature-cross')!;
    const res = designHeuristically(designRequest({ count: 6, research }));
    const proposal = res.proposals.find((p) => p.hypothesis.title === cross.hypothesis.title)!;
    assert.equal(proposal.hypothesis.expectedGain, cross.expectedGain);
    // Every research idea picked carries its own; ideas of the designer's own carry none.
    const expected = new Map(research.map((h) => [h.hypothesis.title, h.expectedGain]));
    for (const p of res.proposals) assert.equal(p.hypothesis.expectedGain, expected.get(p.hypothesis.title), p.hypothesis.title);
    assert.ok(
      res.proposals.some((p) => !expected.has(p.hypothesis.title)),
      'the designer filled a slot of its own',
    );
  });
});
