import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { DeclaredData, schemaLayout } from '../../contracts';
import { readDeclaredChunks } from '../../ranking/data/declared-reader';
import type { RowBlock } from '../../ranking/data/rows';
import { trainExperiment } from '../../ranking/experiment';
import { exportModel, type PreprocessingSpec } from '../../ranking/export';
import { encodeRows, pooledFieldCount, slotCounts } from '../../ranking/features';
import { normalizedEntropy } from '../../ranking/metrics';
import { researchBaseline } from '../../ranking/research';
import { loadModelArtifact } from '../../ranking/model-artifact';
import { loadArtifactScorer } from '../../ranking/scoring';
import { onnxScores } from '../support/onnx-runtime';
import { runCli } from '../support/processes';
import { encodeFromSpec, type SpecRule } from '../support/spec-encoder';
import { writeWideTable, type WideTable } from '../support/wide-table';

/**
 * A team's table wider than Criteo's 13 + 26: 80 categorical, 30 dense and 2 list columns, its signal in columns far
 * past the 26th. It trains, a cross of two of those columns changes the model, and `rankwright score` reads its test
 * CSV by column name (an extra column ignored) and reproduces the test NE the run reported; its ONNX export scores
 * the same, and an encoder written from the preprocessing spec alone (columns by name) reproduces the engine's.
 */
