import { strict as assert } from 'node:assert';
import { evaluateHeuristically } from '../../agents/heuristic-evaluator';
import { candidate, evaluateRequest } from './fixtures';

describe('heuristic result evaluator', () => {
  it('ranks on NE, flags significance, recommends the best and explains it (NE %, AUC, calibration, oracle share, runner-up)', () => {
    const res = evaluateHeuristically(evaluateRequest());
    assert.equal(res.source, 'heuristic');
    assert.deepEqual(
      res.ranking.map((r) => r.experimentId),
      ['fm-x', 'lr-x', 'lr-noise'],
    );
    assert.deepEqual(
      res.ranking.map((r) => r.significant),
      [true, true, false],
      '0.19% with SE 0.0014 is noise',
    );
    assert.equal(res.recommended, 'fm-x');
    assert.match(res.rationale, /-5\.00%/);
    assert.match(res.rationale, /AUC 0\.780/);
    assert.match(res.rationale, /calibration 1\.010/);
    assert.match(res.rationale, /captures 40% of the achievable gain/);
    assert.match(res.rationale, /Runner-up lr-x/);
  });

  it('never recommends a candidate with guardrail violations, however good its NE', () => {
    const req = evaluateRequest();
    req.candidates[0] = { ...req.candidates[0], guardrailViolations: ['calibration 1.3 outside [0.9, 1.1]'] };
    const res = evaluateHeuristically(req);
    assert.equal(res.recommended, 'lr-x');
    assert.equal(res.ranking[0].experimentId, 'fm-x', 'still ranked on NE, for the record');
    assert.match(res.ranking[0].note, /blocked by guardrails/);
    assert.match(res.rationale, /Excluded by guardrails: fm-x/);
  });

  it('recommends nobody when nothing beats the baseline significantly, and says so', () => {
    const res = evaluateHeuristically(
      evaluateRequest({
        candidates: [candidate('lr-noise', { family: 'lr', learningRate: 0.2 }, 0.7985), candidate('worse', { family: 'fm' }, 0.81)],
      }),
    );
    assert.equal(res.recommended, null);
    assert.match(res.rationale, /No recommendation: none of the 2 eligible candidates beats the baseline/);
  });

  it('recommends nobody when every candidate failed or breaks a guardrail', () => {
    const res = evaluateHeuristically(
      evaluateRequest({
        candidates: [
          candidate('blocked', { family: 'fm' }, 0.7, { guardrailViolations: ['model too large'] }),
          candidate('failed', { family: 'dcn' }, 0.7, { status: 'failed', ne: undefined, failureClass: 'diverged' }),
        ],
      }),
    );
    assert.equal(res.recommended, null);
    assert.equal(res.ranking[res.ranking.length - 1].experimentId, 'failed', 'unmeasured runs rank last');
    assert.match(res.rationale, /none of the 2 candidates is eligible/);
  });

  it('a significant gain needs more than 2 combined standard errors', () => {
    const noisy = candidate('noisy', { family: 'fm' }, 0.78, { neStdErr: 0.015 });
    const res = evaluateHeuristically(evaluateRequest({ candidates: [noisy] }));
    assert.equal(res.ranking[0].significant, false, '0.02 < 2 × sqrt(0.015² + 0.001²)');
    assert.equal(res.recommended, null);
  });
});
