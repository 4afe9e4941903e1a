import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import type { DataConfig, ExternalTrainer, KnobValue } from '../contracts';
import { dataFingerprint, TrainingFailure } from '../ranking';
import { jobPaths, type JobSpec } from '../ranking/external-job';
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
 * Both write their outputs into the job's folder (a URL trainer needs that folder shared with it).
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
  const submitted = `${paths.dir}/submitted.json`;
  const already = readJson<TrainingJobHandle>(submitted);
  if (already) return already;
  const ctx = Context.current();
  // Writing the data hand-off reads the whole dataset: on a training thread, heartbeating, like any data load.
  const spec: JobSpec = await trainingPool().run(
    { kind: 'prepareExternalJob', data: input.data, jobId, params: input.trainer.params },
    { onAlive: () => ctx.heartbeat(), signal: ctx.cancellationSignal },
  );
  const handle: TrainingJobHandle = { jobId, kind: input.trainer.kind, name: input.trainer.name, params: input.trainer.params };
  if ('command' in entry) handle.pid = startDetached(entry, paths);
  else await postJob(entry, spec);
  fs.writeFileSync(submitted, JSON.stringify(handle));
  return handle;
}

/**
 * Starts a command job outside the worker: `sh -c` runs it with its job.json path, writes its exit code when it
 * ends, and sits in a process group of its own, so neither the worker's death nor its restart stops the job.
 * The command and its arguments reach the shell as positional parameters, never as shell text.
 */
function startDetached(entry: z.infer<typeof CommandTrainer>, paths: ReturnType<typeof jobPaths>): number {
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
  const child = spawn('/bin/sh', ['-c', script, 'rankwright-job', ...entry.command, paths.job], {
    detached: true,
    stdio: ['ignore', out, err],
    env: { ...process.env, ...entry.env, RANKWRIGHT_JOB_EXIT: paths.exitCode, RANKWRIGHT_JOB_ALIVE: paths.alive, RANKWRIGHT_JOB: paths.job },
  });
  child.unref();
  fs.closeSync(out);
  fs.closeSync(err);
  if (child.pid === undefined) throw new Error(`could not start trainer command ${entry.command[0]}`);
  return child.pid;
}

async function postJob(entry: z.infer<typeof HttpTrainer>, spec: JobSpec): Promise<void> {
  const response = await fetch(entry.url, {
    method: 'POST',
    headers: { ...entry.headers, 'content-type': 'application/json', 'idempotency-key': spec.jobId },
    body: JSON.stringify(spec),
    signal: AbortSignal.timeout(entry.requestTimeoutSeconds * 1000),
  });
  const text = await response.text().catch(() => '');
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

/** Where a job stands. Cheap: a few file reads (command) or one GET (http). */
export async function pollTrainingJob(handle: TrainingJobHandle): Promise<JobPoll> {
  const paths = jobPaths(handle.jobId);
  if (handle.kind === 'http') return pollHttp(trainerNamed(handle) as z.infer<typeof HttpTrainer>, handle.jobId);
  const code = fs.existsSync(paths.exitCode) ? fs.readFileSync(paths.exitCode, 'utf8').trim() : undefined;
  if (code !== undefined) {
    if (code === '0') return { state: 'succeeded' };
    return { state: 'failed', detail: `trainer exited with ${code}: ${tail(paths.stderr) || tail(paths.stdout) || '(no output)'}` };
  }
  if ((handle.pid !== undefined && alive(handle.pid)) || recentlyTouched(paths.alive, ALIVE_WITHIN_MS))
    return { state: 'running', detail: tail(paths.stdout, 200) };
  return { state: 'lost', detail: `the job's process (pid ${handle.pid}) is gone and left no exit code (machine restarted or killed)` };
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
  return { state: body.data.state, detail: body.data.message?.slice(0, 500) };
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
  if (handle.pid !== undefined && alive(handle.pid)) {
    try {
      process.kill(-handle.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
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
