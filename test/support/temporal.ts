import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflows } from '../../workers/bundle';
import { ensureSearchAttributes } from '../../client/connection';
import { devServicesEnv } from './dev-services';

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';

export interface TemporalForTests {
  client: Client;
  connection: NativeConnection;
  namespace: string;
  bundle: WorkflowBundleWithSourceMap;
}

let shared: Promise<TemporalForTests> | undefined;

/**
 * The real Temporal dev server for tests: started by temporal-dev.sh when it isn't running, and one fresh namespace
 * per test run (with Rankwright's search attributes) so workers and workflows of other runs never interfere.
 */
export function useTemporal(): Promise<TemporalForTests> {
  shared ??= start();
  return shared;
}

async function start(): Promise<TemporalForTests> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  execFileSync(path.join(REPO_ROOT, 'temporal-dev.sh'), ['start'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: devServicesEnv(),
  });
  const namespace = `rankwright-test-${Date.now().toString(36)}`;
  const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: (24 * 3600) as never } });
  const client = new Client({ connection, namespace });
  // A freshly registered namespace takes a moment to be served by every service of the dev server.
  for (let i = 0; ; i++) {
    try {
      await client.workflowService.describeNamespace({ namespace });
      await ensureSearchAttributes(client);
      const attrs = await connection.operatorService.listSearchAttributes({ namespace });
      if (attrs.customAttributes && 'ReviewState' in attrs.customAttributes) break;
    } catch (err) {
      if (i > 50) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  process.env.TEMPORAL_NAMESPACE = namespace;
  process.env.TEMPORAL_ADDRESS = TEMPORAL_ADDRESS;
  const nativeConnection = await NativeConnection.connect({ address: TEMPORAL_ADDRESS });
  const bundle = await bundleWorkflows();
  return { client, connection: nativeConnection, namespace, bundle };
}
