import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  CampaignEvent,
  CriteoData,
  ExperimentResult,
  ModelConfig,
  TASK_QUEUES,
  WORKFLOW_TYPES,
  campaignBadRows,
  type BadRows,
  type CampaignStatus,
} from '../../contracts';
import { recordExperiment } from '../../activities/records';
import { trainModel, type TrainModelInput, type TrainSummary } from '../../activities/training';
import { dataFingerprint, plantedScenario, writeCriteoTsv } from '../../ranking';
import { readEvents } from '../../store/event-log';
import { buildReportData, writeCampaignReport } from '../../store/report';
import { runCli } from '../support/processes';
import { useTemporal } from '../support/temporal';
import { withRealWorkers, inReview } from '../support/workers';
import { RankwrightClient } from '../../client/rankwright-client';

/**
 * Every malformed row is reported where the user looks: `rankwright train` (text and --json), the experiment result,
 * the campaign event log and the report; with strict data, the first one is fatal and named by file:line.
 * Real files (400 train rows, 3 of them malformed: a bad label at line 4, a non-numeric I3 at line 9, a short row at
 * line 17), the real loader, the real training activity and workflow.
 */
describe('reliability: bad rows are reported, not dropped silently', function () {
  this.timeout(180_000);

  let dir: string;
  let data: CriteoData;
  const model = { family: 'lr' as const, epochs: 1 };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-bad-rows-'));
    const s = plantedScenario({ trainRows: 400, validationRows: 100, testRows: 200, seed: 3 });
    const train = path.join(dir, 'train.tsv');
    const test = path.join(dir, 'test.tsv');
    await writeCriteoTsv(train, s.train, s.valueNames);
    await writeCriteoTsv(test, s.test, s.valueNames);
    const lines = fs.readFileSync(train, 'utf8').split('\n');
    const cols = (i: number) => lines[i].split('\t');
    lines[3] = ['2', ...cols(3).slice(1)].join('\t'); // line 4: a label that is not 0/1
    lines[8] = cols(8)
      .map((v, c) => (c === 3 ? 'abc' : v))
      .join('\t'); // line 9: I3 is not a number
    lines[16] = cols(16).slice(0, 12).join('\t'); // line 17: a short row
    fs.writeFileSync(train, lines.join('\n'));
    data = CriteoData.parse({ format: 'criteo-tsv', train, test });
  });

  const writeConfig = (name: string, extra: object = {}) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify({ data: { ...data, ...extra }, model }));
    return file;
  };

  function assertTheThreeBadRows(b: BadRows) {
    assert.equal(b.count, 3);
    assert.deepEqual(
      b.files.map((f) => [f.split, path.basename(f.file), f.rows, f.badRows]),
      [
        ['train', 'train.tsv', 400, 3],
        ['test', 'test.tsv', 200, 0],
      ],
    );
    assert.deepEqual(
      b.examples.map((e) => [e.file, e.line]),
      [4, 9, 17].map((line) => [data.train, line]),
    );
    assert.match(b.examples[0].problem, /label 0 or 1 .*got "2"/);
    assert.match(b.examples[1].problem, /integer or empty in I3 .*got "abc"/);
    assert.match(b.examples[2].problem, /expected 40 tab-separated columns .*got 12/);
  }

  describe('rankwright train (a child process, as a user runs it)', () => {
    it('text output says how many rows were skipped and shows each example as file:line: problem', async () => {
      const { code, stdout, stderr } = await runCli(['train', '--config', writeConfig('exp.json')]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^3 bad rows skipped \(/m);
      assert.ok(stdout.includes(`${data.train}:4: expected label 0 or 1 in column 1, got "2"`), stdout);
      assert.ok(stdout.includes(`${data.train}:9: expected an integer or empty in I3 (column 4), got "abc"`), stdout);
      assert.ok(stdout.includes(`${data.train}:17: expected 40 tab-separated columns (label, I1..I13, C1..C26), got 12`), stdout);
    });

    it('--json carries badRows: the count, the count per file and the examples with file and line', async () => {
      const { code, stdout, stderr } = await runCli(['train', '--config', writeConfig('exp.json'), '--json']);
      assert.equal(code, 0, stderr);
      const out = JSON.parse(stdout);
      assert.deepEqual(Object.keys(out).slice(0, 3), ['artifact', 'metrics', 'badRows']);
      // …and the evidence of how it was trained: validation split, early stopping, the curve, the calibration chosen.
      assert.ok(out.validation.rows > 0 && out.earlyStopping.evaluations >= 1 && out.learningCurve.length >= 1, JSON.stringify(out.earlyStopping));
      assert.ok(['none', 'platt', 'isotonic'].includes(out.calibration.method), JSON.stringify(out.calibration));
      assertTheThreeBadRows(out.badRows);
    });

    it('strict data ("strict": true) fails on the first bad row: exit 2, one line naming file:line, no stack', async () => {
      const { code, stdout, stderr } = await runCli(['train', '--config', writeConfig('strict.json', { strict: true })]);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.ok(stderr.includes(`${data.train}:4: expected label 0 or 1 in column 1, got "2"`), stderr);
      assert.doesNotMatch(stderr, /\n\s+at /);
    });

    it('--strict on the command line fails the same way on a config without strict', async () => {
      const { code, stdout, stderr } = await runCli(['train', '--config', writeConfig('exp.json'), '--strict']);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.ok(stderr.includes(`${data.train}:4: expected label 0 or 1`), stderr);
      assert.doesNotMatch(stderr, /\n\s+at /);
    });

    it('strict does not change the data fingerprint (same files, same rows when it passes)', async () => {
      assert.equal(await dataFingerprint({ ...data, strict: true }), await dataFingerprint(data));
    });
  });

  it('campaignBadRows: the baseline speaks for the campaign; else the first experiment that read the data; else nothing', () => {
    const b = (count: number): BadRows => ({ count, files: [{ split: 'train', file: 't.tsv', rows: 10, badRows: count }], examples: [] });
    const e = (id: string, phase: string, badRows?: BadRows) =>
      ({
        experimentId: id,
        phase,
        status: 'succeeded',
        config: ModelConfig.parse(model),
        trainSeconds: 0,
        modelBytes: 0,
        attempts: [],
        badRows,
      }) as ExperimentResult;
    assert.equal(campaignBadRows([e('x2', 'validation', b(2)), e('base', 'baseline', b(1))])?.count, 1);
    assert.equal(campaignBadRows([e('base', 'baseline'), e('x2', 'validation', b(2)), e('x3', 'validation', b(3))])?.count, 2);
    assert.equal(campaignBadRows([e('base', 'baseline')]), undefined);
    assert.equal(campaignBadRows([]), undefined);
  });

  it('the training activity returns badRows; recordExperiment logs them once per dataset; the report shows them', async () => {
    const campaignId = `bad-rows-activity-${Date.now()}`;
    const env = new MockActivityEnvironment();
    const input: TrainModelInput = {
      experimentId: `${campaignId}-baseline`,
      campaignId,
      attempt: 1,
      data,
      model: ModelConfig.parse(model),
      segmentField: 'C1',
    };
    const summary = (await env.run(trainModel, input)) as TrainSummary;
    assertTheThreeBadRows(summary.badRows);

    const result = (id: string, phase: string): ExperimentResult => ({
      experimentId: id,
      campaignId,
      phase,
      status: 'succeeded',
      config: ModelConfig.parse(model),
      dataFingerprint: summary.dataFingerprint,
      badRows: summary.badRows,
      artifact: summary.artifact,
      metrics: summary.metrics,
      trainSeconds: summary.trainSeconds,
      modelBytes: summary.modelBytes,
      attempts: [],
    });
    const experiments = [result(`${campaignId}-baseline`, 'baseline'), result(`${campaignId}-x2`, 'validation')];
    for (const e of experiments) await recordExperiment(ExperimentResult.parse(e), data);
    const { events } = await readEvents(campaignId);
    const badRowEvents = events.filter((e): e is Extract<CampaignEvent, { type: 'data.bad-rows' }> => e.type === 'data.bad-rows');
    assert.equal(badRowEvents.length, 1, 'one event per dataset, not one per experiment');
    assert.equal(badRowEvents[0].experimentId, `${campaignId}-baseline`);
    assertTheThreeBadRows(badRowEvents[0].badRows);

    const status: CampaignStatus = {
      campaignId,
      phase: 'validation',
      reviewState: 'running',
      paused: false,
      strategy: 'agent',
      experiments,
      running: [],
      baselineId: `${campaignId}-baseline`,
      best: null,
      recommendation: null,
      guardrailBreaches: [],
      decisions: [],
      budgetUsed: { experiments: 2, trainSeconds: 1 },
      ignoredMessages: [],
    };
    assertTheThreeBadRows(campaignBadRows(status.experiments)!);
    assertTheThreeBadRows(buildReportData(status, events).badRows!);
    const { path: page } = await writeCampaignReport(status, events, { storeArtifact: false });
    const html = fs.readFileSync(page, 'utf8');
    const section = html.slice(html.indexOf('<div id="bad-rows"'), html.indexOf('</div>', html.indexOf('<div id="bad-rows"')));
    assert.match(section, /data-count="3"/);
    assert.match(section, /3 bad rows skipped/);
    assert.match(section, /train\.tsv \(train\): 3 of 400 rows/);
    for (const line of [4, 9, 17]) assert.match(section, new RegExp(`<td>[^<]*train\\.tsv</td><td class="num">${line}</td>`));
    assert.match(section, /got &quot;abc&quot;/);
    assert.match(html, /data\.bad-rows<\/td><td>[^<]*3 bad rows skipped/, 'the timeline has the event');
  });

  it('the experiment workflow with the real activities: its result carries badRows; strict data fails it naming file:line', async () => {
    const temporal = await useTemporal();
    await withRealWorkers(temporal, async () => {
      const run = (experimentId: string, strict?: boolean) =>
        temporal.client.workflow.execute(WORKFLOW_TYPES.experiment, {
          taskQueue: TASK_QUEUES.agent,
          workflowId: experimentId,
          args: [{ experimentId, data: strict ? { ...data, strict } : data, model, maxAttempts: 1, agents: 'heuristic' }],
        }) as Promise<ExperimentResult>;
      const id = `bad-rows-wf-${Date.now()}`;
      const result = await run(id);
      assert.equal(result.status, 'succeeded');
      assertTheThreeBadRows(result.badRows!);
      const { events } = await readEvents(id);
      const logged = events.find((e) => e.type === 'data.bad-rows');
      assert.ok(logged && logged.type === 'data.bad-rows', 'a data.bad-rows event');
      assertTheThreeBadRows(logged.badRows);

      const strict = await run(`${id}-strict`, true);
      assert.equal(strict.status, 'failed');
      assert.equal(strict.failure?.failureClass, 'bad-data');
      assert.ok(strict.failure?.message.startsWith(`${data.train}:4: expected label 0 or 1`), strict.failure?.message);
    });
  });

  it('a campaign on the file shows the bad rows in its status (what `rankwright status --json` prints)', async () => {
    const temporal = await useTemporal();
    const client = new RankwrightClient(temporal.client);
    await withRealWorkers(temporal, async () => {
      const { workflowId } = await client.startCampaign(
        { data, baseline: model, budget: { experiments: 2, parallel: 1 }, strategy: 'random', agents: 'heuristic', approvers: ['ana'] },
        { id: `bad-rows-campaign-${Date.now()}` },
      );
      const review = await inReview(client, workflowId, 120_000, 'the campaign to await review');
      assertTheThreeBadRows(review.badRows!);
      await client.abort(workflowId, { by: 'ana' });
    });
  });
});
