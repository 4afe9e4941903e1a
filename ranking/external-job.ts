import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataConfig, type DataConfigInput, type KnobValue, type Metrics } from '../contracts';
import { parseOrExplain } from '../contracts/errors';
import { schemaLayout } from '../contracts/schema';
import { getArtifact, putArtifact } from '../store/artifacts';
import { asDiskFull } from '../store/disk-space';
import { rankwrightHome } from '../store/home';
import { fetchJobOutputs, jobKey, outputKey, shareJobData } from '../store/job-files';
import { sharedStore } from '../store/object-store';
import { exportJobData, type JobDataFiles } from './data/job-export';
import { loadDataset } from './data/load-data';
import { evaluate, evaluateValidation, trainClickRate } from './experiment';
import { TrainingFailure } from './failure';
import { validationSplitOf } from './learning-curve';
import { normalizedEntropy, normalizedEntropyStdErr, pairedNormalizedEntropyStdErr } from './metrics';
import { MODEL_FORMAT_VERSION } from './model-artifact';
import { crossFittedScoresWith, pairedStdErrAgainst } from './paired-comparison';
import { decodeTensorFile, encodeTensorFile } from './tensor-file';
import type { TrainExperimentResult } from './experiment';

/**
 * The engine's side of an external training job (no Temporal here): hand the data to the trainer in one plain format
 * whatever its source (Criteo TSV, a declared CSV or Parquet table, planted rows), and judge what comes back on the
 * same footing as a built-in model. The trainer returns probabilities for the validation and test rows; Rankwright
 * computes every metric itself from the test labels (a trainer's own numbers are kept, never trusted), so an external
 * model and a built-in one are compared like with like, and paired on the same test rows.
 */

/**
 * Where a job's files live in the home: its job.json, its outputs and the wrapper's exit code and logs. With a shared
 * store (RANKWRIGHT_STORE) they are also kept there under the same names (store/job-files.ts), so a worker on another
 * machine can poll and judge the job.
 */
export interface JobPaths {
  dir: string;
  job: string;
  outputs: { dir: string; model: string; metrics: string; validationPredictions: string; testPredictions: string };
  stdout: string;
  stderr: string;
  /** Written when the job has ended and (with a shared store) its outputs and logs are in the store. */
  exitCode: string;
  /** The trainer command's own exit code (with a shared store: before the upload that `exitCode` waits for). */
  trainerExitCode: string;
  /** Why a command job's outputs could not be put into the shared store. */
  uploadFailed: string;
  submitted: string;
  /** Touched every 20 s while a command job runs. */
  alive: string;
}

export function jobsDir(): string {
  return path.join(rankwrightHome(), 'jobs');
}

export function jobPaths(jobId: string): JobPaths {
  const dir = path.join(jobsDir(), jobId);
  const out = path.join(dir, 'out');
  return {
    dir,
    job: path.join(dir, 'job.json'),
    outputs: {
      dir: out,
      model: path.join(out, 'model'),
      metrics: path.join(out, 'metrics.json'),
      validationPredictions: path.join(out, 'validation-predictions.txt'),
      testPredictions: path.join(out, 'test-predictions.txt'),
    },
    stdout: path.join(dir, 'stdout.log'),
    stderr: path.join(dir, 'stderr.log'),
    exitCode: path.join(dir, 'exit-code'),
    trainerExitCode: path.join(dir, 'trainer-exit-code'),
    uploadFailed: path.join(dir, 'upload-failed'),
    submitted: path.join(dir, 'submitted.json'),
    alive: path.join(dir, 'alive'),
  };
}

/** What a trainer reads: job.json. */
export interface JobSpec {
  jobId: string;
  params: Record<string, KnobValue>;
  data: JobDataFiles;
  outputs: JobPaths['outputs'];
}

/**
 * Writes a job's data (once per dataset: $RANKWRIGHT_HOME/job-data/<fingerprint>, shared by every job on it) and its
 * job.json. Returns the spec the trainer will read. With a shared store both go there too (the data once per dataset),
 * so an HTTP trainer can be handed URLs to them and any worker can see what the job was given.
 */
