import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig } from '../../contracts/data';
import { fieldLabels, fieldTable } from '../../contracts/field-names';
import { designExperiments } from '../../activities/agents';
import { designHypotheses, designPrompt } from '../../agents/hypothesis-designer';
import { makeLlmSettings, type LlmSettings } from '../../agents/llm';
import { startOpenAiServer, type OpenAiTestServer } from '../support/openai-server';
import { designRequest } from './fixtures';

/**
 * The designers on a declared schema: what they propose is designed on slots, and every text a person reads (the
 * hypotheses, the notes) says the columns' names. The LLM designer reads a field table and may answer in column names.
 * No data is read: the design activity needs only the data config.
 */
const declared = DataConfig.parse({
  format: 'csv',
  train: 'train.csv',
  test: 'test.csv',
  schema: {
    columns: {
      click: 'label',
      ad_category: 'categorical',
      device: 'categorical',
      hour_bucket: 'categorical',
      interests: { role: 'multiCategorical', maxValues: 2 },
      publisher: 'categorical',
      site: 'categorical',
      user_country: 'categorical',
      position: 'dense',
      price: 'dense',
    },
  },
});
// Slots: ad_category C1, device C2, hour_bucket C3, interests C4 C5, publisher C6, site C7, user_country C8 (the
// fixture's planted signal: C1×C2 and C3×C4 interact); position I1, price I2.
const labels = fieldLabels(declared);
const SLOT = /\b[IC]\d{1,2}\b/g;

function rawSlots(text: string): string[] {
  return (text.match(SLOT) ?? []).filter((slot) => labels[slot]);
}

