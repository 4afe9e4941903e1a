import type { DesignRequest, ExperimentSummary, Insight } from '../../contracts/agents';
import type { ModelConfig } from '../../contracts/model';
import { activeCategoricalFields, improvedOnThisData } from '../design-context';
import { clampToSearchSpace, type ModelConfigDraft } from '../search-space';
import type { Candidate } from './candidate';
import { fmt } from './candidate';
import { applyDelta, deltaFromBaseline } from './combination';

/**
 * Warm starts from the insights database: a campaign does not start from zero when earlier campaigns already learned
 * something on this data or on data like it.
 *
 * - Same data: the best earlier run that beat its baseline (improvedOnThisData: significantly or within noise) is the
 *   starting point. It is re-run once (this campaign gets its own measurement and artifact, and may recommend it),
 *   and the research step's top hypotheses are stacked onto it.
 * - Similar data (similarity from real traits: size, CTR, cardinality and importance profiles): the significant winner of
 *   each of the two most similar data sets, adapted to this data (crosses and field knobs on fields this data does not
 *   carry are dropped, everything clamped into this campaign's search space).
 */

/** Other data must be at least this similar for its winners to join the first wave. */
const MIN_SIMILARITY = 0.5;

export function warmStartCandidates(req: DesignRequest, weight: number): Candidate[] {
  const winners = req.insights.filter((i) => i.outcome === 'won' && i.relativeNeChange !== undefined);
  const out: Candidate[] = [];
  const same = req.insights.filter((i) => improvedOnThisData(i, req.dataFingerprint)).sort(byGain)[0];
  if (same) {
    const significance = same.outcome === 'won' ? '' : ' (within 2 standard errors: not yet a significant win)';
    const start = clampToSearchSpace(same.config as ModelConfigDraft, req.searchSpace);
    out.push({
      config: start,
      technique: 'warm-start',
      title: `Warm start: ${same.experimentId}, the best earlier winner on this data`,
      rationale: `It beat its campaign's baseline by ${pct(same.relativeNeChange!)} on this very data${significance}${same.campaignId ? ` (campaign ${same.campaignId})` : ''}; re-running it gives this campaign its own measurement and artifact, and a base to stack on.`,
      parents: [req.baseline.experimentId],
      // A measured result on this very data outranks any prior or track record: it is the campaign's best start.
      prior: 8 * weight,
      rerun: true,
    });
    for (const h of req.research.slice(0, 3)) {
      const change = deltaFromBaseline(req.baseline.config, asRun(h.model, 'research'));
      const stacked = applyDelta(start, req.baseline.config, change, req.searchSpace);
      out.push({
        config: stacked,
        technique: h.hypothesis.technique,
        title: `${h.hypothesis.title} on top of earlier winner ${same.experimentId}`.slice(0, 200),
        rationale: `${same.experimentId} won on this data (${pct(same.relativeNeChange!)}); the research step's hypothesis stacks onto it. ${h.hypothesis.rationale}`,
        parents: [req.baseline.experimentId],
        prior: (3 + h.expectedGain / Math.max(1e-9, req.research[0].expectedGain)) * weight,
      });
    }
  }
  // The best significant winner per other data set, most similar data first.
  const fields = new Set(activeCategoricalFields(req));
  const bestPerData = new Map<string, Insight>();
  for (const w of winners.filter((i) => i.dataFingerprint !== req.dataFingerprint && i.similarity >= MIN_SIMILARITY).sort(byGain)) {
    if (!bestPerData.has(w.dataFingerprint)) bestPerData.set(w.dataFingerprint, w);
  }
  const similar = [...bestPerData.values()].sort((a, b) => b.similarity - a.similarity).slice(0, 2);
  for (const w of similar) {
    out.push({
      config: adapt(w.config, fields, req),
      technique: 'warm-start',
      title: `Warm start: ${w.technique ?? w.config.family} winner ${w.experimentId} from similar data (similarity ${fmt(w.similarity)})`.slice(
        0,
        200,
      ),
      rationale: `On data with similarity ${fmt(w.similarity)} (size, CTR, cardinality and importance profiles) it beat its baseline by ${pct(w.relativeNeChange!)}; adapted to this data's fields and search space.`,
      parents: [req.baseline.experimentId],
      prior: 1.5 * (1 + w.similarity) * weight,
    });
  }
  return out;
}

function byGain(a: Insight, b: Insight): number {
  return a.relativeNeChange! - b.relativeNeChange!;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function asRun(config: ModelConfig, experimentId: string): ExperimentSummary {
  return { experimentId, phase: 'research', family: config.family, config, status: 'succeeded' };
}

/** Another data set's winner on this data: crosses and categorical field knobs on fields this data lacks are dropped. */
function adapt(config: ModelConfig, categorical: Set<string>, req: DesignRequest): ModelConfig {
  const usable = (f: string) => !/^C\d+$/.test(f) || categorical.has(f);
  const fields = config.fields ? Object.fromEntries(Object.entries(config.fields).filter(([f]) => usable(f))) : undefined;
  return clampToSearchSpace(
    { ...(config as ModelConfigDraft), crosses: config.crosses.filter((c) => c.every(usable)), fields } as ModelConfigDraft,
    req.searchSpace,
  );
}
