import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { runInsights } from '../../client/commands/insights';
import { rankwrightHome } from '../../store/home';
import { InsightsStore, insightsLocation, redactedDatabaseUrl } from '../../store/insights';
import { insightsBackends } from '../support/insights-backends';
import { runCli } from '../support/processes';
import { experiment, metrics } from './fixtures/campaign';

const postgres = insightsBackends.find((b) => b.name === 'PostgreSQL')!;

/** Runs `body` with RANKWRIGHT_DATABASE_URL set to `url`, as a worker or the CLI started with it would. */
async function withDatabaseUrl<T>(url: string, body: () => Promise<T>): Promise<T> {
  process.env.RANKWRIGHT_DATABASE_URL = url;
  try {
    return await body();
  } finally {
    delete process.env.RANKWRIGHT_DATABASE_URL;
  }
}

describe('store/insights location: SQLite in the home, or RANKWRIGHT_DATABASE_URL', () => {
  after(() => postgres.cleanup());

  it('is the home’s SQLite file by default, a path as given, and the environment’s postgres:// URL when set', async () => {
    assert.deepEqual(insightsLocation(), { kind: 'sqlite', file: path.join(rankwrightHome(), 'insights.sqlite') });
    assert.deepEqual(insightsLocation('/data/i.sqlite'), { kind: 'sqlite', file: '/data/i.sqlite' });
    await withDatabaseUrl('postgresql://rw:pw@db.internal:6543/insights', () => {
      assert.deepEqual(insightsLocation(), { kind: 'postgres', url: 'postgresql://rw:pw@db.internal:6543/insights' });
      return Promise.resolve();
    });
  });

  it('refuses a path, another scheme or a malformed URL by naming the variable, never echoing the URL (it may hold a password)', async () => {
    await withDatabaseUrl('mysql://rw:hunter2@db/insights', () => {
      assert.throws(
        () => insightsLocation(),
        (err: Error) => /RANKWRIGHT_DATABASE_URL has scheme 'mysql:'/.test(err.message) && !err.message.includes('hunter2'),
      );
      return Promise.resolve();
    });
    await withDatabaseUrl('/data/insights.sqlite', () => {
      assert.throws(() => insightsLocation(), /RANKWRIGHT_DATABASE_URL must be a postgres:\/\/ URL/);
      return Promise.resolve();
    });
    await withDatabaseUrl('postgres://rw:hunter2@[db/insights', () => {
      assert.throws(
        () => insightsLocation(),
        (err: Error) => /RANKWRIGHT_DATABASE_URL is not a valid URL/.test(err.message) && !err.message.includes('hunter2'),
      );
      return Promise.resolve();
    });
  });

  it('prints a URL without its password', () => {
    assert.equal(redactedDatabaseUrl('postgres://rw:hunter2@db:5432/insights?sslmode=require'), 'postgres://rw:***@db:5432/insights?sslmode=require');
    assert.equal(redactedDatabaseUrl('postgres://rw@db/insights'), 'postgres://rw@db/insights');
    // node-postgres also takes the password as a query parameter.
    assert.equal(
      redactedDatabaseUrl('postgres://rw@db/insights?password=hunter2&application_name=w1'),
      'postgres://rw@db/insights?password=***&application_name=w1',
    );
  });

  it('a server that cannot be reached fails with its address and reason, and without the password', async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    const err = await InsightsStore.open('postgres://rw:hunter2@127.0.0.1:1/insights').then(
      () => assert.fail('opened a database on a closed port'),
      (e: Error) => e,
    );
    assert.match(err.message, /cannot reach the insights database at postgres:\/\/rw:\*\*\*@127\.0\.0\.1:1\/insights: .*ECONNREFUSED/);
    assert.ok(!err.message.includes('hunter2'));
  });

  it('a worker with an unreachable database stops at start, saying where (password hidden) and why', async function () {
    this.timeout(60_000);
    const { code, stdout, stderr } = await runCli(['worker', '--queue', 'agent'], {
      RANKWRIGHT_DATABASE_URL: 'postgres://rw:hunter2@127.0.0.1:1/insights',
    });
    assert.notEqual(code, 0);
    assert.match(stderr, /cannot reach the insights database at postgres:\/\/rw:\*\*\*@127\.0\.0\.1:1\/insights/);
    assert.ok(!(stdout + stderr).includes('hunter2'), 'the password is never printed');
    assert.doesNotMatch(stderr, /serving/, 'it never started serving');
  });

  it('with RANKWRIGHT_DATABASE_URL, workers and the CLI record in and read from PostgreSQL, not the home', async () => {
    const url = await postgres.fresh();
    const homeFile = path.join(rankwrightHome(), 'insights.sqlite');
    const homeBefore = fs.existsSync(homeFile) ? fs.statSync(homeFile).mtimeMs : undefined;
    await withDatabaseUrl(url, async () => {
      // What activities/records.ts does: open() with no location.
      const store = await InsightsStore.open();
      try {
        assert.equal(store.location, url);
        await store.recordExperiment({
          ...experiment({ experimentId: 'pg-1', campaignId: 'fleet', metrics: metrics(0.88), relativeNeChange: -0.02, neStdErr: 0.001 }),
          dataFingerprint: 'fp',
        });
      } finally {
        await store.close();
      }
      const out: string[] = [];
      assert.equal(await runInsights({ json: true }, { out: (l) => out.push(l), err: (l) => out.push(l) }), 0);
      assert.deepEqual(
        (JSON.parse(out.join('\n')) as { experimentId: string; outcome: string }[]).map((r) => [r.experimentId, r.outcome]),
        [['pg-1', 'won']],
      );
    });
    // The row is on the server, read back without Rankwright's code.
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ experiment_id: string }>('SELECT experiment_id FROM experiments');
      assert.deepEqual(
        rows.map((r) => r.experiment_id),
        ['pg-1'],
      );
    } finally {
      await client.end();
    }
    assert.equal(fs.existsSync(homeFile) ? fs.statSync(homeFile).mtimeMs : undefined, homeBefore, 'the home’s SQLite file was not written');
  });
});
