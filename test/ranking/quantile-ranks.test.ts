import { strict as assert } from 'node:assert';
import { float32AtRanks, fitQuantileBoundaries } from '../../ranking/features';
import { SeededRandom } from '../../ranking/rng';

/** Float32 values mixing special ones (signed zeros, infinities, subnormals, ties) with spread-out random ones. */
function randomValues(rng: SeededRandom, n: number): Float32Array {
  const special = [0, -0, 1, -1, 3.5, -3.5, 1e30, -1e30, Infinity, -Infinity, 1e-40, -1e-40, 2, 7, 100_000];
  return Float32Array.from({ length: n }, () =>
    rng.next() < 0.4 ? special[Math.floor(rng.next() * special.length)] : (rng.next() - 0.3) * 10 ** Math.floor(rng.next() * 12),
  );
}

describe('quantile boundaries by rank selection', () => {
  it('float32AtRanks gives the values a float64 sort puts at those ranks: negatives, −0 before +0, infinities, subnormals, ties', () => {
    const rng = new SeededRandom(11);
    for (let t = 0; t < 200; t++) {
      const n = 1 + Math.floor(rng.next() * 2000);
      const values = randomValues(rng, n);
      const sorted = Float64Array.from(values).sort();
      const ranks = [0, n - 1, ...Array.from({ length: 20 }, () => Math.floor(rng.next() * n))];
      const got = float32AtRanks(values, ranks);
      ranks.forEach((rank, k) => assert.ok(Object.is(got[k], sorted[rank]), `case ${t}, rank ${rank}: ${got[k]} vs ${sorted[rank]}`));
    }
  });

  it('fitQuantileBoundaries reads the boundaries off the sorted column, NaN (missing) left out', () => {
    const rng = new SeededRandom(5);
    for (let t = 0; t < 100; t++) {
      const rows = Math.floor(rng.next() * 3000);
      const width = 3;
      const dense = new Float32Array(rows * width);
      // Column 1: missing values, many ties (small counts) and the special values.
      const spread = randomValues(rng, rows);
      for (let r = 0; r < rows; r++) {
        const u = rng.next();
        dense[r * width + 1] = u < 0.2 ? NaN : u < 0.7 ? Math.floor(rng.next() * 6) : spread[r];
        dense[r * width] = dense[r * width + 2] = 99;
      }
      const block = { rows, denseWidth: width, categoricalWidth: 0, labels: new Uint8Array(rows), dense, categorical: new Uint32Array(0) };
      const values = Float64Array.from([...dense.filter((_, i) => i % width === 1)].filter((v) => !Number.isNaN(v))).sort();
      for (const buckets of [1, 2, 4, 16, 1000]) {
        const expected: number[] = [];
        for (let k = 1; k < buckets && values.length > 0; k++) {
          const q = values[Math.floor((k * values.length) / buckets)];
          if (q > values[0] && (expected.length === 0 || q > expected[expected.length - 1])) expected.push(q);
        }
        const got = fitQuantileBoundaries(block, 1, buckets);
        assert.equal(got.length, expected.length, `case ${t}, ${buckets} buckets`);
        got.forEach((q, i) => assert.ok(Object.is(q, expected[i]), `case ${t}, ${buckets} buckets, boundary ${i}: ${q} vs ${expected[i]}`));
      }
    }
  });
});
