import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runEvents } from '../../client/commands/events';
import { runInsights } from '../../client/commands/insights';
import { renderReport } from '../../client/commands/report';
import { appendEvents } from '../../store/event-log';
import { InsightsStore } from '../../store/insights';
import { campaignEvents, campaignStatus, experiment, metrics } from './fixtures/campaign';

/** Captures what a command prints. */
function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

describe('client/commands (insights, events, report)', () => {
  it('insights: a table with a technique summary, or JSON rows filtered by campaign', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rw-cli-')), 'insights.sqlite');
    const store = await InsightsStore.open(file);
    await store.recordExperiment({
      ...experiment({ experimentId: 'a-1', campaignId: 'a', metrics: metrics(0.88), relativeNeChange: -0.0222, neStdErr: 0.001 }),
      dataFingerprint: 'fp',
    });
    await store.recordExperiment({ ...experiment({ experimentId: 'b-1', campaignId: 'b', metrics: metrics(0.9) }), dataFingerprint: 'fp' });
    await store.close();

    const human = capture();
    assert.equal(await runInsights({ json: false, file }, human.io), 0);
    assert.match(human.out[0], /^experiment\s+campaign\s+phase/);
    assert.ok(
      human.out.some((l) => /^a-1\s+a\s+validation\s+lr\s+—\s+won\s+0\.8800\s+-2\.22%/.test(l)),
      human.out.join('\n'),
    );
    assert.ok(
      human.out.some((l) => /^lr\s+—\s+2\s+1\s+0\s+1\s+0\s+-2\.22%/.test(l)),
      'summary row: 2 runs, 1 won, 1 neutral',
    );

    const json = capture();
    assert.equal(await runInsights({ json: true, campaign: 'b', file }, json.io), 0);
    const rows = JSON.parse(json.out.join('\n'));
    assert.deepEqual(
      rows.map((r: { experimentId: string }) => r.experimentId),
      ['b-1'],
    );

    assert.equal(await runInsights({ json: false, limit: 0, file }, capture().io), 2);
  });

  it('events: one-liners or raw JSONL; bad ids and missing logs are errors', async () => {
    const events = campaignEvents('cli-ev-1');
    await appendEvents('cli-ev-1', events);
    const human = capture();
    assert.equal(await runEvents({ campaignId: 'cli-ev-1', json: false, follow: false }, human.io), 0);
    assert.equal(human.out.length, events.length);
    assert.match(human.out[0], /^2026-03-02 09:00:00 {2}campaign\.started\s+campaign started \(agent\): Lower NE/);
    assert.match(human.out[3], /triage \[heuristic\] diverged: learning rate too high → halve it/);

    const jsonl = capture();
    assert.equal(await runEvents({ campaignId: 'cli-ev-1', json: true, follow: false }, jsonl.io), 0);
    assert.deepEqual(
      jsonl.out.map((l) => JSON.parse(l)),
      events,
    );

    const bad = capture();
    assert.equal(await runEvents({ campaignId: '../x', json: false, follow: false }, bad.io), 2);
    assert.match(bad.err[0], /invalid campaign id/);
    assert.equal(await runEvents({ campaignId: 'never-ran', json: false, follow: false }, capture().io), 1);
  });

  it('events --follow prints what is appended until stopped', async () => {
    const stop = new AbortController();
    const seen = capture();
    const running = runEvents({ campaignId: 'cli-ev-2', json: true, follow: true, signal: stop.signal }, seen.io);
    await appendEvents('cli-ev-2', campaignEvents('cli-ev-2').slice(0, 2));
    for (let i = 0; i < 100 && seen.out.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    assert.equal(await running, 0);
    assert.deepEqual(
      seen.out.map((l) => JSON.parse(l).eventId),
      ['cli-ev-2:e0', 'cli-ev-2:e1'],
    );
  });

  it('report: prints the path of the written page; a malformed status is explained, not thrown', async () => {
    const ok = capture();
    assert.equal(await renderReport(campaignStatus(), campaignEvents(), {}, ok.io), 0);
    assert.ok(fs.existsSync(ok.out[0]) && ok.out[0].endsWith('ctr-lift-1.html'));
    assert.match(ok.err[0], /stored as artifact sha256:/);

    const bad = capture();
    assert.equal(await renderReport({ ...campaignStatus(), reviewState: 'maybe' }, [], {}, bad.io), 1);
    assert.match(bad.err[0], /reviewState/);
  });
});
