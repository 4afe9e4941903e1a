import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { threadId } from 'node:worker_threads';
import type { CampaignEvent, NewCampaignEvent } from '../../contracts';
import { readCampaignLedger } from '../../store/campaign-ledger';
import {
  appendEvents,
  eventLogLockTiming,
  eventLogPath,
  followEvents,
  InvalidCampaignEventError,
  openEventStore,
  readEvents,
} from '../../store/event-log';
import { rankwrightHome } from '../../store/home';
import { Client } from 'pg';
import { eventBackends } from '../support/event-backends';

let n = 0;
const freshCampaign = () => `evlog-${process.pid}-${++n}`;
const phase = (campaignId: string, id: string, p = 'validation'): NewCampaignEvent => ({ type: 'campaign.phase', eventId: id, campaignId, phase: p });

describe('store/event-log', () => {
  for (const backend of eventBackends) {
    describe(`in ${backend.name}`, () => {
      before(() => backend.setUp());
      after(() => backend.tearDown());

      it('fills v and ts, and reads the events back in the order they were appended', async () => {
        const c = freshCampaign();
        const result = await appendEvents(c, [
          { type: 'campaign.started', eventId: `${c}:start`, campaignId: c, strategy: 'agent', objective: 'Lower NE' },
          phase(c, `${c}:p1`),
        ]);
        assert.deepEqual(result, { appended: 2, skipped: 0 });
        for (let i = 2; i <= 30; i++) await appendEvents(c, [phase(c, `${c}:p${i}`)]);
        const { events, problems } = await readEvents(c);
        assert.deepEqual(
          events.map((e) => e.eventId),
          [`${c}:start`, ...Array.from({ length: 30 }, (_, i) => `${c}:p${i + 1}`)],
        );
        assert.equal(events[0].v, 1);
        assert.ok(!Number.isNaN(Date.parse(events[0].ts)));
        assert.deepEqual(problems, []);
      });

      it('refuses an invalid event with a message naming the field, and writes nothing of the batch', async () => {
        const c = freshCampaign();
        const bad = {
          type: 'experiment.finished',
          eventId: `${c}:bad`,
          campaignId: c,
          experimentId: 'x',
          metrics: { ne: 'low' },
        } as unknown as NewCampaignEvent;
        await assert.rejects(appendEvents(c, [phase(c, `${c}:ok`), bad]), (err: Error) => {
          assert.ok(err instanceof InvalidCampaignEventError);
          assert.match(err.message, /event #1/);
          assert.match(err.message, /metrics\.ne/);
          return true;
        });
        await assert.rejects(appendEvents(c, [{ ...phase(c, 'x'), campaignId: 'someone-else' }]), /names campaign "someone-else"/);
        assert.deepEqual((await readEvents(c)).events, []);
      });

      it('is idempotent by eventId: a retried batch and duplicates within a batch are skipped', async () => {
        const c = freshCampaign();
        await appendEvents(c, [phase(c, `${c}:a`), phase(c, `${c}:b`)]);
        const retry = await appendEvents(c, [phase(c, `${c}:a`), phase(c, `${c}:b`), phase(c, `${c}:c`), phase(c, `${c}:c`)]);
        assert.deepEqual(retry, { appended: 1, skipped: 3 });
        assert.deepEqual(
          (await readEvents(c)).events.map((e) => e.eventId),
          [`${c}:a`, `${c}:b`, `${c}:c`],
        );
        // An eventId is unique within its campaign: another campaign may use the same one.
        const other = freshCampaign();
        assert.deepEqual(await appendEvents(other, [{ ...phase(other, `${c}:a`) }]), { appended: 1, skipped: 0 });
      });

      it('sees events another process appended before deciding what is new', async function () {
        this.timeout(60_000);
        const c = freshCampaign();
        await appendEvents(c, [phase(c, `${c}:p0`)]); // this process's index now covers the file
        const appender = path.join(__dirname, 'fixtures', 'event-appender.ts');
        // The children get this environment, so they use the same store (RANKWRIGHT_DATABASE_URL when it is set).
        const run = (from: number, to: number) =>
          promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), appender, c, String(from), String(to)], {
            env: process.env,
          });
        // Two other processes race over overlapping ids while this one retries ids they write.
        await Promise.all([
          run(0, 40),
          run(20, 60),
          (async () => {
            for (let i = 30; i < 50; i++) await appendEvents(c, [phase(c, `${c}:p${i}`, `p${i}`)]);
          })(),
        ]);
        const again = await appendEvents(c, [phase(c, `${c}:p59`, 'p59')]);
        assert.deepEqual(again, { appended: 0, skipped: 1 });
        const ids = (await readEvents(c)).events.map((e) => e.eventId);
        assert.equal(ids.length, 60);
        assert.equal(new Set(ids).size, 60);
      });

      it('reports corrupt, unknown and newer-version entries with their line numbers and keeps reading', async () => {
        const c = freshCampaign();
        await appendEvents(c, [phase(c, `${c}:1`)]);
        await backend.plant(c, '{"v":1,"eventId":"tr');
        await backend.plant(c, JSON.stringify({ v: 1, eventId: 'u', ts: new Date().toISOString(), campaignId: c, type: 'experiment.teleported' }));
        await backend.plant(
          c,
          JSON.stringify({ v: 2, eventId: 'n', ts: new Date().toISOString(), campaignId: c, type: 'campaign.phase', phase: 'x' }),
        );
        await appendEvents(c, [phase(c, `${c}:5`)]);
        const { events, problems } = await readEvents(c);
        assert.deepEqual(
          events.map((e) => e.eventId),
          [`${c}:1`, `${c}:5`],
        );
        assert.deepEqual(
          problems.map((p) => p.line),
          [2, 3, 4],
        );
        assert.match(problems[0].message, /not JSON/);
        assert.match(problems[1].message, /unknown event type "experiment.teleported"/);
        assert.match(problems[2].message, /schema v2 is newer/);
      });

      it('filters by time and resumes after an eventId', async () => {
        const c = freshCampaign();
        await appendEvents(c, [
          { ...phase(c, `${c}:a`), ts: '2026-01-01T00:00:00.000Z' },
          { ...phase(c, `${c}:b`), ts: '2026-01-02T00:00:00.000Z' },
          { ...phase(c, `${c}:c`), ts: '2026-01-03T00:00:00.000Z' },
        ]);
        assert.deepEqual(
          (await readEvents(c, { since: '2026-01-02T00:00:00Z' })).events.map((e) => e.eventId),
          [`${c}:b`, `${c}:c`],
        );
        assert.deepEqual(
          (await readEvents(c, { afterEventId: `${c}:a` })).events.map((e) => e.eventId),
          [`${c}:b`, `${c}:c`],
        );
        assert.deepEqual((await readEvents('never-logged')).events, []);
      });

      it('refuses campaign ids that could leave the events folder', async () => {
        for (const id of ['../etc/passwd', '..', '.hidden', 'a/b', 'a\\b', '', 'x\0y']) {
          await assert.rejects(readEvents(id), /invalid campaign id/);
          await assert.rejects(appendEvents(id, [phase(id, 'e')]), /invalid campaign id/);
          await assert.rejects(
            followEvents(id, () => undefined, new AbortController().signal),
            /invalid campaign id/,
          );
        }
      });

      it('lists the campaigns with a log, sorted, for retention', async () => {
        const [b, a] = [`${freshCampaign()}-b`, `${freshCampaign()}-a`];
        await appendEvents(b, [{ type: 'campaign.started', eventId: `${b}:start`, campaignId: b, strategy: 'agent', objective: 'x' }]);
        await appendEvents(a, [phase(a, `${a}:p`)]);
        const ids = await (await openEventStore()).campaignIds();
        assert.deepEqual(ids, [...ids].sort());
        assert.ok(ids.includes(a) && ids.includes(b), ids.join(', '));
        const ledger = await readCampaignLedger();
        assert.equal(ledger.get(b)?.state, 'running');
        assert.equal(ledger.get(b)?.standalone, false);
      });

      it('follows the log: existing events first, then appended ones, until aborted', async function () {
        this.timeout(10_000);
        const c = freshCampaign();
        await appendEvents(c, [phase(c, `${c}:old`)]);
        const seen: CampaignEvent[] = [];
        const stop = new AbortController();
        const problems: number[] = [];
        const gotThree = new Promise<void>((resolve) => {
          const following = followEvents(
            c,
            (e) => {
              seen.push(e);
              if (seen.length === 3) resolve();
            },
            stop.signal,
            { intervalMs: 20, onProblem: (p) => problems.push(p.line) },
          );
          void following;
        });
        await new Promise((r) => setTimeout(r, 50));
        await appendEvents(c, [phase(c, `${c}:new1`)]);
        await backend.plant(c, 'garbage');
        await appendEvents(c, [phase(c, `${c}:new2`)]);
        await Promise.race([
          gotThree,
          new Promise((_, reject) => setTimeout(() => reject(new Error(`follow saw only ${seen.length} events`)), 5000)),
        ]);
        stop.abort();
        assert.deepEqual(
          seen.map((e) => e.eventId),
          [`${c}:old`, `${c}:new1`, `${c}:new2`],
        );
        assert.deepEqual(problems, [3]);
      });

      it('follows from the end when asked: only events appended after it started', async function () {
        this.timeout(10_000);
        const c = freshCampaign();
        await appendEvents(c, [phase(c, `${c}:old`)]);
        const seen: string[] = [];
        const stop = new AbortController();
        const following = followEvents(c, (e) => seen.push(e.eventId), stop.signal, { intervalMs: 20, fromStart: false });
        await new Promise((r) => setTimeout(r, 100));
        await appendEvents(c, [phase(c, `${c}:new`)]);
        for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
        stop.abort();
        await following;
        assert.deepEqual(seen, [`${c}:new`]);
      });

      it('follow resolves promptly when aborted, also before the log exists', async () => {
        const stop = new AbortController();
        const started = Date.now();
        const following = followEvents(freshCampaign(), () => assert.fail('no events expected'), stop.signal, { intervalMs: 10_000 });
        setTimeout(() => stop.abort(), 30);
        await following;
        assert.ok(Date.now() - started < 5000);
      });
    });
  }

  describe('in PostgreSQL: one log for every machine', () => {
    const pg = eventBackends.find((b) => b.name === 'PostgreSQL')!;
    before(() => pg.setUp());
    after(() => pg.tearDown());

    it('keeps the events in campaign_events, not in the home: a process whose home is empty reads them', async () => {
      const c = freshCampaign();
      await appendEvents(c, [phase(c, `${c}:a`), phase(c, `${c}:b`)]);
      assert.ok(!fs.existsSync(eventLogPath(c)), 'no JSONL file in the home');
      const client = new Client({ connectionString: process.env.RANKWRIGHT_DATABASE_URL });
      await client.connect();
      const { rows } = await client.query<{ event_id: string }>(`SELECT event_id FROM campaign_events WHERE campaign_id = $1 ORDER BY seq`, [c]);
      await client.end();
      assert.deepEqual(
        rows.map((r) => r.event_id),
        [`${c}:a`, `${c}:b`],
      );

      const emptyHome = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-empty-home-'));
      const reader = path.join(__dirname, 'fixtures', 'event-reader.ts');
      const { stdout } = await promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), reader, c], {
        env: { ...process.env, RANKWRIGHT_HOME: emptyHome },
      });
      assert.deepEqual(JSON.parse(stdout), [`${c}:a`, `${c}:b`]);
      assert.deepEqual(fs.readdirSync(emptyHome), [], 'the reader wrote nothing into its home');
      fs.rmSync(emptyHome, { recursive: true, force: true });
    });

    it('serialises many writers in several processes: nothing lost, nothing twice', async function () {
      this.timeout(60_000);
      const c = freshCampaign();
      const appender = path.join(__dirname, 'fixtures', 'busy-appender.ts');
      const run = (name: string) =>
        promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), appender, c, name, '100', '0'], { env: process.env });
      await Promise.all([run('w0'), run('w1'), run('w2'), run('w3')]);
      const { events, problems } = await readEvents(c);
      assert.deepEqual(problems, []);
      const ids = events.map((e) => e.eventId);
      assert.equal(new Set(ids).size, ids.length, 'an event was written twice');
      const expected = [
        ...['w0', 'w1', 'w2', 'w3'].flatMap((w) => Array.from({ length: 100 }, (_, i) => `${w}:${i}`)),
        ...Array.from({ length: 50 }, (_, i) => `shared:${i}`),
      ];
      assert.deepEqual([...ids].sort(), expected.sort());
    });
  });

  describe('in JSONL files: the format and the lock', () => {
    it('writes one validated JSON line per event under ${RANKWRIGHT_HOME}/events', async () => {
      const c = freshCampaign();
      await appendEvents(c, [
        { type: 'campaign.started', eventId: `${c}:start`, campaignId: c, strategy: 'agent', objective: 'Lower NE' },
        phase(c, `${c}:p1`),
      ]);
      const file = path.join(rankwrightHome(), 'events', `${c}.jsonl`);
      const lines = fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.map((l) => [l.v, l.type]),
        [
          [1, 'campaign.started'],
          [1, 'campaign.phase'],
        ],
      );
      assert.ok(!Number.isNaN(Date.parse(lines[0].ts)));
    });

    it('names the file of a campaign, and refuses ids that could leave the events folder', () => {
      for (const id of ['../etc/passwd', '..', '.hidden', 'a/b', 'a\\b', '', 'x\0y'])
        assert.throws(() => eventLogPath(id), /invalid campaign id/, id);
      assert.ok(eventLogPath('ctr-lift_1.v2:a').endsWith(path.join('events', 'ctr-lift_1.v2:a.jsonl')));
    });

    describe('the lock heals by itself', () => {
      const defaults = { ...eventLogLockTiming };
      const children: ChildProcess[] = [];
      const warnings: string[] = [];
      const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code}: ${w.message}`);
      beforeEach(() => {
        warnings.length = 0;
        process.on('warning', onWarning);
      });
      afterEach(() => {
        process.off('warning', onWarning);
        Object.assign(eventLogLockTiming, defaults);
        for (const child of children.splice(0)) child.kill('SIGKILL');
      });

      /** The lock file of a campaign, written the way a writer (pid, host, …) writes it. */
      function plantLock(c: string, owner: { pid: number; threadId?: number; token?: string }, ageMs = 0): string {
        const file = eventLogPath(c);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        let pidNamespace: string | undefined;
        try {
          pidNamespace = fs.readlinkSync('/proc/self/ns/pid');
        } catch {
          pidNamespace = undefined;
        }
        const lock = `${file}.lock`;
        const acquiredAt = new Date(Date.now() - ageMs);
        fs.writeFileSync(
          lock,
          JSON.stringify({
            pid: owner.pid,
            host: os.hostname(),
            pidNamespace,
            threadId: owner.threadId ?? 0,
            acquiredAt: acquiredAt.toISOString(),
            token: owner.token ?? 'planted',
          }),
        );
        fs.utimesSync(lock, acquiredAt, acquiredAt);
        return lock;
      }
      /** A live process that will never release anything (a stuck owner). */
      function liveProcess(): number {
        const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
        children.push(child);
        return child.pid!;
      }
      async function deadPid(): Promise<number> {
        const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
        const pid = child.pid!;
        await new Promise((resolve) => {
          child.on('exit', resolve);
          child.kill('SIGKILL');
        });
        return pid; // reaped: process.kill(pid, 0) now says ESRCH
      }
      /** process.emitWarning delivers on the next tick. */
      const warningsDelivered = () => new Promise((resolve) => setImmediate(resolve));
      const lockLeftovers = (c: string) => fs.readdirSync(path.dirname(eventLogPath(c))).filter((f) => f.startsWith(`${c}.jsonl.`));

      it('breaks a lock left by a killed process at once, and the append succeeds', async () => {
        const c = freshCampaign();
        plantLock(c, { pid: await deadPid() });
        const started = Date.now();
        assert.deepEqual(await appendEvents(c, [phase(c, `${c}:a`)]), { appended: 1, skipped: 0 });
        assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
        assert.deepEqual(
          (await readEvents(c)).events.map((e) => e.eventId),
          [`${c}:a`],
        );
        assert.deepEqual(lockLeftovers(c), []);
        await warningsDelivered();
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /RANKWRIGHT_STALE_LOCK: broke the stale event-log lock .*owner is gone \(pid \d+/);
      });

      it('breaks a lock left by an earlier process with this very pid (a restarted container)', async () => {
        const c = freshCampaign();
        plantLock(c, { pid: process.pid, threadId });
        const started = Date.now();
        await appendEvents(c, [phase(c, `${c}:a`)]);
        assert.ok(Date.now() - started < 10_000);
        await warningsDelivered();
        assert.match(warnings.join('\n'), /earlier process with this pid/);
      });

      it('breaks the lock of a live but stuck owner once it is older than the bound, and not before', async function () {
        this.timeout(20_000);
        const stuck = liveProcess();
        // Far past the bound: broken at once.
        const old = freshCampaign();
        plantLock(old, { pid: stuck }, 10 * 60_000);
        let started = Date.now();
        await appendEvents(old, [phase(old, `${old}:a`)]);
        assert.ok(Date.now() - started < 10_000);
        await warningsDelivered();
        assert.match(warnings.join('\n'), /held for 600 s \(pid \d+/);
        // One second short of the bound: waits for that second, then breaks it.
        const young = freshCampaign();
        plantLock(young, { pid: stuck }, eventLogLockTiming.staleMs - 1000);
        started = Date.now();
        await appendEvents(young, [phase(young, `${young}:a`)]);
        const took = Date.now() - started;
        assert.ok(took >= 800 && took < 5000, `took ${took} ms`);
        assert.deepEqual(
          (await readEvents(young)).events.map((e) => e.eventId),
          [`${young}:a`],
        );
        assert.deepEqual(lockLeftovers(young), []);
      });

      it('a waiter whose event loop was blocked looks again instead of giving up; it gives up only after really trying', async function () {
        this.timeout(20_000);
        Object.assign(eventLogLockTiming, { waitMs: 600 });
        const c = freshCampaign();
        const lock = `${eventLogPath(c)}.lock`;
        // Another writer, a live process: it releases each lock taken in its name 150 ms after it sees it.
        const script = `
          const fs = require('fs');
          let seen = '';
          setInterval(() => {
            let text = '';
            try { text = fs.readFileSync(${JSON.stringify(lock)}, 'utf8'); } catch {}
            if (text && text !== seen) { seen = text; setTimeout(() => fs.rmSync(${JSON.stringify(lock)}, { force: true }), 150); }
          }, 10);
          process.stdout.write('ready\\n');
          setTimeout(() => process.exit(0), 10000);`;
        const holder = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        children.push(holder);
        await new Promise((resolve) => holder.stdout!.once('data', resolve));
        plantLock(c, { pid: holder.pid!, token: 'first' });
        const t0 = Date.now();
        const append = appendEvents(c, [phase(c, `${c}:a`)]);
        await new Promise((r) => setTimeout(r, 50)); // it tried and is waiting...
        let replanted = false;
        while (Date.now() < t0 + 1500) {
          // ...while its event loop is blocked (synchronous training) far past waitMs; the lock is free from about
          // 150 ms, until the other writer takes it again just before the waiter wakes
          if (!replanted && Date.now() >= t0 + 1400) {
            plantLock(c, { pid: holder.pid!, token: 'second' });
            replanted = true;
          }
        }
        // It wakes to find the lock held: that is not 600 ms of trying, so it waits for the release.
        assert.deepEqual(await append, { appended: 1, skipped: 0 });
        const took = Date.now() - t0;
        assert.ok(took >= 1500, `took ${took} ms`);
        await warningsDelivered();
        assert.deepEqual(warnings, []);

        // A holder that stays (live and fresh) still makes it give up, after about waitMs of actual waiting.
        const busy = freshCampaign();
        plantLock(busy, { pid: liveProcess() });
        const started = Date.now();
        await assert.rejects(
          appendEvents(busy, [phase(busy, `${busy}:a`)]),
          /event log is locked by another writer: .*pid \d+ on .*gave up after \d+ attempts/,
        );
        const gaveUpAfter = Date.now() - started;
        assert.ok(gaveUpAfter >= 550 && gaveUpAfter < 4000, `gave up after ${gaveUpAfter} ms`);
      });

      it('serialises many writers in several processes, some with blocked event loops: nothing lost, nothing twice', async function () {
        this.timeout(60_000);
        const c = freshCampaign();
        const appender = path.join(__dirname, 'fixtures', 'busy-appender.ts');
        const run = (name: string, blockMs: number) =>
          promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), appender, c, name, '200', String(blockMs)], {
            env: process.env,
          });
        await Promise.all([run('w0', 0), run('w1', 1500), run('w2', 0), run('w3', 1500)]);
        const { events, problems } = await readEvents(c);
        assert.deepEqual(problems, []);
        const ids = events.map((e) => e.eventId);
        assert.equal(new Set(ids).size, ids.length, 'an event was written twice');
        const expected = [
          ...['w0', 'w1', 'w2', 'w3'].flatMap((w) => Array.from({ length: 200 }, (_, i) => `${w}:${i}`)),
          ...Array.from({ length: 50 }, (_, i) => `shared:${i}`),
        ];
        assert.deepEqual([...ids].sort(), expected.sort());
        assert.deepEqual(lockLeftovers(c), []);
      });
    });
  });
});
