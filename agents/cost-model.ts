import type { CrossRank, ModelConfig, ModelFamily } from '../contracts/model';
import type { DesignRequest, ExperimentSummary, MeasuredCost } from '../contracts/agents';
import { FIELD_NAMES, type DataConfig } from '../contracts/data';
import { schemaLayout } from '../contracts/schema';

/**
 * Predicts how many seconds a run trains (ExperimentResult.trainSeconds: the training loop with its validation
 * evaluations, calibration and test scoring — not loading the data). A prior from the engine's measured throughput,
 * scaled by the work a config asks for, corrected by what runs on this machine actually took. Pure and
 * deterministic (no clock, no I/O): the designers use it, and workflow code may.
 *
 * The prior, per row and pass over the training rows, at full width (39 fields) and each family's defaults:
 * - lr 7 µs. bench/results/engine.md measured the training loop alone at 371,954 examples/s (2.7 µs) on 500k rows of
 *   wide-criteo-like; trainSeconds adds the validation evaluations, cross-fitted calibration and test scoring, which
 *   for a cheap family weigh as much as training: runs of the default lr on wide-criteo-like at 15k–45k rows took
 *   7–8 µs per row and pass (epochs + 1, see EVALUATION_PASSES) on the same 2-core machine.
 * - fm 1.6x lr: the engine bench has fm's loop at 161,755 examples/s (2.3x slower than lr; ingest.md: 0.52x lr's
 *   rate); with evaluation included, the wide scenarios measured 1.3x (wide-three-way) to 2.3x (wide-criteo-like,
 *   100k-value fields) lr per row and pass at 12k–45k rows.
 * - dcn 4x lr: bench/results/dense.md measured 16,524 examples/s per core for the default DCN at f070d09, its products
 *   on ONNX Runtime one at a time (6,808 on tfjs-wasm in the same run, on an Intel Xeon; 10,775 on tfjs-wasm at
 *   0148c7a on an AMD EPYC, when this was 9x; 4,535 at 893835d, when it was 13x; 1.30 MFLOP a row); its whole dense
 *   stack then became two ONNX graphs a step (ranking/models/dcn-onnx-stack.ts), ~25% less CPU a step. Per row and
 *   pass of trainSeconds on the wide scenarios at 12k rows (test/ranking/cost-model-measured) the DCN then measured
 *   3.6–5.1x lr on a quiet machine (4x predicted 0.79–1.11x of measured, two runs) and up to ~10x with other jobs on
 *   its two cores (load slows the DCN's dense products more than LR's sparse updates); before the stack 4.5–5.4x, and at
 *   9x the predictions had run 1.7–2.0x over.
 * The old fixed ratios (fm 3.75x, dcn 22.5x) were of the same order; these are what the engine measures now.
 */
const LR_SECONDS_PER_ROW_PASS = 7e-6;
const FAMILY_MULTIPLIER: Record<ModelFamily, number> = { lr: 1, fm: 1.6, dcn: 4 };
/**
 * Scoring validation at each evaluation, calibration and the test set cost about one more pass over a run's rows (the
 * wide scenarios' validation and test are 0.1x and 0.2x train): a 4-epoch run costs (4 + 1) / (2 + 1) of a 2-epoch one.
 */
const EVALUATION_PASSES = 1;
/** The width the family multipliers were measured at (Criteo's 13 dense + 26 categorical fields). */
const FULL_WIDTH = FIELD_NAMES.length;
/**
 * The products per row of the DCN dcn's multiplier was measured on (2 full-rank cross layers over 39 x 8 inputs, MLP
 * 64 -> 32), whatever the default config is now.
 */
const DEFAULT_DCN_FLOPS = dcnFlops(FULL_WIDTH, 8, 2, [64, 32]);
/** Share of a default DCN step in the layer products (dense.md: 30.1 of 56.4 ms); the rest scales with the fields. */
const DCN_PRODUCT_SHARE = 0.53;
/** Rows assumed when the data's size is unknown: predictions at the same rows keep their ratios, which is what ranks. */
const NOMINAL_ROWS = 100_000;
/** Observations of this campaign count this much each; past runs from the insights database their similarity times this. */
export const CAMPAIGN_WEIGHT = 1;
export const INSIGHT_WEIGHT = 0.5;
/**
 * Pseudo-weight of the machine factor in a family's correction: one measured run of a family already outweighs it 2:1,
 * and a family nobody measured takes the machine's factor whole.
 */
