import { strict as assert } from 'node:assert';
import { ApplicationFailure } from '@temporalio/common';
import { DesignResponse } from '../../contracts/agents';
import { designHypotheses, designPrompt } from '../../agents/hypothesis-designer';
import { interpretFailure } from '../../agents/failure-interpreter';
import { detectedStructuredOutput, estimateTokens, forgetDetectedStructuredOutput, llmSettingsFromEnv, makeLlmSettings } from '../../agents/llm';
import { LLM_NOT_CONFIGURED, llmFor } from '../../activities/agents';
import { toGrammarSchema } from '../../client/local-llm-server';
import { startOpenAiServer, type OpenAiTestServer } from '../support/openai-server';
import { designRequest, progress, run, triageRequest } from './fixtures';

/**
 * What Rankwright does with what an endpoint can and cannot do, against the scripted OpenAI-protocol server (fast,
 * no model): structured-output detection and its memory, the prompt budget, reporting of clamped and unknown keys,
 * and `agents: "llm"` without an endpoint. test/agents/local-llm.test.ts runs the same paths against a real model.
 */

const triageAnswer = JSON.stringify({
  failureClass: 'diverged',
  diagnosis: 'Loss went to NaN at step 400.',
  fix: 'Lower learningRate from 2 to 0.5.',
});
const diverging = () => triageRequest('diverged', 'loss became NaN', progress([0.45, 0.9, 3.7, NaN]));

