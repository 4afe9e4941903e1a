import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CATEGORICAL_FIELDS, DENSE_FIELDS, DataConfig, ModelConfig, type ModelConfigInput } from '../../contracts';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { keepDataFields } from '../../contracts/field-names';
import { InvalidInputError } from '../../contracts/errors';
import { clampToSearchSpace } from '../../agents/search-space';
import { SearchSpace } from '../../contracts/campaign';
import { TrainingFailure, describeData, loadModelArtifact, scoreFile, trainExperiment } from '../../ranking';
import { readCriteoFile } from '../../ranking/data/criteo-reader';
import { loadDataset } from '../../ranking/data/load-data';
import {
  buildFeatureSpec,
  encodeRows,
  featureTableRows,
  fitQuantileBoundaries,
  slotNames,
  slotTablesOf,
  type FeatureSpec,
} from '../../ranking/features';
import { combineHashes, hashFieldValue } from '../../ranking/hash';
import { DistinctCounter, autoHashBits, expectedCollisionRate } from '../../ranking/hash-space';
import { auc, normalizedEntropy } from '../../ranking/metrics';
import { SeededRandom } from '../../ranking/rng';

/**
 * Field-level knobs (per-field transform, quantile buckets, hash bits, drop; 3-field crosses) through the real Criteo
 * loader, trainer, artifact and scorer, on small generated TSV files whose truth we know.
 */

interface Row {
  label: number;
  dense?: Record<string, number | ''>;
  cat?: Record<string, string>;
}

function criteoLine(row: Row): string {
  const dense = DENSE_FIELDS.map((f) => String(row.dense?.[f] ?? ''));
  const cat = CATEGORICAL_FIELDS.map((f) => row.cat?.[f] ?? '');
  return [String(row.label), ...dense, ...cat].join('\t');
}

function writeRows(file: string, rows: Row[]): string {
  fs.writeFileSync(file, rows.map(criteoLine).join('\n') + '\n');
  return file;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Wide-ish rows: I1 a skewed count with a non-monotone effect (clicks peak at mid values: a numeric weight cannot
 * fit it, buckets can), I2 a count with a monotone effect, I3 large values (standardize), C1..C4 of different
 * cardinalities with value effects, C5 pure noise.
 */
function wideRows(n: number, seed: number, shift = 0): Row[] {
  const rng = new SeededRandom(seed);
  const c1Effect = Array.from({ length: 40 }, () => rng.gaussian() * 0.8);
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const i1 = Math.floor(Math.exp(rng.gaussian() * 1.5 + 2 + shift));
    const i2 = Math.floor(rng.next() * 50);
    const i3 = Math.round(1000 + rng.gaussian() * 200);
    const c1 = Math.floor(rng.next() ** 2 * 40);
    const c2 = Math.floor(rng.next() * 5);
    const c3 = Math.floor(rng.next() * 600);
    const logI1 = Math.log1p(i1);
    const z = -1.2 + (logI1 > 2 && logI1 < 3.5 ? 1.6 : -0.4) + 0.02 * i2 + c1Effect[c1] + (c2 === 3 ? 0.7 : 0) + (i3 - 1000) / 400;
    rows.push({
      label: rng.next() < sigmoid(z) ? 1 : 0,
      dense: { I1: i1, I2: i2, I3: i3, I4: rng.next() < 0.3 ? '' : Math.floor(rng.next() * 7) },
      cat: {
        C1: `a${c1}`,
        C2: `b${c2}`,
        C3: `c${c3}`,
        C4: rng.next() < 0.2 ? '' : `d${Math.floor(rng.next() * 3000)}`,
        C5: `e${Math.floor(rng.next() * 20)}`,
      },
    });
  }
  return rows;
}

