import { strict as assert } from 'node:assert';
import { ExperimentResult, ModelConfig, type Attempt } from '../../contracts';
import { computeOf } from '../../contracts/probe';
import { remediesOf } from '../../store/insights';
import { metrics } from './fixtures/campaign';

const BIG = ModelConfig.parse({ family: 'fm', hashBits: 20, embeddingDim: 16 });
const SMALL = ModelConfig.parse({ family: 'fm', hashBits: 18, embeddingDim: 8 });

const outOfMemory = (config: ModelConfig): Attempt => ({
  config,
  failure: { failureClass: 'resource', message: 'out of memory training fm with hashBits 20', lastProgress: [], dataFingerprint: 'fp-a' },
});
const diskFull = (config: ModelConfig): Attempt => ({
  config,
  failure: {
    failureClass: 'resource',
    message: 'disk full writing an artifact under /data/rw/artifacts: 0 MB free',
    lastProgress: [],
    dataFingerprint: 'fp-a',
    diskFull: { path: '/data/rw/artifacts', freeBytes: 0 },
  },
});

function succeededAfter(attempts: Attempt[]): ExperimentResult {
  return ExperimentResult.parse({
    experimentId: 'x1',
    campaignId: 'c1',
    phase: 'validation',
    status: 'succeeded',
    config: attempts.at(-1)!.config,
    dataFingerprint: 'fp-a',
    metrics: metrics(0.8),
    trainSeconds: 3,
    modelBytes: 1000,
    attempts,
  });
}

/** An attempt that met a full disk says nothing about the idea: it costs no budget and teaches no fix. */
describe('attempts that met a full disk', () => {
  it('cost nothing of the experiment budget (a campaign that waited for space runs as many ideas)', () => {
    assert.equal(computeOf(succeededAfter([diskFull(BIG), diskFull(BIG), { config: BIG }])), 1);
    assert.equal(computeOf(succeededAfter([outOfMemory(BIG), { config: SMALL }])), 2, 'a real retry still counts');
    assert.equal(computeOf({ attempts: [diskFull(BIG), { config: BIG }], probe: { rowFraction: 0.2, trainRows: 1000 } }), 0.2);
  });

  it('teach no remedy, and do not break the chain from an out-of-memory failure to the fix that worked', () => {
    // Out of memory, then the smaller model met a full disk, then the same smaller model succeeded.
    const remedies = remediesOf(succeededAfter([outOfMemory(BIG), diskFull(SMALL), { config: SMALL }]));
    assert.deepEqual(
      remedies.map((r) => [r.outcome, r.failureClass, r.changes]),
      [['worked', 'resource', { hashBits: 18, embeddingDim: 8 }]],
      'the smaller model is remembered as having worked, never as having failed',
    );
    assert.deepEqual(remediesOf(succeededAfter([diskFull(BIG), { config: BIG }])), []);
  });
});
