import type { RowBlock } from './data/rows';
import { correctNegativeSampling, candidateOf, crossFittedCalibration, type LevelPrior } from './calibration';
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

/**
 * A stored model's validation scores made the way trainExperiment makes a candidate's, so that the two pair: its raw
 * probabilities, corrected for its negative downsampling, then calibrated out of sample (crossFittedCalibration) in
 * the form its stored calibrator was fitted as, with the same prior and on the same folds (the folds depend on the
 * row count alone). Its stored calibrator was fitted on these very rows when it trained on the same data; scored
 * through it, the baseline would read flattered beside a cross-fitted candidate.
 *
 * Kept simple on purpose: the form is read off the stored calibrator (none, the log-odds shift, Platt or isotonic), not
 * re-chosen; an artifact from before calibration scores raw, as it serves.
 */
export async function crossFittedScoresWith(artifact: string, block: RowBlock, prior: LevelPrior): Promise<Float64Array> {
  const { header, scoreRaw } = await loadArtifactScorer(artifact);
  const raw = await scoreRaw(encodeRows(block, header.featureSpec));
  const calibrator = header.calibrator;
  if (!calibrator) return raw;
  const rate = calibrator.negativeSamplingRate;
  if (rate !== undefined && rate < 1) for (let i = 0; i < raw.length; i++) raw[i] = correctNegativeSampling(raw[i], rate);
  return crossFittedCalibration(candidateOf(calibrator), raw, block.labels, block.weights, prior);
}