/** A planted 3-way interaction: the click rate depends only on the parity of three binary fields (no pair carries any signal). */
function parityRows(n: number, seed: number): Row[] {
  const rng = new SeededRandom(seed);
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const bits = [0, 1, 2].map(() => (rng.next() < 0.5 ? 1 : 0));
    const odd = (bits[0] + bits[1] + bits[2]) % 2 === 1;
    rows.push({
      label: rng.next() < (odd ? 0.8 : 0.2) ? 1 : 0,
      cat: { C1: `x${bits[0]}`, C2: `y${bits[1]}`, C3: `z${bits[2]}`, C4: `n${Math.floor(rng.next() * 10)}` },
    });
  }
  return rows;
}

async function readScores(file: string): Promise<Float64Array> {
  return Float64Array.from(fs.readFileSync(file, 'utf8').trim().split('\n').map(Number));
}

async function scoreWith(artifact: string, input: string): Promise<Float64Array> {
  const out = path.join(path.dirname(input), `${path.basename(input)}.${Math.random().toString(36).slice(2)}.scores`);
  await scoreFile(artifact, input, out);
  return readScores(out);
}

async function invalid(model: ModelConfigInput | Record<string, unknown>, data: unknown): Promise<string> {
  try {
    await trainExperiment({ data: data as never, model: model as ModelConfigInput });
  } catch (e) {
    assert.ok(e instanceof InvalidInputError, `expected an InvalidInputError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected the config to be refused');
}

describe('field-level knobs', function () {
  let dir: string;
  let wide: { format: 'criteo-tsv'; train: string; validation: string; test: string };
  let parity: { format: 'criteo-tsv'; train: string; validation: string; test: string };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-field-knobs-'));
    wide = {
      format: 'criteo-tsv',
      train: writeRows(path.join(dir, 'wide-train.tsv'), wideRows(8000, 1)),
      validation: writeRows(path.join(dir, 'wide-validation.tsv'), wideRows(1500, 2)),
      // The test rows' I1 is shifted: boundaries fitted on test would differ from train's.
      test: writeRows(path.join(dir, 'wide-test.tsv'), wideRows(3000, 3, 0.5)),
    };
    parity = {
      format: 'criteo-tsv',
      train: writeRows(path.join(dir, 'parity-train.tsv'), parityRows(6000, 4)),
      validation: writeRows(path.join(dir, 'parity-validation.tsv'), parityRows(1000, 5)),
      test: writeRows(path.join(dir, 'parity-test.tsv'), parityRows(3000, 6)),
    };
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('the contract', () => {
    it('accepts per-field knobs, 3-field crosses and hashSpace; old configs parse unchanged', () => {
      const c = ModelConfig.parse({
        family: 'fm',
        crosses: [
          ['C1', 'C2', 'I3'],
          ['C4', 'C5'],
        ],
        fields: {
          I1: { transform: 'quantile', buckets: 8 },
          I2: { transform: 'standardize' },
          C3: { hashBits: 12 },
          C5: { hashBits: 'auto' },
          C6: { drop: true },
        },
        hashSpace: 'per-field',
      });
      assert.deepEqual(c.crosses[0], ['C1', 'C2', 'I3']);
      const old = ModelConfig.parse({ family: 'lr', hashBits: 16, denseTransform: 'bucketize', crosses: [['C1', 'C2']] });
      assert.equal(old.fields, undefined, 'no new keys appear in a config that does not use them');
      assert.equal(old.hashSpace, undefined);
      assert.equal(ModelConfig.parse({ family: 'lr', denseTransform: 'quantile' }).denseTransform, 'quantile');
    });

    it('refuses bad knobs with an error naming the field', async () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ fields: { C99: { drop: true } } }, /fields\.C99: unknown field "C99"/],
        [{ fields: { C3: { transform: 'log' } } }, /fields\.C3\.transform: C3 is categorical: transform applies to dense fields/],
        [{ fields: { C3: { buckets: 4 } } }, /fields\.C3\.buckets: C3 is categorical/],
        [{ fields: { I2: { hashBits: 12 } } }, /fields\.I2\.hashBits: I2 is dense: hashBits applies to categorical fields/],
        [
          { fields: { I2: { transform: 'log', buckets: 4 } } },
          /fields\.I2\.buckets: I2: buckets applies to the quantile transform, and I2's transform is log/,
        ],
        [{ fields: { C3: { hashBits: 30 } } }, /fields\.C3\.hashBits/],
        [{ fields: { C3: { dropp: true } } }, /fields\.C3\.dropp: unknown field/],
        [{ fields: { I5: { transform: 'sqrt' } } }, /fields\.I5\.transform/],
        [{ crosses: [['C1', 'C2', 'C3']], fields: { C2: { drop: true } } }, /crosses\.0: cross C1×C2×C3 uses C2, which is dropped/],
        [{ crosses: [['C1', 'C2', 'C1']] }, /crosses\.0: a cross needs two different fields, or three different fields/],
        [{ hashSpace: 'huge' }, /hashSpace/],
      ];
      for (const [extra, expected] of cases) assert.match(await invalid({ family: 'lr', ...extra }, wide), expected);
    });

    it('distinguishes a triple from its pairs in canonical keys, and the search-space clamp keeps the knobs', () => {
      assert.notEqual(
        canonicalConfigKey({ family: 'lr', crosses: [['C1', 'C2', 'C3']] }),
        canonicalConfigKey({ family: 'lr', crosses: [['C1', 'C2']] }),
      );
      assert.equal(
        canonicalConfigKey({ family: 'lr', crosses: [['C3', 'C1', 'C2']] }),
        canonicalConfigKey({ family: 'lr', crosses: [['C1', 'C2', 'C3']] }),
      );
      const space = SearchSpace.parse({});
      const clamped = clampToSearchSpace(
        {
          family: 'lr',
          crosses: [
            ['C1', 'C2', 'C3'],
            ['C3', 'C2', 'C1'],
            ['C4', 'C5'],
            ['C4', 'C6'],
          ],
          fields: { I1: { transform: 'quantile', buckets: 8 }, C6: { drop: true }, C99: { drop: true }, C2: { transform: 'log' } },
          hashSpace: 'per-field',
        },
        space,
      );
      assert.deepEqual(
        clamped.crosses,
        [
          ['C1', 'C2', 'C3'],
          ['C4', 'C5'],
        ],
        'triples kept and deduped, crosses of a dropped field removed',
      );
      assert.deepEqual(
        clamped.fields,
        { I1: { transform: 'quantile', buckets: 8 }, C6: { drop: true }, C99: { drop: true } },
        'bad entries dropped one by one; a slot of any number kept (the clamp does not see the data)',
      );
      assert.equal(clamped.hashSpace, 'per-field');
      // Where the data is known (the design activity), Criteo's data has no C99: its knobs leave the config.
      const criteo = { format: 'criteo-tsv', train: 't.tsv', test: 't.tsv' } as const;
      assert.deepEqual(keepDataFields(clamped, DataConfig.parse(criteo)).fields, { I1: { transform: 'quantile', buckets: 8 }, C6: { drop: true } });
      assert.deepEqual(keepDataFields(clamped, DataConfig.parse(criteo)).crosses, clamped.crosses, 'known crosses kept as they were');
    });
  });

  describe('dense transforms', () => {
    it('quantile boundaries are fitted on train, stored in the artifact, and score reproduces training exactly', async () => {
      const model: ModelConfigInput = {
        family: 'lr',
        fields: {
          I1: { transform: 'quantile', buckets: 10 },
          I2: { transform: 'bucketize' },
          I3: { transform: 'standardize' },
          I4: { transform: 'none' },
        },
      };
      const r = await trainExperiment({ data: wide, model });
      const { header } = await loadModelArtifact(r.artifact);
      const spec = header.featureSpec;
      // Brute force: the boundaries are the train file's 10-quantiles of I1 (not the shifted test file's).
      const i1 = (file: string) =>
        fs
          .readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((line) => Number(line.split('\t')[1]))
          .sort((a, b) => a - b);
      const quantiles = (values: number[]) => [
        ...new Set([1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => values[Math.floor((k * values.length) / 10)]).filter((q) => q > values[0])),
      ];
      const j = spec.denseFields.indexOf(0);
      assert.deepEqual(spec.quantileBoundaries![j], quantiles(i1(wide.train)));
      assert.notDeepEqual(spec.quantileBoundaries![j], quantiles(i1(wide.test)));
      assert.deepEqual(spec.denseTransforms, ['quantile', 'bucketize', 'standardize', 'none']);
      assert.deepEqual(slotNames(spec), ['C1', 'C2', 'C3', 'C4', 'C5', 'I1', 'I2'], 'the bucketed dense fields are categorical slots');
      // Standardize: mean and sd of I3 on train.
      const i3 = fs
        .readFileSync(wide.train, 'utf8')
        .trim()
        .split('\n')
        .map((line) => Number(line.split('\t')[3]));
      const mean = i3.reduce((a, b) => a + b, 0) / i3.length;
      assert.ok(Math.abs(spec.denseMean[2] - mean) < 1e-6);

      // Scoring the test file with the artifact gives the predictions training evaluated (to the printed precision).
      const scores = await scoreWith(r.artifact, wide.test);
      const { block } = await readCriteoFile(wide.test, { maxBadRowFraction: 0 });
      assert.ok(
        Math.abs(normalizedEntropy(scores, block.labels) - r.metrics.ne) < 2e-6,
        `score NE ${normalizedEntropy(scores, block.labels)} vs train-time test NE ${r.metrics.ne}`,
      );
      assert.ok(Math.abs(auc(scores, block.labels) - r.metrics.auc) < 1e-4);
      // The stored spec encodes exactly what a spec fitted again on the same train rows encodes.
      const dataset = await loadDataset(wide);
      const refit = buildFeatureSpec(ModelConfig.parse(model), dataset.train, dataset.active);
      assert.deepEqual(encodeRows(dataset.test, spec).catIndex, encodeRows(dataset.test, refit).catIndex);
      assert.deepEqual(encodeRows(dataset.test, spec).denseValue, encodeRows(dataset.test, refit).denseValue);
    });

    it('a value moved inside its quantile bucket scores the same; across a boundary it does not', async () => {
      const r = await trainExperiment({ data: wide, model: { family: 'lr', fields: { I1: { transform: 'quantile', buckets: 6 } } } });
      const { header } = await loadModelArtifact(r.artifact);
      const bounds = header.featureSpec.quantileBoundaries![header.featureSpec.denseFields.indexOf(0)];
      const rows = wideRows(200, 9);
      const at = (v: number) => rows.map((row) => ({ ...row, dense: { ...row.dense, I1: v } }));
      const [lo, hi] = [bounds[1], bounds[2]];
      const a = await scoreWith(r.artifact, writeRows(path.join(dir, 'q-a.tsv'), at(lo)));
      const b = await scoreWith(r.artifact, writeRows(path.join(dir, 'q-b.tsv'), at(hi - 1)));
      const c = await scoreWith(r.artifact, writeRows(path.join(dir, 'q-c.tsv'), at(hi)));
      assert.ok(hi - 1 >= lo, 'the test needs a bucket wider than one value');
      assert.deepEqual(a, b);
      assert.notDeepEqual(a, c);
    });

    it('bucketed dense fields beat a numeric weight on a non-monotone dense effect', async () => {
      const numeric = await trainExperiment({ data: wide, model: { family: 'lr', denseTransform: 'log' } });
      const quantile = await trainExperiment({ data: wide, model: { family: 'lr', denseTransform: 'quantile' } });
      const bucketize = await trainExperiment({ data: wide, model: { family: 'lr', denseTransform: 'bucketize' } });
      assert.ok(quantile.metrics.ne < numeric.metrics.ne - 0.01, `quantile ${quantile.metrics.ne} vs log ${numeric.metrics.ne}`);
      assert.ok(bucketize.metrics.ne < numeric.metrics.ne - 0.01, `bucketize ${bucketize.metrics.ne} vs log ${numeric.metrics.ne}`);
      assert.ok(numeric.metrics.hashCollisionRate! >= 0 && numeric.metrics.hashCollisionRate! < 0.05, 'train reports the expected collision rate');
    });

    it('encodes a spec written before per-field knobs exactly as before (same slots, same shared-table indices)', async () => {
      const dataset = await loadDataset(wide);
      // The transforms a spec could have before per-field knobs (the default was then `log`).
      const configs: ModelConfigInput[] = [
        { family: 'lr', denseTransform: 'log' },
        { family: 'fm', denseTransform: 'bucketize', crosses: [['C1', 'I2']] },
        { family: 'dcn', denseTransform: 'standardize', hashBits: 12 },
      ];
      for (const config of configs) {
        const spec = buildFeatureSpec(ModelConfig.parse(config), dataset.train, dataset.active);
        const { denseTransforms: _t, quantileBoundaries: _q, hashSpace: _h, slotTables: _s, denseRows: _d, tableRows: _r, ...old } = spec;
        const before = encodeRows(dataset.test, old as FeatureSpec);
        const now = encodeRows(dataset.test, spec);
        assert.deepEqual(now.catIndex, before.catIndex);
        assert.deepEqual(now.denseIndex, before.denseIndex);
        assert.deepEqual(now.denseValue, before.denseValue);
        assert.equal(featureTableRows(spec), 2 ** spec.hashBits);
      }
    });
  });

  describe('hash spaces', () => {
    it('a field with its own hashBits gets a region of that size; per-field sizes every slot from its distinct values', async () => {
      const r = await trainExperiment({ data: wide, model: { family: 'lr', hashBits: 14, fields: { C3: { hashBits: 9 } } } });
      const { header, tensors } = await loadModelArtifact(r.artifact);
      const spec = header.featureSpec;
      const names = slotNames(spec);
      const tables = slotTablesOf(spec);
      const c3 = names.indexOf('C3');
      assert.deepEqual(tables[c3], { offset: 2 ** 14, bits: 9 });
      assert.ok(tables.every((t, s) => s === c3 || t.shared));
      assert.equal(featureTableRows(spec), 2 ** 14 + 2 ** 9);
      const dataset = await loadDataset(wide);
      const encoded = encodeRows(dataset.train, spec);
      const c3Rows = new Set<number>();
      for (let r2 = 0; r2 < encoded.rows; r2++) c3Rows.add(encoded.catIndex[r2 * encoded.catSlots + c3]);
      assert.ok(
        [...c3Rows].every((i) => i >= 2 ** 14 && i < 2 ** 14 + 2 ** 9),
        'C3 lands only in its own region',
      );
      assert.ok(c3Rows.size < 512 && c3Rows.size > 300, `600 values in 512 rows share some rows (${c3Rows.size} used)`);
      // The LR intercept sits right after the table.
      assert.ok((tensors.weightIndex as Int32Array).includes(2 ** 14 + 2 ** 9));

      const auto = await trainExperiment({
        data: wide,
        model: { family: 'lr', hashSpace: 'per-field', crosses: [['C1', 'C2', 'C5']], fields: { I1: { transform: 'quantile' } } },
      });
      const autoSpec = (await loadModelArtifact(auto.artifact)).header.featureSpec;
      const described = await describeData(wide, {
        family: 'lr',
        hashSpace: 'per-field',
        crosses: [['C1', 'C2', 'C5']],
        fields: { I1: { transform: 'quantile' } },
      });
      const autoTables = slotTablesOf(autoSpec);
      slotNames(autoSpec).forEach((name, s) => {
        const reported = described.hashing!.slots.find((x) => x.feature === name)!;
        assert.equal(autoTables[s].bits, autoHashBits(reported.distinct, 18), name);
        assert.equal(autoTables[s].distinct, reported.distinct, name);
        assert.equal(reported.table, 'own');
      });
      // C4's 3,000 values get 2^16 rows, C2's 5 values the minimum 2^8: together still less than one shared 2^18 table.
      assert.equal(autoTables[slotNames(autoSpec).indexOf('C4')].bits, 16);
      assert.equal(autoTables[slotNames(autoSpec).indexOf('C2')].bits, 8);
      assert.ok(featureTableRows(autoSpec) < 2 ** 18, `per-field tables (${featureTableRows(autoSpec)} rows)`);
      assert.ok(auto.metrics.ne < 0.95);
    });

    it('FM and DCN train and score with per-field regions and a 3-field cross', async () => {
      const model = {
        hashSpace: 'per-field',
        crosses: [['C1', 'C2', 'I2']],
        fields: { C3: { hashBits: 10 }, I1: { transform: 'quantile' }, C4: { drop: true } },
        epochs: 2,
      };
      for (const family of ['fm', 'dcn'] as const) {
        const r = await trainExperiment({ data: wide, model: { family, ...model } as unknown as ModelConfigInput });
        const scores = await scoreWith(r.artifact, wide.test);
        const { block } = await readCriteoFile(wide.test, { maxBadRowFraction: 0 });
        assert.ok(Math.abs(normalizedEntropy(scores, block.labels) - r.metrics.ne) < 2e-6, family);
        // A few dozen steps: enough to rank (the bucketed I1 and the C1 effects), not necessarily to beat the base rate's NE.
        assert.ok(r.metrics.auc > 0.6, `${family} learns (AUC ${r.metrics.auc}, NE ${r.metrics.ne})`);
      }
    });

    it('a memory failure counts every region: it names the hashBits that fits, or the fields whose own tables are too big', async () => {
      const failure = async (model: ModelConfigInput, maxMemoryBytes: number) => {
        try {
          await trainExperiment({ data: wide, model, maxMemoryBytes });
        } catch (e) {
          assert.ok(e instanceof TrainingFailure && e.failureClass === 'resource', String(e));
          return e.message;
        }
        assert.fail('expected a resource failure');
      };
      // LR keeps ~28 bytes a table row: 2^20 + 2^10 rows ≈ 28 MiB; 16 MiB fits 2^19 + 2^10.
      assert.match(
        await failure({ family: 'lr', hashBits: 20, fields: { C3: { hashBits: 10 } } }, 16 * 2 ** 20),
        /hashBits 20 .*; hashBits 19 would fit/,
      );
      // C3's own 2^20 rows do not shrink with hashBits.
      assert.match(
        await failure({ family: 'lr', hashBits: 12, fields: { C3: { hashBits: 20 } } }, 16 * 2 ** 20),
        /even hashBits 8 would not fit with the fields' own tables \(C3 2\^20 rows\): lower their hashBits/,
      );
    });
  });

  describe('dropping a field', () => {
    it('a dropped field has no effect on predictions', async () => {
      const r = await trainExperiment({ data: wide, model: { family: 'lr', fields: { C1: { drop: true }, I2: { drop: true } } } });
      const kept = await trainExperiment({ data: wide, model: { family: 'lr' } });
      const rows = wideRows(500, 11);
      const scrambled = rows.map((row, i) => ({ ...row, cat: { ...row.cat, C1: `other${i}` }, dense: { ...row.dense, I2: (i * 7919) % 1000 } }));
      const original = writeRows(path.join(dir, 'drop-a.tsv'), rows);
      const changed = writeRows(path.join(dir, 'drop-b.tsv'), scrambled);
      assert.deepEqual(await scoreWith(r.artifact, original), await scoreWith(r.artifact, changed));
      assert.notDeepEqual(
        await scoreWith(kept.artifact, original),
        await scoreWith(kept.artifact, changed),
        'without drop the same change moves scores',
      );
      const spec = (await loadModelArtifact(r.artifact)).header.featureSpec;
      assert.ok(!slotNames(spec).includes('C1') && !spec.denseFields.includes(1));
    });
  });

  describe('3-field crosses', () => {
    it('let LR learn a planted 3-way interaction that no field or pair carries', async () => {
      const plain = await trainExperiment({ data: parity, model: { family: 'lr' } });
      const pairs = await trainExperiment({
        data: parity,
        model: {
          family: 'lr',
          crosses: [
            ['C1', 'C2'],
            ['C1', 'C3'],
            ['C2', 'C3'],
          ],
        },
      });
      const triple = await trainExperiment({ data: parity, model: { family: 'lr', crosses: [['C1', 'C2', 'C3']] } });
      assert.ok(plain.metrics.ne > 0.97, `no main effects: ${plain.metrics.ne}`);
      assert.ok(pairs.metrics.ne > 0.97, `no pair effects: ${pairs.metrics.ne}`);
      // The Bayes rate: H(0.2) / H(0.5) ≈ 0.722.
      assert.ok(triple.metrics.ne < 0.78, `the 3-cross recovers the parity: ${triple.metrics.ne}`);
      // The cross's hash is the triple's (order-sensitive salt, distinct from its pairs).
      const spec = (await loadModelArtifact(triple.artifact)).header.featureSpec;
      assert.deepEqual(spec.crosses, [[13, 14, 15]]);
    });
  });

  describe('describeData hash-space report', () => {
    it('counts distinct values and collisions exactly as a brute-force count over the file does', async () => {
      const rng = new SeededRandom(21);
      const rows: Row[] = Array.from({ length: 1500 }, () => ({
        label: rng.next() < 0.3 ? 1 : 0,
        dense: { I1: Math.floor(rng.next() * 30), I2: rng.next() < 0.5 ? '' : Math.floor(rng.next() ** 3 * 5000) },
        cat: {
          C1: `u${Math.floor(rng.next() * 150)}`,
          C2: rng.next() < 0.1 ? '' : `v${Math.floor(rng.next() ** 2 * 400)}`,
          C3: `w${Math.floor(rng.next() * 8)}`,
        },
      }));
      const train = writeRows(path.join(dir, 'small-train.tsv'), rows);
      const data = { format: 'criteo-tsv' as const, train, validation: train, test: train };
      // A small shared table (2^8) crowded on purpose, C1 in a table of its own, a pair cross and a bucketed dense field.
      const model: ModelConfigInput = {
        family: 'lr',
        denseTransform: 'log',
        hashBits: 8,
        crosses: [['C2', 'C3']],
        fields: { C1: { hashBits: 8 }, I2: { transform: 'bucketize' } },
      };
      const report = (await describeData(data, model)).hashing!;

      // Brute force from the text: each slot's value strings → tokens (the documented hashing), then buckets.
      const lines = fs
        .readFileSync(train, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      const col = (name: string) => 1 + [...DENSE_FIELDS, ...CATEGORICAL_FIELDS].indexOf(name);
      const catToken = (name: string, v: string) => {
        const f = col(name) - 1;
        if (v === '') return hashFieldValue(f, '\u0000missing');
        const h = hashFieldValue(f, v);
        return h === 0 ? 1 : h;
      };
      const denseToken = (name: string, v: string) => {
        const f = col(name) - 1;
        return v === '' ? hashFieldValue(f, '\u0000missing') : hashFieldValue(f, `\u0000b${Math.floor(2 * Math.log1p(Number(v)))}`);
      };
      const slotValues: Record<string, (l: string[]) => number> = {
        C1: (l) => catToken('C1', l[col('C1')]),
        C2: (l) => catToken('C2', l[col('C2')]),
        C3: (l) => catToken('C3', l[col('C3')]),
        'C2×C3': (l) => combineHashes(catToken('C2', l[col('C2')]), catToken('C3', l[col('C3')]), 14 * 64 + 15),
        I2: (l) => denseToken('I2', l[col('I2')]),
      };
      assert.deepEqual(
        report.slots.map((s) => s.feature),
        ['C1', 'C2', 'C3', 'C2×C3', 'I2'],
      );
      const shared = ['C2', 'C3', 'C2×C3', 'I2'];
      // I1 stays numeric (log): its weight is one row of the shared table.
      const numericRow = hashFieldValue(0, '\u0000numeric') & 255;
      const distinct: Record<string, Map<number, number>> = {};
      for (const [name, token] of Object.entries(slotValues)) {
        distinct[name] = new Map();
        for (const l of lines) distinct[name].set(token(l), (distinct[name].get(token(l)) ?? 0) + 1);
      }
      const occupants = (names: string[], extra: number[]) => {
        const rowsOf = new Map<number, number>();
        for (const row of extra) rowsOf.set(row, (rowsOf.get(row) ?? 0) + 1);
        for (const n of names) for (const t of distinct[n].keys()) rowsOf.set(t & 255, (rowsOf.get(t & 255) ?? 0) + 1);
        return rowsOf;
      };
      const sharedOccupancy = occupants(shared, [numericRow]);
      const ownOccupancy = occupants(['C1'], []);
      const sharedValues = shared.reduce((n, name) => n + distinct[name].size, 1);
      for (const slot of report.slots) {
        const occ = slot.feature === 'C1' ? ownOccupancy : sharedOccupancy;
        let values = 0;
        let hitRows = 0;
        for (const [t, count] of distinct[slot.feature]) {
          if (occ.get(t & 255)! > 1) {
            values++;
            hitRows += count;
          }
        }
        assert.equal(slot.distinct, distinct[slot.feature].size, slot.feature);
        assert.equal(slot.exact, true);
        assert.equal(slot.collidingValues, values, `${slot.feature}: colliding values`);
        assert.ok(Math.abs(slot.collidingRowShare! - hitRows / lines.length) < 1e-12, `${slot.feature}: colliding row share`);
        const n = slot.feature === 'C1' ? distinct.C1.size : sharedValues;
        assert.ok(Math.abs(slot.expectedCollisionRate - (1 - (1 - 1 / 256) ** (n - 1))) < 1e-3, `${slot.feature}: expected rate`);
        assert.equal(slot.table, slot.feature === 'C1' ? 'own' : 'shared');
        assert.equal(slot.autoBits, autoHashBits(distinct[slot.feature].size, 8));
      }
      assert.ok(
        report.slots.some((s) => s.collidingValues! > 0),
        'the crowded shared table does collide',
      );
      assert.equal(report.tableRows, 512);

      // Per-field cardinality (non-missing distinct values), also by brute force.
      const described = await describeData(data, model);
      for (const name of ['I1', 'I2', 'C1', 'C2', 'C3']) {
        const values = new Set(lines.map((l) => l[col(name)]).filter((v) => v !== ''));
        assert.equal(described.fieldCardinality![name], values.size, name);
      }
    });

    it('the expected rate follows 1 − (1 − 1/m)^(n − 1); the counter is exact up to its cap and close beyond it', () => {
      assert.equal(expectedCollisionRate(1, 256), 0);
      assert.ok(Math.abs(expectedCollisionRate(257, 256) - (1 - (255 / 256) ** 256)) < 1e-12);
      const exact = new DistinctCounter();
      const sketched = new DistinctCounter(1000);
      for (let i = 0; i < 200_000; i++) {
        const token = hashFieldValue(3, `v${i % 50_000}`);
        exact.add(token);
        sketched.add(token);
      }
      assert.equal(exact.distinct, 50_000);
      assert.ok(exact.exact && !sketched.exact);
      assert.ok(Math.abs(sketched.distinct / 50_000 - 1) < 0.03, `HyperLogLog estimate ${sketched.distinct}`);
      let total = 0;
      exact.forEach((_, count) => (total += count));
      assert.equal(total, 200_000);
    });
  });

  it('hashBits "auto" on one field: a table of its own sized from its distinct values, the rest shared', async () => {
    const dataset = await loadDataset(wide);
    const spec = buildFeatureSpec(
      ModelConfig.parse({ family: 'lr', hashBits: 12, fields: { C4: { hashBits: 'auto' } } }),
      dataset.train,
      dataset.active,
    );
    const tables = slotTablesOf(spec);
    const c4 = slotNames(spec).indexOf('C4');
    // C4: up to 3,000 values plus the missing token → ⌈log2⌉ + 4 = 16 bits, capped by hashBits 12.
    assert.ok(tables[c4].distinct! > 2500 && tables[c4].distinct! <= 3001);
    assert.deepEqual(tables[c4], { offset: 4096, bits: 12, distinct: tables[c4].distinct });
    assert.equal(featureTableRows(spec), 4096 + 4096);
    assert.ok(tables.every((t, s) => s === c4 || t.shared));
    assert.ok(fitQuantileBoundaries(dataset.train, 0, 4).length === 3);
  });
});
