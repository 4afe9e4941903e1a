import type { CampaignResearch, DataConfig, ExperimentResult, SearchSpace } from '../contracts';
import { researchHypotheses } from '../agents/research-hypotheses';
import { fieldLabels, labelFields, labelHypothesis } from '../contracts/field-names';
import { summarize } from '../workflows/summaries';
import { dataTraitsOf } from '../store/insights';
import { checkDataAccess } from './data-access';
import { rememberTraits } from './data';
import { trainingPool } from '../workers/training-pool';

/**
 * The research step (training queue: it reads the data and scores with the baseline's model). Before the first wave
 * the campaign measures its baseline — field importance, missed main effects and interactions, dense shapes,
 * hashing, the learning curve's verdict — and ranks the hypotheses those findings support.
 */
export async function researchBaseline(data: DataConfig, baseline: ExperimentResult, searchSpace: SearchSpace): Promise<CampaignResearch> {
  checkDataAccess(data);
  if (!baseline.artifact) throw new Error(`the baseline ${baseline.experimentId} has no model artifact to research`);
  const started = Date.now();
  // Scoring the baseline over and over (permutations, residual cells) is CPU work: on a training thread.
  const options = { learningCurve: baseline.learningCurve ?? [] };
  const findings = await trainingPool().run({ kind: 'researchBaseline', data, artifact: baseline.artifact, options });
  // Measured and designed on slots; a declared schema's column names in every text a person reads.
  const labels = fieldLabels(data);
  const labelled = Object.keys(labels).length > 0;
  const hypotheses = researchHypotheses(findings, summarize(baseline), searchSpace).map((h) =>
    labelled ? { ...h, hypothesis: labelHypothesis(h.hypothesis, labels), evidence: labelFields(h.evidence, labels).slice(0, 400) } : h,
  );
  // Which fields matter is the strongest trait for "is other data like this one?" (store/insights/traits.ts).
  if (baseline.dataFingerprint)
    rememberTraits(baseline.dataFingerprint, {
      kind: dataTraitsOf(data).kind,
      fieldImportance: Object.fromEntries(findings.importance.map((f) => [f.field, f.neIncrease])),
    });
  return { hypotheses, findings, seconds: Math.round((Date.now() - started) / 100) / 10, ...(labelled ? { fieldLabels: labels } : {}) };
}
