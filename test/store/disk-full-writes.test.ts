import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NewCampaignEvent } from '../../contracts';
import { RowCacheWriter } from '../../ranking/data/row-cache';
import { CRITEO_WIDTHS, emptyBlock } from '../../ranking/data/rows';
import { getArtifact, putArtifact } from '../../store/artifacts';
import { asDiskFull, DiskFullError, freeBytesAt, isDiskFull } from '../../store/disk-space';
import { appendEvents, eventLogPath, readEvents } from '../../store/event-log';
import { InsightsStore } from '../../store/insights';
import { writeCampaignReport } from '../../store/report';
import { campaignEvents, campaignStatus, experiment, metrics } from './fixtures/campaign';
import { mountSmallDisk, type SmallDisk } from '../support/small-disk';

/** DiskFullError's wording for a folder on a completely full disk. */
const fullAt = (what: string, dir: string) =>
  new RegExp(`^disk full writing ${what} under ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 0 MB free$`);

describe('store: recognising a full disk', () => {
  it('isDiskFull knows ENOSPC, quotas, SQLite’s full database and shm file, and the wording; nothing else', () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: write`), { code });
    for (const err of [errno('ENOSPC'), errno('EDQUOT'), errno('SQLITE_FULL'), errno('SQLITE_IOERR_SHMSIZE'), new Error('no space left on device')])
      assert.ok(isDiskFull(err), err.message);
    // Errors that cross a worker thread keep only name, message and code: the code alone still says it.
    assert.ok(isDiskFull({ name: 'DiskFullError', message: 'disk full writing x under /y: 0 MB free', code: 'ENOSPC' }));
    for (const err of [errno('ENOENT'), errno('EACCES'), errno('SQLITE_BUSY'), new Error('out of memory'), undefined, 'ENOSPC'])
      assert.equal(isDiskFull(err), false, String((err as Error)?.message ?? err));
  });

  it('asDiskFull names what, where and the free space, keeps the cause, and passes other errors through unchanged', () => {
    const cause = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const named = asDiskFull(cause, 'a checkpoint', '/no/such/dir/below/root');
    assert.ok(named instanceof DiskFullError);
    assert.equal(named.code, 'ENOSPC');
    assert.equal(named.cause, cause);
    assert.equal(named.dir, '/no/such/dir/below/root');
    // Free space is measured on the nearest folder that exists (here the root's filesystem).
    assert.equal(named.freeBytes, freeBytesAt('/'));
    assert.match(named.message, /^disk full writing a checkpoint under \/no\/such\/dir\/below\/root: \d+ MB free$/);
    assert.equal(asDiskFull(named, 'something else', '/elsewhere'), named, 'an already named error keeps its name');
    const other = new Error('EACCES');
    assert.equal(asDiskFull(other, 'a checkpoint', '/x'), other);
  });
});

/**
 * Each store's writes on a real full filesystem (a 4 MB tmpfs filled with a ballast file): they fail with a
 * DiskFullError naming the folder and 0 MB free, leave no half-written file, and work again once space is back.
 */
describe('store: writes that meet a full disk', function () {
  this.timeout(60_000);
  let disk: SmallDisk;
  let home: string;
  const previousHome = process.env.RANKWRIGHT_HOME;
  before(() => (disk = mountSmallDisk(4, 'rankwright-full-store')));
  after(() => disk.unmount());
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(disk.dir, 'home-'));
    process.env.RANKWRIGHT_HOME = home;
  });
  afterEach(() => {
    process.env.RANKWRIGHT_HOME = previousHome;
    disk.empty();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('putArtifact: a DiskFullError naming the artifacts folder, no temp file left; the same put works once space is back', async () => {
    fs.mkdirSync(path.join(home, 'artifacts'));
    disk.fill();
    const bytes = Buffer.alloc(256 * 1024, 7);
    const err = await putArtifact(bytes, 'a model').catch((e: unknown) => e);
    assert.ok(err instanceof DiskFullError, String(err));
    assert.match(err.message, fullAt('a model', path.join(home, 'artifacts')));
    const leftovers = fs.readdirSync(path.join(home, 'artifacts'), { recursive: true }).filter((f) => String(f).includes('.tmp-'));
    assert.deepEqual(leftovers, [], 'the half-written temp file is gone');
    disk.empty();
    const ref = await putArtifact(bytes, 'a model');
    assert.deepEqual(await getArtifact(ref), bytes);
  });

  it('appendEvents: a failed batch leaves no partial line, and its retry writes every event readable', async () => {
    const campaignId = 'full-disk-log';
    const event = (i: number): NewCampaignEvent => ({
      type: 'experiment.warning',
      eventId: `e${i}`,
      campaignId,
      experimentId: 'x1',
      message: `warning ${i} `.padEnd(400, '.'),
    });
    await appendEvents(campaignId, [event(0)]);
    const file = eventLogPath(campaignId);
    const before = fs.statSync(file).size;
    // One page left, which the lock file takes; the log's last page still has room, so the batch (~5 KB) is written
    // in part before the disk refuses the rest.
    disk.fill(4096);
    const batch = Array.from({ length: 12 }, (_, i) => event(i + 1));
    const err = await appendEvents(campaignId, batch).catch((e: unknown) => e);
    assert.ok(err instanceof DiskFullError, String(err));
    assert.match(err.message, fullAt('campaign events', path.join(home, 'events')));
    assert.equal(fs.statSync(file).size, before, 'the part of the batch that fit was cut off again');
    disk.empty();
    assert.deepEqual(await appendEvents(campaignId, batch), { appended: 12, skipped: 0 });
    const { events, problems } = await readEvents(campaignId);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      events.map((e) => e.eventId),
      Array.from({ length: 13 }, (_, i) => `e${i}`),
    );
  });

  it('writeCampaignReport: a DiskFullError naming the reports folder, no temp page left', async () => {
    fs.mkdirSync(path.join(home, 'reports'));
    disk.fill();
    const err = await writeCampaignReport(campaignStatus(), campaignEvents()).catch((e: unknown) => e);
    assert.ok(err instanceof DiskFullError, String(err));
    assert.match(err.message, fullAt('a campaign report', path.join(home, 'reports')));
    assert.deepEqual(fs.readdirSync(path.join(home, 'reports')), []);
    disk.empty();
    const written = await writeCampaignReport(campaignStatus(), campaignEvents());
    assert.ok(fs.statSync(written.path).size > 10_000);
  });

  it('the insights database: a full disk is a DiskFullError naming its folder, and nothing is half-recorded', async () => {
    const store = await InsightsStore.open();
    await store.close();
    disk.fill();
    const result = { ...experiment({ experimentId: 'x1', metrics: metrics(0.9) }), dataFingerprint: 'fp-full' };
    const err = await (async () => {
      try {
        const again = await InsightsStore.open();
        try {
          await again.recordExperiment(result);
        } finally {
          await again.close();
        }
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof DiskFullError, String(err));
    assert.match(err.message, fullAt('the insights database', home));
    disk.empty();
    const reopened = await InsightsStore.open();
    try {
      assert.equal(await reopened.count(), 0, 'the failed recording left no row');
      await reopened.recordExperiment(result);
      assert.equal(await reopened.count(), 1);
    } finally {
      await reopened.close();
    }
  });

  it('RowCacheWriter: a DiskFullError naming the cache folder, and its temp file removed at once', async () => {
    const cacheFile = path.join(home, 'row-cache', 'train.rows');
    fs.mkdirSync(path.dirname(cacheFile));
    disk.fill();
    const writer = new RowCacheWriter(cacheFile);
    const rows = 4;
    const block = emptyBlock(rows, CRITEO_WIDTHS);
    const err = await writer.append(block).catch((e: unknown) => e);
    assert.ok(err instanceof DiskFullError, String(err));
    assert.match(err.message, fullAt('a row cache', path.dirname(cacheFile)));
    assert.deepEqual(fs.readdirSync(path.dirname(cacheFile)), [], 'no temporary cache file is left holding space');
  });
});
