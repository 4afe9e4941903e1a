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
 * The run's home goes when the run ends: its artifacts and checkpoints take gigabytes (full-size tables), and runs
 * that left them behind filled a disk. RANKWRIGHT_TEST_KEEP_HOME keeps it for a post-mortem.
 */
export const mochaHooks = {
  afterAll(): void {
    if (home) fs.rmSync(home, { recursive: true, force: true });
  },
};
// Sub-agents use their heuristic twins unless a test points them at its own OpenAI-protocol server.
delete process.env.OPENAI_API_KEY;
delete process.env.OPENAI_BASE_URL;
// The insights database is the run's own SQLite file unless a test points RANKWRIGHT_DATABASE_URL at its own database.
delete process.env.RANKWRIGHT_DATABASE_URL;
// Artifacts stay in the run's home unless a test points RANKWRIGHT_STORE at its own prefix of the dev MinIO.
delete process.env.RANKWRIGHT_STORE;
