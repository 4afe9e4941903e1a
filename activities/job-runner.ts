import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OUTPUT_NAMES, jobKey, putJobFile, type OutputName } from '../store/job-files';
import { retrySecondsFromEnv, sharedStore } from '../store/object-store';

/**
 * A command job's runner when the fleet shares a store: the leader of the job's process group, detached from the
 * worker that started it (./external-trainer.ts startDetached), and the only part of the job that holds the store's
 * credentials (the trainer's environment has them removed). It runs the job's shell wrapper and
 *
 * - every 20 s puts a heartbeat (`jobs/<id>/alive`: the time and the last output line) into the store, so a worker on
 *   another machine tells a running job from a lost one, and stops the job when a `jobs/<id>/cancel` appears;
 * - when the trainer ends, puts its outputs and logs into the store, then its exit code: the store's `exit-code` (and
 *   the home's) means "ended, and everything it produced is in the store", whichever worker reads it.
 *
 * A store that will not take the outputs (after long retries) leaves `upload-failed` in the job's folder and no exit
 * code: the job reads as lost (infrastructure, resubmitted), never as a trainer that produced nothing.
 *
 * Usage: node --require tsx/cjs job-runner.ts <job folder> <sh arguments…>; the trainer's environment comes in
 * RANKWRIGHT_JOB_TRAINER_ENV (JSON), and this process's stdout and stderr are the job's logs.
 */

const HEARTBEAT_MS = 20_000;
/** A job may end while the store is briefly away: its outputs are worth waiting for. */
const UPLOAD_RETRY_SECONDS = Math.max(900, retrySecondsFromEnv());

async function main(): Promise<number> {
  const [dir, ...shell] = process.argv.slice(2);
  const jobId = path.basename(dir);
  const store = sharedStore();
  if (!store) throw new Error('the job runner needs RANKWRIGHT_STORE (it is only started when the store is shared)');
  const trainerEnv = JSON.parse(process.env.RANKWRIGHT_JOB_TRAINER_ENV ?? '{}') as NodeJS.ProcessEnv;
  const child = spawn('/bin/sh', shell, { stdio: ['ignore', 'inherit', 'inherit'], env: trainerEnv });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let beating = false;
  const heartbeat = async () => {
    if (beating) return; // the previous one is still waiting for the store
    beating = true;
    try {
      const beat = { at: new Date().toISOString(), stdout: lastOutput(path.join(dir, 'stdout.log')) };
      await store.put(jobKey(jobId, 'alive'), Buffer.from(JSON.stringify(beat)));
      // Asked to stop from another machine: the whole group goes (this runner, the shell and the trainer).
      if (await store.head(jobKey(jobId, 'cancel'))) process.kill(-process.pid, 'SIGTERM');
    } catch {
      // A missed heartbeat is not the job's failure; the next one may get through.
    } finally {
      beating = false;
    }
  };
  void heartbeat();
  const timer = setInterval(() => void heartbeat(), HEARTBEAT_MS);
  await exited;
  clearInterval(timer);

  const code = readText(path.join(dir, 'trainer-exit-code'));
  if (code === undefined) return 1; // the shell was killed (a cancelled job): nothing to deliver
  try {
    for (const output of Object.keys(OUTPUT_NAMES) as OutputName[])
      await putJobFile(store, jobKey(jobId, `out/${OUTPUT_NAMES[output]}`), path.join(dir, 'out', OUTPUT_NAMES[output]), UPLOAD_RETRY_SECONDS);
    for (const log of ['stdout.log', 'stderr.log']) await putJobFile(store, jobKey(jobId, log), path.join(dir, log), UPLOAD_RETRY_SECONDS);
    await store.putFile(jobKey(jobId, 'exit-code'), path.join(dir, 'trainer-exit-code'), { retrySeconds: UPLOAD_RETRY_SECONDS });
  } catch (err) {
    const why = (err as Error).message;
    fs.writeFileSync(path.join(dir, 'upload-failed'), why);
    process.stderr.write(`[rankwright] the job ended (exit code ${code}) but its outputs could not be put into the store: ${why}\n`);
    return 1;
  }
  writeAtomically(path.join(dir, 'exit-code'), `${code}\n`);
  return 0;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The last line the trainer printed (at most 200 characters): what a poll elsewhere shows of a running job. */
function lastOutput(file: string): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 2048);
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      return buf.toString('utf8').trim().split('\n').at(-1)?.slice(-200) ?? '';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[rankwright] job runner: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
