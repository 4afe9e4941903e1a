import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import type { CampaignStatus } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { ensureSearchAttributes } from '../../client/connection';
import { readEvents } from '../../store/event-log';
import { InsightsStore } from '../../store/insights';
import { bundleWorkflows } from '../../workers/bundle';
import { REPO_ROOT, type TemporalForTests } from '../support/temporal';
import { eventually, withRealWorkers } from '../support/workers';

/**
 * A Temporal dev server of this test's own: its own data folder (SQLite database, pid file, log) under a temp folder
 * and its own free ports (gRPC, Web UI, HTTP API, metrics; start-dev picks its internal services' ports itself), so
 * killing it never touches the shared dev server at 127.0.0.1:7233 the other tests use, nor one under another
 * RANKWRIGHT_HOME.
 */
class OwnDevServer {
  /** Its RANKWRIGHT_HOME, created by the first start (not when mocha merely loads this file). */
  private home = '';
  private env: NodeJS.ProcessEnv = {};
  address = '';
  /** Every server process this test started (a restart adds one). */
  private readonly pids: number[] = [];

  get pidFile(): string {
    return path.join(this.home, 'temporal', 'server.pid');
  }

  get dbFile(): string {
    return path.join(this.home, 'temporal', 'dev.sqlite');
  }

