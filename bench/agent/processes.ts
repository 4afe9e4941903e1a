/**
 * `--processes N`: the agent bench's scenarios split over N processes of their own, run at once, then merged into one
 * report (bench/agent.ts `merge`). The scenarios are independent (each one's data, campaigns, seeds and peers are its
 * own), so a run split this way measures what one process would, on more cores; only wall times reflect the sharing.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * The scenarios dealt round-robin in their order: a plain run lists the heavy wide scenarios first, then the trust
 * scenarios and the real logs, so each process gets its share of each kind. Never more parts than scenarios.
 */
export function splitScenarios(scenarios: readonly string[], processes: number): string[][] {
  const parts = Array.from({ length: Math.min(processes, scenarios.length) }, () => [] as string[]);
  scenarios.forEach((s, i) => parts[i % parts.length].push(s));
  return parts;
}

/** Options a part decides for itself: which scenarios, where its results go, and that it is not split again. */
const PER_PART = new Set(['scenarios', 'real-logs', 'out', 'processes']);

/** A part's command line: the run's own arguments, with its scenarios and its results folder instead of the run's. */
export function partArgs(argv: readonly string[], options: ParseArgsConfig['options'], scenarios: readonly string[], out: string): string[] {
  // The options are the caller's, so TypeScript cannot narrow the tokens: an option token is read by its fields.
  const { tokens } = parseArgs({ args: [...argv], options, tokens: true });
  const drop = new Set<number>();
  for (const t of (tokens ?? []) as { kind: string; index: number; name?: string; value?: string; inlineValue?: boolean }[]) {
    if (t.kind !== 'option' || !PER_PART.has(t.name!)) continue;
    drop.add(t.index);
    // `--name value` takes the next argument too; `--name=value` and flags do not.
    if (t.value !== undefined && !t.inlineValue) drop.add(t.index + 1);
  }
  return [...argv.filter((_, i) => !drop.has(i)), '--scenarios', scenarios.join(','), '--out', out];
}

/**
 * Runs each part as `node <this script> <its args>` with the same Node flags (tsx's loader included), its log lines
 * prefixed with the part; resolves with the parts' results folders once all have ended. A part that fails does not
 * stop the others (their scenarios are still measured); the error names every failed part after all have ended.
 */
export async function runInProcesses(
  script: string,
  argv: readonly string[],
  options: ParseArgsConfig['options'],
  parts: readonly string[][],
  log: (line: string) => void,
): Promise<{ dirs: string[]; failed: string[] }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-agent-bench-parts-'));
  const runs = parts.map((scenarios, k) => {
    const dir = path.join(root, `part-${k + 1}`);
    const args = [...process.execArgv, script, ...partArgs(argv, options, scenarios, dir)];
    log(`part ${k + 1} of ${parts.length}: ${scenarios.join(', ')} (results in ${dir})`);
    return new Promise<{ dir: string; ok: boolean; name: string }>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let pending = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) process.stderr.write(`[part ${k + 1}] ${line}\n`);
      });
      const name = `part ${k + 1} (${scenarios.join(', ')})`;
      child.on('error', (e) => {
        log(`${name} could not start: ${e.message}`);
        resolve({ dir, ok: false, name });
      });
      child.on('close', (code, signal) => {
        if (pending) process.stderr.write(`[part ${k + 1}] ${pending}\n`);
        if (code !== 0) log(`${name} ended with ${signal ?? `exit code ${code}`}`);
        resolve({ dir, ok: code === 0, name });
      });
    });
  });
  const ended = await Promise.all(runs);
  return {
    // A failed part's folder still holds the scenarios it finished (agent.json is written after each one).
    dirs: ended.filter((r) => fs.existsSync(path.join(r.dir, 'agent.json'))).map((r) => r.dir),
    failed: ended.filter((r) => !r.ok).map((r) => r.name),
  };
}
