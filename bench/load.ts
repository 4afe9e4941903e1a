/**
 * `npm run load [-- --campaigns 20 --experiments 4]`: N concurrent campaigns of small experiments against one dev
 * server and two worker processes. Reports completed experiments per minute, failures (must be 0) and the
 * workers' peak memory (VmHWM). Writes bench/results/load.json and bench/results/load.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { RankwrightClient } from '../client/rankwright-client';
import { connectClient, ensureSearchAttributes } from '../client/connection';

const root = path.resolve(__dirname, '..');

function peakRssMiB(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

async function main() {
  const { values } = parseArgs({ options: { campaigns: { type: 'string', default: '20' }, experiments: { type: 'string', default: '4' } } });
  const campaigns = Number(values.campaigns);
  const experiments = Number(values.experiments);
  execFileSync(path.join(root, 'temporal-dev.sh'), ['start'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const bootstrap = await connectClient();
  await ensureSearchAttributes(bootstrap);
  await bootstrap.connection.close();

  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-load-'));
  const env = { ...process.env, RANKWRIGHT_HOME: home };
  const workers: ChildProcess[] = [0, 1].map(() =>
    spawn(process.execPath, [path.join(root, 'bin', 'rankwright.js'), 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  const peaks = new Map<number, number>();
  const sampler = setInterval(() => workers.forEach((w) => w.pid && peaks.set(w.pid, Math.max(peaks.get(w.pid) ?? 0, peakRssMiB(w.pid)))), 1000);

  const client = await RankwrightClient.connect();
  const started = Date.now();
  const stamp = Date.now().toString(36);
  const ids = await Promise.all(
    Array.from({ length: campaigns }, (_, i) =>
      client
        .startCampaign(
          {
            data: { planted: { seed: 100 + i, trainRows: 5_000, validationRows: 1_000, testRows: 2_000 } },
            baseline: { family: 'lr', epochs: 1 },
            budget: { experiments, parallel: 2, stallGain: 0 },
            searchSpace: { families: ['lr', 'fm'], epochs: [1, 2] },
            approvers: ['load'],
            agents: 'heuristic',
          },
          { id: `load-${stamp}-${i}` },
        )
        .then((s) => s.workflowId),
    ),
  );
  process.stderr.write(`started ${campaigns} campaigns; waiting for review…\n`);
  let failures = 0;
  let completedExperiments = 0;
  await Promise.all(
    ids.map(async (id) => {
      for (;;) {
        const s = await client.status(id).catch(() => undefined);
        if (s && s.reviewState !== 'running') {
          completedExperiments += s.experiments.filter((e) => e.status === 'succeeded').length;
          failures += s.experiments.filter((e) => e.status === 'failed').length;
          await client.approve(id, { by: 'load' }).catch(() => (failures += 1));
          await client.waitForResult(id);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }),
  );
  const minutes = (Date.now() - started) / 60_000;
  clearInterval(sampler);
  workers.forEach((w) => w.pid && peaks.set(w.pid, Math.max(peaks.get(w.pid) ?? 0, peakRssMiB(w.pid))));
  workers.forEach((w) => w.kill('SIGINT'));
  await client.close();

  const result = {
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString() },
    campaigns,
    experimentsPerCampaign: experiments,
    completedExperiments,
    failures,
    minutes: Number(minutes.toFixed(2)),
    experimentsPerMinute: Number((completedExperiments / minutes).toFixed(1)),
    workerPeakRssMiB: [...peaks.values()].map((v) => Number(v.toFixed(0))),
  };
  const out = path.join(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'load.json'), JSON.stringify(result, null, 2) + '\n');
  const md = [
    `| campaigns | experiments each | completed experiments | failures | minutes | experiments / minute | worker peak RSS (MiB) |`,
    `|---|---|---|---|---|---|---|`,
    `| ${campaigns} | ${experiments} | ${completedExperiments} | ${failures} | ${result.minutes} | ${result.experimentsPerMinute} | ${result.workerPeakRssMiB.join(', ')} |`,
    '',
    `${result.machine.cpu} (${result.machine.cores} cores), Node ${result.machine.node}, one dev server (SQLite), two worker processes, ${result.machine.date.slice(0, 10)}.`,
  ].join('\n');
  fs.writeFileSync(path.join(out, 'load.md'), md + '\n');
  console.log(md);
  fs.rmSync(home, { recursive: true, force: true });
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
