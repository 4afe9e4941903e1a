import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig, ModelConfig, type DeclaredSchema } from '../../contracts';
import { modelFieldProblems } from '../../contracts/field-names';
import { readDeclaredChunks } from '../../ranking/data/declared-reader';
import { clearDatasetCache, loadDataset } from '../../ranking/data/load-data';
import type { RowBlock } from '../../ranking/data/rows';
import { trainExperiment } from '../../ranking/experiment';
import { exportModel } from '../../ranking/export';
import { buildFeatureSpec, encodeRows, listColumnsOfData, slotCounts } from '../../ranking/features';
import { ReferenceKernels } from '../../ranking/kernels';
import { loadModelArtifact } from '../../ranking/model-artifact';
import { createModel } from '../../ranking/models/create-model';
import { DeepCrossNetwork } from '../../ranking/models/dcn';
import { SeededRandom } from '../../ranking/rng';
import { loadArtifactScorer } from '../../ranking/scoring';
import { onnxScores } from '../support/onnx-runtime';

/**
 * Lists as pooled fields (ranking/features.ts ListField): a table whose click signal is "the list has the value hot",
 * as an interaction with another column (site) — what the list's pooled embedding carries into FM's pairwise term
 * and DCN's layers. The list's value may sit in any of its 4 positions.
 */
const SCHEMA: DeclaredSchema = {
  columns: {
    clicked: 'label',
    site: 'categorical',
    noise: 'categorical',
    tags: { role: 'multiCategorical', separator: '|', maxValues: 4 },
  },
};
const WORDS = ['hot', 'new', 'sale', 'kids', 'pro', 'eco', 'big', 'red'];

