import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig, ExperimentResult, ModelConfig, type TriageRequest } from '../../contracts';
import { interpretFailure } from '../../activities/agents';
import { recordExperiment } from '../../activities/records';
import { dataFingerprint } from '../../ranking';
import { InsightsStore } from '../../store/insights';
import { startOpenAiServer, type OpenAiTestServer } from '../support/openai-server';
import { metrics } from '../store/fixtures/campaign';
import { insightsBackends, insightsForActivities } from '../support/insights-backends';
import { progress } from './fixtures';

/**
 * The triage activity with the real insights database: a fix that worked for a failure class (recorded by the real
 * recordExperiment activity) comes back as `rememberedFix` the next time that class fails on that data, and is quoted
 * in the fix; an LLM answer cannot add or change one.
 */
for (const backend of insightsBackends)
  describe(`interpretFailure activity: remembered fixes from the insights database (on ${backend.name})`, () => {
    const data = DataConfig.parse({ planted: { seed: 404 } });
    const savedEnv = { ...process.env };
    let home: string;
    let fp: string;
    let undo: () => void;

    beforeEach(async () => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-triage-activity-'));
      process.env.RANKWRIGHT_HOME = home;
      undo = await insightsForActivities(backend);
      fp = await dataFingerprint(data);
    });
    after(() => backend.cleanup());
    afterEach(() => {
      undo();
      for (const key of ['RANKWRIGHT_HOME', 'OPENAI_BASE_URL', 'OPENAI_API_KEY', 'RANKWRIGHT_LLM_STRUCTURED_OUTPUT', 'RANKWRIGHT_LLM_TIMEOUT_MS'])
        if (savedEnv[key] === undefined) delete process.env[key];
        else process.env[key] = savedEnv[key];
      fs.rmSync(home, { recursive: true, force: true });
    });

    /** An lr run on `data` that diverged at learning rate 3 and 0.9 and trained at 0.27, recorded like a workflow does. */
    async function recordDivergedThenFixed(experimentId: string): Promise<void> {
      const failure = (lr: number) => ({
        failureClass: 'diverged' as const,
        message: `loss became NaN (learningRate ${lr})`,
        lastProgress: [],
        dataFingerprint: fp,
      });
      const attempts = [
        { config: ModelConfig.parse({ family: 'lr', learningRate: 3 }), failure: failure(3) },
        { config: ModelConfig.parse({ family: 'lr', learningRate: 0.9, gradientClip: 5 }), failure: failure(0.9) },
        { config: ModelConfig.parse({ family: 'lr', learningRate: 0.27, gradientClip: 2.5 }) },
      ];
      const result = ExperimentResult.parse({
        experimentId,
        phase: 'adhoc',
        status: 'succeeded',
        config: attempts[2].config,
        dataFingerprint: fp,
        metrics: metrics(0.8),
        trainSeconds: 2,
        modelBytes: 100,
        attempts,
      });
      await recordExperiment(result, data);
    }

    const request = (over: Partial<TriageRequest['failure']> = {}, config = ModelConfig.parse({ family: 'lr', learningRate: 3 })): TriageRequest => ({
      experimentId: 'next-1',
      config,
      attempt: 1,
      failure: {
        failureClass: 'diverged',
        message: 'loss became NaN at step 12',
        lastProgress: progress([0.45, 0.9, 3.7, NaN]),
        dataFingerprint: fp,
        ...over,
      },
    });

    it('returns the fix that worked on this data and quotes it in the diagnosis and the fix', async () => {
      const before = await interpretFailure(request(), 'heuristic');
      assert.equal(before.rememberedFix, undefined, 'nothing remembered on an empty database');
      assert.match(before.fix, /^Retry with learningRate 3 → 0\.9 and gradient clipping at 5/);

      await recordDivergedThenFixed('first-1');
      const store = await InsightsStore.open();
      assert.deepEqual(
        (await store.listRemedies()).map((r) => [r.experimentId, r.outcome]),
        [
          ['first-1', 'failed'],
          ['first-1', 'worked'],
        ],
        'the recordExperiment activity recorded the remedies',
      );
      await store.close();

      const res = await interpretFailure(request(), 'heuristic');
      assert.equal(res.source, 'heuristic');
      assert.deepEqual(res.rememberedFix, {
        failureClass: 'diverged',
        family: 'lr',
        changes: { learningRate: 0.27, learningRateRatio: 0.09, gradientClip: 2.5 },
        fromExperiment: 'first-1',
        dataFingerprint: fp,
        similarity: 1,
        worked: 1,
        failed: 0,
        attempts: 3,
      });
      assert.match(
        res.fix,
        /^Retry with learningRate 3 → 0\.27, gradient clipping at 2\.5; remembered from experiment first-1 \(worked 1 time, on the same data\)/,
      );
      assert.match(
        res.diagnosis,
        /non-finite .* The insights database remembers a fix for diverged lr runs: learningRate ×0\.09 \(to 0\.27\), gradientClip 2\.5/,
      );

      // A failure report without a fingerprint (an older training worker): the planted data config names the same data.
      const named = await interpretFailure({ ...request({ dataFingerprint: undefined }), data }, 'heuristic');
      assert.equal(named.rememberedFix?.fromExperiment, 'first-1');
      // Files this worker cannot see are not fingerprinted: nothing is remembered about them.
      const unseen = DataConfig.parse({ format: 'criteo-tsv', train: 'no/such/train.tsv', test: 'no/such/test.tsv' });
      assert.equal((await interpretFailure({ ...request({ dataFingerprint: undefined }), data: unseen }, 'heuristic')).rememberedFix, undefined);
      // Another class, another family: nothing.
      assert.equal((await interpretFailure(request({ failureClass: 'resource', message: 'out of memory' }), 'heuristic')).rememberedFix, undefined);
      assert.equal((await interpretFailure(request({}, ModelConfig.parse({ family: 'fm', learningRate: 3 })), 'heuristic')).rememberedFix, undefined);
    });

    describe('with an LLM', () => {
      let server: OpenAiTestServer;
      before(async () => (server = await startOpenAiServer()));
      after(async () => server.close());
      beforeEach(() => {
        process.env.OPENAI_BASE_URL = server.baseURL;
        process.env.OPENAI_API_KEY = 'sk-test';
        process.env.RANKWRIGHT_LLM_STRUCTURED_OUTPUT = 'jsonSchema';
        process.env.RANKWRIGHT_LLM_TIMEOUT_MS = '2000';
      });

      /** An LLM that answers on topic and also sends a rememberedFix of its own making. */
      const inventive = () =>
        server.script([
          {
            content: JSON.stringify({
              failureClass: 'diverged',
              diagnosis: 'Loss went from 0.45 to NaN.',
              fix: 'Lower learningRate from 3 to 0.01.',
              rememberedFix: { failureClass: 'diverged', family: 'lr', changes: { learningRate: 9 }, fromExperiment: 'made-up', worked: 99 },
            }),
          },
        ]);

      it('cannot invent a remembered fix, and is told the one the database has', async () => {
        inventive();
        const none = await interpretFailure(request(), 'llm');
        assert.equal(none.source, 'llm');
        assert.equal(none.rememberedFix, undefined, "the LLM's own rememberedFix is dropped");

        await recordDivergedThenFixed('first-2');
        inventive();
        const res = await interpretFailure(request(), 'llm');
        assert.equal(res.source, 'llm');
        assert.equal(res.fix, 'Lower learningRate from 3 to 0.01.');
        assert.equal(res.rememberedFix?.fromExperiment, 'first-2', 'the database one, not the made-up one');
        assert.deepEqual(res.rememberedFix?.changes, { learningRate: 0.27, learningRateRatio: 0.09, gradientClip: 2.5 });
        const prompt = server.requests[server.requests.length - 1].body.messages[1].content as string;
        assert.match(
          prompt,
          /The insights database remembers a fix for diverged on lr: learningRate ×0\.09 \(to 0\.27\), gradientClip 2\.5, remembered from experiment first-2/,
        );
      });
    });
  });
