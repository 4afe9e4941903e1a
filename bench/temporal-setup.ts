import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { connectClient, ensureSearchAttributes } from '../client/connection';

const root = path.resolve(__dirname, '..');

/**
 * The dev server for a bench (started by temporal-dev.sh unless it runs) and a client on it with Rankwright's search
 * attributes. The server keeps its database in the checkout's home, as the tests' does: not in a RANKWRIGHT_HOME the
 * caller may delete (the smoke test's), which would leave a server without its database.
 *
 * `ownNamespace` registers a fresh namespace and points this process (and the workers it starts) at it: a bench
 * that measures what its own worker does must not share task queues with another worker on the same server (a test
 * run's, another bench's), which would run some of its activities in another home.
 */
export async function startBenchServer(opts: { ownNamespace?: string } = {}): Promise<Client> {
  execFileSync(path.join(root, 'temporal-dev.sh'), ['start'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, RANKWRIGHT_HOME: path.join(root, '.rankwright') },
  });
  if (opts.ownNamespace) {
    const bootstrap = await connectClient();
    await bootstrap.connection.workflowService.registerNamespace({
      namespace: opts.ownNamespace,
      workflowExecutionRetentionPeriod: { seconds: 86_400 as never },
    });
    await bootstrap.connection.close();
    process.env.TEMPORAL_NAMESPACE = opts.ownNamespace;
  }
  const client = await connectClient();
  // A freshly registered namespace takes a moment to be served by every service of the dev server.
  for (let tries = 0; ; tries++) {
    try {
      await client.workflowService.describeNamespace({ namespace: client.options.namespace });
      await ensureSearchAttributes(client);
      const attrs = await client.connection.operatorService.listSearchAttributes({ namespace: client.options.namespace });
      if (attrs.customAttributes && 'ReviewState' in attrs.customAttributes) return client;
    } catch (err) {
      if (tries > 100) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface BenchWorker {
  child: ChildProcess;
  /** Where its stdout and stderr go (read it for TMPRL1104 warnings, or when something fails). */
  log: string;
  /** SIGINT, then waits for it to exit (a worker finishes what it is doing). */
  stop(): Promise<void>;
}

/**
 * One `rankwright worker` process for a bench, on the given home, logging to `log`; resolves once it serves (its
 * start-up, bundling the workflows, is never part of what a bench measures). It is killed if the bench exits first.
 * `checkout` runs another checkout's worker (its workflows and activities): the code before a change, measured in the
 * same sitting as the change.
 */
export async function startBenchWorker(home: string, log: string, checkout = root, env: NodeJS.ProcessEnv = {}): Promise<BenchWorker> {
  const fd = fs.openSync(log, 'w');
  const child = spawn(process.execPath, [path.join(checkout, 'bin', 'rankwright.js'), 'worker'], {
    // `env` adds to (an undefined value removes from) this process's environment: a fleet member's store and database.
    env: { ...process.env, ...env, RANKWRIGHT_HOME: home },
    stdio: ['ignore', fd, fd],
  });
  process.on('exit', () => child.kill('SIGKILL')); // never leave a worker behind, whatever ends the bench
  for (let waited = 0; !fs.readFileSync(log, 'utf8').includes('rankwright worker: serving'); waited += 200) {
    if (waited > 300_000 || child.exitCode !== null) throw new Error(`the worker did not start; its log:\n${fs.readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await exited;
      }
      fs.closeSync(fd);
    },
  };
}
