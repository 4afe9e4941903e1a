import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Calibrator } from '../../contracts';
import { ModelConfig } from '../../contracts';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { plantedScenario, scoreFile, trainExperiment, writeCriteoTsv } from '../../ranking';
import {
  MIN_ISOTONIC_CLICKS,
  PRIOR_CLICKS,
  applyCalibrator,
  calibrateProbability,
  candidateOf,
  chooseCalibrator,
  correctNegativeSampling,
  crossFitFolds,
  crossFittedCalibration,
  fitIsotonic,
  fitPlatt,
  sampleNegatives,
} from '../../ranking/calibration';
import { encodeRows } from '../../ranking/features';
import { ReferenceKernels } from '../../ranking/kernels';
import { calibration, logLoss, normalizedEntropy } from '../../ranking/metrics';
import { loadModelArtifact, saveModelArtifact } from '../../ranking/model-artifact';
import { createModel } from '../../ranking/models/create-model';
import { scoreBlockWith } from '../../ranking/paired-comparison';
import { SeededRandom } from '../../ranking/rng';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const logit = (p: number) => Math.log(p / (1 - p));

/** Model scores p (logit ~ N(−2, 1.2²), CTR ≈ 0.15), the true rate truth(p) of each row, and labels drawn from it. */
function scored(n: number, seed: number, truth: (p: number) => number): { p: number[]; y: number[]; t: number[] } {
  const rng = new SeededRandom(seed);
  const p: number[] = [];
  const y: number[] = [];
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const q = sigmoid(-2 + 1.2 * rng.gaussian());
    p.push(q);
    t.push(truth(q));
    y.push(rng.next() < t[i] ? 1 : 0);
  }
  return { p, y, t };
}

const through = (c: Calibrator, p: number[]) => p.map((q) => calibrateProbability(c, q));

/** A miscalibration no sigmoid of the logit can fix: a step at p = 0.15 (a third of the rate below it, double above). */
const stepTruth = (p: number) => (p < 0.15 ? p / 3 : Math.min(0.95, 2 * p));

