import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { z } from 'zod';
import { describeIssues } from '../contracts';
import { rankwrightHome } from '../store/home';

/**
 * Things a worker's owner configures by name in a JSON file — promotion hooks (hooks.json), external trainers
 * (trainers.json) — so that whoever starts a campaign picks one by name and can never make the worker run a program
 * or call a URL of their own. The file is read on every use: an owner can add an entry without restarting workers.
 */
export interface NamedConfigFile<T> {
  /** What the entries are, for messages: "onApprove hook", "trainer". */
  what: string;
  /** The environment variable that names the file, and the file's name under RANKWRIGHT_HOME otherwise. */
  envVar: string;
  defaultName: string;
  entries: z.ZodType<Record<string, T>>;
  /** ApplicationFailure type of a missing file, bad file or unknown name (non-retryable: a retry can't fix it). */
  errorType: string;
}

export function namedConfigPath(config: Pick<NamedConfigFile<unknown>, 'envVar' | 'defaultName'>, env: NodeJS.ProcessEnv = process.env): string {
  return env[config.envVar]?.trim() || path.join(rankwrightHome(env), config.defaultName);
}

/** The named entry of a worker's config file; a missing file, an invalid file or an unknown name fails non-retryably. */
export function namedEntry<T>(config: NamedConfigFile<T>, name: string): T {
  const file = namedConfigPath(config);
  const fail = (message: string) => ApplicationFailure.create({ type: config.errorType, nonRetryable: true, message });
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw fail(`${config.what} "${name}": the worker's file ${file} could not be read (${why}); set ${config.envVar}`);
  }
  const parsed = config.entries.safeParse(raw);
  if (!parsed.success) throw fail(`${file}: ${describeIssues(parsed.error).join('; ')}`);
  const entry = parsed.data[name];
  if (!entry) {
    const known = Object.keys(parsed.data);
    throw fail(`${config.what} "${name}" is not configured on this worker (${file} has ${known.length ? known.join(', ') : 'none'})`);
  }
  return entry;
}
