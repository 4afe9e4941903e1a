import { SingleBar, Presets } from 'cli-progress';
import type { CampaignStatus } from '../contracts';
import type { RankwrightClient } from './rankwright-client';

/**
 * Follows a campaign until it needs a human or ends: a progress bar of experiments against the budget on a
 * terminal, one line per change otherwise (CI logs). Returns the last status seen.
 */
export async function watchCampaign(client: RankwrightClient, workflowId: string, budget?: number, pollMs = 1000): Promise<CampaignStatus> {
  const tty = process.stderr.isTTY;
  const bar = tty
    ? new SingleBar(
        { format: ' {bar} {value}/{total} experiments | {phase} | best NE {best} | {review}', stream: process.stderr, hideCursor: true },
        Presets.shades_classic,
      )
    : undefined;
  let started = false;
  let lastLine = '';
  for (;;) {
    await client.assertNotFailed(workflowId).catch((err) => {
      bar?.stop();
      throw err;
    });
    const s = await client.status(workflowId).catch(() => undefined);
    if (s) {
      const total = Math.max(budget ?? 0, s.budgetUsed.experiments + s.running.length, 1);
      const payload = { phase: s.phase, best: s.best ? s.best.ne.toFixed(4) : '-', review: s.reviewState };
      if (bar) {
        if (!started) bar.start(total, s.budgetUsed.experiments, payload);
        bar.setTotal(total);
        bar.update(s.budgetUsed.experiments, payload);
        started = true;
      } else {
        const line = `[${s.budgetUsed.experiments} experiments done, ${s.running.length} running] phase ${s.phase}, best NE ${payload.best}, review ${s.reviewState}`;
        if (line !== lastLine) process.stderr.write(line + '\n');
        lastLine = line;
      }
      if (s.reviewState !== 'running' || s.phase === 'done') {
        bar?.stop();
        return s;
      }
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
