import { CATEGORICAL_FIELDS, DataConfig, type DataConfigInput } from '../../contracts';
import { loadDataset } from './load-data';

export interface DataDescription {
  fingerprint: string;
  kind: 'planted' | 'criteo';
  oracleNe?: number;
  trainRows: number;
  testRows: number;
  activeCategoricalFields: string[];
}

export async function describeData(data: DataConfigInput | DataConfig): Promise<DataDescription> {
  const d = await loadDataset(data);
  const out: DataDescription = {
    fingerprint: d.fingerprint,
    kind: d.kind,
    trainRows: d.train.rows,
    testRows: d.test.rows,
    activeCategoricalFields: d.active.categorical.map((f) => CATEGORICAL_FIELDS[f]),
  };
  if (d.oracle) out.oracleNe = d.oracle.ne;
  return out;
}