function writeTable(file: string, rows: number, seed: number): void {
  const rng = new SeededRandom(seed);
  const lines = ['clicked,site,noise,tags'];
  for (let r = 0; r < rows; r++) {
    const tags = WORDS.filter(() => rng.next() < 0.2);
    // Shuffled: "hot" is as likely in any position.
    for (let i = tags.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [tags[i], tags[j]] = [tags[j], tags[i]];
    }
    const site = rng.int(4);
    const hot = tags.includes('hot');
    // hot helps on sites 0 and 1 and hurts as much on 2 and 3: a pure interaction of the list with `site` (no main
    // effect for a linear model to pick up).
    const logit = -1.2 + (hot ? (site < 2 ? 2.2 : -2.2) : 0);
    const y = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    lines.push(`${y},s${site},n${rng.int(50)},${tags.join('|')}`);
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

describe('lists as pooled fields', function () {
  this.timeout(300_000);
  let dir: string;
  let data: DataConfig;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-list-pooling-'));
    writeTable(path.join(dir, 'train.csv'), 12_000, 1);
    writeTable(path.join(dir, 'test.csv'), 4_000, 2);
    data = DataConfig.parse({ format: 'csv', train: path.join(dir, 'train.csv'), test: path.join(dir, 'test.csv'), schema: SCHEMA });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => clearDatasetCache());

  for (const family of ['fm', 'dcn'] as const) {
    it(`${family} learns the list's planted value; without the list it cannot`, async () => {
      const withList = await trainExperiment({ data, model: ModelConfig.parse({ family, epochs: 3 }) });
      const without = await trainExperiment({ data, model: ModelConfig.parse({ family, epochs: 3, fields: { tags: { drop: true } } }) });
      const { header } = await loadModelArtifact(withList.artifact);
      assert.deepEqual(header.featureSpec.lists, [{ column: 'tags', firstSlot: 2, length: 4, pooling: 'mean' }]);
      assert.ok(withList.metrics.ne < 0.95, `${family} with the list: NE ${withList.metrics.ne} (a constant predictor is 1)`);
      assert.ok(without.metrics.ne > 0.97, `${family} without the list: NE ${without.metrics.ne}`);
      assert.ok(withList.metrics.ne < without.metrics.ne - 0.04, `${withList.metrics.ne} vs ${without.metrics.ne} without the list`);
      if (family === 'dcn') {
        // LR has the list's values but no interactions: the pooled field's embedding is what carries hot × site. (FM's
        // factors, damped by their large initial AdaGrad accumulator, learn a pair this size no faster than LR's weights
        // in 3 epochs, with the list or with `hot` as a column of its own alike.)
        const lr = (await trainExperiment({ data, model: { family: 'lr', epochs: 3 } })).metrics.ne;
        assert.ok(withList.metrics.ne < lr - 0.01, `dcn ${withList.metrics.ne} vs lr ${lr}: the list interacts with site`);
      }
    });
  }

  it('scores a list the same whatever order its values come in (a pooled field, not positions)', async () => {
    const run = await trainExperiment({ data, model: { family: 'dcn', epochs: 1 } });
    const scorer = await loadArtifactScorer(run.artifact);
    const { header } = await loadModelArtifact(run.artifact);
    const file = path.join(dir, 'orders.csv');
    fs.writeFileSync(
      file,
      'clicked,site,noise,tags\n0,s1,n3,hot|sale|eco\n0,s1,n3,eco|hot|sale\n0,s1,n3,sale|eco|hot\n0,s1,n3,hot\n0,s1,n3,hot|hot\n',
    );
    const blocks: RowBlock[] = [];
    const config = DataConfig.parse({ format: 'csv', train: file, test: file, schema: SCHEMA });
    if (!('schema' in config)) throw new Error('unreachable');
    await readDeclaredChunks(file, config, async ({ block }) => void blocks.push(block), { featuresOnly: true, chunkRows: 100 });
    const scores = await scorer.score(encodeRows(blocks[0], header.featureSpec));
    assert.equal(scores[1], scores[0], 'the same values in another order: the same pooled field');
    assert.equal(scores[2], scores[0]);
    assert.notEqual(scores[3], scores[0], 'other values: another score');
    assert.equal(scores[4], scores[3], 'a repeat is one value');
  });

  it("counts a list as one field in the DCN's input; a spec without lists (an older artifact) keeps one per slot", async () => {
    const dataset = await loadDataset(data);
    const config = ModelConfig.parse({ family: 'dcn' });
    if (config.family !== 'dcn') throw new Error('unreachable');
    const pooled = buildFeatureSpec(config, dataset.train, dataset.active, listColumnsOfData(data));
    const slots = buildFeatureSpec(config, dataset.train, dataset.active);
    assert.equal(slots.lists, undefined, 'no lists: the spec is what it was before lists were pooled');
    const { catSlots, denseSlots } = slotCounts(pooled);
    assert.equal(catSlots, 6, 'site, noise and 4 list positions: the storage keeps maxValues slots');
    const d = config.embeddingDim;
    const width = (spec: typeof pooled) => (createModel(config, spec, new ReferenceKernels()) as DeepCrossNetwork).inputWidth;
    assert.equal(width(pooled), 3 * d + denseSlots, 'site, noise, tags');
    assert.equal(width(slots), 6 * d + denseSlots);
  });

  it('gives a value one table row in every list position (LR weighs it once), also in a region of its own', async () => {
    const dataset = await loadDataset(data);
    for (const fields of [undefined, { tags: { hashBits: 10 } }, { tags: { hashBits: 'auto' as const } }]) {
      const config = ModelConfig.parse({ family: 'lr', ...(fields ? { fields: { ...fields } } : {}) });
      // engineModel's spreading of a list's knobs onto its slots (C3..C6), as the experiment does.
      const engine = fields ? { ...config, fields: Object.fromEntries(['C3', 'C4', 'C5', 'C6'].map((s) => [s, fields.tags])) } : config;
      const spec = buildFeatureSpec(engine, dataset.train, dataset.active, listColumnsOfData(data));
      const tables = spec.slotTables!.slice(2, 6);
      for (const t of tables) assert.deepEqual(t, tables[0], `${JSON.stringify(fields)}: one region for the list`);
      const file = path.join(dir, 'positions.csv');
      fs.writeFileSync(file, 'clicked,site,noise,tags\n0,s1,n1,hot|new|sale|eco\n0,s1,n1,eco|sale|new|hot\n');
      const blocks: RowBlock[] = [];
      const config2 = DataConfig.parse({ format: 'csv', train: file, test: file, schema: SCHEMA });
      if (!('schema' in config2)) throw new Error('unreachable');
      await readDeclaredChunks(file, config2, async ({ block }) => void blocks.push(block), { featuresOnly: true, chunkRows: 100 });
      const encoded = encodeRows(blocks[0], spec);
      const rowA = Array.from(encoded.catIndex.subarray(2, 6));
      const rowB = Array.from(encoded.catIndex.subarray(encoded.catSlots + 2, encoded.catSlots + 6));
      assert.deepEqual(rowA, [...rowB].reverse(), `${JSON.stringify(fields)}: each value has the same row in either position`);
    }
  });

  it('exports sum- and mean-pooled FM and DCN to ONNX: ONNX Runtime matches the engine on lists of 0 to 4 values', async () => {
    const blocks: RowBlock[] = [];
    if (!('schema' in data)) throw new Error('unreachable');
    await readDeclaredChunks(data.test!, data, async ({ block }) => void blocks.push(block), { featuresOnly: true, chunkRows: 1_000_000 });
    for (const family of ['fm', 'dcn'] as const)
      for (const pooling of ['sum', 'mean'] as const) {
        const run = await trainExperiment({ data, model: ModelConfig.parse({ family, epochs: 1, fields: { tags: { pooling } } }) });
        const { header } = await loadModelArtifact(run.artifact);
        assert.equal(header.featureSpec.lists![0].pooling, pooling);
        const onnxPath = path.join(dir, `${family}-${pooling}.onnx`);
        await exportModel(run.artifact, onnxPath, 'onnx');
        const encoded = encodeRows(blocks[0], header.featureSpec);
        const engine = await (await loadArtifactScorer(run.artifact)).score(encoded);
        const viaOnnx = await onnxScores(onnxPath, encoded);
        let worst = 0;
        for (let r = 0; r < viaOnnx.length; r++) worst = Math.max(worst, Math.abs(viaOnnx[r] - engine[r]));
        assert.ok(worst < 1e-5, `${family} ${pooling}: ONNX Runtime and the engine differ by ${worst}`);
      }
  });

  it('crossing a list value changes the model; pooling by sum is a knob of the whole list column', async () => {
    const plain = await trainExperiment({ data, model: { family: 'lr', epochs: 2 } });
    const crossed = await trainExperiment({ data, model: { family: 'lr', epochs: 2, crosses: [['tags[1]', 'site']] } });
    assert.notEqual(crossed.artifact, plain.artifact);
    const { header } = await loadModelArtifact(crossed.artifact);
    assert.equal(header.featureSpec.crosses.length, 1, 'the cross is in the spec');
    assert.notEqual(crossed.metrics.ne, plain.metrics.ne, 'and it changes the scores');

    const summed = await trainExperiment({ data, model: { family: 'fm', epochs: 1, fields: { tags: { pooling: 'sum' } } } });
    const mean = await trainExperiment({ data, model: { family: 'fm', epochs: 1 } });
    assert.equal((await loadModelArtifact(summed.artifact)).header.featureSpec.lists![0].pooling, 'sum');
    assert.notEqual(summed.metrics.ne, mean.metrics.ne, 'sum pools differently from mean');
    const refused = modelFieldProblems(ModelConfig.parse({ family: 'fm', fields: { site: { pooling: 'sum' } } }), data).map((p) => p.message);
    assert.deepEqual(refused, ['site is categorical: pooling applies to a whole list (multiCategorical) column']);
  });
});
