/**
 * Records workflow histories for the replay tests: `npx tsx test/support/record-histories.ts`.
 * Run it after a deliberate, patched() change to workflow code, and commit the new files *beside* the old ones —
 * old histories must keep replaying, that is the point.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyToFixture } from './history-fixtures';
import { RankwrightClient } from '../../client/rankwright-client';
import { scriptedActivities } from './scripted-activities';
import { useTemporal } from './temporal';
import { eventually, withWorkers } from './workers';

async function main() {
  const temporal = await useTemporal();
  const client = new RankwrightClient(temporal.client);
  const out = path.join(__dirname, '..', 'fixtures', 'histories');
  // A label per recording (default: today), e.g. `npx tsx test/support/record-histories.ts 2026-11-25-phase-shares-v2`.
  const stamp = process.argv[2] ?? new Date().toISOString().slice(0, 10);
  const save = async (workflowId: string, name: string) => {
    const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
    fs.writeFileSync(path.join(out, `${name}.${stamp}.json`), historyToFixture(history));
  };
  const awaitState = (id: string, state: string) =>
    eventually(async () => ((await client.status(id)).reviewState === state ? true : undefined), 90_000).catch(async (err) => {
      throw new Error(`${err.message}: ${JSON.stringify(await client.status(id)).slice(0, 3000)}`);
    });

  // Calibration within the floor's band: this campaign is recorded reaching an approval, not a halt.
  await withWorkers(temporal, scriptedActivities({ divergeAbove: 2, calibration: { dcn: 1.1 } }).activities, async () => {
    const approvers = ['ana'];
    const a = await client.startCampaign(
      // 200k training rows: the validation phase screens its ideas as probes (40k rows each).
      { data: { planted: { trainRows: 200_000 } }, budget: { experiments: 8, parallel: 2, stallGain: 0 }, approvers },
      { id: `rec-approved-${Date.now()}` },
    );
    await awaitState(a.workflowId, 'awaiting-review');
    await temporal.client.workflow.getHandle(a.workflowId).signal('approve', { by: 'eve' });
    await client.approve(a.workflowId, { by: 'ana', note: 'recorded' });
    await client.waitForResult(a.workflowId);
    await save(a.workflowId, 'campaign-approved');
    await save(`${a.workflowId}-baseline`, 'experiment-baseline');
  });

  // A fresh script, so the scripted designer's sequence (and hence the guardrail halt) doesn't depend on the first campaign.
  await withWorkers(temporal, scriptedActivities({ divergeAbove: 2, calibration: { dcn: 1.4 } }).activities, async () => {
    const approvers = ['ana'];
    const g = await client.startCampaign(
      {
        data: { planted: {} },
        baseline: { family: 'lr', learningRate: 5 },
        budget: { experiments: 5, parallel: 2, stallGain: 0 },
        approvers,
        guardrails: { calibrationBand: [0.9, 1.1] },
        // With the portfolio (2026-12-06), the first wave is LR's and the DCN's defaults: the DCN (the best, at a
        // calibration of 1.4) breaks the guardrail.
        searchSpace: { families: ['lr', 'dcn'] },
      },
      { id: `rec-guardrail-${Date.now()}` },
    );
    await awaitState(g.workflowId, 'needs-review');
    await client.override(g.workflowId, { by: 'ana', reason: 'recorded override' });
    await awaitState(g.workflowId, 'awaiting-review');
    await client.reject(g.workflowId, { by: 'ana', reason: 'recorded rejection' });
    await client.waitForResult(g.workflowId);
    await save(g.workflowId, 'campaign-guardrail-override');
    await save(`${g.workflowId}-baseline`, 'experiment-diverged-retry');
  });
  console.log('histories written to', out);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
