import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { WorkflowNotFoundError } from '@temporalio/common';
import { z } from 'zod';
import { CampaignInput, InvalidInputError, PHASES, REVIEW_STATES, SafeId, parseOrExplain } from '../contracts';
import { RankwrightClient, SignOffRefusedError } from './rankwright-client';
import { guardOutputStreams } from '../workers/process-guards';

/**
 * The HTTP trigger for other services: start campaigns (idempotently), read their status, list them, sign off.
 * A thin layer over RankwrightClient — validation, sign-off rules and workflow ids are the client's and the
 * workflow's; this file only maps them to HTTP (400 invalid input, 401 no/wrong token, 404 unknown campaign,
 * 409 sign-off refused, 413 body too large).
 *
 *   POST /campaigns                 body = campaign config; `Idempotency-Key: <id>` or `?id=<id>` → 201 new, 200 existing
 *   GET  /campaigns                 ?reviewState=awaiting-review &phase=review &limit=50
 *   GET  /campaigns/:id             status JSON (live query while running, the result once completed)
 *   POST /campaigns/:id/approve     {by, note?}        reject {by, reason}   override {by, reason}   abort {by, reason?}
 *   POST /campaigns/:id/pause       {by, reason?}      resume {by, reason?}  (approvers and operators)
 *   POST /jobs/:jobId/finished      an external training job's callback: its experiment polls the job now → 202
 *   GET  /healthz                   no token needed
 *
 * Every other route needs `Authorization: Bearer <token>` with one of the configured tokens. Tokens are shared
 * secrets, not identities: `by` in a sign-off is what the caller says, checked against the campaign's approvers.
 */
export interface HttpServiceOptions {
  client: RankwrightClient;
  /** Accepted bearer tokens (at least one, each at least MIN_TOKEN_LENGTH characters). */
  tokens: string[];
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  bodyLimit?: number;
  /** Fastify's logger (default off). The Authorization header is always redacted. */
  logger?: boolean | Exclude<FastifyServerOptions['logger'], undefined>;
}