describe('calibration: Platt scaling', () => {
  it('recovers a known miscalibration: p_true = sigmoid(2·logit(p) − 0.5)', () => {
    const truth = (p: number) => sigmoid(2 * logit(p) - 0.5);
    const fit = scored(40_000, 1, truth);
    const c = fitPlatt(fit.p, fit.y);
    assert.ok(Math.abs(c.a - 2) < 0.1, `a = ${c.a}`);
    assert.ok(Math.abs(c.b + 0.5) < 0.1, `b = ${c.b}`);
    // On fresh rows: calibrated where the raw scores are not, and a lower log loss.
    const fresh = scored(40_000, 2, truth);
    const raw = calibration(fresh.p, fresh.y);
    const fixed = calibration(through(c, fresh.p), fresh.y);
    assert.ok(Math.abs(raw - 1) > 0.1, `raw calibration ${raw}`);
    assert.ok(Math.abs(fixed - 1) < 0.03, `calibrated ${fixed}`);
    assert.ok(logLoss(through(c, fresh.p), fresh.y) < logLoss(fresh.p, fresh.y));
  });

  it('stays finite on degenerate input: one distinct score gives the base rate; separable labels a finite slope', () => {
    const y = Array.from({ length: 1000 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const c = fitPlatt(new Array(1000).fill(0.3), y);
    assert.ok(Number.isFinite(c.a) && Number.isFinite(c.b));
    assert.ok(Math.abs(calibrateProbability(c, 0.3) - 0.2) < 0.005, `${calibrateProbability(c, 0.3)}`);
    const separable = fitPlatt([0.1, 0.2, 0.3, 0.6, 0.7, 0.8], [0, 0, 0, 1, 1, 1]);
    assert.ok(Number.isFinite(separable.a) && separable.a > 1 && separable.a < 50, `a = ${separable.a}`);
  });

  it('interceptOnly keeps the slope at 1 and fixes a uniform over-prediction', () => {
    const fit = scored(40_000, 3, (p) => p / 1.1);
    const c = fitPlatt(fit.p, fit.y, { interceptOnly: true });
    assert.equal(c.a, 1);
    assert.ok(c.b < 0);
    assert.ok(Math.abs(calibration(through(c, fit.p), fit.y) - 1) < 0.005);
  });
});

describe('calibration: isotonic regression', () => {
  it('pools adjacent violators into compact breakpoints; an all-0 first / all-1 last block becomes half a click', () => {
    // Blocks: [0.1] → 0, [0.2, 0.3] → 0.5, [0.4] → 1. The ends become 0.5/(1+1) = 0.25 and 1 − 0.25.
    assert.deepEqual(fitIsotonic([0.3, 0.1, 0.4, 0.2], [0, 0, 1, 1]), { method: 'isotonic', x: [0.1, 0.2, 0.3, 0.4], y: [0.25, 0.5, 0.5, 0.75] });
    // Equal scores are one point: [0.2 ×3] (1 click of 3) then [0.5 ×2] (2 of 2).
    const tied = fitIsotonic([0.2, 0.5, 0.2, 0.5, 0.2], [1, 1, 0, 1, 0]);
    assert.deepEqual(tied.x, [0.2, 0.5]);
    assert.ok(Math.abs(tied.y[0] - 1 / 3) < 1e-12 && Math.abs(tied.y[1] - (1 - 0.5 / 3)) < 1e-12);
  });

  it('is monotone, inside (0, 1), and much smaller than its input', () => {
    const { p, y } = scored(20_000, 4, (q) => q);
    const c = fitIsotonic(p, y);
    assert.equal(c.x.length, c.y.length);
    for (let k = 1; k < c.x.length; k++) {
      assert.ok(c.x[k] > c.x[k - 1], `x ascending at ${k}`);
      assert.ok(c.y[k] >= c.y[k - 1], `y non-decreasing at ${k}`);
    }
    assert.ok(c.y.every((v) => v > 0 && v < 1));
    assert.ok(c.x.length < 200, `${c.x.length} breakpoints for 20,000 rows`);
    // Monotone as a function too, between and beyond the breakpoints.
    let previous = -1;
    for (let q = 0; q <= 1; q += 0.001) {
      const v = calibrateProbability(c, q);
      assert.ok(v >= previous);
      previous = v;
    }
  });

  it('interpolates linearly between breakpoints and is flat outside them', () => {
    const c: Calibrator = { method: 'isotonic', x: [0.1, 0.3, 0.5], y: [0.2, 0.4, 0.4] };
    assert.equal(calibrateProbability(c, 0.01), 0.2);
    assert.equal(calibrateProbability(c, 0.1), 0.2);
    assert.ok(Math.abs(calibrateProbability(c, 0.2) - 0.3) < 1e-12);
    assert.ok(Math.abs(calibrateProbability(c, 0.25) - 0.35) < 1e-12);
    assert.equal(calibrateProbability(c, 0.4), 0.4);
    assert.equal(calibrateProbability(c, 0.99), 0.4);
  });

  it('fixes a non-linear miscalibration that Platt cannot', () => {
    const fit = scored(30_000, 5, stepTruth);
    const fresh = scored(30_000, 6, stepTruth);
    const iso = fitIsotonic(fit.p, fit.y);
    const platt = fitPlatt(fit.p, fit.y);
    const isoLoss = logLoss(through(iso, fresh.p), fresh.y);
    assert.ok(isoLoss < logLoss(through(platt, fresh.p), fresh.y) - 0.002, 'isotonic beats Platt on fresh rows');
    assert.ok(isoLoss < logLoss(fresh.p, fresh.y) - 0.01, 'and the raw scores');
    // Within each score band, on both sides of the step, against the true rates of the fresh rows: the raw scores
    // are off by a factor 2–3, the isotonic ones by no more than the noise of the ~200–1,500 clicks each band had
    // to be fitted from.
    for (const [lo, hi] of [
      [0, 0.1],
      [0.1, 0.15],
      [0.15, 0.3],
      [0.3, 1],
    ]) {
      const rows = fresh.p.map((_, i) => i).filter((i) => fresh.p[i] >= lo && fresh.p[i] < hi);
      const truth = rows.map((i) => fresh.t[i]);
      const rawRatio = calibration(
        rows.map((i) => fresh.p[i]),
        truth,
      );
      const ratio = calibration(
        rows.map((i) => calibrateProbability(iso, fresh.p[i])),
        truth,
      );
      assert.ok(Math.abs(rawRatio - 1) > 0.4, `band [${lo}, ${hi}): raw ${rawRatio}`);
      assert.ok(Math.abs(ratio - 1) < 0.2, `band [${lo}, ${hi}) (${rows.length} rows): calibration ${ratio} against the true rates`);
    }
  });
});

describe('calibration: negative downsampling', () => {
  it('the correction inverts the odds change of keeping negatives at rate r', () => {
    assert.ok(Math.abs(correctNegativeSampling(0.5, 0.1) - 1 / 11) < 1e-12);
    assert.equal(correctNegativeSampling(0.3, 1), 0.3);
    for (const p of [0.01, 0.1, 0.5, 0.9]) {
      const r = 0.25;
      const trained = p / (1 - p) / r / (1 + p / (1 - p) / r); // odds × 1/r
      assert.ok(Math.abs(correctNegativeSampling(trained, r) - p) < 1e-12);
    }
  });

  it('a model fitted on negatives kept at rate r over-predicts; corrected, its calibration is back to ~1.0', () => {
    // Truth: logistic in x. The "model" is a logistic regression on x — fitPlatt on sigmoid(x) fits exactly that.
    const rng = new SeededRandom(7);
    const n = 100_000;
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < n; i++) {
      x.push(rng.gaussian());
      y.push(rng.next() < sigmoid(1.5 * x[i] - 3) ? 1 : 0);
    }
    const rate = 0.2;
    const kept = sampleNegatives(y, rate, 1);
    const keptNegatives = [...kept].filter((i) => y[i] === 0).length;
    const negatives = y.filter((v) => v === 0).length;
    assert.equal([...kept].filter((i) => y[i] === 1).length, y.filter((v) => v === 1).length, 'every click kept');
    assert.ok(Math.abs(keptNegatives / negatives - rate) < 0.01, `kept ${keptNegatives} of ${negatives} negatives`);
    assert.deepEqual(sampleNegatives(y, rate, 1), kept, 'seeded: the same rows every time');

    const model = fitPlatt(
      [...kept].map((i) => sigmoid(x[i])),
      [...kept].map((i) => y[i]),
    );
    const predicted = x.map((v) => calibrateProbability(model, sigmoid(v)));
    const raw = calibration(predicted, y);
    const corrected = calibration(
      predicted.map((p) => correctNegativeSampling(p, rate)),
      y,
    );
    assert.ok(raw > 2.5, `uncorrected calibration ${raw}`);
    assert.ok(Math.abs(corrected - 1) < 0.03, `corrected calibration ${corrected}`);
    // The calibrator form: the correction rides along with the fitted map.
    assert.ok(Math.abs(calibrateProbability({ method: 'none', negativeSamplingRate: rate }, 0.5) - 1 / 6) < 1e-12); // 0.5 / (0.5 + 0.5 / 0.2)
  });
});

describe('calibration: choosing', () => {
  it('only shifts the level of scores that are already calibrated, by the noise of the clicks', () => {
    for (const seed of [11, 12, 13]) {
      const { p, y } = scored(20_000, seed, (q) => q);
      const choice = chooseCalibrator('auto', p, y);
      assert.deepEqual(Object.keys(choice.calibrator).sort(), ['a', 'b', 'method'], `seed ${seed}: ${choice.reason}`);
      assert.equal(choice.calibrator.method, 'platt');
      assert.equal((choice.calibrator as { a: number }).a, 1, 'a shift of the log-odds, not a new slope');
      // After the shift the predicted clicks equal the observed ones; the shift itself is within the clicks' noise.
      assert.ok(Math.abs(calibration(through(choice.calibrator, p), y) - 1) < 0.002);
      const clicks = y.reduce((s, v) => s + v, 0);
      assert.ok(Math.abs((choice.calibrator as { b: number }).b) < 3 / Math.sqrt(clicks), `shift ${(choice.calibrator as { b: number }).b}`);
      assert.ok(choice.heldOutLogloss && Number.isFinite(choice.heldOutLogloss.isotonic));
    }
  });

  it('matches the level of a small uniform under-prediction that log loss alone would not act on', () => {
    // 3% too few clicks everywhere (about 15,000 clicks, so 3.5 standard errors): a few nats held-out at most.
    const { p, y } = scored(100_000, 23, (q) => Math.min(1, q * 1.03));
    assert.ok(calibration(p, y) < 0.98, `raw calibration ${calibration(p, y)}`);
    const choice = chooseCalibrator('auto', p, y);
    assert.ok(Math.abs(calibration(through(choice.calibrator, p), y) - 1) < 0.002, choice.reason);
  });

  it('picks Platt for a sigmoid miscalibration and isotonic for a step', () => {
    const sig = scored(20_000, 14, (q) => sigmoid(2 * logit(q) - 0.5));
    assert.equal(chooseCalibrator('auto', sig.p, sig.y).calibrator.method, 'platt');
    const step = scored(20_000, 15, stepTruth);
    assert.equal(chooseCalibrator('auto', step.p, step.y).calibrator.method, 'isotonic');
  });

  it('never makes validation log loss worse, whatever the data', () => {
    const cases: [string, { p: number[]; y: number[] }][] = [
      ['calibrated', scored(5_000, 16, (q) => q)],
      ['sigmoid', scored(5_000, 17, (q) => sigmoid(2 * logit(q) - 0.5))],
      ['step', scored(5_000, 18, stepTruth)],
      ['over-predicting 10%', scored(5_000, 19, (q) => q / 1.1)],
      ['150 rows', scored(150, 20, (q) => q)],
      ['40 rows', scored(40, 21, (q) => q / 2)],
      ['one class', { p: [0.1, 0.2, 0.3], y: [0, 0, 0] }],
      ['no rows', { p: [], y: [] }],
    ];
    for (const [name, { p, y }] of cases) {
      const { calibrator, reason } = chooseCalibrator('auto', p, y);
      if (p.length === 0) {
        assert.equal(calibrator.method, 'none');
        continue;
      }
      const before = logLoss(p, y);
      const after = logLoss(through(calibrator, p), y);
      assert.ok(after <= before + 1e-12, `${name}: ${calibrator.method} ${after} > ${before} (${reason})`);
    }
  });

  it('a method named in the config is fitted without a choice', () => {
    const { p, y } = scored(2_000, 22, (q) => q);
    assert.equal(chooseCalibrator('isotonic', p, y).calibrator.method, 'isotonic');
    assert.equal(chooseCalibrator('platt', p, y).calibrator.method, 'platt');
    assert.equal(chooseCalibrator('none', p, y).calibrator.method, 'none');
  });

  it('applyCalibrator leaves scores alone without a calibrator (artifacts from before calibration)', () => {
    const s = Float64Array.from([0.1, 0.5]);
    assert.deepEqual([...applyCalibrator(undefined, s)], [0.1, 0.5]);
    assert.deepEqual([...applyCalibrator({ method: 'none' }, s)], [0.1, 0.5]);
  });
});

/** Scores with logit ~ N(logit(level), spread²) and labels drawn at `truth(p)`: a model's validation rows. */
function scoredAt(n: number, seed: number, level: number, spread: number, truth: (p: number) => number): { p: number[]; y: number[] } {
  const rng = new SeededRandom(seed);
  const p: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const q = sigmoid(logit(level) + spread * rng.gaussian());
    p.push(q);
    y.push(rng.next() < truth(q) ? 1 : 0);
  }
  return { p, y };
}
const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((s, v) => s + v, 0) / xs.length;
const clicksOf = (y: number[]) => y.reduce((s, v) => s + v, 0);

