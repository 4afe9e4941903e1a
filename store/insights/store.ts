import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { ExperimentResult, FailureClass, Insight, ModelConfig } from '../../contracts';
import { rankwrightHome } from '../home';
import { migrate, type SqlRow } from './schema';
import { dataSimilarity, experimentOutcome, mergeTraits, type DataTraits, type ExperimentOutcome } from './traits';

/**
 * The insights database: every experiment of every campaign, so the hypothesis designer can start from what
 * already won or lost (on the same data first, then on similar data) and the planner never pays twice for a
 * config that is already known. This file is the reads and writes; the schema is in schema.ts, and how outcomes
 * and data similarity are judged is in traits.ts.
 *
 * Two worker processes may record at the same time: the file runs in WAL mode (readers never block the writer)
 * and every connection waits (busy_timeout) instead of failing with SQLITE_BUSY when another one holds the lock.
 */

/** An experiment as the insights database records it: the result plus the data it ran on. */
export type RecordedExperiment = ExperimentResult & {
  dataFingerprint: string;
  dataTraits?: DataTraits;
  /** ISO time; defaults to now. A re-record of the same experiment keeps the first time. */
  recordedAt?: string;
};

/** One row of the database, in the words of the domain. */
export interface ExperimentRow {
  experimentId: string;
  campaignId?: string;
  phase: string;
  dataFingerprint: string;
  family: ModelConfig['family'];
  config: ModelConfig;
  canonicalKey: string;
  technique?: string;
  hypothesisTitle?: string;
  hypothesisRationale?: string;
  parents: string[];
  status: ExperimentResult['status'];
  metrics?: ExperimentResult['metrics'];
  neStdErr?: number;
  relativeNeChange?: number;
  outcome: ExperimentOutcome;
  failureClass?: FailureClass;
  failureFix?: string;
  trainSeconds: number;
  modelBytes: number;
  artifact?: string;
  recordedAt: string;
}

export interface TechniqueSummary {
  family: string;
  technique: string | null;
  experiments: number;
  won: number;
  lost: number;
  neutral: number;
  failed: number;
  /** Most negative (best) relative NE change seen for this family/technique. */
  bestRelativeNeChange: number | null;
}

export interface FindInsightsQuery {
  dataFingerprint: string;
  /** Traits of the campaign's data; without them only insights from the same data are returned. */
  dataTraits?: DataTraits;
  limit?: number;
  /** Insights below this similarity are left out (default 0.2). */
  minSimilarity?: number;
}

/** Failures that say nothing about the config (the machine failed, not the idea): such a config is not "known". */
const TRANSIENT_FAILURES: FailureClass[] = ['infrastructure', 'resource'];

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

export class InsightsStore {
  private constructor(private readonly db: Database.Database) {}

