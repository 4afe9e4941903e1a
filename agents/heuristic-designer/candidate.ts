import type { ExperimentSummary } from '../../contracts/agents';
import type { SearchSpace } from '../../contracts/campaign';
import type { ModelConfig, ModelFamily } from '../../contracts/model';
import { DEFAULT_LEARNING_RATE, clampToSearchSpace, type ModelConfigDraft } from '../search-space';

/**
 * What every phase of the heuristic designer produces — a scored `Candidate` — and the small config edits and text
 * helpers they share. Kept apart from the phases so that validation, combination and exploitation describe and edit
 * configs the same way (the same rounding in titles, the same clamping into the search space).
 */

export interface Candidate {
  config: ModelConfig;
  technique: string;
  title: string;
  rationale: string;
  expectedEffect?: string;
  parents: string[];
  /** Prior expected gain, before the track-record and cost adjustments. */
  prior: number;
  /** A research hypothesis's expected relative NE reduction, carried onto the experiment (Hypothesis.expectedGain). */
  expectedGain?: number;
  /**
   * A deliberate re-run of a config an earlier campaign measured on this data (a warm start): only this campaign's
   * own runs make it "already tried".
   */
  rerun?: boolean;
}

/** What a phase hands to the shared selector: its candidates, and a note appended to every rationale when set. */
export interface PhaseCandidates {
  candidates: Candidate[];
  note?: string;
}

/** Keys whose meaning depends on the family (an FTRL alpha is not an Adam step). */
export const FAMILY_SPECIFIC_KEYS = ['learningRate', 'l2', 'l1', 'ftrlBeta', 'embeddingDim', 'crossLayers', 'crossRank', 'mlp'] as const;
export const SHARED_KEYS = ['hashBits', 'epochs', 'batchSize', 'denseTransform', 'fields', 'hashSpace', 'lrDecay', 'gradientClip'] as const;

/** Starting L2 strengths per family when none is set (FTRL's l2 is per-coordinate; AdaGrad/Adam want much less). */
export const L2_START: Record<ModelFamily, number> = { lr: 1, fm: 1e-4, dcn: 1e-5 };

/** Three significant digits: how numbers appear in titles and rationales. */
export function fmt(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

export function crossName(cross: readonly [string, string] | readonly string[]): string {
  return cross.join('×');
}

export function describeRun(run: ExperimentSummary): string {
  const ne = run.ne !== undefined ? `NE ${run.ne.toFixed(4)}` : 'NE n/a';
  return `${run.experimentId} (${run.config.family}, ${ne})`;
}

/** `base` with `changes` applied, pulled back inside the campaign's search space. */
export function modify(base: ModelConfig, changes: Partial<ModelConfigDraft>, space: SearchSpace): ModelConfig {
  return clampToSearchSpace({ ...(base as ModelConfigDraft), ...changes } as ModelConfigDraft, space);
}

/** The same features and training schedule in another family, with that family's default step size. */
export function switchFamily(base: ModelConfig, family: ModelFamily, space: SearchSpace): ModelConfig {
  const draft: ModelConfigDraft = {
    family,
    crosses: base.crosses,
    learningRate: DEFAULT_LEARNING_RATE[family],
    seed: base.seed,
    checkpointEvery: base.checkpointEvery,
  };
  for (const key of SHARED_KEYS) (draft as Record<string, unknown>)[key] = base[key];
  return clampToSearchSpace(draft, space);
}
