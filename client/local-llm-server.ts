import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { ChatHistoryItem, Llama, LlamaChat, LlamaContext, LlamaGrammar, LlamaModel } from 'node-llama-cpp';

/**
 * A small OpenAI-compatible chat-completions server around a local GGUF model (node-llama-cpp, CPU, prebuilt
 * binaries). `rankwright llm-server --model FILE` runs it; point OPENAI_BASE_URL at it to give the sub-agents a local
 * LLM. It serves one request at a time (one model session), and maps structured output onto grammars:
 *
 *   response_format {type:"json_schema", json_schema:{schema}}  → a grammar for the schema
 *   response_format {type:"json_object", schema}                → the same grammar (llama-cpp-python's dialect)
 *   response_format {type:"json_object"}                        → any JSON object
 *   none / {type:"text"}                                        → free text
 *
 * node-llama-cpp's grammar knows a subset of JSON Schema; `toGrammarSchema` maps the rest of what Rankwright sends
 * (anyOf → oneOf, optional keys → nullable, {} → any value) and refuses what it cannot represent with HTTP 400, so a
 * schema is either enforced or refused, never silently loosened. `supportsJsonSchema: false` refuses json_schema with
 * HTTP 500, as llama-cpp-python's server does, so clients' capability detection can be tested.
 */

export interface LocalLlmServerOptions {
  /** The GGUF file. */
  modelPath: string;
  /** The model id clients send and /v1/models lists (default: the file name without .gguf). Any id is accepted. */
  modelName?: string;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** CPU threads for the model (default 2). */
  threads?: number;
  /** Context window in tokens (default 8192, at most the model's training context). */
  contextSize?: number;
  /** Default and upper bound of max_tokens per completion (default 1024). */
  maxTokens?: number;
  /** false: answer json_schema response formats with HTTP 500 (like llama-cpp-python's server). Default true. */
  supportsJsonSchema?: boolean;
}

/** What the server did for one completion (in-process callers and tests read these). */
export interface CompletionRecord {
  responseFormat: 'json_schema' | 'json_object+schema' | 'json_object' | 'text';
  status: number;
  promptTokens?: number;
  completionTokens?: number;
  finishReason?: 'stop' | 'length';
  ms: number;
  error?: string;
  /** The answer's text (first 20,000 characters). */
  content?: string;
}

export interface LocalLlmServer {
  /** Base URL for OPENAI_BASE_URL (ends in /v1). */
  baseURL: string;
  model: string;
  contextSize: number;
  completions: CompletionRecord[];
  close(): Promise<void>;
}

const TextPart = z.object({ type: z.literal('text'), text: z.string() });
const Message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(TextPart), z.null()]).optional(),
});
const ResponseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object'), schema: z.record(z.string(), z.unknown()).optional() }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullish() }),
  }),
]);
const ChatCompletionRequest = z.object({
  model: z.string().optional(),
  messages: z.array(Message).min(1),
  response_format: ResponseFormat.nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  n: z.literal(1).nullish(),
  stream: z.literal(false).nullish(),
});
type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

/** An error answered as OpenAI does: {"error":{"message","type","code"}} with an HTTP status. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const SCHEMA_KEYWORDS_IGNORED = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$schema',
  '$id',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'propertyNames',
  'strict',
]);
const SCHEMA_KEYWORDS_KNOWN = new Set([
  'type',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'minProperties',
  'maxProperties',
  'format',
  '$ref',
  '$defs',
  'definitions',
]);

type Schema = Record<string, unknown>;

/** Any JSON value, in the grammar's subset (it has no "any" schema of its own). */
const ANY_VALUE: Schema = {
  oneOf: [{ type: ['string', 'number', 'boolean', 'null'] }, { type: 'object', additionalProperties: true }, { type: 'array' }],
};

function allowsNull(schema: Schema): boolean {
  const type = schema.type;
  if (type === 'null' || (Array.isArray(type) && type.includes('null'))) return true;
  if (Array.isArray(schema.enum) && schema.enum.includes(null)) return true;
  if (Array.isArray(schema.oneOf)) return (schema.oneOf as Schema[]).some(allowsNull);
  return false;
}

/**
 * JSON Schema → node-llama-cpp's grammar subset. Unsupported assertions that only narrow numbers (minimum, …) are
 * dropped (the client validates them); constructs that would change the shape (not, allOf, if/then, patterns,
 * string formats other than date/time) are refused.
 */
