import { AIMessage, HumanMessage, SystemMessage, type BaseMessage } from '@langchain/core/messages';
import { initChatModel } from 'langchain';
import { z } from 'zod';

/**
 * LLM plumbing shared by the sub-agents: settings from the environment, one structured call with a single repair
 * round, and failure reasons that never carry the API key. Agents decide what to do on failure (their heuristic twin).
 */

export type StructuredOutputMethod = 'jsonSchema' | 'jsonMode';

export interface LlmSettings {
  /** An OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, OpenAI); undefined = api.openai.com. */
  baseURL?: string;
  model: string;
  timeoutMs: number;
  /**
   * How the answer's shape is requested. `jsonSchema` sends the schema as response_format (OpenAI, vLLM guided
   * decoding, llama.cpp grammars, Ollama >= 0.5 all enforce it); `jsonMode` only asks for a JSON object, for older
   * servers. Both read the answer from message content and we validate it with zod ourselves.
   */
  structuredOutput: StructuredOutputMethod;
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

/**
 * LLM settings when the worker is configured for one (OPENAI_BASE_URL or OPENAI_API_KEY set), else null, which means
 * "use the heuristic twins". RANKWRIGHT_LLM_MODEL picks the model (default gpt-4o-mini), RANKWRIGHT_LLM_TIMEOUT_MS the
 * per-request timeout (default 30 s), RANKWRIGHT_LLM_STRUCTURED_OUTPUT the method (jsonSchema | jsonMode).
 */
export function llmSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): LlmSettings | null {
  const baseURL = env.OPENAI_BASE_URL?.trim() || undefined;
  const apiKey = env.OPENAI_API_KEY?.trim() || undefined;
  if (!baseURL && !apiKey) return null;
  const timeout = Number(env.RANKWRIGHT_LLM_TIMEOUT_MS);
  const method = env.RANKWRIGHT_LLM_STRUCTURED_OUTPUT === 'jsonMode' ? 'jsonMode' : 'jsonSchema';
  return makeLlmSettings({
    baseURL,
    apiKey,
    model: env.RANKWRIGHT_LLM_MODEL?.trim() || 'gpt-4o-mini',
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 30_000,
    structuredOutput: method,
  });
}

export type StructuredAnswer<T> = { ok: true; value: T; repaired: boolean } | { ok: false; reason: string };

export interface StructuredQuestion<T> {
  /** Names the answer schema for the server (response_format.json_schema.name). */
  name: string;
  system: string;
  user: string;
  schema: z.ZodType<T>;
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

function shortError(err: unknown): string {
  const e = err as { name?: string; message?: string; status?: number; code?: string };
  const status = e?.status ? ` (HTTP ${e.status})` : '';
  const message = String(e?.message ?? err)
    .split('\n')[0]
    .slice(0, 240);
  return `${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${message}${status}`;
}

/**
 * Ask for one JSON answer of the given shape. LangChain's `withStructuredOutput` (method jsonSchema or jsonMode,
 * `includeRaw` so we see the raw text even when parsing fails) builds the request; zod validates the result. An
 * invalid answer gets ONE repair round with the validation errors; a second invalid answer, any HTTP error, or a
 * timeout ends with ok=false and a reason (no retries here: Temporal and the heuristic fallback own that).
 */
export async function askStructured<T>(settings: LlmSettings, question: StructuredQuestion<T>): Promise<StructuredAnswer<T>> {
  const schemaForServer = z.toJSONSchema(question.schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
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
  });
  const structured = chat.withStructuredOutput(schemaForServer, { name: question.name, method: settings.structuredOutput, includeRaw: true });
  const system = `${question.system}\n\nAnswer with one JSON object only, matching this JSON schema:\n${JSON.stringify(schemaForServer)}`;
  const messages: BaseMessage[] = [new SystemMessage(system), new HumanMessage(question.user)];
  let lastProblem = '';
  for (let round = 0; round < 2; round++) {
    let rawText: string;
    try {
      const result = (await structured.invoke(messages, { signal: AbortSignal.timeout(settings.timeoutMs + 1000) })) as {
        raw: unknown;
        parsed: unknown;
      };
      // LangChain's own parser is lenient (it completes partial JSON); we parse the raw text strictly instead, so a
      // truncated answer is reported as invalid rather than silently shortened.
      rawText = messageText(result.raw);
    } catch (err) {
      // With response_format json_schema the OpenAI SDK parses the content itself and throws a SyntaxError on
      // malformed JSON: that is a bad answer (worth the repair round), not a failed request.
      if ((err as Error)?.name === 'SyntaxError') {
        lastProblem = `the answer is not valid JSON (${shortError(err)})`;
        messages.push(
          new AIMessage('(previous answer omitted: it was not valid JSON)'),
          new HumanMessage(`Your previous answer was rejected because ${lastProblem}\nReply again with only the corrected JSON object.`),
        );
        continue;
      }
      return { ok: false, reason: redactSecrets(`LLM request failed${round ? ' during the repair round' : ''}: ${shortError(err)}`, settings) };
    }
    let problem: string;
    try {
      const candidate = extractJson(rawText);
      const checked = question.schema.safeParse(candidate);
      if (checked.success) return { ok: true, value: checked.data, repaired: round > 0 };
      problem = `the JSON does not match the schema:\n${describeIssues(checked.error)}`;
    } catch (err) {
      problem = `the answer is not valid JSON (${shortError(err)})`;
    }
    lastProblem = problem;
    messages.push(
      new AIMessage(rawText.slice(0, 8000)),
      new HumanMessage(`Your previous answer was rejected because ${problem}\nReply again with only the corrected JSON object.`),
    );
  }
  return {
    ok: false,
    reason: redactSecrets(`LLM answer invalid after one repair attempt: ${lastProblem.replace(/\n/g, ' ').slice(0, 400)}`, settings),
  };
}
