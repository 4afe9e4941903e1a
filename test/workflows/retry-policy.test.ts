import { strict as assert } from 'node:assert';
import { ModelConfig, type RememberedFix, type RemedyChanges } from '../../contracts';
import { applyRememberedFix, MIN_REMEMBERED_LR_RATIO, retryAfterFailure } from '../../workflows/retry-policy';

/** A remembered fix as the insights database hands it to triage. */
function remembered(
  failureClass: RememberedFix['failureClass'],
  family: RememberedFix['family'],
  changes: RemedyChanges,
  over: Partial<RememberedFix> = {},
): RememberedFix {
  return {
    failureClass,
    family,
    changes,
    fromExperiment: 'exp-7',
    dataFingerprint: 'fp-a',
    similarity: 1,
    worked: 2,
    failed: 0,
    attempts: 3,
    ...over,
  };
}

const OOM = 'fm with hashBits 20 and embeddingDim 16 needs about 3 GiB, over the 2 GiB budget; hashBits 19 would fit';

describe('retry policy: a remembered fix, applied within the runbook', () => {
  it('diverged: jumps straight to the remembered learning-rate cut and clipping, and says where it comes from', () => {
    const config = ModelConfig.parse({ family: 'lr', learningRate: 3, l2: 0.5, crosses: [['C1', 'C2']] });
    const decision = applyRememberedFix(
      'diverged',
      config,
      remembered('diverged', 'lr', { learningRate: 0.27, learningRateRatio: 0.09, gradientClip: 2.5 }),
    );
    assert.ok(decision.retry);
    assert.equal(decision.config.learningRate, 0.27);
    assert.equal(decision.config.gradientClip, 2.5);
    assert.equal(decision.rememberedFrom, 'exp-7');
    assert.equal(
      decision.fix,
      'retry with learningRate 3 → 0.27, gradient clipping at 2.5; remembered from experiment exp-7 (worked 2 times, on the same data)',
    );
    // Nothing outside the runbook's knobs changes.
    assert.deepEqual({ ...decision.config, learningRate: 3, gradientClip: undefined }, { ...config, gradientClip: undefined });
  });

  it('diverged: never raises the learning rate or loosens clipping past the runbook step, and never cuts deeper than four steps', () => {
    const config = ModelConfig.parse({ family: 'dcn', learningRate: 2, gradientClip: 4 });
    const policy = retryAfterFailure('diverged', config);
    assert.ok(policy.retry);
    // A memory that would cut less (or raise) and clip looser than the runbook: the runbook's retry, memory not claimed.
    const milder = applyRememberedFix('diverged', config, remembered('diverged', 'dcn', { learningRateRatio: 2, gradientClip: 50 }));
    assert.deepEqual(milder, policy);
    // A memory that cuts a millionfold: bounded at 0.3⁴, and clipping at the runbook's 0.5 floor.
    const wild = applyRememberedFix('diverged', config, remembered('diverged', 'dcn', { learningRateRatio: 1e-6, gradientClip: 0.01 }));
    assert.ok(wild.retry);
    assert.equal(wild.config.learningRate, Number((2 * MIN_REMEMBERED_LR_RATIO).toPrecision(3)));
    assert.equal(wild.config.gradientClip, 0.5);
    // A memory that is exactly the runbook's step: the same retry, quoting the memory.
    const same = applyRememberedFix(
      'diverged',
      config,
      remembered('diverged', 'dcn', { learningRate: 0.6, learningRateRatio: 0.3, gradientClip: 2 }, { similarity: 0.62, failed: 1 }),
    );
    assert.ok(same.retry && policy.retry);
    assert.deepEqual(same.config, policy.config);
    assert.equal(same.fix, `${policy.fix}; remembered from experiment exp-7 (worked 2 times, failed 1 time, on data 62% similar)`);
  });

  it('resource: takes the remembered sizes where they are at most the runbook step, never a bigger model', () => {
    const config = ModelConfig.parse({ family: 'fm', hashBits: 20, embeddingDim: 16, batchSize: 256, l2: 0.001 });
    const policy = retryAfterFailure('resource', config, OOM);
    assert.ok(policy.retry);
    assert.deepEqual([policy.config.hashBits, policy.config.family === 'fm' && policy.config.embeddingDim, policy.config.batchSize], [19, 8, 128]);

    const jump = applyRememberedFix('resource', config, remembered('resource', 'fm', { hashBits: 16, embeddingDim: 4, batchSize: 64 }), OOM);
    assert.ok(jump.retry && jump.config.family === 'fm');
    assert.deepEqual([jump.config.hashBits, jump.config.embeddingDim, jump.config.batchSize], [16, 4, 64]);
    assert.equal(jump.config.l2, 0.001);
    assert.match(
      jump.fix,
      /^retry with hashBits 20 → 16, embeddingDim 16 → 4, batchSize 256 → 64; remembered from experiment exp-7 \(worked 2 times/,
    );

    // Remembered sizes above the runbook's step are ignored knob by knob: the model never grows past the runbook's retry.
    const mixed = applyRememberedFix('resource', config, remembered('resource', 'fm', { hashBits: 22, embeddingDim: 4, batchSize: 512 }), OOM);
    assert.ok(mixed.retry && mixed.config.family === 'fm');
    assert.deepEqual([mixed.config.hashBits, mixed.config.embeddingDim, mixed.config.batchSize], [19, 4, 128]);
    const bigger = applyRememberedFix('resource', config, remembered('resource', 'fm', { hashBits: 24, embeddingDim: 64, batchSize: 4096 }), OOM);
    assert.deepEqual(bigger, policy);
    // Floors: the runbook never goes below 2^8 rows, batches of 16 or 2 factors.
    const tiny = applyRememberedFix('resource', config, remembered('resource', 'fm', { hashBits: 8, embeddingDim: 1, batchSize: 1 }), OOM);
    assert.ok(tiny.retry && tiny.config.family === 'fm');
    assert.deepEqual([tiny.config.hashBits, tiny.config.embeddingDim, tiny.config.batchSize], [8, 2, 16]);
  });

  it('falls back to the runbook for another class or family, and never turns a stop into a retry', () => {
    const config = ModelConfig.parse({ family: 'lr', learningRate: 3, hashBits: 20 });
    const fix = remembered('diverged', 'lr', { learningRateRatio: 0.09, gradientClip: 2.5 });
    assert.deepEqual(applyRememberedFix('resource', config, fix, OOM), retryAfterFailure('resource', config, OOM));
    assert.deepEqual(applyRememberedFix('diverged', config, { ...fix, family: 'fm' }), retryAfterFailure('diverged', config));
    assert.deepEqual(applyRememberedFix('diverged', config, undefined), retryAfterFailure('diverged', config));
    for (const cls of ['bad-data', 'infrastructure', 'underfit', 'overfit'] as const) {
      assert.equal(applyRememberedFix(cls, config, { ...fix, failureClass: cls }).retry, false, cls);
    }
    // At the smallest model the runbook stops, whatever is remembered.
    const smallest = ModelConfig.parse({ family: 'lr', hashBits: 8, batchSize: 16 });
    assert.equal(applyRememberedFix('resource', smallest, remembered('resource', 'lr', { hashBits: 8, batchSize: 16 })).retry, false);
  });

  it('always gives a valid config no bigger than the failing one (resource) and no faster (diverged), over a grid of memories', () => {
    const configs = [
      ModelConfig.parse({ family: 'lr', learningRate: 0.05, hashBits: 9, batchSize: 32 }),
      ModelConfig.parse({ family: 'fm', learningRate: 7, hashBits: 24, embeddingDim: 128, batchSize: 8192, gradientClip: 0.6 }),
      ModelConfig.parse({ family: 'dcn', learningRate: 0.001, hashBits: 12, embeddingDim: 3, batchSize: 17 }),
    ];
    const memories: RemedyChanges[] = [];
    for (const ratio of [1e-9, 0.01, 0.3, 1, 50])
      for (const clip of [0.001, 1, 1000]) memories.push({ learningRateRatio: ratio, gradientClip: clip });
    for (const hashBits of [8, 12, 24])
      for (const dim of [1, 8, 128]) for (const batch of [1, 64, 8192]) memories.push({ hashBits, embeddingDim: dim, batchSize: batch });
    for (const config of configs) {
      for (const changes of memories) {
        for (const cls of ['diverged', 'resource'] as const) {
          const decision = applyRememberedFix(cls, config, remembered(cls, config.family, changes), OOM);
          if (!decision.retry) continue;
          const out = ModelConfig.parse(decision.config);
          const label = `${cls} ${JSON.stringify(changes)} on ${config.family}`;
          assert.equal(out.family, config.family, label);
          if (cls === 'diverged') {
            assert.ok(out.learningRate <= config.learningRate * 0.3 + 1e-12 && out.learningRate > 0, label);
            assert.ok(out.gradientClip !== undefined && out.gradientClip >= 0.5, label);
            assert.deepEqual([out.hashBits, out.batchSize], [config.hashBits, config.batchSize], label);
          } else {
            assert.ok(out.hashBits < config.hashBits && out.hashBits >= 8, label);
            assert.ok(out.batchSize <= config.batchSize, label);
            if (out.family !== 'lr' && config.family !== 'lr') assert.ok(out.embeddingDim <= config.embeddingDim, label);
            assert.equal(out.learningRate, config.learningRate, label);
          }
        }
      }
    }
  });
});

describe('retry policy: raw dense values', () => {
  it('a diverged dcn fed raw values retries with them log-transformed, learning rate unchanged; the next divergence cuts the rate', () => {
    const config = ModelConfig.parse({ family: 'dcn', learningRate: 0.003, denseTransform: 'none' });
    const first = retryAfterFailure('diverged', config);
    assert.ok(first.retry);
    assert.deepEqual(first.config, { ...config, denseTransform: 'log' });
    assert.match(first.fix, /log-transformed \(denseTransform none → log\), learning rate unchanged/);
    // Nothing raw is left: the runbook's learning-rate cut, as for any divergence.
    const second = retryAfterFailure('diverged', first.config);
    assert.ok(second.retry);
    assert.equal(second.config.learningRate, 0.0009);
    assert.equal(second.config.denseTransform, 'log');
  });

  it("a field's own transform none is logged and every other knob kept; lr fed raw values too; a config fed nothing raw takes the rate cut", () => {
    const fm = ModelConfig.parse({ family: 'fm', fields: { I2: { transform: 'none' }, I3: { transform: 'quantile', buckets: 8 } } });
    const decision = retryAfterFailure('diverged', fm);
    assert.ok(decision.retry);
    assert.deepEqual(decision.config.fields, { I2: { transform: 'log' }, I3: { transform: 'quantile', buckets: 8 } });
    assert.equal(decision.config.denseTransform, 'quantile');
    assert.equal(decision.config.learningRate, fm.learningRate);
    assert.match(decision.fix, /I2's transform none → log/);
    const lr = ModelConfig.parse({ family: 'lr', learningRate: 0.971, denseTransform: 'none' });
    const logged = retryAfterFailure('diverged', lr);
    assert.ok(logged.retry);
    assert.deepEqual(logged.config, { ...lr, denseTransform: 'log' });
    const cooked = ModelConfig.parse({ family: 'dcn', denseTransform: 'standardize' });
    const cut = retryAfterFailure('diverged', cooked);
    assert.ok(cut.retry);
    assert.equal(cut.config.denseTransform, 'standardize');
    assert.equal(cut.config.learningRate, Number((cooked.learningRate * 0.3).toPrecision(3)));
  });

  it('histories recorded before it (rawDenseFirst false) replay the rate cut; a remembered rate cut does not replace the log step', () => {
    const config = ModelConfig.parse({ family: 'dcn', learningRate: 0.01, denseTransform: 'none' });
    const legacy = retryAfterFailure('diverged', config, '', { rawDenseFirst: false });
    assert.ok(legacy.retry);
    assert.equal(legacy.config.learningRate, 0.003);
    assert.equal(legacy.config.denseTransform, 'none');
    const memory = remembered('diverged', 'dcn', { learningRateRatio: 0.01, gradientClip: 1 });
    assert.deepEqual(applyRememberedFix('diverged', config, memory), retryAfterFailure('diverged', config));
    const legacyMemory = applyRememberedFix('diverged', config, memory, '', { rawDenseFirst: false });
    assert.ok(legacyMemory.retry);
    assert.equal(legacyMemory.config.learningRate, 0.0001);
  });
});
