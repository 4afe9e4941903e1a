import { formatBytes } from '../../store/format-bytes';
import { rankwrightHome } from '../../store/home';
import { insightsLocation } from '../../store/insights/database-url';
import { databaseMigrationStep } from '../../store/migrate-database';
import { openStoreUrl, type S3ObjectStore } from '../../store/object-store';
import { MIGRATION_STEPS, type MigrationStep, type StepResult } from '../../store/object-store/migrate-home';
import type { CommandOutput } from './insights';

const console_: CommandOutput = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

export interface StoreMigrateOptions {
  /** `s3://bucket/prefix`; the endpoint and credentials come from the environment (AWS_*). */
  to: string;
  json: boolean;
  /** The home to copy from (default RANKWRIGHT_HOME). */
  home?: string;
  /**
   * The steps to run (default: the artifacts and row caches, then the events and insights when RANKWRIGHT_DATABASE_URL names a
   * PostgreSQL database); tests pass their own.
   */
  steps?: MigrationStep[];
}

/**
 * What `store migrate` copies: the artifacts and row caches, and the events and insights when the fleet's database is set (read from
 * the environment like every database URL, never from the command line, where other users' `ps` would see it).
 */
function defaultSteps(io: CommandOutput, json: boolean): MigrationStep[] {
  const location = insightsLocation();
  if (location.kind === 'postgres') return [...MIGRATION_STEPS, databaseMigrationStep(location.url)];
  if (!json) io.err('events and insights stay in the home: set RANKWRIGHT_DATABASE_URL=postgres://… to move them into the fleet’s database too');
  return MIGRATION_STEPS;
}

/**
 * `rankwright store migrate --to s3://bucket/prefix [--json]`: copies a local home's artifacts and row caches into a
 * shared store (and its events and insights into the fleet's database, see defaultSteps), then prints what each step copied and skipped. Idempotent: run it again
 * and it copies nothing. Exit codes: 0 done, 1 something could not be copied or the store could not be reached, 2 a
 * bad --to (the message says which part is wrong, and never echoes a credential).
 */
export async function runStoreMigrate(opts: StoreMigrateOptions, io: CommandOutput = console_): Promise<number> {
  let to: S3ObjectStore;
  try {
    to = openStoreUrl(opts.to);
  } catch (err) {
    io.err(`error: ${(err as Error).message}`);
    return 2;
  }
  const home = opts.home ?? rankwrightHome();
  const results: StepResult[] = [];
  try {
    await to.check();
    for (const step of opts.steps ?? defaultSteps(io, opts.json)) {
      if (!opts.json) io.err(`${step.name}: copying from ${home} to ${to.description}…`);
      results.push(await step.run({ home, to }));
    }
  } catch (err) {
    io.err(`error: ${(err as Error).message}`);
    return 1;
  } finally {
    to.close();
  }
  const failed = results.reduce((n, r) => n + r.failed.length, 0);
  if (opts.json) io.out(JSON.stringify({ from: home, to: to.description, steps: results }, null, 2));
  else
    for (const r of results) {
      const left = r.leftInHome ? `, left in the home ${r.leftInHome.length}` : '';
      io.out(
        `${r.step}: copied ${r.copied.count} (${formatBytes(r.copied.bytes)}), already there ${r.skipped.count} (${formatBytes(r.skipped.bytes)})${left}, failed ${r.failed.length}`,
      );
      for (const l of r.leftInHome ?? []) io.err(`  ${l.item}: left in the home: ${l.reason}`);
      for (const f of r.failed) io.err(`  ${f.item}: ${f.error}`);
    }
  return failed > 0 ? 1 : 0;
}
