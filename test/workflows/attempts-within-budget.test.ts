import { strict as assert } from 'node:assert';
import { DEFAULT_MAX_ATTEMPTS } from '../../contracts/experiment';
import { attemptsWithinBudget } from '../../workflows/planner';

describe('attemptsWithinBudget: retries share what the budget has left after a wave', () => {
  it('gives every run the default attempts while the budget has room, fewer near its end, and never none', () => {
    assert.equal(attemptsWithinBudget(12, 1, 2), DEFAULT_MAX_ATTEMPTS, 'early: 9 runs of slack for 2 runs');
    assert.equal(attemptsWithinBudget(12, 8, 2), 2, '2 runs of slack: one retry each');
    assert.equal(attemptsWithinBudget(12, 9, 2), 1, '1 run of slack cannot pay a retry for each of 2 runs');
    assert.equal(attemptsWithinBudget(12, 11, 1), 1, 'the last run: no retry');
    assert.equal(attemptsWithinBudget(12, 11.5, 1), 1, 'a launched run always gets its first attempt');
    // Probes: an attempt costs the probe's row fraction.
    assert.equal(attemptsWithinBudget(12, 1, 10, 0.1), DEFAULT_MAX_ATTEMPTS);
    assert.equal(attemptsWithinBudget(3, 1, 10, 0.1), 2, '1 run of slack after ten 0.1 probes: one retry each');
  });

  it('keeps the worst case of a wave (every run taking all its attempts) within the budget', () => {
    for (const budget of [2, 3, 5, 12, 40]) {
      for (let used = 0; used <= budget - 1; used += 0.25) {
        for (const cost of [1, 0.5, 0.2, 0.1]) {
          // A wave the planner may launch: its first attempts fit what is left.
          for (let wave = 1; wave * cost <= budget - used + 1e-9 && wave <= 24; wave++) {
            const attempts = attemptsWithinBudget(budget, used, wave, cost);
            assert.ok(attempts >= 1 && attempts <= DEFAULT_MAX_ATTEMPTS);
            assert.ok(used + wave * cost * attempts <= budget + 1e-9, `budget ${budget}, used ${used}, wave ${wave} × ${cost}: ${attempts} attempts`);
          }
        }
      }
    }
  });
});
