import { AIMessage, HumanMessage, SystemMessage, type BaseMessage } from '@langchain/core/messages';
import { initChatModel } from 'langchain';
import { z } from 'zod';

/**
 * LLM plumbing shared by the sub-agents: settings from the environment, one structured call with a single repair
 * round, and failure reasons that never carry the API key. Agents decide what to do on failure (their heuristic twin).
 */

/**
 * How the answer's shape is requested:
 * - `jsonSchema`: response_format {type:"json_schema"} (OpenAI, vLLM guided decoding, llama.cpp's server, Ollama >= 0.5)
 * - `jsonObject`: response_format {type:"json_object", schema} (llama-cpp-python's server enforces the schema this way)
 * - `jsonMode`: response_format {type:"json_object"} without a schema (any JSON object)
 * - `prompt`: no response_format; the schema is only in the prompt
 * Every method also puts the schema in the system prompt, and we validate the answer with zod ourselves.
 */
export const STRUCTURED_OUTPUT_METHODS = ['jsonSchema', 'jsonObject', 'jsonMode', 'prompt'] as const;
export type StructuredOutputMethod = (typeof STRUCTURED_OUTPUT_METHODS)[number];

/** The order `auto` tries methods in, when an endpoint refuses one. */
const DETECTION_ORDER: readonly StructuredOutputMethod[] = ['jsonSchema', 'jsonObject', 'prompt'];

const METHOD_WIRE_NAME: Record<StructuredOutputMethod, string> = {
  jsonSchema: 'json_schema',
  jsonObject: 'json_object with a schema',
  jsonMode: 'json_object',
  prompt: 'a plain JSON prompt',
};

/** Default budget for the data part of a prompt, in estimated tokens: fits a small local model's 8k context. */
export const DEFAULT_PROMPT_TOKENS = 3000;

export interface LlmSettings {
  /** An OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, OpenAI); undefined = api.openai.com. */
  baseURL?: string;
  model: string;
  timeoutMs: number;
  /** A fixed method, or `auto`: detect what the endpoint supports (json_schema, then json_object, then a prompt). */
  structuredOutput: StructuredOutputMethod | 'auto';
  /** Budget for the data part of each prompt in estimated tokens (estimateTokens); default DEFAULT_PROMPT_TOKENS. */
  promptTokens?: number;
  /** max_tokens of each answer; unset = the server's default. */
  maxTokens?: number;
  /** Non-enumerable: JSON.stringify, logs and spreads of the settings never include it. */
  readonly apiKey: string;
}

/** Local servers accept any key; the OpenAI SDK insists on one being set. */
const PLACEHOLDER_KEY = 'not-needed';

export function makeLlmSettings(options: Omit<LlmSettings, 'apiKey'> & { apiKey?: string }): LlmSettings {
  const { apiKey, ...rest } = options;
  const settings = { ...rest } as LlmSettings;
  Object.defineProperty(settings, 'apiKey', { value: apiKey || PLACEHOLDER_KEY, enumerable: false });
  return settings;
}

