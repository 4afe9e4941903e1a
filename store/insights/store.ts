import { canonicalConfigKey } from '../../contracts/canonical-config';
import { storedModelConfig } from '../../contracts/stored-config';
import { ExperimentResult, FailureClass, Insight, ModelConfig, RemedyChanges, type MeasuredCost, type RememberedFix } from '../../contracts';
import type { InsightsDatabase, SqlReads, SqlValue, SqlWrite } from './database';
import { openInsightsDatabase } from './open-database';
import { changeKey, rankRemedies, remediesOf, type Remedy, type RemedyCandidate } from './remedies';
import { migrate, type RemedySqlRow, type SqlRow } from './schema';
import { dataSimilarity, experimentOutcome, mergeTraits, type DataTraits, type ExperimentOutcome } from './traits';

/**
 * The insights database: every experiment of every campaign, so the hypothesis designer can start from what
 * already won or lost (on the same data first, then on similar data) and the planner never pays twice for a
 * config that is already known. This file is the reads and writes, in SQL that SQLite and PostgreSQL both run; the
 * schema is in schema.ts, the two databases behind one interface in database.ts (where a fleet's workers writing at
 * the same time is handled), and how outcomes and data similarity are judged is in traits.ts.
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

export class InsightsStore {
  private constructor(private readonly db: InsightsDatabase) {}

  /**
   * Opens the insights database, creating and migrating it when needed: `location` (a SQLite file or a postgres://
   * URL) when given, else RANKWRIGHT_DATABASE_URL, else `${RANKWRIGHT_HOME}/insights.sqlite` (see database-url.ts).
   */
  static async open(location?: string): Promise<InsightsStore> {
    const db = await openInsightsDatabase(location);
    try {
      await migrate(db);
    } catch (err) {
      await db.close();
      throw err;
    }
    return new InsightsStore(db);
  }

  /** Where the insights live, for messages: a file, or the database URL without its password. */
  get location(): string {
    return this.db.location;
  }

  /** Records (or re-records) one experiment. Idempotent by experimentId: a retried activity updates the same row. */
  async recordExperiment(result: RecordedExperiment): Promise<void> {
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
    await this.db.write(async (tx) => {
      await tx.run(upsert('experiments', row, ['experiment_id'], ['recorded_at']), Object.values(row));
      if (result.dataTraits) await writeTraits(tx, result.dataFingerprint, result.dataTraits);
      await writeRemedies(tx, remediesOf(parsed), row.recorded_at, result.dataTraits);
    });
  }

  /**
   * The fixes that worked for this failure class and model family, best first (see rankRemedies): from the same data
   * first, then from similar data. Each groups the remedies that set the same changes (changeKey): how often they
   * worked and failed, and the most similar, most recent experiment where they worked. Fixes that never worked are
   * not returned (they only count against the ones that did).
   */
  async findRemedies(query: FindRemediesQuery): Promise<RememberedFix[]> {
    const minSimilarity = query.minSimilarity ?? 0.5;
    const rows = await this.db.all<RemedySqlRow>(
      `SELECT * FROM remedies WHERE failure_class = ? AND family = ? ORDER BY recorded_at DESC, experiment_id LIMIT ?`,
      [query.failureClass, query.family, REMEDY_SCAN],
    );
    const similarityOf = new Map<string, number>();
    const similarity = async (fingerprint: string): Promise<number> => {
      let s = similarityOf.get(fingerprint);
      if (s === undefined) {
        if (fingerprint === query.dataFingerprint) s = 1;
        else {
          const traits = query.dataTraits ? await readTraits(this.db, fingerprint) : undefined;
          s = query.dataTraits && traits ? dataSimilarity(query.dataTraits, traits) : 0;
        }
        similarityOf.set(fingerprint, s);
      }
      return s;
    };
    const groups = new Map<string, { worked: RemedySqlRow[]; failed: number; best?: RemedySqlRow; bestSimilarity: number }>();
    for (const row of rows) {
      const s = await similarity(row.data_fingerprint);
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
  async rememberedFix(query: FindRemediesQuery): Promise<RememberedFix | undefined> {
    const best = (await this.findRemedies({ ...query, limit: 1 }))[0];
    return best && best.worked > best.failed ? best : undefined;
  }

  /** Recorded remedies, newest first (for reports and tests). */
  async listRemedies(limit = 1000): Promise<(Omit<Remedy, 'failingConfig' | 'fixedConfig'> & { recordedAt: string })[]> {
    const rows = await this.db.all<RemedySqlRow>(`SELECT * FROM remedies ORDER BY recorded_at DESC, experiment_id, from_attempt LIMIT ?`, [limit]);
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
  async recordDataTraits(dataFingerprint: string, traits: DataTraits): Promise<void> {
    await this.db.write((tx) => writeTraits(tx, dataFingerprint, traits));
  }

  /** What is known about a data set, or undefined when nothing was recorded for it. */
  dataTraits(dataFingerprint: string): Promise<DataTraits | undefined> {
    return readTraits(this.db, dataFingerprint);
  }

  /**
   * Past experiments for a campaign's hypothesis designer: those on the same data first (similarity 1), then
   * those on other data, most similar first; within one data set the most recent first.
   */
  async findInsights(query: FindInsightsQuery): Promise<Insight[]> {
    const limit = Math.max(0, query.limit ?? 50);
    const minSimilarity = query.minSimilarity ?? 0.2;
    const dataSets: { fingerprint: string; similarity: number }[] = [{ fingerprint: query.dataFingerprint, similarity: 1 }];
    if (query.dataTraits) {
      const others = await this.db.all<{ data_fingerprint: string; traits: string }>(
        `SELECT data_fingerprint, traits FROM data_sets WHERE data_fingerprint <> ?`,
        [query.dataFingerprint],
      );
      for (const other of others) {
        const similarity = dataSimilarity(query.dataTraits, safeJson<DataTraits>(other.traits));
        if (similarity >= minSimilarity) dataSets.push({ fingerprint: other.data_fingerprint, similarity });
      }
      dataSets.sort((a, b) => b.similarity - a.similarity || a.fingerprint.localeCompare(b.fingerprint));
    }
    const insights: Insight[] = [];
    for (const { fingerprint, similarity } of dataSets) {
      if (insights.length >= limit) break;
      const rows = await this.db.all<SqlRow>(
        `SELECT * FROM experiments WHERE data_fingerprint = ? ORDER BY recorded_at DESC, experiment_id LIMIT ?`,
        [fingerprint, limit - insights.length],
      );
      for (const sql of rows) {
        // A row written under an older model schema that no longer parses is history, not advice: skip it.
        const config = ModelConfig.safeParse(storedModelConfig(safeJson(sql.config)));
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
  async measuredCosts(query: FindInsightsQuery): Promise<MeasuredCost[]> {
    const limit = Math.max(0, query.limit ?? 100);
    const minSimilarity = query.minSimilarity ?? 0.2;
    const traitsOf = await this.db.all<{ data_fingerprint: string; traits: string }>(`SELECT data_fingerprint, traits FROM data_sets`);
    const dataSets: { fingerprint: string; similarity: number; traits: DataTraits }[] = [];
    for (const row of traitsOf) {
      const traits = safeJson<DataTraits>(row.traits);
      if (!traits?.rows || traits.rows <= 0) continue;
      const same = row.data_fingerprint === query.dataFingerprint;
      const similarity = same ? 1 : query.dataTraits ? dataSimilarity(query.dataTraits, traits) : 0;
      if (same || similarity >= minSimilarity) dataSets.push({ fingerprint: row.data_fingerprint, similarity, traits });
    }
    dataSets.sort((a, b) => b.similarity - a.similarity || a.fingerprint.localeCompare(b.fingerprint));
    const out: MeasuredCost[] = [];
    for (const { fingerprint, similarity, traits } of dataSets) {
      if (out.length >= limit) break;
      const fields = (traits.categoricalFields ?? 0) + (traits.denseFields ?? 0);
      const rows = await this.db.all<Pick<SqlRow, 'experiment_id' | 'config' | 'train_seconds'>>(
        `SELECT experiment_id, config, train_seconds FROM experiments
          WHERE data_fingerprint = ? AND status = 'succeeded' AND train_seconds > 0
          ORDER BY recorded_at DESC, experiment_id LIMIT ?`,
        [fingerprint, limit - out.length],
      );
      for (const sql of rows) {
        const config = ModelConfig.safeParse(storedModelConfig(safeJson(sql.config)));
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
  async isKnown(dataFingerprint: string, canonicalKey: string): Promise<boolean> {
    const placeholders = TRANSIENT_FAILURES.map(() => '?').join(', ');
    const hit = await this.db.get(
      `SELECT 1 AS hit FROM experiments WHERE data_fingerprint = ? AND canonical_key = ?
         AND (failure_class IS NULL OR failure_class NOT IN (${placeholders})) LIMIT 1`,
      [dataFingerprint, canonicalKey, ...TRANSIENT_FAILURES],
    );
    return hit !== undefined;
  }

  /** Recorded experiments, newest first. */
  async list(filter: { campaignId?: string; limit?: number } = {}): Promise<ExperimentRow[]> {
    const limit = Math.max(0, filter.limit ?? 1000);
    const rows =
      filter.campaignId === undefined
        ? await this.db.all<SqlRow>(`SELECT * FROM experiments ORDER BY recorded_at DESC, experiment_id LIMIT ?`, [limit])
        : await this.db.all<SqlRow>(`SELECT * FROM experiments WHERE campaign_id = ? ORDER BY recorded_at DESC, experiment_id LIMIT ?`, [
            filter.campaignId,
            limit,
          ]);
    return rows.map(toExperimentRow);
  }

  /** Per family and technique: how often it ran, won, lost, stayed neutral or failed, and its best NE change. */
  async summary(): Promise<TechniqueSummary[]> {
    // CASE rather than SUM(outcome = 'won'): PostgreSQL does not sum booleans. Aliases are snake_case because
    // PostgreSQL folds unquoted names to lower case.
    const rows = await this.db.all<{
      family: string;
      technique: string | null;
      experiments: number;
      won: number;
      lost: number;
      neutral: number;
      failed: number;
      best_relative_ne_change: number | null;
    }>(
      `SELECT family, technique, COUNT(*) AS experiments,
              SUM(CASE WHEN outcome = 'won' THEN 1 ELSE 0 END) AS won,
              SUM(CASE WHEN outcome = 'lost' THEN 1 ELSE 0 END) AS lost,
              SUM(CASE WHEN outcome = 'neutral' THEN 1 ELSE 0 END) AS neutral,
              SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
              MIN(relative_ne_change) AS best_relative_ne_change
         FROM experiments GROUP BY family, technique ORDER BY family, won DESC, technique`,
    );
    return rows.map(({ best_relative_ne_change, ...r }) => ({ ...r, bestRelativeNeChange: best_relative_ne_change ?? null }));
  }

  /** Number of recorded experiments (all campaigns). */
  async count(): Promise<number> {
    return (await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM experiments`))!.n;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/**
 * The SQL of an idempotent write: INSERT the row, or on a conflicting key UPDATE every column but the key and those
 * `kept` (a re-record keeps the first recording time). Both dialects read `excluded` as the row that was refused.
 */
function upsert(table: string, row: Record<string, SqlValue>, key: string[], kept: string[] = []): string {
  const columns = Object.keys(row);
  const updates = columns.filter((c) => !key.includes(c) && !kept.includes(c)).map((c) => `${c} = excluded.${c}`);
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})
          ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${updates.join(', ')}`;
}

function readTraits(db: SqlReads, dataFingerprint: string): Promise<DataTraits | undefined> {
  return db
    .get<{ traits: string }>(`SELECT traits FROM data_sets WHERE data_fingerprint = ?`, [dataFingerprint])
    .then((row) => (row ? safeJson<DataTraits>(row.traits) : undefined));
}

/** Inside a write: read, merge, write (the write lock keeps two writers' traits both). */
async function writeTraits(tx: SqlWrite, dataFingerprint: string, traits: DataTraits): Promise<void> {
  const merged = mergeTraits(await readTraits(tx, dataFingerprint), traits);
  const row = { data_fingerprint: dataFingerprint, traits: JSON.stringify(merged) };
  await tx.run(upsert('data_sets', row, ['data_fingerprint']), Object.values(row));
}

/**
 * Inside a write: the experiment's remedies (see remediesOf), idempotent by experiment and attempts. A remedy whose
 * data is unknown is left out: it could be looked up for no data. The data's traits are remembered for a remedy's
 * fingerprint too (a failed run's result carries none, its failure reports do).
 */
async function writeRemedies(tx: SqlWrite, remedies: Remedy[], recordedAt: string, traits: DataTraits | undefined): Promise<void> {
  const described = new Set<string>();
  for (const remedy of remedies) {
    if (!remedy.dataFingerprint || remedy.dataFingerprint === 'unknown') continue;
    const c = remedy.changes;
    const row: Record<keyof RemedySqlRow, SqlValue> = {
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
    };
    // The first recording time stays, as for experiments.
    await tx.run(upsert('remedies', row, ['experiment_id', 'from_attempt', 'to_attempt'], ['recorded_at']), Object.values(row));
    if (traits && !described.has(remedy.dataFingerprint)) {
      described.add(remedy.dataFingerprint);
      await writeTraits(tx, remedy.dataFingerprint, traits);
    }
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
