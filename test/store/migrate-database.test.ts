import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { recordEvents, recordExperiment } from '../../activities/records';
import { runEvents } from '../../client/commands/events';
import { DataConfig, ExperimentResult, ModelConfig } from '../../contracts';
import { readCampaignLedger } from '../../store/campaign-ledger';
import { eventLogPath, readEvents } from '../../store/event-log';
import { closePostgresEventStores } from '../../store/events/sql-event-store';
import { InsightsStore, redactedDatabaseUrl } from '../../store/insights';
import { migrateDatabase } from '../../store/migrate-database';
import { buildReportData, writeCampaignReport, type CampaignReportData } from '../../store/report';
import { isNotableEvent } from '../../store/event-summary';
import { insightsBackends } from '../support/insights-backends';
import { campaignEvents, campaignStatus, metrics } from './fixtures/campaign';

const DATA = DataConfig.parse({ planted: {} });

/** An experiment that diverged once and succeeded with a lower learning rate: its insights row carries a remedy. */
function retriedExperiment(campaignId: string): ExperimentResult {
  const failing = ModelConfig.parse({ family: 'lr', learningRate: 0.5 });
  const fixed = ModelConfig.parse({ family: 'lr', learningRate: 0.05 });
  return ExperimentResult.parse({
    experimentId: `${campaignId}-retried`,
    campaignId,
    phase: 'validation',
    status: 'succeeded',
    config: fixed,
    dataFingerprint: 'planted-7f3a',
    metrics: metrics(0.88),
    trainSeconds: 4,
    modelBytes: 2048,
    attempts: [
      {
        config: failing,
        failure: { failureClass: 'diverged', message: 'loss became NaN at step 12', lastProgress: [], dataFingerprint: 'planted-7f3a' },
      },
      { config: fixed },
    ],
  });
}

