import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { CampaignEvent, NewCampaignEvent } from '../../contracts';
import { appendEvents, eventLogPath, followEvents, InvalidCampaignEventError, readEvents } from '../../store/event-log';
import { rankwrightHome } from '../../store/home';

let n = 0;
const freshCampaign = () => `evlog-${process.pid}-${++n}`;
const phase = (campaignId: string, id: string, p = 'validation'): NewCampaignEvent => ({ type: 'campaign.phase', eventId: id, campaignId, phase: p });

describe('store/event-log', () => {
  it('writes one validated JSON line per event under ${RANKWRIGHT_HOME}/events, filling v and ts', async () => {
    const c = freshCampaign();
    const result = await appendEvents(c, [
      { type: 'campaign.started', eventId: `${c}:start`, campaignId: c, strategy: 'agent', objective: 'Lower NE' },
      phase(c, `${c}:p1`),
    ]);
    assert.deepEqual(result, { appended: 2, skipped: 0 });
    const file = path.join(rankwrightHome(), 'events', `${c}.jsonl`);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[0].v, 1);
    assert.ok(!Number.isNaN(Date.parse(lines[0].ts)));
    const { events, problems } = await readEvents(c);
    assert.deepEqual(events.map((e) => e.type), ['campaign.started', 'campaign.phase']);
    assert.deepEqual(problems, []);
  });

  it('refuses an invalid event with a message naming the field, and writes nothing of the batch', async () => {
    const c = freshCampaign();
    const bad = { type: 'experiment.finished', eventId: `${c}:bad`, campaignId: c, experimentId: 'x', metrics: { ne: 'low' } } as unknown as NewCampaignEvent;
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
    assert.deepEqual((await readEvents(c)).events.map((e) => e.eventId), [`${c}:a`, `${c}:b`, `${c}:c`]);
  });

  it('sees events another process appended before deciding what is new', async function () {
    this.timeout(30_000);
    const c = freshCampaign();
    await appendEvents(c, [phase(c, `${c}:p0`)]); // this process's index now covers the file
    const appender = path.join(__dirname, 'fixtures', 'event-appender.ts');
    const run = (from: number, to: number) =>
      promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), appender, c, String(from), String(to)], { env: process.env });
    // Two other processes race over overlapping ids while this one retries ids they write.
    await Promise.all([run(0, 40), run(20, 60), (async () => { for (let i = 30; i < 50; i++) await appendEvents(c, [phase(c, `${c}:p${i}`, `p${i}`)]); })()]);
    const again = await appendEvents(c, [phase(c, `${c}:p59`, 'p59')]);
    assert.deepEqual(again, { appended: 0, skipped: 1 });
    const ids = (await readEvents(c)).events.map((e) => e.eventId);
    assert.equal(ids.length, 60);
    assert.equal(new Set(ids).size, 60);
  });

  it('reports corrupt, unknown and newer-version lines with their line numbers and keeps reading', async () => {
    const c = freshCampaign();
    await appendEvents(c, [phase(c, `${c}:1`)]);
    const file = eventLogPath(c);
    fs.appendFileSync(file, '{"v":1,"eventId":"tr\n');
    fs.appendFileSync(file, JSON.stringify({ v: 1, eventId: 'u', ts: new Date().toISOString(), campaignId: c, type: 'experiment.teleported' }) + '\n');
    fs.appendFileSync(file, JSON.stringify({ v: 2, eventId: 'n', ts: new Date().toISOString(), campaignId: c, type: 'campaign.phase', phase: 'x' }) + '\n');
    await appendEvents(c, [phase(c, `${c}:5`)]);
    const { events, problems } = await readEvents(c);
    assert.deepEqual(events.map((e) => e.eventId), [`${c}:1`, `${c}:5`]);
    assert.deepEqual(problems.map((p) => p.line), [2, 3, 4]);
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
    assert.deepEqual((await readEvents(c, { since: '2026-01-02T00:00:00Z' })).events.map((e) => e.eventId), [`${c}:b`, `${c}:c`]);
    assert.deepEqual((await readEvents(c, { afterEventId: `${c}:a` })).events.map((e) => e.eventId), [`${c}:b`, `${c}:c`]);
    assert.deepEqual((await readEvents('never-logged')).events, []);
  });

  it('refuses campaign ids that could leave the events folder', async () => {
    for (const id of ['../etc/passwd', '..', '.hidden', 'a/b', 'a\\b', '', 'x\0y']) {
      assert.throws(() => eventLogPath(id), /invalid campaign id/, id);
      await assert.rejects(readEvents(id), /invalid campaign id/);
      await assert.rejects(appendEvents(id, [phase(id, 'e')]), /invalid campaign id/);
    }
    assert.ok(eventLogPath('ctr-lift_1.v2:a').endsWith(path.join('events', 'ctr-lift_1.v2:a.jsonl')));
  });

  it('follows the log: existing events first, then appended ones, until aborted', async function () {
    this.timeout(10_000);
    const c = freshCampaign();
    await appendEvents(c, [phase(c, `${c}:old`)]);
    const seen: CampaignEvent[] = [];
    const stop = new AbortController();
    const problems: number[] = [];
    const gotThree = new Promise<void>((resolve) => {
      const following = followEvents(c, (e) => {
        seen.push(e);
        if (seen.length === 3) resolve();
      }, stop.signal, { intervalMs: 20, onProblem: (p) => problems.push(p.line) });
      void following;
    });
    await new Promise((r) => setTimeout(r, 50));
    await appendEvents(c, [phase(c, `${c}:new1`)]);
    fs.appendFileSync(eventLogPath(c), 'garbage\n');
    await appendEvents(c, [phase(c, `${c}:new2`)]);
    await Promise.race([gotThree, new Promise((_, reject) => setTimeout(() => reject(new Error(`follow saw only ${seen.length} events`)), 5000))]);
    stop.abort();
    assert.deepEqual(seen.map((e) => e.eventId), [`${c}:old`, `${c}:new1`, `${c}:new2`]);
    assert.deepEqual(problems, [3]);
  });

  it('follow resolves promptly when aborted, also before the log exists', async () => {
    const stop = new AbortController();
    const started = Date.now();
    const following = followEvents(freshCampaign(), () => assert.fail('no events expected'), stop.signal, { intervalMs: 10_000 });
    setTimeout(() => stop.abort(), 30);
    await following;
    assert.ok(Date.now() - started < 2000);
  });
});
