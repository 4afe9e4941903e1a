import { strict as assert } from 'node:assert';
import { CampaignInput } from '../../contracts/campaign';
import { DataConfig } from '../../contracts/data';
import { ExperimentInput } from '../../contracts/experiment';
import { engineModel, fieldLabels, fieldTable, labelFields, modelFieldProblems, segmentSlot } from '../../contracts/field-names';
import { ModelConfig } from '../../contracts/model';
import { TrainConfigFile } from '../../client/commands/train';

/**
 * A declared schema's column names where a person reads or writes a field (contracts/field-names.ts): model configs
 * written with column names are checked against the schema and reach the engine as slots; text with slots reads as
 * columns. Criteo and planted data keep their slot names and messages. No file is read: only configs are parsed.
 */
export const declared = DataConfig.parse({
  format: 'csv',
  train: 'train.csv',
  test: 'test.csv',
  schema: {
    columns: {
      click: 'label',
      user_country: 'categorical',
      ad_category: 'categorical',
      price: 'dense',
      position: 'dense',
      interests: { role: 'multiCategorical', maxValues: 3 },
      seen_at: 'timestamp',
    },
  },
});
// Columns sorted by name: dense position I1, price I2; categorical ad_category C1, interests C2..C4, user_country C5.
const planted = DataConfig.parse({ planted: {} });

