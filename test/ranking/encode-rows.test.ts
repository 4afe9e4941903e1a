import { strict as assert } from 'node:assert';
import { ModelConfig } from '../../contracts';
import { emptyBlock } from '../../ranking/data/rows';
import { buildFeatureSpec, denseBucket, encodeRows, quantileBucket, slotTablesOf, transformDense } from '../../ranking/features';
import { hashFieldValue } from '../../ranking/hash';
import { SeededRandom } from '../../ranking/rng';

/**
 * encodeRows against the encoding written out row by row from its definition (features.ts): a categorical slot's
 * hash or its field's missing token, a bucketed dense field's log or quantile bucket token, a numeric field's
 * transform; each token masked into its slot's region. The encoder's fast paths (small integers looked up, slots
 * written row by row) must give exactly these table rows, whatever the values: missing, −0, negatives, fractions,
 * large counts.
 */
describe('encodeRows', () => {
  it('gives the table rows of the encoding’s definition, value by value', () => {
    const rng = new SeededRandom(3);
    const rows = 9000; // more than two tiles
    const block = emptyBlock(rows, { dense: 13, categorical: 26 });
    const denseValue = () => {
      const u = rng.next();
      if (u < 0.15) return NaN;
      if (u < 0.2) return -0;
      if (u < 0.6) return Math.floor(rng.next() * 40);
      if (u < 0.7) return Math.floor(rng.next() * 5000);
      if (u < 0.8) return -Math.floor(rng.next() * 30);
      if (u < 0.9) return rng.next() * 100;
      return 1023 + Math.floor(rng.next() * 3);
    };
    for (let i = 0; i < block.dense.length; i++) block.dense[i] = denseValue();
    for (let i = 0; i < block.categorical.length; i++) block.categorical[i] = rng.next() < 0.2 ? 0 : (rng.next() * 2 ** 32) >>> 0 || 1;
    const active = { categorical: [...Array(26).keys()], dense: [...Array(13).keys()] };
    const models = [
      ModelConfig.parse({ family: 'lr', hashBits: 12 }),
      ModelConfig.parse({
        family: 'lr',
        hashBits: 14,
        denseTransform: 'bucketize',
        hashSpace: 'per-field',
        fields: {
          I2: { transform: 'quantile', buckets: 7 },
          I3: { transform: 'log' },
          I4: { transform: 'standardize' },
          I5: { transform: 'none' },
          C3: { drop: true },
        },
      }),
    ];
    for (const model of models) {
      const spec = buildFeatureSpec(model, block, active);
      const encoded = encodeRows(block, spec);
      const tables = slotTablesOf(spec);
      const { catSlots, denseSlots } = encoded;
      const quantile = new Map(spec.denseFields.map((f, j) => [f, spec.quantileBoundaries![j]]));
      const transforms = new Map(spec.denseFields.map((f, j) => [f, spec.denseTransforms![j]]));
      // The slots in order: kept categorical fields, then bucketed dense fields (no crosses here).
      const bucketed = spec.denseFields.filter((f) => transforms.get(f) === 'quantile' || transforms.get(f) === 'bucketize');
      const numeric = spec.denseFields.filter((f) => !bucketed.includes(f));
      assert.equal(catSlots, spec.categoricalFields.length + bucketed.length);
      assert.equal(denseSlots, numeric.length);
      const rowOf = (s: number, token: number) => tables[s].offset + (token & (2 ** tables[s].bits - 1));
      for (let r = 0; r < rows; r++) {
        spec.categoricalFields.forEach((c, s) => {
          const h = block.categorical[r * 26 + c];
          const token = h === 0 ? hashFieldValue(13 + c, '\u0000missing') : h;
          assert.equal(encoded.catIndex[r * catSlots + s], rowOf(s, token), `row ${r}, C${c + 1}`);
        });
        bucketed.forEach((f, k) => {
          const s = spec.categoricalFields.length + k;
          const x = block.dense[r * 13 + f];
          const q = transforms.get(f) === 'quantile' ? quantile.get(f)! : null;
          const token = Number.isNaN(x)
            ? hashFieldValue(f, '\u0000missing')
            : q
              ? hashFieldValue(f, `\u0000q${quantileBucket(q, x)}`)
              : hashFieldValue(f, `\u0000b${denseBucket(x)}`);
          assert.equal(encoded.catIndex[r * catSlots + s], rowOf(s, token), `row ${r}, I${f + 1} = ${x}`);
        });
        numeric.forEach((f, j) => {
          const at = spec.denseFields.indexOf(f);
          const x = block.dense[r * 13 + f];
          const expected = Math.fround(transformDense(transforms.get(f)!, spec.denseMean[at], spec.denseStd[at], x));
          assert.ok(Object.is(encoded.denseValue[r * denseSlots + j], expected), `row ${r}, I${f + 1} = ${x}`);
        });
      }
    }
  });
});
