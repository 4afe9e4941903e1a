import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExperimentResult } from '../../contracts';
import type { JobUrls } from '../../store/job-files';
import { readExternalModel } from '../../ranking/external-job';
import { jobKey } from '../../store/job-files';
import { sharedStore } from '../../store/object-store';
import { useMinioStore } from '../support/minio';
import { startWorkerProcess, type WorkerProcess } from '../support/processes';
import { REPO_ROOT, useTemporal, type TemporalForTests } from '../support/temporal';
import { fitTinyTrainer } from '../support/tiny-trainer';
import { eventually } from '../support/workers';

const DATA = { planted: { seed: 41, trainRows: 4_000, validationRows: 1_500, testRows: 1_500 } };

/**
 * External jobs through the shared store (issue 25): two "machines" (worker processes with homes of their own) share
 * only Temporal and the S3-compatible store (the real MinIO of services-dev.sh). A job is submitted by the first, which
 * is then killed; the second polls and judges it from the store. The HTTP trainer uses only the presigned URLs it is
 * handed (the first machine's home is deleted before it starts), and those URLs appear nowhere in the workflow's
 * history, the events or the workers' logs.
 */
describe('external trainers through the shared store: submitted on one machine, judged on another', function () {
  this.timeout(600_000);
  let temporal: TemporalForTests;
  let restoreStore: () => void;
  let storeVars: NodeJS.ProcessEnv;
  let dir: string;
  let trainers: string;
  let service: TrainingService;
  const homes: string[] = [];
  const workers: WorkerProcess[] = [];

  before(async () => {
    temporal = await useTemporal();
    const store = useMinioStore();
    restoreStore = store.restore;
    storeVars = store.vars;
    service = await startTrainingService();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-store-jobs-'));
    trainers = path.join(dir, 'trainers.json');
    fs.writeFileSync(
      trainers,
      JSON.stringify({
        'tiny-service': { url: service.url },
        'tiny-command': {
          command: [process.execPath, '--require', require.resolve('tsx/cjs'), path.join(REPO_ROOT, 'test', 'support', 'tiny-command-trainer.ts')],
          env: { TINY_TRAINER_GO: path.join(dir, 'go') },
        },
        // Fails with its own message once the test says so.
        'failing-command': {
          command: ['/bin/sh', '-c', 'while [ ! -e "$GO" ]; do sleep 0.2; done; echo "depth must be at most 2" >&2; exit 3'],
          env: { GO: path.join(dir, 'go-fail') },
        },
        // Waits for a file that never comes: a job only a timeout ends.
        'stuck-command': {
          command: [process.execPath, '--require', require.resolve('tsx/cjs'), path.join(REPO_ROOT, 'test', 'support', 'tiny-command-trainer.ts')],
          env: { TINY_TRAINER_GO: path.join(dir, 'never') },
        },
      }),
    );
  });
  // Each test's machines go with it: the next test's jobs must land on the machines it starts.
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  });
  after(async () => {
    // A job a test left running (its runner leads its process group).
    for (const home of homes)
      for (const job of fs.existsSync(path.join(home, 'jobs')) ? fs.readdirSync(path.join(home, 'jobs')) : []) {
        const submitted = path.join(home, 'jobs', job, 'submitted.json');
        if (!fs.existsSync(submitted)) continue;
        try {
          process.kill(-(JSON.parse(fs.readFileSync(submitted, 'utf8')) as { pid: number }).pid, 'SIGKILL');
        } catch {
          // already ended
        }
      }
    await service?.close();
    restoreStore?.();
    for (const d of [dir, ...homes]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  /** A machine: its own home, the store's variables, the worker-configured trainers. */
  const machine = (name: string) => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), `rw-store-jobs-${name}-`));
    homes.push(home);
    const worker = startWorkerProcess('all', { ...storeVars, RANKWRIGHT_HOME: home, RANKWRIGHT_TRAINERS: trainers });
    workers.push(worker);
    return { home, worker };
  };
  const experiment = (experimentId: string, trainer: object) =>
    temporal.client.workflow.start('rankingExperiment', {
      taskQueue: 'rankwright-agent',
      workflowId: experimentId,
      args: [
        { experimentId, data: DATA, model: { family: 'lr' }, agents: 'heuristic', trainer: { params: { depth: 3 }, pollSeconds: 2, ...trainer } },
      ],
    });
  const storeHas = async (key: string) => !!(await sharedStore()!.head(key));

  it('an HTTP trainer reads and writes only through its URLs; another machine polls and judges the job; no URL in the history', async () => {
    const first = machine('a');
    const experimentId = `store-http-${Date.now()}`;
    const jobId = `${experimentId}-a1`;
    const handle = await experiment(experimentId, { kind: 'http', name: 'tiny-service' });
    const posted = await eventually(async () => service.jobs.get(jobId), 240_000, 'the job posted to the service').catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${first.worker.output().slice(-3000)}`);
    });
    await eventually(async () => ((await storeHas(jobKey(jobId, 'submitted.json'))) ? true : undefined), 60_000, 'the handle in the store');
    assert.ok(posted.urls, 'the request carries presigned URLs');
    assert.match(posted.urls.outputs.testPredictions, /X-Amz-Signature=/);
    assert.ok(Date.parse(posted.urls.expiresAt) - Date.now() <= 7 * 86_400_000, 'the URLs expire within the job timeout (7 days)');
    const jobJson = JSON.stringify(
      await sharedStore()!
        .get(jobKey(jobId, 'job.json'))
        .then((b) => JSON.parse(b!.toString())),
    );
    assert.doesNotMatch(jobJson, /X-Amz-/, 'job.json carries no URL');

    // The submitting machine goes, home and all: nothing of the job is left on any disk but the store.
    await first.worker.kill('SIGKILL');
    fs.rmSync(first.home, { recursive: true, force: true });
    const second = machine('b');
    // The second machine polls the running job (the service's answer quotes a URL) before it is trained.
    await eventually(async () => (/rankwright worker: serving/.test(second.worker.output()) ? true : undefined), 120_000, 'the second worker');
    const polled = service.polls.get(jobId) ?? 0;
    await eventually(async () => ((service.polls.get(jobId) ?? 0) > polled ? true : undefined), 60_000, 'a poll from the second machine');
    await service.run(jobId);

    const result: ExperimentResult = await handle.result();
    assert.equal(result.status, 'succeeded', `${result.failure?.message}\n${second.worker.output().slice(-3000)}`);
    assert.equal(result.externalJob?.kind, 'http');
    assert.ok(result.metrics!.ne > 0 && result.metrics!.ne < 1, `the tiny trainer learned something (NE ${result.metrics!.ne})`);
    const stored = await readExternalModel(result.artifact!);
    assert.equal(stored?.testScores.length, 1_500);
    assert.equal(stored?.header.modelFileBytes, Buffer.byteLength(service.models.get(jobId)!));
    // The second machine judged the outputs it fetched from the store into its own home.
    assert.ok(fs.existsSync(path.join(second.home, 'jobs', jobId, 'out', 'test-predictions.txt')));
    assert.ok(!fs.existsSync(path.join(second.home, 'jobs', jobId, 'submitted.json')), 'the second machine did not submit it');

    const secrets = urlSecrets(posted.urls);
    const history = historyText(await handle.fetchHistory());
    assert.match(history, new RegExp(jobId), 'the history was decoded');
    for (const secret of secrets) assert.ok(!history.includes(secret), 'no presigned URL in the workflow history');
    assert.doesNotMatch(history, /X-Amz-Signature|X-Amz-Credential/);
    for (const w of workers) assert.doesNotMatch(w.output(), /X-Amz-Signature/, 'no presigned URL in a worker log');
    const events = homes.filter(fs.existsSync).map((h) => readTree(path.join(h, 'events')));
    assert.doesNotMatch(events.join('\n'), /X-Amz-/, 'no presigned URL in an event');
  });

  it('a command job runs where it was submitted; its outputs and logs reach the store, and another machine judges them', async () => {
    const first = machine('c');
    const experimentId = `store-command-${Date.now()}`;
    const jobId = `${experimentId}-a1`;
    const handle = await experiment(experimentId, { kind: 'command', name: 'tiny-command' });
    const jobDir = path.join(first.home, 'jobs', jobId);
    const submitted = await eventually(
      async () =>
        fs.existsSync(path.join(jobDir, 'submitted.json'))
          ? (JSON.parse(fs.readFileSync(path.join(jobDir, 'submitted.json'), 'utf8')) as { pid: number })
          : undefined,
      240_000,
      'the command job submitted',
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${first.worker.output().slice(-3000)}`);
    });
    // Its runner heartbeats into the store, where a worker elsewhere can see it is running.
    await eventually(async () => ((await storeHas(jobKey(jobId, 'alive'))) ? true : undefined), 60_000, 'a heartbeat in the store');
    await first.worker.kill('SIGKILL');
    process.kill(submitted.pid, 0); // the job outlives its worker
    const second = machine('d');
    // The second machine polls a job it cannot see on its disk for a while: running, from the heartbeat (a job it
    // took for lost would be resubmitted as a second attempt).
    await eventually(async () => (/rankwright worker: serving/.test(second.worker.output()) ? true : undefined), 120_000, 'the second worker');
    await new Promise((r) => setTimeout(r, 10_000));
    fs.writeFileSync(path.join(dir, 'go'), '');

    const result: ExperimentResult = await handle.result();
    assert.equal(result.status, 'succeeded', `${result.failure?.message}\n${second.worker.output().slice(-3000)}`);
    assert.ok(result.metrics!.ne > 0 && result.metrics!.ne < 1, `NE ${result.metrics!.ne}`);
    assert.equal(result.attempts.length, 1, 'polled as running from the other machine, never taken for lost');
    for (const name of ['out/test-predictions.txt', 'out/model', 'stdout.log', 'stderr.log', 'exit-code'])
      assert.ok(await storeHas(jobKey(jobId, name)), `${name} is in the store`);
    assert.match((await sharedStore()!.get(jobKey(jobId, 'stdout.log')))!.toString(), /tiny trainer: done/);
    assert.ok(fs.existsSync(path.join(second.home, 'jobs', jobId, 'out', 'test-predictions.txt')), 'judged from the store on the second machine');
    assert.ok(!fs.existsSync(path.join(second.home, 'jobs', jobId, 'exit-code')));
    const stored = await readExternalModel(result.artifact!);
    assert.deepEqual(stored?.header.trainerMetrics, { sawStoreSecret: false }, "the store's credentials stay with the worker's runner");
  });

  it("a command job that fails on one machine reports its own error, read from the store's log by another", async () => {
    const first = machine('g');
    const experimentId = `store-failing-${Date.now()}`;
    const jobId = `${experimentId}-a1`;
    const handle = await experiment(experimentId, { kind: 'command', name: 'failing-command' });
    await eventually(async () => ((await storeHas(jobKey(jobId, 'alive'))) ? true : undefined), 240_000, 'the job running').catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${first.worker.output().slice(-3000)}`);
    });
    await first.worker.kill('SIGKILL');
    const second = machine('h');
    await eventually(async () => (/rankwright worker: serving/.test(second.worker.output()) ? true : undefined), 120_000, 'the second worker');
    fs.writeFileSync(path.join(dir, 'go-fail'), '');
    const result: ExperimentResult = await handle.result();
    assert.equal(result.status, 'failed');
    assert.match(result.failure!.message, /trainer exited with 3: depth must be at most 2/);
    assert.equal(result.attempts.length, 1, 'a trainer that failed is not resubmitted');
  });

  it('a command job submitted on one machine is stopped from another when it runs past its timeout', async () => {
    const first = machine('e');
    const experimentId = `store-cancel-${Date.now()}`;
    const jobId = `${experimentId}-a1`;
    const handle = await experiment(experimentId, { kind: 'command', name: 'stuck-command', timeoutSeconds: 40 });
    const submitted = path.join(first.home, 'jobs', jobId, 'submitted.json');
    await eventually(async () => ((await storeHas(jobKey(jobId, 'alive'))) ? true : undefined), 240_000, 'the job running').catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${first.worker.output().slice(-3000)}`);
    });
    const { pid } = JSON.parse(fs.readFileSync(submitted, 'utf8')) as { pid: number };
    await first.worker.kill('SIGKILL');
    machine('f');
    // The timeout passes; the second machine cannot signal a process elsewhere, so it leaves a request in the store,
    // and the job's runner stops the job when its next heartbeat finds it.
    await eventually(async () => ((await storeHas(jobKey(jobId, 'cancel'))) ? true : undefined), 180_000, 'a cancel request in the store');
    await eventually(
      async () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      60_000,
      'the job stopped',
    );
    assert.ok(!(await storeHas(jobKey(jobId, 'exit-code'))), 'a cancelled job delivers nothing');
    await handle.terminate('the test saw what it needed');
  });
});

