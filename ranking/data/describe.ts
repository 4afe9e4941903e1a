import { CATEGORICAL_FIELDS, DataConfig, ModelConfig, type DataConfigInput, type ModelConfigInput } from '../../contracts';
import { parseOrExplain } from '../../contracts/errors';
import { buildFeatureSpec } from '../features';
import { fieldCardinality, hashSpaceReport, type HashSpaceReport } from '../hash-report';
import { clickThroughRate } from '../metrics';
import { loadDataset } from './load-data';

export interface DataDescription {
  fingerprint: string;
  kind: 'planted' | 'criteo';
  oracleNe?: number;
  trainRows: number;
  testRows: number;
  /** Click-through rate of the training rows. */
  ctr: number;
  activeCategoricalFields: string[];
  /** Distinct non-missing values of every active field on train (exact up to 2^18, beyond a HyperLogLog estimate). */
  fieldCardinality?: Record<string, number>;
  /**
   * The hash space of the given model config (default: `{"family":"lr"}`, one shared table of 2^18 rows) on train:
   * per hashed slot its distinct values, table, the bits `hashSpace: "per-field"` would give it and its expected
   * (and, counted exactly, realized) collision rate.
   */
  hashing?: HashSpaceReport;
}

export async function describeData(data: DataConfigInput | DataConfig, model?: ModelConfigInput | ModelConfig): Promise<DataDescription> {
  const config = parseOrExplain(ModelConfig, model ?? { family: 'lr' }, 'model config');
  const d = await loadDataset(data);
  const out: DataDescription = {
    fingerprint: d.fingerprint,
    kind: d.kind,
    // Streamed training sets: counts and CTR over all rows; cardinality and hashing below on the held sample.
    trainRows: d.trainOnDisk?.rows ?? d.train.rows,
    testRows: d.test.rows,
    ctr: clickThroughRate(d.trainOnDisk?.labels ?? d.train.labels),
    activeCategoricalFields: d.active.categorical.map((f) => CATEGORICAL_FIELDS[f]),
  };
  if (d.oracle) out.oracleNe = d.oracle.ne;
  out.fieldCardinality = fieldCardinality(d.train, d.active);
  out.hashing = hashSpaceReport(buildFeatureSpec(config, d.train, d.active), d.train);
  return out;
}
