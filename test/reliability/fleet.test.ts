import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CampaignEvent, CampaignStatus } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { artifactKey, getArtifact } from '../../store/artifacts';
import type { CampaignStorage } from '../../store/campaign-storage';
import { closePostgresEventStores } from '../../store/events/sql-event-store';
import { sharedStore } from '../../store/object-store';
import { insightsBackends } from '../support/insights-backends';
import { useMinioStore } from '../support/minio';
import { runCli, startWorkerProcess, type WorkerProcess } from '../support/processes';
import { useTemporal } from '../support/temporal';
import { eventually, inReview } from '../support/workers';

/** A small planted problem: each experiment trains in seconds, so a campaign has several to be cut between. */
const PLANTED = { seed: 23, trainRows: 20_000, validationRows: 4_000, testRows: 4_000, categoricalFields: 5, crosses: 1, crossStrength: 2 };

/**
 * A fleet (issue 25): worker processes on "machines" that share nothing but Temporal, the S3-compatible store
 * (MinIO from services-dev.sh) and the PostgreSQL database. Each has a local home of its own, as pods with ephemeral
 * disks would. The first worker is SIGKILLed in the middle of a campaign and the second finishes it; a third home that
 * never ran anything reads the events, writes the report and loads the recommended model; a second campaign on a
 * fresh home warm-starts from the first one's insights.
 */
