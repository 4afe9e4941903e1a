import { strict as assert } from 'node:assert';
import { WorkflowFailedError } from '@temporalio/client';
import { InvalidInputError, REFERENCE_PROBE } from '../../contracts';
import type { CampaignInputRaw, CampaignStatus } from '../../contracts';
import { RankwrightClient, SignOffRefusedError } from '../../client/rankwright-client';
import { scriptedActivities, scriptedNe } from '../support/scripted-activities';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withWorkers } from '../support/workers';

const config = (over: Partial<CampaignInputRaw> = {}): CampaignInputRaw => ({
  data: { planted: { seed: 3 } },
  budget: { experiments: 7, parallel: 2 },
  approvers: ['ana', 'bo'],
  ...over,
});

describe('rankingCampaign planner and sign-off (real Temporal, scripted training and agents)', function () {
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
  });

  const awaitReview = (id: string, state = 'awaiting-review') =>
    eventually(
      async () => {
        const s = await client.status(id);
        return s.reviewState === state ? s : undefined;
      },
      90_000,
      `${id} to reach ${state}`,
    );

  it('runs baseline + three phases within budget, recommends the lowest NE, and waits for an approver', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      // stallGain 0: run every phase to the end of the budget (stalling has its own test).
      const { workflowId } = await client.startCampaign(config({ budget: { experiments: 7, parallel: 2, stallGain: 0 } }), {
        id: `plan-${Date.now()}`,
      });
      const review = await awaitReview(workflowId);
      assert.equal(review.experiments.length, 7, 'spends exactly the experiment budget');
      assert.equal(review.stopReason, 'budget-experiments');
      const phases = new Set(review.experiments.map((e) => e.phase));
      assert.deepEqual([...phases].sort(), ['baseline', 'combination', 'exploitation', 'validation']);
      const best = [...review.experiments].sort((a, b) => a.metrics!.ne - b.metrics!.ne)[0];
      assert.equal(review.recommendation?.experimentId, best.experimentId);
      assert.equal(review.recommendation?.metrics.ne, scriptedNe(best.config));
      // Every experiment but the baseline reports its change against the baseline.
      const base = review.experiments.find((e) => e.phase === 'baseline')!;
      for (const e of review.experiments.filter((x) => x !== base)) {
        assert.ok(Math.abs(e.relativeNeChange! - (e.metrics!.ne - base.metrics!.ne) / base.metrics!.ne) < 1e-9);
      }
      // The designer was given the interaction signal measured on the best model.
      assert.ok(script.designRequests.some((r) => r.fieldPairSignal.length > 0));
      // The research step ran once, on the baseline, before the first wave: its hypotheses reach every design request,
      // the status and the event log.
      assert.deepEqual(script.researched, [base.experimentId]);
      assert.ok(script.designRequests.length > 0 && script.designRequests.every((r) => r.research[0]?.hypothesis.title === 'Cross C1×C2 on lr'));
      assert.equal(review.research?.hypotheses[0].expectedGain, 0.01);
      assert.equal(review.research?.findings.fit.verdict, 'underfitting');
      const researchEvent = script.events.find((e) => e.type === 'campaign.research');
      assert.ok(researchEvent && researchEvent.type === 'campaign.research' && researchEvent.hypotheses[0].title === 'Cross C1×C2 on lr');
      assert.match(researchEvent.fit, /^underfitting/);
      // Every wave says which designer answered; every designed experiment carries it.
      const designs = script.events.filter((e) => e.type === 'design');
      assert.ok(designs.length >= 3 && designs.every((e) => e.type === 'design' && e.source === 'heuristic' && e.proposals > 0));
      assert.ok(review.experiments.filter((e) => e !== base).every((e) => e.hypothesis?.designer === 'heuristic'));

      // Search attributes are current: the UI's list filter finds it.
      const listed = await eventually(
        async () => {
          const rows = await client.list({ query: `ReviewState = 'awaiting-review' AND CampaignId = '${workflowId}'` });
          return rows.length ? rows : undefined;
        },
        20_000,
        'visibility',
      );
      assert.equal(listed[0].workflowId, workflowId);

      await assert.rejects(client.approve(workflowId, { by: 'mallory' }), (err: Error) => {
        assert.ok(err instanceof SignOffRefusedError);
        assert.match(err.message, /mallory is not an approver of this campaign \(approvers: ana, bo\)/);
        return true;
      });
      await assert.rejects(client.reject(workflowId, { by: 'ana', reason: '' }), /a rejection needs a reason/);
      const decision = await client.approve(workflowId, { by: 'ana', note: 'ship it' });
      assert.equal(decision.kind, 'approve');
      const result: CampaignStatus = await client.waitForResult(workflowId);
      assert.equal(result.reviewState, 'approved');
      assert.equal(result.decisions.length, 1);
      assert.equal(result.decisions[0].by, 'ana');
      assert.equal(result.decisions[0].note, 'ship it');
      assert.ok(script.events.some((e) => e.type === 'decision' && e.by === 'ana' && e.accepted));
      assert.ok(script.events.some((e) => e.type === 'campaign.finished'));
    });
  });

  it('agents "llm" on a worker without an LLM endpoint fails the campaign at once, with a clear message, before any training', async () => {
    const saved = { base: process.env.OPENAI_BASE_URL, key: process.env.OPENAI_API_KEY };
    delete process.env.OPENAI_BASE_URL;
    delete process.env.OPENAI_API_KEY;
    const script = scriptedActivities();
    try {
      await withWorkers(temporal, script.activities, async () => {
        const { workflowId } = await client.startCampaign(config({ agents: 'llm' }), { id: `nollm-${Date.now()}` });
        await assert.rejects(client.waitForResult(workflowId), (err: Error) => {
          assert.ok(err instanceof WorkflowFailedError, String(err));
          assert.match(
            String(err.cause?.message),
            /asks for LLM sub-agents \(agents: "llm"\) but this worker has no LLM endpoint: set OPENAI_BASE_URL/,
          );
          return true;
        });
      });
    } finally {
      if (saved.base !== undefined) process.env.OPENAI_BASE_URL = saved.base;
      if (saved.key !== undefined) process.env.OPENAI_API_KEY = saved.key;
    }
    assert.equal(script.trained.length, 0, 'nothing was trained');
  });

  it('stops early when a phase stalls, and says so', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      // The scripted combination phase cannot beat validation's best, and stallGain demands 5% per phase.
      const { workflowId } = await client.startCampaign(config({ budget: { experiments: 12, parallel: 2, stallGain: 0.05 } }), {
        id: `stall-${Date.now()}`,
      });
      const review = await awaitReview(workflowId);
      assert.equal(review.stopReason, 'stalled');
      assert.ok(review.experiments.length < 12);
      assert.ok(!review.experiments.some((e) => e.phase === 'exploitation'));
      await client.abort(workflowId, { by: 'ana' });
    });
  });

  it('goes on past a stalled phase while a research hypothesis is untried, and says why', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      // The scripted research hypothesis is the baseline plus a C1×C2 cross; with this baseline's learning rate no
      // scripted design ever runs it, so the stall after combination must not end the campaign.
      const { workflowId } = await client.startCampaign(
        config({ baseline: { family: 'lr', learningRate: 0.07 }, budget: { experiments: 12, parallel: 2, stallGain: 0.05 } }),
        { id: `stall-untried-${Date.now()}` },
      );
      const review = await awaitReview(workflowId);
      assert.notEqual(review.stopReason, 'stalled');
      assert.ok(
        review.experiments.some((e) => e.phase === 'exploitation'),
        'the campaign went on to exploitation',
      );
      const exploitation = script.events.find((e) => e.type === 'campaign.phase' && e.phase === 'exploitation');
      assert.ok(exploitation && exploitation.type === 'campaign.phase');
      assert.match(exploitation.note ?? '', /^the combination phase stalled, but 1 research hypothesis is untried \(Cross C1×C2 on lr\): going on$/);
      await client.abort(workflowId, { by: 'ana' });
    });
  });

  it('continues-as-new when the history grows, carrying every experiment and decision', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      const started = await client.startCampaign(config({ budget: { experiments: 9, parallel: 2, stallGain: 0 }, historyLimit: 100 }), {
        id: `can-${Date.now()}`,
      });
      const review = await awaitReview(started.workflowId);
      const firstRun = await temporal.client.workflow.getHandle(started.workflowId, started.runId).describe();
      assert.equal(firstRun.status.name, 'CONTINUED_AS_NEW');
      assert.equal(review.experiments.length, 9);
      assert.equal(new Set(review.experiments.map((e) => e.experimentId)).size, 9, 'no experiment repeated across runs');
      assert.equal(script.trained.length, 9, 'no experiment re-trained after continue-as-new');
      assert.equal(script.researched.length, 1, 'the research step is not repeated after continue-as-new');
      assert.equal(review.research?.hypotheses.length, 1, 'its findings are carried over');
      await client.approve(started.workflowId, { by: 'ana' });
      assert.equal((await client.waitForResult(started.workflowId)).reviewState, 'approved');
    });
  });

  it('on a review timeout reminds and keeps waiting, or expires as rejected — never approves', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      const remind = await client.startCampaign(config({ budget: { experiments: 2 }, review: { timeoutSeconds: 1, onTimeout: 'remind' } }), {
        id: `remind-${Date.now()}`,
      });
      const expire = await client.startCampaign(config({ budget: { experiments: 2 }, review: { timeoutSeconds: 1, onTimeout: 'expire' } }), {
        id: `expire-${Date.now()}`,
      });
      const expired = await client.waitForResult(expire.workflowId);
      assert.equal(expired.reviewState, 'rejected');
      assert.deepEqual(
        expired.decisions.map((d) => [d.kind, d.by, d.via]),
        [['expired', 'rankwright', 'timer']],
      );
      const reminded = await eventually(
        async () => {
          const s = await client.status(remind.workflowId);
          return s.decisions.filter((d) => d.kind === 'reminder').length >= 2 ? s : undefined;
        },
        30_000,
        'two reminders',
      );
      assert.equal(reminded.reviewState, 'awaiting-review');
      await client.approve(remind.workflowId, { by: 'bo' });
      const done = await client.waitForResult(remind.workflowId);
      assert.equal(done.reviewState, 'approved');
      assert.equal(done.decisions.at(-1)!.by, 'bo');
    });
  });

  it('pause holds new experiments (running ones finish) until resume', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      const { workflowId } = await client.startCampaign(config({ budget: { experiments: 6, parallel: 1, stallGain: 0 } }), {
        id: `pause-${Date.now()}`,
      });
      await eventually(async () => ((await client.status(workflowId)).experiments.length >= 1 ? true : undefined), 30_000, 'the baseline');
      await client.pause(workflowId, { by: 'ana' });
      const paused = await eventually(
        async () => {
          const s = await client.status(workflowId);
          return s.paused && s.running.length === 0 ? s : undefined;
        },
        30_000,
        'a quiet, paused campaign',
      );
      await new Promise((r) => setTimeout(r, 1500));
      const still = await client.status(workflowId);
      assert.equal(still.experiments.length, paused.experiments.length, 'nothing new launched while paused');
      assert.equal(still.reviewState, 'running');
      await client.resume(workflowId, { by: 'ana' });
      const review = await awaitReview(workflowId);
      assert.equal(review.experiments.length, 6);
      assert.equal(review.paused, false);
      await client.abort(workflowId, { by: 'ana' });
    });
  });

  it('refuses a bad config before any workflow starts, and the workflow itself refuses it too (Web UI path)', async () => {
    const bad = { data: { planted: { seed: 'x' } }, budget: { experiments: 0 }, approvers: [], colour: 'red' };
    await assert.rejects(client.startCampaign(bad, { id: 'never-started' }), (err: Error) => {
      assert.ok(err instanceof InvalidInputError);
      assert.match(err.message, /data\.planted\.seed: .*expected number/);
      assert.match(err.message, /budget\.experiments: .*>=1/);
      assert.match(err.message, /approvers: name at least one approver/);
      assert.match(err.message, /colour: unknown field/);
      return true;
    });
    await assert.rejects(temporal.client.workflow.getHandle('never-started').describe(), /not found/i);

    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      const handle = await temporal.client.workflow.start('rankingCampaign', {
        taskQueue: 'rankwright-agent',
        workflowId: `bad-${Date.now()}`,
        args: [bad],
      });
      await assert.rejects(handle.result(), (err: Error) => {
        assert.ok(err instanceof WorkflowFailedError);
        const cause = err.cause as { type?: string; message: string; nonRetryable?: boolean };
        assert.equal(cause.type, 'InvalidInput');
        assert.equal(cause.nonRetryable, true);
        assert.match(cause.message, /budget\.experiments/);
        assert.match(cause.message, /colour: unknown field/);
        return true;
      });
    });
  });

  it('screens validation ideas as probes on a row sample, runs only the winners in full, and counts probes and retries as compute', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      // 200k training rows: probes at the default 20% read 40k, above the default probeMinRows (20k).
      const { workflowId } = await client.startCampaign(
        config({ data: { planted: { seed: 3, trainRows: 200_000 } }, budget: { experiments: 10, parallel: 2, stallGain: 0 } }),
        { id: `probes-${Date.now()}` },
      );
      const review = await awaitReview(workflowId);
      const probes = review.probes ?? [];
      // Validation gets ceil(9 × 0.35) = 4 of the 9 units left after the baseline: half buys 10 probes at 0.2 (a
      // reference and 9 ideas), the other half full runs of the 2 best probes that beat the reference.
      assert.equal(probes.length, 10);
      assert.ok(probes.every((p) => p.probe?.trainRows === 40_000 && p.probe.rowFraction === 0.2));
      const probeTrainings = script.trained.filter((t) => /-p\d+$/.test(t.experimentId));
      assert.equal(probeTrainings.length, 10);
      assert.ok(
        probeTrainings.every((t) => 'planted' in t.data && t.data.planted.trainRows === 40_000),
        'probes train on the row sample',
      );
      const fullTrainings = script.trained.filter((t) => !/-p\d+$/.test(t.experimentId));
      assert.ok(
        fullTrainings.every((t) => 'planted' in t.data && t.data.planted.trainRows === 200_000),
        'full runs train on all rows',
      );

      const base = review.experiments.find((e) => e.phase === 'baseline')!;
      const reference = probes.find((p) => p.hypothesis?.technique === REFERENCE_PROBE)!;
      assert.deepEqual(reference.config, base.config, 'the reference probe is the best model so far (the baseline)');
      const promoted = probes.filter((p) => p.promotedTo);
      assert.equal(promoted.length, 2);
      const ideas = probes.filter((p) => p !== reference);
      for (const p of promoted) {
        assert.ok(p.validationNe! < reference.validationNe!, 'a promoted probe beat the reference');
        assert.ok(
          ideas.filter((q) => !q.promotedTo).every((q) => q.validationNe! >= p.validationNe!),
          'the best probes were promoted',
        );
        const full = review.experiments.find((e) => e.experimentId === p.promotedTo)!;
        assert.equal(full.phase, 'validation');
        assert.ok(full.hypothesis?.parents.includes(p.experimentId), 'the full run names its probe');
        assert.match(full.hypothesis!.rationale, new RegExp(`^Probe ${p.experimentId} on 40000 rows: validation NE`));
      }
      // Only the promoted ideas ran in full in validation; losers were shown to the designer as screened, never re-run.
      assert.equal(review.experiments.filter((e) => e.phase === 'validation').length, 2);
      const later = script.designRequests.filter((r) => r.phase !== 'validation');
      assert.ok(later.length > 0 && later.every((r) => (r.screened ?? []).length === ideas.length - promoted.length));

      // Compute: 1 per full attempt, 0.2 per probe; what is left never pays for another full run.
      const compute = review.experiments.length + 0.2 * probes.length;
      assert.ok(Math.abs(review.budgetUsed.compute! - compute) < 1e-9);
      assert.ok(review.budgetUsed.compute! <= 10 && review.budgetUsed.compute! > 9);
      assert.equal(review.budgetUsed.probes, 10);
      assert.equal(review.stopReason, 'budget-experiments');
      // Probes are never candidates.
      assert.ok(!review.recommendation?.experimentId.includes('-p'));
      const round = script.events.find((e) => e.type === 'campaign.probes');
      assert.ok(round && round.type === 'campaign.probes' && round.promoted === 2 && round.probes.length === 9 && round.rows === 40_000);
      assert.equal(round.referenceValidationNe, reference.validationNe);
      await client.abort(workflowId, { by: 'ana' });
    });
  });

  it('retries a diverged experiment with a lower learning rate and clipping, then records the class and fix', async () => {
    const script = scriptedActivities({ divergeAbove: 1 });
    await withWorkers(temporal, script.activities, async () => {
      const { workflowId } = await client.startCampaign(config({ baseline: { family: 'lr', learningRate: 3 }, budget: { experiments: 1 } }), {
        id: `diverge-${Date.now()}`,
      });
      const review = await awaitReview(workflowId);
      const base = review.experiments[0];
      assert.equal(base.status, 'succeeded');
      assert.equal(base.attempts.length, 2);
      assert.equal(base.attempts[0].failure?.failureClass, 'diverged');
      assert.equal(base.attempts[0].triage?.source, 'heuristic');
      assert.equal(base.config.learningRate, 0.9);
      assert.equal(base.config.gradientClip, 5);
      assert.deepEqual(
        script.trained.map((t) => t.model.learningRate),
        [3, 0.9],
      );
      await client.abort(workflowId, { by: 'bo', reason: 'test over' });
      assert.equal((await client.waitForResult(workflowId)).reviewState, 'aborted');
    });
  });

  it('halts in needs-review when the best candidate breaks a guardrail, until an override with a reason', async () => {
    const script = scriptedActivities({ calibration: { dcn: 1.4 } });
    await withWorkers(temporal, script.activities, async () => {
      const { workflowId } = await client.startCampaign(config({ guardrails: { calibrationBand: [0.9, 1.1] } }), { id: `guard-${Date.now()}` });
      const halted = await awaitReview(workflowId, 'needs-review');
      assert.ok(halted.guardrailBreaches.length > 0);
      // Guardrails read validation, where the campaign decides; the floor's own calibration band breaks too.
      const details = halted.guardrailBreaches.map((b) => b.detail).join('\n');
      assert.match(details, /calibrationBand: calibration on validation 1\.400 is outside \[0\.9, 1\.1\]/);
      assert.match(details, /floor\.calibration: validation calibration 1\.400 is outside \[0\.8, 1\.25\]/);
      // The recommendation so far never names a guardrail breaker.
      const breakers = new Set(halted.guardrailBreaches.map((b) => b.experimentId));
      assert.ok(halted.recommendation && !breakers.has(halted.recommendation.experimentId));
      await assert.rejects(client.approve(workflowId, { by: 'ana' }), /cannot approve: the campaign is needs-review/);
      await assert.rejects(client.override(workflowId, { by: 'ana', reason: '' }), /an override needs a reason/);
      await client.override(workflowId, { by: 'ana', reason: 'calibration layer fixes it downstream' });
      const review = await awaitReview(workflowId);
      assert.ok(
        breakers.has(review.recommendation!.experimentId),
        'after an override the best candidate is recommended: ' + JSON.stringify([review.recommendation, review.reviewState, review.decisions]),
      );
      assert.match(review.recommendation!.rationale, /Guardrail overridden by ana: "calibration layer fixes it downstream"/);
      await client.reject(workflowId, { by: 'bo', reason: 'not this quarter' });
      const result = await client.waitForResult(workflowId);
      assert.equal(result.reviewState, 'rejected');
      assert.deepEqual(
        result.decisions.map((d) => d.kind),
        ['override', 'reject'],
      );
    });
  });

  it('acts on a valid approve signal (Web UI form) and records, but ignores, an invalid one', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      const { workflowId } = await client.startCampaign(config({ budget: { experiments: 2 } }), { id: `signal-${Date.now()}` });
      await awaitReview(workflowId);
      const handle = temporal.client.workflow.getHandle(workflowId);
      await handle.signal('approve', { by: 'eve', note: 'let me in' });
      const afterBad = await eventually(
        async () => {
          const s = await client.status(workflowId);
          return s.ignoredMessages.length ? s : undefined;
        },
        20_000,
        'ignored signal',
      );
      assert.equal(afterBad.reviewState, 'awaiting-review');
      assert.match(afterBad.ignoredMessages[0].reason, /eve is not an approver/);
      await handle.signal('approve', { by: 'bo', note: 'from the UI' });
      const result = await client.waitForResult(workflowId);
      assert.equal(result.reviewState, 'approved');
      assert.equal(result.decisions[0].via, 'signal');
      assert.ok(script.events.some((e) => e.type === 'decision' && !e.accepted && e.by === 'eve'));
    });
  });
});
