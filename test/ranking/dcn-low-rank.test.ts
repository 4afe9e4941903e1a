import { strict as assert } from 'node:assert';
import { DcnConfig, ModelConfig } from '../../contracts';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { storedModelConfig } from '../../contracts/stored-config';
import { loadModelArtifact, trainExperiment } from '../../ranking';
import { featureTableRows, slotCounts } from '../../ranking/features';
import { loadArtifactScorer } from '../../ranking/scoring';
import { decodeTensorFile, encodeTensorFile } from '../../ranking/tensor-file';
import { getArtifact, putArtifact } from '../../store/artifacts';
import type { EncodedRows } from '../../ranking/features';
import { ReferenceKernels } from '../../ranking/kernels';
import { DeepCrossNetwork } from '../../ranking/models/dcn';
import { estimateTrainingBytes } from '../../ranking/models/model';
import { syntheticRows } from '../support/encoded-row';
import { assertCloseTo } from '../support/float-compare';

/**
 * DCN-v2's low-rank cross layers (crossRank r: W ≈ V·U). A low-rank layer of rank D whose factors are W and the
 * identity is the full-rank layer W exactly, so the full-rank network is the reference: same scores, and after a step
 * the same update of every parameter they share (which checks the low-rank backward pass product by product).
 */

const CAT_SLOTS = 4;
const DENSE_SLOTS = 2;
const DIM = 3;
/** The input width D: CAT_SLOTS embeddings of DIM values, then the dense values. */
const D = CAT_SLOTS * DIM + DENSE_SLOTS;

/** Encoded rows with labels that depend on the first slot's value, so a model has something to learn. */
function rowsFor(n: number, catSlots: number, denseSlots: number, tableRows: number, seed = 1): EncodedRows {
  return syntheticRows({ rows: n, catSlots, denseSlots, tableRows, seed, clickModulus: 4 });
}

const rows = (n: number, seed: number) => rowsFor(n, CAT_SLOTS, DENSE_SLOTS, 256, seed);

function dcn(crossRank: 'full' | number): DeepCrossNetwork {
  const config = DcnConfig.parse({ family: 'dcn', hashBits: 8, embeddingDim: DIM, crossLayers: 2, mlp: [7], crossRank, seed: 3 });
  return new DeepCrossNetwork(config, new ReferenceKernels(), CAT_SLOTS, DENSE_SLOTS);
}

function identity(n: number): Float32Array {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/**
 * The full-rank model's weights as a rank-D model's: each cross layer's (W, b) becomes (V, U, b) with one factor W
 * and the other the identity (`wAs` says which). Artifacts name parameters p0, p1, … in layer order: full rank has
 * 2 per cross layer, low rank 3.
 */
function asLowRank(full: Record<string, Float32Array>, crossLayers: number, wAs: 'V' | 'U'): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = { embedding: full.embedding, wide: full.wide };
  for (let l = 0; l < crossLayers; l++) {
    const w = full[`p${2 * l}`];
    out[`p${3 * l}`] = wAs === 'V' ? w : identity(D);
    out[`p${3 * l + 1}`] = wAs === 'U' ? w : identity(D);
    out[`p${3 * l + 2}`] = full[`p${2 * l + 1}`];
  }
  for (let k = 2 * crossLayers; full[`p${k}`]; k++) out[`p${k + crossLayers}`] = full[`p${k}`];
  return out;
}

const weightsOf = (m: DeepCrossNetwork) => m.weightTensors() as Record<string, Float32Array>;