describe('calibration: the level, shrunk toward the training click rate', () => {
  it('with ~20 validation clicks the calibrated level stays near the training CTR; with thousands it follows validation', () => {
    // A model trained at 1% CTR meets a validation window at half that: 4,000 rows hold ~20 clicks.
    const trainCtr = 0.01;
    const few = scoredAt(4_000, 31, trainCtr, 0.5, (q) => q / 2);
    const validationCtr = mean(few.y);
    assert.ok(clicksOf(few.y) >= 12 && clicksOf(few.y) <= 30, `${clicksOf(few.y)} clicks`);
    for (const setting of ['auto', 'platt'] as const) {
      const unshrunk = chooseCalibrator(setting, few.p, few.y);
      const shrunk = chooseCalibrator(setting, few.p, few.y, undefined, { trainCtr });
      const levelOf = (c: Calibrator) => mean(through(c, few.p));
      // Without a prior the level is validation's (the noise of 20 clicks); with one it stays near the training rate.
      assert.ok(
        Math.abs(levelOf(unshrunk.calibrator) - validationCtr) < 0.15 * validationCtr,
        `${setting} unshrunk: ${levelOf(unshrunk.calibrator)}`,
      );
      const s = shrunk.shrinkage!;
      assert.equal(s.validationClicks, clicksOf(few.y));
      assert.equal(s.priorClicks, PRIOR_CLICKS);
      assert.ok(Math.abs(s.validationWeight - s.validationClicks / (s.validationClicks + PRIOR_CLICKS)) < 1e-15);
      assert.ok(s.validationWeight < 0.25, `weight ${s.validationWeight}`);
      assert.ok(Math.abs(levelOf(shrunk.calibrator) - s.level) < 1e-9 * s.level, 'the calibrated mean on validation is the shrunk level');
      assert.ok(
        Math.abs(s.level - trainCtr) < 0.25 * Math.abs(validationCtr - trainCtr),
        `${setting}: level ${s.level}, validation ${validationCtr}`,
      );
      assert.match(shrunk.reason, /shrunk toward the training click rate/);
    }
    // 200,000 rows at 2.5%: ~5,000 clicks, a 2% pull toward the training rate at most.
    const many = scoredAt(200_000, 32, 0.05, 0.5, (q) => q / 2);
    const manyCtr = mean(many.y);
    for (const setting of ['auto', 'platt', 'isotonic'] as const) {
      const shrunk = chooseCalibrator(setting, many.p, many.y, undefined, { trainCtr: 0.05 });
      assert.equal(shrunk.calibrator.method, setting === 'isotonic' ? 'isotonic' : 'platt');
      const level = mean(through(shrunk.calibrator, many.p));
      assert.ok(shrunk.shrinkage!.validationWeight > 0.97, `weight ${shrunk.shrinkage!.validationWeight}`);
      assert.ok(Math.abs(level - manyCtr) < 0.03 * Math.abs(0.05 - manyCtr), `${setting}: level ${level}, validation ${manyCtr}`);
    }
  });

  it('shrinking moves the level only: Platt keeps its slope (a log-odds shift stays one), isotonic stays monotone in (0, 1)', () => {
    const { p, y } = scoredAt(20_000, 33, 0.05, 1, (q) => sigmoid(1.5 * logit(q) + 1));
    const platt = chooseCalibrator('platt', p, y);
    const plattShrunk = chooseCalibrator('platt', p, y, undefined, { trainCtr: 0.03 });
    assert.ok(platt.calibrator.method === 'platt' && plattShrunk.calibrator.method === 'platt');
    assert.equal(plattShrunk.calibrator.a, platt.calibrator.a);
    assert.ok(plattShrunk.calibrator.b < platt.calibrator.b, 'pulled down toward the lower training rate');
    // Over-predicting by 25% everywhere: the log-odds shift's job.
    const over = scoredAt(20_000, 34, 0.05, 1, (q) => q * 0.8);
    const shift = chooseCalibrator('auto', over.p, over.y, undefined, { trainCtr: 0.03 });
    assert.equal(shift.candidate, 'plattIntercept');
    assert.equal((shift.calibrator as { a: number }).a, 1);
    assert.equal(candidateOf(shift.calibrator), 'plattIntercept');
    const iso = chooseCalibrator('isotonic', p, y, undefined, { trainCtr: 0.03 });
    assert.equal(iso.calibrator.method, 'isotonic');
    const ys = (iso.calibrator as { y: number[] }).y;
    for (let k = 1; k < ys.length; k++) assert.ok(ys[k] >= ys[k - 1]);
    assert.ok(ys.every((v) => v > 0 && v < 1));
    assert.equal(candidateOf(iso.calibrator), 'isotonic');
  });

  it('weights of 1 are no weights (bit for bit), and the same input gives the same calibrator', () => {
    const { p, y } = scoredAt(5_000, 35, 0.02, 0.8, (q) => q);
    const ones = new Float32Array(p.length).fill(1);
    const prior = { trainCtr: 0.025 };
    for (const setting of ['auto', 'platt', 'isotonic'] as const) {
      assert.deepEqual(chooseCalibrator(setting, p, y, ones, prior), chooseCalibrator(setting, p, y, undefined, prior));
      assert.deepEqual(chooseCalibrator(setting, p, y, undefined, prior), chooseCalibrator(setting, p, y, undefined, prior));
    }
    assert.deepEqual(crossFittedCalibration('platt', p, y, ones, prior), crossFittedCalibration('platt', p, y, undefined, prior));
    // Weighted clicks count as Kish-effective clicks: scaling every weight up changes nothing.
    const twos = new Float32Array(p.length).fill(2);
    twos[0] = 3;
    const tens = twos.map((v) => v * 10);
    const a = chooseCalibrator('platt', p, y, twos, prior).shrinkage!;
    const b = chooseCalibrator('platt', p, y, tens, prior).shrinkage!;
    assert.ok(Math.abs(a.validationWeight - b.validationWeight) < 1e-12 && Math.abs(a.level - b.level) < 1e-9);
  });
});

