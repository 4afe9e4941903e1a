import { strict as assert } from 'node:assert';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { waitingOutFullDisk } from '../../activities/full-disk-patience';
import { DiskFullError } from '../../store/disk-space';

/**
 * The steps a campaign cannot go on without (describe, design, triage, evaluate) are retried for hours when the disk
 * is full, and keep their old, short budget for any other error: a bug still fails the campaign in minutes.
 */
describe('reliability: waiting out a full disk, and only a full disk', () => {
  const run = (attempt: number, error: unknown) =>
    new MockActivityEnvironment({ attempt }).run(() => waitingOutFullDisk(10, () => Promise.reject(error))).catch((e: unknown) => e);

  it('a full disk stays retryable on any try, however late', async () => {
    const full = new DiskFullError('an event', '/data/rw/events', 0);
    for (const attempt of [1, 10, 500]) assert.equal(await run(attempt, full), full, `try ${attempt}`);
    const sqlite = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    assert.equal(await run(50, sqlite), sqlite);
  });

  it('any other error is retried until its old budget, then fails for good, saying so', async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'proposals')");
    assert.equal(await run(9, bug), bug, 'still retryable on the 9th try');
    const final = await run(10, bug);
    assert.ok(final instanceof ApplicationFailure);
    assert.equal(final.nonRetryable, true);
    assert.equal(final.type, 'TypeError');
    assert.match(final.message, /reading 'proposals'.*gave up after 10 attempts/);
  });

  it('a non-retryable failure stays one, and a success passes through', async () => {
    const refused = ApplicationFailure.create({ type: 'InvalidInput', message: 'bad config', nonRetryable: true });
    assert.equal(await run(1, refused), refused);
    assert.equal(await new MockActivityEnvironment({ attempt: 3 }).run(() => waitingOutFullDisk(10, async () => 42)), 42);
  });
});
