import { strict as assert } from 'node:assert';
import { TrainerSearchSpace } from '../../contracts';
import { designKnobTrials, paramsKey, type KnobTrial } from '../../agents/trainer-knobs';

describe('agents: the external trainer knob designer', () => {
  const space = TrainerSearchSpace.parse({
    num_leaves: { type: 'int', min: 4, max: 256, log: true },
    learning_rate: { type: 'float', min: 0.01, max: 0.3, log: true },
    boosting: { type: 'choice', values: ['gbdt', 'dart'] },
  });
  const baseline: KnobTrial = { params: { num_leaves: 32, learning_rate: 0.05, boosting: 'gbdt' }, validationNe: 0.8 };

  it('validation moves one knob at a time, down and up from the baseline, inside the ranges', () => {
    const wave = designKnobTrials({ phase: 'validation', count: 10, baseline, history: [], space, seed: 1 }).slice(0, 5);
    assert.equal(wave.filter((p) => p.rationale.startsWith('One knob')).length, 5, 'two moves per numeric knob, one per other choice');
    for (const p of wave) {
      const changed = Object.keys(p.params).filter((k) => p.params[k] !== baseline.params[k]);
      assert.equal(changed.length, 1, `${p.title} changes one knob`);
    }
    const leaves = wave.filter((p) => p.params.num_leaves !== 32).map((p) => p.params.num_leaves as number);
    assert.deepEqual(leaves, [11, 91], 'halfway to each end in log space, rounded to integers');
    assert.ok(wave.some((p) => p.params.boosting === 'dart'));
  });

  it('combination puts the winning moves together; a losing move is left out', () => {
    const history: KnobTrial[] = [
      { params: { ...baseline.params, num_leaves: 91 }, validationNe: 0.78 },
      { params: { ...baseline.params, num_leaves: 11 }, validationNe: 0.82 },
      { params: { ...baseline.params, learning_rate: 0.1225 }, validationNe: 0.79 },
      { params: { ...baseline.params, boosting: 'dart' }, validationNe: 0.85 },
    ];
    const [first] = designKnobTrials({ phase: 'combination', count: 3, baseline, history, space, seed: 1 });
    assert.deepEqual(first.params, { num_leaves: 91, learning_rate: 0.1225, boosting: 'gbdt' });
  });

  it('never proposes a knob set already run, and the same request designs the same wave', () => {
    const history: KnobTrial[] = designKnobTrials({ phase: 'validation', count: 10, baseline, history: [], space, seed: 1 }).map((p, i) => ({
      params: p.params,
      validationNe: 0.8 - i * 0.001,
    }));
    const request = { phase: 'exploitation' as const, count: 6, baseline, history, space, seed: 5 };
    const wave = designKnobTrials(request);
    assert.equal(wave.length, 6);
    const ran = new Set([baseline, ...history].map((t) => paramsKey(t.params)));
    for (const p of wave) assert.ok(!ran.has(paramsKey(p.params)), `${p.title} is new`);
    assert.equal(new Set(wave.map((p) => paramsKey(p.params))).size, wave.length, 'no repeats within a wave');
    assert.deepEqual(designKnobTrials(request), wave, 'deterministic');
    for (const p of wave) {
      assert.ok((p.params.num_leaves as number) >= 4 && (p.params.num_leaves as number) <= 256);
      assert.ok((p.params.learning_rate as number) >= 0.01 && (p.params.learning_rate as number) <= 0.3);
    }
  });

  it('refuses a search space with an inverted or non-positive log range', () => {
    const bad = TrainerSearchSpace.safeParse({ a: { type: 'int', min: 10, max: 2 }, b: { type: 'float', min: 0, max: 1, log: true } });
    assert.equal(bad.success, false);
    const messages = bad.error!.issues.map((i) => i.message).join('; ');
    assert.match(messages, /a: min 10 is above max 2/);
    assert.match(messages, /b: a log-scaled range needs min > 0/);
  });
});