describe('DCN low-rank cross layers (crossRank)', function () {
  this.timeout(120_000);

  it('config: crossRank is "full" or 1..512, absent is full rank, and a wrong value says what is allowed', () => {
    const parsed = ModelConfig.parse({ family: 'dcn' });
    assert.equal(parsed.family === 'dcn' && parsed.crossRank, 'full');
    assert.equal((DcnConfig.parse({ family: 'dcn', crossRank: 32 }) as DcnConfig).crossRank, 32);
    for (const bad of [0, -4, 1.5, 513, 'low', null]) {
      const r = ModelConfig.safeParse({ family: 'dcn', crossRank: bad });
      assert.ok(!r.success, `crossRank ${JSON.stringify(bad)} accepted`);
      assert.deepEqual(
        r.error.issues.map((i) => [i.path.join('.'), i.message]),
        [['crossRank', 'crossRank is "full" or a whole number of dimensions from 1 to 512']],
      );
    }
    // The insights DB stores canonical keys: a full-rank DCN keeps the key it had before the knob existed.
    const before = canonicalConfigKey({ family: 'dcn' });
    assert.doesNotMatch(before, /crossRank/);
    assert.equal(canonicalConfigKey({ family: 'dcn', crossRank: 'full' }), before);
    assert.notEqual(canonicalConfigKey({ family: 'dcn', crossRank: 32 }), before);
    // Only the DCN has cross layers: the other families refuse the key instead of ignoring it.
    assert.ok(!ModelConfig.safeParse({ family: 'fm', crossRank: 8 }).success);
  });

  for (const wAs of ['V', 'U'] as const) {
    it(`rank D with ${wAs} = W and the other factor I scores as the full-rank reference and takes the same step`, async () => {
      const data = rows(300, 1);
      const order = Int32Array.from({ length: data.rows }, (_, i) => i);
      const full = dcn('full');
      const low = dcn(D);
      low.loadWeights(asLowRank(weightsOf(full), 2, wAs));
      const [pf, pl] = [new Float64Array(data.rows), new Float64Array(data.rows)];
      await full.predict(data, 0, data.rows, pf);
      await low.predict(data, 0, data.rows, pl);
      assertCloseTo(Float32Array.from(pl), Float32Array.from(pf), 'predictions', 1e-6, 1e-5);
      // Spread: equal constant scores would prove nothing.
      assert.ok(Math.max(...pf) - Math.min(...pf) > 0.01);

      const a = await full.trainStep(data, order, 0, 128, 1);
      const b = await low.trainStep(data, order, 0, 128, 1);
      assert.ok(Math.abs(a.lossSum - b.lossSum) <= 1e-6 * a.lossSum, `loss ${b.lossSum} vs ${a.lossSum}`);
      // After one step every parameter but the identity factor moved exactly as the full-rank model's: the factor
      // that holds W got W's gradient (dV = xᵀ·(dz·Iᵀ) = dW; dU = (x·I)ᵀ·dz = dW), so the embeddings (through dx),
      // biases, the MLP and the wide part agree too. Adam's first step is ±lr where a gradient is not ~0.
      const expected = asLowRank(weightsOf(full), 2, wAs);
      const got = weightsOf(low);
      const identityIndex = wAs === 'V' ? 1 : 0;
      for (const [name, value] of Object.entries(expected)) {
        const k = /^p(\d+)$/.exec(name);
        if (k && Number(k[1]) < 6 && Number(k[1]) % 3 === identityIndex) {
          // The identity factor learns too: it moved off I.
          assert.ok(maxAbsDiff(got[name], identity(D)) > 1e-4, `${name} stayed the identity`);
          continue;
        }
        assertCloseTo(got[name], value, `${name} after one step`, 1e-6, 1e-4);
      }
    });
  }

  it("the memory estimate counts a low-rank layer's two factors, not a D×D matrix", () => {
    const at = (crossRank: 'full' | number) => estimateTrainingBytes(DcnConfig.parse({ family: 'dcn', hashBits: 8, crossRank, mlp: [] }), 39, 0, 256);
    // Input width 39·8 = 312; two layers' parameters (×4 floats: weights, Adam m and v, the best copy; 4 bytes each).
    const width = 312;
    assert.equal(at('full') - at(16), 2 * (width * width - 2 * width * 16) * 4 * 4);
  });

  it('a config stored before crossRank existed is read as full rank, whatever the default rank', () => {
    assert.deepEqual(storedModelConfig({ family: 'dcn', crossLayers: 3 }), { family: 'dcn', crossLayers: 3, crossRank: 'full' });
    assert.deepEqual(storedModelConfig({ family: 'dcn', crossRank: 16 }), { family: 'dcn', crossRank: 16 });
    assert.deepEqual(storedModelConfig({ family: 'fm' }), { family: 'fm' });
    assert.equal(storedModelConfig('not a config'), 'not a config');
  });

  it('an artifact whose config has no crossRank (written before the knob) loads as full rank and scores as before', async () => {
    const trained = await trainExperiment({
      data: { planted: { trainRows: 3_000, validationRows: 500, testRows: 500 } },
      model: { family: 'dcn', crossLayers: 1, mlp: [8] },
    });
    const { header, tensors } = decodeTensorFile<Record<string, unknown>>(await getArtifact(trained.artifact));
    const { crossRank, ...before } = header.config as Record<string, unknown>;
    assert.equal(crossRank, 'full');
    const older = await putArtifact(encodeTensorFile({ ...header, config: before }, tensors));
    const loaded = (await loadModelArtifact(older)).header;
    assert.equal(loaded.config.family === 'dcn' && loaded.config.crossRank, 'full');
    const { catSlots, denseSlots } = slotCounts(loaded.featureSpec);
    const probe = rowsFor(200, catSlots, denseSlots, featureTableRows(loaded.featureSpec));
    const [now, then] = await Promise.all([loadArtifactScorer(trained.artifact), loadArtifactScorer(older)]);
    const scores = await then.score(probe);
    assert.deepEqual(scores, await now.score(probe));
    assert.ok(Math.max(...scores) - Math.min(...scores) > 1e-3, 'scores spread: a constant would match trivially');
  });

  it('a rank-8 DCN trains on planted data and beats a constant predictor, close to full rank', async () => {
    const data = { planted: { trainRows: 20_000, validationRows: 2_000, testRows: 10_000 } };
    const low = await trainExperiment({ data, model: { family: 'dcn', crossRank: 8 } });
    const full = await trainExperiment({ data, model: { family: 'dcn', crossRank: 'full' } });
    // A constant at the training click rate has NE ≈ 1 and AUC 0.5.
    assert.ok(low.metrics.ne < 0.95, `low-rank NE ${low.metrics.ne}`);
    assert.ok(low.metrics.auc > 0.7, `low-rank AUC ${low.metrics.auc}`);
    assert.ok(Math.abs(low.metrics.ne - full.metrics.ne) < 0.02, `low-rank NE ${low.metrics.ne} vs full ${full.metrics.ne}`);
    assert.notEqual(low.artifact, full.artifact, 'a different model');
  });
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