describe("store/migrate-database: a home's events and insights into PostgreSQL", () => {
  const postgres = insightsBackends.find((b) => b.name === 'PostgreSQL')!;
  const testHome = process.env.RANKWRIGHT_HOME;
  const homes: string[] = [];
  const newHome = (name: string) => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), `rw-${name}-`));
    homes.push(home);
    return home;
  };
  let databaseUrl: string;

  const SECRET = 'pw-SECRET-never-printed';
  before(async () => {
    // The development server trusts loopback, so a password in the URL is accepted and ignored: it shows what is printed.
    const url = new URL(await postgres.fresh());
    url.password = SECRET;
    databaseUrl = url.toString();
  });
  afterEach(async () => {
    await closePostgresEventStores();
    process.env.RANKWRIGHT_HOME = testHome;
    delete process.env.RANKWRIGHT_DATABASE_URL;
  });
  after(async () => {
    for (const home of homes.splice(0)) fs.rmSync(home, { recursive: true, force: true });
    await postgres.cleanup();
  });

  it('copies once (a second run copies nothing), and a third home that never ran anything reads the events and insights and writes the report', async function () {
    this.timeout(60_000);
    const status = campaignStatus();
    const campaignId = status.campaignId;

    // A home that ran the campaign on one machine: its events and insights written by the activities' own code.
    const first = newHome('first');
    process.env.RANKWRIGHT_HOME = first;
    await recordEvents(campaignId, campaignEvents(campaignId));
    for (const result of status.experiments) await recordExperiment(result, DATA);
    await recordExperiment(retriedExperiment(campaignId), DATA);
    fs.appendFileSync(eventLogPath(campaignId), '{"v":1,"eventId":"cut-sho\n'); // a crash cut this line short
    const logged = (await readEvents(campaignId)).events.map((e) => e.eventId);
    const local = await InsightsStore.open();
    const localExperiments = (await local.list({ campaignId })).map((e) => e.experimentId).sort();
    const localRemedies = (await local.listRemedies()).length;
    await local.close();
    assert.ok(localRemedies >= 1, 'the retried experiment recorded a remedy');

    const copied = await migrateDatabase({ home: first, databaseUrl });
    assert.equal(copied.database, redactedDatabaseUrl(databaseUrl));
    assert.ok(copied.database.includes(':***@') && !copied.database.includes(SECRET), copied.database);
    assert.equal(copied.events.campaigns, 1);
    assert.deepEqual([copied.events.copied, copied.events.alreadyThere], [logged.length, 0]);
    assert.deepEqual(
      copied.events.skippedLines.map((s) => [s.campaignId, s.line]),
      [[campaignId, logged.length + 1]],
    );
    assert.match(copied.events.skippedLines[0].message, /not JSON/);
    assert.deepEqual(copied.insights, {
      experiments: { copied: localExperiments.length, alreadyThere: 0 },
      dataSets: { copied: 1, alreadyThere: 0 },
      remedies: { copied: localRemedies, alreadyThere: 0 },
    });

    const again = await migrateDatabase({ home: first, databaseUrl });
    assert.deepEqual([again.events.copied, again.events.alreadyThere], [0, logged.length]);
    assert.deepEqual(again.insights, {
      experiments: { copied: 0, alreadyThere: localExperiments.length },
      dataSets: { copied: 0, alreadyThere: 1 },
      remedies: { copied: 0, alreadyThere: localRemedies },
    });

    // A third machine: an empty home and the shared database.
    const third = newHome('third');
    process.env.RANKWRIGHT_HOME = third;
    process.env.RANKWRIGHT_DATABASE_URL = databaseUrl;
    const { events, problems } = await readEvents(campaignId);
    assert.deepEqual(
      events.map((e) => e.eventId),
      logged,
    );
    assert.deepEqual(problems, []);

    const shared = await InsightsStore.open();
    try {
      assert.deepEqual((await shared.list({ campaignId })).map((e) => e.experimentId).sort(), localExperiments);
      const fix = await shared.rememberedFix({ failureClass: 'diverged', family: 'lr', dataFingerprint: 'planted-7f3a' });
      assert.equal(fix?.changes.learningRate, 0.05);
    } finally {
      await shared.close();
    }

    const printed: string[] = [];
    const code = await runEvents({ campaignId, json: true, follow: false }, { out: (l) => printed.push(l), err: (l) => printed.push(`err: ${l}`) });
    assert.equal(code, 0);
    assert.deepEqual(
      printed.map((l) => (JSON.parse(l) as { eventId: string }).eventId),
      logged,
    );

    const missing: string[] = [];
    assert.equal(
      await runEvents({ campaignId: 'never-ran', json: false, follow: false }, { out: (l) => missing.push(l), err: (l) => missing.push(l) }),
      1,
    );
    assert.match(missing.join('\n'), /^no event log for campaign never-ran \(campaign never-ran in postgres:\/\/rankwright:\*\*\*@/);
    assert.doesNotMatch(missing.join('\n'), new RegExp(SECRET));

    const ledger = await readCampaignLedger();
    assert.equal(ledger.get(campaignId)?.state, 'awaiting-review');

    const report = await writeCampaignReport(status, events);
    assert.equal(report.path, path.join(third, 'reports', `${campaignId}.html`));
    // The report's timeline comes from the events in the database (the status alone has none).
    const html = fs.readFileSync(report.path, 'utf8');
    const embedded = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
    const timeline = (JSON.parse(embedded![1]) as CampaignReportData).timeline.map((t) => t.type);
    assert.ok(timeline.length >= 3, timeline.join(', '));
    assert.deepEqual(
      timeline,
      events.filter(isNotableEvent).map((e) => e.type),
    );
    assert.deepEqual(buildReportData(status, []).timeline, []);
    assert.ok(!fs.existsSync(path.join(third, 'events')), 'the third home wrote no event log of its own');
    assert.ok(!fs.existsSync(path.join(third, 'insights.sqlite')), 'nor an insights database');
  });

  it('refuses a target that is not a postgres:// URL, and a home that does not exist', async () => {
    await assert.rejects(
      migrateDatabase({ home: newHome('x'), databaseUrl: path.join(os.tmpdir(), 'insights.sqlite') }),
      /must be a postgres:\/\/ URL/,
    );
    await assert.rejects(migrateDatabase({ home: path.join(os.tmpdir(), 'no-such-home-rw'), databaseUrl }), /no home to migrate at/);
  });
});
