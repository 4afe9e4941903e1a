import { strict as assert } from 'node:assert';
import { SearchSpace } from '../../contracts/campaign';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { clampToSearchSpace } from '../../agents/search-space';
import { designRandomly } from '../../agents/random-designer';
import { designRequest, run } from './fixtures';

describe('search-space clamp and canonical configs', () => {
  const space = SearchSpace.parse({ families: ['lr', 'fm'], maxCrosses: 2 });

  it('clamps numbers into the ranges and moves a disallowed family to the nearest allowed one', () => {
    const c = clampToSearchSpace({ family: 'dcn', learningRate: 50, hashBits: 30, epochs: 0, embeddingDim: 500, crossLayers: 3 }, space);
    assert.equal(c.family, 'fm');
    assert.equal(c.learningRate, 0.05, 'a dcn step is meaningless for fm: the fm default is used');
    assert.equal(c.hashBits, 22); // the default search space's max
    assert.equal(c.epochs, 1);
    assert.ok(c.family === 'fm' && c.embeddingDim === 32);
    assert.ok(!('crossLayers' in c), 'keys of another family are dropped');
    assert.equal(clampToSearchSpace({ family: 'lr', learningRate: 50 }, space).learningRate, 1);
    assert.equal(clampToSearchSpace({ family: 'lr', learningRate: -3 }, space).learningRate, 0.1);
  });

  it('keeps a DCN cross-layer rank inside the contract (full, or 1..512) and drops it from other families', () => {
    const dcnSpace = SearchSpace.parse({ families: ['fm', 'dcn'] });
    const rankOf = (crossRank: number | 'full') => {
      const c = clampToSearchSpace({ family: 'dcn', crossRank }, dcnSpace);
      return c.family === 'dcn' ? c.crossRank : undefined;
    };
    assert.equal(rankOf('full'), 'full');
    assert.equal(rankOf(31.6), 32);
    assert.equal(rankOf(0), 1);
    assert.equal(rankOf(5000), 512);
    assert.equal(rankOf(Number.NaN), 'full', 'a meaningless rank falls back to the default');
    assert.ok(!('crossRank' in clampToSearchSpace({ family: 'dcn', crossRank: 32 }, space)), 'dcn is not allowed here: fm has no rank');
  });

  it('keeps only crosses between two different real fields, deduped, at most maxCrosses', () => {
    const c = clampToSearchSpace(
      {
        family: 'lr',
        crosses: [
          ['C1', 'C1'],
          ['C1', 'Bogus'],
          ['C2', 'C1'],
          ['C1', 'C2'],
          ['C3', 'C4'],
          ['C5', 'C6'],
        ],
      },
      space,
    );
    assert.deepEqual(c.crosses, [
      ['C2', 'C1'],
      ['C3', 'C4'],
    ]);
  });

  it('treats seed, checkpointEvery, cross order and defaults as the same model', () => {
    const a = canonicalConfigKey({
      family: 'lr',
      crosses: [
        ['C2', 'C1'],
        ['C3', 'C4'],
      ],
      seed: 5,
      checkpointEvery: 10,
    });
    const b = canonicalConfigKey({
      family: 'lr',
      learningRate: 0.05, // the default, spelled out
      crosses: [
        ['C4', 'C3'],
        ['C1', 'C2'],
      ],
      seed: 9,
    });
    assert.equal(a, b);
    assert.notEqual(a, canonicalConfigKey({ family: 'lr', crosses: [['C1', 'C2']] }));
  });
});

describe('random-search designer', () => {
  const space = SearchSpace.parse({ families: ['lr', 'dcn'], hashBits: [15, 17], epochs: [1, 3], maxCrosses: 3 });

  it('samples inside the search space, only crosses of active fields, none already tried', () => {
    const res = designRandomly(designRequest({ count: 20, searchSpace: space, history: [run('h', { family: 'lr', hashBits: 16 }, 0.8)] }));
    assert.equal(res.source, 'random');
    assert.equal(res.proposals.length, 20);
    const active = new Set(['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8']);
    for (const { model, hypothesis } of res.proposals) {
      assert.equal(hypothesis.technique, 'random-search');
      assert.ok(model.family === 'lr' || model.family === 'dcn');
      const [lo, hi] = space.learningRate[model.family];
      assert.ok(model.learningRate >= lo && model.learningRate <= hi);
      assert.ok(model.hashBits >= 15 && model.hashBits <= 17 && model.epochs <= 3 && model.crosses.length <= 3);
      for (const pair of model.crosses) assert.ok(active.has(pair[0]) && active.has(pair[1]));
    }
    assert.ok(new Set(res.proposals.map((p) => p.model.family)).size === 2, 'both families drawn');
    assert.ok(
      res.proposals.some((p) => p.model.learningRate < 0.1) && res.proposals.some((p) => p.model.learningRate > 0.1),
      'spread over the log range',
    );
  });

  it('is seeded: same request, same draws; another seed or a longer history, other draws', () => {
    const a = designRandomly(designRequest({ count: 5, searchSpace: space }));
    assert.deepEqual(a, designRandomly(designRequest({ count: 5, searchSpace: space })));
    assert.notDeepEqual(a.proposals, designRandomly(designRequest({ count: 5, searchSpace: space, seed: 12 })).proposals);
    assert.notDeepEqual(
      a.proposals,
      designRandomly(designRequest({ count: 5, searchSpace: space, history: [run('x', { family: 'fm' }, 0.8)] })).proposals,
    );
  });

  it('gives neighbouring seeds independent sequences: seed 3 after two runs never replays what seed 5 drew first', () => {
    const history = [run('x', { family: 'fm' }, 0.8), run('y', { family: 'lr' }, 0.81)];
    const later = designRandomly(designRequest({ count: 5, searchSpace: space, seed: 3, history })).proposals.map((p) => p.model);
    const first = designRandomly(designRequest({ count: 5, searchSpace: space, seed: 5 })).proposals.map((p) => p.model);
    assert.ok(later.every((m) => !first.some((f) => JSON.stringify(f) === JSON.stringify(m))));
  });
});