function issues(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): string[] {
  assert.equal(result.success, false, 'expected the config to be refused');
  return result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('field names of a declared schema', () => {
  it('labels slots with column names, a multi-valued column by value, and nothing for Criteo or planted data', () => {
    assert.deepEqual(fieldLabels(declared), {
      I1: 'position',
      I2: 'price',
      C1: 'ad_category',
      C2: 'interests[1]',
      C3: 'interests[2]',
      C4: 'interests[3]',
      C5: 'user_country',
    });
    assert.deepEqual(
      fieldTable(declared).map((f) => `${f.slot}=${f.column}:${f.role}`),
      [
        'I1=position:dense',
        'I2=price:dense',
        'C1=ad_category:categorical',
        'C2=interests:multiCategorical',
        'C3=interests:multiCategorical',
        'C4=interests:multiCategorical',
        'C5=user_country:categorical',
      ],
    );
    assert.deepEqual(fieldLabels(planted), {});
    assert.deepEqual(fieldLabels(DataConfig.parse({ format: 'criteo-tsv', train: 'a', test: 'b' })), {});
  });

  it('replaces whole-word slot names in text, leaves unlabelled and partial matches alone', () => {
    const labels = fieldLabels(declared);
    assert.equal(
      labelFields('Cross C5 × C1 (C5xC1 key), C3 and I2; C9 and C12 are empty', labels),
      'Cross user_country × ad_category (C5xC1 key), interests[2] and price; C9 and C12 are empty',
    );
    assert.equal(labelFields('Cross C5×C1', labels), 'Cross user_country×ad_category');
    assert.equal(labelFields('Cross C5 × C1', {}), 'Cross C5 × C1', 'Criteo: unchanged');
  });

  it('turns a config written with column names into slots; a multi-valued column’s knobs go to each of its slots', () => {
    const model = ModelConfig.parse({
      family: 'lr',
      crosses: [
        ['user_country', 'ad_category'],
        ['interests[2]', 'price', 'C1'],
      ],
      fields: { interests: { hashBits: 12 }, price: { transform: 'log' }, C5: { hashBits: 'auto' }, 'interests[3]': { drop: true } },
    });
    assert.deepEqual(modelFieldProblems(model, declared), []);
    const engine = engineModel(model, declared);
    assert.deepEqual(engine.crosses, [
      ['C5', 'C1'],
      ['C3', 'I2', 'C1'],
    ]);
    assert.deepEqual(engine.fields, {
      C2: { hashBits: 12 },
      C3: { hashBits: 12 },
      C4: { hashBits: 12, drop: true },
      I2: { transform: 'log' },
      C5: { hashBits: 'auto' },
    });
    assert.ok(ModelConfig.safeParse(engine).success, 'the translated config is a valid slot config');
    assert.deepEqual(engineModel(engine, declared), engine, 'slot names stay slots (the agent writes them)');
    assert.deepEqual(engineModel(model, planted), model, 'Criteo/planted configs come back as they are');
    assert.deepEqual(segmentSlot('user_country', declared), { slot: 'C5' });
    assert.deepEqual(segmentSlot('interests[1]', declared), { slot: 'C2' });
    assert.deepEqual(segmentSlot('C7', planted), { slot: 'C7' });
  });

  it('refuses unknown names, a multi-valued column in a cross and knobs that do not fit a column, naming the column', () => {
    const model = ModelConfig.parse({
      family: 'lr',
      denseTransform: 'log',
      crosses: [
        ['interests', 'ad_category'],
        ['country', 'price'],
        ['C5', 'user_country'],
        ['seen_at', 'C1'],
      ],
      fields: { user_country: { transform: 'log' }, ad_category: { buckets: 8 }, price: { hashBits: 12, buckets: 8 }, seen_at: {} },
    });
    const messages = modelFieldProblems(model, declared).map((p) => `${p.path.join('.')}: ${p.message}`);
    const expect = [
      /^fields\.user_country\.transform: user_country is categorical: transform applies to dense columns only$/,
      /^fields\.ad_category\.buckets: ad_category is categorical: buckets applies to dense columns only$/,
      /^fields\.price\.hashBits: price is dense: hashBits applies to categorical columns only/,
      /^fields\.price\.buckets: price: buckets applies to the quantile transform, and price's transform is log$/,
      /^fields\.seen_at: seen_at is a timestamp column, not a model field \(the schema's fields are ad_category, interests, position, price, user_country\)$/,
      /^crosses\.0\.0: interests is multi-valued \(3 values a row\): a cross takes one value of each field, so name one of its values \(interests\[1\], interests\[2\], interests\[3\]\)/,
      /^crosses\.1\.0: unknown field "country" \(the schema's fields are ad_category, interests, position, price, user_country\)$/,
      /^crosses\.2: cross C5×user_country names one field twice \(C5×C5\)/,
      /^crosses\.3\.0: seen_at is a timestamp column/,
    ];
    for (const re of expect)
      assert.ok(
        messages.some((m) => re.test(m)),
        `${re} in\n${messages.join('\n')}`,
      );
    assert.equal(messages.length, expect.length, messages.join('\n'));
    assert.match(
      modelFieldProblems(ModelConfig.parse({ family: 'lr', fields: { C3: { drop: true } }, crosses: [['interests[2]', 'C1']] }), declared)[0].message,
      /cross interests\[2\]×C1 uses interests\[2\], which is dropped/,
    );
    assert.match((segmentSlot('interests', declared) as { problem: string }).problem, /interests is multi-valued: segments are by one field value/);
  });

  it('checks and translates where a model meets its data: experiment, campaign and train inputs', () => {
    const exp = ExperimentInput.parse({
      experimentId: 'e1',
      data: declared,
      model: { family: 'fm', crosses: [['user_country', 'ad_category']], fields: { interests: { hashBits: 'auto' } } },
      segmentField: 'user_country',
    });
    assert.deepEqual(exp.model.crosses, [['C5', 'C1']]);
    assert.deepEqual(Object.keys(exp.model.fields ?? {}), ['C2', 'C3', 'C4']);
    assert.equal(exp.segmentField, 'C5');
    assert.equal(
      ExperimentInput.parse({ experimentId: 'e2', data: declared, model: { family: 'lr' } }).segmentField,
      'C1',
      'the default stays a slot',
    );
    assert.deepEqual(ExperimentInput.parse(exp).model, exp.model, 'a parsed input parses to itself (workflows re-parse what a campaign sends)');

    const campaign = CampaignInput.parse({
      data: declared,
      baseline: { family: 'lr', crosses: [['interests[1]', 'price']] },
      approvers: ['ann'],
      segmentField: 'ad_category',
    });
    assert.deepEqual(campaign.baseline.crosses, [['C2', 'I2']]);
    assert.equal(campaign.segmentField, 'C1');
    assert.deepEqual(
      issues(
        CampaignInput.safeParse({
          data: declared,
          baseline: { family: 'lr', crosses: [['interests', 'price']] },
          approvers: ['ann'],
          segmentField: 'nope',
        }),
      ).map((m) => m.split(':')[0]),
      ['baseline.crosses.0.0', 'segmentField'],
    );

    const train = TrainConfigFile.parse({
      data: declared,
      model: { family: 'lr', fields: { price: { transform: 'standardize' } } },
      segmentField: 'interests[3]',
    });
    assert.deepEqual(train.model.fields, { I2: { transform: 'standardize' } });
    assert.equal(train.segmentField, 'C4');
    assert.match(
      issues(TrainConfigFile.safeParse({ data: declared, model: { family: 'lr', fields: { colour: {} } } })).join('\n'),
      /model\.fields\.colour: unknown field "colour" \(the schema's fields are/,
    );
  });

  it('keeps Criteo and planted data as they were: slot names, the same messages', () => {
    const exp = ExperimentInput.parse({
      experimentId: 'e1',
      data: planted,
      model: { family: 'lr', crosses: [['C1', 'C2']], fields: { I1: { transform: 'log' } } },
      segmentField: 'C3',
    });
    assert.deepEqual(exp.model.crosses, [['C1', 'C2']]);
    assert.equal(exp.segmentField, 'C3');
    const refused = issues(
      ExperimentInput.safeParse({
        experimentId: 'e1',
        data: planted,
        model: {
          family: 'lr',
          crosses: [
            ['C1', 'user_country'],
            ['C1', 'C99'],
          ],
          fields: { C99: {}, foo: {}, C3: { transform: 'log' }, I2: { hashBits: 12 } },
        },
        segmentField: 'user_country',
      }),
    );
    for (const expected of [
      'model.fields.C99: unknown field "C99" (fields are I1..I13 and C1..C26)',
      'model.fields.C3.transform: C3 is categorical: transform applies to dense fields (I1..) only',
      'model.fields.I2.hashBits: I2 is dense: hashBits applies to categorical fields (C1..) only (a bucketed dense field is sized by hashSpace)',
      'model.crosses.1.1: unknown field "C99" (fields are I1..I13 and C1..C26)',
    ])
      assert.ok(refused.includes(expected), `${expected} in\n${refused.join('\n')}`);
    // Column names mean nothing without a schema: the data-aware check names Criteo's fields.
    const withNames = issues(
      ExperimentInput.safeParse({
        experimentId: 'e1',
        data: planted,
        model: { family: 'lr', crosses: [['C1', 'user_country']], fields: { foo: {} } },
        segmentField: 'user_country',
      }),
    );
    assert.deepEqual(withNames, [
      'model.fields.foo: unknown field "foo" (fields are I1..I13 and C1..C26)',
      'model.crosses.0.1: unknown field "user_country" (fields are I1..I13 and C1..C26)',
      'segmentField: unknown field "user_country" (fields are I1..I13 and C1..C26)',
    ]);
  });
});
