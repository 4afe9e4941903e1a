import type { DataConfig, ExperimentResult, Insight } from '../../contracts';

/**
 * How experiments and the data they ran on are described and compared — pure functions, no database. The store
 * records an outcome per experiment and traits per data set; the designer's insights are ranked by how similar the
 * other data is. Kept apart from the store so these rules can be read (and tested) without SQLite.
 */

export type ExperimentOutcome = Insight['outcome'];

/** What we know about a data set without reading it, used to rank insights from *other* data by similarity. */
export interface DataTraits {
  kind: 'planted' | 'criteo-tsv' | string;
  categoricalFields?: number;
  denseFields?: number;
  cardinality?: number;
  /** Background click-through rate. */
  ctr?: number;
}

/**
 * Won / lost when the NE moved by more than two standard errors of the test NE against the baseline; neutral
 * inside that band or when no standard error is known (an unmeasured change is not evidence); failed when training failed.
 */
export function experimentOutcome(result: Pick<ExperimentResult, 'status' | 'metrics' | 'relativeNeChange' | 'neStdErr'>): ExperimentOutcome {
  if (result.status === 'failed') return 'failed';
  const r = result.relativeNeChange;
  const ne = result.metrics?.ne;
  const se = result.neStdErr;
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
  return { kind: data.format, categoricalFields: 26, denseFields: 13, ctr };
}

/**
 * Similarity of two *different* data sets in [0, 0.9]: same data (fingerprint) is always 1, so nothing from other
 * data can outrank it. Each trait contributes its weight times its closeness; traits unknown on either side give nothing.
 */
export function dataSimilarity(a: DataTraits | undefined, b: DataTraits | undefined): number {
  if (!a || !b) return 0;
  const closeness = (x: number | undefined, y: number | undefined, log = false) => {
    if (x === undefined || y === undefined) return 0;
    const [u, v] = log ? [Math.log1p(Math.max(0, x)), Math.log1p(Math.max(0, y))] : [x, y];
    const hi = Math.max(Math.abs(u), Math.abs(v));
    return hi === 0 ? 1 : 1 - Math.min(1, Math.abs(u - v) / hi);
  };
  const score =
    0.4 * (a.kind === b.kind ? 1 : 0) +
    0.2 * closeness(a.categoricalFields, b.categoricalFields) +
    0.1 * closeness(a.denseFields, b.denseFields) +
    0.1 * closeness(a.cardinality, b.cardinality, true) +
    0.2 * closeness(a.ctr, b.ctr);
  return Math.round(0.9 * score * 1000) / 1000;
}
