import { strict as assert } from 'node:assert';
import { radixSortFloat32 } from '../../ranking/features';
import { SeededRandom } from '../../ranking/rng';

describe('radixSortFloat32 (quantile boundaries)', () => {
  it('orders float32 values exactly as a float64 sort does: negatives, −0 before +0, infinities, subnormals, ties', () => {
    const rng = new SeededRandom(11);
    const special = [0, -0, 1, -1, 3.5, -3.5, 1e30, -1e30, Infinity, -Infinity, 1e-40, -1e-40, 2, 7, 100_000];
    for (let t = 0; t < 200; t++) {
      const n = Math.floor(rng.next() * 2000);
      const values = Float32Array.from({ length: n }, () =>
        rng.next() < 0.4 ? special[Math.floor(rng.next() * special.length)] : (rng.next() - 0.3) * 10 ** Math.floor(rng.next() * 12),
      );
      const expected = Float64Array.from(values).sort();
      radixSortFloat32(values);
      for (let i = 0; i < n; i++) assert.ok(Object.is(values[i], expected[i]), `case ${t}, index ${i}: ${values[i]} vs ${expected[i]}`);
    }
  });
});