describe('calibration: isotonic needs clicks', () => {
  it(`below ${MIN_ISOTONIC_CLICKS} validation clicks auto does not offer isotonic, and a configured isotonic falls back to Platt`, () => {
    // A step miscalibration isotonic wins on when it has the clicks.
    const plenty = scored(20_000, 36, stepTruth);
    assert.equal(chooseCalibrator('auto', plenty.p, plenty.y).calibrator.method, 'isotonic');
    const few = scored(600, 37, stepTruth);
    const clicks = clicksOf(few.y);
    assert.ok(clicks < MIN_ISOTONIC_CLICKS && clicks > 50, `${clicks} clicks`);
    const auto = chooseCalibrator('auto', few.p, few.y);
    assert.notEqual(auto.calibrator.method, 'isotonic');
    assert.equal(auto.heldOutLogloss!.isotonic, undefined);
    assert.match(auto.reason, /isotonic not offered/);
    const configured = chooseCalibrator('isotonic', few.p, few.y, undefined, { trainCtr: 0.15 });
    assert.equal(configured.calibrator.method, 'platt');
    assert.equal(configured.candidate, 'platt');
    assert.match(configured.reason, new RegExp(`isotonic needs ${MIN_ISOTONIC_CLICKS} validation clicks, there are ${clicks} clicks: platt instead`));
  });
});

