import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CampaignInputRaw, ExperimentResult } from '../../contracts';
import { SIGNALS } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { createHttpService } from '../../client/http-service';
import { readEvents } from '../../store/event-log';
import { readExternalModel } from '../../ranking/external-job';
import { runCli, startWorkerProcess, type WorkerProcess } from '../support/processes';
import { REPO_ROOT, useTemporal, type TemporalForTests } from '../support/temporal';
import { ensureTrainerVenv } from '../support/trainer-venv';
import { eventually } from '../support/workers';

const TRAINER = path.join(REPO_ROOT, 'examples', 'trainers', 'lightgbm', 'train.py');

/**
 * External trainers end to end: the example LightGBM trainer (examples/trainers/lightgbm, installed from PyPI into a
 * virtual environment) runs as a worker-configured command, detached from the worker. Real Temporal, real worker
 * processes (so one can be SIGKILLed mid-job), real data through the loader.
 */
describe('external trainer: a LightGBM job that hibernates, survives a worker restart and completes', function () {
  this.timeout(600_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let dir: string;
  const workers: WorkerProcess[] = [];
  let env: NodeJS.ProcessEnv;
  let python: string;
  let service: {
    url: string;
    jobs: Map<string, { state: 'running' | 'succeeded' | 'failed'; message?: string }>;
    callbacks: string[];
    close(): Promise<void>;
  };

  before(async function () {
    this.timeout(900_000); // pip install from PyPI on a fresh machine
    python = ensureTrainerVenv().python;
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    service = await startTrainingService(python, client);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-trainers-'));
    // The worker's owner configures the trainers. `slow-lightgbm` starts the real trainer after a pause, so a test can
    // act while a job runs; the pause comes from the worker's configuration, the trainer itself is untouched.
    const trainers = {
      lightgbm: { command: [python, TRAINER] },
      'lightgbm-service': { url: service.url },
      'slow-lightgbm': {
        command: ['/bin/sh', '-c', 'sleep "$RANKWRIGHT_TEST_JOB_DELAY"; exec "$0" "$@"', python, TRAINER],
        env: { RANKWRIGHT_TEST_JOB_DELAY: '8' },
      },
    };
    fs.writeFileSync(path.join(dir, 'trainers.json'), JSON.stringify(trainers));
    env = { RANKWRIGHT_TRAINERS: path.join(dir, 'trainers.json') };
  });
  after(async () => {
    await service?.close();
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const startWorker = () => {
    const w = startWorkerProcess('all', env);
    workers.push(w);
    return w;
  };

  it('a campaign searches the trainer knobs; while a job runs no activity is pending, and a killed worker changes nothing', async () => {
    const config: CampaignInputRaw = {
      data: { planted: { seed: 31, trainRows: 6_000, validationRows: 2_000, testRows: 3_000 } },
      budget: { experiments: 3, parallel: 1, stallGain: 0 },
      approvers: ['ana'],
      agents: 'heuristic',
      trainer: {
        kind: 'command',
        name: 'slow-lightgbm',
        params: { num_leaves: 15, learning_rate: 0.1, num_boost_round: 80, num_threads: 1 },
        searchSpace: { num_leaves: { type: 'int', min: 4, max: 63, log: true }, learning_rate: { type: 'float', min: 0.02, max: 0.3, log: true } },
        pollSeconds: 2,
      },
    };
    const first = startWorker();
    const { workflowId } = await client.startCampaign(config);
    const baselineId = `${workflowId}-baseline`;
    const jobDir = path.join(process.env.RANKWRIGHT_HOME!, 'jobs', `${baselineId}-a1`);

    // The baseline's job was submitted and is running: the experiment sleeps on a timer, nothing is pending.
    const submitted = await eventually(
      async () => {
        const file = path.join(jobDir, 'submitted.json');
        if (!fs.existsSync(file)) return undefined;
        const pending = (await temporal.client.workflow.getHandle(baselineId).describe()).raw.pendingActivities ?? [];
        return pending.length === 0 ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }) : undefined;
      },
      240_000,
      'the baseline job submitted, with no activity pending',
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${first.output().slice(-3000)}`);
    });
    assert.ok(!fs.existsSync(path.join(jobDir, 'exit-code')), 'the job is still running');
    await first.kill('SIGKILL');
    process.kill(submitted.pid, 0); // throws if the job died with the worker
    const description = await temporal.client.workflow.getHandle(baselineId).describe();
    assert.equal(description.status.name, 'RUNNING');
    assert.deepEqual(description.raw.pendingActivities ?? [], [], 'no worker slot is held while the job runs');

    // A new worker: the job finished meanwhile (or finishes), the next poll finds it, and the campaign goes on.
    startWorker();
    const status = await eventually(
      async () => {
        const s = await client.status(workflowId);
        return s.reviewState === 'awaiting-review' ? s : undefined;
      },
      400_000,
      'the campaign awaiting review',
    );
    const runs = status.experiments;
    assert.equal(runs.length, 3);
    for (const e of runs) {
      assert.equal(e.status, 'succeeded', `${e.experimentId}: ${e.failure?.message}`);
      assert.equal(e.externalJob?.name, 'slow-lightgbm');
      assert.ok(e.metrics!.ne > 0 && e.metrics!.ne < 1, `${e.experimentId} learned something (NE ${e.metrics!.ne})`);
    }
    const params = runs.map((e) => JSON.stringify(e.externalJob!.params));
    assert.equal(new Set(params).size, 3, 'the agent tried knob sets of its own');
    for (const e of runs.slice(1)) {
      const p = e.externalJob!.params as Record<string, number>;
      assert.ok(p.num_leaves >= 4 && p.num_leaves <= 63 && p.learning_rate >= 0.02 && p.learning_rate <= 0.3, 'within the search space');
    }
    // The recommended model is the trainer's own file, stored with the test scores Rankwright judged it on.
    const stored = await readExternalModel(status.recommendation!.artifact!);
    assert.ok(stored, 'an external model artifact');
    assert.equal(stored.testScores.length, 3_000);
    assert.equal(stored.header.trainer.name, 'slow-lightgbm');

    const { events } = await readEvents(workflowId);
    const jobs = events.filter((e) => e.type === 'experiment.job');
    assert.equal(jobs.filter((e) => e.type === 'experiment.job' && e.state === 'submitted').length, 3);
    assert.equal(jobs.filter((e) => e.type === 'experiment.job' && e.state === 'succeeded').length, 3);
    const cli = await runCli(['status', workflowId]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /external training jobs/);
    assert.match(cli.stdout, new RegExp(`command job ${baselineId}-a1  slow-lightgbm num_leaves=15`));
    await client.approve(workflowId, { by: 'ana' });
    const done = await client.waitForResult(workflowId);
    assert.equal(done.reviewState, 'approved');
  });

  it('a finished-job signal wakes a long poll at once; a trainer that fails reports its own error', async () => {
    const data = { planted: { seed: 32, trainRows: 3_000, validationRows: 1_000, testRows: 1_000 } };
    startWorker();
    const experimentId = `external-signal-${Date.now()}`;
    const handle = await temporal.client.workflow.start('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: experimentId,
      // Polls back off to 10 minutes: without the signal this job would be noticed minutes after it ended.
      args: [
        {
          experimentId,
          data,
          model: { family: 'lr' },
          agents: 'heuristic',
          trainer: { kind: 'command', name: 'slow-lightgbm', params: { num_boost_round: 30 }, pollSeconds: 600 },
        },
      ],
    });
    const jobDir = path.join(process.env.RANKWRIGHT_HOME!, 'jobs', `${experimentId}-a1`);
    await eventually(async () => (fs.existsSync(path.join(jobDir, 'exit-code')) ? true : undefined), 240_000, 'the job to finish');
    // By now the poll interval is past 8 s and doubling; the signal makes the next poll happen now.
    await handle.signal(SIGNALS.trainingJobFinished, { jobId: `${experimentId}-a1` });
    const result: ExperimentResult = await handle.result();
    assert.equal(result.status, 'succeeded');
    assert.equal(result.externalJob?.signalled, true);

    const failingId = `external-fail-${Date.now()}`;
    const failing: ExperimentResult = await temporal.client.workflow.execute('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: failingId,
      args: [
        {
          experimentId: failingId,
          data,
          model: { family: 'lr' },
          agents: 'heuristic',
          trainer: { kind: 'command', name: 'lightgbm', params: { num_leaves: 'many' }, pollSeconds: 2 },
        },
      ],
    });
    assert.equal(failing.status, 'failed');
    assert.match(failing.failure!.message, /num_leaves/, "the trainer's own message names the bad knob");
    assert.equal(failing.attempts.length, 1, 'a trainer that failed is not resubmitted');
    // The job held the trainer from its submission until the failure was seen: the report says for how long.
    const held = failing.attempts[0].failure?.trainSeconds;
    assert.ok(held !== undefined && held > 0, JSON.stringify(failing.attempts[0].failure));
  });

  it('a campaign naming a trainer the worker does not have fails before any training, naming the ones it has', async () => {
    startWorker();
    const { workflowId } = await client.startCampaign({
      data: { planted: { seed: 33 } },
      approvers: ['ana'],
      trainer: { kind: 'command', name: 'torchrec', params: {} },
    });
    const failure = await client.waitForResult(workflowId).then(
      () => 'completed',
      (err: Error & { cause?: Error }) => err.cause?.message ?? err.message,
    );
    assert.match(failure, /trainer "torchrec" is not configured on this worker \(.*has lightgbm, lightgbm-service, slow-lightgbm\)/);
    const { events } = await readEvents(workflowId);
    assert.ok(!events.some((e) => e.type === 'experiment.started'), 'no experiment started');
  });

  it('an HTTP training service takes the job, calls back through the HTTP service when done, and the experiment wakes', async () => {
    startWorker();
    const experimentId = `external-http-${Date.now()}`;
    const result: ExperimentResult = await temporal.client.workflow.execute('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: experimentId,
      args: [
        {
          experimentId,
          data: { planted: { seed: 34, trainRows: 3_000, validationRows: 1_000, testRows: 1_000 } },
          model: { family: 'lr' },
          agents: 'heuristic',
          trainer: { kind: 'http', name: 'lightgbm-service', params: { num_boost_round: 40 }, pollSeconds: 600 },
        },
      ],
    });
    assert.equal(result.status, 'succeeded', result.failure?.message);
    assert.equal(result.externalJob?.kind, 'http');
    assert.equal(result.externalJob?.signalled, true, 'the callback woke it (polls back off to 10 minutes)');
    assert.deepEqual(service.callbacks, [`${experimentId}-a1`]);
    assert.equal(service.jobs.get(`${experimentId}-a1`)?.state, 'succeeded');
    assert.ok(result.metrics!.ne < 1);
  });
});

/**
 * A small real training service, as a team might run next to its GPU cluster: POST / takes a job (Rankwright's
 * job.json), runs the example LightGBM trainer on it, answers GET /<jobId> with its state, and when the job ends
 * calls back Rankwright's HTTP service (`POST /jobs/<jobId>/finished`, bearer token) so the experiment wakes at once.
 */
async function startTrainingService(python: string, client: RankwrightClient) {
  const token = 'test-token-0123456789abcdef';
  const rankwright = createHttpService({ client, tokens: [token] });
  await rankwright.listen({ port: 0, host: '127.0.0.1' });
  const callbackBase = `http://127.0.0.1:${(rankwright.server.address() as AddressInfo).port}`;
  const jobs = new Map<string, { state: 'running' | 'succeeded' | 'failed'; message?: string }>();
  const callbacks: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'POST') {
        const job = JSON.parse(body) as { jobId: string };
        const jobFile = path.join(os.tmpdir(), `rankwright-service-${job.jobId}.json`);
        fs.writeFileSync(jobFile, body);
        jobs.set(job.jobId, { state: 'running' });
        const child = spawn(python, [TRAINER, jobFile], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (code) => {
          callbacks.push(job.jobId);
          // The end state shows to polls once the callback is delivered, so whether a poll or the callback wakes
          // the experiment does not depend on timing: the callback has always landed by the time a poll sees the end.
          void fetch(`${callbackBase}/jobs/${encodeURIComponent(job.jobId)}/finished`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
          }).finally(() => jobs.set(job.jobId, code === 0 ? { state: 'succeeded' } : { state: 'failed', message: stderr.slice(-300) }));
        });
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ jobId: job.jobId }));
        return;
      }
      const state = jobs.get(decodeURIComponent((req.url ?? '/').slice(1)));
      if (req.method === 'GET' && state) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state));
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    jobs,
    callbacks,
    close: async () => {
      server.close();
      await rankwright.close();
    },
  };
}
