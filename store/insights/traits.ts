import { schemaLayout, type DataConfig, type ExperimentResult, type Insight } from '../../contracts';

/**
 * How experiments and the data they ran on are described and compared — pure functions, no database. The store
 * records an outcome per experiment and traits per data set; the designer's insights are ranked by how similar the
 * other data is. Kept apart from the store so these rules can be read (and tested) without SQLite.
 */

export type ExperimentOutcome = Insight['outcome'];

/**
 * What we know about a data set, used to rank insights from *other* data by similarity. The config gives the kind and
 * layout; describing the data adds its size, CTR and per-field cardinalities; the research step adds how much each
 * field matters to the baseline. Traits recorded at different times are merged (see mergeTraits).
 */
export interface DataTraits {
  kind: 'planted' | 'criteo-tsv' | string;
  categoricalFields?: number;
  denseFields?: number;
  cardinality?: number;
  /** Background click-through rate. */
  ctr?: number;
  /** Training rows. */
  rows?: number;
  /** Distinct values per categorical field on train. */
  fieldCardinality?: Record<string, number>;
  /** Permutation importance (validation NE lost when shuffled) per field, measured on the campaign's baseline. */
  fieldImportance?: Record<string, number>;
}

/** `older` updated with what `newer` knows (a trait `newer` leaves out keeps its older value). */
export function mergeTraits(older: DataTraits | undefined, newer: DataTraits): DataTraits {
  const out: Record<string, unknown> = { ...(older ?? {}) };
  for (const [key, value] of Object.entries(newer)) if (value !== undefined) out[key] = value;
  return out as unknown as DataTraits;
}

/**
 * Won / lost when the NE moved by more than two standard errors against the baseline; neutral inside that band or
 * when no standard error is known (an unmeasured change is not evidence); failed when training failed. Measured on
 * validation — the rows campaigns decide on, with the paired error when there is one — when the run has it; runs
 * recorded before validation metrics existed are judged on test, as they were.
 */
export function experimentOutcome(
  result: Pick<ExperimentResult, 'status' | 'metrics' | 'relativeNeChange' | 'neStdErr' | 'validationMetrics'>,
): ExperimentOutcome {
  if (result.status === 'failed') return 'failed';
  const v = result.validationMetrics;
  const onValidation = v?.relativeNeChange !== undefined;
  const r = onValidation ? v.relativeNeChange : result.relativeNeChange;
  const ne = onValidation ? v.ne : result.metrics?.ne;
  const se = onValidation ? (v.neDeltaStdErr ?? v.neStdErr) : result.neStdErr;
  if (r === undefined || ne === undefined || se === undefined || !Number.isFinite(r) || r <= -1) return 'neutral';
  // relativeNeChange = (ne − baselineNe) / baselineNe, so the absolute NE delta is ne · r / (1 + r).
  const delta = (ne * r) / (1 + r);
  if (delta < -2 * se) return 'won';
  if (delta > 2 * se) return 'lost';
  return 'neutral';
}

/** The traits the planner can read from a data config without touching the data. */
export function dataTraitsOf(data: DataConfig, ctr?: number): DataTraits {
  if ('planted' in data) {
    const p = data.planted;
    return { kind: 'planted', categoricalFields: p.categoricalFields, denseFields: p.denseFields, cardinality: p.cardinality, ctr: ctr ?? p.baseCtr };
  }
  // Criteo files always carry the full layout: 26 categorical and 13 dense fields.
  if (data.format === 'criteo-tsv') return { kind: data.format, categoricalFields: 26, denseFields: 13, ctr };
  // A declared table (CSV, TSV or Parquet of the same table alike): the slots its schema fills.
  const layout = schemaLayout(data.schema);
  return { kind: 'declared', categoricalFields: layout.categorical.length, denseFields: layout.dense.length, ctr };
}

const closeness = (x: number | undefined, y: number | undefined, log = false) => {
  if (x === undefined || y === undefined) return 0;
  const [u, v] = log ? [Math.log1p(Math.max(0, x)), Math.log1p(Math.max(0, y))] : [x, y];
  const hi = Math.max(Math.abs(u), Math.abs(v));
  return hi === 0 ? 1 : 1 - Math.min(1, Math.abs(u - v) / hi);
};

/** Mean log-scale closeness of the cardinalities of the fields both data sets have (high-cardinality fields alike?). */
function cardinalityCloseness(a: Record<string, number>, b: Record<string, number>): number | undefined {
  const shared = Object.keys(a).filter((f) => b[f] !== undefined);
  if (!shared.length) return undefined;
  return shared.reduce((sum, f) => sum + closeness(a[f], b[f], true), 0) / shared.length;
}

/** Cosine of the two importance profiles over the fields both have, floored at 0 (do the same fields matter?). */
function importanceCloseness(a: Record<string, number>, b: Record<string, number>): number | undefined {
  const shared = Object.keys(a).filter((f) => b[f] !== undefined);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const f of shared) {
    const [x, y] = [Math.max(0, a[f]), Math.max(0, b[f])];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? Math.max(0, dot / Math.sqrt(na * nb)) : undefined;
}

/**
 * Similarity of two *different* data sets in [0, 0.9]: same data (fingerprint) is always 1, so nothing from other
 * data can outrank it. Each trait contributes its weight times its closeness: the layout (kind, field counts), the size
 * (rows, log scale), the CTR, the per-field cardinality profile and the per-field importance profile. A trait unknown
 * on either side gives nothing, so two files of the same layout that were never described stay only loosely similar:
 * every Criteo file has the same layout, so the measured traits carry most of the weight.
 */
export function dataSimilarity(a: DataTraits | undefined, b: DataTraits | undefined): number {
  if (!a || !b) return 0;
  const profile = a.fieldCardinality && b.fieldCardinality ? cardinalityCloseness(a.fieldCardinality, b.fieldCardinality) : undefined;
  const importance = a.fieldImportance && b.fieldImportance ? importanceCloseness(a.fieldImportance, b.fieldImportance) : undefined;
  const score =
    0.15 * (a.kind === b.kind ? 1 : 0) +
    0.05 * closeness(a.categoricalFields, b.categoricalFields) +
    0.05 * closeness(a.denseFields, b.denseFields) +
    0.05 * closeness(a.cardinality, b.cardinality, true) +
    0.1 * closeness(a.rows, b.rows, true) +
    0.2 * closeness(a.ctr, b.ctr) +
    0.2 * (profile ?? 0) +
    0.2 * (importance ?? 0);
  return Math.round(0.9 * score * 1000) / 1000;
}
