import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { schemaLayout } from '../../contracts';
import { trainExperiment } from '../../ranking/experiment';
import { normalizedEntropy } from '../../ranking/metrics';
import { runCli } from '../support/processes';
import { writeWideTable, type WideTable } from '../support/wide-table';

/**
 * A team's table wider than Criteo's 13 + 26: 80 categorical, 30 dense and 2 list columns, its signal in columns far
 * past the 26th. It trains, a cross of two of those columns changes the model, and `rankwright score` reads its test
 * CSV by column name (an extra column ignored) and reproduces the test NE the run reported.
 */
describe('a table wider than Criteo', function () {
  this.timeout(300_000);
  let dir: string;
  let table: WideTable;
  const data = () => ({ format: 'csv' as const, train: table.train, test: table.test, schema: table.schema });

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
  });
});
