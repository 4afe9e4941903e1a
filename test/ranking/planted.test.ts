import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { plantedScenario } from '../../ranking/data/planted';
import { writeCriteoTsv } from '../../ranking/data/criteo-writer';
import { readCriteoFile } from '../../ranking/data/criteo-reader';
import { driftFindings } from '../../contracts';
import { describeData } from '../../ranking';
import { logLoss, normalizedEntropy } from '../../ranking/metrics';

const small = { trainRows: 3000, validationRows: 1000, testRows: 4000 };

describe('planted-truth generator', () => {
  it('is deterministic by seed, and a different seed gives different data', () => {
    const a = plantedScenario({ ...small, seed: 3 });
    const b = plantedScenario({ ...small, seed: 3 });
    const c = plantedScenario({ ...small, seed: 4 });
    assert.deepEqual(a.train.categorical, b.train.categorical);
    assert.deepEqual(a.test.labels, b.test.labels);
    assert.deepEqual(a.testTruth, b.testTruth);
    assert.deepEqual(a.plantedCrosses, b.plantedCrosses);
    assert.notDeepEqual(a.train.categorical, c.train.categorical);
  });

  it('reports the oracle (Bayes-optimal) NE of the test set from the true probabilities', () => {
    const s = plantedScenario(small);
    assert.equal(s.oracle.ne, normalizedEntropy(s.testTruth, s.test.labels));
    assert.equal(s.oracle.logloss, logLoss(s.testTruth, s.test.labels));
    assert.ok(s.oracle.ne > 0.2 && s.oracle.ne < 0.95, `oracle NE ${s.oracle.ne} should show learnable signal`);
    const ctr = s.train.labels.reduce((a, b) => a + b, 0) / s.train.rows;
    assert.ok(Math.abs(ctr - 0.1) < 0.02, `train CTR ${ctr} ≈ baseCtr 0.1`);
  });

  it('honours the layout options: active fields, missing values, explicit planted crosses', () => {
    const s = plantedScenario({ ...small, categoricalFields: 5, denseFields: 2, missingRate: 0.2, crosses: [['C2', 'C5']] });
    assert.deepEqual(s.activeCategorical, [0, 1, 2, 3, 4]);
    assert.deepEqual(s.plantedCrosses, [['C2', 'C5']]);
    let missing = 0;
    for (let r = 0; r < s.train.rows; r++) if (s.train.categorical[r * 26] === 0) missing++;
    assert.ok(Math.abs(missing / s.train.rows - 0.2) < 0.03, `missing share ${missing / s.train.rows}`);
    for (let r = 0; r < 50; r++) assert.equal(s.train.categorical[r * 26 + 5], 0, 'C6 inactive');
    assert.throws(() => plantedScenario({ ...small, categoricalFields: 4, crosses: [['C1', 'C9']] }), /"C9" is not an active categorical field/);
  });

  it('drift changes the test distribution only', () => {
    const a = plantedScenario({ ...small, drift: 0 });
    const b = plantedScenario({ ...small, drift: 0.8 });
    assert.deepEqual(a.train.categorical, b.train.categorical);
    assert.notDeepEqual(a.test.categorical, b.test.categorical);
  });

  it('writes real TSV that the file loader reads back into the same representation', async () => {
    const s = plantedScenario({ ...small, trainRows: 500 });
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rw-planted-')), 'train.tsv');
    await writeCriteoTsv(file, s.train, s.valueNames);
    const { block } = await readCriteoFile(file, { maxBadRowFraction: 0 });
    assert.deepEqual(block.labels, s.train.labels);
    assert.deepEqual(block.categorical, s.train.categorical);
    assert.deepEqual(block.dense, s.train.dense);
  });

  it('describeData: stable fingerprint, oracle NE and active fields', async () => {
    const d1 = await describeData({ planted: small });
    const d2 = await describeData({ planted: { ...small } });
    const d3 = await describeData({ planted: { ...small, seed: 99 } });
    assert.equal(d1.fingerprint, d2.fingerprint);
    assert.notEqual(d1.fingerprint, d3.fingerprint);
    assert.equal(d1.kind, 'planted');
    assert.equal(d1.trainRows, 3000);
    assert.equal(d1.testRows, 4000);
    assert.deepEqual(d1.activeCategoricalFields, ['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8']);
    assert.equal(typeof d1.oracleNe, 'number');
  });

  it("describeData: the generator's test drift shows as a shift of every categorical field and of no dense one", async () => {
    const sizes = { trainRows: 10_000, validationRows: 3_000, testRows: 5_000 };
    const shifted = new Set(
      driftFindings((await describeData({ planted: { ...sizes, drift: 0.3 } })).drift!)
        .filter((f) => f.kind === 'field-shift')
        .map((f) => f.field),
    );
    assert.deepEqual([...shifted].sort(), ['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8']);
    const stationary = (await describeData({ planted: sizes })).drift!;
    assert.deepEqual(
      driftFindings(stationary).filter((f) => f.kind === 'field-shift'),
      [],
    );
  });

  it('describeData on Criteo files fingerprints file contents and splits validation by position', async () => {
    const data = {
      format: 'criteo-tsv' as const,
      train: 'test/fixtures/criteo/train.tsv',
      test: 'test/fixtures/criteo/test.tsv',
      validationFraction: 0.25,
    };
    const d = await describeData(data);
    assert.equal(d.kind, 'criteo');
    assert.equal(d.trainRows, 30); // 40 rows, last 25% validate
    assert.equal(d.testRows, 20);
    assert.equal(d.oracleNe, undefined);
    assert.deepEqual(d.activeCategoricalFields, ['C1', 'C2', 'C3', 'C4', 'C5', 'C6']);
    assert.match(d.fingerprint, /^criteo:[0-9a-f]{32}$/);
  });
});
