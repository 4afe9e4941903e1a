import { strict as assert } from 'node:assert';
import { ModelConfig } from '../../contracts';
import { resourceFailureOf, TrainingFailure } from '../../ranking';
import { retryAfterFailure } from '../../workflows/retry-policy';

/** Runs an allocation that fails for real on any machine and returns what V8 or WebAssembly threw. */
function thrownBy(allocate: () => unknown): unknown {
  try {
    allocate();
  } catch (err) {
    return err;
  }
  throw new Error('the allocation was expected to fail');
}

describe('real out-of-memory errors are resource failures, retried smaller', () => {
  const dcn = ModelConfig.parse({ family: 'dcn', hashBits: 22, embeddingDim: 16 });

  it('classes the RangeErrors V8 and WebAssembly throw when memory runs out as resource, naming the model size', () => {
    const errors = [
      thrownBy(() => new ArrayBuffer(Number.MAX_SAFE_INTEGER)),
      thrownBy(() => new Float64Array(2 ** 40)),
      thrownBy(() => new Array(2 ** 32)),
    ];
    for (const err of errors) {
      const failure = resourceFailureOf(err, dcn);
      assert.ok(failure instanceof TrainingFailure, `${String(err)} is a resource failure`);
      assert.equal(failure.failureClass, 'resource');
      assert.match(failure.message, /^out of memory training dcn with hashBits 22 and embeddingDim 16: /);
      // The runbook's retry is a smaller model: fewer hash buckets, half the embedding, half the batch.
      const retry = retryAfterFailure(failure.failureClass, dcn, failure.message);
      assert.ok(retry.retry);
      assert.equal(retry.config.hashBits, 20);
      assert.equal(retry.config.family === 'dcn' && retry.config.embeddingDim, 8);
    }
  });

  it('leaves every other error alone (infrastructure: Temporal retries it)', () => {
    assert.equal(resourceFailureOf(new RangeError('Maximum call stack size exceeded'), dcn), undefined);
    assert.equal(resourceFailureOf(new Error('Array buffer allocation failed'), dcn), undefined, 'only a RangeError is an allocation failure');
    assert.equal(resourceFailureOf(new TypeError('x is not a function'), dcn), undefined);
  });
});
