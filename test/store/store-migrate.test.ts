import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runStoreMigrate } from '../../client/commands/store';
import { artifactKey, getArtifact, putArtifact } from '../../store/artifacts';
import { openStoreUrl } from '../../store/object-store';
import { minioForTests, useMinioStore } from '../support/minio';
import { recordEvents } from '../../activities/records';
import { closePostgresEventStores } from '../../store/events/sql-event-store';
import { insightsBackends } from '../support/insights-backends';
import { runCli } from '../support/processes';
import { campaignEvents } from './fixtures/campaign';

/** `rankwright store migrate --to s3://…`: a local home's artifacts copied into the shared store, once. */

function capture(): { out: string[]; err: string[]; io: { out: (l: string) => void; err: (l: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

interface MigrateJson {
  from: string;
  to: string;
  steps: {
    step: string;
    copied: { count: number; bytes: number };
    skipped: { count: number; bytes: number };
    failed: { item: string; error: string }[];
  }[];
}

describe('rankwright store migrate', function () {
  this.timeout(180_000);
  const prefix = `migrate-${process.pid}-${Date.now().toString(36)}`;
  let to: string;
  let home: string;
  const refs: string[] = [];
  let bytes = 0;

  let restoreStore: () => void;

  before(async () => {
    // The endpoint and credentials come from the environment, as for a worker; --to names only bucket and prefix.
    restoreStore = useMinioStore().restore;
    delete process.env.RANKWRIGHT_STORE;
    to = `${minioForTests().RANKWRIGHT_STORE.replace(/\/?$/, '/')}${prefix}`;
    // A home of one machine, filled before any store existed.
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-migrate-'));
    const saved = process.env.RANKWRIGHT_HOME;
    process.env.RANKWRIGHT_HOME = home;
    try {
      for (const size of [10, 1000, 2_000_000]) {
        const content = randomBytes(size);
        refs.push(await putArtifact(content));
        bytes += size;
      }
    } finally {
      process.env.RANKWRIGHT_HOME = saved;
    }
  });
  after(async () => {
    const store = openStoreUrl(to);
    for await (const o of store.list('')) await store.delete(o.key);
    store.close();
    restoreStore();
  });

  it('copies every artifact of the home into the bucket under its key, then a second run copies nothing', async () => {
    const first = capture();
    assert.equal(await runStoreMigrate({ to, json: true, home }, first.io), 0, first.err.join('\n'));
    const result = JSON.parse(first.out.join('\n')) as MigrateJson;
    assert.equal(result.from, home);
    assert.match(result.to, new RegExp(`^s3://rankwright/${prefix}/ at http://127\\.0\\.0\\.1:\\d+$`));
    assert.deepEqual(
      result.steps.map((s) => [s.step, s.copied, s.skipped.count, s.failed]),
      [
        ['artifacts', { count: 3, bytes }, 0, []],
        ['row caches', { count: 0, bytes: 0 }, 0, []],
      ],
    );
    const store = openStoreUrl(to);
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    store.close();
    assert.deepEqual(keys.sort(), refs.map((r) => artifactKey(r)).sort());

    const second = capture();
    assert.equal(await runStoreMigrate({ to, json: false, home }, second.io), 0, second.err.join('\n'));
    assert.match(second.out.join('\n'), /^artifacts: copied 0 \(0 B\), already there 3 \(.+\), failed 0$/m);
  });

  it('the migrated artifacts are what an empty home reads through RANKWRIGHT_STORE', async () => {
    const saved = { store: process.env.RANKWRIGHT_STORE, home: process.env.RANKWRIGHT_HOME };
    process.env.RANKWRIGHT_STORE = to;
    process.env.RANKWRIGHT_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-after-migrate-'));
    try {
      for (const ref of refs)
        assert.equal(
          `sha256:${createHash('sha256')
            .update(await getArtifact(ref))
            .digest('hex')}`,
          ref,
        );
    } finally {
      if (saved.store === undefined) delete process.env.RANKWRIGHT_STORE;
      else process.env.RANKWRIGHT_STORE = saved.store;
      process.env.RANKWRIGHT_HOME = saved.home;
    }
  });

  it('a damaged local copy is reported and not uploaded; the command fails', async () => {
    const damagedHome = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-damaged-'));
    const hex = createHash('sha256').update('what it was').digest('hex');
    fs.mkdirSync(path.join(damagedHome, 'artifacts', hex.slice(0, 2)), { recursive: true });
    fs.writeFileSync(path.join(damagedHome, 'artifacts', hex.slice(0, 2), hex), 'what it became');
    const run = capture();
    assert.equal(await runStoreMigrate({ to, json: false, home: damagedHome }, run.io), 1);
    assert.match(run.out.join('\n'), /artifacts: copied 0 \(0 B\), already there 0 \(0 B\), failed 1/);
    assert.match(run.err.join('\n'), new RegExp(`sha256:${hex}: the home's copy is damaged \\(its bytes hash to sha256:[0-9a-f]{64}\\); not copied`));
    const store = openStoreUrl(to);
    assert.equal(await store.head(`artifacts/${hex.slice(0, 2)}/${hex}`), undefined);
    store.close();
  });

  it("with RANKWRIGHT_DATABASE_URL set, one command moves the home's events and insights too; an empty home reads them", async () => {
    const postgres = insightsBackends.find((b) => b.name === 'PostgreSQL')!;
    const databaseUrl = await postgres.fresh();
    const campaignId = `migrated-${Date.now().toString(36)}`;
    const events = campaignEvents(campaignId);
    // The events as the activities write them, into the home's JSONL log (no database set yet).
    const saved = process.env.RANKWRIGHT_HOME;
    process.env.RANKWRIGHT_HOME = home;
    try {
      await recordEvents(campaignId, events);
    } finally {
      process.env.RANKWRIGHT_HOME = saved;
    }
    try {
      const fleet = { RANKWRIGHT_HOME: home, RANKWRIGHT_DATABASE_URL: databaseUrl };
      const moved = await runCli(['store', 'migrate', '--to', to, '--json'], fleet);
      assert.equal(moved.code, 0, moved.stderr);
      const result = JSON.parse(moved.stdout) as MigrateJson;
      assert.deepEqual(
        result.steps.map((s) => s.step),
        ['artifacts', 'row caches', 'events and insights'],
      );
      const database = result.steps[2];
      assert.ok(database.copied.count >= events.length, `copied ${database.copied.count} rows for ${events.length} events`);
      assert.ok(!moved.stdout.includes(new URL(databaseUrl).password || '\u0000'), 'the password is not printed');
      const again = JSON.parse((await runCli(['store', 'migrate', '--to', to, '--json'], fleet)).stdout) as MigrateJson;
      assert.equal(again.steps[2].copied.count, 0, 'a second run copies nothing');
      // Another machine: an empty home, the same database.
      const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-migrated-reader-'));
      const printed = await runCli(['events', campaignId, '--json'], { RANKWRIGHT_HOME: empty, RANKWRIGHT_DATABASE_URL: databaseUrl });
      assert.equal(printed.code, 0, printed.stderr);
      assert.deepEqual(
        printed.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { eventId: string }).eventId),
        events.map((e) => e.eventId),
      );
    } finally {
      await closePostgresEventStores();
      await postgres.cleanup();
    }
  });

  it('from the CLI: a bad --to says which part is wrong (exit 2); a good one prints the counts', async () => {
    const bad = await runCli(['store', 'migrate', '--to', 's3://rankwright:9000/x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --to has a port after the bucket/m);
    const creds = await runCli(['store', 'migrate', '--to', 's3://user:hunter2@rankwright/x']);
    assert.equal(creds.code, 2);
    assert.match(creds.stderr, /--to must not carry credentials/);
    assert.ok(!creds.stderr.includes('hunter2'));
    const good = await runCli(['store', 'migrate', '--to', to, '--json'], { RANKWRIGHT_HOME: home });
    assert.equal(good.code, 0, good.stderr);
    const result = JSON.parse(good.stdout) as MigrateJson;
    assert.deepEqual(result.steps[0].skipped, { count: 3, bytes });
  });
});