export async function prepareJob(input: DataConfigInput | DataConfig, jobId: string, params: Record<string, KnobValue>): Promise<JobSpec> {
  const data = parseOrExplain(DataConfig, input, 'data config');
  const dataset = await loadDataset(data);
  const dataDir = path.join(rankwrightHome(), 'job-data', dataset.fingerprint.replace(/[^A-Za-z0-9_-]/g, '_'));
  // The export removes its own temp files when it fails; a full disk is named as such.
  const files = await exportJobData(dataset, dataDir, {
    // A declared schema's columns are named by the team's names (`user_country`, `interests[2]`), not slots.
    labels: 'schema' in data ? schemaLayout(data.schema).labels : {},
  }).catch((err: unknown) => {
    throw asDiskFull(err, "a training job's data", dataDir);
  });
  const paths = jobPaths(jobId);
  const spec: JobSpec = { jobId, params, data: files, outputs: paths.outputs };
  const tmp = `${paths.job}.tmp-${process.pid}`;
  try {
    await fs.promises.mkdir(paths.outputs.dir, { recursive: true });
    await fs.promises.writeFile(tmp, JSON.stringify(spec, null, 2));
    await fs.promises.rename(tmp, paths.job);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw asDiskFull(err, "a training job's job.json", paths.dir);
  }
  const store = sharedStore();
  if (store) {
    await shareJobData(store, path.basename(dataDir), dataDir);
    await store.putFile(jobKey(jobId, 'job.json'), paths.job);
  }
  return spec;
}

/** The stored form of an externally trained model: the trainer's model file (by ref) and its test scores. */
export interface ExternalModelHeader {
  kind: 'external-model';
  formatVersion: number;
  trainer: { kind: 'command' | 'http'; name: string };
  params: Record<string, KnobValue>;
  jobId: string;
  dataFingerprint: string;
  metrics: Metrics;
  validationNe: number;
  /** The trainer's model file, stored as an artifact of its own (opaque to Rankwright). */
  model: string;
  modelFileBytes: number;
  /** What the trainer itself reported (metrics.json), for humans. */
  trainerMetrics?: unknown;
}

export interface EvaluateJobRequest {
  data: DataConfigInput | DataConfig;
  jobId: string;
  trainer: { kind: 'command' | 'http'; name: string };
  params: Record<string, KnobValue>;
  segmentField?: string;
  baselineArtifact?: string;
  /** Seconds the job took as its runner measured them (submission to end). */
  seconds: number;
}

/**
 * Scores a finished job: reads its predictions (one probability per line, in the rows' order), checks they fit the
 * data, computes the metrics, and stores the model with its test scores. A job that wrote no or malformed
 * predictions fails as bad data, naming the file and line.
 */
export async function evaluateJob(req: EvaluateJobRequest): Promise<Omit<TrainExperimentResult, 'progress'>> {
  const data = parseOrExplain(DataConfig, req.data, 'data config');
  const dataset = await loadDataset(data);
  const paths = jobPaths(req.jobId);
  // The store's copies of the outputs are what the trainer delivered (a command job's uploaded as it ended, an HTTP
  // trainer's put through its URLs); a job that wrote into the home's folder only is read from there.
  const store = sharedStore();
  if (store) await fetchJobOutputs(store, req.jobId, paths.outputs);
  const validationScores = await readPredictions(paths.outputs.validationPredictions, dataset.validation.rows);
  const testScores = await readPredictions(paths.outputs.testPredictions, dataset.test.rows);
  const segmentField = req.segmentField ?? 'C1';
  const metrics = evaluate(testScores, dataset.test, dataset, segmentField);
  const validationNe = normalizedEntropy(validationScores, dataset.validation.labels, dataset.validation.weights);
  // The trainer's validation predictions are used as delivered: Rankwright cannot re-fit out of sample whatever
  // calibration the trainer did on them (or whether it early-stopped on them), so an external model's validation
  // metrics may be in-sample for its own choices. The baseline beside it is scored as a built-in model's would be.
  const baselineValidation = req.baselineArtifact ? await baselineValidationScores(req.baselineArtifact, dataset) : undefined;
  const validationMetrics = evaluateValidation(validationScores, dataset.validation, dataset, segmentField, baselineValidation);
  const modelBytes = await fs.promises.readFile(paths.outputs.model).catch(() => {
    throw new TrainingFailure(
      'bad-data',
      `the trainer wrote no model file (${paths.outputs.model}${store ? ` nor ${outputKey(req.jobId, 'model')} in the store` : ''})`,
      [],
    );
  });
  const trainerMetrics = await fs.promises
    .readFile(paths.outputs.metrics, 'utf8')
    .then((t) => JSON.parse(t) as unknown)
    .catch(() => undefined);
  const header: ExternalModelHeader = {
    kind: 'external-model',
    formatVersion: MODEL_FORMAT_VERSION,
    trainer: req.trainer,
    params: req.params,
    jobId: req.jobId,
    dataFingerprint: dataset.fingerprint,
    metrics,
    validationNe,
    model: await putArtifact(modelBytes, "an external trainer's model file"),
    modelFileBytes: modelBytes.length,
    ...(trainerMetrics !== undefined ? { trainerMetrics } : {}),
  };
  // The validation scores are kept too: a later model paired against this one on validation reads them.
  const stored = encodeTensorFile({ ...header }, { testScores, validationScores });
  const artifact = await putArtifact(stored, 'an external model');
  return {
    artifact,
    metrics,
    validationNe,
    ...(validationMetrics ? { validationMetrics } : {}),
    neStdErr: normalizedEntropyStdErr(testScores, dataset.test.labels, dataset.test.weights),
    neDeltaStdErr: req.baselineArtifact ? await pairedAgainstBaseline(req.baselineArtifact, dataset.test, testScores) : undefined,
    dataFingerprint: dataset.fingerprint,
    badRows: dataset.badRows,
    trainSeconds: req.seconds,
    modelBytes: modelBytes.length,
    validation: validationSplitOf(data, dataset.validation.rows),
    // The trainer decided its own stopping; Rankwright saw one evaluation, on the rows it handed over.
    earlyStopping: {
      patience: 0,
      evaluateEvery: 1,
      evaluations: 1,
      stoppedEarly: false,
      epochsRun: 0,
      bestStep: 0,
      bestEpoch: 0,
      bestValidationNe: validationNe,
    },
    learningCurve: [],
  };
}