function positiveNumber(value: string | undefined): number | undefined {
  const n = Number(value);
  return value?.trim() && Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * LLM settings when the worker is configured for one (OPENAI_BASE_URL or OPENAI_API_KEY set), else null, which means
 * "no LLM". RANKWRIGHT_LLM_MODEL picks the model (default gpt-4o-mini), RANKWRIGHT_LLM_TIMEOUT_MS the per-request
 * timeout (default 30 s), RANKWRIGHT_LLM_STRUCTURED_OUTPUT the method (auto | jsonSchema | jsonObject | jsonMode |
 * prompt; default auto), RANKWRIGHT_LLM_PROMPT_TOKENS the prompt budget, RANKWRIGHT_LLM_MAX_TOKENS the answer limit.
 */
export function llmSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): LlmSettings | null {
  const baseURL = env.OPENAI_BASE_URL?.trim() || undefined;
  const apiKey = env.OPENAI_API_KEY?.trim() || undefined;
  if (!baseURL && !apiKey) return null;
  const method = env.RANKWRIGHT_LLM_STRUCTURED_OUTPUT?.trim();
  const options: Omit<LlmSettings, 'apiKey'> & { apiKey?: string } = {
    baseURL,
    apiKey,
    model: env.RANKWRIGHT_LLM_MODEL?.trim() || 'gpt-4o-mini',
    timeoutMs: positiveNumber(env.RANKWRIGHT_LLM_TIMEOUT_MS) ?? 30_000,
    structuredOutput: (STRUCTURED_OUTPUT_METHODS as readonly string[]).includes(method ?? '') ? (method as StructuredOutputMethod) : 'auto',
  };
  const promptTokens = positiveNumber(env.RANKWRIGHT_LLM_PROMPT_TOKENS);
  if (promptTokens) options.promptTokens = Math.round(promptTokens);
  const maxTokens = positiveNumber(env.RANKWRIGHT_LLM_MAX_TOKENS);
  if (maxTokens) options.maxTokens = Math.round(maxTokens);
  return makeLlmSettings(options);
}

/**
 * A rough token count for budgeting prompts. Small models' tokenizers split digits one by one: SmolLM2's reads our
 * JSON contexts at 2.3–2.7 characters per token (English ~4.4, OpenAI's tokenizers ~3.5 on JSON), so 2.2 keeps a
 * budget an upper bound for small local models and costs hosted ones a little context.
 */
export const CHARS_PER_TOKEN = 2.2;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** JSON for a prompt: fractions rounded to 5 significant digits (-0.0045000000000000595 costs 20 tokens, -0.0045 six). */
export function promptJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v) ? Number(v.toPrecision(5)) : v,
  );
}

export function promptBudget(settings: LlmSettings): number {
  return settings.promptTokens ?? DEFAULT_PROMPT_TOKENS;
}

export type StructuredAnswer<T> =
  | {
      ok: true;
      value: T;
      /** The answer's JSON before zod (to report keys the schema ignored). */
      raw: unknown;
      repaired: boolean;
      method: StructuredOutputMethod;
      /** What happened on the way that a reviewer should see (capability detection, a truncated answer). */
      notes: string[];
    }
  | { ok: false; reason: string; notes: string[] };

export interface StructuredQuestion<T> {
  /** Names the answer schema for the server (response_format.json_schema.name). */
  name: string;
  system: string;
  user: string;
  /** Validates the answer (may be more lenient than `wire`, so an idea is kept and clamped rather than refused). */
  schema: z.ZodType<T>;
  /** The shape the server is asked for (default: `schema`), e.g. with enums a grammar can enforce. */
  wire?: z.ZodType;
}

/** Strip secrets from anything we keep (fallback reasons end up in events and histories). */
export function redactSecrets(text: string, settings?: LlmSettings): string {
  let out = text;
  if (settings && settings.apiKey && settings.apiKey !== PLACEHOLDER_KEY) out = out.split(settings.apiKey).join('[redacted]');
  return out.replace(/\b(sk|key|token)-[A-Za-z0-9_*-]{6,}/gi, '[redacted]').replace(/Bearer\s+\S+/gi, 'Bearer [redacted]');
}

function messageText(message: unknown): string {
  const content = (message as { content?: unknown })?.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((part) => (typeof part === 'string' ? part : typeof part?.text === 'string' ? part.text : '')).join('');
  return '';
}

