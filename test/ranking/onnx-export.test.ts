import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CATEGORICAL_FIELDS, DENSE_FIELDS, type ModelConfigInput } from '../../contracts';
import { loadModelArtifact, scoreFile, trainExperiment } from '../../ranking';
import { readCriteoFile } from '../../ranking/data/criteo-reader';
import type { Calibrator } from '../../contracts';
import { applyCalibrator } from '../../ranking/calibration';
import { buildOnnxModel, exportModel, preprocessingPathFor, type PreprocessingSpec } from '../../ranking/export';
import { sharedKernels } from '../../ranking/kernels';
import { createModel } from '../../ranking/models/create-model';
import { encodeRows, type EncodedRows } from '../../ranking/features';
import { loadArtifactScorer } from '../../ranking/scoring';
import { finalMix } from '../../ranking/hash';
import { SeededRandom } from '../../ranking/rng';
import * as ort from 'onnxruntime-node';
import { onnxScores } from '../support/onnx-runtime';
import { encodeFromSpec } from '../support/spec-encoder';

/**
 * `rankwright export --format onnx`: models trained by the real engine, exported, and scored by ONNX Runtime on the
 * encoded test rows must match `rankwright score` (scoreFile) row by row; the preprocessing spec must be enough to
 * rebuild the encoder (a reimplementation from the JSON alone reproduces encodeRows exactly).
 */

const ROOT = path.resolve(__dirname, '..', '..');
const TOLERANCE = 1e-5;

/** Rows with counts (a non-monotone effect, negatives, missing values), categoricals of several cardinalities and a pair effect. */
function rows(n: number, seed: number): string {
  const rng = new SeededRandom(seed);
  const effect = Array.from({ length: 30 }, () => rng.gaussian() * 0.8);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const i1 = Math.floor(Math.exp(rng.gaussian() * 1.5 + 2));
    const i2 = Math.floor(rng.next() * 60) - 5;
    const i3 = Math.round(1000 + rng.gaussian() * 200);
    const i4 = rng.next() < 0.3 ? '' : String(Math.floor(rng.next() * 7));
    const c1 = Math.floor(rng.next() ** 2 * 30);
    const c2 = Math.floor(rng.next() * 5);
    const c3 = Math.floor(rng.next() * 400);
    const z =
      -1.3 + (Math.log1p(i1) > 2 && Math.log1p(i1) < 3.5 ? 1.2 : -0.3) + 0.01 * i2 + effect[c1] + (c2 === c1 % 5 ? 0.9 : -0.2) + (i3 - 1000) / 500;
    const label = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    const dense = DENSE_FIELDS.map((_, f) => (f === 0 ? i1 : f === 1 ? i2 : f === 2 ? i3 : f === 3 ? i4 : ''));
    const cat = CATEGORICAL_FIELDS.map((_, f) =>
      f === 0
        ? `a${c1}`
        : f === 1
          ? `b${c2}`
          : f === 2
            ? `c${c3}`
            : f === 3
              ? rng.next() < 0.2
                ? ''
                : `d${Math.floor(rng.next() * 900)}`
              : f === 4
                ? `e${i % 7}`
                : '',
    );
    lines.push([label, ...dense, ...cat].join('\t'));
  }
  return lines.join('\n') + '\n';
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The spec-only encoder (test/support/spec-encoder.ts) on a Criteo line's cells, by feature number. */
function encodeCriteoFromSpec(spec: PreprocessingSpec, cols: string[]): { cat: number[]; dense: number[] } {
  return encodeFromSpec(
    spec,
    (rule) => cols[rule.featureNumber],
    (slot) => cols[slot.featureNumber],
  );
}

