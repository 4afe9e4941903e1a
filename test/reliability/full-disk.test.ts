import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CampaignStatus, ExperimentResult } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { readEvents } from '../../store/event-log';
import { mountSmallDisk, type SmallDisk } from '../support/small-disk';
import { REPO_ROOT, useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, inReview } from '../support/workers';

/** Small planted data: each training takes a second or two. */
const PLANTED = { seed: 11, trainRows: 20_000, validationRows: 4_000, testRows: 6_000 };
/** The baseline stores a model of about 1 MB; the experiments' factorization machines, about 9 MB each. */
const BASELINE = { family: 'lr', hashBits: 18 } as const;
const SEARCH_SPACE = { families: ['fm'], hashBits: [18, 18], embeddingDim: [8, 8], epochs: [1, 1] };
/** What the disk gives back while the experiments train: room for events and log lines, never for a model. */
const ROOM_FOR_EVENTS = 1 << 20;

/**
 * Issue 23: a campaign whose RANKWRIGHT_HOME sits on a small filesystem (a 32 MB tmpfs) that fills mid-campaign,
 * with the worker's stdout and stderr redirected into a file on that same filesystem (as in the reported crash).
 *
 *   1. the baseline trains with space to spare;
 *   2. the moment it is recorded, a ballast file fills the disk completely: the campaign's event writes fail (and are
 *      retried, so no experiment starts training), and so do the worker's own log lines (dropped);
 *   3. the ballast gives back 1 MB: events fit again, the experiments' models (~9 MB) do not — their trainings fail
 *      as `resource`, naming the full disk, and wait for space;
 *   4. the ballast is deleted: the waiting experiments retry their same configs, and the campaign reaches review.
 *
 * Throughout, the worker process stays alive; at the end no experiment is missing.
 */
