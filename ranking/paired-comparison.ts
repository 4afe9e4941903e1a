import type { RowBlock } from './data/rows';
import { encodeRows } from './features';
import { pairedNormalizedEntropyStdErr } from './metrics';
import { loadArtifactScorer } from './scoring';

/**
 * Scores a block of rows with a stored model: its own feature spec (crosses, hashing, dense transform) and its own
 * calibrator, so a baseline is compared as it would serve, not by its raw probabilities.
 */
export async function scoreBlockWith(artifact: string, block: RowBlock): Promise<Float64Array> {
  const { header, score } = await loadArtifactScorer(artifact);
  return score(encodeRows(block, header.featureSpec));
}

/**
 * The paired standard error of a candidate's NE change against the baseline model on the same test rows: the
 * baseline is re-scored here (cheap next to training), so significance checks compare like with like. Weighted test
 * rows give the weighted estimator (see pairedNormalizedEntropyStdErr / perExampleStdErr in metrics.ts).
 */
export async function pairedStdErrAgainst(baselineArtifact: string, test: RowBlock, candidateScores: Float64Array): Promise<number> {
  const baselineScores = await scoreBlockWith(baselineArtifact, test);
  return pairedNormalizedEntropyStdErr(candidateScores, baselineScores, test.labels, test.weights);
}