describe('LLM endpoint capabilities', function () {
  this.timeout(20_000);
  let server: OpenAiTestServer;

  before(async () => {
    server = await startOpenAiServer();
  });
  beforeEach(() => forgetDetectedStructuredOutput());
  after(async () => server.close());

  const auto = (model = 'local-model') => makeLlmSettings({ baseURL: server.baseURL, model, timeoutMs: 2000, structuredOutput: 'auto' });

  describe('structured-output detection', () => {
    it('defaults to auto; RANKWRIGHT_LLM_STRUCTURED_OUTPUT fixes a method, RANKWRIGHT_LLM_PROMPT_TOKENS sets the budget', () => {
      const base = { OPENAI_BASE_URL: 'http://localhost:8000/v1' };
      assert.equal(llmSettingsFromEnv(base)!.structuredOutput, 'auto');
      for (const method of ['jsonSchema', 'jsonObject', 'jsonMode', 'prompt'])
        assert.equal(llmSettingsFromEnv({ ...base, RANKWRIGHT_LLM_STRUCTURED_OUTPUT: method })!.structuredOutput, method);
      const tuned = llmSettingsFromEnv({ ...base, RANKWRIGHT_LLM_PROMPT_TOKENS: '1500', RANKWRIGHT_LLM_MAX_TOKENS: '700' })!;
      assert.equal(tuned.promptTokens, 1500);
      assert.equal(tuned.maxTokens, 700);
    });

    it('a server refusing json_schema (HTTP 500, like llama-cpp-python) gets json_object with the schema, remembered per endpoint+model', async () => {
      server.respond((body) =>
        body.response_format?.type === 'json_schema' ? { status: 500, content: 'json_schema not supported' } : { content: triageAnswer },
      );
      const first = await interpretFailure(diverging(), auto());
      assert.equal(first.source, 'llm', first.fallbackReason);
      assert.deepEqual(
        server.requests.map((r) => r.body.response_format?.type),
        ['json_schema', 'json_object'],
      );
      assert.equal(server.requests[1].body.response_format.schema.properties.failureClass.enum.length, 6, 'the schema travels with json_object');
      assert.equal(detectedStructuredOutput(auto()), 'jsonObject');

      server.respond((body) =>
        body.response_format?.type === 'json_schema' ? { status: 500, content: 'json_schema not supported' } : { content: triageAnswer },
      );
      const second = await interpretFailure(diverging(), auto());
      assert.equal(second.source, 'llm');
      assert.deepEqual(
        server.requests.map((r) => r.body.response_format?.type),
        ['json_object'],
        'json_schema is not tried again',
      );
      assert.equal(detectedStructuredOutput(auto('another-model')), undefined, 'another model on the same server detects afresh');
    });

    it('a server refusing every response_format gets the plain prompt; one refusing everything fails with every refusal named', async () => {
      server.respond((body) => (body.response_format ? { status: 400, content: 'response_format is not supported' } : { content: triageAnswer }));
      const res = await interpretFailure(diverging(), auto());
      assert.equal(res.source, 'llm', res.fallbackReason);
      assert.deepEqual(
        server.requests.map((r) => r.body.response_format?.type),
        ['json_schema', 'json_object', undefined],
      );
      assert.match(server.requests[2].body.messages[0].content, /matching this JSON schema/, 'the schema is in the prompt');
      assert.equal(detectedStructuredOutput(auto()), 'prompt');

      forgetDetectedStructuredOutput();
      server.respond(() => ({ status: 500, content: 'model crashed' }));
      const down = await interpretFailure(diverging(), auto());
      assert.equal(down.source, 'heuristic');
      assert.match(down.fallbackReason!, /refused json_schema .*500.*json_object with a schema .*500/);
      assert.equal(detectedStructuredOutput(auto()), undefined, 'nothing is remembered from a server that answered nothing');
    });

    it('the designer reports the detection in llmNotes', async () => {
      server.respond((body) =>
        body.response_format?.type === 'json_schema'
          ? { status: 500 }
          : {
              content: JSON.stringify({
                proposals: [{ title: 'FM', technique: 'family-fm', rationale: 'r', expectedEffect: 'e', parents: null, model: { family: 'fm' } }],
              }),
            },
      );
      const res = await designHypotheses(designRequest({ count: 1 }), auto());
      assert.equal(res.source, 'llm');
      assert.ok(
        res.llmNotes?.some((n) => /refused json_schema .*HTTP 500.*using json_object with a schema/.test(n)),
        JSON.stringify(res.llmNotes),
      );
    });

    it('a timeout is not a refusal: nothing is remembered and the reason names the timeout', async () => {
      server.respond(() => ({ content: triageAnswer, delayMs: 1500 }));
      const res = await interpretFailure(diverging(), makeLlmSettings({ ...auto(), timeoutMs: 200 }));
      assert.equal(res.source, 'heuristic');
      assert.match(res.fallbackReason!, /timed out/i);
      assert.equal(server.requests.length, 1);
      assert.equal(detectedStructuredOutput(auto()), undefined);
    });
  });

  describe('what happened to the answer is reported', () => {
    it('clamped values, keys of another family and unknown keys are named in llmNotes and the rationale', async () => {
      const answer = {
        proposals: [
          {
            title: 'Faster lr',
            technique: 'learning-rate',
            rationale: 'Step up.',
            expectedEffect: 'NE -1%',
            parents: ['base'],
            model: { family: 'lr', learningRate: 50, embeddingDim: 16, crosses: [['C1', 'C2']], dropout: 0.3, optimizer: 'adam', epochs: null },
          },
        ],
      };
      server.respond(() => ({ content: JSON.stringify(answer) }));
      const res = DesignResponse.parse(await designHypotheses(designRequest({ count: 1 }), auto()));
      assert.equal(res.source, 'llm');
      const notes = res.llmNotes!.join('\n');
      assert.match(notes, /"Faster lr": clamped into the search space: learningRate 50 → 1, embeddingDim 16 dropped \(lr has no embeddingDim\)/);
      assert.match(notes, /ignored unknown keys: dropout, optimizer/);
      assert.match(res.proposals[0].hypothesis.rationale, /^Step up\. \[clamped into the search space: learningRate 50 → 1/);
      assert.equal(res.proposals[0].model.learningRate, 1);
    });

    it('repeats and proposals beyond the count are reported', async () => {
      const proposal = (family: string, title: string) => ({ title, technique: 't', rationale: 'r', expectedEffect: 'e', model: { family } });
      server.respond(() => ({
        content: JSON.stringify({ proposals: [proposal('fm', 'again fm'), proposal('dcn', 'dcn'), proposal('lr', 'extra')] }),
      }));
      const res = await designHypotheses(designRequest({ count: 1, history: [run('v1', { family: 'fm' }, 0.79)] }), auto());
      assert.equal(res.source, 'llm');
      assert.equal(res.proposals[0].model.family, 'dcn');
      assert.ok(res.llmNotes!.includes('1 proposals beyond the 1 asked for were ignored'), JSON.stringify(res.llmNotes));
      assert.ok(res.llmNotes!.some((n) => /dropped 1 proposals repeating .*"again fm"/.test(n)));
    });
  });

  describe('prompt budget', () => {
    const bigRequest = () => {
      const history = Array.from({ length: 80 }, (_, i) =>
        run(`x${i}`, { family: i % 2 ? 'fm' : 'lr', learningRate: 0.01 + i / 1000, crosses: [['C1', 'C2']] }, 0.8 - i / 10_000, {
          hypothesis: {
            title: `hypothesis number ${i} with a long descriptive title`,
            technique: 'learning-rate',
            rationale: 'r',
            expectedEffect: 'e',
            parents: [],
          },
        }),
      );
      const insights = Array.from({ length: 40 }, (_, i) => ({
        experimentId: `old-${i}`,
        dataFingerprint: 'fp-other',
        similarity: 0.5,
        config: run('c', { family: 'lr', l2: i / 10 }, 0.8).config,
        outcome: 'lost' as const,
      }));
      return designRequest({ history, insights });
    };

    it('the designer context shrinks until its estimate fits the budget, and says what it left out', () => {
      const req = bigRequest();
      const full = designPrompt(req, 1_000_000);
      assert.equal(full.trimmed, undefined);
      for (const budget of [3000, 1500, 700]) {
        const prompt = designPrompt(req, budget);
        assert.ok(estimateTokens(prompt.user) <= budget, `${estimateTokens(prompt.user)} > ${budget}`);
        assert.match(prompt.trimmed!, new RegExp(`prompt trimmed to its ${budget}-token budget: history runs \\d+ of 80`));
      }
      // The best run survives trimming (the best third by NE stays, the rest are the most recent).
      assert.match(designPrompt(req, 1500).user, /"id":"x79"/);
    });

    it('the default budget is 3000 tokens; the designer reports the trim in llmNotes', async () => {
      server.respond(() => ({
        content: JSON.stringify({
          proposals: [{ title: 'FM', technique: 'family-fm', rationale: 'r', expectedEffect: 'e', model: { family: 'dcn' } }],
        }),
      }));
      const res = await designHypotheses(bigRequest(), makeLlmSettings({ ...auto(), promptTokens: 900 }));
      assert.ok(estimateTokens(server.requests[0].body.messages[1].content) <= 900);
      assert.match(res.llmNotes![0], /prompt trimmed to its 900-token budget/);
      assert.ok(estimateTokens(designPrompt(bigRequest()).user) <= 3000);
    });
  });

  describe('agents: "llm" without an endpoint', () => {
    it('fails non-retryably with a message naming OPENAI_BASE_URL and OPENAI_API_KEY; auto runs the heuristics', () => {
      assert.throws(
        () => llmFor('llm', {}),
        (err: unknown) => {
          assert.ok(err instanceof ApplicationFailure);
          assert.equal(err.type, LLM_NOT_CONFIGURED);
          assert.equal(err.nonRetryable, true);
          assert.match(err.message, /agents: "llm".*OPENAI_BASE_URL.*OPENAI_API_KEY/);
          return true;
        },
      );
      assert.equal(llmFor('auto', {}), null);
      assert.equal(llmFor('heuristic', { OPENAI_BASE_URL: 'http://x/v1' }), null);
      assert.equal(llmFor('llm', { OPENAI_BASE_URL: 'http://x/v1' })!.baseURL, 'http://x/v1');
    });
  });

  describe("the local server's schema mapping", () => {
    it('maps anyOf, optional keys and {} onto the grammar subset and refuses what it cannot enforce', () => {
      const mapped = toGrammarSchema({
        type: 'object',
        properties: { a: { anyOf: [{ type: 'string' }, { type: 'null' }] }, b: { type: 'number', minimum: 0 }, c: {} },
        required: ['a'],
      });
      assert.deepEqual((mapped.properties as Record<string, unknown>).a, { oneOf: [{ type: 'string' }, { type: 'null' }] });
      assert.deepEqual((mapped.properties as Record<string, unknown>).b, { oneOf: [{ type: 'number' }, { type: 'null' }] });
      assert.ok('oneOf' in ((mapped.properties as Record<string, Record<string, unknown>>).c ?? {}));
      assert.throws(() => toGrammarSchema({ type: 'string', pattern: '^a+$' }), /keyword "pattern"/);
      assert.throws(() => toGrammarSchema({ allOf: [{ type: 'string' }] }), /keyword "allOf"/);
    });
  });
});
