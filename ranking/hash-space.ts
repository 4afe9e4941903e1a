import { finalMix } from './hash';

/**
 * Sizing hash tables from data: distinct counts of 32-bit feature tokens (exact up to a cap, then a HyperLogLog
 * estimate), the size `hashSpace: "per-field"` gives a table, and the expected collision rate of a table.
 */

/** Distinct tokens a counter keeps exactly (per slot); past it the counter switches to a HyperLogLog sketch. */
export const EXACT_DISTINCT_CAP = 1 << 18;
/** Buckets a value under auto sizing: 2^4 = 16, so ≈ 1 − e^(−1/16) ≈ 6% of the values share a bucket. */
export const AUTO_HEADROOM_BITS = 4;
export const MIN_TABLE_BITS = 8;

const HLL_P = 14;
const HLL_M = 1 << HLL_P;

/**
 * Counts distinct 32-bit tokens and how often each occurs: an open-addressing table of typed arrays (no per-value
 * objects), exact up to `cap` distinct tokens; beyond it only a HyperLogLog estimate (p = 14, ≈ 0.8% error) is kept.
 */
export class DistinctCounter {
  /** Tokens added (with repeats). */
  total = 0;
  private keys = new Uint32Array(1024);
  /** Occurrences per key; 0 marks an empty cell. */
  private counts = new Uint32Array(1024);
  private shift = 22;
  private size = 0;
  private registers: Uint8Array | null = null;

  constructor(private readonly cap = EXACT_DISTINCT_CAP) {}

  add(token: number): void {
    this.total++;
    if (this.registers) {
      sketch(this.registers, token);
      return;
    }
    const { keys, counts } = this;
    const mask = keys.length - 1;
    let i = Math.imul(token, 0x9e3779b1) >>> this.shift;
    while (counts[i] !== 0) {
      if (keys[i] === token) {
        counts[i]++;
        return;
      }
      i = (i + 1) & mask;
    }
    keys[i] = token;
    counts[i] = 1;
    if (++this.size * 2 > keys.length) {
      if (this.size > this.cap) this.switchToSketch();
      else this.rehash(keys.length * 2);
    }
  }

  /** Whether `distinct` is exact (and `forEach` available). */
  get exact(): boolean {
    return this.registers === null;
  }

  get distinct(): number {
    return this.registers ? Math.round(hyperLogLogEstimate(this.registers)) : this.size;
  }

  /** Every distinct token with its count (exact counters only). */
  forEach(fn: (token: number, count: number) => void): void {
    if (this.registers) throw new Error('DistinctCounter.forEach: the counter went past its exact cap');
    const { keys, counts } = this;
    for (let i = 0; i < keys.length; i++) if (counts[i] !== 0) fn(keys[i], counts[i]);
  }

  private rehash(capacity: number): void {
    const { keys, counts } = this;
    this.keys = new Uint32Array(capacity);
    this.counts = new Uint32Array(capacity);
    this.shift = 32 - Math.log2(capacity);
    const mask = capacity - 1;
    for (let j = 0; j < keys.length; j++) {
      if (counts[j] === 0) continue;
      let i = Math.imul(keys[j], 0x9e3779b1) >>> this.shift;
      while (this.counts[i] !== 0) i = (i + 1) & mask;
      this.keys[i] = keys[j];
      this.counts[i] = counts[j];
    }
  }

  private switchToSketch(): void {
    const registers = new Uint8Array(HLL_M);
    const { keys, counts } = this;
    for (let i = 0; i < keys.length; i++) if (counts[i] !== 0) sketch(registers, keys[i]);
    this.registers = registers;
    this.keys = new Uint32Array(0);
    this.counts = new Uint32Array(0);
  }
}

function sketch(registers: Uint8Array, token: number): void {
  const h = finalMix(token ^ 0x7f4a7c15); // a bijection: distinct tokens stay distinct, and well spread
  const index = h >>> (32 - HLL_P);
  const rest = (h << HLL_P) >>> 0;
  const rank = rest === 0 ? 32 - HLL_P + 1 : Math.clz32(rest) + 1;
  if (rank > registers[index]) registers[index] = rank;
}

/** HyperLogLog (Flajolet et al. 2007) with the small-range (linear counting) correction. */
function hyperLogLogEstimate(registers: Uint8Array): number {
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < registers.length; i++) {
    sum += 2 ** -registers[i];
    if (registers[i] === 0) zeros++;
  }
  const m = registers.length;
  const estimate = ((0.7213 / (1 + 1.079 / m)) * m * m) / sum;
  return estimate <= 2.5 * m && zeros > 0 ? m * Math.log(m / zeros) : estimate;
}

/**
 * Bits of a table sized for `distinct` values: ⌈log2 n⌉ + AUTO_HEADROOM_BITS, at least MIN_TABLE_BITS, at most `cap`
 * (the config's hashBits, so lowering hashBits still shrinks an auto-sized model).
 */
export function autoHashBits(distinct: number, cap: number): number {
  const wanted = Math.ceil(Math.log2(Math.max(distinct, 1))) + AUTO_HEADROOM_BITS;
  return Math.max(Math.min(wanted, cap), Math.min(MIN_TABLE_BITS, cap));
}

/**
 * Expected share of the values in a table that share their bucket with at least one other value, when `values`
 * distinct values hash uniformly into `buckets` buckets: 1 − (1 − 1/m)^(n − 1). Under uniform hashing every value
 * has the same chance, so this is also the expected share of rows (frequency-weighted) whose value collides.
 */
export function expectedCollisionRate(values: number, buckets: number): number {
  if (values <= 1 || buckets <= 0) return 0;
  return -Math.expm1((values - 1) * Math.log1p(-1 / buckets));
}
