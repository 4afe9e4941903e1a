import type { InsightsDatabase } from './database';
import { insightsLocation } from './database-url';
import { PostgresInsightsDatabase } from './postgres-database';
import { SqliteInsightsDatabase } from './sqlite-database';

/**
 * Connects to the insights database `location` names (a SQLite file or a postgres:// URL; by default
 * RANKWRIGHT_DATABASE_URL, else the home's SQLite file), without migrating it: InsightsStore.open does that.
 */
export async function openInsightsDatabase(location?: string): Promise<InsightsDatabase> {
  const where = insightsLocation(location);
  return where.kind === 'postgres' ? PostgresInsightsDatabase.open(where.url) : SqliteInsightsDatabase.open(where.file);
}
