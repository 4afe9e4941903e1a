import { ApplicationFailure } from '@temporalio/activity';
import type { DataConfig, FieldPairSignal } from '../contracts';
import { describeData as describeDataset, measureFieldPairSignal, TrainingFailure, type DataDescription } from '../ranking';
import { checkDataAccess } from './data-access';

export type DataFacts = DataDescription;

/** Fingerprint and shape of a dataset (training queue: it reads the data). Bad data fails at once, non-retryable. */
export async function describeData(data: DataConfig): Promise<DataFacts> {
  checkDataAccess(data);
  try {
    return await describeDataset(data);
  } catch (err) {
    if (err instanceof TrainingFailure) {
      throw ApplicationFailure.create({ type: 'TrainingFailure', message: err.message, nonRetryable: true, details: [err.toReport()] });
    }
    throw err;
  }
}

/**
 * Which categorical field pairs carry interaction signal the given model misses (residual analysis). Every pair is
 * returned — the designer needs the weak ones too, as its noise floor — rounded to keep the history small
 * (at most 325 pairs for Criteo's 26 fields).
 */
export async function measureInteractions(data: DataConfig, artifact: string): Promise<FieldPairSignal[]> {
  checkDataAccess(data);
  const signal = await measureFieldPairSignal(data, artifact, { sampleRows: 40_000 });
  return signal.map((p) => ({ fields: p.fields, strength: Number(p.strength.toPrecision(3)) }));
}