export const MIN_TOKEN_LENGTH = 16;
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Bearer tokens from RANKWRIGHT_HTTP_TOKENS (comma-separated; surrounding spaces and empty entries dropped). */
export function tokensFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.RANKWRIGHT_HTTP_TOKENS ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** Builds the service (not yet listening: call `.listen({ port, host })`, or `.inject()` in tests). */
export function createHttpService(options: HttpServiceOptions): FastifyInstance {
  const isAuthorized = bearerCheck(options.tokens);
  const { client } = options;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const loggerOption = options.logger ?? false;
  const app = Fastify({
    bodyLimit,
    logger:
      loggerOption === false
        ? false
        : {
            ...(typeof loggerOption === 'object' ? loggerOption : {}),
            redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
          },
  });

  // Authentication runs before the body is read, so an unauthenticated caller can't make us parse 1 MB.
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.public) return;
    if (!isAuthorized(request.headers.authorization)) {
      reply.header('www-authenticate', 'Bearer');
      return reply.code(401).send({ error: 'missing or invalid bearer token (Authorization: Bearer <token>)' });
    }
  });

  app.setErrorHandler((err: FastifyError | Error, request, reply) => sendError(err, request, reply, bodyLimit));
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` }));

  app.get('/healthz', { config: { public: true } }, async () => ({ ok: true }));

  app.post('/campaigns', async (request, reply) => {
    const id = idempotencyKey(request);
    // Validate first: a bad config is a 400 even when the id already exists.
    const parsed = parseOrExplain(CampaignInput, request.body, 'campaign config');
    const workflowId = id ?? parsed.campaignId;
    if (workflowId) {
      // A retried POST must not start a second campaign, even once the first has finished (Temporal would
      // otherwise allow a new run with the same id after the old one closed).
      const existing = await describeOrUndefined(client, workflowId);
      if (existing) return reply.code(200).header('location', `/campaigns/${workflowId}`).send({ workflowId, runId: existing.runId, created: false });
    }
    const started = await client.startCampaign(request.body, workflowId ? { id: workflowId } : {});
    return reply
      .code(started.created ? 201 : 200)
      .header('location', `/campaigns/${started.workflowId}`)
      .send({ workflowId: started.workflowId, runId: started.runId, created: started.created });
  });

  const ListQuery = z
    .object({
      reviewState: z.enum(REVIEW_STATES).optional(),
      phase: z.enum(PHASES).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(50),
    })
    .strict();
  app.get('/campaigns', async (request) => {
    const q = parseOrExplain(ListQuery, request.query, 'list query');
    // Values come from closed enums, so they are safe to put in a visibility query.
    const clauses = [q.reviewState && `ReviewState = '${q.reviewState}'`, q.phase && `Phase = '${q.phase}'`].filter(Boolean);
    const campaigns = await client.list({ query: clauses.length ? clauses.join(' AND ') : undefined, limit: q.limit });
    return { campaigns };
  });

  app.get<{ Params: { id: string } }>('/campaigns/:id', async (request) => client.status(campaignId(request)));

  const signOff = <K extends 'approve' | 'reject' | 'override' | 'abort' | 'pause' | 'resume'>(kind: K) =>
    app.post<{ Params: { id: string } }>(`/campaigns/:id/${kind}`, async (request) => {
      const id = campaignId(request);
      // The client validates the payload (400 listing every bad field); the workflow's update validator decides
      // whether the sign-off is allowed (409 with its reason).
      try {
        const decision = await client[kind](id, request.body as never);
        return { workflowId: id, decision };
      } catch (err) {
        // Temporal answers "not found" to an update on a campaign that has closed; say which it is.
        if (err instanceof WorkflowNotFoundError) {
          const closed = await describeOrUndefined(client, id);
          if (closed) throw new ConflictError(`campaign ${id} is closed (${closed.status.name}); it takes no more sign-offs`);
        }
        throw err;
      }
    });
  // An external trainer's callback. It only wakes the experiment: the poll that follows reads the job's own state,
  // so a caller can at most make it poll early.
  app.post<{ Params: { jobId: string } }>('/jobs/:jobId/finished', async (request, reply) => {
    try {
      const woke = await client.trainingJobFinished(request.params.jobId);
      return reply.code(202).send(woke);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`no running experiment owns job ${request.params.jobId}`);
      throw err;
    }
  });

  signOff('approve');
  signOff('reject');
  signOff('override');
  signOff('abort');
  signOff('pause');
  signOff('resume');

  return app;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route needs no bearer token. */
    public?: boolean;
  }
}

/**
 * Returns a constant-time check of an Authorization header against the configured tokens. Both sides are hashed
 * (SHA-256) first, so every comparison is between equal-length digests: no early exit on length or on the first
 * differing byte, and every configured token is compared on every request.
 */
function bearerCheck(tokens: string[]): (header: string | undefined) => boolean {
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new Error('the HTTP service needs at least one bearer token (set RANKWRIGHT_HTTP_TOKENS=<token>[,<token>...])');
  }
  tokens.forEach((t, i) => {
    // Never print the token itself, only where it is.
    if (typeof t !== 'string' || t.length < MIN_TOKEN_LENGTH)
      throw new Error(`bearer token #${i + 1} is shorter than ${MIN_TOKEN_LENGTH} characters; use a long random secret`);
  });
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  const expected = tokens.map(digest);
  return (header) => {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
    const presented = digest(match ? match[1] : '');
    let ok = false;
    for (const e of expected) ok = timingSafeEqual(presented, e) || ok;
    return ok && match !== null;
  };
}

function idempotencyKey(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  const fromQuery = (request.query as Record<string, unknown> | undefined)?.id;
  if (fromQuery !== undefined && typeof fromQuery !== 'string') throw new InvalidInputError('campaign id', ['id: give one id']);
  if (fromHeader !== undefined && fromQuery !== undefined && fromHeader !== fromQuery) {
    throw new InvalidInputError('campaign id', ['Idempotency-Key and ?id= name different campaigns; give one']);
  }
  const id = fromHeader ?? fromQuery;
  return id === undefined ? undefined : parseOrExplain(SafeId, id, 'campaign id (Idempotency-Key or ?id=)');
}

