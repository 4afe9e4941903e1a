import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { RankwrightClient } from './rankwright-client';
import { temporalSettings } from './connection';
import { formatStatus } from './format';
import { watchCampaign } from './progress';

/**
 * `npm run demo`: everything a first look needs, from a fresh clone — the Temporal CLI (built once), the dev
 * server, a worker in this process, and the default campaign on embedded planted data; then a sign-off.
 */
async function demo(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  step('Temporal dev server (the first run builds the Temporal CLI from source: a few minutes)');
  execFileSync(path.join(root, 'temporal-dev.sh'), ['start'], { stdio: ['ignore', 'inherit', 'inherit'] });

  step('worker for both task queues (rankwright-agent, rankwright-training)');
  // The demo shows the campaign, not the worker's lifecycle: only warnings from the Temporal runtime.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { createWorkers } = require('../workers/main') as typeof import('../workers/main');
  const { connectClient, ensureSearchAttributes } = require('./connection') as typeof import('./connection');
  const bootstrap = await connectClient();
  await ensureSearchAttributes(bootstrap);
  await bootstrap.connection.close();
  const workers = await createWorkers({ queue: 'all' });
  const running = Promise.all(workers.map((w) => w.run()));

  const client = await RankwrightClient.connect();
  try {
    const config = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'campaign.planted.json'), 'utf8'));
    const id = `demo-${new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 14)}`;
    const { workflowId } = await client.startCampaign(config, { id });
    const { namespace } = temporalSettings();
    const uiPort = process.env.TEMPORAL_UI_PORT ?? '8233';
    step(`campaign ${workflowId} started`);
    console.log(`  Web UI: http://localhost:${uiPort}/namespaces/${namespace}/workflows/${workflowId}`);
    console.log(`  (or: npx rankwright status ${workflowId})\n`);

    const atReview = await watchCampaign(client, workflowId, config.budget.experiments);
    console.log('\n' + formatStatus(atReview) + '\n');

    if (atReview.reviewState === 'needs-review') {
      // The demo's guardrails are loose enough that this is rare; a human decides, never the demo.
      console.log('The best candidate broke a guardrail; aborting the demo campaign (use `rankwright override` to accept it).');
      await client.abort(workflowId, { by: 'demo', reason: 'demo: guardrail halt' });
    } else if (atReview.reviewState === 'awaiting-review') {
      await signOff(client, workflowId);
    }
    const result = await client.waitForResult(workflowId);
    step(`campaign ${result.reviewState}`);
    const r = result.recommendation;
    if (r) {
      const m = r.metrics;
      console.log(`recommended: ${r.experimentId}`);
      console.log(
        `  NE ${m.ne.toFixed(4)} (${((r.relativeNeChange ?? 0) * 100).toFixed(2)}% vs baseline)  AUC ${m.auc.toFixed(4)}  calibration ${m.calibration.toFixed(3)}  oracle NE ${m.oracleNe?.toFixed(4) ?? 'n/a'}`,
      );
      console.log(`  artifact ${r.artifact}`);
      console.log(`  why: ${r.rationale}`);
    }
    console.log(`\nreport: ${path.join(process.env.RANKWRIGHT_HOME ?? path.join(root, '.rankwright'), 'reports', `${workflowId}.html`)}`);
    console.log(`Web UI: http://localhost:${uiPort}/namespaces/${namespace}/workflows/${workflowId}`);
  } finally {
    await client.close();
    workers.forEach((w) => w.shutdown());
    await running;
  }
}

/** Asks on a terminal; signs off as the demo user when nobody can answer (CI, pipes). */
async function signOff(client: RankwrightClient, workflowId: string): Promise<void> {
  const interactive = process.stdin.isTTY && !process.env.CI;
  if (!interactive) {
    console.log('No terminal to ask (CI or a pipe): signing off as "demo".');
    await client.approve(workflowId, { by: 'demo', note: 'approved by npm run demo (non-interactive)' });
    return;
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = (await rl.question('Approve this recommendation? [y]es / [n]o: ')).trim().toLowerCase();
    if (answer.startsWith('y')) await client.approve(workflowId, { by: 'you', note: 'approved at the demo prompt' });
    else await client.reject(workflowId, { by: 'you', reason: (await rl.question('Reason: ')) || 'rejected at the demo prompt' });
  } finally {
    rl.close();
  }
}

function step(text: string): void {
  console.log(`\n▶ ${text}`);
}

demo().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
