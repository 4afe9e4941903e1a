import { strict as assert } from 'node:assert';
import type { Locator, Page } from 'playwright-core';
import type { CampaignInputRaw, CampaignStatus } from '../contracts';
import { SIGNALS, TASK_QUEUES, WORKFLOW_TYPES } from '../contracts';
import { RankwrightClient } from '../client/rankwright-client';
import { fillCodeEditor, launchBrowser, requireChromium, type HeadlessBrowser } from './support/browser';
import { scriptedActivities } from './support/scripted-activities';
import { useTemporal, type TemporalForTests } from './support/temporal';
import { eventually, withWorkers } from './support/workers';

/** The Web UI the dev server serves (temporal-dev.sh: --ui-port, default 8233). */
const UI = `http://localhost:${process.env.TEMPORAL_UI_PORT ?? '8233'}`;

/**
 * The path a person without our CLI takes: the real Temporal Web UI (2.42.1, served by the dev server of CLI 1.5.1),
 * driven by headless Chromium. Campaigns must be startable from its "Start Workflow" form with ONE JSON object and
 * approvable through its signal form — that is why the workflow takes one argument and has sign-off signals.
 *
 * Selectors: the form fields have stable test ids in this UI version (workflowId, taskQueue, workflowType,
 * signal-name, signal-confirmation-modal); buttons and menu items are found by their role and visible name; the JSON
 * inputs are CodeMirror editors found under their dialog/form.
 */
describe('Temporal Web UI: start a campaign from the form and approve it with the signal form', function () {
  this.timeout(120_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let browser: HeadlessBrowser | undefined;

  before(async () => {
    await requireChromium(); // fail at once, saying which Chromium was tried, rather than after starting Temporal
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    // The UI's own settings say whether it lets people start workflows and send signals; say so plainly if not.
    const settings = (await (await fetch(`${UI}/api/v1/settings`)).json()) as Record<string, unknown>;
    assert.equal(settings.StartWorkflowDisabled, false, 'the Web UI must allow starting workflows');
    assert.equal(settings.WorkflowSignalDisabled, false, 'the Web UI must allow signals');
    browser = await launchBrowser();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      const file = await browser.screenshot('web-ui-failure');
      if (file) console.error(`    screenshot of the failing page: ${file}`);
    }
  });

  after(async () => browser?.close());

  it('starts rankingCampaign from "Start Workflow", reaches awaiting-review, and completes approved via the approve signal', async () => {
    const page = browser!.page;
    const ns = temporal.namespace;
    const workflowId = `ui-${Date.now().toString(36)}`;
    const config: CampaignInputRaw = { data: { planted: { seed: 5 } }, budget: { experiments: 2 }, approvers: ['ana', 'bo'] };
    const script = scriptedActivities();

    await withWorkers(temporal, script.activities, async () => {
      // ── start from the UI's form ─────────────────────────────────────────────────────────────────
      await startFromForm(page, temporal, workflowId, config);

      // The UI sent exactly what the form held: one JSON object, which the workflow parsed (no InvalidInput failure).
      const review = await eventually(
        async () => {
          const s = await client.status(workflowId).catch(() => undefined);
          return s?.reviewState === 'awaiting-review' ? s : undefined;
        },
        60_000,
        `${workflowId} to reach awaiting-review`,
      );
      assert.equal(review.campaignId, workflowId);
      assert.ok(review.recommendation, 'a recommendation is waiting for sign-off');
      const described = await temporal.client.workflow.getHandle(workflowId).describe();
      assert.equal(described.type, WORKFLOW_TYPES.campaign);
      assert.equal(described.taskQueue, TASK_QUEUES.agent);

      // ── what a reviewer sees while the campaign waits: search attribute and live status query ─────
      await page.goto(`${UI}/namespaces/${ns}/workflows/${workflowId}`);
      await page.getByRole('tab', { name: 'Search Attributes' }).click();
      assert.match(await jsonLine(page, '"ReviewState"'), /"ReviewState": "awaiting-review"/);
      await page.getByRole('tab', { name: 'Queries' }).click();
      // The query picker lists the workflow's queries and preselects the first one the workflow defines: status.
      assert.equal((await page.getByTestId('query-select').inputValue()).trim(), 'status');
      await page.getByRole('button', { name: 'Run Query' }).click();
      assert.match(await jsonLine(page, '"reviewState"'), /"reviewState": "awaiting-review"/);

      // ── approve through the UI's signal form ─────────────────────────────────────────────────────
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
      const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
      await dialog.waitFor({ state: 'visible' });
      const offered = await chooseSignal(dialog, SIGNALS.approve);
      // The UI learnt our sign-off signals from the workflow's own definitions (a worker is polling).
      for (const s of [SIGNALS.approve, SIGNALS.reject, SIGNALS.override, SIGNALS.abort])
        assert.ok(offered.includes(s), `the signal picker offers ${s}: ${offered.join(', ')}`);
      await fillCodeEditor(dialog, JSON.stringify({ by: 'bo', note: 'approved from the Web UI' }));
      await dialog.getByRole('button', { name: 'Submit' }).click();

      const result: CampaignStatus = await eventually(
        async () => {
          const d = await temporal.client.workflow.getHandle(workflowId).describe();
          return d.status.name === 'COMPLETED' ? client.waitForResult(workflowId) : undefined;
        },
        30_000,
        `${workflowId} to complete after the UI signal`,
      );
      assert.equal(result.reviewState, 'approved');
      assert.equal(result.decisions.length, 1);
      assert.deepEqual(
        { kind: result.decisions[0].kind, by: result.decisions[0].by, note: result.decisions[0].note, via: result.decisions[0].via },
        { kind: 'approve', by: 'bo', note: 'approved from the Web UI', via: 'signal' },
      );

      // ── what a reviewer sees in the UI afterwards ────────────────────────────────────────────────
      await page.goto(`${UI}/namespaces/${ns}/workflows/${workflowId}`);
      await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 15_000 });
      // The Result panel shows the workflow's result, the final status.
      assert.match(await jsonLine(page, '"reviewState"'), /"reviewState": "approved"/);
    });
  });

  it('refuses a start whose form input carries a forged campaign past (carryOver): the run fails at its first line', async () => {
    const page = browser!.page;
    const workflowId = `ui-forged-${Date.now().toString(36)}`;
    const forged = {
      fromRunId: 'x',
      experiments: [],
      plan: { phaseIndex: 3 },
      decisions: [],
      ignoredMessages: [],
      paused: false,
      dataFingerprint: 'fp',
      activeFields: [],
      generation: 1,
    };
    const config = { data: { planted: { seed: 5 } }, budget: { experiments: 2 }, approvers: ['ana'], carryOver: forged };
    const script = scriptedActivities();
    await withWorkers(temporal, script.activities, async () => {
      await startFromForm(page, temporal, workflowId, config);
      const failed = await eventually(
        async () => {
          const d = await temporal.client.workflow.getHandle(workflowId).describe();
          return d.status.name === 'FAILED' ? d : undefined;
        },
        30_000,
        `${workflowId} to fail`,
      );
      assert.equal(failed.status.name, 'FAILED');
      const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
      const failure = history.events!.find((e) => e.workflowExecutionFailedEventAttributes)!.workflowExecutionFailedEventAttributes!.failure!;
      assert.match(failure.message!, /carryOver: a campaign's carried-over state is internal/);
      assert.equal(script.trained.length, 0, 'nothing was trained');
      // And the UI shows it as failed to whoever started it.
      await page.goto(`${UI}/namespaces/${temporal.namespace}/workflows/${workflowId}`);
      await page.getByText('Failed', { exact: true }).first().waitFor({ timeout: 15_000 });
    });
  });
});