const MACHINE_PRIOR_WEIGHT = 0.5;

/** What a run took: its config, the training rows and fields it read, and its trainSeconds. */
export interface CostObservation {
  config: ModelConfig;
  rows: number;
  fields: number;
  seconds: number;
  /** How much it counts (this campaign's runs most, other data's least). */
  weight: number;
}

export interface FamilyCorrection {
  /** measured / prior, as a weighted geometric mean (1 = the prior was right). */
  factor: number;
  /** `measured`: this family ran; `machine`: only other families did (their factor); `assumed`: nothing ran. */
  basis: 'measured' | 'machine' | 'assumed';
  runs: number;
}

export interface CostModel {
  /** The training rows and fields the predicted runs read. */
  rows: number;
  fields: number;
  families: Record<ModelFamily, FamilyCorrection>;
}

export interface CostPrediction {
  seconds: number;
  basis: FamilyCorrection['basis'];
}

function dcnFlops(fields: number, dim: number, crossLayers: number, mlp: readonly number[], crossRank: CrossRank = 'full'): number {
  const width = fields * dim;
  // A full-rank cross layer multiplies by a width × width matrix; a rank-r one by two width × r factors.
  let flops = crossLayers * (crossRank === 'full' ? width * width : 2 * width * crossRank);
  let previous = width;
  for (const units of mlp) {
    flops += previous * units;
    previous = units;
  }
  return flops + previous;
}

/** Fields a config reads: the data's, less those it drops, plus its crosses (each one more hashed feature a row). */
function activeFeatures(config: ModelConfig, fields: number): number {
  const dropped = Object.values(config.fields ?? {}).filter((k) => k.drop).length;
  return Math.max(1, fields - dropped) + config.crosses.length;
}

/** Work per row and pass relative to the default lr at full width. */
function workPerRow(config: ModelConfig, fields: number): number {
  const width = activeFeatures(config, fields) / FULL_WIDTH;
  if (config.family === 'lr') return width;
  // FM: a weight and an embedding per feature; doubling k from 8 to 16 measured ~1.1–1.3x (the sparse gathers dominate).
  if (config.family === 'fm') return FAMILY_MULTIPLIER.fm * width * ((1 + config.embeddingDim / 16) / 1.5);
  const products =
    dcnFlops(activeFeatures(config, fields), config.embeddingDim, config.crossLayers, config.mlp, config.crossRank) / DEFAULT_DCN_FLOPS;
  return FAMILY_MULTIPLIER.dcn * ((1 - DCN_PRODUCT_SHARE) * width * (config.embeddingDim / 8) + DCN_PRODUCT_SHARE * products);
}

/** The prior: seconds a run of `config` on `rows` training rows of `fields` fields should take on the reference machine. */
export function priorTrainingSeconds(config: ModelConfig, rows: number, fields: number): number {
  // Downsampled negatives are not trained on (clicks are few: the kept share is about the rate); evaluation reads all.
  const trainingPasses = config.epochs * config.negativeSamplingRate;
  return LR_SECONDS_PER_ROW_PASS * Math.max(1, rows) * (trainingPasses + EVALUATION_PASSES) * workPerRow(config, fields);
}

/**
 * Fits the corrections: per family, the weighted geometric mean of measured / prior over its runs, shrunk toward the
 * machine factor (the same mean over every run: how fast this machine is under its current load); a family with no
 * run takes the machine factor; with no run at all the prior stands.
 */
export function fitCostModel(data: { rows?: number; fields?: number }, observations: readonly CostObservation[]): CostModel {
  const usable = observations.filter((o) => o.seconds > 0 && o.rows > 0 && o.weight > 0 && Number.isFinite(o.seconds));
  const logRatio = (o: CostObservation) => Math.log(o.seconds / priorTrainingSeconds(o.config, o.rows, o.fields));
  const total = usable.reduce((s, o) => s + o.weight, 0);
  const machine = total > 0 ? usable.reduce((s, o) => s + o.weight * logRatio(o), 0) / total : 0;
  const families = {} as Record<ModelFamily, FamilyCorrection>;
  for (const family of ['lr', 'fm', 'dcn'] as const) {
    const own = usable.filter((o) => o.config.family === family);
    const weight = own.reduce((s, o) => s + o.weight, 0);
    if (weight > 0) {
      const log = (own.reduce((s, o) => s + o.weight * logRatio(o), 0) + MACHINE_PRIOR_WEIGHT * machine) / (weight + MACHINE_PRIOR_WEIGHT);
      families[family] = { factor: Math.exp(log), basis: 'measured', runs: own.length };
    } else families[family] = { factor: Math.exp(machine), basis: total > 0 ? 'machine' : 'assumed', runs: 0 };
  }
  return { rows: data.rows && data.rows > 0 ? data.rows : NOMINAL_ROWS, fields: data.fields && data.fields > 0 ? data.fields : FULL_WIDTH, families };
}