describe('designers on a declared schema', () => {
  const savedHome = process.env.RANKWRIGHT_HOME;
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-declared-design-'));
    process.env.RANKWRIGHT_HOME = home;
  });
  afterEach(() => {
    process.env.RANKWRIGHT_HOME = savedHome;
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('heuristic: hypotheses name the columns, never a labelled slot; configs stay on slots', async () => {
    const response = await designExperiments(designRequest({ count: 4 }), { mode: 'heuristic', strategy: 'agent', data: declared });
    assert.equal(response.source, 'heuristic');
    assert.ok(response.proposals.length > 0);
    for (const { hypothesis } of response.proposals)
      for (const text of [hypothesis.title, hypothesis.rationale, hypothesis.expectedEffect])
        assert.deepEqual(rawSlots(text), [], `no raw slot in "${text}"`);
    const crossing = response.proposals.find((p) => p.model.crosses.some((c) => c.join() === 'C1,C2'));
    assert.ok(crossing, `the planted C1×C2 cross is proposed: ${response.proposals.map((p) => p.hypothesis.title).join(' | ')}`);
    const text = `${crossing.hypothesis.title} ${crossing.hypothesis.rationale}`;
    assert.match(text, /ad_category/);
    assert.match(text, /device/);
    for (const p of response.proposals) for (const f of p.model.crosses.flat()) assert.match(f, /^[IC]\d+$/, 'configs keep slot names');
  });

  it('random search: hypotheses name the columns too', async () => {
    const response = await designExperiments(designRequest({ count: 3 }), { mode: 'heuristic', strategy: 'random', data: declared });
    for (const { hypothesis } of response.proposals)
      assert.deepEqual(rawSlots(`${hypothesis.title} ${hypothesis.rationale} ${hypothesis.expectedEffect}`), []);
  });

  it('Criteo/planted data: the same proposals as before, slot names and all', async () => {
    const planted = DataConfig.parse({ planted: {} });
    const response = await designExperiments(designRequest({ count: 4 }), { mode: 'heuristic', strategy: 'agent', data: planted });
    assert.ok(response.proposals.some((p) => /C1/.test(p.hypothesis.title + p.hypothesis.rationale)));
  });

  describe('LLM designer', () => {
    const API_KEY = 'sk-rankwright-test-declared-0123456789';
    let server: OpenAiTestServer;
    let llm: LlmSettings;
    before(async () => {
      server = await startOpenAiServer();
      llm = makeLlmSettings({ baseURL: server.baseURL, apiKey: API_KEY, model: 'test-model', timeoutMs: 400, structuredOutput: 'jsonSchema' });
    });
    after(async () => server.close());

    it('reads a field table, answers in column names (turned into slots), and an unknown name is dropped and said', async () => {
      const fields = fieldTable(declared);
      const prompt = designPrompt(designRequest({ count: 2, fields }));
      assert.match(prompt.system, /column name/);
      assert.match(prompt.user, /"slot":\s*"C8",\s*"name":\s*"user_country",\s*"role":\s*"categorical"/);
      // A list is one field by its column name (pooled in fm and dcn), with the names of its values for a cross.
      assert.match(
        prompt.user,
        /"slot":\s*"C4\.\.C5",\s*"name":\s*"interests",\s*"role":\s*"list of up to 2 values, one pooled field \(cross one value: interests\[1\], interests\[2\]\)"/,
      );
      assert.doesNotMatch(prompt.user, /"name":\s*"interests\[2\]"/, 'not one field per value');
      assert.match(prompt.system, /A list \(multi-valued\) column is one field/);
      server.script([
        {
          content: JSON.stringify({
            proposals: [
              {
                title: 'Cross user_country with ad_category',
                technique: 'feature-cross',
                rationale: 'Countries like different categories.',
                expectedEffect: 'NE -1%',
                parents: [],
                model: {
                  family: 'lr',
                  crosses: [
                    ['user_country', 'ad_category'],
                    ['interests[1]', 'site'],
                    ['colour', 'device'],
                  ],
                },
              },
              {
                title: 'Cross all interests with device',
                technique: 'feature-cross',
                rationale: 'Bags of interests.',
                expectedEffect: 'NE -0.5%',
                parents: [],
                model: { family: 'lr', crosses: [['interests', 'device']], hashBits: 20 },
              },
            ],
          }),
        },
      ]);
      const res = await designHypotheses(designRequest({ count: 2, fields }), llm);
      assert.equal(res.source, 'llm');
      assert.deepEqual(res.proposals[0].model.crosses, [
        ['C8', 'C1'],
        ['C4', 'C7'],
      ]);
      assert.deepEqual(res.proposals[1].model.crosses, [], 'a multi-valued column has no single slot to cross');
      const notes = (res.llmNotes ?? []).join('\n');
      assert.match(notes, /crosses dropped: colour×C2/);
      assert.match(notes, /crosses dropped: interests×C2/);
      // The grammar lets the model write the column names (and slots).
      const wire = JSON.stringify(server.requests.at(-1)!.body.response_format);
      assert.match(wire, /"user_country"/);
      assert.match(wire, /"interests\[1\]"/);
    });

    it('the design activity labels the hypotheses and the notes with column names', async () => {
      const saved = { ...process.env };
      Object.assign(process.env, {
        OPENAI_BASE_URL: server.baseURL,
        OPENAI_API_KEY: API_KEY,
        RANKWRIGHT_LLM_TIMEOUT_MS: '400',
        RANKWRIGHT_LLM_STRUCTURED_OUTPUT: 'jsonSchema',
      });
      server.script([
        {
          content: JSON.stringify({
            proposals: [
              {
                title: 'Cross C8 with C1',
                technique: 'feature-cross',
                rationale: 'C8 and C1 interact.',
                expectedEffect: 'NE -1% from C8×C1',
                parents: [],
                model: {
                  family: 'lr',
                  crosses: [
                    ['C8', 'C1'],
                    ['colour', 'C2'],
                  ],
                },
              },
            ],
          }),
        },
      ]);
      try {
        const res = await designExperiments(designRequest({ count: 1 }), { mode: 'llm', strategy: 'agent', data: declared });
        assert.equal(res.source, 'llm');
        const [h] = res.proposals.map((p) => p.hypothesis);
        assert.equal(h.title, 'Cross user_country with ad_category');
        assert.equal(h.expectedEffect, 'NE -1% from user_country×ad_category');
        assert.deepEqual(res.proposals[0].model.crosses, [['C8', 'C1']]);
        assert.match((res.llmNotes ?? []).join('\n'), /crosses dropped: colour×device/);
      } finally {
        for (const key of ['OPENAI_BASE_URL', 'OPENAI_API_KEY', 'RANKWRIGHT_LLM_TIMEOUT_MS', 'RANKWRIGHT_LLM_STRUCTURED_OUTPUT'])
          if (saved[key] === undefined) delete process.env[key];
          else process.env[key] = saved[key];
      }
    });
  });
});