describe('reliability: the disk fills mid-campaign', function () {
  this.timeout(240_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let disk: SmallDisk;
  let worker: ChildProcess | undefined;
  let campaignId: string | undefined;

  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    disk = mountSmallDisk(32, 'rankwright-full-disk');
  });
  after(async () => {
    if (campaignId)
      await temporal.client.workflow
        .getHandle(campaignId)
        .terminate('test over')
        .catch(() => {});
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGKILL');
      await exited;
    }
    disk.unmount();
  });

  it('keeps the worker alive, names the full disk, and reaches review with every experiment once space is freed', async () => {
    const home = path.join(disk.dir, 'home');
    const logFile = path.join(disk.dir, 'worker.log');
    const log = fs.openSync(logFile, 'a');
    worker = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'rankwright.js'), 'worker'], {
      cwd: REPO_ROOT,
      env: { ...process.env, RANKWRIGHT_HOME: home, RANKWRIGHT_TRAINING_THREADS: '2' },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    /** For a failure message: the campaign's status, its children's pending activities, and the worker's log. */
    const whatHappened = async () => {
      const status = await client.status(campaignId!).catch((e: Error) => e.message);
      const pending = await Promise.all(
        [1, 2].map((n) =>
          temporal.client.workflow
            .getHandle(`${campaignId}-x${n}`)
            .describe()
            .then((d) => JSON.stringify(d.raw.pendingActivities?.map((a) => [a.activityType?.name, a.attempt, a.lastFailure?.message])))
            .catch((e: Error) => e.message),
        ),
      );
      return `status: ${JSON.stringify(status).slice(0, 3000)}\npending: ${pending.join('\n')}\nfree: ${disk.freeBytes()}\nworker log:\n${fs.readFileSync(logFile, 'utf8').slice(-4000)}`;
    };
    const alive = (when: string) =>
      assert.ok(
        worker!.exitCode === null && worker!.signalCode === null,
        `the worker died ${when} (exit ${worker!.exitCode ?? worker!.signalCode}); its log:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`,
      );

    campaignId = `full-disk-${Date.now()}`;
    const id = campaignId;
    await client.startCampaign(
      {
        data: { planted: PLANTED },
        baseline: BASELINE,
        strategy: 'random',
        agents: 'heuristic',
        budget: { experiments: 3, parallel: 2 },
        searchSpace: SEARCH_SPACE,
        approvers: ['ana'],
      },
      { id },
    );
    const logged = async () => (await readEvents(id, { home })).events;

    // 1. The baseline trains with space to spare. Its finished event is written before its workflow even completes:
    //    the next experiments are several round trips and a training away, and they cannot start on a full disk.
    const baselineFinished = async () => (await logged()).some((e) => e.type === 'experiment.finished' && e.experimentId === `${id}-baseline`);
    for (const deadline = Date.now() + 120_000; !(await baselineFinished()); await new Promise((resolve) => setTimeout(resolve, 10))) {
      if (Date.now() > deadline) throw new Error(`the baseline did not finish; ${await whatHappened()}`);
    }

    // 2. Completely full: the campaign's next write (its events, or the insights database the designer reads) fails
    //    and is retried; the worker logs each failed try (a warning of a few KB with its stack), and those log lines
    //    fail too. Three logged failures are waited for: the log's last page can take at most one whole warning and
    //    part of another, so at least one met the full disk. An activity shows its 4th try pending; the event write
    //    is a local activity, retried inside the campaign's workflow task until its backoff passes 10 s (after its 5th
    //    try), and then waiting on a timer in the campaign's history.
    disk.fill();
    const campaignHandle = temporal.client.workflow.getHandle(id);
    await eventually(
      async () =>
        (await campaignHandle.describe()).raw.pendingActivities?.find((a) => (a.attempt ?? 0) >= 4) ??
        (await campaignHandle.fetchHistory()).events?.find((e) => e.timerStartedEventAttributes),
      60_000,
      'the campaign to retry a write on the full disk',
    );
    alive('while the disk was completely full');
    assert.deepEqual(
      (await logged()).filter((e) => e.type === 'experiment.started' && e.experimentId !== `${id}-baseline`),
      [],
      'no experiment started on the full disk',
    );

    // 3. Room for events, not for models: the experiments start, and their trainings fail on their model write.
    disk.empty();
    disk.fill(ROOM_FOR_EVENTS);
    const failedOnDisk = await eventually(
      async () => {
        const started = (await logged()).flatMap((e) =>
          e.type === 'experiment.started' && e.experimentId !== `${id}-baseline` ? [e.experimentId] : [],
        );
        for (const experimentId of started) {
          const history = await temporal.client.workflow
            .getHandle(experimentId)
            .fetchHistory()
            .catch(() => undefined);
          const failure = history?.events?.find((e) => /disk full/.test(e.activityTaskFailedEventAttributes?.failure?.message ?? ''));
          if (failure) return { experimentId, message: failure.activityTaskFailedEventAttributes!.failure!.message! };
        }
        return undefined;
      },
      120_000,
      'a training to fail on the full disk',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; ${await whatHappened()}`);
    });
    assert.match(failedOnDisk.message, new RegExp(`^disk full writing an artifact under ${home}/artifacts: \\d+ MB free$`));
    alive('when its trainings met the full disk');

    // 4. Space is back: the campaign goes on by itself.
    disk.empty();
    const review: CampaignStatus = await inReview(client, id, 150_000, 'the campaign to reach review');
    alive('after space was freed');

    // No experiment lost: the budget's three, each succeeded, each recorded as finished in the event log.
    assert.equal(review.experiments.length, 3, 'the budget’s three experiments');
    assert.deepEqual(
      review.experiments.map((e) => e.status),
      ['succeeded', 'succeeded', 'succeeded'],
    );
    const events = await logged();
    const finished = events.flatMap((e) => (e.type === 'experiment.finished' ? [e.experimentId] : []));
    assert.deepEqual(finished.sort(), review.experiments.map((e) => e.experimentId).sort(), 'each recorded as finished, once');

    // The experiment that met the disk: its failure is `resource` naming the disk, and it retried the same config.
    const hit = review.experiments.find((e) => e.experimentId === failedOnDisk.experimentId) as ExperimentResult;
    const diskAttempt = hit.attempts.find((a) => a.failure?.diskFull);
    assert.ok(diskAttempt, JSON.stringify(hit.attempts));
    assert.equal(diskAttempt.failure!.failureClass, 'resource');
    assert.equal(diskAttempt.failure!.diskFull!.path, path.join(home, 'artifacts'));
    assert.ok(diskAttempt.failure!.diskFull!.freeBytes! <= ROOM_FOR_EVENTS, 'it names the little space that was left');
    assert.equal(hit.attempts.at(-1)!.failure, undefined);
    assert.deepEqual(hit.attempts.at(-1)!.config, diskAttempt.config, 'retried unchanged: a full disk is not the model’s fault');
    const triage = events.find((e) => e.type === 'triage' && e.experimentId === hit.experimentId);
    assert.ok(triage && triage.type === 'triage');
    assert.equal(triage.failureClass, 'resource');
    assert.match(triage.diagnosis, /disk full writing an artifact under /);
    assert.match(triage.fix, /^free disk space under .*; the same config is retried in 30 s/);

    // The worker's log lines that met the full disk were dropped, and said so once the disk had room again.
    assert.match(fs.readFileSync(logFile, 'utf8'), /rankwright: \d+ earlier log writes? (was|were) dropped: the disk was full/);
  });
});
