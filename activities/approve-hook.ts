import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import type { Metrics } from '../contracts';
import { namedConfigPath, namedEntry, type NamedConfigFile } from './worker-config';

/**
 * Promotion hooks: what runs after a human approved a campaign's model (copy it to serving, open a deploy ticket,
 * notify a service). They are configured on the worker, in a JSON file (RANKWRIGHT_HOOKS, default
 * `$RANKWRIGHT_HOME/hooks.json`), and a campaign names one (`onApprove: { hook }`): a caller who may start campaigns
 * can pick among the hooks the worker's owner set up, never run a command or call a URL of their own.
 *
 *   { "promote": { "command": ["./scripts/promote.sh"], "timeoutSeconds": 600 },
 *     "notify":  { "url": "https://deploy.example.com/rankwright", "headers": { "Authorization": "Bearer …" } } }
 *
 * A command gets the approval as JSON on stdin and in RANKWRIGHT_* variables; a URL gets it as a JSON POST. Both get
 * an idempotency key that is the same on every retry of the one approval, so a receiver can drop duplicates.
 */
const CommandHook = z
  .object({
    command: z.array(z.string().min(1)).min(1, 'a command hook needs the program to run'),
    timeoutSeconds: z.number().positive().max(86_400).default(300),
  })
  .strict();
const UrlHook = z
  .object({
    url: z.string().regex(/^https?:\/\//, 'a URL hook needs an http(s) URL'),
    headers: z.record(z.string(), z.string()).default({}),
    timeoutSeconds: z.number().positive().max(3_600).default(30),
  })
  .strict();
const HookConfig = z.union([CommandHook, UrlHook]);
const HooksFile = z.record(z.string(), HookConfig);
type HookConfig = z.infer<typeof HookConfig>;

/** What a promotion hook receives about the approval. */
export interface ApprovedModel {
  hook: string;
  campaignId: string;
  experimentId: string;
  artifact?: string;
  metrics: Metrics;
  approvedBy: string;
  approvedAt: string;
  note?: string;
  approvers: string[];
}

export interface HookOutcome {
  attempts: number;
  detail: string;
}

/** How much of a hook's output (or error) goes into status and history. */
const DETAIL_CHARS = 500;

const HOOKS: NamedConfigFile<HookConfig> = {
  what: 'onApprove hook',
  envVar: 'RANKWRIGHT_HOOKS',
  defaultName: 'hooks.json',
  entries: HooksFile,
  errorType: 'HookNotConfigured',
};

export function hooksFile(env: NodeJS.ProcessEnv = process.env): string {
  return namedConfigPath(HOOKS, env);
}

/** The named hook from the worker's hooks file; a missing file, bad file or unknown name is a non-retryable failure. */
function hookNamed(name: string): HookConfig {
  return namedEntry(HOOKS, name);
}

/** Run at a campaign's start, so a campaign naming a hook the worker lacks fails before any training, not days later. */
export async function checkApproveHook(name: string): Promise<void> {
  hookNamed(name);
}

/** Runs the named hook once for an approved model. Throws (and Temporal retries) when the hook fails. */
export async function runApproveHook(approved: ApprovedModel): Promise<HookOutcome> {
  const hook = hookNamed(approved.hook);
  const { attempt } = Context.current().info;
  const idempotencyKey = `${approved.campaignId}:on-approve`;
  const payload = JSON.stringify({ ...approved, idempotencyKey });
  const detail = 'command' in hook ? await runCommand(hook, approved, idempotencyKey, payload) : await postJson(hook, idempotencyKey, payload);
  return { attempts: attempt, detail: detail.slice(-DETAIL_CHARS) };
}

async function runCommand(hook: z.infer<typeof CommandHook>, approved: ApprovedModel, idempotencyKey: string, payload: string): Promise<string> {
  const [program, ...args] = hook.command;
  const child = spawn(program, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: hook.timeoutSeconds * 1000,
    env: {
      ...process.env,
      RANKWRIGHT_CAMPAIGN_ID: approved.campaignId,
      RANKWRIGHT_EXPERIMENT_ID: approved.experimentId,
      RANKWRIGHT_ARTIFACT: approved.artifact ?? '',
      RANKWRIGHT_APPROVED_BY: approved.approvedBy,
      RANKWRIGHT_IDEMPOTENCY_KEY: idempotencyKey,
    },
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-4 * DETAIL_CHARS));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.stdin.on('error', () => {}); // a hook that doesn't read stdin must not fail on EPIPE
  child.stdin.end(payload);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  if (code !== 0)
    throw new Error(`hook command ${program} ${signal ? `was killed (${signal})` : `exited with ${code}`}: ${output.trim().slice(-DETAIL_CHARS)}`);
  return output.trim();
}

async function postJson(hook: z.infer<typeof UrlHook>, idempotencyKey: string, payload: string): Promise<string> {
  const response = await fetch(hook.url, {
    method: 'POST',
    headers: { ...hook.headers, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: payload,
    signal: AbortSignal.timeout(hook.timeoutSeconds * 1000),
  });
  const text = await response.text().catch(() => '');
  if (!response.ok) throw new Error(`hook URL answered HTTP ${response.status}: ${text.slice(0, DETAIL_CHARS)}`);
  return `HTTP ${response.status} ${text}`.trim();
}
