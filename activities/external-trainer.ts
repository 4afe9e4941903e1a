import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import type { DataConfig, ExternalTrainer, KnobValue } from '../contracts';
import { dataFingerprint, TrainingFailure } from '../ranking';
import { jobPaths, type JobPaths, type JobSpec } from '../ranking/external-job';
import { getJobJson, jobKey, jobUrls, storeTail, withoutPresignedUrls, type JobUrls } from '../store/job-files';
import { sharedStore, type S3ObjectStore } from '../store/object-store';
import { trainingPool } from '../workers/training-pool';
import { checkDataAccess } from './data-access';
import type { TrainSummary } from './training';
import { namedEntry, type NamedConfigFile } from './worker-config';

/**
 * External trainers, configured by the worker's owner in RANKWRIGHT_TRAINERS (default `$RANKWRIGHT_HOME/trainers.json`):
 *
 *   { "lightgbm": { "command": [".venv/bin/python", "examples/trainers/lightgbm/train.py"] },
 *     "torchrec": { "url": "https://training.example.com/jobs", "headers": { "Authorization": "Bearer …" } } }
 *
 * A command gets the path of its job.json as its last argument; it runs detached from the worker (its own process
 * group, under a small shell that records its exit code), so a worker restart does not touch it. A URL gets the
 * job.json as a POST; the service later answers GET <url>/<jobId> with {"state": "running"|"succeeded"|"failed"}.
 * Both write their outputs into the job's folder, or, when the fleet shares a store (RANKWRIGHT_STORE), into the store:
 * an HTTP trainer is then handed presigned URLs in its request (`urls`: GET the data, PUT each output; valid for the
 * job's timeout, at most 7 days) and needs neither a shared disk nor store credentials; a command job runs where it was
 * submitted, under a runner (./job-runner.ts) that puts its outputs and logs into the store when it ends. Any worker
 * can then poll the job and judge its outputs. The URLs are capabilities: they go to the trainer only, never into
 * job.json, the handle the workflow keeps, an event or a log.
 *
 * The activities here are short: submit, poll, cancel, and evaluate the outputs. Between polls the experiment sleeps
 * on a Temporal timer and holds no worker slot.
 */
const CommandTrainer = z
  .object({
    command: z.array(z.string().min(1)).min(1, 'a command trainer needs the program to run'),
    env: z.record(z.string(), z.string()).default({}),
  })
  .strict();
