/**
 * The insights database's public names (importers use `store/insights`): the store itself (store.ts), how
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
/** The identity of a config for "was this already tried?" — one definition, shared with the designers. */
export { canonicalConfigKey } from '../../contracts/canonical-config';