/** Starts a workflow from the UI's "Start Workflow" form with one JSON input, as a person would. */
async function startFromForm(page: Page, temporal: TemporalForTests, workflowId: string, input: unknown): Promise<void> {
  await page.goto(`${UI}/namespaces/${temporal.namespace}/workflows/start-workflow`);
  await page.getByTestId('workflowId').fill(workflowId);
  await page.getByTestId('taskQueue').fill(TASK_QUEUES.agent);
  await page.getByTestId('workflowType').fill(WORKFLOW_TYPES.campaign);
  // The form's only code editor is its "Input" (one JSON payload, encoding json/plain by default).
  await fillCodeEditor(page.getByRole('main'), JSON.stringify(input));
  // Leaving the editor reformats the JSON and re-lays out the form (and the task-queue banner may appear), so
  // move focus away first and only then press the button, or the click can land where the button used to be.
  // Should a late layout shift (the task-queue banner loads asynchronously) still swallow a click, press again
  // — only while the workflow does not exist, so a second press can never start a second workflow.
  await page.getByTestId('workflowType').click();
  const start = page.getByRole('button', { name: 'Start Workflow', exact: true });
  for (let attempt = 1; ; attempt++) {
    await start.click();
    const toast = await page
      .getByText('Workflow started successfully')
      .waitFor({ timeout: 10_000 })
      .then(
        () => true,
        () => false,
      );
    // Only the UI can have started this id: its existence is proof enough, should the toast have been missed.
    const exists =
      toast ||
      (await temporal.client.workflow
        .getHandle(workflowId)
        .describe()
        .then(
          () => true,
          () => false,
        ));
    if (exists) return;
    assert.ok(attempt < 3, 'the Start Workflow button did not start the workflow');
  }
}

/**
 * Text of the first line of a JSON viewer (CodeMirror, class cm-line) containing `key`, waiting for it to appear
 * (queries and search attributes load asynchronously).
 */
async function jsonLine(page: Page, key: string): Promise<string> {
  const line = page.locator('.cm-line', { hasText: key }).first();
  await line.waitFor({ state: 'visible', timeout: 20_000 });
  return (await line.textContent()) ?? '';
}

/**
 * Picks the signal from the form's picker (test id signal-select-button) and returns the names it offered. With a
 * worker polling, this UI asks the workflow for its metadata (the SDK's built-in __temporal_workflow_metadata query)
 * and offers the signals the workflow defines; only without that answer does it fall back to a free-text field (test
 * id signal-name) — which here means the UI could not learn our signals, a failure, not something to work around.
 */
async function chooseSignal(dialog: Locator, name: string): Promise<string[]> {
  const picker = dialog.getByTestId('signal-select-button');
  const pickerShown = await picker.waitFor({ state: 'visible', timeout: 15_000 }).then(
    () => true,
    () => false,
  );
  const freeText = await dialog.getByTestId('signal-name').isVisible();
  assert.ok(
    pickerShown,
    `the Send a Signal form offers no signal picker${freeText ? ' (only a free-text name field)' : ''}: the Web UI did not learn the workflow's signals from its metadata query`,
  );
  await picker.click();
  const options = dialog.getByRole('option');
  await options.first().waitFor({ state: 'visible' });
  const offered = (await options.allTextContents()).map((t) => t.trim());
  await dialog.getByRole('option', { name, exact: true }).click();
  return offered;
}
