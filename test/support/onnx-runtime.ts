import { strict as assert } from 'node:assert';
import * as ort from 'onnxruntime-node';
import type { EncodedRows } from '../../ranking/features';

/** An exported graph's click probabilities for encoded rows, through ONNX Runtime (what a serving team runs). */
export async function onnxScores(onnxPath: string, encoded: EncodedRows): Promise<Float64Array> {
  const session = await ort.InferenceSession.create(onnxPath);
  const feeds: Record<string, ort.Tensor> = {};
  if (session.inputNames.includes('cat_index')) {
    feeds.cat_index = new ort.Tensor(
      'int64',
      BigInt64Array.from(encoded.catIndex, (v) => BigInt(v)),
      [encoded.rows, encoded.catSlots],
    );
  }
  if (session.inputNames.includes('dense_value')) {
    feeds.dense_value = new ort.Tensor('float32', encoded.denseValue, [encoded.rows, encoded.denseSlots]);
  }
  const out = await session.run(feeds);
  await session.release();
  const t = out.click_probability;
  assert.equal(t.type, 'float64');
  assert.deepEqual(t.dims, [encoded.rows]);
  return Float64Array.from(t.data as Float64Array);
}
