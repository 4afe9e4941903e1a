import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { CampaignStatus } from '../contracts';
import { CampaignStatus as CampaignStatusSchema, REVIEW_STATES } from '../contracts';
import { RankwrightClient } from '../client/rankwright-client';
import { createHttpService, tokensFromEnv } from '../client/http-service';
import { defaultSchemasDir, generateSchemas } from '../client/write-schemas';
import { scriptedActivities } from './support/scripted-activities';
import { useTemporal, type TemporalForTests } from './support/temporal';
import { eventually, withWorkers } from './support/workers';

/**
 * The HTTP trigger over real HTTP (fetch to a port the OS picked) against the real dev server, with scripted
 * training and agents so a campaign reaches sign-off in seconds.
 */
describe('HTTP service (real HTTP, real Temporal, scripted training and agents)', function () {
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let app: FastifyInstance;
  let base: string;
  const logLines: string[] = [];
  /** The final status a real campaign reported over HTTP (checked against campaign-status.json below). */
  let reportedStatus: unknown;
  const token = randomBytes(24).toString('hex');
  const otherToken = randomBytes(24).toString('base64url');
  const config = { data: { planted: { seed: 3 } }, budget: { experiments: 2 }, approvers: ['ana', 'bo'] };

  const call = (
    method: string,
    path: string,
    options: { body?: unknown; rawBody?: string; token?: string | null; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    const bearer = options.token === undefined ? token : options.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${base}${path}`, { method, headers, body }).then(async (res) => ({
      status: res.status,
      headers: res.headers,
      json: (await res.json()) as any,
    }));
  };

  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    // Log at info into memory, to prove the token never reaches the log.
    const stream = new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) });
    app = createHttpService({ client, tokens: [otherToken, token], logger: { level: 'info', stream } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => app?.close());

  describe('configuration', () => {
    it('refuses to start without tokens, or with a short one, without printing the token', () => {
      assert.throws(() => createHttpService({ client, tokens: [] }), /needs at least one bearer token.*RANKWRIGHT_HTTP_TOKENS/);
      assert.throws(
        () => createHttpService({ client, tokens: ['hunter2'] }),
        (err: Error) => /token #1 is shorter than 16/.test(err.message) && !err.message.includes('hunter2'),
      );
    });

    it('reads comma-separated tokens from RANKWRIGHT_HTTP_TOKENS', () => {
      assert.deepEqual(tokensFromEnv({ RANKWRIGHT_HTTP_TOKENS: ' aaaaaaaaaaaaaaaaaaaa , ,bbbbbbbbbbbbbbbbbbbb,' }), [
        'aaaaaaaaaaaaaaaaaaaa',
        'bbbbbbbbbbbbbbbbbbbb',
      ]);
      assert.deepEqual(tokensFromEnv({}), []);
    });
  });

  describe('authentication and validation (no workers needed)', () => {
    it('serves /healthz without a token', async () => {
      const res = await call('GET', '/healthz', { token: null });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { ok: true });
    });

    it('answers 401 without a token, with a wrong one, a prefix of the right one, or the wrong scheme — and starts nothing', async () => {
      const id = `http-unauth-${Date.now()}`;
      for (const [what, headers] of [
        ['no token', {}],
        ['wrong token', { authorization: `Bearer ${randomBytes(24).toString('hex')}` }],
        ['prefix of the right token', { authorization: `Bearer ${token.slice(0, -1)}` }],
        ['right token, wrong scheme', { authorization: `Basic ${token}` }],
        ['empty bearer', { authorization: 'Bearer ' }],
      ] as const) {
        const res = await call('POST', `/campaigns?id=${id}`, { body: config, token: null, headers });
        assert.equal(res.status, 401, what);
        assert.match(res.json.error, /bearer token/, what);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      }
      // Unknown routes are hidden behind authentication too.
      assert.equal((await call('GET', '/nothing-here', { token: null })).status, 401);
      await assert.rejects(temporal.client.workflow.getHandle(id).describe(), /not found/i);
      // Either configured token works.
      assert.equal((await call('GET', '/campaigns/nope-404', { token: otherToken })).status, 404);
    });

    it('answers 400 naming every bad field of a config, and starts nothing', async () => {
      const id = `http-bad-${Date.now()}`;
      const res = await call('POST', '/campaigns', {
        body: { data: { planted: { seed: 'x' } }, budget: { experiments: 0 }, approvers: [], colour: 'red' },
        headers: { 'idempotency-key': id },
      });
      assert.equal(res.status, 400);
      assert.equal(res.json.error, 'invalid campaign config');
      const problems: string[] = res.json.problems;
      assert.ok(
        problems.some((p) => /^data\.planted\.seed: .*expected number/.test(p)),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) => /^budget\.experiments: .*>=1/.test(p)),
        problems.join('\n'),
      );
      assert.ok(problems.includes('approvers: name at least one approver'), problems.join('\n'));
      assert.ok(problems.includes('colour: unknown field'), problems.join('\n'));
      await assert.rejects(temporal.client.workflow.getHandle(id).describe(), /not found/i);
    });

    it('answers 400 for a bad id, a malformed body, conflicting ids or an unknown list filter; 413 for a huge body; 404 for an unknown campaign', async () => {
      const badId = await call('POST', '/campaigns?id=../etc', { body: config });
      assert.equal(badId.status, 400);
      assert.match(badId.json.problems[0], /no slashes/);
      const conflict = await call('POST', '/campaigns?id=one', { body: config, headers: { 'idempotency-key': 'two' } });
      assert.equal(conflict.status, 400);
      assert.match(conflict.json.problems[0], /different campaigns/);
      assert.equal((await call('POST', '/campaigns', { rawBody: '{"data": ' })).status, 400);
      const filter = await call('GET', '/campaigns?reviewState=shipped');
      assert.equal(filter.status, 400);
      assert.match(filter.json.problems[0], /^reviewState: /);
      const huge = await call('POST', '/campaigns', { body: { ...config, objective: 'x'.repeat(1_100_000) } });
      assert.equal(huge.status, 413);
      assert.match(huge.json.error, /too large/);
      const missing = await call('GET', '/campaigns/no-such-campaign');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error, 'campaign no-such-campaign not found');
      assert.equal((await call('POST', '/campaigns/no-such-campaign/approve', { body: { by: 'ana' } })).status, 404);
    });
  });

  describe('a campaign through HTTP (scripted workers)', () => {
    it('starts idempotently, reports status, lists, refuses a non-approver (409), and completes approved', async () => {
      const script = scriptedActivities();
      const id = `http-${Date.now().toString(36)}`;
      await withWorkers(temporal, script.activities, async () => {
        const first = await call('POST', '/campaigns', { body: config, headers: { 'idempotency-key': id } });
        assert.equal(first.status, 201, JSON.stringify(first.json));
        assert.equal(first.json.workflowId, id);
        assert.equal(first.json.created, true);
        assert.equal(first.headers.get('location'), `/campaigns/${id}`);
        // A retry (header or ?id=) returns the same campaign, not a second one.
        const again = await call('POST', '/campaigns', { body: config, headers: { 'idempotency-key': id } });
        assert.equal(again.status, 200);
        assert.deepEqual([again.json.workflowId, again.json.runId, again.json.created], [id, first.json.runId, false]);
        const viaQuery = await call('POST', `/campaigns?id=${id}`, { body: config });
        assert.equal(viaQuery.status, 200);
        assert.equal(viaQuery.json.runId, first.json.runId);

        const review: CampaignStatus = await eventually(
          async () => {
            const res = await call('GET', `/campaigns/${id}`);
            return res.status === 200 && res.json.reviewState === 'awaiting-review' ? res.json : undefined;
          },
          60_000,
          `${id} to reach awaiting-review over HTTP`,
        );
        assert.equal(review.campaignId, id);
        assert.equal(review.experiments.length, 2);
        assert.ok(review.recommendation?.experimentId);

        // Exactly one workflow execution exists for the id, whatever the retries.
        const runs = await eventually(
          async () => {
            const rows: string[] = [];
            for await (const w of temporal.client.workflow.list({ query: `WorkflowId = '${id}'` })) rows.push(w.runId);
            return rows.length ? rows : undefined;
          },
          20_000,
          'visibility of the campaign',
        );
        assert.deepEqual(runs, [first.json.runId]);

        const listed = await eventually(
          async () => {
            const res = await call('GET', '/campaigns?reviewState=awaiting-review');
            return res.json.campaigns?.find((c: { workflowId: string }) => c.workflowId === id);
          },
          20_000,
          'the campaign in the awaiting-review list',
        );
        assert.equal(listed.reviewState, 'awaiting-review');

        const mallory = await call('POST', `/campaigns/${id}/approve`, { body: { by: 'mallory', note: 'trust me' } });
        assert.equal(mallory.status, 409);
        assert.match(mallory.json.error, /mallory is not an approver of this campaign \(approvers: ana, bo\)/);
        const noReason = await call('POST', `/campaigns/${id}/reject`, { body: { by: 'ana' } });
        assert.equal(noReason.status, 400);
        assert.ok(
          noReason.json.problems.some((p: string) => p.startsWith('reason: ')),
          JSON.stringify(noReason.json),
        );

        const approved = await call('POST', `/campaigns/${id}/approve`, { body: { by: 'ana', note: 'ship it' } });
        assert.equal(approved.status, 200, JSON.stringify(approved.json));
        assert.equal(approved.json.decision.kind, 'approve');
        assert.equal(approved.json.decision.via, 'update');

        const result = await client.waitForResult(id);
        assert.equal(result.reviewState, 'approved');
        assert.deepEqual(
          result.decisions.map((d) => [d.kind, d.by, d.note]),
          [['approve', 'ana', 'ship it']],
        );
        const final = await call('GET', `/campaigns/${id}`);
        assert.equal(final.status, 200);
        assert.equal(final.json.reviewState, 'approved');
        reportedStatus = final.json;

        // Even after the campaign has closed, a retried start is the same campaign (no second run).
        const late = await call('POST', '/campaigns', { body: config, headers: { 'idempotency-key': id } });
        assert.equal(late.status, 200);
        assert.equal(late.json.runId, first.json.runId);
        // And a sign-off on a closed campaign is refused, not lost.
        const tooLate = await call('POST', `/campaigns/${id}/reject`, { body: { by: 'bo', reason: 'changed my mind' } });
        assert.equal(tooLate.status, 409);
        assert.equal(tooLate.json.error, `campaign ${id} is closed (COMPLETED); it takes no more sign-offs`);
      });
    });

    it('pauses, resumes and aborts for an operator (200 with the recorded decision), refuses a stranger (409)', async () => {
      const script = scriptedActivities();
      const id = `http-ops-${Date.now().toString(36)}`;
      await withWorkers(temporal, script.activities, async () => {
        const body = { ...config, operators: ['olu'], budget: { experiments: 6, parallel: 1 } };
        assert.equal((await call('POST', '/campaigns', { body, headers: { 'idempotency-key': id } })).status, 201);
        const stranger = await call('POST', `/campaigns/${id}/pause`, { body: { by: 'mallory' } });
        assert.equal(stranger.status, 409);
        assert.match(stranger.json.error, /mallory is not an approver or operator of this campaign/);
        assert.equal((await call('POST', `/campaigns/${id}/pause`, { body: {} })).status, 400, 'a pause names who sends it');
        const paused = await call('POST', `/campaigns/${id}/pause`, { body: { by: 'olu', reason: 'maintenance' } });
        assert.equal(paused.status, 200, JSON.stringify(paused.json));
        assert.deepEqual([paused.json.decision.kind, paused.json.decision.by, paused.json.decision.note], ['pause', 'olu', 'maintenance']);
        assert.equal((await call('GET', `/campaigns/${id}`)).json.paused, true);
        assert.equal((await call('POST', `/campaigns/${id}/resume`, { body: { by: 'olu' } })).status, 200);
        const aborted = await call('POST', `/campaigns/${id}/abort`, { body: { by: 'olu', reason: 'done testing' } });
        assert.equal(aborted.status, 200, JSON.stringify(aborted.json));
        const final = await eventually(
          async () => {
            const res = await call('GET', `/campaigns/${id}`);
            return res.json.phase === 'done' ? res.json : undefined;
          },
          30_000,
          'the aborted campaign to finish',
        );
        assert.equal(final.reviewState, 'aborted');
        assert.deepEqual(
          final.decisions.map((d: { kind: string; by: string }) => `${d.kind}:${d.by}`),
          ['pause:olu', 'resume:olu', 'abort:olu'],
        );
      });
    });

    it('never writes a bearer token to its log', () => {
      const log = logLines.join('');
      assert.ok(log.length > 0, 'the service logged its requests');
      assert.ok(!log.includes(token) && !log.includes(otherToken), 'a token appeared in the log');
    });
  });

  /**
   * The committed JSON Schemas (schemas/, what other services validate against) must be what the zod contracts say
   * now, and must actually accept a real config and refuse bad ones under an independent validator: fastify's own
   * ajv (draft-07), configured not to coerce, strip or fill in anything.
   */
  describe('JSON Schemas of the public payloads (schemas/)', () => {
    const dir = defaultSchemasDir();
    const generated = generateSchemas();
    const schema = (file: string) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));

    it('are committed exactly as the generator produces them now (run `npm run schema` when this fails)', () => {
      assert.deepEqual(Object.keys(generated).sort(), [
        'abort.payload.json',
        'approve.payload.json',
        'campaign-event.json',
        'campaign-status.json',
        'override.payload.json',
        'rankingCampaign.input.json',
        'rankingExperiment.input.json',
        'reject.payload.json',
      ]);
      for (const [file, text] of Object.entries(generated)) {
        assert.ok(fs.existsSync(path.join(dir, file)), `schemas/${file} is missing`);
        assert.equal(fs.readFileSync(path.join(dir, file), 'utf8'), text, `schemas/${file} is stale`);
      }
      const extra = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !(f in generated));
      assert.deepEqual(extra, [], 'schemas/ holds files the generator no longer writes');
    });

    it('describe the shapes callers rely on: required fields, defaults optional, enums, no internal fields', () => {
      const campaign = schema('rankingCampaign.input.json');
      assert.equal(campaign.$schema, 'http://json-schema.org/draft-07/schema#');
      assert.deepEqual(campaign.required, ['data', 'approvers']);
      assert.equal(campaign.additionalProperties, false);
      assert.ok(!('carryOver' in campaign.properties), 'the internal carryOver is not public');
      assert.deepEqual(campaign.properties.strategy.enum, ['agent', 'random']);
      assert.equal(campaign.properties.strategy.default, 'agent');
      assert.equal(campaign.properties.approvers.minItems, 1);
      assert.deepEqual(schema('reject.payload.json').required, ['by', 'reason']);
      assert.deepEqual(schema('approve.payload.json').required, ['by']);
      assert.deepEqual(schema('campaign-status.json').properties.reviewState.enum, [...REVIEW_STATES]);
      assert.deepEqual(schema('rankingExperiment.input.json').required, ['experimentId', 'data', 'model']);
    });

    it('accept a real campaign config and refuse bad ones under an independent validator (ajv via fastify)', async () => {
      const validator = Fastify({ ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false } } });
      for (const file of Object.keys(generated)) {
        validator.post(`/${file}`, { schema: { body: schema(file) } }, async () => ({ ok: true }));
      }
      const check = async (file: string, body: unknown) => {
        const res = await validator.inject({ method: 'POST', url: `/${file}`, payload: body as object });
        return { ok: res.statusCode === 200, message: res.json().message as string | undefined };
      };
      try {
        const sample = {
          objective: 'beat the LR baseline on planted data',
          data: { planted: { seed: 3, trainRows: 5000 } },
          baseline: { family: 'lr' },
          budget: { experiments: 8, parallel: 2 },
          strategy: 'agent',
          approvers: ['ana', 'bo'],
          guardrails: { minRelativeNeGain: 0.005, calibrationBand: [0.9, 1.1] },
        };
        assert.deepEqual(await check('rankingCampaign.input.json', sample), { ok: true, message: undefined });
        assert.ok(
          (await check('rankingCampaign.input.json', { data: { format: 'criteo-tsv', train: 'a.tsv', test: 'b.tsv' }, approvers: ['ana'] })).ok,
        );
        const refused = [
          { ...sample, strategy: 'greedy' },
          { ...sample, approvers: [] },
          { ...sample, budget: { experiments: 0 } },
          { ...sample, colour: 'red' },
          { ...sample, carryOver: {} },
          { approvers: ['ana'] },
        ];
        for (const bad of refused) assert.equal((await check('rankingCampaign.input.json', bad)).ok, false, JSON.stringify(bad));
        assert.ok((await check('approve.payload.json', { by: 'ana', note: 'ship it' })).ok);
        assert.equal((await check('reject.payload.json', { by: 'ana' })).ok, false);
        assert.equal((await check('approve.payload.json', { by: 'ana', approved: true })).ok, false);
        // The schema and zod agree on a status; and the status a real campaign reported over HTTP in this run is valid
        // too (the campaign test above records it: run this file whole, not this test alone).
        const status = {
          campaignId: 'c',
          phase: 'review',
          reviewState: 'awaiting-review',
          paused: false,
          strategy: 'agent',
          experiments: [],
          running: [],
          best: null,
          recommendation: null,
          guardrailBreaches: [],
          decisions: [],
          budgetUsed: { experiments: 0, trainSeconds: 0 },
          ignoredMessages: [],
        };
        assert.ok(CampaignStatusSchema.safeParse(status).success);
        assert.ok((await check('campaign-status.json', status)).ok);
        assert.ok(reportedStatus, 'no status was reported over HTTP: the campaign test above did not run or did not finish');
        assert.deepEqual(await check('campaign-status.json', reportedStatus), { ok: true, message: undefined });
        assert.equal((await check('campaign-status.json', { ...status, reviewState: 'shipped' })).ok, false);
      } finally {
        await validator.close();
      }
    });
  });
});