describe('export for serving (ONNX)', function () {
  this.timeout(240_000);
  let dir: string;
  let data: { format: 'criteo-tsv'; train: string; validation: string; test: string };
  let testUnlabeled: string;
  const artifacts: Record<string, string> = {};

  const models: Record<string, ModelConfigInput> = {
    // Crosses (a pair and a triple with a quantile-bucketed dense field), per-field transforms, own and auto-sized
    // regions, negative downsampling, Platt.
    lr: {
      family: 'lr',
      hashBits: 14,
      epochs: 1,
      crosses: [
        ['C1', 'C2'],
        ['C1', 'C2', 'I1'],
      ],
      fields: {
        I1: { transform: 'quantile', buckets: 8 },
        I2: { transform: 'log' },
        I3: { transform: 'standardize' },
        I4: { transform: 'bucketize' },
        C3: { hashBits: 10 },
        C4: { hashBits: 'auto' },
      },
      negativeSamplingRate: 0.6,
      calibration: 'platt',
    },
    // Isotonic calibration; a cross with a log-bucketed dense field; a per-field hash space.
    fm: {
      family: 'fm',
      hashBits: 12,
      epochs: 1,
      embeddingDim: 4,
      denseTransform: 'log',
      crosses: [['C2', 'I2']],
      hashSpace: 'per-field',
      calibration: 'isotonic',
    },
    // Every dense field bucketized: no numeric dense slots, so the graph has no dense_value input.
    lrBucketized: { family: 'lr', hashBits: 12, epochs: 1, denseTransform: 'bucketize', crosses: [['I1', 'C2']] },
    // Cross layers, an MLP and the wide part; whatever calibrator `auto` picks.
    dcn: {
      family: 'dcn',
      hashBits: 12,
      epochs: 1,
      embeddingDim: 4,
      crossLayers: 2,
      mlp: [16, 8],
      denseTransform: 'standardize',
      fields: { I4: { transform: 'none' } },
      batchSize: 128,
    },
    // Low-rank cross layers (W ≈ V·U, two MatMuls a layer in the graph).
    dcnLowRank: { family: 'dcn', hashBits: 12, epochs: 1, embeddingDim: 4, crossLayers: 2, crossRank: 3, mlp: [8], batchSize: 128 },
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-onnx-'));
    const write = (name: string, text: string) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, text);
      return p;
    };
    data = {
      format: 'criteo-tsv',
      train: write('train.tsv', rows(4000, 1)),
      validation: write('validation.tsv', rows(1500, 2)),
      test: write('test.tsv', rows(1000, 3)),
    };
    // Scoring input without the label column, as served traffic has none.
    testUnlabeled = write(
      'serve.tsv',
      fs
        .readFileSync(data.test, 'utf8')
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => l.split('\t').slice(1).join('\t'))
        .join('\n') + '\n',
    );
    for (const [name, model] of Object.entries(models)) artifacts[name] = (await trainExperiment({ data, model })).artifact;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const family of ['lr', 'fm', 'dcn', 'dcnLowRank', 'lrBucketized']) {
    it(`${family}: ONNX Runtime on the encoded rows matches rankwright score within ${TOLERANCE}`, async () => {
      const artifact = artifacts[family];
      const onnxPath = path.join(dir, `${family}.onnx`);
      const result = await exportModel(artifact, onnxPath, 'onnx');
      assert.equal(result.preprocessingPath, path.join(dir, `${family}.preprocessing.json`));

      const { header } = await loadModelArtifact(artifact);
      const block = (await readCriteoFile(testUnlabeled, { allowMissingLabel: true, maxBadRowFraction: 0 })).block;
      const encoded = encodeRows(block, header.featureSpec);
      const viaOnnx = await onnxScores(onnxPath, encoded);
      const session = await ort.InferenceSession.create(onnxPath);
      assert.deepEqual(session.inputNames, encoded.denseSlots ? ['cat_index', 'dense_value'] : ['cat_index']);
      assert.deepEqual(session.outputNames, ['click_probability']);
      await session.release();

      const scored = path.join(dir, `${family}.scores`);
      await scoreFile(artifact, testUnlabeled, scored);
      const viaScore = fs.readFileSync(scored, 'utf8').trim().split('\n').map(Number);
      assert.equal(viaScore.length, 1000);
      const diff = maxAbsDiff(viaOnnx, viaScore);
      assert.ok(diff <= TOLERANCE, `${family}: max |onnx − score| = ${diff}`);
      // The scores file has 7 significant digits; the graph should agree with the engine far more closely than that.
      const exact = await (await loadArtifactScorer(artifact)).score(encoded);
      const tight = maxAbsDiff(viaOnnx, exact);
      // float64 throughout like the engine, except DCN's float32 layers (and FM's float32 kernel path on a GPU backend).
      const float32Path = family.startsWith('dcn') || (family === 'fm' && !['cpu', 'webasm', 'reference'].includes(sharedKernels().backend));
      assert.ok(tight <= (float32Path ? 1e-6 : 1e-9), `${family}: max |onnx − engine| = ${tight}`);
      // Not all equal: a constant model would match trivially.
      assert.ok(Math.max(...viaOnnx) - Math.min(...viaOnnx) > 0.05, `${family}: scores spread`);
    });
  }

  it('covers the calibrators it claims to: Platt with downsampling correction (lr), isotonic (fm)', async () => {
    assert.equal((await loadModelArtifact(artifacts.lr)).header.calibrator?.method, 'platt');
    assert.equal((await loadModelArtifact(artifacts.lr)).header.calibrator?.negativeSamplingRate, 0.6);
    assert.equal((await loadModelArtifact(artifacts.fm)).header.calibrator?.method, 'isotonic');
  });

  it('the preprocessing spec rebuilds the encoder: a reimplementation from the JSON reproduces encodeRows and the test vectors', async () => {
    for (const family of ['lr', 'fm', 'dcn', 'dcnLowRank', 'lrBucketized']) {
      const onnxPath = path.join(dir, `${family}-spec.onnx`);
      await exportModel(artifacts[family], onnxPath);
      const spec = JSON.parse(fs.readFileSync(preprocessingPathFor(onnxPath), 'utf8')) as PreprocessingSpec;
      assert.equal(spec.format, 'rankwright-preprocessing');
      const { header } = await loadModelArtifact(artifacts[family]);
      const lines = fs.readFileSync(testUnlabeled, 'utf8').split('\n').slice(0, 300);
      const encoded = encodeRows((await readCriteoFile(testUnlabeled, { allowMissingLabel: true, maxBadRowFraction: 0 })).block, header.featureSpec);
      lines.forEach((line, r) => {
        const mine = encodeCriteoFromSpec(spec, line.split('\t'));
        assert.deepEqual(
          mine.cat,
          Array.from(encoded.catIndex.subarray(r * encoded.catSlots, (r + 1) * encoded.catSlots)),
          `${family} row ${r} cat_index`,
        );
        assert.deepEqual(
          mine.dense,
          Array.from(encoded.denseValue.subarray(r * encoded.denseSlots, (r + 1) * encoded.denseSlots)),
          `${family} row ${r} dense_value`,
        );
      });
      const vectors = spec.testVectors as {
        raw: Record<string, string>;
        inputs: { cat_index?: number[]; dense_value?: number[] };
        click_probability: number;
      }[];
      assert.equal(vectors.length, 3);
      const probe: EncodedRows = {
        rows: vectors.length,
        catSlots: encoded.catSlots,
        catIndex: Int32Array.from(vectors.flatMap((v) => v.inputs.cat_index ?? [])),
        denseSlots: encoded.denseSlots,
        denseValue: Float32Array.from(vectors.flatMap((v) => v.inputs.dense_value ?? [])),
        denseIndex: encoded.denseIndex,
        labels: new Uint8Array(vectors.length),
      };
      for (const v of vectors) {
        const mine = encodeCriteoFromSpec(spec, Object.values(v.raw));
        assert.deepEqual(mine.cat, v.inputs.cat_index ?? []);
        assert.deepEqual(mine.dense, v.inputs.dense_value ?? []);
      }
      const viaOnnx = await onnxScores(onnxPath, probe);
      assert.ok(
        maxAbsDiff(
          viaOnnx,
          vectors.map((v) => v.click_probability),
        ) <= TOLERANCE,
        `${family}: test vectors' probabilities`,
      );
      // The constants the spec states are the hash module's.
      const hashing = spec.hashing as { fieldSeeds: Record<string, number> };
      assert.equal(hashing.fieldSeeds.C1, (0x5bd1e995 ^ Math.imul(14, 0x27d4eb2d)) >>> 0);
      assert.equal(finalMix(0), 0);
    }
  });

  it('puts every kind of calibrator in the graph exactly: none, downsampling alone, Platt, isotonic (ends, breakpoints, one point), none at all', async () => {
    const { header, tensors } = await loadModelArtifact(artifacts.fm);
    const encoded = encodeRows((await readCriteoFile(testUnlabeled, { allowMissingLabel: true, maxBadRowFraction: 0 })).block, header.featureSpec);
    const model = createModel(header.config, header.featureSpec, sharedKernels());
    model.loadWeights(tensors);
    const raw = new Float64Array(encoded.rows);
    await model.predict(encoded, 0, encoded.rows, raw);
    const sorted = Float64Array.from(raw).sort();
    const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))];
    // Breakpoints inside the scores' range (some rows fall below the first and above the last), one exactly on a score.
    const xs = [at(0.1), at(0.3), at(0.3) + 1e-9, at(0.5), at(0.9)];
    const calibrators: (Calibrator | undefined)[] = [
      undefined,
      { method: 'none' },
      { method: 'none', negativeSamplingRate: 0.25 },
      { method: 'platt', a: 0.8, b: -0.3, negativeSamplingRate: 0.5 },
      { method: 'isotonic', x: xs, y: [0.01, 0.05, 0.2, 0.3, 0.7] },
      { method: 'isotonic', x: [at(0.5)], y: [0.12] },
    ];
    for (const calibrator of calibrators) {
      const onnx = buildOnnxModel({ ...header, calibrator }, tensors, { artifact: artifacts.fm, producerVersion: 'test' });
      const file = path.join(dir, 'calibrator.onnx');
      fs.writeFileSync(file, onnx);
      const expected = applyCalibrator(calibrator, Float64Array.from(raw));
      const diff = maxAbsDiff(await onnxScores(file, encoded), expected);
      assert.ok(diff <= 1e-12, `${JSON.stringify(calibrator)}: max |onnx − engine| = ${diff}`);
    }
  });

  describe('the CLI', () => {
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [path.join(ROOT, 'bin', 'rankwright.js'), 'export', ...args], {
        cwd: dir,
        env: { ...process.env, RANKWRIGHT_HOME: process.env.RANKWRIGHT_HOME },
        encoding: 'utf8',
        timeout: 120_000,
      });

    it('rankwright export --model … --format onnx --out model.onnx writes the graph and its spec', async () => {
      const out = path.join(dir, 'cli', 'model.onnx');
      fs.mkdirSync(path.dirname(out));
      const r = cli(['--model', artifacts.lr, '--format', 'onnx', '--out', out]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /exported lr model .* → .*model\.onnx.*model\.preprocessing\.json/);
      assert.ok(fs.existsSync(path.join(dir, 'cli', 'model.preprocessing.json')));
      const { header } = await loadModelArtifact(artifacts.lr);
      const encoded = encodeRows((await readCriteoFile(testUnlabeled, { allowMissingLabel: true, maxBadRowFraction: 0 })).block, header.featureSpec);
      const scored = path.join(dir, 'cli.scores');
      await scoreFile(artifacts.lr, testUnlabeled, scored);
      const diff = maxAbsDiff(await onnxScores(out, encoded), fs.readFileSync(scored, 'utf8').trim().split('\n').map(Number));
      assert.ok(diff <= TOLERANCE, `cli export: ${diff}`);
    });

    it('says clearly what is wrong: unknown artifact, bad format, unwritable path', () => {
      // Like every CLI error: one line on stderr, nothing on stdout, no stack.
      const oneLine = (r: ReturnType<typeof cli>) => {
        assert.equal(r.stdout, '');
        assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
        assert.doesNotMatch(r.stderr, /^\s+at\s/m);
        return r;
      };
      const unknown = `sha256:${'0'.repeat(64)}`;
      let r = oneLine(cli(['--model', unknown, '--out', path.join(dir, 'x.onnx')]));
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, /^not found: --model: artifact sha256:0{64} not found in /m);

      r = oneLine(cli(['--model', 'nonsense', '--out', path.join(dir, 'x.onnx')]));
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^error: --model: invalid artifact ref "nonsense"/m);

      r = oneLine(cli(['--model', artifacts.lr, '--format', 'tflite', '--out', path.join(dir, 'x.tflite')]));
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^error: --format "tflite": unsupported export format; supported: onnx/m);

      r = oneLine(cli(['--model', artifacts.lr, '--out', path.join(dir, 'no-such-dir', 'x.onnx')]));
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^error: --out ".*no-such-dir\/x\.onnx": directory .*no-such-dir does not exist/m);

      r = oneLine(cli(['--model', artifacts.lr, '--out', dir]));
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^error: --out .*: is a directory, expected a file path/m);

      if (process.platform === 'linux') {
        // A directory nobody can create files in, even root (the engine's own note on the GPU backend may come first).
        r = cli(['--model', artifacts.lr, '--out', '/proc/rankwright-x.onnx']);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /^error: --out "\/proc\/rankwright-x\.onnx": cannot write \/proc\/rankwright-x\.onnx: E[A-Z]+\n$/m);
      }

      r = cli(['--model', artifacts.lr]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /required option '--out <file>' not specified/);
    });
  });
});
