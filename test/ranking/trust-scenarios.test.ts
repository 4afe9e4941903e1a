import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { driftStartCtr } from '../../contracts/wide-planted';
import { InvalidInputError } from '../../contracts/errors';
import { WideRowStream, generateWideScenario, interactionTerms, plantWideTruth } from '../../ranking/data/wide-planted';
import { BENCH_TRUST_SCENARIOS, namedWideScenario, resolveWideScenario } from '../../ranking/data/wide-scenarios';
import { normalizedEntropy } from '../../ranking/metrics';

/**
 * The planted cases of real logs' trouble (`rankwright generate --scenario rare-clicks|drift|small-data`): click
 * rates and clicks as specified at their default sizes and under a `rows` override, a drift whose oracle is the
 * test period's truth, and the scenarios that existed before them unchanged to the byte.
 */
describe('planted rare-clicks, drift and small-data scenarios', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const tempDir = (tag: string) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `rw-trust-${tag}-`));
    dirs.push(d);
    return d;
  };
  const lines = (file: string) => fs.readFileSync(file, 'utf8').trimEnd().split('\n');

  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('their defaults: ≈0.3% CTR with over 1,000 training clicks; ≈30k rows and ≈150 clicks; a drift in time order', () => {
    assert.deepEqual(BENCH_TRUST_SCENARIOS, ['rare-clicks', 'drift', 'small-data']);
    const rare = namedWideScenario('rare-clicks');
    assert.equal(rare.baseCtr, 0.003);
    assert.ok(rare.trainRows * rare.baseCtr > 1_000, 'enough training clicks to learn from');
    const small = namedWideScenario('small-data');
    assert.equal(small.trainRows, 30_000);
    assert.ok(Math.abs(small.trainRows * small.baseCtr - 150) <= 20);
    assert.equal(small.validationRows, 0, 'the validation tail of train: a few clicks, as in real small logs');
    const drift = namedWideScenario('drift');
    assert.equal(drift.drift?.ctrRatio, 0.5);
    assert.equal(drift.drift?.flip, 'C2×C9');
    for (const o of [rare, small, drift]) assert.ok(o.description && o.description.length > 40);
  });

  it('small-data at its default size and rare-clicks under a rows override hit their click rates', async () => {
    const small = await generateWideScenario(namedWideScenario('small-data'), tempDir('small'));
    assert.equal(small.meta.splits.train.rows, 30_000);
    const clicks = small.meta.splits.train.clicks;
    assert.ok(clicks >= 110 && clicks <= 220, `small-data: ${clicks} training clicks`);
    const rare = await generateWideScenario(resolveWideScenario('rare-clicks', { rows: 100_000 }), tempDir('rare'));
    for (const split of ['train', 'validation', 'test'] as const) {
      const s = rare.meta.splits[split]!;
      assert.ok(s.ctr > 0.002 && s.ctr < 0.004, `rare-clicks ${split}: CTR ${s.ctr}`);
    }
    assert.deepEqual([rare.meta.splits.train.rows, rare.meta.splits.validation!.rows, rare.meta.splits.test.rows], [100_000, 20_000, 40_000]);
    assert.ok(rare.meta.oracle.ne < 0.95, `rare-clicks carries learnable signal: oracle NE ${rare.meta.oracle.ne}`);
  });

  it("drift: the click rate halves across training and falls on through test, whose oracle is the test period's truth", async () => {
    const dir = tempDir('drift');
    const { meta } = await generateWideScenario(resolveWideScenario('drift', { rows: 40_000 }), dir);
    const d = meta.structure.drift!;
    assert.deepEqual(d.periods, { train: [0, 1], test: [1, 1.5] });
    assert.ok(Math.abs(d.trendCtr.trainEnd / d.trendCtr.trainStart - 0.5) < 1e-6);
    // baseCtr is the average over training; the trend's rate at the start makes it so.
    assert.ok(Math.abs(d.trendCtr.trainStart - driftStartCtr(0.02, 0.5)) < 1e-6);
    assert.ok(Math.abs(meta.splits.train.ctr - 0.02) < 0.003, `train CTR ${meta.splits.train.ctr}`);

    // The training file is in time order: its first quarter clicks about twice as often as its last.
    const labels = lines(path.join(dir, 'train.tsv')).map((l) => (l[0] === '1' ? 1 : 0));
    const quarter = labels.length / 4;
    const rate = (from: number, to: number) => labels.slice(from, to).reduce((a: number, b) => a + b, 0) / (to - from);
    const firstQuarter = rate(0, quarter);
    const lastQuarter = rate(3 * quarter, labels.length);
    assert.ok(firstQuarter / lastQuarter > 1.4 && firstQuarter / lastQuarter < 2.2, `first quarter ${firstQuarter}, last ${lastQuarter}`);

    // The test rows' truth is the test period's: their mean true probability is the trend's average over [1, 1.5].
    const truth = lines(path.join(dir, 'test.truth.tsv')).map(Number);
    const testLabels = lines(path.join(dir, 'test.tsv')).map((l) => (l[0] === '1' ? 1 : 0));
    const start = driftStartCtr(0.02, 0.5);
    const expected = (start * (Math.pow(0.5, 1) - Math.pow(0.5, 1.5))) / (0.5 * Math.log(2));
    const mean = truth.reduce((a, b) => a + b, 0) / truth.length;
    assert.ok(Math.abs(mean / expected - 1) < 0.05, `test's mean true probability ${mean} vs the trend's ${expected}`);
    assert.ok(Math.abs(meta.splits.test.oracle.meanProbability - mean) < 1e-9);
    assert.equal(meta.oracle.ne, normalizedEntropy(truth, testLabels));
    assert.ok(meta.splits.test.ctr < meta.splits.train.ctr / 1.4);
  });

  it('drift: the flipped cross turns its sign over time; the other terms do not move', () => {
    const truth = plantWideTruth(namedWideScenario('drift'));
    const names = interactionTerms(truth).map((t) => t.name);
    const flipped = names.indexOf('C2×C9');
    assert.ok(flipped >= 0);
    // The same random numbers drawn at two moments: the same rows, the flipped term's sign turned.
    const early = new WideRowStream(truth, 'pilot', 200, { at: 0 });
    const late = new WideRowStream(truth, 'pilot', 200, { at: 1 });
    let nonZero = 0;
    for (let i = 0; i < 200; i++) {
      const a = early.next();
      const b = late.next();
      names.forEach((name, t) => {
        if (t === flipped) assert.ok(Math.abs(a.terms[t] + b.terms[t]) < 1e-12, `${name} at τ=0 ${a.terms[t]}, at τ=1 ${b.terms[t]}`);
        else if (!name.includes('C4')) assert.equal(a.terms[t], b.terms[t], name);
      });
      if (a.terms[flipped] !== 0) nonZero++;
    }
    assert.ok(nonZero > 100);
    assert.throws(
      () => plantWideTruth({ ...namedWideScenario('drift'), drift: { flip: 'C1×C2' } }),
      (e: unknown) => e instanceof InvalidInputError && /drift\.flip: "C1×C2" is not a planted interaction term \(C2×C9, C5×C14/.test(e.message),
    );
  });

  it('the scenarios that came before keep their bytes (new options default to nothing)', async () => {
    const dir = tempDir('tiny');
    await generateWideScenario(namedWideScenario('wide-tiny'), dir);
    const digest = (f: string) =>
      createHash('sha256')
        .update(fs.readFileSync(path.join(dir, f)))
        .digest('hex')
        .slice(0, 16);
    // Recorded before the drift options existed.
    assert.deepEqual(
      { train: digest('train.tsv'), test: digest('test.tsv'), truth: digest('test.truth.tsv') },
      { train: '08e820b32206d8c3', test: 'c4b0899f989dfa8b', truth: '06c6c43fb296b049' },
    );
  });
});
