import { ApplicationFailure, log } from '@temporalio/activity';
import { dataTraitsOf, InsightsStore, type DataTraits } from '../store/insights';
import type { DataConfig, FieldPairSignal } from '../contracts';
import { TrainingFailure, type DataDescription } from '../ranking';
import { ThreadOutOfMemory, trainingPool } from '../workers/training-pool';
import { checkDataAccess } from './data-access';
import { waitingOutFullDisk } from './full-disk-patience';
import { whileAlive } from './liveness';

export type DataFacts = DataDescription;

/**
 * Fingerprint and shape of a dataset (training queue: it reads the data). Bad data fails at once, non-retryable. What
 * it measured (size, CTR, cardinalities) joins the data set's traits in the insights database, so later campaigns on
 * other data can tell how similar this one is.
 */
export async function describeData(data: DataConfig): Promise<DataFacts> {
  checkDataAccess(data);
  // A full disk (a big file's row cache is written here) is waited out; anything else gets 4 tries, as it always had.
  return whileAlive(() => waitingOutFullDisk(4, () => describeOnAThread(data)));
}

async function describeOnAThread(data: DataConfig): Promise<DataFacts> {
  try {
    // Reading and counting a whole dataset is CPU work: on a training thread (workers/training-pool.ts), whose dataset
    // cache keeps it loaded for the next training on that thread.
    const facts = await trainingPool().run({ kind: 'describeData', data });
    await rememberTraits(facts.fingerprint, {
      ...dataTraitsOf(data, facts.ctr),
      rows: facts.trainRows,
      fieldCardinality: facts.fieldCardinality,
      cardinality: facts.fieldCardinality ? Math.max(0, ...Object.values(facts.fieldCardinality)) : undefined,
    });
    return facts;
  } catch (caught) {
    // Data that does not fit a training thread's heap will not fit it on a retry either: a resource failure, not one
    // for Temporal to retry.
    const err =
      caught instanceof ThreadOutOfMemory ? new TrainingFailure('resource', `out of memory describing the data: ${caught.message}`) : caught;
    if (err instanceof TrainingFailure) {
      throw ApplicationFailure.create({ type: 'TrainingFailure', message: err.message, nonRetryable: true, details: [err.toReport()] });
    }
    throw err;
  }
}

/** Traits are a side record: a failure to write them is logged, never a failed description. */
export async function rememberTraits(fingerprint: string, traits: DataTraits): Promise<void> {
  try {
    const store = await InsightsStore.open();
    try {
      await store.recordDataTraits(fingerprint, traits);
    } finally {
      await store.close();
    }
  } catch (err) {
    const detail = { fingerprint, error: (err as Error).message };
    // Outside an activity (the agent bench calls the research step directly) there is no activity logger.
    try {
      log.warn('could not record data traits', detail);
      return;
    } catch {
      /* no activity context: fall through to stderr */
    }
    process.stderr.write(`rankwright: could not record data traits ${JSON.stringify(detail)}\n`);
  }
}

/**
 * Which categorical field pairs carry interaction signal the given model misses (residual analysis). Every pair is
 * returned — the designer needs the weak ones too, as its noise floor — rounded to keep the history small
 * (at most 325 pairs for Criteo's 26 fields).
 */
export async function measureInteractions(data: DataConfig, artifact: string): Promise<FieldPairSignal[]> {
  checkDataAccess(data);
  const signal = await whileAlive(() => trainingPool().run({ kind: 'measureInteractions', data, artifact, options: { sampleRows: 40_000 } }));
  return signal.map((p) => ({ fields: p.fields, strength: Number(p.strength.toPrecision(3)) }));
}
