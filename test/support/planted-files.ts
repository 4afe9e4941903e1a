import * as path from 'node:path';
import { writeCriteoTsv } from '../../ranking/data/criteo-writer';
import { plantedScenario } from '../../ranking/data/planted';

/** A planted scenario's three splits as Criteo TSV files: a data config the real file loader reads. */
export interface PlantedSplitFiles {
  format: 'criteo-tsv';
  train: string;
  validation: string;
  test: string;
}

/** Writes a planted scenario's train, validation and test splits into `dir` (`<prefix>train.tsv`, …). */
export async function writePlantedSplits(dir: string, options: Parameters<typeof plantedScenario>[0], prefix = ''): Promise<PlantedSplitFiles> {
  const s = plantedScenario(options);
  const files: PlantedSplitFiles = {
    format: 'criteo-tsv',
    train: path.join(dir, `${prefix}train.tsv`),
    validation: path.join(dir, `${prefix}validation.tsv`),
    test: path.join(dir, `${prefix}test.tsv`),
  };
  await writeCriteoTsv(files.train, s.train, s.valueNames);
  await writeCriteoTsv(files.validation, s.validation, s.valueNames);
  await writeCriteoTsv(files.test, s.test, s.valueNames);
  return files;
}
