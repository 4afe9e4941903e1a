import { strict as assert } from 'node:assert';
import { FailureReport } from '../../contracts';
import { BadRowFailure, DiskFullFailure, diskFullFailureOf, TrainingFailure } from '../../ranking/failure';
import { DiskFullError, freeBytesAt } from '../../store/disk-space';
import { rebuildError } from '../../workers/training-pool';

describe('ranking: a training that met a full disk', () => {
  it('is a resource failure whose report names the folder and the free space', () => {
    const failure = diskFullFailureOf(new DiskFullError('a checkpoint', '/data/rw/checkpoints', 5 * 2 ** 20 + 123), '/home');
    assert.ok(failure instanceof DiskFullFailure);
    const report = FailureReport.parse(failure.toReport());
    assert.equal(report.failureClass, 'resource');
    assert.equal(report.message, 'disk full writing a checkpoint under /data/rw/checkpoints: 5 MB free');
    assert.deepEqual(report.diskFull, { path: '/data/rw/checkpoints', freeBytes: 5 * 2 ** 20 + 123 });
  });

  it('is recognised after crossing from a training thread (only name, message and code cross)', () => {
    // What workers/training-thread.ts sends for a DiskFullError, rebuilt as the main thread rebuilds it.
    const crossed = rebuildError({
      name: 'DiskFullError',
      message: 'disk full writing an artifact under /data/rw/artifacts: 0 MB free',
      code: 'ENOSPC',
    });
    const report = diskFullFailureOf(crossed, '/home')!.toReport();
    assert.equal(report.failureClass, 'resource');
    assert.equal(report.message, 'disk full writing an artifact under /data/rw/artifacts: 0 MB free');
    assert.deepEqual(report.diskFull, { path: '/data/rw/artifacts', freeBytes: 0 });
  });

  it('a bare ENOSPC no store named is named by its own path, with the free space measured there', () => {
    const bare = Object.assign(new Error("ENOSPC: no space left on device, write '/tmp/x/y.bin'"), { code: 'ENOSPC', path: '/tmp/x/y.bin' });
    const report = diskFullFailureOf(bare, '/home')!.toReport();
    assert.equal(report.diskFull?.path, '/tmp/x');
    // Measured on the nearest existing folder's filesystem (others write to it meanwhile: compared to within 64 MB).
    assert.ok(Math.abs(report.diskFull!.freeBytes! - freeBytesAt('/tmp/x')!) < 64 * 2 ** 20);
    assert.match(report.message, /^disk full writing training output under \/tmp\/x: \d+ MB free$/);
  });

  it('leaves every other error, and failures the engine already classified, alone', () => {
    assert.equal(diskFullFailureOf(new RangeError('Array buffer allocation failed'), '/home'), undefined);
    assert.equal(diskFullFailureOf(Object.assign(new Error('EACCES'), { code: 'EACCES' }), '/home'), undefined);
    assert.equal(diskFullFailureOf(new BadRowFailure('train.tsv', 3, 'no space left on device in column 2'), '/home'), undefined);
    assert.equal(diskFullFailureOf(new TrainingFailure('diverged', 'loss became NaN'), '/home'), undefined);
  });
});
