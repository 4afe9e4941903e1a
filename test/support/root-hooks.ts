import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Every test run writes into its own RANKWRIGHT_HOME so runs never see each other's artifacts or insights.
 * Tests that need Temporal call `useTemporal()` from ./temporal.ts, which starts the dev server on demand.
 */
if (!process.env.RANKWRIGHT_TEST_KEEP_HOME) {
  process.env.RANKWRIGHT_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-test-'));
}
// Sub-agents use their heuristic twins unless a test points them at its own OpenAI-protocol server.
delete process.env.OPENAI_API_KEY;
delete process.env.OPENAI_BASE_URL;
