import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeclaredSchema } from '../../contracts';
import { SeededRandom } from '../../ranking/rng';

/**
 * A wide planted table, wider than Criteo's 13 + 26: `categorical` categorical columns (c01, c02, …), `dense` dense
 * ones (d01, …) and two list columns (`tags`, `interests`, "|"-separated), written as train and test CSV. Its signal
 * sits in columns far past the 26th:
 *
 *   logit = −1.4 + cross(c70 × c75) + 0.7·(d29 − 5) / 3 + 0.9·[tags has "hot"]
 *
 * where the cross (6 × 6 values) is ±1.3 and not additive (a model needs the pair, not the two fields), so a cross of the two
 * columns changes and improves the model. Every other column is noise. The test file has one more column than the
 * schema (`note`), which scoring must ignore.
 */
export interface WideTable {
  train: string;
  test: string;
  schema: DeclaredSchema;
  /** Test rows' labels in file order. */
  testLabels: Uint8Array;
}

const pad = (i: number) => String(i).padStart(2, '0');

export function writeWideTable(
  dir: string,
  opts: { trainRows?: number; testRows?: number; categorical?: number; dense?: number; seed?: number } = {},
): WideTable {
  const categorical = opts.categorical ?? 80;
  const dense = opts.dense ?? 30;
  const rng = new SeededRandom(opts.seed ?? 11);
  const catNames = Array.from({ length: categorical }, (_, i) => `c${pad(i + 1)}`);
  const denseNames = Array.from({ length: dense }, (_, i) => `d${pad(i + 1)}`);
  const columns: DeclaredSchema['columns'] = { clicked: 'label' };
  for (const c of catNames) columns[c] = 'categorical';
  for (const d of denseNames) columns[d] = 'dense';
  columns.tags = { role: 'multiCategorical', separator: '|', maxValues: 3 };
  columns.interests = { role: 'multiCategorical', separator: '|', maxValues: 4 };
  const header = ['clicked', ...catNames, ...denseNames, 'tags', 'interests'];
  const tagWords = ['hot', 'new', 'sale', 'kids', 'pro', 'eco'];

  const write = (file: string, rows: number, withNote: boolean): Uint8Array => {
    const labels = new Uint8Array(rows);
    const lines = [(withNote ? [...header, 'note'] : header).join(',')];
    for (let r = 0; r < rows; r++) {
      // The planted pair has 6 values each (36 cells, enough rows a cell to learn); the rest 20 values each.
      const cats = catNames.map((_, i) => rng.int(i === 69 || i === 74 ? 6 : 20));
      const dens = denseNames.map(() => Math.round(rng.next() * 100) / 10);
      const tags = tagWords.filter(() => rng.next() < 0.25);
      const interests = Array.from({ length: rng.int(5) }, () => `i${rng.int(30)}`);
      const v70 = cats[69] ?? 0;
      const v75 = cats[74] ?? 0;
      const cross = [-1.3, 0, 1.3][(v70 + v75) % 3];
      const logit = -1.4 + cross + (0.7 * ((dens[28] ?? 5) - 5)) / 3 + (tags.includes('hot') ? 0.9 : 0);
      const y = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
      labels[r] = y;
      const cells = [String(y), ...cats.map((v, i) => `v${i}_${v}`), ...dens.map(String), tags.join('|'), interests.join('|')];
      if (withNote) cells.push(`"row ${r}, noted"`);
      lines.push(cells.join(','));
    }
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return labels;
  };
  fs.mkdirSync(dir, { recursive: true });
  const train = path.join(dir, 'wide-train.csv');
  const test = path.join(dir, 'wide-test.csv');
  write(train, opts.trainRows ?? 8000, false);
  const testLabels = write(test, opts.testRows ?? 3000, true);
  return { train, test, schema: { columns }, testLabels };
}
