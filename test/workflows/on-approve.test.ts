import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CampaignInputRaw } from '../../contracts';
import { RankwrightClient } from '../../client/rankwright-client';
import { checkApproveHook, runApproveHook } from '../../activities/approve-hook';
import { scriptedActivities } from '../support/scripted-activities';
import { useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually, withWorkers } from '../support/workers';

const config = (over: Partial<CampaignInputRaw> = {}): CampaignInputRaw => ({
  data: { planted: { seed: 5 } },
  budget: { experiments: 3, parallel: 1, stallGain: 0 },
  approvers: ['ana', 'bo'],
  ...over,
});

/**
 * The onApprove hook: a worker-configured command or URL that receives the approved model once, after a valid
 * approval, never before and never after a rejection; its outcome shows in the status, the event log and the report.
 * Real Temporal and the real hook activities; training and agents are scripted (what they do is not under test).
 */
describe('onApprove hook: promotion after sign-off (real Temporal, real hook activities)', function () {
  this.timeout(180_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let dir: string;
  let received: string;
  let deliveries: { key: string; body: Record<string, unknown> }[] = [];
  let failNext = 0;
  let server: http.Server;
  const savedHooks = process.env.RANKWRIGHT_HOOKS;

  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-hooks-'));
    received = path.join(dir, 'received.jsonl');
    // A webhook receiver that fails the first `failNext` deliveries (HTTP 503), then takes them.
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (failNext > 0) {
          failNext--;
          res.writeHead(503).end('deploy service warming up');
          return;
        }
        deliveries.push({ key: String(req.headers['idempotency-key']), body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(200).end('promoted');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const hooks = {
      // The command appends what it got on stdin, plus the idempotency key from its environment, to a file.
      record: {
        command: [
          process.execPath,
          '-e',
          `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{require('fs').appendFileSync(${JSON.stringify(received)}, JSON.stringify({key:process.env.RANKWRIGHT_IDEMPOTENCY_KEY,body:JSON.parse(s)})+'\\n');console.log('recorded '+process.env.RANKWRIGHT_ARTIFACT)})`,
        ],
      },
      notify: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/promote` },
      broken: { command: [process.execPath, '-e', "console.error('no credentials for the model registry'); process.exit(3)"] },
    };
    fs.writeFileSync(path.join(dir, 'hooks.json'), JSON.stringify(hooks));
    process.env.RANKWRIGHT_HOOKS = path.join(dir, 'hooks.json');
  });
  after(() => {
    server.close();
    if (savedHooks === undefined) delete process.env.RANKWRIGHT_HOOKS;
    else process.env.RANKWRIGHT_HOOKS = savedHooks;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    deliveries = [];
    failNext = 0;
    fs.rmSync(received, { force: true });
  });

  const activities = () => ({ ...scriptedActivities().activities, checkApproveHook, runApproveHook });
  const lines = () => (fs.existsSync(received) ? fs.readFileSync(received, 'utf8').trim().split('\n').filter(Boolean) : []);
  const awaitingReview = (id: string) =>
    eventually(
      async () => {
        const s = await client.status(id);
        return s.reviewState === 'awaiting-review' ? s : undefined;
      },
      90_000,
      'awaiting review',
    );

  it('runs the command hook once, after approval and not before, with the approved model; shown in status and events', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, { ...script.activities, checkApproveHook, runApproveHook }, async () => {
      const { workflowId } = await client.startCampaign(config({ onApprove: { hook: 'record' } }), { id: `hook-cmd-${Date.now()}` });
      const review = await awaitingReview(workflowId);
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(lines(), [], 'nothing is promoted while the campaign awaits review');
      assert.equal(review.promotion, undefined);
      // A non-approver's approval is refused: still nothing promoted.
      await assert.rejects(client.approve(workflowId, { by: 'mallory' }), /not an approver/);
      await client.approve(workflowId, { by: 'bo', note: 'ship it' });
      await assert.rejects(client.approve(workflowId, { by: 'ana' }), /cannot approve/);
      const done = await client.waitForResult(workflowId);

      const got = lines().map((l) => JSON.parse(l) as { key: string; body: Record<string, unknown> });
      assert.equal(got.length, 1, 'the hook ran exactly once');
      assert.equal(got[0].key, `${workflowId}:on-approve`);
      assert.equal(got[0].body.artifact, review.recommendation!.artifact);
      assert.equal(got[0].body.experimentId, review.recommendation!.experimentId);
      assert.equal(got[0].body.approvedBy, 'bo');
      assert.equal(got[0].body.note, 'ship it');
      assert.deepEqual(got[0].body.approvers, ['ana', 'bo']);
      assert.equal((got[0].body.metrics as { ne: number }).ne, review.recommendation!.metrics.ne);

      assert.equal(done.promotion?.state, 'succeeded');
      assert.equal(done.promotion?.hook, 'record');
      assert.equal(done.promotion?.attempts, 1);
      assert.match(done.promotion?.detail ?? '', /recorded sha256:/);
      const events = script.events.filter((e) => e.campaignId === workflowId);
      const promotion = events.filter((e) => e.type === 'campaign.promotion').map((e) => (e as { state: string }).state);
      assert.deepEqual(promotion, ['running', 'succeeded']);
      const approveAt = events.findIndex((e) => e.type === 'decision' && (e as { kind: string }).kind === 'approve');
      assert.ok(approveAt >= 0 && approveAt < events.findIndex((e) => e.type === 'campaign.promotion'), 'the promotion follows the approval');
    });
  });

  it('never runs the hook after a rejection', async () => {
    await withWorkers(temporal, activities(), async () => {
      const { workflowId } = await client.startCampaign(config({ onApprove: { hook: 'record' } }), { id: `hook-reject-${Date.now()}` });
      await awaitingReview(workflowId);
      await client.reject(workflowId, { by: 'ana', reason: 'calibration drifts on mobile' });
      const done = await client.waitForResult(workflowId);
      assert.equal(done.reviewState, 'rejected');
      assert.equal(done.promotion, undefined);
      assert.deepEqual(lines(), []);
    });
  });

  it('retries a webhook that fails, with the same idempotency key, and delivers it once', async () => {
    failNext = 2;
    await withWorkers(temporal, activities(), async () => {
      const { workflowId } = await client.startCampaign(config({ onApprove: { hook: 'notify' } }), { id: `hook-url-${Date.now()}` });
      await awaitingReview(workflowId);
      await client.approve(workflowId, { by: 'ana' });
      const done = await client.waitForResult(workflowId);
      assert.equal(deliveries.length, 1);
      assert.equal(deliveries[0].key, `${workflowId}:on-approve`);
      assert.equal(done.promotion?.state, 'succeeded');
      assert.equal(done.promotion?.attempts, 3, 'two 503s, then delivered');
      assert.match(done.promotion?.detail ?? '', /HTTP 200 promoted/);
    });
  });

  it('a hook that keeps failing leaves the approval standing and reports the failure', async () => {
    await withWorkers(temporal, activities(), async () => {
      const { workflowId } = await client.startCampaign(config({ onApprove: { hook: 'broken' } }), { id: `hook-broken-${Date.now()}` });
      await awaitingReview(workflowId);
      await client.approve(workflowId, { by: 'ana' });
      const done = await client.waitForResult(workflowId);
      assert.equal(done.reviewState, 'approved');
      assert.equal(done.promotion?.state, 'failed');
      assert.match(done.promotion?.detail ?? '', /exited with 3: no credentials for the model registry/);
    });
  });

  it('a campaign naming a hook the worker lacks fails at the start, before any training', async () => {
    const script = scriptedActivities();
    await withWorkers(temporal, { ...script.activities, checkApproveHook, runApproveHook }, async () => {
      const { workflowId } = await client.startCampaign(config({ onApprove: { hook: 'deploy-prod' } }), { id: `hook-unknown-${Date.now()}` });
      await assert.rejects(client.waitForResult(workflowId), (err: Error) => {
        const message = `${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`;
        assert.match(message, /onApprove hook "deploy-prod" is not configured on this worker \(.*hooks\.json has record, notify, broken\)/);
        return true;
      });
      assert.equal(script.trained.length, 0, 'nothing trained');
    });
  });

  it('a caller cannot pass a command or URL as the hook: only a configured name', async () => {
    await assert.rejects(
      client.startCampaign(config({ onApprove: { hook: 'x', command: ['rm', '-rf', '/'] } as never }), { id: `hook-forged-${Date.now()}` }),
      /onApprove\.command: unknown field/,
    );
    await assert.rejects(
      client.startCampaign(config({ onApprove: { hook: '../../etc/passwd' } }), { id: `hook-bad-${Date.now()}` }),
      /onApprove\.hook/,
    );
  });
});
