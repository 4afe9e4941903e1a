import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small real OpenAI-protocol server for tests: POST /v1/chat/completions answers from a script (one reply per
 * request, in order), and every request is recorded (headers and parsed body) so tests can check what the agents
 * sent. Replies can be delayed (timeouts), fail with an HTTP status, or carry any content (malformed JSON, hostile text).
 */

export interface ScriptedReply {
  /** Message content of the completion (the agent's answer). */
  content?: string;
  /** HTTP status; >= 400 sends an OpenAI-style error body. */
  status?: number;
  /** Wait this long before answering (to exceed the client's timeout). */
  delayMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  body: any;
}

export interface OpenAiTestServer {
  /** Base URL to put in OPENAI_BASE_URL / LlmSettings.baseURL (ends in /v1). */
  baseURL: string;
  requests: RecordedRequest[];
  /** Replace the script: the n-th request gets the n-th reply; requests beyond it get HTTP 500. */
  script(replies: ScriptedReply[]): void;
  /** Answer every request with a function of its parsed body (for whole campaigns, whose request order varies). */
  respond(responder: (body: any) => ScriptedReply): void;
  close(): Promise<void>;
}

function completion(model: string, content: string) {
  return {
    id: `chatcmpl-test-${Math.random().toString(36).slice(2)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

export async function startOpenAiServer(): Promise<OpenAiTestServer> {
  let replies: ScriptedReply[] = [];
  let responder: ((body: any) => ScriptedReply) | undefined;
  let served = 0;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: any = undefined;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawBody, body });
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const reply = responder ? responder(body) : (replies[served++] ?? { status: 500, content: 'no scripted reply left' });
      const send = () => {
        if (res.destroyed) return;
        if (reply.status && reply.status >= 400) {
          res.writeHead(reply.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: reply.content ?? 'scripted failure', type: 'server_error' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(completion(body?.model ?? 'test-model', reply.content ?? '')));
      };
      if (reply.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          send();
        }, reply.delayMs);
        timers.add(t);
      } else send();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    respond(next) {
      responder = next;
      requests.length = 0;
    },
    script(next) {
      responder = undefined;
      replies = next;
      served = 0;
      requests.length = 0;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