/**
 * The stored header of an artifact and its scores, or undefined when it is not an external model. `validationScores`
 * is absent on external models stored before they were kept.
 */
export async function readExternalModel(
  ref: string,
): Promise<{ header: ExternalModelHeader; testScores: Float64Array; validationScores?: Float64Array } | undefined> {
  const { header, tensors } = decodeTensorFile<ExternalModelHeader>(await getArtifact(ref));
  if (header.kind !== 'external-model') return undefined;
  const validationScores = tensors.validationScores as Float64Array | undefined;
  return { header, testScores: tensors.testScores as Float64Array, ...(validationScores ? { validationScores } : {}) };
}

/**
 * The baseline's validation scores to pair with: an external baseline's as its trainer delivered them (none when it
 * was stored before they were kept, or scored other rows: then no paired error), a built-in one's cross-fitted as
 * trainExperiment does for every built-in model.
 */
async function baselineValidationScores(
  baselineArtifact: string,
  dataset: Awaited<ReturnType<typeof loadDataset>>,
): Promise<Float64Array | undefined> {
  const external = await readExternalModel(baselineArtifact);
  if (!external) return crossFittedScoresWith(baselineArtifact, dataset.validation, { trainCtr: trainClickRate(dataset) });
  return external.validationScores?.length === dataset.validation.rows ? external.validationScores : undefined;
}

/** Paired NE standard error against a baseline: its stored test scores when external, else re-scored as built-in. */
async function pairedAgainstBaseline(
  baselineArtifact: string,
  test: Parameters<typeof pairedStdErrAgainst>[1],
  scores: Float64Array,
): Promise<number> {
  const external = await readExternalModel(baselineArtifact);
  if (!external) return pairedStdErrAgainst(baselineArtifact, test, scores);
  if (external.testScores.length !== test.rows)
    throw new TrainingFailure(
      'bad-data',
      `baseline ${baselineArtifact} scored ${external.testScores.length} test rows, this data has ${test.rows}`,
      [],
    );
  return pairedNormalizedEntropyStdErr(scores, external.testScores, test.labels, test.weights);
}

/** One probability in [0, 1] per line, exactly `rows` of them. */
export async function readPredictions(file: string, rows: number): Promise<Float64Array> {
  const text = await fs.promises.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new TrainingFailure('bad-data', `the trainer wrote no predictions: ${file} (${err.code ?? err.message})`, []);
  });
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== rows)
    throw new TrainingFailure('bad-data', `${file}: ${lines.length} predictions for ${rows} rows (one probability per row, in the rows' order)`, []);
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const p = Number(lines[i]);
    if (lines[i].trim() === '' || !Number.isFinite(p) || p < 0 || p > 1)
      throw new TrainingFailure('bad-data', `${file}:${i + 1}: expected a probability in [0, 1], got ${JSON.stringify(lines[i].slice(0, 40))}`, []);
    out[i] = p;
  }
  return out;
}