/** Predicted training seconds of `config` on the model's data (or `rows` of it, for a probe). */
export function predictTrainingSeconds(model: CostModel, config: ModelConfig, rows = model.rows): CostPrediction {
  const correction = model.families[config.family];
  return { seconds: priorTrainingSeconds(config, rows, model.fields) * correction.factor, basis: correction.basis };
}

/** Predicted cost of `config` relative to `reference` on the same rows (what gain per cost divides by). */
export function relativeCost(model: CostModel, config: ModelConfig, reference: ModelConfig): number {
  return predictTrainingSeconds(model, config).seconds / Math.max(1e-12, predictTrainingSeconds(model, reference).seconds);
}

/** A finished run of this campaign as an observation (probes at their own rows); undefined when it measured nothing. */
function observedRun(run: ExperimentSummary, rows: number, fields: number): CostObservation | undefined {
  if (run.status !== 'succeeded' || run.trainer || !(run.trainSeconds && run.trainSeconds > 0)) return undefined;
  return { config: run.config, rows: run.trainRows ?? rows, fields, seconds: run.trainSeconds, weight: CAMPAIGN_WEIGHT };
}

/** Past runs from the insights database, weighted by how similar their data is (a run on this data counts half a campaign run). */
export function observedInsights(measured: readonly MeasuredCost[], fields: number): CostObservation[] {
  return measured.map((m) => ({
    config: m.config,
    rows: m.rows,
    fields: m.fields ?? fields,
    seconds: m.seconds,
    weight: INSIGHT_WEIGHT * Math.max(0, Math.min(1, m.similarity)),
  }));
}

/** The cost model of a design request: its data's size, this campaign's runs and probes, the insights' measured runs. */
export function costModelFor(
  req: Pick<DesignRequest, 'baseline' | 'history' | 'screened' | 'trainRows' | 'fieldCount' | 'measuredCosts'>,
): CostModel {
  const rows = req.trainRows && req.trainRows > 0 ? req.trainRows : NOMINAL_ROWS;
  const fields = req.fieldCount && req.fieldCount > 0 ? req.fieldCount : FULL_WIDTH;
  const seen = new Set<string>();
  const runs: CostObservation[] = [];
  for (const run of [req.baseline, ...req.history, ...(req.screened ?? [])]) {
    if (seen.has(run.experimentId)) continue;
    seen.add(run.experimentId);
    const observed = observedRun(run, rows, fields);
    if (observed) runs.push(observed);
  }
  const own = new Set(seen);
  const past = observedInsights(
    (req.measuredCosts ?? []).filter((m) => !own.has(m.experimentId)),
    fields,
  );
  return fitCostModel({ rows, fields }, [...runs, ...past]);
}

/**
 * The fields a model of `data` reads, what the cost model scales by: a declared table's columns (a list column is one
 * pooled field, whatever its length cap), else the data's traits (Criteo's 39, a planted table's own).
 */
export function modelFieldCount(data: DataConfig, traits: { categoricalFields?: number; denseFields?: number }): number | undefined {
  if (!('planted' in data) && data.format !== 'criteo-tsv') {
    const layout = schemaLayout(data.schema);
    return layout.dense.length + new Set(layout.categorical.map((s) => s.column)).size;
  }
  const count = (traits.categoricalFields ?? 0) + (traits.denseFields ?? 0);
  return count > 0 ? count : undefined;
}

/** "12 s measured" / "~40 s assumed": how a rationale or a prompt says a prediction and what it rests on. */
export function describePrediction(p: CostPrediction): string {
  const seconds = p.seconds >= 10 ? p.seconds.toFixed(0) : p.seconds.toPrecision(2);
  const basis =
    p.basis === 'measured' ? 'from measured runs of the family' : p.basis === 'machine' ? "from this machine's other families" : 'assumed';
  return `~${seconds} s (${basis})`;
}
