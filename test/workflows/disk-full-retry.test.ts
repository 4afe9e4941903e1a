import { strict as assert } from 'node:assert';
import { ModelConfig, type RememberedFix } from '../../contracts';
import { triageHeuristically } from '../../agents/heuristic-triage';
import { applyRememberedFix, DISK_FULL_BACKOFF, retryAfterDiskFull, retryAfterFailure } from '../../workflows/retry-policy';
import { progress, triageRequest } from '../agents/fixtures';

const DCN = ModelConfig.parse({ family: 'dcn', hashBits: 20, embeddingDim: 16, batchSize: 512 });
const DISK = { path: '/data/rw/artifacts', freeBytes: 0 };
/** DiskFullError's wording, as it reaches a failure report. */
const DISK_MESSAGE = 'disk full writing an artifact under /data/rw/artifacts: 0 MB free';

/** A remembered fix for a resource failure (what the insights database hands triage after an out-of-memory fix). */
const SHRINK: RememberedFix = {
  failureClass: 'resource',
  family: 'dcn',
  changes: { hashBits: 16, embeddingDim: 4 },
  fromExperiment: 'exp-7',
  dataFingerprint: 'fp-a',
  similarity: 1,
  worked: 3,
  failed: 0,
  attempts: 2,
};

describe('retry policy: a full disk is waited out with the same config', () => {
  it('backs off 30 s, doubling to 10 minutes, and always retries the very same config', () => {
    const waits: number[] = [];
    const waited = { count: 0, seconds: 0 };
    for (let i = 0; i < 8; i++) {
      const decision = retryAfterDiskFull(DCN, DISK, waited);
      assert.ok(decision.retry);
      assert.deepEqual(decision.config, DCN, 'no knob changes: the model was not the problem');
      waits.push(decision.waitSeconds);
      waited.count++;
      waited.seconds += decision.waitSeconds;
    }
    assert.deepEqual(waits, [30, 60, 120, 240, 480, 600, 600, 600]);
  });

  it('says to free disk space, where, how much was free, and when it retries', () => {
    const decision = retryAfterDiskFull(DCN, { path: '/data/rw', freeBytes: 3 * 2 ** 20 + 5 }, { count: 1, seconds: 30 });
    assert.ok(decision.retry);
    assert.equal(
      decision.fix,
      'free disk space under /data/rw (3 MB free); the same config is retried in 1 min (waits back off to 10 min, for up to 12 h in all; no model change)',
    );
    assert.doesNotMatch(decision.fix, /smaller|hashBits|embeddingDim|batchSize/);
  });

  it('gives up after 12 hours of waiting in all, naming the disk', () => {
    const { totalSeconds, maximumSeconds } = DISK_FULL_BACKOFF;
    assert.ok(retryAfterDiskFull(DCN, DISK, { count: 80, seconds: totalSeconds - maximumSeconds }).retry, 'the last whole wait still fits');
    const decision = retryAfterDiskFull(DCN, DISK, { count: 80, seconds: totalSeconds - maximumSeconds + 1 });
    assert.equal(decision.retry, false);
    assert.match(decision.fix, /^free disk space under \/data\/rw\/artifacts \(0 MB free\): it stayed full through 11\.8 h of retries/);
  });

  it('the resource runbook, given a full disk, keeps the config; a remembered smaller model is not applied', () => {
    const runbook = retryAfterFailure('resource', DCN, DISK_MESSAGE);
    assert.ok(runbook.retry);
    assert.deepEqual(runbook.config, DCN);
    assert.match(runbook.fix, /^free disk space under \/data\/rw\/artifacts \(0 MB free\), then retry the same config \(no model change\)$/);
    assert.deepEqual(applyRememberedFix('resource', DCN, SHRINK, DISK_MESSAGE), runbook);
    // Out of memory still shrinks, and still takes the memory: the disk-full case is recognised, not all of `resource`.
    const oom = applyRememberedFix('resource', DCN, SHRINK, 'out of memory training dcn with hashBits 20 and embeddingDim 16');
    assert.ok(oom.retry);
    assert.equal(oom.config.hashBits, 16);
  });
});

describe('heuristic triage of a full disk', () => {
  it('diagnoses the disk, not the model, and says to free space (with the report’s diskFull, or the wording alone)', () => {
    const withReport = triageRequest('resource', DISK_MESSAGE, progress([0.45, 0.44, 0.43]), DCN);
    withReport.failure.diskFull = DISK;
    const fromWording = triageRequest('resource', DISK_MESSAGE, [], DCN);
    for (const request of [withReport, fromWording]) {
      const triage = triageHeuristically(request, SHRINK);
      assert.equal(triage.failureClass, 'resource');
      assert.match(triage.diagnosis, /full disk.*disk full writing an artifact under \/data\/rw\/artifacts: 0 MB free/);
      assert.match(
        triage.fix,
        /^Free disk space under \/data\/rw\/artifacts \(0 MB free\) \(`rankwright gc` removes what nothing needs\); the same config is retried/,
      );
      assert.doesNotMatch(`${triage.diagnosis} ${triage.fix}`, /out of memory|smaller model,|hashBits|more memory/);
      assert.equal(triage.rememberedFix, undefined, 'a remembered smaller model is no fix for a full disk');
    }
  });

  it('an out-of-memory failure is still triaged as memory, with the smaller model', () => {
    const triage = triageHeuristically(triageRequest('resource', 'out of memory training dcn with hashBits 20', [], DCN));
    assert.match(triage.diagnosis, /ran out of memory/);
    assert.match(triage.fix, /hashBits 20 → 18/);
  });
});
