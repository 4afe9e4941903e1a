import { strict as assert } from 'node:assert';
import { ModelConfig } from '../../contracts/model';
import { triageHeuristically } from '../../agents/heuristic-triage';
import type { RememberedFix } from '../../contracts';
import { applyRememberedFix, retryAfterFailure } from '../../workflows/retry-policy';
import { progress, triageRequest } from './fixtures';

describe('heuristic failure triage', () => {
  it('NaN in the running loss → diverged, with a concrete lower learning rate and clipping', () => {
    const res = triageHeuristically(triageRequest('infrastructure', 'training stopped', progress([0.45, 0.9, 4.2, NaN], [], [2, 40, 900, NaN])));
    assert.equal(res.failureClass, 'diverged');
    assert.equal(res.source, 'heuristic');
    assert.match(res.fix, /learningRate 2 → 0\.6 and gradient clipping at 5/);
  });

  it('NaN that became null in JSON, or only named in the message, still reads as diverged', () => {
    const viaJson = JSON.parse(JSON.stringify(triageRequest('infrastructure', 'stopped', progress([0.45, 0.5, NaN]))));
    assert.equal(triageHeuristically(viaJson).failureClass, 'diverged');
    assert.equal(
      triageHeuristically(triageRequest('underfit', 'running loss became NaN at step 900', progress([0.45, 0.44]))).failureClass,
      'diverged',
    );
    assert.equal(
      triageHeuristically(triageRequest('infrastructure', 'training diverged at step 40 (epoch 1): loss or gradient became infinite', []))
        .failureClass,
      'diverged',
    );
  });

  it('an exploding but finite loss → diverged', () => {
    assert.equal(triageHeuristically(triageRequest('underfit', 'stopped', progress([0.44, 0.43, 0.6, 1.9, 3.5]))).failureClass, 'diverged');
  });

  it('validation NE rising while training loss falls → overfit, stop at the best epoch', () => {
    const res = triageHeuristically(
      triageRequest(
        'underfit',
        'early stop',
        progress([0.5, 0.46, 0.43, 0.4, 0.37, 0.34], [0.9, 0.86, 0.84, 0.85, 0.87, 0.9]),
        ModelConfig.parse({ family: 'fm', epochs: 4 }),
      ),
    );
    assert.equal(res.failureClass, 'overfit');
    assert.match(res.fix, /epochs from 4 to 2/);
    assert.match(res.fix, /l2 from 0 to/);
  });

  it('flat loss with NE ~1 → underfit', () => {
    const res = triageHeuristically(
      triageRequest(
        'diverged',
        'no progress',
        progress([0.3251, 0.325, 0.3252, 0.3251], [1.0, 1.0, 0.999, 1.0]),
        ModelConfig.parse({ family: 'lr', learningRate: 0.01 }),
      ),
    );
    assert.equal(res.failureClass, 'underfit');
    assert.match(res.fix, /learningRate from 0\.01 to 0\.03/);
  });

  it('message patterns: malformed rows → bad-data (with line numbers), memory → resource, network → infrastructure', () => {
    const bad = triageHeuristically(triageRequest('infrastructure', 'malformed row at line 1234: expected 40 fields', progress([0.45, 0.44])));
    assert.equal(bad.failureClass, 'bad-data');
    assert.match(bad.fix, /1234/);
    const loader = triageHeuristically(
      triageRequest('bad-data', 'train.tsv: 90 of 1000 rows are malformed; first problems:\n  train.tsv:17: 12 columns\n  train.tsv:42: label', []),
    );
    assert.match(loader.fix, /near line 17, 42/);
    assert.equal(triageHeuristically(triageRequest('infrastructure', 'FATAL ERROR: JavaScript heap out of memory', [])).failureClass, 'resource');
    assert.equal(
      triageHeuristically(triageRequest('diverged', 'read ECONNRESET while uploading checkpoint', progress([0.45, 0.44]))).failureClass,
      'infrastructure',
    );
  });

  it('trusts the engine when it measured bad-data or resource, even if the message says otherwise', () => {
    assert.equal(triageHeuristically(triageRequest('bad-data', 'ECONNRESET NaN', progress([0.4, NaN]))).failureClass, 'bad-data');
    const oom = triageHeuristically(
      triageRequest('resource', 'socket hang up', [], ModelConfig.parse({ family: 'dcn', hashBits: 22, embeddingDim: 32 })),
    );
    assert.equal(oom.failureClass, 'resource');
    assert.match(oom.fix, /hashBits 22 → 20/);
    assert.match(oom.fix, /embeddingDim 32 → 16/);
    const measured = triageHeuristically(
      triageRequest(
        'resource',
        'dcn with hashBits 22 needs about 3 GiB, over the 2 GiB budget; hashBits 19 would fit',
        [],
        ModelConfig.parse({ family: 'dcn', hashBits: 22 }),
      ),
    );
    assert.match(measured.fix, /hashBits 22 → 19 \(the size the engine says fits its memory budget\)/);
  });

  it('is one runbook with the retry policy: the fix it states is the retry that runs', () => {
    const config = ModelConfig.parse({ family: 'fm', hashBits: 20, embeddingDim: 16, learningRate: 0.5 });
    const message = 'fm with hashBits 20 needs about 3 GiB, over the 2 GiB budget; hashBits 18 would fit';
    const oom = triageHeuristically(triageRequest('resource', message, [], config));
    const retry = retryAfterFailure('resource', config, message);
    assert.ok(retry.retry && retry.config.hashBits === 18 && retry.config.family === 'fm' && retry.config.embeddingDim === 8);
    assert.ok(oom.fix.toLowerCase().startsWith(retry.fix.toLowerCase()), `${oom.fix} vs ${retry.fix}`);
    const diverged = triageHeuristically(triageRequest('diverged', 'loss became NaN', progress([0.4, NaN]), config));
    assert.ok(diverged.fix.toLowerCase().startsWith(retryAfterFailure('diverged', config).fix.toLowerCase()), diverged.fix);
  });

  it('quotes a remembered fix of the same class and family, as the retry policy applies it', () => {
    const config = ModelConfig.parse({ family: 'fm', hashBits: 20, embeddingDim: 16, batchSize: 256 });
    const message = 'fm with hashBits 20 needs about 3 GiB, over the 2 GiB budget; hashBits 18 would fit';
    const remembered: RememberedFix = {
      failureClass: 'resource',
      family: 'fm',
      changes: { hashBits: 16, embeddingDim: 4, batchSize: 64 },
      fromExperiment: 'camp-3-x2',
      fromCampaign: 'camp-3',
      dataFingerprint: 'fp-other',
      similarity: 0.71,
      worked: 3,
      failed: 1,
      attempts: 3,
    };
    const oom = triageHeuristically(triageRequest('resource', message, [], config), remembered);
    assert.equal(
      oom.fix,
      'Retry with hashBits 20 → 16, embeddingDim 16 → 4, batchSize 256 → 64; remembered from experiment camp-3-x2 (worked 3 times, failed 1 time, on data 71% similar); or run it on a worker with more memory.',
    );
    const retry = applyRememberedFix('resource', config, remembered, message);
    assert.ok(retry.retry && oom.fix.toLowerCase().startsWith(retry.fix.toLowerCase()), 'one runbook, memory included');
    assert.match(
      oom.diagnosis,
      /The insights database remembers a fix for resource fm runs: hashBits 16, embeddingDim 4, batchSize 64, remembered from/,
    );
    assert.deepEqual(oom.rememberedFix, remembered);
    // A memory of another class is passed on but neither quoted nor applied.
    const diverged = triageHeuristically(triageRequest('diverged', 'loss became NaN', progress([0.4, NaN]), config), remembered);
    assert.doesNotMatch(diverged.diagnosis + diverged.fix, /remember/);
    assert.ok(diverged.fix.startsWith('Retry with learningRate'));
  });
});
