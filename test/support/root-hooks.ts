import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Every test run writes into its own RANKWRIGHT_HOME so runs never see each other's artifacts or insights.
 * Tests that need Temporal call `useTemporal()` from ./temporal.ts, which starts the dev server on demand.
 */
const home = process.env.RANKWRIGHT_TEST_KEEP_HOME ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-test-'));
if (home) process.env.RANKWRIGHT_HOME = home;
/**
 * Every temporary folder the run makes — a test's own (os.tmpdir() reads TMPDIR at each call) or one a process it starts
 * makes — goes under the run's temporary folder, which goes when the run ends: tests that wrote 400 MB files and never
 * removed them left ~800 MB in /tmp per run.
 */
const tmp = home ? fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-test-tmp-')) : undefined;
if (tmp) {
  // The development servers a run starts outlive it: they keep the system's (test/support/temporal.ts devServicesEnv).
  process.env.RANKWRIGHT_TEST_SYSTEM_TMPDIR = os.tmpdir();
  process.env.TMPDIR = tmp;
}

/**
 * The run's home goes when the run ends: its artifacts and checkpoints take gigabytes (full-size tables), and runs
 * that left them behind filled a disk. RANKWRIGHT_TEST_KEEP_HOME keeps it for a post-mortem.
 */
export const mochaHooks = {
  afterAll(): void {
    for (const dir of [home, tmp]) {
      if (!dir) continue;
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch (err) {
        // A folder still in use (a mount a test could not unmount) is left for the operator, not a failed run.
        process.stderr.write(`test run: could not remove ${dir}: ${(err as Error).message}\n`);
      }
    }
  },
};
// Sub-agents use their heuristic twins unless a test points them at its own OpenAI-protocol server.
delete process.env.OPENAI_API_KEY;
delete process.env.OPENAI_BASE_URL;
// The insights database is the run's own SQLite file unless a test points RANKWRIGHT_DATABASE_URL at its own database.
delete process.env.RANKWRIGHT_DATABASE_URL;
// Artifacts stay in the run's home unless a test points RANKWRIGHT_STORE at its own prefix of the dev MinIO.
delete process.env.RANKWRIGHT_STORE;
