import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DeclaredData } from '../contracts';
import { assertSafePath, readCriteoChunks } from './data/criteo-reader';
import { readDeclaredChunks } from './data/declared-reader';
import type { RowBlock } from './data/rows';
import { TrainingFailure } from './failure';
import { applyCalibrator } from './calibration';
import { encodeRows, type EncodedRows } from './features';
import { selectGpuBackendAsync, sharedKernels } from './kernels';
import { loadModelArtifact, type ModelArtifactHeader } from './model-artifact';
import { createModel } from './models/create-model';
import { throwIfAborted } from './trainer';

/** A stored model ready to score: weights loaded, and its calibrator applied to every prediction. */
export interface ArtifactScorer {
  header: ModelArtifactHeader;
  /** Calibrated click probabilities of all rows (encode them with header.featureSpec). */
  score(rows: EncodedRows): Promise<Float64Array>;
  /**
   * The model's own probabilities, before the artifact's calibrator (and its downsampling correction): what a
   * calibrator is fitted to, for re-fitting it out of sample (paired-comparison.ts). Never what the model serves.
   */
  scoreRaw(rows: EncodedRows): Promise<Float64Array>;
}

/**
 * Loads a model artifact for scoring. Every path that scores with a stored model goes through here, so what it
 * reports is what `rankwright score` writes: the model's probabilities after the artifact's calibrator (the
 * negative-downsampling correction, then Platt / isotonic; nothing for artifacts that predate calibration).
 */
export async function loadArtifactScorer(artifact: string): Promise<ArtifactScorer> {
  const { header, tensors } = await loadModelArtifact(artifact);
  await selectGpuBackendAsync();
  const model = createModel(header.config, header.featureSpec, sharedKernels());
  model.loadWeights(tensors);
  const scoreRaw = async (rows: EncodedRows) => {
    const scores = new Float64Array(rows.rows);
    await model.predict(rows, 0, rows.rows, scores);
    return scores;
  };
  return {
    header,
    scoreRaw,
    async score(rows) {
      return applyCalibrator(header.calibrator, await scoreRaw(rows));
    },
  };
}

/**
 * Scores a file with a model artifact: one calibrated probability per input row, in input order, streamed chunk by
 * chunk (constant memory). A model trained on a declared table reads the file by the column names of its own schema
 * (CSV, TSV or Parquet by extension: label, weight and time columns are not needed, extra columns are ignored, a
 * missing feature column fails naming it); any other model reads a Criteo TSV (40 columns, or 39 without a label).
 * A malformed row fails the whole job (bad-data, with file and line), since skipping it would misalign the output;
 * the output appears atomically (tmp + rename).
 */
export async function scoreFile(
  artifact: string,
  inputPath: string,
  outPath: string,
  opts: { signal?: AbortSignal } = {},
): Promise<{ rows: number }> {
  assertSafePath(inputPath, 'input');
  assertSafePath(outPath, 'output');
  const { header, score } = await loadArtifactScorer(artifact);
  const tmp = path.join(path.dirname(outPath), `.${path.basename(outPath)}.tmp-${randomBytes(6).toString('hex')}`);
  const out = fs.createWriteStream(tmp, { encoding: 'utf8' });
  let rows = 0;
  try {
    const write = async (block: RowBlock) => {
      const scores = await score(encodeRows(block, header.featureSpec));
      let text = '';
      for (let r = 0; r < block.rows; r++) text += `${scores[r].toPrecision(7)}\n`;
      if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      rows += block.rows;
      throwIfAborted(opts.signal);
    };
    if (header.schema) {
      const config = DeclaredData.parse({ format: tableFormat(inputPath), train: inputPath, test: inputPath, schema: header.schema, strict: true });
      await readDeclaredChunks(inputPath, config, ({ block }) => write(block), { featuresOnly: true, chunkRows: 16_384 });
    } else {
      for await (const { block } of readCriteoChunks(inputPath, { allowMissingLabel: true, maxBadRowFraction: 0, chunkRows: 16_384 }))
        await write(block);
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

/** A declared table's format from its file name: .csv, .tsv (or .tab, .txt) and .parquet. */
function tableFormat(file: string): 'csv' | 'tsv' | 'parquet' {
  // A compressed text file (.csv.gz) is not read: its extension says so rather than its bytes failing as bad rows.
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab' || ext === '.txt') return 'tsv';
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  throw new TrainingFailure(
    'bad-data',
    `${file}: this model was trained on a declared table and reads CSV, TSV or Parquet by the file's extension (.csv, .tsv, .parquet); got ${JSON.stringify(ext || 'no extension')}`,
  );
}
