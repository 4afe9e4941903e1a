import { strict as assert } from 'node:assert';
import { SearchSpace } from '../../contracts/campaign';
import { ModelConfig, type ModelConfigInput } from '../../contracts/model';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { designHeuristically } from '../../agents/heuristic-designer';
import { isInsideSearchSpace } from '../../agents/search-space';
import { baseline, crossKeys, designRequest, run } from './fixtures';

describe('heuristic hypothesis designer', () => {
  describe('validation', () => {
    it('crosses the strongest residual pairs first and tries a family that learns interactions', () => {
      // Room for both strong pairs beside the families: which of them fit in fewer slots follows the predicted costs.
      const res = designHeuristically(designRequest({ count: 6 }));
      assert.equal(res.source, 'heuristic');
      assert.equal(res.proposals.length, 6);
      const crosses = res.proposals.filter((p) => p.hypothesis.technique === 'feature-cross').map((p) => crossKeys(p.model));
      assert.deepEqual(crosses, [['C1xC2'], ['C3xC4']], 'one proposal per strong pair, strongest first, no noise pairs');
      assert.ok(
        res.proposals.some((p) => p.model.family === 'fm' && p.hypothesis.technique === 'family-fm'),
        'a richer family is proposed',
      );
      // Validation tests single changes against the baseline: every proposal names the baseline as its parent.
      for (const p of res.proposals) assert.deepEqual(p.hypothesis.parents, ['base']);
      for (const p of res.proposals) assert.ok(isInsideSearchSpace(p.model, SearchSpace.parse({})));
    });

    it('proposes no plain switch to a family this campaign already measured on the same crosses (the portfolio ran it)', () => {
      const fm = run('x2', { family: 'fm' }, 0.79, { phase: 'validation' });
      const res = designHeuristically(designRequest({ count: 6, history: [fm] }));
      assert.ok(!res.proposals.some((p) => p.hypothesis.technique === 'family-fm'), res.proposals.map((p) => p.hypothesis.title).join('; '));
      assert.ok(
        res.proposals.some((p) => p.hypothesis.technique === 'family-dcn'),
        'a family not yet measured is still proposed',
      );
      // Screened as a probe counts as measured too.
      const screened = designHeuristically(designRequest({ count: 6, screened: [{ ...fm, experimentId: 'p2' }] }));
      assert.ok(!screened.proposals.some((p) => p.hypothesis.technique === 'family-fm'));
    });

    it("puts the research step's measured hypotheses first, by expected gain, and still fills the rest with its own ideas", () => {
      const base = designRequest().baseline;
      const research = [
        { title: 'Quantile buckets for I3', model: ModelConfig.parse({ ...base.config, fields: { I3: { transform: 'quantile' } } }), gain: 0.004 },
        { title: 'Three-way cross C5×C6×C7 on lr', model: ModelConfig.parse({ ...base.config, crosses: [['C5', 'C6', 'C7']] }), gain: 0.02 },
      ].map((r) => ({
        hypothesis: {
          title: r.title,
          technique: r.title.startsWith('Quantile') ? 'dense-transform' : 'feature-cross',
          rationale: 'measured',
          expectedEffect: 'NE −1%',
          parents: ['base'],
        },
        model: r.model,
        evidence: 'research',
        expectedGain: r.gain,
        cost: 1,
      }));
      const res = designHeuristically(designRequest({ count: 4, research }));
      assert.deepEqual(
        res.proposals.slice(0, 2).map((p) => p.hypothesis.title),
        ['Three-way cross C5×C6×C7 on lr', 'Quantile buckets for I3'],
      );
      assert.deepEqual(res.proposals[0].model.crosses, [['C5', 'C6', 'C7']]);
      assert.ok(
        res.proposals.slice(2).some((p) => p.hypothesis.title.startsWith('Cross C1×C2')),
        'the residual-signal cross still gets a slot',
      );
    });

    it('warm-starts from the insights: re-runs the best earlier winner on this data and stacks research on it; adapts winners of similar data', () => {
      const insight = (id: string, fp: string, similarity: number, model: ModelConfigInput, change: number) => ({
        experimentId: id,
        campaignId: 'earlier',
        dataFingerprint: fp,
        similarity,
        config: ModelConfig.parse(model),
        technique: model.family === 'lr' ? 'feature-cross' : `family-${model.family}`,
        outcome: 'won' as const,
        relativeNeChange: change,
      });
      const base = designRequest().baseline;
      const winner: ModelConfigInput = { family: 'fm', crosses: [['C1', 'C2']] };
      const research = [
        {
          hypothesis: {
            title: 'Quantile buckets for I3',
            technique: 'dense-transform',
            rationale: 'measured',
            expectedEffect: 'NE −1%',
            parents: ['base'],
          },
          model: ModelConfig.parse({ ...base.config, fields: { I3: { transform: 'quantile' } } }),
          evidence: 'I3 non-monotone',
          expectedGain: 0.01,
          cost: 1,
        },
      ];
      const req = designRequest({
        count: 4,
        research,
        insights: [
          insight('old-win', 'fp-planted-7', 1, winner, -0.05),
          insight('old-small', 'fp-planted-7', 1, { family: 'lr', crosses: [['C3', 'C4']] }, -0.01),
          // Similar data: its winner crosses a field this data does not carry (C20); that cross is dropped.
          insight(
            'near-win',
            'fp-near',
            0.8,
            {
              family: 'lr',
              crosses: [
                ['C5', 'C6'],
                ['C5', 'C20'],
              ],
            },
            -0.04,
          ),
          insight('far-win', 'fp-far', 0.3, { family: 'dcn' }, -0.2),
        ],
      });
      const res = designHeuristically(req);
      const [first] = res.proposals;
      assert.equal(first.hypothesis.technique, 'warm-start');
      assert.equal(canonicalConfigKey(first.model), canonicalConfigKey(ModelConfig.parse(winner)), 'the earlier winner itself, though already known');
      const second = res.proposals.find((p) => /Quantile buckets for I3 on top of earlier winner old-win/.test(p.hypothesis.title));
      assert.ok(second, 'the research hypothesis stacked onto the winner');
      assert.equal(second.model.family, 'fm');
      assert.deepEqual(second.model.fields, { I3: { transform: 'quantile' } });
      const adapted = res.proposals.find((p) => p.hypothesis.title.includes('near-win'));
      assert.ok(adapted, res.proposals.map((p) => p.hypothesis.title).join('; '));
      assert.deepEqual(adapted.model.crosses, [['C5', 'C6']]);
      assert.ok(!res.proposals.some((p) => p.hypothesis.title.includes('far-win')), 'data below the similarity threshold is not a warm start');
      // Once this campaign has run the winner, it is not proposed again.
      const again = designHeuristically({ ...req, history: [{ ...base, experimentId: 'x1', phase: 'validation', config: first.model }] });
      assert.ok(!again.proposals.some((p) => canonicalConfigKey(p.model) === canonicalConfigKey(first.model)));
    });

    it("warm-starts from an earlier campaign's best run on this data even when its gain was within noise (rare clicks), never from one that lost", () => {
      const earlier = (id: string, outcome: 'neutral' | 'lost', model: ModelConfigInput, change: number) => ({
        experimentId: id,
        campaignId: 'earlier',
        dataFingerprint: 'fp-planted-7',
        similarity: 1,
        config: ModelConfig.parse(model),
        technique: 'feature-cross',
        outcome,
        relativeNeChange: change,
      });
      const best: ModelConfigInput = { family: 'lr', crosses: [['C9', 'C12']], learningRate: 0.1 };
      const res = designHeuristically(
        designRequest({
          count: 4,
          insights: [
            earlier('worse', 'lost', { family: 'lr', crosses: [['C3', 'C4']] }, 0.02),
            earlier('small', 'neutral', { family: 'lr', crosses: [['C5', 'C6']] }, -0.002),
            earlier('best-in-noise', 'neutral', best, -0.01),
          ],
        }),
      );
      const warm = res.proposals.filter((p) => p.hypothesis.technique === 'warm-start');
      assert.equal(warm.length, 1, res.proposals.map((p) => p.hypothesis.title).join('; '));
      assert.equal(canonicalConfigKey(warm[0].model), canonicalConfigKey(ModelConfig.parse(best)));
      assert.match(warm[0].hypothesis.rationale, /by -1\.00% on this very data \(within 2 standard errors: not yet a significant win\)/);
      // An earlier run that only lost (or an improvement on other data that is not significant) is no start.
      const none = designHeuristically(designRequest({ count: 4, insights: [earlier('worse', 'lost', best, 0.02)] }));
      assert.ok(!none.proposals.some((p) => p.hypothesis.technique === 'warm-start'));
    });

    it("puts the re-run of this data's best earlier run first whatever the warm-start technique's track record elsewhere", () => {
      // Warm starts that lost or failed (similar data adapted, runs cut short by a killed worker) weigh on the
      // technique's track record; a same-data re-run's evidence is its own measured result, not that record.
      const earlier = (id: string, outcome: 'won' | 'lost' | 'failed', fp: string, technique: string, model: ModelConfigInput, change: number) => ({
        experimentId: id,
        campaignId: 'earlier',
        dataFingerprint: fp,
        similarity: 1,
        config: ModelConfig.parse(model),
        technique,
        outcome,
        relativeNeChange: change,
      });
      const winner: ModelConfigInput = { family: 'fm', crosses: [['C1', 'C2']] };
      const insights = [
        earlier('won-here', 'won', 'fp-planted-7', 'feature-cross', winner, -0.05),
        ...[1, 2, 3, 4].map((i) =>
          earlier(`warm-${i}`, i % 2 ? 'failed' : 'lost', 'fp-other', 'warm-start', { family: 'lr', learningRate: 0.01 * i }, 0.01),
        ),
      ];
      for (const count of [1, 2]) {
        const res = designHeuristically(designRequest({ count, insights }));
        assert.equal(res.proposals[0]?.hypothesis.technique, 'warm-start', res.proposals.map((p) => p.hypothesis.title).join('; '));
        assert.equal(canonicalConfigKey(res.proposals[0].model), canonicalConfigKey(ModelConfig.parse(winner)));
      }
    });

    it('without interaction signal does not propose crosses and ranks the expensive family low', () => {
      const res = designHeuristically(designRequest({ count: 4, fieldPairSignal: [] }));
      assert.ok(res.proposals.every((p) => p.model.crosses.length === 0));
      assert.ok(!res.proposals.some((p) => p.model.family === 'dcn'), 'dcn costs ~20x and has no evidence here');
      assert.ok(res.proposals.some((p) => p.hypothesis.technique === 'learning-rate'));
    });

    it('treats a signal that is all noise (scores scattered around 0) as no interaction', () => {
      const noise = designRequest().fieldPairSignal.map((p, i) => ({ ...p, strength: (((i * 37) % 21) - 10) * 0.0002 }));
      const res = designHeuristically(designRequest({ count: 6, fieldPairSignal: noise }));
      assert.ok(
        res.proposals.every((p) => p.model.crosses.length === 0),
        'no crosses proposed from noise',
      );
    });

    it('prefers a technique that won on similar data and demotes one that lost', () => {
      const fmWonElsewhere = designRequest({
        count: 1,
        fieldPairSignal: [],
        insights: [0.9, 0.8, 0.95].map((similarity, i) => ({
          experimentId: `old-${i}`,
          dataFingerprint: `other-${i}`,
          similarity,
          config: ModelConfig.parse({ family: 'fm', embeddingDim: 4 + i }),
          technique: 'family-fm',
          outcome: 'won' as const,
        })),
      });
      assert.equal(designHeuristically(fmWonElsewhere).proposals[0].hypothesis.technique, 'family-fm');
      const crossLostElsewhere = designRequest({
        count: 1,
        insights: [0.9, 0.9, 0.9, 0.9].map((similarity, i) => ({
          experimentId: `old-${i}`,
          dataFingerprint: `other-${i}`,
          similarity,
          config: ModelConfig.parse({ family: 'lr', crosses: [['C9', 'C10']] }),
          technique: 'feature-cross',
          outcome: 'lost' as const,
        })),
      });
      assert.notEqual(designHeuristically(crossLostElsewhere).proposals[0].hypothesis.technique, 'feature-cross');
    });
  });

  describe('combination', () => {
    const history = [
      run('v-cross12', { family: 'lr', crosses: [['C1', 'C2']] }, 0.78),
      run('v-fm', { family: 'fm' }, 0.77),
      run('v-cross34', { family: 'lr', crosses: [['C3', 'C4']] }, 0.79),
      // 0.06% better: inside 2 standard errors (SE 0.001 each), so not a winner and must not be stacked.
      run('v-bucket', { family: 'lr', denseTransform: 'bucketize' }, 0.7995),
    ];

    it('stacks the significant winners: the winning family with the union of winning crosses', () => {
      const res = designHeuristically(designRequest({ phase: 'combination', history, count: 3 }));
      const stack = res.proposals.find((p) => p.hypothesis.technique === 'stack-winners');
      assert.ok(stack, 'a stack-winners proposal');
      assert.equal(stack.model.family, 'fm');
      assert.deepEqual(crossKeys(stack.model), ['C1xC2', 'C3xC4']);
      assert.equal(stack.model.denseTransform, 'quantile', 'the insignificant bucketize change is not stacked (the default stays)');
      assert.deepEqual([...stack.hypothesis.parents].sort(), ['v-cross12', 'v-cross34', 'v-fm']);
    });

    it('says so and keeps exploring when nothing won significantly', () => {
      const flat = [run('v-a', { family: 'lr', crosses: [['C5', 'C6']] }, 0.7998)];
      const res = designHeuristically(designRequest({ phase: 'combination', history: flat, count: 2 }));
      assert.equal(res.proposals.length, 2);
      assert.ok(res.proposals.every((p) => p.hypothesis.technique !== 'stack-winners'));
      assert.match(res.proposals[0].hypothesis.rationale, /nothing to stack/);
    });
  });

  describe('triage of finished runs (their learning curves)', () => {
    it('gives an over-fitting best run stronger L2, and an under-fitting one more epochs and capacity', () => {
      const over = run('x1', { family: 'fm', l2: 1e-4 }, 0.7, {
        fit: { verdict: 'overfitting', evaluations: 3, relativeGap: 0.12, explanation: 'validation NE 12% above train NE' },
      });
      const res = designHeuristically(designRequest({ phase: 'exploitation', count: 3, history: [over] }));
      const l2 = res.proposals.find((p) => p.hypothesis.technique === 'regularization-l2' && p.hypothesis.title.includes('over-fits'));
      assert.ok(l2, res.proposals.map((p) => p.hypothesis.title).join('; '));
      assert.equal(l2.model.l2, 4e-4);
      assert.match(l2.hypothesis.rationale, /x1 over-fits: validation NE 12% above train NE/);

      const under = run('x1', { family: 'fm', epochs: 2 }, 0.7, {
        fit: { verdict: 'underfitting', evaluations: 2, lastImprovement: 0.02, explanation: 'still falling' },
      });
      const res2 = designHeuristically(designRequest({ phase: 'exploitation', count: 4, history: [under] }));
      assert.ok(res2.proposals.some((p) => p.hypothesis.technique === 'more-epochs' && p.model.epochs === 4 && p.model.family === 'fm'));
      assert.ok(res2.proposals.some((p) => p.hypothesis.technique === 'embedding-dim' && p.hypothesis.title.includes('under-fits')));

      const balanced = run('x1', { family: 'fm' }, 0.7, { fit: { verdict: 'balanced', evaluations: 2, explanation: 'fine' } });
      const res3 = designHeuristically(designRequest({ phase: 'exploitation', count: 4, history: [balanced] }));
      assert.ok(!res3.proposals.some((p) => /over-fits|under-fits/.test(p.hypothesis.title)));
    });
  });

  describe('exploitation', () => {
    const best = run(
      'c-best',
      {
        family: 'fm',
        learningRate: 0.05,
        crosses: [
          ['C1', 'C2'],
          ['C3', 'C4'],
        ],
      },
      0.75,
    );
    const history = [run('v-fm', { family: 'fm' }, 0.77), best];

    it('sweeps the learning rate around the best run on a log scale (x0.5, x2)', () => {
      const res = designHeuristically(designRequest({ phase: 'exploitation', history, count: 4, fieldPairSignal: [] }));
      const rates = res.proposals
        .filter((p) => p.hypothesis.technique === 'learning-rate')
        .map((p) => p.model.learningRate)
        .sort();
      assert.deepEqual(rates, [0.025, 0.1]);
      for (const p of res.proposals) {
        assert.equal(p.model.family, 'fm', 'tunes the best config, does not switch family');
        assert.deepEqual(crossKeys(p.model), ['C1xC2', 'C3xC4']);
        assert.deepEqual(p.hypothesis.parents, ['c-best']);
      }
      assert.ok(
        res.proposals.some((p) => p.hypothesis.technique !== 'learning-rate'),
        'other knobs too (epochs, embeddingDim, ...)',
      );
    });

    it("tunes a low-rank DCN's cross-layer rank by halving and doubling it; a full-rank DCN has no rank to step", () => {
      const dcnRun = (crossRank: number | 'full') => run('c-dcn', { family: 'dcn', crossRank }, 0.74);
      const ranks = (crossRank: number | 'full') =>
        designHeuristically(designRequest({ phase: 'exploitation', history: [...history, dcnRun(crossRank)], count: 32, fieldPairSignal: [] }))
          .proposals.filter((p) => p.hypothesis.technique === 'dcn-rank')
          .map((p) => (p.model.family === 'dcn' ? p.model.crossRank : undefined))
          .sort();
      assert.deepEqual(ranks(32), [16, 64]);
      assert.deepEqual(ranks('full'), []);
    });

    it('bisects once a step in one direction lost, and keeps going in a direction that is untried', () => {
      const lost = run('e-lr2x', { ...best.config, learningRate: 0.1 }, 0.76);
      const first = designHeuristically(designRequest({ phase: 'exploitation', history: [...history, lost], count: 1, fieldPairSignal: [] }));
      assert.equal(first.proposals[0].model.learningRate, 0.07071, 'the bisection between 0.05 and the losing 0.1 comes first');
      const res = designHeuristically(designRequest({ phase: 'exploitation', history: [...history, lost], count: 4, fieldPairSignal: [] }));
      const rates = res.proposals
        .filter((p) => p.hypothesis.technique === 'learning-rate')
        .map((p) => p.model.learningRate)
        .sort();
      assert.deepEqual(rates, [0.025, 0.07071], 'x0.5 is untried; above, bisect between 0.05 and the losing 0.1');
    });
  });

  it('never re-proposes a config from history or from insights on the same data (seed and checkpointing ignored)', () => {
    const first = designHeuristically(designRequest({ count: 6 }));
    // Replay the first batch as history with different seeds, plus one same-data insight.
    const history = first.proposals.slice(0, 3).map((p, i) => run(`h${i}`, { ...p.model, seed: 99, checkpointEvery: 7 }, 0.8));
    const insights = [
      {
        experimentId: 'old',
        dataFingerprint: 'fp-planted-7',
        similarity: 1,
        config: first.proposals[3].model,
        technique: first.proposals[3].hypothesis.technique,
        outcome: 'neutral' as const,
      },
    ];
    const second = designHeuristically(designRequest({ count: 6, history, insights }));
    const known = new Set([baseline.config, ...history.map((h) => h.config), insights[0].config].map(canonicalConfigKey));
    const proposed = second.proposals.map((p) => canonicalConfigKey(p.model));
    assert.equal(second.proposals.length, 6);
    assert.ok(
      proposed.every((k) => !known.has(k)),
      'no known config proposed again',
    );
    assert.equal(new Set(proposed).size, proposed.length, 'no duplicates within a batch');
  });

  it('is deterministic for the same request', () => {
    const a = designHeuristically(designRequest({ count: 8, phase: 'validation' }));
    const b = designHeuristically(designRequest({ count: 8, phase: 'validation' }));
    assert.deepEqual(a, b);
  });

  it('stays inside a narrow search space (families, learning-rate range, maxCrosses)', () => {
    const searchSpace = SearchSpace.parse({
      families: ['lr'],
      learningRate: { lr: [0.05, 0.2], fm: [0.01, 0.1], dcn: [0.001, 0.01] },
      maxCrosses: 1,
    });
    const res = designHeuristically(designRequest({ count: 8, searchSpace }));
    assert.equal(res.proposals.length, 8);
    for (const p of res.proposals) {
      assert.equal(p.model.family, 'lr');
      assert.ok(p.model.learningRate >= 0.05 && p.model.learningRate <= 0.2, `lr ${p.model.learningRate}`);
      assert.ok(p.model.crosses.length <= 1);
      assert.ok(isInsideSearchSpace(p.model, searchSpace));
    }
  });
});