describe('a fleet: workers sharing only Temporal, the store and the database', function () {
  this.timeout(900_000);
  const postgres = insightsBackends.find((b) => b.name === 'PostgreSQL')!;
  const workers: WorkerProcess[] = [];
  const homes: string[] = [];
  let client: RankwrightClient;
  let machine: (name: string) => { home: string; env: NodeJS.ProcessEnv };
  let restoreStore: () => void;
  let firstCampaign: CampaignStatus | undefined;

  before(async () => {
    const temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    const databaseUrl = await postgres.fresh();
    const store = useMinioStore();
    restoreStore = store.restore;
    // This process reads as a fleet member does (the same store and database).
    process.env.RANKWRIGHT_DATABASE_URL = databaseUrl;
    machine = (name) => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), `rw-fleet-${name}-`));
      homes.push(home);
      return { home, env: { RANKWRIGHT_HOME: home, RANKWRIGHT_DATABASE_URL: databaseUrl, ...store.vars } };
    };
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await closePostgresEventStores();
    delete process.env.RANKWRIGHT_DATABASE_URL;
    restoreStore();
    await postgres.cleanup();
    for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
  });

  const campaign = (experiments: number) => ({
    data: { planted: PLANTED },
    budget: { experiments, parallel: 1 },
    agents: 'heuristic',
    approvers: ['ana'],
    searchSpace: { families: ['lr', 'fm'] },
  });
  const awaitReview = (id: string, worker: WorkerProcess) =>
    inReview(client, id, 600_000).catch((e: Error) => {
      throw new Error(`${e.message}\nworker output:\n${worker.output().slice(-3000)}`);
    });
  const artifactsIn = (home: string) =>
    fs.existsSync(path.join(home, 'artifacts')) ? fs.readdirSync(path.join(home, 'artifacts'), { recursive: true }).length : 0;

  it('a campaign whose first worker is SIGKILLed finishes on the second; a third home reads and reports all of it', async () => {
    const a = machine('a');
    const b = machine('b');
    const c = machine('c');
    const first = startWorkerProcess('all', a.env);
    workers.push(first);
    const id = `fleet-${Date.now()}`;
    await client.startCampaign(campaign(5), { id });
    // Killed once it has finished some experiments (their models are in the store) and before the campaign ends.
    await eventually(
      async () => {
        const s = await client.status(id);
        return s.experiments.filter((e) => e.status === 'succeeded').length >= 2 ? s : undefined;
      },
      600_000,
      'two experiments done on the first worker',
    );
    await first.kill('SIGKILL');
    const second = startWorkerProcess('all', b.env);
    workers.push(second);
    const review = await awaitReview(id, second);
    assert.ok(
      review.experiments.every((e) => e.status === 'succeeded'),
      review.experiments.map((e) => `${e.experimentId}: ${e.status} ${e.failure?.message ?? ''}`).join('\n'),
    );
    assert.ok(artifactsIn(a.home) > 0 && artifactsIn(b.home) > 0, 'both machines trained part of the campaign');
    await client.approve(id, { by: 'ana' });
    firstCampaign = await client.waitForResult(id);

    // Every model the campaign made is in the shared store, whichever machine made it.
    const store = sharedStore()!;
    for (const e of review.experiments) assert.ok(await store.head(artifactKey(e.artifact!)), `${e.experimentId}'s model in the store`);

    // A third machine: its storage figure, its events, its report, and the recommended model, from nothing in its home.
    const status = await runCli(['status', id, '--json'], c.env);
    assert.equal(status.code, 0, status.stderr);
    const { storage } = JSON.parse(status.stdout) as { storage: CampaignStorage };
    assert.equal(storage.artifacts.count, 0, 'its home holds nothing of the campaign');
    const models = new Set(review.experiments.map((e) => e.artifact));
    assert.ok(
      storage.shared && 'artifacts' in storage.shared && storage.shared.artifacts.count >= models.size && storage.shared.bytes > 0,
      `the store holds every model: ${JSON.stringify(storage.shared)}`,
    );
    const printed = await runCli(['events', id, '--json'], c.env);
    assert.equal(printed.code, 0, printed.stderr);
    const events = printed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as CampaignEvent);
    const finished = new Set(events.flatMap((e) => (e.type === 'experiment.finished' ? [e.experimentId] : [])));
    for (const e of review.experiments) assert.ok(finished.has(e.experimentId), `${e.experimentId} finished, in the events`);
    assert.ok(events.some((e) => e.type === 'decision' && e.by === 'ana'));
    const report = await runCli(['report', id], c.env);
    assert.equal(report.code, 0, report.stderr);
    const reportFile = report.stdout.trim();
    assert.ok(reportFile.startsWith(c.home), `the report is written in the third home: ${reportFile}`);
    const html = fs.readFileSync(reportFile, 'utf8');
    assert.ok(html.includes(firstCampaign.recommendation!.experimentId));
    assert.match(html, /<dd id="storage">[^<]* in the home when this report was written; [^<]*\d+ artifacts [^<]* in the shared store s3:\/\//);
    const saved = process.env.RANKWRIGHT_HOME;
    process.env.RANKWRIGHT_HOME = c.home;
    try {
      const model = await getArtifact(firstCampaign.recommendation!.artifact!);
      assert.ok(model.length > 0);
    } finally {
      process.env.RANKWRIGHT_HOME = saved;
    }
  });

  it("a second campaign on a worker with a fresh home warm-starts from the first one's insights", async () => {
    assert.ok(firstCampaign, 'runs after the first campaign');
    const d = machine('d');
    await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
    const worker = startWorkerProcess('all', d.env);
    workers.push(worker);
    const id = `fleet-warm-${Date.now()}`;
    await client.startCampaign(campaign(3), { id });
    const review = await awaitReview(id, worker);
    await client.abort(id, { by: 'ana' });
    const warm = review.experiments.find((e) => e.hypothesis?.technique === 'warm-start');
    assert.ok(warm, `a warm start in the first wave: ${review.experiments.map((e) => e.hypothesis?.title).join('; ')}`);
    const firstBest = Math.min(...firstCampaign.experiments.filter((e) => e.metrics).map((e) => e.metrics!.ne));
    assert.ok(Math.min(...review.experiments.filter((e) => e.metrics).map((e) => e.metrics!.ne)) <= firstBest + 1e-9);
  });
});