export function toGrammarSchema(schema: unknown, where = '(root)'): Schema {
  if (schema === true || (schema && typeof schema === 'object' && !Array.isArray(schema) && Object.keys(schema).length === 0)) return ANY_VALUE;
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) throw new ApiError(400, `response_format schema at ${where} is not an object`);
  const input = schema as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(input)) {
    if (SCHEMA_KEYWORDS_IGNORED.has(key)) continue;
    if (!SCHEMA_KEYWORDS_KNOWN.has(key))
      throw new ApiError(400, `response_format schema keyword "${key}" at ${where} is not supported by this server`, 'unsupported_schema');
    out[key] = value;
  }
  if (out.format !== undefined && !['date-time', 'date', 'time'].includes(String(out.format)))
    throw new ApiError(
      400,
      `response_format schema format "${String(out.format)}" at ${where} is not supported by this server`,
      'unsupported_schema',
    );
  if (out.anyOf !== undefined) {
    out.oneOf = out.anyOf;
    delete out.anyOf;
  }
  if (out.definitions !== undefined) {
    out.$defs = out.definitions;
    delete out.definitions;
  }
  if (typeof out.$ref === 'string') out.$ref = out.$ref.replace('#/definitions/', '#/$defs/');
  if (Array.isArray(out.oneOf)) out.oneOf = (out.oneOf as unknown[]).map((s, i) => toGrammarSchema(s, `${where}.oneOf[${i}]`));
  if (out.$defs && typeof out.$defs === 'object')
    out.$defs = Object.fromEntries(Object.entries(out.$defs as Schema).map(([k, s]) => [k, toGrammarSchema(s, `${where}.$defs.${k}`)]));
  if (out.items !== undefined) out.items = toGrammarSchema(out.items, `${where}.items`);
  if (Array.isArray(out.prefixItems))
    out.prefixItems = (out.prefixItems as unknown[]).map((s, i) => toGrammarSchema(s, `${where}.prefixItems[${i}]`));
  if (out.additionalProperties !== undefined && typeof out.additionalProperties !== 'boolean')
    out.additionalProperties = toGrammarSchema(out.additionalProperties, `${where}.additionalProperties`);
  if (out.properties !== undefined) {
    if (!out.properties || typeof out.properties !== 'object')
      throw new ApiError(400, `response_format schema properties at ${where} is not an object`);
    // The grammar writes every listed property; an optional one may therefore be null instead of absent.
    const required = new Set(Array.isArray(out.required) ? (out.required as string[]) : []);
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Schema).map(([key, sub]) => {
        const converted = toGrammarSchema(sub, `${where}.${key}`);
        return [key, required.has(key) || allowsNull(converted) ? converted : { oneOf: [converted, { type: 'null' }] }];
      }),
    );
  }
  delete out.required;
  if (out.type === undefined && out.enum === undefined && out.const === undefined && out.oneOf === undefined && out.$ref === undefined) {
    if (out.properties !== undefined || out.additionalProperties !== undefined) out.type = 'object';
    else if (out.items !== undefined || out.prefixItems !== undefined) out.type = 'array';
    else return ANY_VALUE;
  }
  return out;
}

function messageText(content: z.infer<typeof Message>['content']): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => p.text).join('');
  return '';
}

function toChatHistory(messages: ChatCompletionRequest['messages']): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const m of messages) {
    const text = messageText(m.content);
    if (m.role === 'system' || m.role === 'developer') history.push({ type: 'system', text });
    else if (m.role === 'user') history.push({ type: 'user', text });
    else history.push({ type: 'model', response: [text] });
  }
  if (history.at(-1)?.type === 'model') throw new ApiError(400, 'the last message must not be from the assistant');
  history.push({ type: 'model', response: [] });
  return history;
}

function formatKind(format: ChatCompletionRequest['response_format']): CompletionRecord['responseFormat'] {
  if (!format || format.type === 'text') return 'text';
  if (format.type === 'json_schema') return 'json_schema';
  return format.schema ? 'json_object+schema' : 'json_object';
}

function errorBody(message: string, status: number, code?: string) {
  return { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: code ?? null } };
}