function campaignId(request: FastifyRequest<{ Params: { id: string } }>): string {
  return parseOrExplain(SafeId, request.params.id, 'campaign id');
}

async function describeOrUndefined(client: RankwrightClient, workflowId: string) {
  try {
    return await client.temporal.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

class ConflictError extends Error {}
class NotFoundError extends Error {}

function sendError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply, bodyLimit: number) {
  if (err instanceof InvalidInputError) return reply.code(400).send({ error: `invalid ${err.what}`, problems: err.problems });
  if (err instanceof SignOffRefusedError || err instanceof ConflictError) return reply.code(409).send({ error: err.message });
  if (err instanceof NotFoundError) return reply.code(404).send({ error: err.message });
  if (err instanceof WorkflowNotFoundError || grpcCode(err) === 5 /* NOT_FOUND */) {
    const id = (request.params as { id?: string } | undefined)?.id;
    return reply.code(404).send({ error: id ? `campaign ${id} not found` : 'not found' });
  }
  const status = (err as FastifyError).statusCode;
  if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return reply.code(413).send({ error: `request body too large (limit ${bodyLimit} bytes)` });
  }
  // Fastify's own client errors: malformed JSON, unsupported media type, empty JSON body.
  if (status && status >= 400 && status < 500) return reply.code(status).send({ error: err.message });
  if (grpcCode(err) === 9 /* FAILED_PRECONDITION */ || /already completed/i.test(err.message)) {
    return reply.code(409).send({ error: err.message });
  }
  request.log.error({ err }, 'request failed');
  return reply.code(500).send({ error: 'internal error', detail: err.message });
}

function grpcCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'number' ? e.code : typeof e.cause?.code === 'number' ? e.cause.code : undefined;
  return code;
}

/**
 * `rankwright serve` (or `npx tsx client/http-service.ts`): serves on --host / RANKWRIGHT_HTTP_HOST (default 127.0.0.1)
 * and --port / RANKWRIGHT_HTTP_PORT (default 8480), Temporal settings from the standard environment.
 */
export async function serveFromEnv(env: NodeJS.ProcessEnv = process.env, listen: { host?: string; port?: number } = {}): Promise<FastifyInstance> {
  // Settings are checked before connecting to Temporal, and reported as invalid input (one line, naming the
  // setting), never as a crash.
  const tokens = tokensFromEnv(env);
  try {
    bearerCheck(tokens);
  } catch (err) {
    throw new InvalidInputError('RANKWRIGHT_HTTP_TOKENS', [(err as Error).message]);
  }
  const portSource = listen.port !== undefined ? '--port' : 'RANKWRIGHT_HTTP_PORT';
  const rawPort = listen.port ?? env.RANKWRIGHT_HTTP_PORT?.trim() ?? '8480';
  const port = Number(rawPort);
  if (rawPort === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidInputError(portSource, [`expected a port number 0-65535, got ${JSON.stringify(String(rawPort))}`]);
  }
  const host = listen.host ?? env.RANKWRIGHT_HTTP_HOST ?? '127.0.0.1';
  const level = env.RANKWRIGHT_HTTP_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(level))
    throw new InvalidInputError('RANKWRIGHT_HTTP_LOG_LEVEL', [`expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`]);

  const client = await RankwrightClient.connect();
  // Request logs go through process.stdout, which guardOutputStreams keeps alive on a full disk. pino's own default
  // destination would not survive one: its 'error' is re-emitted unheard, and its exit-time flush then retries the
  // failing write forever (the process hangs instead of dying).
  const app = createHttpService({ client, tokens, logger: { level, stream: process.stdout } });
  app.addHook('onClose', async () => client.close());
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code && ['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) {
      throw new InvalidInputError('--host/--port', [
        `cannot listen on ${host}:${port} (${code}); choose another with --host/--port or RANKWRIGHT_HTTP_HOST/RANKWRIGHT_HTTP_PORT`,
      ]);
    }
    throw err;
  }
  return app;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

if (require.main === module) {
  guardOutputStreams();
  serveFromEnv().catch((err) => {
    console.error(`rankwright http: ${(err as Error).message}`);
    process.exit(1);
  });
}