/** Models often wrap JSON in a code fence or a sentence; take the outermost object. */
export function extractJson(text: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  const candidate = fenced ? fenced[1] : text;
  const start = candidate.indexOf('{');
  const end = candidate.lastIndexOf('}');
  if (start < 0 || end <= start) throw new Error('the answer contains no JSON object');
  return JSON.parse(candidate.slice(start, end + 1));
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 12)
    .map((issue) => `- ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('\n');
}

function httpStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown })?.status;
  return typeof status === 'number' ? status : undefined;
}

function shortError(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string };
  const status = httpStatus(err) ? ` (HTTP ${httpStatus(err)})` : '';
  const message = String(e?.message ?? err)
    .split('\n')[0]
    .slice(0, 240);
  return `${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${message}${status}`;
}

/**
 * An HTTP answer that says "I don't take this request" rather than "I am down or busy": what servers answer to a
 * response_format they do not implement (llama-cpp-python: 500; others 400/422/501).
 */
function isRefusal(err: unknown): boolean {
  const status = httpStatus(err);
  // A prompt longer than the model's context is refused whatever the format: not a capability to detect.
  if (/context[_ ]length|context window|maximum context|ContextOverflow/i.test(`${(err as Error)?.name} ${(err as Error)?.message}`)) return false;
  return status !== undefined && [400, 415, 422, 500, 501].includes(status);
}

/** The OpenAI SDK's parse of a json_schema answer that hit max_tokens (its class name survives, its `name` does not). */
function isCutOff(err: unknown): boolean {
  const e = err as Error | undefined;
  return (
    e?.constructor?.name === 'LengthFinishReasonError' || e?.name === 'LengthFinishReasonError' || /length limit was reached/i.test(e?.message ?? '')
  );
}

/** What each endpoint+model accepted, found by `auto` (in-process memory; a worker restart detects again). */
const detectedMethods = new Map<string, StructuredOutputMethod>();

function endpointKey(settings: LlmSettings): string {
  return `${settings.baseURL ?? 'https://api.openai.com/v1'}|${settings.model}`;
}

/** The method `auto` settled on for these settings' endpoint and model, if it has. */
export function detectedStructuredOutput(settings: LlmSettings): StructuredOutputMethod | undefined {
  return detectedMethods.get(endpointKey(settings));
}

/** Forget every detection (tests; or after reconfiguring a server). */
export function forgetDetectedStructuredOutput(): void {
  detectedMethods.clear();
}

function responseFormat(method: StructuredOutputMethod, name: string, schema: Record<string, unknown>): Record<string, unknown> | undefined {
  switch (method) {
    case 'jsonSchema':
      return { type: 'json_schema', json_schema: { name, schema } };
    case 'jsonObject':
      return { type: 'json_object', schema };
    case 'jsonMode':
      return { type: 'json_object' };
    case 'prompt':
      return undefined;
  }
}

/**
 * Ask for one JSON answer of the given shape. The request goes through langchain's chat model (initChatModel, the
 * OpenAI protocol) with the method's response_format; zod validates the raw text. An invalid answer gets ONE repair
 * round with the validation errors; a second invalid answer, any HTTP error, or a timeout ends with ok=false and a
 * reason (no retries here: Temporal and the heuristic fallback own that). With `auto`, an endpoint that refuses a
 * response format (an HTTP 4xx/5xx answer) is asked again with the next method, and the one it accepts is remembered
 * for that endpoint and model.
 */
export async function askStructured<T>(settings: LlmSettings, question: StructuredQuestion<T>): Promise<StructuredAnswer<T>> {
  const schemaForServer = z.toJSONSchema(question.wire ?? question.schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete schemaForServer.$schema;
  // langchain's initChatModel loads the provider package (@langchain/openai) for an OpenAI-protocol endpoint: the one
  // protocol OpenAI, vLLM, Ollama and llama.cpp servers all speak.
  const chat = await initChatModel(settings.model, {
    modelProvider: 'openai',
    apiKey: settings.apiKey,
    configuration: { baseURL: settings.baseURL },
    temperature: 0,
    maxRetries: 0,
    timeout: settings.timeoutMs,
    useResponsesApi: false,
    ...(settings.maxTokens ? { maxTokens: settings.maxTokens } : {}),
  });
  const system = `${question.system}\n\nAnswer with one JSON object only, matching this JSON schema:\n${JSON.stringify(schemaForServer)}`;
  const messages: BaseMessage[] = [new SystemMessage(system), new HumanMessage(question.user)];
  const notes: string[] = [];
  const key = endpointKey(settings);
  const remembered = settings.structuredOutput === 'auto' ? detectedMethods.get(key) : settings.structuredOutput;
  const candidates = remembered ? [remembered] : DETECTION_ORDER;
  const refusals: string[] = [];
  let methodIndex = 0;
  let method = candidates[0];
  let lastProblem = '';

  for (let round = 0; round < 2;) {
    let rawText: string;
    try {
      const format = responseFormat(method, question.name, schemaForServer);
      const message = await chat.invoke(messages, {
        signal: AbortSignal.timeout(settings.timeoutMs + 1000),
        ...(format ? { response_format: format } : {}),
      } as Parameters<typeof chat.invoke>[1]);
      rawText = messageText(message);
      if (!remembered && settings.structuredOutput === 'auto') {
        detectedMethods.set(key, method);
        if (refusals.length) notes.push(`the endpoint refused ${refusals.join('; ')}; using ${METHOD_WIRE_NAME[method]} for it from now on`);
      }
      const finish = (message as { response_metadata?: { finish_reason?: string } }).response_metadata?.finish_reason;
      if (finish === 'length') notes.push('the answer was cut off at the token limit (max_tokens)');
    } catch (err) {
      if (!remembered && round === 0 && isRefusal(err) && methodIndex + 1 < candidates.length) {
        // Capability detection: this endpoint does not take this response format; ask the same question the next way.
        refusals.push(`${METHOD_WIRE_NAME[method]} (${shortError(err)})`);
        method = candidates[++methodIndex];
        continue;
      }
      // With response_format json_schema the OpenAI SDK parses the content itself and throws a SyntaxError on
      // malformed JSON (and a LengthFinishReasonError on a cut-off one): a bad answer (worth the repair round).
      const cutOff = isCutOff(err);
      if ((err as Error)?.name === 'SyntaxError' || cutOff) {
        if (!remembered && settings.structuredOutput === 'auto') detectedMethods.set(key, method);
        lastProblem = !cutOff
          ? `the answer is not valid JSON (${shortError(err)})`
          : 'the answer was cut off at the token limit before the JSON was complete; answer more briefly';
        messages.push(
          new AIMessage('(previous answer omitted: it was not valid JSON)'),
          new HumanMessage(`Your previous answer was rejected because ${lastProblem}\nReply again with only the corrected JSON object.`),
        );
        round++;
        continue;
      }
      const refused = refusals.length ? ` after the endpoint refused ${refusals.join('; ')}` : '';
      return {
        ok: false,
        reason: redactSecrets(`LLM request failed${round ? ' during the repair round' : ''}${refused}: ${shortError(err)}`, settings),
        notes,
      };
    }
    let problem: string;
    let candidate: unknown;
    try {
      candidate = extractJson(rawText);
      const checked = question.schema.safeParse(candidate);
      if (checked.success) return { ok: true, value: checked.data, raw: candidate, repaired: round > 0, method, notes };
      problem = `the JSON does not match the schema:\n${describeIssues(checked.error)}`;
    } catch (err) {
      problem = `the answer is not valid JSON (${shortError(err)})`;
    }
    lastProblem = problem;
    messages.push(
      new AIMessage(rawText.slice(0, 8000)),
      new HumanMessage(`Your previous answer was rejected because ${problem}\nReply again with only the corrected JSON object.`),
    );
    round++;
  }
  return {
    ok: false,
    reason: redactSecrets(`LLM answer invalid after one repair attempt: ${lastProblem.replace(/\n/g, ' ').slice(0, 400)}`, settings),
    notes,
  };
}
