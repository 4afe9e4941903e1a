import * as os from 'node:os';
import * as path from 'node:path';

/** The system's temporary folder: a test run's own (root-hooks.ts) goes when the run ends. */
export const SYSTEM_TMPDIR = process.env.RANKWRIGHT_TEST_SYSTEM_TMPDIR ?? os.tmpdir();

/**
 * The environment of a development server a test starts (temporal-dev.sh, services-dev.sh): the server outlives the
 * test run, so it keeps the checkout's home and the system's temporary folder, not the run's.
 */
export function devServicesEnv(): NodeJS.ProcessEnv {
  return { ...process.env, RANKWRIGHT_HOME: path.resolve(__dirname, '../../.rankwright'), TMPDIR: SYSTEM_TMPDIR };
}