describe('a table wider than Criteo', function () {
  this.timeout(300_000);
  let dir: string;
  let table: WideTable;
  const data = () => ({ format: 'csv' as const, train: table.train, test: table.test, schema: table.schema });
  let crossedArtifact: string;
  let plainArtifact: string;
  let scoredTest: number[];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-wide-table-'));
    table = writeWideTable(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lays 80 categorical, 30 dense and 2 list columns out with no column limit', () => {
    const layout = schemaLayout(table.schema);
    assert.equal(layout.dense.length, 30);
    assert.equal(layout.categorical.length, 80 + 3 + 4, 'each list keeps its maxValues');
    assert.deepEqual(layout.widths, { dense: 30, categorical: 87 });
    assert.equal(layout.labels.C75, 'c75');
    assert.equal(layout.labels.I29, 'd29');
  });

  it('trains, a cross of two columns past the 26th changes the model, and score by name reproduces the test NE', async () => {
    const plain = await trainExperiment({ data: data(), model: { family: 'lr', epochs: 3 } });
    const crossed = await trainExperiment({ data: data(), model: { family: 'lr', epochs: 3, crosses: [['c70', 'c75']] } });
    assert.ok(plain.metrics.ne < 0.99, `LR learns the dense and list signal: NE ${plain.metrics.ne}`);
    assert.notEqual(crossed.artifact, plain.artifact, 'the cross is a different model');
    assert.ok(
      crossed.metrics.ne < plain.metrics.ne - 0.01,
      `the planted c70 × c75 cross helps: ${crossed.metrics.ne} vs ${plain.metrics.ne} without it`,
    );

    const out = path.join(dir, 'scores.txt');
    const cli = await runCli(['score', '--model', crossed.artifact, '--input', table.test, '--out', out]);
    assert.equal(cli.code, 0, cli.stderr);
    const scores = fs.readFileSync(out, 'utf8').trim().split('\n').map(Number);
    assert.equal(scores.length, table.testLabels.length, 'one probability per row of the test file');
    const ne = normalizedEntropy(Float64Array.from(scores), table.testLabels);
    assert.ok(Math.abs(ne - crossed.metrics.ne) < 1e-5, `score's NE ${ne} is the reported test NE ${crossed.metrics.ne}`);
    crossedArtifact = crossed.artifact;
    plainArtifact = plain.artifact;
    scoredTest = scores;

    // A file without one of the model's columns fails naming it.
    const lines = fs.readFileSync(table.test, 'utf8').split('\n');
    const drop = lines[0].split(',').indexOf('c75');
    const missing = path.join(dir, 'missing-c75.csv');
    fs.writeFileSync(
      missing,
      lines
        .map((l) =>
          l
            ? l
                .split(',')
                .filter((_, i) => i !== drop)
                .join(',')
            : l,
        )
        .join('\n'),
    );
    const failed = await runCli(['score', '--model', crossed.artifact, '--input', missing, '--out', path.join(dir, 'never.txt')]);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /column "c75" declared in the schema is not in the file/);
    assert.ok(!fs.existsSync(path.join(dir, 'never.txt')), 'no partial output');
    // A compressed file is named as such, not read as bad rows.
    const gz = path.join(dir, 'next-day.csv.gz');
    fs.copyFileSync(table.test, gz);
    const compressed = await runCli(['score', '--model', crossed.artifact, '--input', gz, '--out', path.join(dir, 'never.txt')]);
    assert.equal(compressed.code, 1, compressed.stderr);
    assert.match(compressed.stderr, /reads CSV, TSV or Parquet by the file's extension \(\.csv, \.tsv, \.parquet\); got "\.gz"/);
  });

  it('research screens every pair of its 117 fields and finds the planted cross of two columns past the 26th', async () => {
    assert.ok(plainArtifact, 'the training test ran first');
    const research = await researchBaseline(data(), plainArtifact);
    const top = research.pairs[0];
    assert.deepEqual(top.fields, ['C70', 'C75'], `strongest pair: ${JSON.stringify(top)}`);
    assert.ok(top.significant, 'and it stands out of the noise');
  });

  it('exports to ONNX by column name: ONNX Runtime matches score, and an encoder from the spec alone matches the engine', async () => {
    assert.ok(crossedArtifact, 'the training test ran first');
    const { header } = await loadModelArtifact(crossedArtifact);
    const onnxPath = path.join(dir, 'wide.onnx');
    const exported = await exportModel(crossedArtifact, onnxPath, 'onnx');
    const spec = JSON.parse(fs.readFileSync(exported.preprocessingPath, 'utf8')) as PreprocessingSpec;
    const rawInput = spec.rawInput as { columns: { column: string }[] };
    assert.ok(rawInput.columns.some((c) => c.column === 'c75') && rawInput.columns.some((c) => c.column === 'tags'), 'the spec names columns');
    assert.ok(!rawInput.columns.some((c) => c.column === 'note' || c.column === 'clicked'), 'only feature columns');

    // The engine's encoding of the test file (through its own reader), scored by ONNX Runtime.
    const config = DeclaredData.parse({ ...data(), strict: true });
    const blocks: RowBlock[] = [];
    await readDeclaredChunks(table.test, config, async ({ block }) => void blocks.push(block), { featuresOnly: true, chunkRows: 1_000_000 });
    const encoded = encodeRows(blocks[0], header.featureSpec);
    const viaOnnx = await onnxScores(onnxPath, encoded);
    let worst = 0;
    for (let r = 0; r < viaOnnx.length; r++) worst = Math.max(worst, Math.abs(viaOnnx[r] - scoredTest[r]));
    assert.ok(worst < 1e-5, `ONNX Runtime and rankwright score differ by ${worst}`);

    // A serving team's encoder from the JSON alone, reading the CSV's cells by column name.
    const records = parseCsv(fs.readFileSync(table.test, 'utf8'), { columns: true }) as Record<string, string>[];
    for (let r = 0; r < 300; r++) {
      const mine = encodeDeclaredFromSpec(spec, records[r]);
      assert.deepEqual(mine.cat, Array.from(encoded.catIndex.subarray(r * encoded.catSlots, (r + 1) * encoded.catSlots)), `row ${r} categorical`);
      assert.deepEqual(mine.dense, Array.from(encoded.denseValue.subarray(r * encoded.denseSlots, (r + 1) * encoded.denseSlots)), `row ${r} dense`);
    }
    for (const v of spec.testVectors as { raw: Record<string, string>; inputs: { cat_index?: number[]; dense_value?: number[] } }[]) {
      const mine = encodeDeclaredFromSpec(spec, v.raw);
      assert.deepEqual(mine.cat, v.inputs.cat_index ?? [], 'a test vector (lists with repeats, missing values) re-encodes exactly');
      assert.deepEqual(mine.dense, v.inputs.dense_value ?? []);
    }
  });

  it('pools each list into one field in FM and DCN: the DCN is narrower by the lists, and ONNX Runtime matches the engine', async () => {
    const config = DeclaredData.parse({ ...data(), strict: true });
    const blocks: RowBlock[] = [];
    await readDeclaredChunks(table.test, config, async ({ block }) => void blocks.push(block), { featuresOnly: true, chunkRows: 1_000_000 });
    for (const model of [
      { family: 'fm', epochs: 1 },
      { family: 'dcn', epochs: 1 },
    ] as const) {
      const family = model.family;
      const run = await trainExperiment({ data: data(), model });
      assert.ok(run.metrics.ne < 0.99, `${family} learns on the wide table: NE ${run.metrics.ne}`);
      const { header, tensors } = await loadModelArtifact(run.artifact);
      const spec = header.featureSpec;
      const lists = spec.lists ?? [];
      assert.deepEqual(
        lists.map((l) => [l.column, l.length, l.pooling]),
        [
          ['interests', 4, 'mean'],
          ['tags', 3, 'mean'],
        ],
        'each list column is one pooled field of its kept positions',
      );
      const { catSlots, denseSlots } = slotCounts(spec);
      assert.equal(pooledFieldCount(spec).catFields, catSlots - 3 - 2, 'a list counts as one field');
      if (header.config.family === 'dcn') {
        // The first cross layer's W is D×D over x0: one embedding per field, a list one.
        const d = header.config.embeddingDim;
        const width = (catSlots - 5) * d + denseSlots;
        assert.equal(tensors.p0.length, width * width, `x0 is ${width} wide, not ${catSlots * d + denseSlots}`);
      }
      const onnxPath = path.join(dir, `wide-${family}.onnx`);
      const exported = await exportModel(run.artifact, onnxPath, 'onnx');
      const pre = JSON.parse(fs.readFileSync(exported.preprocessingPath, 'utf8')) as PreprocessingSpec;
      assert.deepEqual(
        (pre.listFields as { column: string }[]).map((l) => l.column),
        ['interests', 'tags'],
        'the preprocessing spec says which slots form a list',
      );
      const encoded = encodeRows(blocks[0], spec);
      const engine = await (await loadArtifactScorer(run.artifact)).score(encoded);
      const viaOnnx = await onnxScores(onnxPath, encoded);
      let worst = 0;
      for (let r = 0; r < viaOnnx.length; r++) worst = Math.max(worst, Math.abs(viaOnnx[r] - engine[r]));
      assert.ok(worst < 1e-5, `${family}: ONNX Runtime and the engine differ by ${worst}`);
      // The test vectors (lists with repeats, empty lists), encoded from the spec alone, score as the engine did.
      const vectors = pre.testVectors as { raw: Record<string, string>; click_probability: number }[];
      const mine = vectors.map((v) => encodeDeclaredFromSpec(pre, v.raw));
      const fromSpec = {
        ...encoded,
        rows: vectors.length,
        catIndex: Int32Array.from(mine.flatMap((m) => m.cat)),
        denseValue: Float32Array.from(mine.flatMap((m) => m.dense)),
        labels: new Uint8Array(vectors.length),
      };
      const vectorScores = await onnxScores(onnxPath, fromSpec);
      vectors.forEach((v, r) =>
        assert.ok(Math.abs(vectorScores[r] - v.click_probability) < 1e-5, `${family} test vector ${r}: ${vectorScores[r]} vs ${v.click_probability}`),
      );
    }
  });
});

/** The spec-only encoder (test/support/spec-encoder.ts) on a row of the table, by column name. */
function encodeDeclaredFromSpec(spec: PreprocessingSpec, row: Record<string, string>): { cat: number[]; dense: number[] } {
  const cell = (r: SpecRule): string => {
    const raw = row[r.column!] ?? '';
    if (r.value === undefined) return raw.trim() === '' ? '' : raw;
    // A list: the cell split on its separator, parts trimmed, empties and repeats dropped; the value-th kept one.
    const kept: string[] = [];
    for (const part of raw.split(r.separator!)) {
      const v = part.trim();
      if (v && !kept.includes(v)) kept.push(v);
    }
    return kept[r.value] ?? '';
  };
  return encodeFromSpec(spec, cell, (slot) => row[slot.column!] ?? '');
}
