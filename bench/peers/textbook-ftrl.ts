/**
 * The textbook FTRL-Proximal click model (McMahan et al. 2013, Algorithm 1), one pass over a Criteo TSV: 2^22 hashed
 * features (each categorical value hashed with its field, each dense count bucketed by ⌊log2(1+x)⌋ and hashed with
 * its field, plus a bias), α = 0.05, β = 1, L1 = 0.5, L2 = 1.
 *
 * It is the speed peer users compare Rankwright's `lr` with, so it is written the way a careful author writes it:
 * the file is read as bytes in large chunks and each field is hashed straight from its bytes (FNV-1a, the same
 * hash of the same "C7:value" text a string version computes, so the features are those of the plain version);
 * weights live in typed arrays, and a row allocates nothing.
 *
 *   npx tsx bench/peers/textbook-ftrl.ts TRAIN.tsv TEST.tsv PREDICTIONS.txt     (one probability per test row)
 */
import * as fs from 'node:fs';

const [D, ALPHA, BETA, L1, L2] = [2 ** 22, 0.05, 1, 0.5, 1];
const DENSE = 13;
const FIELDS = DENSE + 26; // I1..I13, then C1..C26
const [TAB, NEWLINE, CR] = [9, 10, 13];
const FNV_PRIME = 0x01000193;

const z = new Float64Array(D);
const n = new Float64Array(D);
/** The current row's feature indices (x[0] = 0 is the bias) and their weights, reused by every row. */
const x = new Int32Array(FIELDS + 1);
const w = new Float64Array(FIELDS + 1);

/** FNV-1a continued from state `h` over the characters of `s` (ASCII: the same as over its bytes). */
function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}
/** Each field's hash state after its "I1:" / "C1:" prefix: a value's bytes continue from there. */
const PREFIX = Int32Array.from({ length: FIELDS }, (_, f) => fnv(0x811c9dc5, f < DENSE ? `I${f + 1}:` : `C${f - DENSE + 1}:`));
/** A dense field's feature per log2 bucket, hashed once up front ("I3:5"); 64 buckets hold every value below 2^64. */
const BUCKETS = 64;
const DENSE_INDEX = Int32Array.from({ length: DENSE * BUCKETS }, (_, k) => fnv(PREFIX[k >> 6], String(k & 63)) & (D - 1));

/** The feature of dense field `f` whose text is buf[start, end): empty = the field's "missing" feature. */
function denseIndex(f: number, buf: Buffer, start: number, end: number): number {
  if (start >= end) return PREFIX[f] & (D - 1);
  let v = 0;
  let plain = end - start <= 9; // a short run of digits, maybe signed: the usual Criteo count, parsed in place
  for (let i = buf[start] === 45 ? start + 1 : start; plain && i < end; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) plain = false;
    else v = v * 10 + d;
  }
  // ⌊log2(1+v)⌋ of an integer below 2^31 is its highest set bit, exactly; anything else goes through Number().
  if (plain && end - start > (buf[start] === 45 ? 1 : 0)) return DENSE_INDEX[(f << 6) + (buf[start] === 45 ? 0 : 31 - Math.clz32(1 + v))];
  const bucket = Math.floor(Math.log2(1 + Math.max(0, Number(buf.toString('latin1', start, end)))));
  return bucket >= 0 && bucket < BUCKETS ? DENSE_INDEX[(f << 6) + bucket] : fnv(PREFIX[f], String(bucket)) & (D - 1);
}

/** Fills x from the line buf[start, end) and returns its label; missing trailing fields are empty. */
function parseRow(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && buf[i] !== TAB) i++;
  const label = i - start === 1 && (buf[start] === 48 || buf[start] === 49) ? buf[start] - 48 : Number(buf.toString('latin1', start, i));
  for (let f = 0; f < FIELDS; f++) {
    const from = Math.min(i + 1, end);
    i = from;
    if (f < DENSE) {
      while (i < end && buf[i] !== TAB) i++;
      x[f + 1] = denseIndex(f, buf, from, i);
    } else {
      let h = PREFIX[f];
      for (let b = buf[i]; i < end && b !== TAB; b = buf[++i]) h = Math.imul(h ^ b, FNV_PRIME);
      x[f + 1] = h & (D - 1);
    }
  }
  return label;
}

/** p(click) of the row in x; leaves each feature's weight in w for the update. */
function predict(): number {
  let wx = 0;
  for (let k = 0; k <= FIELDS; k++) {
    const i = x[k];
    const zi = z[i];
    w[k] = Math.abs(zi) <= L1 ? 0 : -(zi - Math.sign(zi) * L1) / ((BETA + Math.sqrt(n[i])) / ALPHA + L2);
    wx += w[k];
  }
  return 1 / (1 + Math.exp(-Math.max(-35, Math.min(35, wx))));
}

function update(p: number, y: number): void {
  const g = p - y;
  for (let k = 0; k <= FIELDS; k++) {
    const i = x[k];
    const sigma = (Math.sqrt(n[i] + g * g) - Math.sqrt(n[i])) / ALPHA;
    z[i] += g - sigma * w[k];
    n[i] += g * g;
  }
}

/** Calls `row` on every non-empty line of `file` (a trailing \r dropped), read in 4 MiB chunks. */
function forEachLine(file: string, row: (buf: Buffer, start: number, end: number) => void): void {
  const fd = fs.openSync(file, 'r');
  let buf = Buffer.allocUnsafe(1 << 22);
  let filled = 0; // bytes at the start of buf not yet handed out: a partial line carried over
  try {
    for (;;) {
      if (filled === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]); // a line longer than buf
      const got = fs.readSync(fd, buf, filled, buf.length - filled, null);
      const end = filled + got;
      const view = buf.subarray(0, end);
      let start = 0;
      for (let nl = view.indexOf(NEWLINE); nl >= 0 || (got === 0 && start < end); nl = view.indexOf(NEWLINE, start)) {
        const stop = nl >= 0 ? nl : end; // at end of file, the last line may have no newline
        const lineEnd = stop > start && buf[stop - 1] === CR ? stop - 1 : stop;
        if (lineEnd > start) row(buf, start, lineEnd);
        start = stop + 1;
      }
      if (got === 0) return;
      buf.copyWithin(0, start, end);
      filled = end - start;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Trains one pass on `train`, writes one prediction per `test` row to `out`. */
export async function runTextbookFtrl(train: string, test: string, out: string): Promise<{ trainRows: number; testRows: number }> {
  z.fill(0);
  n.fill(0);
  let trainRows = 0;
  forEachLine(train, (buf, start, end) => {
    const y = parseRow(buf, start, end);
    update(predict(), y);
    trainRows++;
  });
  let testRows = 0;
  let pending: string[] = [];
  const fd = fs.openSync(out, 'w');
  try {
    forEachLine(test, (buf, start, end) => {
      parseRow(buf, start, end);
      pending.push(predict().toPrecision(7));
      testRows++;
      if (pending.length === 1 << 16) {
        fs.writeSync(fd, pending.join('\n') + '\n');
        pending = [];
      }
    });
    if (pending.length) fs.writeSync(fd, pending.join('\n') + '\n');
  } finally {
    fs.closeSync(fd);
  }
  return { trainRows, testRows };
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
