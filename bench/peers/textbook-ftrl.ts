/**
 * The textbook FTRL-Proximal click model (McMahan et al. 2013, Algorithm 1), written the way people write it: one
 * pass over a Criteo TSV, read line by line with split('\t'), 2^22 hashed features (each categorical value hashed
 * with its field, each dense count bucketed by ⌊log2(1+x)⌋ and hashed with its field, plus a bias), α = 0.05,
 * β = 1, L1 = 0.5, L2 = 1. Deliberately plain, not optimized: it is the peer users compare Rankwright's `lr` with.
 *
 *   npx tsx bench/peers/textbook-ftrl.ts TRAIN.tsv TEST.tsv PREDICTIONS.txt     (one probability per test row)
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';

const [D, ALPHA, BETA, L1, L2] = [2 ** 22, 0.05, 1, 0.5, 1];
const z = new Float64Array(D);
const n = new Float64Array(D);

/** FNV-1a of the string, modulo D. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) % D;
}

/** Feature indices of one row: the bias (index 0), I1..I13 as log2 buckets, C1..C26 as values. */
function features(cols: string[]): number[] {
  const x = [0];
  for (let i = 1; i <= 13; i++) x.push(hash(`I${i}:${cols[i] ? Math.floor(Math.log2(1 + Math.max(0, Number(cols[i])))) : ''}`));
  for (let i = 14; i <= 39; i++) x.push(hash(`C${i - 13}:${cols[i] ?? ''}`));
  return x;
}

function weight(i: number): number {
  if (Math.abs(z[i]) <= L1) return 0;
  return -(z[i] - Math.sign(z[i]) * L1) / ((BETA + Math.sqrt(n[i])) / ALPHA + L2);
}

function predict(x: number[]): number {
  let wx = 0;
  for (const i of x) wx += weight(i);
  return 1 / (1 + Math.exp(-Math.max(-35, Math.min(35, wx))));
}

function update(x: number[], p: number, y: number): void {
  const g = p - y;
  for (const i of x) {
    const sigma = (Math.sqrt(n[i] + g * g) - Math.sqrt(n[i])) / ALPHA;
    z[i] += g - sigma * weight(i);
    n[i] += g * g;
  }
}

/** Trains one pass on `train`, writes one prediction per `test` row to `out`. */
export async function runTextbookFtrl(train: string, test: string, out: string): Promise<{ trainRows: number; testRows: number }> {
  z.fill(0);
  n.fill(0);
  let trainRows = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(train), crlfDelay: Infinity })) {
    if (!line) continue;
    const cols = line.split('\t');
    const x = features(cols);
    update(x, predict(x), Number(cols[0]));
    trainRows++;
  }
  const predictions: string[] = [];
  for await (const line of readline.createInterface({ input: fs.createReadStream(test), crlfDelay: Infinity })) {
    if (line) predictions.push(predict(features(line.split('\t'))).toPrecision(7));
  }
  fs.writeFileSync(out, predictions.join('\n') + '\n');
  return { trainRows, testRows: predictions.length };
}

if (require.main === module) {
  const [train, test, out] = process.argv.slice(2);
  if (!train || !test || !out) {
    process.stderr.write('usage: textbook-ftrl.ts TRAIN.tsv TEST.tsv PREDICTIONS.txt\n');
    process.exit(2);
  }
  runTextbookFtrl(train, test, out).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
