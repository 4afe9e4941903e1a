import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { InvalidInputError } from '../contracts';
import type { CampaignStatus } from '../contracts';
import { RankwrightClient, SignOffRefusedError } from './rankwright-client';
import { formatStatus, formatListing } from './format';
import { watchCampaign } from './progress';

// Commands load their heavy modules (the trainer, gpu.js, the worker) lazily with require(): `rankwright status`
// should start in a blink. (A dynamic import() would bypass tsx's CommonJS hook.)

/**
 * Exit codes scripts can rely on:
 *   0 ok · 1 unexpected failure · 2 invalid input or usage · 3 not found · 4 sign-off refused · 5 Temporal unreachable
 */
export const EXIT = { ok: 0, failure: 1, invalid: 2, notFound: 3, refused: 4, unreachable: 5 } as const;

class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

async function withClient<T>(body: (client: RankwrightClient) => Promise<T>): Promise<T> {
  const client = await RankwrightClient.connect();
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(what, [`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(what, [`${file}: not valid JSON (${(err as Error).message})`]);
  }
}

const print = (value: unknown) => process.stdout.write(JSON.stringify(value, null, 2) + '\n');

export function buildCli(): Command {
  const program = new Command('rankwright')
    .description('Rankwright: an autonomous ranking engineer on Temporal.\nConnection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_PROFILE; data: RANKWRIGHT_HOME.')
    .showHelpAfterError()
    .exitOverride();

  const campaign = program.command('campaign').description('start campaigns');
  campaign
    .command('start')
    .description('start a campaign from a JSON config file; prints {"workflowId","runId"}')
    .requiredOption('--config <file>', 'campaign config JSON')
    .option('--id <workflowId>', 'workflow id (idempotent: the same id twice starts one campaign)')
    .option('--wait', 'show progress and wait until the campaign needs a human (or ends)')
    .action(async (opts: { config: string; id?: string; wait?: boolean }) => {
      const config = readJsonFile(opts.config, 'campaign config');
      await withClient(async (client) => {
        const started = await client.startCampaign(config, { id: opts.id });
        process.stdout.write(JSON.stringify({ workflowId: started.workflowId, runId: started.runId }) + '\n');
        if (opts.wait) {
          const status = await watchCampaign(client, started.workflowId);
          process.stderr.write(formatStatus(status) + '\n');
        }
      });
    });

  program
    .command('status <workflowId>')
    .description('a campaign: phase, review state, experiments, best, recommendation')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withClient(async (client) => {
        const status = await client.status(id);
        if (opts.json) print(status);
        else process.stdout.write(formatStatus(status) + '\n');
      });
    });

  program
    .command('list')
    .description('campaigns, newest first')
    .option('--json', 'machine-readable output')
    .option('--query <visibilityQuery>', `e.g. "ReviewState = 'awaiting-review'"`)
    .option('--limit <n>', 'at most n', (v) => Number(v), 50)
    .action(async (opts: { json?: boolean; query?: string; limit: number }) => {
      await withClient(async (client) => {
        const rows = await client.list({ query: opts.query, limit: opts.limit });
        if (opts.json) print(rows);
        else process.stdout.write(formatListing(rows) + '\n');
      });
    });

  const signOff = (name: 'approve' | 'reject' | 'override' | 'abort', needsReason: boolean) => {
    const cmd = program
      .command(`${name} <workflowId>`)
      .description(`${name} a campaign (you must be one of its approvers)`)
      .requiredOption('--by <who>', 'your name, as listed in the campaign approvers');
    if (needsReason) cmd.requiredOption('--reason <text>', 'why (recorded with the decision)');
    else cmd.option(name === 'abort' ? '--reason <text>' : '--note <text>', 'recorded with the decision');
    cmd.option('--json', 'print the recorded decision as JSON');
    cmd.action(async (id: string, opts: { by: string; note?: string; reason?: string; json?: boolean }) => {
      await withClient(async (client) => {
        const decision =
          name === 'approve'
            ? await client.approve(id, { by: opts.by, note: opts.note })
            : name === 'reject'
              ? await client.reject(id, { by: opts.by, reason: opts.reason! })
              : name === 'override'
                ? await client.override(id, { by: opts.by, reason: opts.reason! })
                : await client.abort(id, { by: opts.by, reason: opts.reason });
        if (opts.json) print(decision);
        else process.stdout.write(`${decision.kind} recorded for ${id} by ${decision.by} at ${decision.at}\n`);
      });
    });
  };
  signOff('approve', false);
  signOff('reject', true);
  signOff('override', true);
  signOff('abort', false);

  for (const name of ['pause', 'resume'] as const) {
    program
      .command(`${name} <workflowId>`)
      .description(name === 'pause' ? 'stop launching new experiments (running ones finish)' : 'launch experiments again')
      .option('--by <who>')
      .action(async (id: string, opts: { by?: string }) => {
        await withClient((client) => client[name](id, opts.by));
        process.stdout.write(`${name} sent to ${id}\n`);
      });
  }

  program
    .command('worker')
    .description('run a worker (both task queues, or one: training scales out to GPU machines)')
    .addOption(new Option('--queue <queue>', 'which task queue(s)').choices(['agent', 'training', 'all']).default('all'))
    .action(async (opts: { queue: 'agent' | 'training' | 'all' }) => {
      const { runWorker } = require('../workers/main') as typeof import('../workers/main');
      await runWorker(opts.queue);
    });

  program
    .command('train')
    .description('train one model without Temporal; --json prints {"artifact","metrics"}')
    .requiredOption('--config <file>', 'experiment JSON: {"data":…,"model":…}')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config: string; json?: boolean }) => {
      const { runTrain } = require('./commands/train') as typeof import('./commands/train');
      throw new CliExit(await runTrain({ config: opts.config, json: !!opts.json }));
    });

  program
    .command('score')
    .description('score a Criteo-format TSV with a trained model: one probability per row, in order')
    .requiredOption('--model <artifact>', 'model artifact ref (sha256:…)')
    .requiredOption('--input <file>', 'Criteo TSV')
    .requiredOption('--out <file>', 'where to write the predictions')
    .action(async (opts: { model: string; input: string; out: string }) => {
      const { runScore } = require('./commands/score') as typeof import('./commands/score');
      throw new CliExit(await runScore(opts));
    });

  program
    .command('insights')
    .description('what the insights database remembers: every experiment of every campaign')
    .option('--json', 'machine-readable output')
    .option('--campaign <id>', 'only this campaign')
    .option('--limit <n>', 'at most n rows', (v) => Number(v))
    .action(async (opts: { json?: boolean; campaign?: string; limit?: number }) => {
      const { runInsights } = require('./commands/insights') as typeof import('./commands/insights');
      throw new CliExit(await runInsights({ json: !!opts.json, campaign: opts.campaign, limit: opts.limit }));
    });

  program
    .command('events <campaignId>')
    .description("a campaign's event log")
    .option('--json', 'raw JSONL')
    .option('--follow', 'keep printing new events (Ctrl-C stops)')
    .action(async (id: string, opts: { json?: boolean; follow?: boolean }) => {
      const { runEvents } = require('./commands/events') as typeof import('./commands/events');
      throw new CliExit(await runEvents({ campaignId: id, json: !!opts.json, follow: !!opts.follow }));
    });

  program
    .command('report <campaignId>')
    .description("write the campaign's HTML report (plots, leaderboard, decisions) and print its path")
    .option('--json', 'print {"path","artifact"}')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { renderReport } = require('./commands/report') as typeof import('./commands/report');
      const { readEvents } = require('../store/event-log') as typeof import('../store/event-log');
      const status: CampaignStatus = await withClient((client) => client.status(id));
      const { events } = await readEvents(status.campaignId);
      throw new CliExit(await renderReport(status, events, { json: !!opts.json }));
    });

  program
    .command('serve')
    .description('HTTP trigger for services that do not speak Temporal (bearer tokens from RANKWRIGHT_HTTP_TOKENS)')
    .option('--port <port>', 'port (default RANKWRIGHT_HTTP_PORT or 8480)', (v) => Number(v))
    .option('--host <host>', 'interface (default RANKWRIGHT_HTTP_HOST or 127.0.0.1)')
    .action(async (opts: { port?: number; host?: string }) => {
      const { serveFromEnv } = require('./http-service') as typeof import('./http-service');
      const app = await serveFromEnv(process.env, opts);
      const { address, port } = app.addresses()[0] as import('node:net').AddressInfo;
      process.stderr.write(`rankwright serve: listening on http://${address}:${port}\n`);
    });

  return program;
}

/** Maps errors to the documented exit codes with a message a human can act on. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CliExit) return err.code;
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.ok : EXIT.invalid;
    }
    if (err instanceof InvalidInputError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.invalid;
    }
    if (err instanceof SignOffRefusedError) {
      process.stderr.write(`refused: ${err.message}\n`);
      return EXIT.refused;
    }
    if (e.name === 'WorkflowNotFoundError' || /not found/i.test(e.message ?? '')) {
      process.stderr.write(`not found: ${e.message}\n`);
      return EXIT.notFound;
    }
    if (/ECONNREFUSED|Failed to connect|TransportError|UNAVAILABLE/i.test(`${e.message} ${e.name}`)) {
      process.stderr.write(`cannot reach Temporal (${e.message}). Start it with ./temporal-dev.sh start, or set TEMPORAL_ADDRESS.\n`);
      return EXIT.unreachable;
    }
    process.stderr.write(`error: ${e.stack ?? e.message}\n`);
    return EXIT.failure;
  }
}
