import { strict as assert } from 'node:assert';
import type { SeededRandom } from '../../ranking/rng';

/** n values uniform in [-1, 1), from the test's seeded generator. */
export function randomFloats(n: number, rng: SeededRandom): Float32Array {
  return Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
}

/**
 * Element-wise |actual − expected| ≤ absTol + relTol·|expected| (float32 kernels against float64 twins: each test file
 * says why its tolerance); the first element outside it fails the test, naming it.
 */
export function assertCloseTo(actual: Float32Array, expected: Float32Array, what: string, absTol: number, relTol: number): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tol = absTol + relTol * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) assert.fail(`${what}[${i}]: ${actual[i]} vs reference ${expected[i]} (tolerance ${tol})`);
  }
}
