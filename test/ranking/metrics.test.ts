import { strict as assert } from 'node:assert';
import {
  auc,
  backgroundEntropy,
  calibration,
  gainCaptured,
  logLoss,
  normalizedEntropy,
  normalizedEntropyStdErr,
  regret,
  relativeNeChange,
  segmentNormalizedEntropy,
} from '../../ranking/metrics';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} ≠ ${b} (±${tol})`);

describe('ranking metrics (hand-computed)', () => {
  const p = [0.9, 0.2, 0.6, 0.1];
  const y = [1, 0, 1, 0];

  it('log loss is the mean negative log likelihood', () => {
    // −(ln .9 + ln .8 + ln .6 + ln .9) / 4
    close(logLoss(p, y), -(Math.log(0.9) + Math.log(0.8) + Math.log(0.6) + Math.log(0.9)) / 4);
    close(logLoss([0.5], [1]), Math.log(2));
  });

  it('NE divides by the entropy of the background CTR, so predicting the CTR scores exactly 1', () => {
    // CTR 0.5 → entropy ln 2
    close(normalizedEntropy(p, y), logLoss(p, y) / Math.log(2));
    close(normalizedEntropy([0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0]), 1);
    close(backgroundEntropy(0.25), -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)));
    assert.ok(Number.isNaN(normalizedEntropy([0.3, 0.3], [0, 0])), 'NE undefined when every label is equal');
  });

  it('AUC is exact and tie-aware', () => {
    close(auc(p, y), 1); // every positive ranked above every negative
    close(auc([0.1, 0.9, 0.2, 0.6], [1, 0, 1, 0]), 0);
    close(auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]), 0.5); // all tied → average ranks → 0.5
    // Pairs (pos,neg): (0.8,0.3)=1, (0.8,0.5)=1, (0.5,0.3)=1, (0.5,0.5)=0.5 → 3.5/4
    close(auc([0.8, 0.5, 0.3, 0.5], [1, 1, 0, 0]), 0.875);
  });

  it('calibration is predicted clicks over observed clicks', () => {
    close(calibration(p, y), (0.9 + 0.2 + 0.6 + 0.1) / 2);
  });

  it('relative NE change, regret and gain captured', () => {
    close(relativeNeChange(0.78, 0.8), -0.025);
    close(regret(0.8, 0.7), 0.1);
    close(gainCaptured(0.75, 0.8, 0.7), 0.5);
    close(gainCaptured(0.7, 0.8, 0.7), 1);
  });

  it('standard error of NE comes from the per-example log loss variance', () => {
    const losses = [-Math.log(0.9), -Math.log(0.8), -Math.log(0.6), -Math.log(0.9)];
    const mean = losses.reduce((a, b) => a + b) / 4;
    const variance = losses.reduce((a, l) => a + (l - mean) ** 2, 0) / 3;
    close(normalizedEntropyStdErr(p, y), Math.sqrt(variance / 4) / Math.log(2));
  });

  it('per-segment NE uses each segment’s own CTR, most frequent segments first', () => {
    const segs = segmentNormalizedEntropy([0.5, 0.5, 0.9, 0.2, 0.3], [1, 0, 1, 0, 1], ['a', 'a', 'b', 'b', 'c'], 'C1', 2);
    assert.deepEqual(
      segs.map((s) => [s.value, s.count]),
      [
        ['a', 2],
        ['b', 2],
      ],
    );
    close(segs[0].ne, 1); // predicting 0.5 where CTR is 0.5
    close(segs[1].ne, (-Math.log(0.9) - Math.log(0.8)) / 2 / Math.log(2));
  });
});
