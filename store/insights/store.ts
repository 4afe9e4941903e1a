import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { canonicalConfigKey } from '../../contracts/canonical-config';
import { ExperimentResult, FailureClass, Insight, ModelConfig, RemedyChanges, type MeasuredCost, type RememberedFix } from '../../contracts';
import { asDiskFull } from '../disk-space';
import { rankwrightHome } from '../home';
import { changeKey, rankRemedies, remediesOf, type Remedy, type RemedyCandidate } from './remedies';
import { migrate, type RemedySqlRow, type SqlRow } from './schema';
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

export interface FindRemediesQuery {
  failureClass: FailureClass;
  family: ModelConfig['family'];
  /** The data of the failing run; remedies from it have similarity 1. */
  dataFingerprint?: string;
  /** Its traits; without them (and without a fingerprint) only remedies from the same data are found. */
  dataTraits?: DataTraits;
  /** Remedies from data less similar than this are left out (default 0.5: other data must share more than its layout). */
  minSimilarity?: number;
  limit?: number;
}

/** Remedies a lookup reads at most (newest first): plenty for counting, bounded however long the database lives. */
const REMEDY_SCAN = 5000;

/** Failures that say nothing about the config (the machine failed, not the idea): such a config is not "known". */
const TRANSIENT_FAILURES: FailureClass[] = ['infrastructure', 'resource'];

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/**
 * Runs a write of the insights database. SQLite reports a full disk as SQLITE_FULL (and rolls the transaction back):
 * it becomes a DiskFullError naming the database's folder and the space left, so the recording activity's retries say
 * what to free.
 */
function writingInsights<T>(file: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    throw asDiskFull(err, 'the insights database', path.dirname(path.resolve(file)));
  }
}

export class InsightsStore {
  private constructor(private readonly db: Database.Database) {}

