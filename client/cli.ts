import * as fs from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AbortRequest, ApproveRequest, CampaignInput, InvalidInputError, OverrideRequest, RejectRequest, parseOrExplain } from '../contracts';
import type { CampaignStatus } from '../contracts';
import { RankwrightClient, SignOffRefusedError } from './rankwright-client';
import { formatStatus, formatListing, oneLine, statusJson } from './format';
import { temporalSettings } from './connection';
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

/** A wrong argument, option or setting: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

async function withClient<T>(body: (client: RankwrightClient) => Promise<T>): Promise<T> {
  // Bad connection settings (an unknown TEMPORAL_PROFILE, a missing TLS file) are the user's to fix, not a crash.
  try {
    temporalSettings();
  } catch (err) {
    throw new UsageError(`invalid Temporal connection settings (TEMPORAL_* environment / profile): ${(err as Error).message}`);
  }
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
    throw new InvalidInputError(`${what} ${file}`, [`cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`${what} ${file}`, [`not valid JSON (${(err as Error).message})`]);
  }
}

const print = (value: unknown) => process.stdout.write(JSON.stringify(value, null, 2) + '\n');

/** Option parsers: a bad value is reported by commander as "option '--limit <n>' argument 'x' is invalid. …". */
const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('Expected a positive integer.');
  return n;
};
const portNumber = (value: string): number => {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || n > 65535) throw new InvalidArgumentError('Expected a port number 0-65535.');
  return n;
};

