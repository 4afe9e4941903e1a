/**
 * The insights database's public names (importers use `store/insights`): the store itself (store.ts), where it lives
 * (database-url.ts: SQLite in the home, or RANKWRIGHT_DATABASE_URL's PostgreSQL), how
 * experiments and data sets are described and compared (traits.ts), which retries fixed which failures
 * (remedies.ts), and the schema version (schema.ts).
 */
export {
  InsightsStore,
  type ExperimentRow,
  type FindInsightsQuery,
  type FindRemediesQuery,
  type RecordedExperiment,
  type TechniqueSummary,
} from './store';
export { changeKey, remediesOf, remedyChanges, RUNBOOK_KNOBS, type Remedy } from './remedies';
export { dataSimilarity, dataTraitsOf, experimentOutcome, mergeTraits, type DataTraits, type ExperimentOutcome } from './traits';
export { INSIGHTS_SCHEMA_VERSION } from './schema';
export { insightsLocation, redactedDatabaseUrl, type InsightsLocation } from './database-url';
export { openInsightsDatabase } from './open-database';
export type { InsightsDatabase } from './database';
/** The identity of a config for "was this already tried?" — one definition, shared with the designers. */
export { canonicalConfigKey } from '../../contracts/canonical-config';
