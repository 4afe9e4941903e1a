import { strict as assert } from 'node:assert';
import { TrainingFailure, trainExperiment } from '../../ranking';
import { ModelConfig, type TrainingProgress } from '../../contracts';
import { retryAfterFailure } from '../../workflows/retry-policy';

/** Small planted data with the default 2 crosses: big enough that the families separate, small enough for CI. */
const data = { planted: { trainRows: 20_000, validationRows: 2_000, testRows: 10_000 } };
const plantedCrosses: [string, string][] = [
  ['C1', 'C6'],
  ['C2', 'C4'],
];

describe('training the three families on planted data', function () {
  const ne: Record<string, number> = {};

  it('hashed LR (FTRL) learns, emits progress, and reports test metrics with oracle and segments', async () => {
    const events: TrainingProgress[] = [];
    const r = await trainExperiment({ data, model: { family: 'lr' }, onProgress: (p) => events.push(p) });
    ne.lr = r.metrics.ne;
    assert.ok(r.metrics.ne < 0.95, `LR NE ${r.metrics.ne} should beat the base rate`);
    assert.ok(r.metrics.auc > 0.7);
    assert.ok(r.metrics.oracleNe! < r.metrics.ne);
    assert.equal(r.metrics.regret, r.metrics.ne - r.metrics.oracleNe!);
    assert.equal(r.metrics.examples, 10_000);
    assert.ok(r.metrics.segments!.length > 0 && r.metrics.segments![0].field === 'C1');
    assert.ok(r.neStdErr > 0 && r.neStdErr < 0.05);
    assert.ok(events.length >= 10 && events.every((p, i) => i === 0 || p.step >= events[i - 1].step));
    assert.equal(events.filter((p) => p.validationNe !== undefined).length, 2, 'validation NE at each epoch end');
    assert.deepEqual(r.progress, events);
    assert.match(r.artifact, /^sha256:/);
    assert.ok(r.modelBytes > 0);
  });

  it('LR with the planted crosses as explicit features improves', async () => {
    const r = await trainExperiment({ data, model: { family: 'lr', crosses: plantedCrosses } });
    ne.lrCrosses = r.metrics.ne;
    assert.ok(r.metrics.ne < ne.lr - 0.01, `LR+crosses ${r.metrics.ne} vs LR ${ne.lr}`);
  });

  it('FM beats LR (it learns the low-rank planted interactions)', async () => {
    const r = await trainExperiment({ data, model: { family: 'fm' } });
    assert.ok(r.metrics.ne < ne.lr, `FM ${r.metrics.ne} vs LR ${ne.lr}`);
  });

  it('DCN beats LR', async () => {
    const r = await trainExperiment({ data, model: { family: 'dcn', epochs: 2 } });
    assert.ok(r.metrics.ne < ne.lr, `DCN ${r.metrics.ne} vs LR ${ne.lr}`);
    assert.ok(r.progress.some((p) => p.gradNorm !== undefined && p.gradNorm > 0));
  });

  it('training is deterministic for a config and seed', async () => {
    const a = await trainExperiment({ data, model: { family: 'fm', epochs: 1 } });
    const b = await trainExperiment({ data, model: { family: 'fm', epochs: 1 } });
    assert.equal(a.artifact, b.artifact, 'identical weights and metrics → identical content-addressed artifact');
    const c = await trainExperiment({ data, model: { family: 'fm', epochs: 1, seed: 2 } });
    assert.notEqual(a.artifact, c.artifact);
  });
});