export function buildCli(): Command {
  const program = new Command('rankwright')
    .description(
      'Rankwright: an autonomous ranking engineer on Temporal.\nConnection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_PROFILE; data: RANKWRIGHT_HOME.',
    )
    .exitOverride()
    // main() prints commander's errors itself, as one line; help asked for with --help still goes to stdout.
    .configureOutput({ outputError: () => {}, writeErr: () => {} });

  const campaign = program.command('campaign').description('start campaigns');
  campaign
    .command('start')
    .description('start a campaign from a JSON config file; prints {"workflowId","runId"}')
    .requiredOption('--config <file>', 'campaign config JSON')
    .option('--id <workflowId>', 'workflow id (idempotent: the same id twice starts one campaign)')
    .option('--wait', 'show progress and wait until the campaign needs a human (or ends)')
    .action(async (opts: { config: string; id?: string; wait?: boolean }) => {
      const config = readJsonFile(opts.config, 'campaign config');
      // Checked here too (the client checks again), so a bad file is reported without a Temporal connection.
      parseOrExplain(CampaignInput, config, `campaign config ${opts.config}`);
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
        // What the campaign stores in this machine's home: a figure, never a reason for status to fail.
        const { campaignStorage, refsOfStatus } = require('../store/campaign-storage') as typeof import('../store/campaign-storage');
        const storage = await campaignStorage(status.campaignId, { refs: refsOfStatus(status) }).catch(() => undefined);
        if (opts.json) print(statusJson(status, storage));
        else process.stdout.write(formatStatus(status, storage) + '\n');
      });
    });

  program
    .command('list')
    .description('campaigns, newest first')
    .option('--json', 'machine-readable output')
    .option('--query <visibilityQuery>', `e.g. "ReviewState = 'awaiting-review'"`)
    .option('--limit <n>', 'at most n', positiveInt, 50)
    .action(async (opts: { json?: boolean; query?: string; limit: number }) => {
      await withClient(async (client) => {
        const rows = await client.list({ query: opts.query, limit: opts.limit });
        if (opts.json) print(rows);
        else process.stdout.write(formatListing(rows) + '\n');
      });
    });

  const SIGN_OFF_PAYLOADS = {
    approve: { schema: ApproveRequest, what: 'approval' },
    reject: { schema: RejectRequest, what: 'rejection' },
    override: { schema: OverrideRequest, what: 'override' },
    abort: { schema: AbortRequest, what: 'abort' },
  } as const;
  const signOff = (name: 'approve' | 'reject' | 'override' | 'abort', needsReason: boolean) => {
    const cmd = program
      .command(`${name} <workflowId>`)
      .description(`${name} a campaign (you must be one of its approvers)`)
      .requiredOption('--by <who>', 'your name, as listed in the campaign approvers');
    if (needsReason) cmd.requiredOption('--reason <text>', 'why (recorded with the decision)');
    else cmd.option(name === 'abort' ? '--reason <text>' : '--note <text>', 'recorded with the decision');
    cmd.option('--json', 'print the recorded decision as JSON');
    cmd.action(async (id: string, opts: { by: string; note?: string; reason?: string; json?: boolean }) => {
      // Checked before connecting (the client checks again): `--by ''` is a usage error even without Temporal.
      const payload = name === 'approve' ? { by: opts.by, note: opts.note } : { by: opts.by, reason: opts.reason };
      parseOrExplain(SIGN_OFF_PAYLOADS[name].schema, payload, SIGN_OFF_PAYLOADS[name].what);
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
      .description(
        name === 'pause'
          ? 'stop launching new experiments (running ones finish); approvers and operators only'
          : 'launch experiments again; approvers and operators only',
      )
      .requiredOption('--by <who>', "your name, as listed in the campaign's approvers or operators")
      .option('--reason <text>', 'recorded with the decision')
      .option('--json', 'print the recorded decision as JSON')
      .action(async (id: string, opts: { by: string; reason?: string; json?: boolean }) => {
        const decision = await withClient((client) => client[name](id, { by: opts.by, reason: opts.reason }));
        if (opts.json) print(decision);
        else process.stdout.write(`${decision.kind} recorded for ${id} by ${decision.by} at ${decision.at}\n`);
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
    .description('train one model without Temporal; --json prints {"artifact","metrics","badRows"}')
    .requiredOption('--config <file>', 'experiment JSON: {"data":…,"model":…}')
    .option('--json', 'machine-readable output')
    .option('--strict', 'any malformed data row fails the run (exit 2, one line naming file:line)')
    .action(async (opts: { config: string; json?: boolean; strict?: boolean }) => {
      const { runTrain } = require('./commands/train') as typeof import('./commands/train');
      throw new CliExit(await runTrain({ config: opts.config, json: !!opts.json, strict: !!opts.strict }));
    });

  program
    .command('generate')
    .description(
      'write planted full-width Criteo-format data with a known ceiling: train/validation/test TSV, true test probabilities, oracle NE in meta.json',
    )
    .option(
      '--scenario <name|file|json>',
      'a named scenario (see --list), a JSON file, or a JSON object of options ({"extends":NAME,…} starts from a named one)',
    )
    .option('--out <dir>', 'directory to write (created if missing)')
    .option('--rows <n>', 'train rows (validation and test keep their ratio to train)', positiveInt)
    .option('--json', 'machine-readable summary: {"scenario","files","rows","oracle","data",…}')
    .option('--list', 'list the named scenarios')
    .action(async (opts: { scenario?: string; out?: string; rows?: number; json?: boolean; list?: boolean }) => {
      const { runGenerate } = require('./commands/generate') as typeof import('./commands/generate');
      throw new CliExit(await runGenerate({ scenario: opts.scenario, out: opts.out, rows: opts.rows, json: !!opts.json, list: !!opts.list }));
    });

  program
    .command('score')
    .description('score a table with a trained model: one probability per row, in order (a declared table by its column names, else a Criteo TSV)')
    .requiredOption('--model <artifact>', 'model artifact ref (sha256:…)')
    .requiredOption(
      '--input <file>',
      'a CSV, TSV or Parquet table with the columns of the schema the model was trained on (by name), or a Criteo TSV',
    )
    .requiredOption('--out <file>', 'where to write the predictions')
    .action(async (opts: { model: string; input: string; out: string }) => {
      const { runScore } = require('./commands/score') as typeof import('./commands/score');
      throw new CliExit(await runScore(opts));
    });

  program
    .command('export')
    .description('export a trained model for serving: an ONNX graph, and beside it its preprocessing spec (<out>.preprocessing.json)')
    .requiredOption('--model <artifact>', 'model artifact ref (sha256:…)')
    .option('--format <format>', 'export format (onnx)', 'onnx')
    .requiredOption('--out <file>', 'where to write the model, e.g. model.onnx')
    .action(async (opts: { model: string; format: string; out: string }) => {
      const { runExport } = require('./commands/export') as typeof import('./commands/export');
      throw new CliExit(await runExport(opts));
    });

  program
    .command('insights')
    .description('what the insights database remembers (RANKWRIGHT_DATABASE_URL, else the home): every experiment of every campaign')
    .option('--json', 'machine-readable output')
    .option('--campaign <id>', 'only this campaign')
    .option('--limit <n>', 'at most n rows', positiveInt)
    .action(async (opts: { json?: boolean; campaign?: string; limit?: number }) => {
      const { runInsights } = require('./commands/insights') as typeof import('./commands/insights');
      throw new CliExit(await runInsights({ json: !!opts.json, campaign: opts.campaign, limit: opts.limit }));
    });

  program
    .command('gc')
    .description("remove what nothing needs from RANKWRIGHT_HOME: unreferenced artifacts, ended runs' checkpoints, idle row caches, old job folders")
    .option('--dry-run', 'only say what would be removed and why')
    .option('--json', 'machine-readable plan: every item with its kind, path, bytes, age, action and reason')
    .option('--min-age <duration>', 'never remove anything younger than this', '1h')
    .option('--row-cache-idle <duration>', 'remove row caches not read for this long', '7d')
    .option('--job-age <duration>', "remove an ended external job's folder this long after its last write", '3d')
    .option('--stale-checkpoint <duration>', 'remove a checkpoint of a run with no recorded end when not rewritten for this long', '7d')
    .option('--no-temporal', "don't ask Temporal about campaigns whose event log has no end (they count as running)")
    .option('--keep-candidates', "keep every run's model of a reviewed campaign, not only the recommended one and the baseline's")
    .action(
      async (opts: {
        dryRun?: boolean;
        json?: boolean;
        keepCandidates?: boolean;
        minAge: string;
        rowCacheIdle: string;
        jobAge: string;
        staleCheckpoint: string;
        temporal: boolean;
      }) => {
        const { runGc } = require('./commands/gc') as typeof import('./commands/gc');
        throw new CliExit(await runGc({ ...opts, dryRun: !!opts.dryRun, json: !!opts.json, keepCandidates: !!opts.keepCandidates }));
      },
    );

  const store = program.command('store').description('the shared artifact store (RANKWRIGHT_STORE)');
  store
    .command('migrate')
    .description(
      "copy this home's artifacts and row caches into a shared store, and its events and insights into RANKWRIGHT_DATABASE_URL's PostgreSQL when set; idempotent (what is there already is skipped)",
    )
    .requiredOption('--to <url>', 's3://bucket/prefix (endpoint and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …)')
    .option('--json', 'machine-readable result: per step, what was copied, skipped and failed')
    .action(async (opts: { to: string; json?: boolean }) => {
      const { runStoreMigrate } = require('./commands/store') as typeof import('./commands/store');
      throw new CliExit(await runStoreMigrate({ to: opts.to, json: !!opts.json }));
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
    .option('--port <port>', 'port (default RANKWRIGHT_HTTP_PORT or 8480)', portNumber)
    .option('--host <host>', 'interface (default RANKWRIGHT_HTTP_HOST or 127.0.0.1)')
    .action(async (opts: { port?: number; host?: string }) => {
      const { serveFromEnv } = require('./http-service') as typeof import('./http-service');
      const app = await serveFromEnv(process.env, opts);
      const { address, port } = app.addresses()[0] as import('node:net').AddressInfo;
      process.stderr.write(`rankwright serve: listening on http://${address}:${port}\n`);
    });

  program
    .command('llm-server')
    .description('a local OpenAI-compatible LLM server (a GGUF model on the CPU) for the sub-agents: set OPENAI_BASE_URL to the URL it prints')
    .option('--model <file>', 'GGUF model file (default RANKWRIGHT_LLM_GGUF)')
    .option('--port <port>', 'port (default 8081)', portNumber)
    .option('--host <host>', 'interface (default 127.0.0.1)')
    .option('--threads <n>', 'CPU threads (default 2)', positiveInt)
    .option('--context-size <n>', 'context window in tokens (default 8192)', positiveInt)
    .option('--max-tokens <n>', 'default and maximum max_tokens per answer (default 1024)', positiveInt)
    .option('--no-json-schema', 'refuse json_schema response formats with HTTP 500 (as llama-cpp-python does); json_object with a schema still works')
    .action(
      async (opts: {
        model?: string;
        port?: number;
        host?: string;
        threads?: number;
        contextSize?: number;
        maxTokens?: number;
        jsonSchema: boolean;
      }) => {
        const modelPath = opts.model ?? process.env.RANKWRIGHT_LLM_GGUF;
        if (!modelPath) throw new UsageError('llm-server needs --model <file.gguf> (or RANKWRIGHT_LLM_GGUF)');
        if (!fs.existsSync(modelPath)) throw new UsageError(`llm-server: model file ${modelPath} does not exist`);
        const { startLocalLlmServer } = require('./local-llm-server') as typeof import('./local-llm-server');
        const { port = 8081, host, threads, contextSize, maxTokens } = opts;
        const server = await startLocalLlmServer({ modelPath, port, host, threads, contextSize, maxTokens, supportsJsonSchema: opts.jsonSchema });
        process.stderr.write(
          `rankwright llm-server: ${server.model} listening; OPENAI_BASE_URL=${server.baseURL} RANKWRIGHT_LLM_MODEL=${server.model}\n`,
        );
        // Serve until Ctrl-C / SIGTERM (the CLI exits when the command returns).
        await new Promise<void>((resolve) => ['SIGINT', 'SIGTERM'].forEach((signal) => process.once(signal, resolve)));
        await server.close();
      },
    );

  return program;
}

/** The command a user typed (for the "see rankwright … --help" hint): "status", "campaign start", or "" for none. */
function commandPath(program: Command, args: string[]): string {
  const names: string[] = [];
  let cmd: Command | undefined = program;
  for (const arg of args) {
    if (arg.startsWith('-')) continue;
    const sub: Command | undefined = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
    if (!sub.commands.length) break;
  }
  return names.join(' ');
}

/** gRPC status of a Temporal service error (3 invalid argument, 5 not found, 14 unavailable), when there is one. */
function grpcCode(err: unknown): number | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

/** The gRPC status details ("invalid query: …") of a Temporal service error, when there are any. */
function grpcDetails(err: unknown): string | undefined {
  for (let e = err as { details?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.details === 'string' && e.details.trim()) return e.details.trim();
  }
  return undefined;
}

const debugEnabled = () => /^(1|true|yes)$/i.test(process.env.RANKWRIGHT_DEBUG ?? '');

/**
 * Maps errors to the documented exit codes with ONE line a human can act on (what was wrong, which option or field);
 * never a stack trace, unless RANKWRIGHT_DEBUG=1 asks for one on an unexpected failure.
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    const { code, line } = describeFailure(err, program, argv.slice(2));
    if (line !== undefined) process.stderr.write(line + '\n');
    return code;
  }
}

export function describeFailure(err: unknown, program: Command, args: string[]): { code: number; line?: string } {
  if (err instanceof CliExit) return { code: err.code };
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || (err.code === 'commander.help' && err.exitCode === 0))
      return { code: EXIT.ok };
    const path = commandPath(program, args);
    const hint = ` (see: rankwright ${path ? `${path} ` : ''}--help)`;
    if (err.code === 'commander.help') {
      // A command group without its subcommand (`rankwright`, `rankwright campaign`).
      const group = path ? program.commands.find((c) => c.name() === path.split(' ')[0])! : program;
      return {
        code: EXIT.invalid,
        line: `error: missing command${path ? ` after '${path}'` : ''}; one of: ${group.commands.map((c) => c.name()).join(', ')}${hint}`,
      };
    }
    return { code: EXIT.invalid, line: `${oneLine(err.message).replace(/^(error: )?/, 'error: ')}${hint}` };
  }
  if (err instanceof InvalidInputError) return { code: EXIT.invalid, line: `error: invalid ${err.what}: ${oneLine(err.problems.join('; '))}` };
  if (err instanceof UsageError) return { code: EXIT.invalid, line: `error: ${oneLine(err.message)}` };
  if (err instanceof SignOffRefusedError) return { code: EXIT.refused, line: `refused: ${oneLine(err.message)}` };
  const e = err as Error & { code?: unknown; details?: string };
  const message = oneLine(e?.message ?? String(err));
  const grpc = grpcCode(err);
  if (e?.name === 'WorkflowNotFoundError' || e?.name === 'NamespaceNotFoundError' || grpc === 5 || /not found/i.test(message)) {
    return { code: EXIT.notFound, line: `not found: ${message}` };
  }
  if (grpc === 3) {
    // The service error says what failed ("Failed to list workflows"); its gRPC cause says why.
    const details = grpcDetails(err);
    return {
      code: EXIT.invalid,
      line: `error: Temporal refused the request as invalid: ${message}${details && !message.includes(details) ? `: ${oneLine(details)}` : ''}`,
    };
  }
  if (grpc === 14 || /ECONNREFUSED|Failed to connect|TransportError|UNAVAILABLE/i.test(`${message} ${e?.name}`)) {
    return { code: EXIT.unreachable, line: `cannot reach Temporal (${message}). Start it with ./temporal-dev.sh start, or set TEMPORAL_ADDRESS.` };
  }
  if (debugEnabled()) return { code: EXIT.failure, line: `error: ${e?.stack ?? message}` };
  return { code: EXIT.failure, line: `error: ${message} (set RANKWRIGHT_DEBUG=1 for details)` };
}
