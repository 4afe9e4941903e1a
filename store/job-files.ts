import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3ObjectStore } from './object-store';
import { storeExtras } from './object-store/s3-extras';

/**
 * External training jobs in the fleet's shared store (RANKWRIGHT_STORE), so that any worker can poll and judge a job
 * whatever machine submitted it. The keys mirror the home's folders:
 *
 *   job-data/<dataset>/{train,validation,test}.tsv, data.json   the data hand-off, put once per dataset (data.json last)
 *   jobs/<jobId>/job.json, submitted.json                         what the trainer reads (no URLs) and the job's handle
 *   jobs/<jobId>/out/{model,metrics.json,…-predictions.txt}       the trainer's outputs
 *   jobs/<jobId>/stdout.log, stderr.log, exit-code                a command job's logs and end, put when it ends
 *   jobs/<jobId>/alive, cancel                                    a command job's heartbeat; a request to stop it
 *
 * An HTTP trainer gets presigned URLs for the data and its outputs (jobUrls): capabilities that live only in the
 * request to the trainer, never in job.json, the workflow's history, events or logs.
 */

export const OUTPUT_NAMES = {
  model: 'model',
  metrics: 'metrics.json',
  validationPredictions: 'validation-predictions.txt',
  testPredictions: 'test-predictions.txt',
} as const;
export type OutputName = keyof typeof OUTPUT_NAMES;

const DATA_FILES = ['train.tsv', 'validation.tsv', 'test.tsv'] as const;

export const jobKey = (jobId: string, name: string): string => `jobs/${jobId}/${name}`;
export const outputKey = (jobId: string, output: OutputName): string => jobKey(jobId, `out/${OUTPUT_NAMES[output]}`);
export const jobDataKey = (dataset: string, name: string): string => `job-data/${dataset}/${name}`;

/**
 * Puts a dataset's exported hand-off into the store unless it is there (its data.json, put last, says it is whole).
 * The files are a function of the dataset, so two workers putting the same one at once put the same bytes. A hand-off
 * already there has its data.json put again: its newer write time tells a `rankwright gc` running meanwhile that a new
 * job uses it (gc lists an item again before removing it and spares one written since its plan).
 */
export async function shareJobData(store: S3ObjectStore, dataset: string, dir: string): Promise<void> {
  const manifest = path.join(dir, 'data.json');
  if (!(await store.head(jobDataKey(dataset, 'data.json'))))
    for (const name of DATA_FILES) await store.putFile(jobDataKey(dataset, name), path.join(dir, name));
  await store.putFile(jobDataKey(dataset, 'data.json'), manifest);
}

/** What an HTTP trainer is handed when the store is shared: where to read the data and where to put each output. */
export interface JobUrls {
  /** When the URLs stop working (the job's timeout, at most 7 days). */
  expiresAt: string;
  data: { train: string; validation: string; test: string };
  /** PUT each output's bytes to its URL. */
  outputs: Record<OutputName, string>;
  /** Optional: PUT the trainer's logs, so a failure can be explained from any worker. */
  logs: { stdout: string; stderr: string };
}

export async function jobUrls(store: S3ObjectStore, jobId: string, dataset: string, seconds: number): Promise<JobUrls> {
  const extras = storeExtras(store.location);
  const get = (name: string) => extras.presignGet(jobDataKey(dataset, name), seconds);
  const put = (name: string) => extras.presignPut(jobKey(jobId, name), seconds);
  const outputs = {} as Record<OutputName, string>;
  for (const output of Object.keys(OUTPUT_NAMES) as OutputName[]) outputs[output] = await put(`out/${OUTPUT_NAMES[output]}`);
  return {
    expiresAt: new Date(Date.now() + Math.min(seconds, 7 * 86_400) * 1000).toISOString(),
    data: { train: await get('train.tsv'), validation: await get('validation.tsv'), test: await get('test.tsv') },
    outputs,
    logs: { stdout: await put('stdout.log'), stderr: await put('stderr.log') },
  };
}

/**
 * A trainer's words with any presigned URL cut out: what a training service answers (an error that quotes the request,
 * a status message) may reach the workflow's history, where a capability must never go.
 */
export function withoutPresignedUrls(text: string): string {
  return text.replace(/\S*X-Amz-(Signature|Credential)\S*/gi, '<presigned URL>');
}

/**
 * Copies the outputs the store holds for a job into its folder in the home (replacing what is there: the store's
 * copy is what the trainer delivered), so it can be judged on any worker. Returns the outputs it fetched.
 */
export async function fetchJobOutputs(store: S3ObjectStore, jobId: string, files: Record<OutputName, string>): Promise<OutputName[]> {
  const fetched: OutputName[] = [];
  for (const output of Object.keys(OUTPUT_NAMES) as OutputName[])
    if (await store.getToFile(outputKey(jobId, output), files[output])) fetched.push(output);
  return fetched;
}

/** Puts a file of the job's folder into the store, if the file exists; whether it did. */
export async function putJobFile(store: S3ObjectStore, key: string, file: string, retrySeconds?: number): Promise<boolean> {
  if (!fs.existsSync(file)) return false;
  await store.putFile(key, file, retrySeconds === undefined ? {} : { retrySeconds });
  return true;
}

/** The end of an object as text (a log's last lines), or '' when there is none. */
export async function storeTail(store: S3ObjectStore, key: string, chars = 800): Promise<string> {
  const bytes = await storeExtras(store.location)
    .tail(key, 8192, 10)
    .catch(() => undefined);
  return bytes ? bytes.toString('utf8').trim().slice(-chars) : '';
}

/** A small JSON object of the job's (submitted.json, alive), or undefined when absent or unreadable. */
export async function getJobJson<T>(store: S3ObjectStore, key: string): Promise<T | undefined> {
  const bytes = await store.get(key);
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
