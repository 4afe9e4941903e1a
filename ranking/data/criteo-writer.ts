import * as fs from 'node:fs';
import { CATEGORICAL_COUNT, DENSE_COUNT, RowBlock, UNKNOWN_LABEL, ValueNames, valueName } from './rows';

/** Writes rows as Criteo TSV (so generated data can go through the real file loader). */
export async function writeCriteoTsv(file: string, block: RowBlock, names: ValueNames, opts: { withLabel?: boolean } = {}): Promise<void> {
  const withLabel = opts.withLabel ?? true;
  const out = fs.createWriteStream(file, { encoding: 'utf8' });
  const parts: string[] = [];
  for (let r = 0; r < block.rows; r++) {
    parts.length = 0;
    if (withLabel) parts.push(block.labels[r] === UNKNOWN_LABEL ? '0' : String(block.labels[r]));
    for (let f = 0; f < DENSE_COUNT; f++) {
      const v = block.dense[r * DENSE_COUNT + f];
      parts.push(Number.isNaN(v) ? '' : String(v));
    }
    for (let f = 0; f < CATEGORICAL_COUNT; f++) parts.push(valueName(names, f, block.categorical[r * CATEGORICAL_COUNT + f]));
    if (!out.write(parts.join('\t') + '\n')) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}
