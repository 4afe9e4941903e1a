import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DRIFT_THRESHOLDS, DataDrift, DriftFinding, driftFindings, formatCtr, formatRatio, type BaseRate } from '../../contracts';
import { clearDatasetCache } from '../../ranking';
import { describeData, measureDrift } from '../../ranking/data/describe';
import { loadDataset } from '../../ranking/data/load-data';
import { generateWideScenario } from '../../ranking/data/wide-planted';
import { resolveWideScenario } from '../../ranking/data/wide-scenarios';

/**
 * Drift and base rates (describeData's `drift`, contracts/drift.ts's findings): measured on the planted `drift`
 * scenario, whose click rate halves across training and keeps falling through test and whose C4 popularity order
 * turns over, and on stationary data, where nothing may be found.
 */
describe('drift and base rates', function () {
  this.timeout(120_000);
  let dir: string;
  let drifting: { format: 'criteo-tsv'; train: string; test: string };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-drift-'));
    // 40k train rows (the last 4k validate: no validation file), 10k test rows.
    await generateWideScenario(resolveWideScenario('drift', { rows: 40_000 }), dir);
    drifting = { format: 'criteo-tsv', train: path.join(dir, 'train.tsv'), test: path.join(dir, 'test.tsv') };
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    clearDatasetCache();
  });

  it('measures the drift scenario: test CTR well below train, a falling trend, C4 shifted, the other fields stable', async () => {
    const described = await describeData(drifting);
    const drift = DataDrift.parse(described.drift);
    assert.equal(drift.order, 'position');
    assert.deepEqual(
      [drift.splits.train.rows, drift.splits.validation.rows, drift.splits.test.rows],
      [36_000, 4_000, 10_000],
      'the last 10% of train validates',
    );
    const { train, validation, test } = drift.splits;
    assert.ok(test.ctr < train.ctr / 1.4, `test CTR ${test.ctr} vs train ${train.ctr}`);
    assert.ok(Math.abs(train.ctr - described.ctr) < 1e-6, 'the same training click rate as `ctr`');

    // Eight slices of train in order, then validation and test; the rate falls along them.
    assert.deepEqual(
      drift.slices.map((s) => s.split),
      [...Array<string>(8).fill('train'), 'validation', 'test'],
    );
    assert.equal(
      drift.slices.filter((s) => s.split === 'train').reduce((n, s) => n + s.rows, 0),
      train.rows,
    );
    const first = drift.slices[0];
    const last = drift.slices[7];
    assert.ok(first.ctr > 1.4 * last.ctr, `first eighth ${first.ctr}, last ${last.ctr}`);
    // Validation is the latest rows: nearer test's rate than training's average is.
    assert.ok(Math.abs(Math.log(validation.ctr / test.ctr)) < Math.abs(Math.log(train.ctr / test.ctr)));

    const findings = driftFindings(drift);
    const kinds = findings.map((f) => f.kind);
    assert.ok(kinds.includes('test-base-rate'), kinds.join(', '));
    assert.ok(kinds.includes('base-rate-trend'), kinds.join(', '));
    const testRate = findings.find((f) => f.kind === 'test-base-rate')!;
    assert.match(testRate.text, /^Test CTR is \d(\.\d)?x below training \(\d\.\d+% vs \d\.\d+%\): .*judge ranking by AUC/);
    assert.match(findings.find((f) => f.kind === 'base-rate-trend')!.text, /falls .* across training.*rows in file order/);

    // C4's popularity order turns over: the one field that shifted; every other field's index is about 0.
    assert.equal(drift.stability[0].field, 'C4');
    assert.ok(drift.stability[0].psi > DRIFT_THRESHOLDS.psiMajor, `C4 PSI ${drift.stability[0].psi}`);
    assert.deepEqual(
      findings.filter((f) => f.kind === 'field-shift').map((f) => f.field),
      ['C4'],
    );
    for (const s of drift.stability.slice(1)) assert.ok(s.psi < 0.02, `${s.field}: PSI ${s.psi} on a stationary field`);
    assert.equal(drift.fieldsMeasured, 39);
    // Small enough for a workflow history.
    assert.ok(JSON.stringify(drift).length < 4_000);
  });

  it('a streamed (out-of-core) training set measures the same: counts over all rows, slices by position', async () => {
    clearDatasetCache();
    const held = await loadDataset(drifting, { maxInMemoryTrainRows: 1_000_000 });
    const streamed = await loadDataset(drifting, { maxInMemoryTrainRows: 1_000 });
    assert.ok(streamed.trainOnDisk && !held.trainOnDisk);
    // Under TRAIN_SAMPLE_ROWS training rows the held sample is every row: the stability index agrees too.
    assert.deepEqual(measureDrift(streamed), measureDrift(held));
  });

  it('finds nothing on a stationary scenario: no drift finding, every stability index about 0', async () => {
    const described = await describeData({ planted: { trainRows: 40_000, validationRows: 8_000, testRows: 10_000, seed: 3 } });
    const drift = described.drift!;
    assert.deepEqual(driftFindings(drift), []);
    for (const s of drift.stability) assert.ok(s.psi < 0.01, `${s.field}: PSI ${s.psi}`);
    const slices = drift.slices.filter((s) => s.split === 'train');
    assert.ok(slices[0].ctr / slices[7].ctr < 1.3 && slices[7].ctr / slices[0].ctr < 1.3);
  });

  describe('findings (pure)', () => {
    const rate = (rows: number, ctr: number): BaseRate => ({ rows, clicks: Math.round(rows * ctr), ctr });
    const driftOf = (over: Partial<DataDrift> & { splits: DataDrift['splits'] }): DataDrift => ({
      order: 'position',
      slices: [],
      stability: [],
      fieldsMeasured: 0,
      stabilityRows: { train: 0, test: 0 },
      ...over,
    });

    it('says what a test period 4x below training means, and how few validation clicks there are', () => {
      // Log 1 of issue 22: train 0.95%, test 0.24%, a validation tail of ~20 clicks.
      const drift = driftOf({ splits: { train: rate(40_000, 0.0095), validation: rate(2_100, 0.0095), test: rate(60_000, 0.0024) } });
      const findings = driftFindings(drift);
      assert.deepEqual(
        findings.map((f) => [f.kind, f.severity, f.split ?? '']),
        [
          ['test-base-rate', 'major', ''],
          ['validation-test-base-rate', 'major', ''],
          ['few-clicks', 'major', 'validation'],
          ['few-clicks', 'moderate', 'train'],
          ['few-clicks', 'moderate', 'test'],
        ],
      );
      assert.equal(
        findings[0].text,
        "Test CTR is 4x below training (0.24% vs 0.95%): models fitted on training over-predict on test, so test NE will be dominated by calibration; judge ranking by AUC, and NE against a constant at the test period's rate.",
      );
      assert.match(
        findings[2].text,
        /^The validation split holds 20 clicks \(2100 rows, CTR 0\.95%\), under 100: its click rate alone is known to ±45%/,
      );
      for (const f of findings) DriftFinding.parse(f);
      // Deterministic: the same numbers, the same findings, down to the text.
      assert.deepEqual(driftFindings(structuredClone(drift)), findings);
    });

    it("a shift within noise is no finding; validation at test's level is said to track it", () => {
      // 2x, but on 6 clicks against 3: sampling.
      assert.deepEqual(
        driftFindings(driftOf({ splits: { train: rate(3_000, 0.002), validation: rate(0, 0), test: rate(3_000, 0.001) } })).filter(
          (f) => f.kind !== 'few-clicks',
        ),
        [],
      );
      const tracked = driftFindings(driftOf({ splits: { train: rate(400_000, 0.02), validation: rate(100_000, 0.011), test: rate(100_000, 0.01) } }));
      assert.deepEqual(
        tracked.map((f) => f.kind),
        ['test-base-rate'],
      );
      assert.match(tracked[0].text, /2x below training .* Validation \(1\.1%\) is close to test: calibrating on validation tracks test\.$/);
    });

    it('field shifts: major from PSI 0.25, moderate from 0.1, never within a few times sampling noise; schema column names', () => {
      const field = (name: string, psi: number, noise = 0.001) => ({
        field: name,
        kind: 'categorical' as const,
        psi,
        buckets: 22,
        noise,
        moved: { bucket: '"abc"', trainShare: 0.05, testShare: 0.3 },
      });
      const big = rate(1_000_000, 0.1);
      const findings = driftFindings(
        driftOf({
          splits: { train: big, validation: big, test: big },
          stability: [field('C3', 0.6), field('C1', 0.15), field('C2', 0.12, 0.05), field('C4', 0.05)],
        }),
        { C3: 'advertiser' },
      );
      assert.deepEqual(
        findings.map((f) => [f.field, f.severity]),
        [
          ['C3', 'major'],
          ['C1', 'moderate'],
        ],
      );
      assert.match(
        findings[0].text,
        /^advertiser shifted between train and test \(PSI 0\.60, a major shift: ≥ 0\.25\); value "abc" went from 5\.0% of training rows to 30% of test rows/,
      );
    });

    it('rounds numbers in text the same way every time', () => {
      assert.deepEqual([4, 1.749, 1.75, 12.4, 1].map(formatRatio), ['4x', '1.7x', '1.8x', '12x', '1x']);
      assert.deepEqual([0.0095, 0.0024, 0.25, 0.0312, 0.00001, 0].map(formatCtr), ['0.95%', '0.24%', '25%', '3.1%', '0.001%', '0%']);
    });
  });
});
