import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CampaignInput, describeIssues } from '../../contracts';
import { trainExperiment, TrainingFailure } from '../../ranking';
import { getArtifact } from '../../store/artifacts';
import { InsightsStore } from '../../store/insights';
import { rankwrightHome } from '../../store/home';
import { RankwrightClient } from '../../client/rankwright-client';
import { runCli } from '../support/processes';
import { REPO_ROOT, useTemporal } from '../support/temporal';
import { eventually, withRealWorkers } from '../support/workers';

const BAD = path.join('test', 'fixtures', 'bad');
const GOOD_TEST = path.join('test', 'fixtures', 'criteo', 'test.tsv');

/**
 * The bad-input corpus (test/fixtures/bad): every file and config gets a specific error — which field or which line,
 * and what was expected — and nothing already done is lost.
 */
describe('reliability: the bad-input corpus', function () {
  this.timeout(300_000);

  describe('malformed Criteo files, through the real loader', () => {
    const cases: [string, RegExp][] = [
      ['empty.tsv', /empty\.tsv.*(empty|no rows)/i],
      ['wrong-columns.tsv', /wrong-columns\.tsv:\d+: .*(columns|fields)/i],
      ['bad-label.tsv', /bad-label\.tsv:\d+: .*label/i],
      ['non-numeric-dense.tsv', /non-numeric-dense\.tsv:\d+: expected an integer/i],
      ['invalid-utf8.tsv', /invalid-utf8\.tsv:\d+: .*(UTF-8|encoding)/i],
      ['binary.tsv', /binary\.tsv:\d+: /i],
      ['all-bad.tsv', /all-bad\.tsv/i],
    ];
    for (const [file, expected] of cases) {
      it(`${file} fails as bad data naming the file and line`, async () => {
        await assert.rejects(
          trainExperiment({
            data: { format: 'criteo-tsv', train: path.join(BAD, file), test: GOOD_TEST, maxBadRowFraction: 0 },
            model: { family: 'lr' },
          }),
          (err: Error) => {
            assert.ok(err instanceof TrainingFailure, `${file}: ${err}`);
            assert.equal(err.failureClass, 'bad-data');
            assert.match(err.message, expected);
            return true;
          },
        );
      });
    }

    it('a huge file is read in chunks and its one bad row is counted, not fatal, under the bad-row threshold', async () => {
      const good = fs
        .readFileSync(path.join('test', 'fixtures', 'criteo', 'train.tsv'), 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l.split('\t').length === 40);
      const big = path.join(rankwrightHome(), 'big.tsv');
      const lines: string[] = [];
      for (let i = 0; i < 60_000; i++) lines.push(good[i % good.length]);
      lines.splice(31_337, 0, 'not\ta\tvalid\trow');
      fs.writeFileSync(big, lines.join('\n') + '\n');
      const test = path.join(rankwrightHome(), 'big-test.tsv');
      fs.writeFileSync(test, good.join('\n') + '\n');
      const out = await trainExperiment({
        data: { format: 'criteo-tsv', train: big, test, maxBadRowFraction: 0.01 },
        model: { family: 'lr', epochs: 1 },
      });
      assert.ok(out.metrics.examples > 0);
      await assert.rejects(
        trainExperiment({ data: { format: 'criteo-tsv', train: big, test: GOOD_TEST, maxBadRowFraction: 0 }, model: { family: 'lr', epochs: 1 } }),
        /big\.tsv:31338/,
      );
    });
  });

  describe('campaign configs', () => {
    const expectations: Record<string, RegExp[]> = {
      'wrong-types.json': [
        /data\.planted\.seed: .*expected number/,
        /data\.planted\.trainRows: .*int/i,
        /budget\.experiments: .*expected number/,
        /approvers: .*expected array/,
      ],
      'out-of-range.json': [
        /data\.planted\.trainRows: .*>=100/,
        /data\.planted\.zipf: .*<=3/,
        /budget\.experiments: .*>=1/,
        /budget\.parallel: .*<=64/,
        /calibrationBand: .*low < high/,
      ],
      'unknown-fields.json': [/budgett: unknown field/, /baseline\.learning_rate: unknown field/],
      'path-traversal.json': [/data\.train: path must not contain "\.\." segments/, /data\.test: path must not contain "\.\." segments/],
      'bad-model.json': [/baseline\.family: .*'lr' \| 'fm' \| 'dcn'/],
      'bad-cross.json': [/baseline\.crosses\.0: a cross needs two different fields/, /baseline\.crosses\.1\.1: /],
    };
    for (const [file, patterns] of Object.entries(expectations)) {
      it(`${file}: every bad field is named`, () => {
        const result = CampaignInput.safeParse(JSON.parse(fs.readFileSync(path.join(BAD, 'configs', file), 'utf8')));
        assert.equal(result.success, false);
        const problems = describeIssues(result.error!).join('\n');
        for (const p of patterns) assert.match(problems, p);
      });
    }

    it('the CLI refuses each before any workflow starts (exit code 2), also a truncated file', async () => {
      const truncated = await runCli(['campaign', 'start', '--config', path.join(BAD, 'configs', 'truncated.json')]);
      assert.equal(truncated.code, 2);
      assert.match(truncated.stderr, /truncated\.json: not valid JSON/);
      const traversal = await runCli(['campaign', 'start', '--config', path.join(BAD, 'configs', 'path-traversal.json')]);
      assert.equal(traversal.code, 2);
      assert.match(traversal.stderr, /data\.train: path must not contain/);
      const oversized = path.join(rankwrightHome(), 'oversized.json');
      fs.writeFileSync(oversized, JSON.stringify({ data: { planted: {} }, approvers: ['ana'], objective: 'x'.repeat(100_000) }));
      const big = await runCli(['campaign', 'start', '--config', oversized]);
      assert.equal(big.code, 2);
      assert.match(big.stderr, /objective: .*<=500/);
    });
  });

  it('artifact references cannot reach outside the artifact store', async () => {
    await assert.rejects(getArtifact('../../../etc/passwd'), /sha256/);
    const score = await runCli(['score', '--model', 'sha256:../../etc/passwd', '--input', GOOD_TEST, '--out', path.join(rankwrightHome(), 'p.txt')]);
    assert.notEqual(score.code, 0);
    assert.match(score.stderr, /sha256:<64 hex>|artifact ref/i);
  });

  it('a campaign on bad data stops with the precise error and loses nothing already recorded', async () => {
    const temporal = await useTemporal();
    const client = new RankwrightClient(temporal.client);
    const insights = await InsightsStore.open();
    const before = await insights.count();
    await insights.close();
    await withRealWorkers(temporal, async () => {
      const id = `bad-data-${Date.now()}`;
      await client.startCampaign(
        {
          data: {
            format: 'criteo-tsv',
            train: path.join(REPO_ROOT, BAD, 'bad-label.tsv'),
            test: path.join(REPO_ROOT, GOOD_TEST),
            maxBadRowFraction: 0,
          },
          approvers: ['ana'],
        },
        { id },
      );
      const result = await eventually(
        async () => {
          const { status } = await temporal.client.workflow.getHandle(id).describe();
          return status.name === 'RUNNING' ? undefined : status.name;
        },
        120_000,
        'the campaign to end',
      );
      // describeData refuses the data before any experiment: a non-retryable failure with the file and line.
      assert.equal(result, 'FAILED');
      await assert.rejects(temporal.client.workflow.getHandle(id).result(), (err: Error & { cause?: Error & { cause?: Error } }) => {
        assert.match(err.cause?.cause?.message ?? err.cause?.message ?? '', /bad-label\.tsv:\d+: .*label/i);
        return true;
      });
    });
    const after = await InsightsStore.open();
    assert.ok((await after.count()) >= before, 'earlier experiments are all still there');
    await after.close();
  });
});