  /** Opens (creating and migrating when needed) `${RANKWRIGHT_HOME}/insights.sqlite`, or `file`. */
  static open(file: string = path.join(rankwrightHome(), 'insights.sqlite')): InsightsStore {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    // busy_timeout first: switching to WAL itself needs the lock another process may hold.
    db.pragma('busy_timeout = 10000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db);
    return new InsightsStore(db);
  }

  /** Records (or re-records) one experiment. Idempotent by experimentId: a retried activity updates the same row. */
  recordExperiment(result: RecordedExperiment): void {
    const parsed = ExperimentResult.parse(result);
    if (!result.dataFingerprint) throw new Error('recordExperiment: dataFingerprint is required');
    const row = {
      experiment_id: parsed.experimentId,
      campaign_id: parsed.campaignId ?? null,
      phase: parsed.phase,
      data_fingerprint: result.dataFingerprint,
      family: parsed.config.family,
      config: JSON.stringify(parsed.config),
      canonical_key: canonicalConfigKey(parsed.config),
      technique: parsed.hypothesis?.technique ?? null,
      hypothesis_title: parsed.hypothesis?.title ?? null,
      hypothesis_rationale: parsed.hypothesis?.rationale ?? null,
      parents: JSON.stringify(parsed.hypothesis?.parents ?? []),
      status: parsed.status,
      metrics: parsed.metrics ? JSON.stringify(parsed.metrics) : null,
      ne: parsed.metrics?.ne ?? null,
      ne_std_err: parsed.neStdErr ?? null,
      relative_ne_change: parsed.relativeNeChange ?? null,
      outcome: experimentOutcome(parsed),
      failure_class: parsed.failure?.failureClass ?? null,
      failure_fix: parsed.failure?.fix ?? null,
      train_seconds: parsed.trainSeconds,
      model_bytes: parsed.modelBytes,
      artifact: parsed.artifact ?? null,
      recorded_at: result.recordedAt ?? new Date().toISOString(),
    };
    const columns = Object.keys(row);
    const updates = columns.filter((c) => c !== 'experiment_id' && c !== 'recorded_at').map((c) => `${c} = excluded.${c}`);
    const write = this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO experiments (${columns.join(', ')}) VALUES (${columns.map((c) => '@' + c).join(', ')})
           ON CONFLICT (experiment_id) DO UPDATE SET ${updates.join(', ')}`,
        )
        .run(row);
      if (result.dataTraits) this.writeTraits(result.dataFingerprint, result.dataTraits);
    });
    // IMMEDIATE takes the write lock up front, so the busy timeout applies instead of a mid-transaction SQLITE_BUSY.
    write.immediate();
  }

  /**
   * Remembers the traits of a data set (also done by recordExperiment when it is given traits), merged into what is
   * already known: describing the data, the research step and every experiment each add what they measured.
   */
  recordDataTraits(dataFingerprint: string, traits: DataTraits): void {
    this.db.transaction(() => this.writeTraits(dataFingerprint, traits)).immediate();
  }

  /** What is known about a data set, or undefined when nothing was recorded for it. */
  dataTraits(dataFingerprint: string): DataTraits | undefined {
    const row = this.db.prepare(`SELECT traits FROM data_sets WHERE data_fingerprint = ?`).get(dataFingerprint) as { traits: string } | undefined;
    return row ? safeJson<DataTraits>(row.traits) : undefined;
  }

  /** Inside a write transaction: read, merge, write (so two writers' traits both survive). */
  private writeTraits(dataFingerprint: string, traits: DataTraits): void {
    const merged = mergeTraits(this.dataTraits(dataFingerprint), traits);
    this.db
      .prepare(`INSERT INTO data_sets (data_fingerprint, traits) VALUES (?, ?) ON CONFLICT (data_fingerprint) DO UPDATE SET traits = excluded.traits`)
      .run(dataFingerprint, JSON.stringify(merged));
  }

  /**
   * Past experiments for a campaign's hypothesis designer: those on the same data first (similarity 1), then
   * those on other data, most similar first; within one data set the most recent first.
   */
  findInsights(query: FindInsightsQuery): Insight[] {
    const limit = Math.max(0, query.limit ?? 50);
    const minSimilarity = query.minSimilarity ?? 0.2;
    const dataSets: { fingerprint: string; similarity: number }[] = [{ fingerprint: query.dataFingerprint, similarity: 1 }];
    if (query.dataTraits) {
      const others = this.db.prepare(`SELECT data_fingerprint, traits FROM data_sets WHERE data_fingerprint <> ?`).all(query.dataFingerprint) as {
        data_fingerprint: string;
        traits: string;
      }[];
      for (const other of others) {
        const similarity = dataSimilarity(query.dataTraits, safeJson<DataTraits>(other.traits));
        if (similarity >= minSimilarity) dataSets.push({ fingerprint: other.data_fingerprint, similarity });
      }
      dataSets.sort((a, b) => b.similarity - a.similarity || a.fingerprint.localeCompare(b.fingerprint));
    }
    const select = this.db.prepare(`SELECT * FROM experiments WHERE data_fingerprint = ? ORDER BY recorded_at DESC, experiment_id LIMIT ?`);
    const insights: Insight[] = [];
    for (const { fingerprint, similarity } of dataSets) {
      if (insights.length >= limit) break;
      for (const sql of select.all(fingerprint, limit - insights.length) as SqlRow[]) {
        // A row written under an older model schema that no longer parses is history, not advice: skip it.
        const config = ModelConfig.safeParse(safeJson(sql.config));
        if (!config.success) continue;
        insights.push({
          experimentId: sql.experiment_id,
          campaignId: opt(sql.campaign_id),
          dataFingerprint: sql.data_fingerprint,
          similarity,
          config: config.data,
          technique: opt(sql.technique),
          outcome: sql.outcome as ExperimentOutcome,
          relativeNeChange: opt(sql.relative_ne_change),
        });
      }
    }
    return insights;
  }

  /**
   * Whether this config (by canonicalConfigKey) already ran on this data. A run lost to an infrastructure or
   * resource failure does not count: it taught nothing about the config.
   */
  isKnown(dataFingerprint: string, canonicalKey: string): boolean {
    const placeholders = TRANSIENT_FAILURES.map(() => '?').join(', ');
    const hit = this.db
      .prepare(
        `SELECT 1 FROM experiments WHERE data_fingerprint = ? AND canonical_key = ?
           AND (failure_class IS NULL OR failure_class NOT IN (${placeholders})) LIMIT 1`,
      )
      .get(dataFingerprint, canonicalKey, ...TRANSIENT_FAILURES);
    return hit !== undefined;
  }

  /** Recorded experiments, newest first. */
  list(filter: { campaignId?: string; limit?: number } = {}): ExperimentRow[] {
    const limit = Math.max(0, filter.limit ?? 1000);
    const rows = (
      filter.campaignId === undefined
        ? this.db.prepare(`SELECT * FROM experiments ORDER BY recorded_at DESC, experiment_id LIMIT ?`).all(limit)
        : this.db
            .prepare(`SELECT * FROM experiments WHERE campaign_id = ? ORDER BY recorded_at DESC, experiment_id LIMIT ?`)
            .all(filter.campaignId, limit)
    ) as SqlRow[];
    return rows.map(toExperimentRow);
  }

  /** Per family and technique: how often it ran, won, lost, stayed neutral or failed, and its best NE change. */
  summary(): TechniqueSummary[] {
    const rows = this.db
      .prepare(
        `SELECT family, technique, COUNT(*) AS experiments,
                SUM(outcome = 'won') AS won, SUM(outcome = 'lost') AS lost,
                SUM(outcome = 'neutral') AS neutral, SUM(outcome = 'failed') AS failed,
                MIN(relative_ne_change) AS bestRelativeNeChange
           FROM experiments GROUP BY family, technique ORDER BY family, won DESC, technique`,
      )
      .all() as TechniqueSummary[];
    return rows.map((r) => ({ ...r, bestRelativeNeChange: r.bestRelativeNeChange ?? null }));
  }

  /** Number of recorded experiments (all campaigns). */
  count(): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM experiments`).get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toExperimentRow(sql: SqlRow): ExperimentRow {
  const metrics = sql.metrics ? safeJson<ExperimentRow['metrics']>(sql.metrics) : undefined;
  return {
    experimentId: sql.experiment_id,
    campaignId: opt(sql.campaign_id),
    phase: sql.phase,
    dataFingerprint: sql.data_fingerprint,
    family: sql.family as ExperimentRow['family'],
    config: safeJson<ModelConfig>(sql.config) as ModelConfig,
    canonicalKey: sql.canonical_key,
    technique: opt(sql.technique),
    hypothesisTitle: opt(sql.hypothesis_title),
    hypothesisRationale: opt(sql.hypothesis_rationale),
    parents: safeJson<string[]>(sql.parents) ?? [],
    status: sql.status as ExperimentRow['status'],
    metrics,
    neStdErr: opt(sql.ne_std_err),
    relativeNeChange: opt(sql.relative_ne_change),
    outcome: sql.outcome as ExperimentOutcome,
    failureClass: opt(sql.failure_class) as FailureClass | undefined,
    failureFix: opt(sql.failure_fix),
    trainSeconds: sql.train_seconds,
    modelBytes: sql.model_bytes,
    artifact: opt(sql.artifact),
    recordedAt: sql.recorded_at,
  };
}

function safeJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