describe('classified training failures', () => {
  const small = { planted: { trainRows: 5_000, validationRows: 500, testRows: 1_000 } };
  for (const family of ['fm', 'dcn'] as const) {
    it(`${family} with learningRate 10 diverges (not a crash)`, async () => {
      try {
        // Numeric (log) dense inputs: with every input an embedding (quantile, the default) Adam at 10 can stay finite.
        const divergent = { learningRate: 10, denseTransform: 'log' } as const;
        await trainExperiment({ data: small, model: family === 'fm' ? { family: 'fm', ...divergent } : { family: 'dcn', ...divergent } });
        assert.fail('expected divergence');
      } catch (e) {
        assert.ok(e instanceof TrainingFailure, String(e));
        assert.equal(e.failureClass, 'diverged');
        assert.match(e.message, /diverged at step \d+/);
        const report = e.toReport();
        assert.ok(report.lastProgress.length > 0 && report.lastProgress.length <= 50);
        // It trained before it diverged: the report says for how long (a campaign's trainSeconds budget counts it).
        // (At least the last progress event's time, which is rounded to the millisecond.)
        const lastElapsed = (report.lastProgress.at(-1)!.elapsedMs - 0.5) / 1000;
        assert.ok(report.trainSeconds !== undefined && report.trainSeconds >= lastElapsed, `trainSeconds ${report.trainSeconds} < ${lastElapsed}`);
      }
    });
  }

  it("a dcn fed raw dense values diverges at its default learning rate, and the runbook's retry (log-transformed) trains", async () => {
    // Planted dense values are counts: x0 ⊙ (W·x + b) squares them in the first cross layer.
    const raw = ModelConfig.parse({ family: 'dcn', denseTransform: 'none' });
    const failure = await trainExperiment({ data: small, model: raw }).then(
      () => assert.fail('expected divergence'),
      (e: unknown) => e,
    );
    assert.ok(failure instanceof TrainingFailure, String(failure));
    assert.equal(failure.failureClass, 'diverged');
    const retry = retryAfterFailure('diverged', raw, failure.message);
    assert.ok(retry.retry);
    assert.equal(retry.config.denseTransform, 'log');
    assert.equal(retry.config.learningRate, raw.learningRate);
    const trained = await trainExperiment({ data: small, model: retry.config });
    assert.ok(trained.metrics.ne < 1, `log-transformed dcn NE ${trained.metrics.ne} should beat a constant`);
  });

  it('a model over the memory budget fails as resource before allocating', async () => {
    try {
      await trainExperiment({ data: small, model: { family: 'fm', hashBits: 24, embeddingDim: 64 } });
      assert.fail('expected a resource failure');
    } catch (e) {
      assert.ok(e instanceof TrainingFailure);
      assert.equal(e.failureClass, 'resource');
      assert.match(e.message, /over the 1\.50 GiB budget; hashBits \d+ would fit/);
      // Refused before training: no seconds were spent.
      assert.equal(e.toReport().trainSeconds, undefined);
    }
    await assert.rejects(
      trainExperiment({ data: small, model: { family: 'lr', hashBits: 16 }, maxMemoryBytes: 1024 }),
      (e: unknown) => e instanceof TrainingFailure && e.failureClass === 'resource',
    );
  });

  it('malformed Criteo files fail as bad-data naming file and line', async () => {
    const bad = { format: 'criteo-tsv' as const, train: 'test/fixtures/bad/bad-label.tsv', test: 'test/fixtures/criteo/test.tsv' };
    await assert.rejects(
      trainExperiment({ data: bad, model: { family: 'lr' } }),
      (e: unknown) => e instanceof TrainingFailure && e.failureClass === 'bad-data' && /bad-label\.tsv:6: expected label 0 or 1/.test(e.message),
    );
  });

  it('honours an AbortSignal between steps', async () => {
    const controller = new AbortController();
    let steps = 0;
    await assert.rejects(
      trainExperiment({
        data: small,
        model: { family: 'dcn', epochs: 3, mlp: [16], crossLayers: 1 },
        signal: controller.signal,
        onProgress: (p) => {
          steps = p.step;
          if (p.step >= 5) controller.abort(new Error('cancelled by test'));
        },
      }),
      /cancelled by test/,
    );
    assert.ok(steps >= 5 && steps < 100, `stopped at step ${steps}`);
  });
});