const HttpTrainer = z
  .object({
    url: z.string().regex(/^https?:\/\//, 'an http trainer needs an http(s) URL'),
    headers: z.record(z.string(), z.string()).default({}),
    requestTimeoutSeconds: z.number().positive().max(600).default(30),
  })
  .strict();
const TrainerEntry = z.union([CommandTrainer, HttpTrainer]);
type TrainerEntry = z.infer<typeof TrainerEntry>;

const TRAINERS: NamedConfigFile<TrainerEntry> = {
  what: 'trainer',
  envVar: 'RANKWRIGHT_TRAINERS',
  defaultName: 'trainers.json',
  entries: z.record(z.string(), TrainerEntry),
  errorType: 'TrainerNotConfigured',
};

/** The named trainer, checked against the kind the campaign asked for. */
function trainerNamed(trainer: Pick<ExternalTrainer, 'kind' | 'name'>): TrainerEntry {
  const entry = namedEntry(TRAINERS, trainer.name);
  const configured = 'command' in entry ? 'command' : 'http';
  if (configured !== trainer.kind)
    throw ApplicationFailure.create({
      type: 'TrainerNotConfigured',
      nonRetryable: true,
      message: `trainer "${trainer.name}" is configured on this worker as a ${configured} trainer; the config asked for kind "${trainer.kind}"`,
    });
  return entry;
}

/** A submitted job: what the workflow keeps and passes back to poll, cancel and evaluate it. */
export interface TrainingJobHandle {
  jobId: string;
  kind: 'command' | 'http';
  name: string;
  params: Record<string, KnobValue>;
  /** Process group of a command job (its shell wrapper). */
  pid?: number;
}

export interface SubmitTrainingJobInput {
  experimentId: string;
  attempt: number;
  data: DataConfig;
  trainer: ExternalTrainer;
}

/** Run at a campaign's start, so a campaign naming a trainer the worker lacks fails before any work. */
export async function checkTrainer(trainer: Pick<ExternalTrainer, 'kind' | 'name'>): Promise<void> {
  trainerNamed(trainer);
}

/**
 * Hands the job to its trainer and returns at once. Idempotent: a retry of this activity (a worker died after the
 * job started) finds the job's submitted.json and returns the same handle instead of starting a second job.
 */
export async function submitTrainingJob(input: SubmitTrainingJobInput): Promise<TrainingJobHandle> {
  checkDataAccess(input.data);
  const entry = trainerNamed(input.trainer);
  const jobId = `${input.experimentId}-a${input.attempt}`;
  const paths = jobPaths(jobId);
  const store = sharedStore();
  // Another worker may have submitted it before it died: the store's copy of the handle says so.
  const already =
    readJson<TrainingJobHandle>(paths.submitted) ?? (store ? await getJobJson<TrainingJobHandle>(store, jobKey(jobId, 'submitted.json')) : undefined);
  if (already) return already;
  const ctx = Context.current();
  // Writing the data hand-off reads the whole dataset: on a training thread, heartbeating, like any data load.
  const spec: JobSpec = await trainingPool().run(
    { kind: 'prepareExternalJob', data: input.data, jobId, params: input.trainer.params },
    { onAlive: () => ctx.heartbeat(), signal: ctx.cancellationSignal },
  );
  const handle: TrainingJobHandle = { jobId, kind: input.trainer.kind, name: input.trainer.name, params: input.trainer.params };
  if ('command' in entry) handle.pid = startDetached(entry, paths, store);
  else {
    const urls = store ? await jobUrls(store, jobId, path.basename(spec.data.dir), input.trainer.timeoutSeconds) : undefined;
    await postJob(entry, spec, urls);
  }
  fs.writeFileSync(paths.submitted, JSON.stringify(handle));
  await store?.put(jobKey(jobId, 'submitted.json'), Buffer.from(JSON.stringify(handle)));
  return handle;
}

/** The store's credentials: a command trainer runs without them unless its configuration sets them itself. */
const STORE_CREDENTIALS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

/**
 * Starts a command job outside the worker: `sh -c` runs it with its job.json path, writes its exit code when it
 * ends, and sits in a process group of its own, so neither the worker's death nor its restart stops the job.
 * The command and its arguments reach the shell as positional parameters, never as shell text.
 *
 * With a shared store the shell runs under ./job-runner.ts (the group's leader), which heartbeats into the store,
 * stops the job when a worker elsewhere asks it to, and puts its outputs and logs into the store when it ends; the
 * job's `exit-code` is written only then, so a worker that sees the end can read the outputs from the store.
 */
function startDetached(entry: z.infer<typeof CommandTrainer>, paths: JobPaths, store: S3ObjectStore | undefined): number {
  const out = fs.openSync(paths.stdout, 'a');
  const err = fs.openSync(paths.stderr, 'a');
  // While the job runs, the shell touches an alive file every 20 s: a poll from a worker on another machine (sharing
  // RANKWRIGHT_HOME, which cannot see this pid) tells a running job from a lost one by that file's age.
  const script = [
    '"$@" & job=$!',
    '(while kill -0 "$job" 2>/dev/null; do touch "$RANKWRIGHT_JOB_ALIVE"; sleep 20; done) &',
    'wait "$job"; code=$?',
    'echo "$code" > "$RANKWRIGHT_JOB_EXIT.tmp" && mv "$RANKWRIGHT_JOB_EXIT.tmp" "$RANKWRIGHT_JOB_EXIT"',
  ].join('\n');
  const shell = ['-c', script, 'rankwright-job', ...entry.command, paths.job];
  const jobEnv = { RANKWRIGHT_JOB_ALIVE: paths.alive, RANKWRIGHT_JOB: paths.job };
  let child;
  if (!store)
    child = spawn('/bin/sh', shell, {
      detached: true,
      stdio: ['ignore', out, err],
      env: { ...process.env, ...entry.env, ...jobEnv, RANKWRIGHT_JOB_EXIT: paths.exitCode },
    });
  else {
    const trainerEnv: NodeJS.ProcessEnv = { ...process.env };
    for (const name of STORE_CREDENTIALS) delete trainerEnv[name];
    Object.assign(trainerEnv, entry.env, jobEnv, { RANKWRIGHT_JOB_EXIT: paths.trainerExitCode });
    // --no-warnings: the runner's stderr is the job's log, where a Node or SDK notice would bury the trainer's own words.
    const runner = ['--no-warnings', '--require', require.resolve('tsx/cjs'), path.join(__dirname, 'job-runner.ts')];
    child = spawn(process.execPath, [...runner, paths.dir, ...shell], {
      detached: true,
      stdio: ['ignore', out, err],
      env: { ...process.env, RANKWRIGHT_JOB_TRAINER_ENV: JSON.stringify(trainerEnv) },
    });
  }
  child.unref();
  fs.closeSync(out);
  fs.closeSync(err);
  if (child.pid === undefined) throw new Error(`could not start trainer command ${entry.command[0]}`);
  return child.pid;
}

async function postJob(entry: z.infer<typeof HttpTrainer>, spec: JobSpec, urls: JobUrls | undefined): Promise<void> {
  const response = await fetch(entry.url, {
    method: 'POST',
    headers: { ...entry.headers, 'content-type': 'application/json', 'idempotency-key': spec.jobId },
    body: JSON.stringify(urls ? { ...spec, urls } : spec),
    signal: AbortSignal.timeout(entry.requestTimeoutSeconds * 1000),
  });
  const text = withoutPresignedUrls(await response.text().catch(() => ''));
  if (response.status >= 400 && response.status < 500)
    throw ApplicationFailure.create({
      type: 'TrainerRejected',
      nonRetryable: true,
      message: `trainer refused the job: HTTP ${response.status} ${text.slice(0, 500)}`,
    });
  if (!response.ok) throw new Error(`trainer answered HTTP ${response.status}: ${text.slice(0, 500)}`);
}

export type JobState = 'running' | 'succeeded' | 'failed' | 'lost';
export interface JobPoll {
  state: JobState;
  /** The last line the job printed (running), or why it failed. */
  detail?: string;
}

/**
 * Where a job stands. Cheap: a few file reads (command) or one GET (http); with a shared store, a command job another
 * machine runs is read from the store (its exit code, else its heartbeat).
 */
export async function pollTrainingJob(handle: TrainingJobHandle): Promise<JobPoll> {
  const paths = jobPaths(handle.jobId);
  if (handle.kind === 'http') return pollHttp(trainerNamed(handle) as z.infer<typeof HttpTrainer>, handle.jobId);
  const store = sharedStore();
  const code = fs.existsSync(paths.exitCode) ? fs.readFileSync(paths.exitCode, 'utf8').trim() : undefined;
  if (code !== undefined) return ended(code, tail(paths.stderr) || tail(paths.stdout));
  const stored = store ? (await store.get(jobKey(handle.jobId, 'exit-code')))?.toString('utf8').trim() : undefined;
  if (store && stored !== undefined)
    return ended(
      stored,
      stored === '0'
        ? ''
        : (await storeTail(store, jobKey(handle.jobId, 'stderr.log'))) || (await storeTail(store, jobKey(handle.jobId, 'stdout.log'))),
    );
  if ((submittedHere(paths, store) && handle.pid !== undefined && alive(handle.pid)) || recentlyTouched(paths.alive, ALIVE_WITHIN_MS))
    return { state: 'running', detail: tail(paths.stdout, 200) };
  const beat = store ? await getJobJson<{ at?: string; stdout?: string }>(store, jobKey(handle.jobId, 'alive')) : undefined;
  if (beat?.at && Date.now() - Date.parse(beat.at) < ALIVE_WITHIN_MS) return { state: 'running', detail: beat.stdout?.slice(-200) };
  const unshared = fs.existsSync(paths.uploadFailed) ? fs.readFileSync(paths.uploadFailed, 'utf8').trim().slice(0, 500) : undefined;
  if (unshared) return { state: 'lost', detail: `the job ended, but its outputs could not be put into the store: ${unshared}` };
  return { state: 'lost', detail: `the job's process (pid ${handle.pid}) is gone and left no exit code (machine restarted or killed)` };
}

function ended(code: string, output: string): JobPoll {
  if (code === '0') return { state: 'succeeded' };
  return { state: 'failed', detail: `trainer exited with ${code}: ${output || '(no output)'}` };
}

/**
 * Whether the job's pid means something here: without a store the home is where the job runs (or a shared one);
 * with a store, only the home that submitted it holds its submitted.json (another machine's pid is nobody's).
 */
function submittedHere(paths: JobPaths, store: S3ObjectStore | undefined): boolean {
  return !store || fs.existsSync(paths.submitted);
}

async function pollHttp(entry: z.infer<typeof HttpTrainer>, jobId: string): Promise<JobPoll> {
  const response = await fetch(`${entry.url.replace(/\/$/, '')}/${encodeURIComponent(jobId)}`, {
    headers: entry.headers,
    signal: AbortSignal.timeout(entry.requestTimeoutSeconds * 1000),
  });
  if (response.status === 404) return { state: 'lost', detail: 'the training service does not know this job (HTTP 404)' };
  if (!response.ok) throw new Error(`training service answered HTTP ${response.status}`);
  const body = z
    .object({ state: z.enum(['running', 'succeeded', 'failed']), message: z.string().optional() })
    .safeParse(await response.json().catch(() => null));
  if (!body.success) throw new Error(`training service answered without a valid {"state"}: ${body.error.message.slice(0, 300)}`);
  return { state: body.data.state, detail: body.data.message === undefined ? undefined : withoutPresignedUrls(body.data.message).slice(0, 500) };
}

/** Stops a job (its timeout passed, or the experiment was cancelled). Best-effort and idempotent. */
export async function cancelTrainingJob(handle: TrainingJobHandle): Promise<void> {
  if (handle.kind === 'http') {
    const entry = trainerNamed(handle) as z.infer<typeof HttpTrainer>;
    await fetch(`${entry.url.replace(/\/$/, '')}/${encodeURIComponent(handle.jobId)}`, { method: 'DELETE', headers: entry.headers }).catch(
      () => undefined,
    );
    return;
  }
  const paths = jobPaths(handle.jobId);
  const store = sharedStore();
  if (submittedHere(paths, store) && handle.pid !== undefined && alive(handle.pid)) {
    try {
      process.kill(-handle.pid, 'SIGTERM');
      return;
    } catch {
      // already gone
    }
  }
  // Submitted elsewhere: the job's runner, wherever it is, looks for this every 20 s and stops the job.
  await store?.put(jobKey(handle.jobId, 'cancel'), Buffer.from(new Date().toISOString())).catch(() => undefined);
}

export interface CollectTrainingJobInput {
  handle: TrainingJobHandle;
  data: DataConfig;
  segmentField: string;
  baselineArtifact?: string;
  seconds: number;
}

/** Scores a finished job's outputs against the test labels and stores the model (on a training thread). */
export async function collectTrainingJob(input: CollectTrainingJobInput): Promise<TrainSummary> {
  const ctx = Context.current();
  try {
    return await trainingPool().run(
      {
        kind: 'evaluateExternalJob',
        request: {
          data: input.data,
          jobId: input.handle.jobId,
          trainer: { kind: input.handle.kind, name: input.handle.name },
          params: input.handle.params,
          segmentField: input.segmentField,
          baselineArtifact: input.baselineArtifact,
          seconds: input.seconds,
        },
      },
      { onAlive: () => ctx.heartbeat(), signal: ctx.cancellationSignal },
    );
  } catch (err) {
    if (err instanceof TrainingFailure) {
      const fingerprint = await dataFingerprint(input.data).catch(() => undefined);
      const details = [{ ...err.toReport(), ...(fingerprint ? { dataFingerprint: fingerprint } : {}) }];
      throw ApplicationFailure.create({ type: 'TrainingFailure', message: err.message, nonRetryable: true, details });
    }
    throw err;
  }
}

/** A job whose alive file is older than this (it is touched every 20 s) is not running anywhere. */
const ALIVE_WITHIN_MS = 90_000;

function recentlyTouched(file: string, withinMs: number): boolean {
  try {
    return Date.now() - fs.statSync(file).mtimeMs < withinMs;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The last non-empty lines of a log, at most `chars` characters. */
function tail(file: string, chars = 800): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 8192);
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      return buf.toString('utf8').trim().slice(-chars);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
