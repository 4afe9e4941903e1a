import type { CampaignResearch, DataConfig, ExperimentResult, ExperimentSummary, SearchSpace } from '../contracts';
import { researchHypotheses } from '../agents/research-hypotheses';
import { fieldLabels, labelFields, labelHypothesis } from '../contracts/field-names';
import { summarize } from '../workflows/summaries';
import { dataTraitsOf, InsightsStore } from '../store/insights';
import { costModelFor, modelFieldCount, type CostModel } from '../agents/cost-model';
import { checkDataAccess } from './data-access';
import { rememberTraits } from './data';
import { trainingPool } from '../workers/training-pool';
import { whileAlive } from './liveness';

/**
 * The research step (training queue: it reads the data and scores with the baseline's model). Before the first wave
 * the campaign measures its baseline — field importance, missed main effects and interactions, dense shapes,
 * hashing, the learning curve's verdict — and ranks the hypotheses those findings support.
 */
export async function researchBaseline(data: DataConfig, baseline: ExperimentResult, searchSpace: SearchSpace): Promise<CampaignResearch> {
  checkDataAccess(data);
  const artifact = baseline.artifact;
  if (!artifact) throw new Error(`the baseline ${baseline.experimentId} has no model artifact to research`);
  const started = Date.now();
  // Scoring the baseline over and over (permutations, residual cells) is CPU work: on a training thread.
  const options = { learningCurve: baseline.learningCurve ?? [] };
  const findings = await whileAlive(() => trainingPool().run({ kind: 'researchBaseline', data, artifact, options }));
  // Measured and designed on slots; a declared schema's column names in every text a person reads.
  const labels = fieldLabels(data);
  const labelled = Object.keys(labels).length > 0;
  const summary = summarize(baseline);
  const costs = await researchCosts(data, summary, baseline.dataFingerprint);
  const hypotheses = researchHypotheses(findings, summary, searchSpace, costs).map((h) =>
    labelled ? { ...h, hypothesis: labelHypothesis(h.hypothesis, labels), evidence: labelFields(h.evidence, labels).slice(0, 400) } : h,
  );
  // Which fields matter is the strongest trait for "is other data like this one?" (store/insights/traits.ts).
  if (baseline.dataFingerprint)
    await rememberTraits(baseline.dataFingerprint, {
      kind: dataTraitsOf(data).kind,
      fieldImportance: Object.fromEntries(findings.importance.map((f) => [f.field, f.neIncrease])),
    });
  return { hypotheses, findings, seconds: Math.round((Date.now() - started) / 100) / 10, ...(labelled ? { fieldLabels: labels } : {}) };
}

/**
 * The cost model the research step ranks by: the baseline's own run and what past runs in the insights database took
 * on this data and similar data. Best-effort: without the database, the baseline's run alone corrects the prior.
 */
async function researchCosts(data: DataConfig, baseline: ExperimentSummary, fingerprint: string | undefined): Promise<CostModel> {
  if (!fingerprint) return costModelFor({ baseline, history: [] });
  let insights: InsightsStore | undefined;
  try {
    insights = await InsightsStore.open();
    const dataTraits = (await insights.dataTraits(fingerprint)) ?? dataTraitsOf(data);
    const fieldCount = modelFieldCount(data, dataTraits);
    return costModelFor({
      baseline,
      history: [],
      trainRows: dataTraits.rows && dataTraits.rows > 0 ? Math.round(dataTraits.rows) : undefined,
      fieldCount,
      measuredCosts: await insights.measuredCosts({ dataFingerprint: fingerprint, dataTraits, limit: 200 }),
    });
  } catch {
    return costModelFor({ baseline, history: [] });
  } finally {
    await insights?.close();
  }
}