/** Loads the model and listens. The returned server answers until close(). */
export async function startLocalLlmServer(options: LocalLlmServerOptions): Promise<LocalLlmServer> {
  const { getLlama, LlamaChat, LlamaLogLevel } = await import('node-llama-cpp');
  const modelName = options.modelName ?? path.basename(options.modelPath).replace(/\.gguf$/i, '');
  const maxTokensCap = options.maxTokens ?? 1024;
  const supportsJsonSchema = options.supportsJsonSchema ?? true;

  const llama: Llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  let model: LlamaModel | undefined;
  let context: LlamaContext | undefined;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath });
    const contextSize = Math.min(options.contextSize ?? 8192, model.trainContextSize);
    context = await model.createContext({ contextSize, threads: options.threads ?? 2, sequences: 1 });
  } catch (err) {
    await context?.dispose();
    await model?.dispose();
    await llama.dispose();
    throw err;
  }
  const loadedModel = model;
  const loadedContext = context;
  const chat: LlamaChat = new LlamaChat({ contextSequence: loadedContext.getSequence() });
  const grammars = new Map<string, LlamaGrammar>();
  const completions: CompletionRecord[] = [];

  async function grammarFor(format: ChatCompletionRequest['response_format']): Promise<LlamaGrammar | undefined> {
    if (!format || format.type === 'text') return undefined;
    if (format.type === 'json_schema' && !supportsJsonSchema)
      throw new ApiError(500, 'response_format type json_schema is not supported by this server; send json_object with a schema');
    const schema = format.type === 'json_schema' ? format.json_schema.schema : format.schema;
    const grammarSchema = schema ? toGrammarSchema(schema) : { type: 'object', additionalProperties: true };
    const key = JSON.stringify(grammarSchema);
    let grammar = grammars.get(key);
    if (!grammar) {
      try {
        grammar = await llama.createGrammarForJsonSchema(grammarSchema as never);
      } catch (err) {
        throw new ApiError(400, `response_format schema cannot be turned into a grammar: ${(err as Error).message}`, 'unsupported_schema');
      }
      if (grammars.size >= 32) grammars.delete(grammars.keys().next().value!);
      grammars.set(key, grammar);
    }
    return grammar;
  }

  async function complete(request: ChatCompletionRequest, signal: AbortSignal, record: CompletionRecord) {
    const history = toChatHistory(request.messages);
    const grammar = await grammarFor(request.response_format);
    const promptTokens = chat.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(loadedModel.tokenizer).length;
    record.promptTokens = promptTokens;
    const room = loadedContext.contextSize - promptTokens - 1;
    const wanted = Math.min(request.max_completion_tokens ?? request.max_tokens ?? maxTokensCap, maxTokensCap);
    if (room < Math.min(wanted, 16)) {
      throw new ApiError(
        400,
        `the prompt is ${promptTokens} tokens; this server's context is ${loadedContext.contextSize} tokens, which leaves no room for an answer`,
        'context_length_exceeded',
      );
    }
    const stop = request.stop == null ? undefined : Array.isArray(request.stop) ? request.stop : [request.stop];
    const result = await chat.generateResponse(history, {
      grammar,
      maxTokens: Math.min(wanted, room),
      temperature: request.temperature ?? 0,
      topP: request.top_p ?? undefined,
      seed: request.seed ?? undefined,
      repeatPenalty: false,
      customStopTriggers: stop?.length ? stop : undefined,
      signal,
      stopOnAbortSignal: false,
    });
    const text = result.response.replace(/\s+$/, '');
    const completionTokens = loadedModel.tokenize(text).length;
    const finishReason = result.metadata.stopReason === 'maxTokens' ? 'length' : 'stop';
    Object.assign(record, { completionTokens, finishReason, content: text.slice(0, 20_000) });
    return {
      id: `chatcmpl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: request.model ?? modelName,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason, logprobs: null }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  }

  // One model session: requests wait their turn. A client that hung up while waiting or generating is dropped.
  let queue: Promise<unknown> = Promise.resolve();
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });
  app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply: FastifyReply) => {
    const status = err instanceof ApiError ? err.status : err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    void reply.status(status).send(errorBody(err.message, status, err instanceof ApiError ? err.code : undefined));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(errorBody(`no route ${request.method} ${request.url}`, 404));
  });
  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: modelName, object: 'model', created: 0, owned_by: 'local' }] }));
  app.post('/v1/chat/completions', async (request, reply) => {
    const parsed = ChatCompletionRequest.safeParse(request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(400, `invalid request body: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort(new Error('the client went away'));
    });
    const started = Date.now();
    const record: CompletionRecord = { responseFormat: formatKind(parsed.data.response_format), status: 200, ms: 0 };
    const turn = queue.then(async () => {
      if (abort.signal.aborted) throw new ApiError(499, 'the client went away');
      return complete(parsed.data, abort.signal, record);
    });
    queue = turn.catch(() => undefined);
    try {
      return await turn;
    } catch (err) {
      record.status = err instanceof ApiError ? err.status : 500;
      record.error = (err as Error).message;
      if (abort.signal.aborted) record.error = 'the client went away';
      throw err;
    } finally {
      record.ms = Date.now() - started;
      completions.push(record);
    }
  });

  try {
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  } catch (err) {
    chat.dispose();
    await loadedContext.dispose();
    await loadedModel.dispose();
    await llama.dispose();
    throw err;
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    baseURL: `http://${host}:${address.port}/v1`,
    model: modelName,
    contextSize: loadedContext.contextSize,
    completions,
    async close() {
      await app.close();
      await queue;
      chat.dispose();
      await loadedContext.dispose();
      await loadedModel.dispose();
      await llama.dispose();
    },
  };
}