  /** Opens (creating and migrating when needed) `${RANKWRIGHT_HOME}/insights.sqlite`, or `file`. */
  static open(file: string = path.join(rankwrightHome(), 'insights.sqlite')): InsightsStore {
    return writingInsights(file, () => {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const db = new Database(file);
      try {
        // busy_timeout first: switching to WAL itself needs the lock another process may hold.
        db.pragma('busy_timeout = 10000');
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        migrate(db);
      } catch (err) {
        db.close();
        throw err;
      }
      return new InsightsStore(db);
    });
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
      // On validation when the run has it (what campaigns decide on, and so what a warm start may build on).
      relative_ne_change: parsed.validationMetrics?.relativeNeChange ?? parsed.relativeNeChange ?? null,
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
      this.writeRemedies(remediesOf(parsed), row.recorded_at, result.dataTraits);
    });
    // IMMEDIATE takes the write lock up front, so the busy timeout applies instead of a mid-transaction SQLITE_BUSY.
    writingInsights(this.db.name, () => write.immediate());
  }

  /**
   * Inside a write transaction: the experiment's remedies (see remediesOf), idempotent by experiment and attempts. A
   * remedy whose data is unknown is left out: it could be looked up for no data. The data's traits are remembered for
   * a remedy's fingerprint too (a failed run's result carries none, its failure reports do).
   */
  private writeRemedies(remedies: Remedy[], recordedAt: string, traits: DataTraits | undefined): void {
    const upsert = this.db.prepare(
      `INSERT INTO remedies (experiment_id, from_attempt, to_attempt, campaign_id, data_fingerprint, family, failure_class, outcome,
                             failing_config, fixed_config, changes, change_key, learning_rate, learning_rate_ratio, gradient_clip,
                             hash_bits, embedding_dim, batch_size, attempts, recorded_at)
       VALUES (@experiment_id, @from_attempt, @to_attempt, @campaign_id, @data_fingerprint, @family, @failure_class, @outcome,
               @failing_config, @fixed_config, @changes, @change_key, @learning_rate, @learning_rate_ratio, @gradient_clip,
               @hash_bits, @embedding_dim, @batch_size, @attempts, @recorded_at)
       ON CONFLICT (experiment_id, from_attempt, to_attempt) DO UPDATE SET
         campaign_id = excluded.campaign_id, data_fingerprint = excluded.data_fingerprint, family = excluded.family,
         failure_class = excluded.failure_class, outcome = excluded.outcome, failing_config = excluded.failing_config,
         fixed_config = excluded.fixed_config, changes = excluded.changes, change_key = excluded.change_key,
         learning_rate = excluded.learning_rate, learning_rate_ratio = excluded.learning_rate_ratio,
         gradient_clip = excluded.gradient_clip, hash_bits = excluded.hash_bits, embedding_dim = excluded.embedding_dim,
         batch_size = excluded.batch_size, attempts = excluded.attempts`,
    );
    const described = new Set<string>();
    for (const remedy of remedies) {
      if (!remedy.dataFingerprint || remedy.dataFingerprint === 'unknown') continue;
      const c = remedy.changes;
      upsert.run({
        experiment_id: remedy.experimentId,
        from_attempt: remedy.fromAttempt,
        to_attempt: remedy.toAttempt,
        campaign_id: remedy.campaignId ?? null,
        data_fingerprint: remedy.dataFingerprint,
        family: remedy.family,
        failure_class: remedy.failureClass,
        outcome: remedy.outcome,
        failing_config: JSON.stringify(remedy.failingConfig),
        fixed_config: JSON.stringify(remedy.fixedConfig),
        changes: JSON.stringify(c),
        change_key: changeKey(c),
        learning_rate: c.learningRate ?? null,
        learning_rate_ratio: c.learningRateRatio ?? null,
        gradient_clip: c.gradientClip ?? null,
        hash_bits: c.hashBits ?? null,
        embedding_dim: c.embeddingDim ?? null,
        batch_size: c.batchSize ?? null,
        attempts: remedy.attempts,
        recorded_at: recordedAt,
      });
      if (traits && !described.has(remedy.dataFingerprint)) {
        described.add(remedy.dataFingerprint);
        this.writeTraits(remedy.dataFingerprint, traits);
      }
    }
  }

  /**
   * The fixes that worked for this failure class and model family, best first (see rankRemedies): from the same data
   * first, then from similar data. Each groups the remedies that set the same changes (changeKey): how often they
   * worked and failed, and the most similar, most recent experiment where they worked. Fixes that never worked are
   * not returned (they only count against the ones that did).
   */
  findRemedies(query: FindRemediesQuery): RememberedFix[] {
    const minSimilarity = query.minSimilarity ?? 0.5;
    const rows = this.db
      .prepare(`SELECT * FROM remedies WHERE failure_class = ? AND family = ? ORDER BY recorded_at DESC, experiment_id LIMIT ?`)
      .all(query.failureClass, query.family, REMEDY_SCAN) as RemedySqlRow[];
    const similarityOf = new Map<string, number>();
    const traitsOf = this.db.prepare(`SELECT traits FROM data_sets WHERE data_fingerprint = ?`);
    const similarity = (fingerprint: string): number => {
      let s = similarityOf.get(fingerprint);
      if (s === undefined) {
        if (fingerprint === query.dataFingerprint) s = 1;
        else {
          const row = traitsOf.get(fingerprint) as { traits: string } | undefined;
          s = query.dataTraits && row ? dataSimilarity(query.dataTraits, safeJson<DataTraits>(row.traits)) : 0;
        }
        similarityOf.set(fingerprint, s);
      }
      return s;
    };
    const groups = new Map<string, { worked: RemedySqlRow[]; failed: number; best?: RemedySqlRow; bestSimilarity: number }>();
    for (const row of rows) {
      const s = similarity(row.data_fingerprint);
      if (s < minSimilarity) continue;
      const group = groups.get(row.change_key) ?? { worked: [], failed: 0, bestSimilarity: -1 };
      groups.set(row.change_key, group);
      if (row.outcome === 'failed') {
        group.failed++;
        continue;
      }
      group.worked.push(row);
      // Rows come newest first: the first at the highest similarity is the most similar, most recent.
      if (s > group.bestSimilarity) {
        group.best = row;
        group.bestSimilarity = s;
      }
    }
    const candidates: RemedyCandidate[] = [];
    for (const [key, group] of groups) {
      const best = group.best;
      if (!best) continue;
      const changes = RemedyChanges.safeParse(safeJson(best.changes));
      if (!changes.success) continue;
      candidates.push({
        key,
        recordedAt: best.recorded_at,
        fix: {
          failureClass: query.failureClass,
          family: query.family,
          changes: changes.data,
          fromExperiment: best.experiment_id,
          ...(best.campaign_id === null ? {} : { fromCampaign: best.campaign_id }),
          dataFingerprint: best.data_fingerprint,
          similarity: group.bestSimilarity,
          worked: group.worked.length,
          failed: group.failed,
          attempts: Math.max(2, best.attempts),
        },
      });
    }
    return rankRemedies(candidates)
      .slice(0, Math.max(0, query.limit ?? 10))
      .map((c) => c.fix);
  }

  /** The one fix triage offers: the best of findRemedies, when it worked more often than it failed. */
  rememberedFix(query: FindRemediesQuery): RememberedFix | undefined {
    const best = this.findRemedies({ ...query, limit: 1 })[0];
    return best && best.worked > best.failed ? best : undefined;
  }

  /** Recorded remedies, newest first (for reports and tests). */
  listRemedies(limit = 1000): (Omit<Remedy, 'failingConfig' | 'fixedConfig'> & { recordedAt: string })[] {
    const rows = this.db
      .prepare(`SELECT * FROM remedies ORDER BY recorded_at DESC, experiment_id, from_attempt LIMIT ?`)
      .all(limit) as RemedySqlRow[];
    return rows.map((r) => ({
      experimentId: r.experiment_id,
      campaignId: opt(r.campaign_id),
      fromAttempt: r.from_attempt,
      toAttempt: r.to_attempt,
      failureClass: r.failure_class as FailureClass,
      family: r.family as ModelConfig['family'],
      outcome: r.outcome,
      changes: safeJson<RemedyChanges>(r.changes) ?? {},
      attempts: r.attempts,
      dataFingerprint: r.data_fingerprint,
      recordedAt: r.recorded_at,
    }));
  }

  /**
   * Remembers the traits of a data set (also done by recordExperiment when it is given traits), merged into what is
   * already known: describing the data, the research step and every experiment each add what they measured.
   */
  recordDataTraits(dataFingerprint: string, traits: DataTraits): void {
    writingInsights(this.db.name, () => this.db.transaction(() => this.writeTraits(dataFingerprint, traits)).immediate());
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
   * What past full runs took, for the cost model (agents/cost-model.ts): succeeded runs with a training time, on data
   * whose training rows are known (the data's traits), same data first, then similar data (as findInsights ranks it),
   * newest first within one data set. The database keeps full runs only (probes are not recorded), so a run read the
   * data's rows.
   */
  measuredCosts(query: FindInsightsQuery): MeasuredCost[] {
    const limit = Math.max(0, query.limit ?? 100);
    const minSimilarity = query.minSimilarity ?? 0.2;
    const traitsOf = this.db.prepare(`SELECT data_fingerprint, traits FROM data_sets`).all() as { data_fingerprint: string; traits: string }[];
    const dataSets: { fingerprint: string; similarity: number; traits: DataTraits }[] = [];
    for (const row of traitsOf) {
      const traits = safeJson<DataTraits>(row.traits);
      if (!traits?.rows || traits.rows <= 0) continue;
      const same = row.data_fingerprint === query.dataFingerprint;
      const similarity = same ? 1 : query.dataTraits ? dataSimilarity(query.dataTraits, traits) : 0;
      if (same || similarity >= minSimilarity) dataSets.push({ fingerprint: row.data_fingerprint, similarity, traits });
    }
    dataSets.sort((a, b) => b.similarity - a.similarity || a.fingerprint.localeCompare(b.fingerprint));
    const select = this.db.prepare(
      `SELECT experiment_id, config, train_seconds FROM experiments
        WHERE data_fingerprint = ? AND status = 'succeeded' AND train_seconds > 0
        ORDER BY recorded_at DESC, experiment_id LIMIT ?`,
    );
    const out: MeasuredCost[] = [];
    for (const { fingerprint, similarity, traits } of dataSets) {
      if (out.length >= limit) break;
      const fields = (traits.categoricalFields ?? 0) + (traits.denseFields ?? 0);
      for (const sql of select.all(fingerprint, limit - out.length) as Pick<SqlRow, 'experiment_id' | 'config' | 'train_seconds'>[]) {
        const config = ModelConfig.safeParse(safeJson(sql.config));
        if (!config.success) continue;
        out.push({
          experimentId: sql.experiment_id,
          config: config.data,
          rows: Math.round(traits.rows!),
          ...(fields > 0 ? { fields } : {}),
          seconds: sql.train_seconds,
          similarity,
        });
      }
    }
    return out;
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
