import type { RowBlock } from './data/rows';
import { encodeRows } from './features';
import { selectGpuBackendAsync, sharedKernels } from './kernels';
import { pairedNormalizedEntropyStdErr } from './metrics';
import { loadModelArtifact } from './model-artifact';
import { createModel } from './models/create-model';

/** Scores a block of rows with a stored model (its own feature spec: crosses, hashing, dense transform). */
export async function scoreBlockWith(artifact: string, block: RowBlock): Promise<Float64Array> {
  const { header, tensors } = await loadModelArtifact(artifact);
  await selectGpuBackendAsync();
  const model = createModel(header.config, header.featureSpec, sharedKernels());
  model.loadWeights(tensors);
  const scores = new Float64Array(block.rows);
  await model.predict(encodeRows(block, header.featureSpec), 0, block.rows, scores);
  return scores;
}

/**
 * The paired standard error of a candidate's NE change against the baseline model on the same test rows: the
 * baseline is re-scored here (cheap next to training), so significance checks compare like with like.
 */
export async function pairedStdErrAgainst(baselineArtifact: string, test: RowBlock, candidateScores: Float64Array): Promise<number> {
  const baselineScores = await scoreBlockWith(baselineArtifact, test);
  return pairedNormalizedEntropyStdErr(candidateScores, baselineScores, test.labels);
}