interface PostedJob {
  jobId: string;
  urls?: JobUrls;
}

interface TrainingService {
  url: string;
  jobs: Map<string, PostedJob>;
  /** The model file each job put. */
  models: Map<string, string>;
  /** Polls (GET /<jobId>) each job had. */
  polls: Map<string, number>;
  /** Trains a posted job now, through its URLs only. */
  run(jobId: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A training service on "another machine": it keeps what it is POSTed and trains only when the test says so, reading
 * the data with GETs on the URLs it was given and putting each output with a PUT. It never touches a file.
 */
async function startTrainingService(): Promise<TrainingService> {
  const jobs = new Map<string, PostedJob>();
  const states = new Map<string, { state: 'running' | 'succeeded' | 'failed'; message?: string }>();
  const models = new Map<string, string>();
  const polls = new Map<string, number>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'POST') {
        const job = JSON.parse(body) as PostedJob;
        jobs.set(job.jobId, job);
        // A careless service quotes its request in its status: the poll's answer must still carry no URL.
        states.set(job.jobId, { state: 'running', message: `will put the model at ${job.urls?.outputs.model}` });
        return void res.writeHead(202).end();
      }
      const jobId = decodeURIComponent((req.url ?? '/').slice(1));
      const state = states.get(jobId);
      if (req.method === 'GET' && state) polls.set(jobId, (polls.get(jobId) ?? 0) + 1);
      if (req.method === 'GET' && state) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state));
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fetchOk = async (url: string, init?: RequestInit) => {
    const response = await fetch(url, init);
    if (!response.ok) throw new Error(`${init?.method ?? 'GET'} answered HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
    return response;
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    jobs,
    models,
    polls,
    async run(jobId) {
      const job = jobs.get(jobId)!;
      const spec = job as PostedJob & { data: { columns: { name: string; role: string }[] } };
      const urls = job.urls!;
      try {
        const text = (url: string) => fetchOk(url).then((r) => r.text());
        const out = fitTinyTrainer(spec.data.columns, await text(urls.data.train), await text(urls.data.validation), await text(urls.data.test));
        const put = (url: string, body: string) => fetchOk(url, { method: 'PUT', body });
        await put(urls.outputs.model, out.model);
        await put(urls.outputs.validationPredictions, out.validationPredictions);
        await put(urls.outputs.testPredictions, out.testPredictions);
        await put(urls.outputs.metrics, JSON.stringify({ trainer: 'tiny-service' }));
        await put(urls.logs.stdout, 'trained through presigned URLs\n');
        models.set(jobId, out.model);
        states.set(jobId, { state: 'succeeded' });
      } catch (err) {
        states.set(jobId, { state: 'failed', message: (err as Error).message });
        throw err;
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The signatures of every URL a job was handed: what must never be found in a history. */
function urlSecrets(urls: JobUrls): string[] {
  const all = [...Object.values(urls.data), ...Object.values(urls.outputs), ...Object.values(urls.logs)];
  return all.map((u) => new URL(u).searchParams.get('X-Amz-Signature')!).filter(Boolean);
}

/** Every payload in a history, decoded as text (payloads are JSON bytes), joined. */
function historyText(history: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    else if (typeof v === 'string') out.push(v);
  };
  walk(history);
  return out.join('\n');
}

function readTree(dir: string): string {
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => fs.readFileSync(path.join(e.parentPath, e.name), 'utf8'))
    .join('\n');
}
