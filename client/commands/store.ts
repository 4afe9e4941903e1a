import { formatBytes } from '../../store/format-bytes';
import { rankwrightHome } from '../../store/home';
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
  /** The steps to run (default MIGRATION_STEPS); tests pass their own. */
  steps?: MigrationStep[];
}

/**
 * `rankwright store migrate --to s3://bucket/prefix [--json]`: copies a local home's artifacts into a shared store
 * (and whatever else MIGRATION_STEPS lists), then prints what each step copied and skipped. Idempotent: run it again
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
    for (const step of opts.steps ?? MIGRATION_STEPS) {
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
      io.out(
        `${r.step}: copied ${r.copied.count} (${formatBytes(r.copied.bytes)}), already there ${r.skipped.count} (${formatBytes(r.skipped.bytes)}), failed ${r.failed.length}`,
      );
      for (const f of r.failed) io.err(`  ${f.item}: ${f.error}`);
    }
  return failed > 0 ? 1 : 0;
}
