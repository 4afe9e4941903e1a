import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { assertSafePath, readCriteoChunks } from './data/criteo-reader';
import { encodeRows } from './features';
import { selectGpuBackendAsync, sharedKernels } from './kernels';
import { loadModelArtifact } from './model-artifact';
import { createModel } from './models/create-model';
import { throwIfAborted } from './trainer';

/**
 * Scores a Criteo TSV (40 columns, or 39 without a label) with a model artifact: one probability per input row,
 * in input order, streamed chunk by chunk (constant memory). A malformed row fails the whole job (bad-data, with
 * file and line), since skipping it would misalign the output; the output appears atomically (tmp + rename).
 */
export async function scoreFile(artifact: string, inputPath: string, outPath: string, opts: { signal?: AbortSignal } = {}): Promise<{ rows: number }> {
  assertSafePath(inputPath, 'input');
  assertSafePath(outPath, 'output');
  const { header, tensors } = await loadModelArtifact(artifact);
  await selectGpuBackendAsync();
  const model = createModel(header.config, header.featureSpec, sharedKernels());
  model.loadWeights(tensors);
  const tmp = path.join(path.dirname(outPath), `.${path.basename(outPath)}.tmp-${randomBytes(6).toString('hex')}`);
  const out = fs.createWriteStream(tmp, { encoding: 'utf8' });
  let rows = 0;
  try {
    for await (const { block } of readCriteoChunks(inputPath, { allowMissingLabel: true, maxBadRowFraction: 0, chunkRows: 16_384 })) {
      const encoded = encodeRows(block, header.featureSpec);
      const scores = new Float64Array(block.rows);
      await model.predict(encoded, 0, block.rows, scores);
      let text = '';
      for (let r = 0; r < block.rows; r++) text += `${scores[r].toPrecision(7)}\n`;
      if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      rows += block.rows;
      throwIfAborted(opts.signal);
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await fs.promises.rename(tmp, outPath);
  } catch (e) {
    out.destroy();
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  return { rows };
}