  async start(): Promise<void> {
    if (!this.home) {
      this.home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-killed-server-'));
      const [port, uiPort, httpPort, metricsPort] = await freePorts(4);
      this.address = `127.0.0.1:${port}`;
      this.env = {
        ...process.env,
        RANKWRIGHT_HOME: this.home,
        TEMPORAL_PORT: String(port),
        TEMPORAL_UI_PORT: String(uiPort),
        TEMPORAL_HTTP_PORT: String(httpPort),
        TEMPORAL_METRICS_PORT: String(metricsPort),
      };
    }
    try {
      execFileSync(path.join(REPO_ROOT, 'temporal-dev.sh'), ['start'], { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    } finally {
      // Recorded even when start failed: the server may have been launched and then judged unhealthy.
      if (fs.existsSync(this.pidFile)) this.pids.push(Number(fs.readFileSync(this.pidFile, 'utf8')));
    }
  }

  /** The pid of the server now running, checked to be ours (its command line names our database). */
  pid(): number {
    const pid = Number(fs.readFileSync(this.pidFile, 'utf8'));
    assert.ok(this.isOurs(pid), `pid ${pid} in ${this.pidFile} is not this test's dev server (database ${this.dbFile})`);
    return pid;
  }

  /**
   * Whether `pid` is alive and is a temporal server on our database (so a recycled pid is never killed). Without
   * /proc (not Linux) only whether a pid this test started is alive.
   */
  isOurs(pid: number): boolean {
    if (!fs.existsSync('/proc/self/cmdline')) {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    }
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(this.dbFile);
    } catch {
      return false;
    }
  }

  /** SIGKILLs every server this test started that still runs, and deletes its data folder. Never throws. */
  stop(): void {
    for (const pid of this.pids) {
      if (!this.isOurs(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.pids.length = 0;
    if (this.home) fs.rmSync(this.home, { recursive: true, force: true });
    this.home = '';
  }

  /** The last lines of the server's log, for a failure message. */
  logTail(): string {
    try {
      return fs
        .readFileSync(path.join(this.home, 'temporal', 'server.log'), 'utf8')
        .split('\n')
        .slice(-20)
        .join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** `count` distinct ports that were free a moment ago on 127.0.0.1 (the OS picks them). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * The Temporal dev server SIGKILLed in the middle of a campaign and restarted on the same SQLite database: the
 * campaign completes, and what was recorded (history, insights database, event log) is exactly what the planner
 * scheduled — none lost, none doubled.
 */
describe('reliability: the Temporal server killed mid-campaign', function () {
  this.timeout(600_000);
  const server = new OwnDevServer();
  const stopOnExit = () => server.stop(); // should mocha exit before `after` runs
  let temporal: TemporalForTests;
  let client: RankwrightClient;

  before(async function () {
    this.timeout(180_000);
    process.once('exit', stopOnExit);
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      // already installed by another test file in this run
    }
    await server.start();
    const connection = await Connection.connect({ address: server.address });
    const namespace = 'default'; // the dev server creates it, with the search attributes temporal-dev.sh registers
    const temporalClient = new Client({ connection, namespace });
    await ensureSearchAttributes(temporalClient);
    const attrs = await connection.operatorService.listSearchAttributes({ namespace });
    assert.ok(attrs.customAttributes && 'ReviewState' in attrs.customAttributes, 'search attributes registered on the test server');
    temporal = {
      client: temporalClient,
      connection: await NativeConnection.connect({ address: server.address }),
      namespace,
      bundle: await bundleWorkflows(),
    };
    client = new RankwrightClient(temporal.client);
  });

  after(async () => {
    await temporal?.connection.close().catch(() => undefined);
    await temporal?.client.connection.close().catch(() => undefined);
    server.stop();
    process.removeListener('exit', stopOnExit);
  });

  it('completes the campaign with every scheduled experiment recorded exactly once', async () => {
    const id = `killed-server-${Date.now()}`;
    const status: CampaignStatus = await withRealWorkers(temporal, async () => {
      await client.startCampaign(
        {
          data: { planted: { seed: 9, trainRows: 20_000, validationRows: 4_000, testRows: 6_000 } },
          budget: { experiments: 7, parallel: 2, stallGain: 0 },
          agents: 'heuristic',
          approvers: ['ana'],
          searchSpace: { families: ['lr', 'fm'] },
        },
        { id },
      );
      // Kill the server once the campaign is past its baseline, while experiments are in flight.
      await eventually(async () => ((await client.status(id)).experiments.length >= 2 ? true : undefined), 180_000, 'two experiments');
      const pid = server.pid();
      process.kill(pid, 'SIGKILL');
      await eventually(async () => (server.isOurs(pid) ? undefined : true), 10_000, 'the server to die');
      await new Promise((r) => setTimeout(r, 2000));
      try {
        await server.start(); // same database, same ports
      } catch (err) {
        throw new Error(`the dev server did not restart: ${(err as Error).message}\n${server.logTail()}`, { cause: err });
      }

      await eventually(
        async () => ((await client.status(id)).reviewState === 'awaiting-review' ? true : undefined),
        400_000,
        'the campaign to reach review after the restart',
      );
      await client.approve(id, { by: 'ana', note: 'after the crash' });
      return client.waitForResult(id);
    });

    assert.equal(status.reviewState, 'approved');
    const scheduled = status.experiments.map((e) => e.experimentId).sort();
    assert.equal(scheduled.length, 7, 'the whole budget, no more');
    assert.equal(new Set(scheduled).size, scheduled.length, 'no experiment twice in the campaign');

    // Temporal: exactly one child workflow per scheduled experiment.
    const children: string[] = [];
    for await (const wf of temporal.client.workflow.list({ query: `WorkflowType = 'rankingExperiment' AND WorkflowId STARTS_WITH '${id}'` }))
      children.push(wf.workflowId);
    assert.deepEqual(children.sort(), scheduled);

    // Insights database: one row per experiment.
    const insights = await InsightsStore.open();
    const rows = await insights.list({ campaignId: id, limit: 100 });
    await insights.close();
    assert.deepEqual(rows.map((r) => r.experimentId).sort(), scheduled);

    // Event log: one finished/failed event per experiment, no event id twice.
    const { events } = await readEvents(id);
    const ends = events
      .filter((e) => e.type === 'experiment.finished' || e.type === 'experiment.failed')
      .map((e) => (e as { experimentId: string }).experimentId);
    assert.deepEqual(ends.sort(), scheduled);
    assert.equal(new Set(events.map((e) => e.eventId)).size, events.length);
  });
});