describe('calibration: cross-fitted validation scores', () => {
  it('on scores without signal at 0.5% CTR, in-sample Platt reads like the best constant (NE ≈ 1); cross-fitted, worse', () => {
    // Noise scores (an overfit model's spread) and labels that ignore them: 8,000 rows, ~40 clicks each draw.
    for (const seed of [38, 39, 40, 41, 42]) {
      const rng = new SeededRandom(seed);
      const p: number[] = [];
      const y: number[] = [];
      for (let i = 0; i < 8_000; i++) {
        p.push(sigmoid(logit(0.005) + 0.8 * rng.gaussian()));
        y.push(rng.next() < 0.005 ? 1 : 0);
      }
      const prior = { trainCtr: 0.005 };
      // In-sample (what validation metrics read before cross-fitting): Platt flattens the noise to the rows' own click
      // rate, the best constant there is on them, so it reads NE ≈ 1 and never much above, whatever the model.
      const inSample = normalizedEntropy(through(chooseCalibrator('platt', p, y).calibrator, p), y);
      const choice = chooseCalibrator('platt', p, y, undefined, prior);
      const crossFitted = crossFittedCalibration(choice.candidate, p, y, undefined, prior);
      const honest = normalizedEntropy(crossFitted, y);
      assert.ok(inSample < 1.0005, `seed ${seed}: in-sample NE ${inSample}`);
      assert.ok(honest > 1.002 && honest > inSample, `seed ${seed}: cross-fitted NE ${honest} (in-sample ${inSample})`);
      assert.deepEqual(crossFittedCalibration(choice.candidate, p, y, undefined, prior), crossFitted, 'deterministic');
      // `none` is not fitted: the scores come back as given.
      assert.deepEqual(Array.from(crossFittedCalibration('none', p, y)), p);
    }
  });

  it("folds depend on the row count alone, are balanced, and ignore the rows' order", () => {
    const folds = crossFitFolds(1_003);
    assert.deepEqual(crossFitFolds(1_003), folds);
    const sizes = [0, 0, 0, 0, 0];
    for (const f of folds) sizes[f]++;
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${sizes}`);
    // Not by position: the first fifth of the rows is spread over every fold.
    assert.equal(new Set(folds.subarray(0, 200)).size, 5);
  });
});

describe('calibration: config', () => {
  it('configs without the keys parse with the defaults and keep their canonical key', () => {
    const parsed = ModelConfig.parse({ family: 'lr' });
    assert.equal(parsed.calibration, 'auto');
    assert.equal(parsed.negativeSamplingRate, 1);
    // The insights DB stores canonical keys: a config that says nothing must keep the key it was stored under.
    assert.equal(canonicalConfigKey({ family: 'lr' }), canonicalConfigKey({ family: 'lr', calibration: 'auto', negativeSamplingRate: 1 }));
    assert.doesNotMatch(canonicalConfigKey({ family: 'lr' }), /calibration|negativeSamplingRate/);
    assert.notEqual(canonicalConfigKey({ family: 'lr' }), canonicalConfigKey({ family: 'lr', calibration: 'isotonic' }));
    assert.throws(() => ModelConfig.parse({ family: 'lr', negativeSamplingRate: 0 }));
    assert.throws(() => ModelConfig.parse({ family: 'fm', calibration: 'beta' }));
  });
});

describe('calibration: trained models, stored and served', function () {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'rw-calibration-'));

  /** Planted data written to Criteo files, so training reads them through the real loader. */
  async function plantedFiles(sizes: { trainRows: number; validationRows: number; testRows: number }) {
    const s = plantedScenario(sizes);
    const dir = tmp();
    const files = { train: path.join(dir, 'train.tsv'), validation: path.join(dir, 'validation.tsv'), test: path.join(dir, 'test.tsv') };
    await writeCriteoTsv(files.train, s.train, s.valueNames);
    await writeCriteoTsv(files.validation, s.validation, s.valueNames);
    await writeCriteoTsv(files.test, s.test, s.valueNames);
    return { scenario: s, dir, data: { format: 'criteo-tsv' as const, ...files } };
  }

  it('the artifact keeps the calibrator; score applies it; the paired comparison scores the baseline with its own', async () => {
    const { scenario, dir, data } = await plantedFiles({ trainRows: 6_000, validationRows: 3_000, testRows: 2_000 });
    const r = await trainExperiment({ data, model: { family: 'lr', epochs: 1, calibration: 'platt' } });
    assert.equal(r.calibration!.method, 'platt');
    const { header, tensors } = await loadModelArtifact(r.artifact);
    assert.equal(header.calibrator?.method, 'platt');
    assert.ok(header.calibrator?.method === 'platt' && (header.calibrator.a !== 1 || header.calibrator.b !== 0));

    // Raw probabilities of the test rows (reference kernels), and what the calibrator makes of them.
    const model = createModel(header.config, header.featureSpec, new ReferenceKernels());
    model.loadWeights(tensors);
    const raw = new Float64Array(scenario.test.rows);
    await model.predict(encodeRows(scenario.test, header.featureSpec), 0, scenario.test.rows, raw);
    const calibrated = applyCalibrator(header.calibrator, raw.slice());

    const out = path.join(dir, 'scores.txt');
    await scoreFile(r.artifact, data.test, out);
    const written = fs.readFileSync(out, 'utf8').trim().split('\n').map(Number);
    assert.equal(written.length, scenario.test.rows);
    let moved = 0;
    for (let i = 0; i < written.length; i++) {
      assert.ok(Math.abs(written[i] - calibrated[i]) < 1e-5, `row ${i}: ${written[i]} vs ${calibrated[i]}`);
      if (Math.abs(calibrated[i] - raw[i]) > 1e-4) moved++;
    }
    assert.ok(moved > written.length / 2, 'the calibrator changed the scores');
    // The reported test calibration is the calibrated scores'.
    assert.ok(Math.abs(r.metrics.calibration - calibration(calibrated, scenario.test.labels)) < 1e-6);

    const block = await scoreBlockWith(r.artifact, scenario.test);
    for (let i = 0; i < block.length; i++) assert.ok(Math.abs(block[i] - calibrated[i]) < 1e-9);

    // An artifact from before calibration (no calibrator in its header) still loads, and scores raw.
    const { calibrator: _dropped, ...old } = header;
    const legacy = await saveModelArtifact(old, tensors);
    assert.equal((await loadModelArtifact(legacy.ref)).header.calibrator, undefined);
    await scoreFile(legacy.ref, data.test, out);
    const legacyScores = fs.readFileSync(out, 'utf8').trim().split('\n').map(Number);
    for (let i = 0; i < legacyScores.length; i++) assert.ok(Math.abs(legacyScores[i] - raw[i]) < 1e-5);

    // A damaged calibrator is refused at load, not applied.
    const bad = await saveModelArtifact({ ...old, calibrator: { method: 'isotonic', x: [0.1, 0.2], y: [0.5] } }, tensors);
    await assert.rejects(loadModelArtifact(bad.ref), /differ in length/);
  });

  it('lr and fm on planted data (40k train / 20k validation / 40k test rows) land test calibration in [0.95, 1.05]', async function () {
    this.timeout(300_000);
    const { data } = await plantedFiles({ trainRows: 40_000, validationRows: 20_000, testRows: 40_000 });
    for (const family of ['lr', 'fm'] as const) {
      const r = await trainExperiment({ data, model: family === 'lr' ? { family } : { family } });
      const v = r.calibration!.validation;
      assert.equal(v.rows, 20_000);
      assert.ok(v.after.logloss <= v.before.logloss + 1e-12, `${family}: calibration made validation log loss worse`);
      assert.ok(
        r.metrics.calibration > 0.95 && r.metrics.calibration < 1.05,
        `${family}: test calibration ${r.metrics.calibration} (${r.calibration!.method}: ${r.calibration!.reason})`,
      );
      const line = `${family}: ${r.calibration!.method}; validation calibration ${v.before.calibration.toFixed(4)} → ${v.after.calibration!.toFixed(4)}, NE ${v.before.ne.toFixed(4)} → ${v.after.ne.toFixed(4)}; test calibration ${r.metrics.calibration.toFixed(4)}, NE ${r.metrics.ne.toFixed(4)}`;
      if (process.env.RANKWRIGHT_TEST_VERBOSE) console.log(`      ${line}`);
    }
  });

  it('negativeSamplingRate: trains on a quarter of the non-clicks, and the corrected scores are calibrated', async function () {
    this.timeout(300_000);
    const { data } = await plantedFiles({ trainRows: 40_000, validationRows: 20_000, testRows: 40_000 });
    const full = await trainExperiment({ data, model: { family: 'lr', calibration: 'none' } });
    const sampled = await trainExperiment({ data, model: { family: 'lr', calibration: 'none', negativeSamplingRate: 0.25 } });
    const seen = (r: typeof full) => r.progress.at(-1)!.examples;
    // lr's default is 2 epochs; CTR ≈ 0.1, so about (0.1 + 0.9·0.25) = 32% of the rows are kept.
    assert.ok(seen(sampled) < 0.4 * seen(full) && seen(sampled) > 0.25 * seen(full), `${seen(sampled)} of ${seen(full)} examples`);
    const { header } = await loadModelArtifact(sampled.artifact);
    assert.deepEqual(header.calibrator, { method: 'none', negativeSamplingRate: 0.25 });
    assert.ok(Math.abs(sampled.metrics.calibration - 1) < 0.07, `corrected test calibration ${sampled.metrics.calibration}`);
    assert.ok(Math.abs(sampled.calibration!.validation.before.calibration - 1) < 0.07, 'validation is corrected before any calibrator');
    // And with the chooser on top of the correction.
    const auto = await trainExperiment({ data, model: { family: 'lr', negativeSamplingRate: 0.25 } });
    assert.ok(Math.abs(auto.metrics.calibration - 1) < 0.05, `auto: test calibration ${auto.metrics.calibration} (${auto.calibration!.method})`);
  });
});
