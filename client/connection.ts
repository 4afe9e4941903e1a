import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../contracts/names';

/**
 * Temporal connection settings from Temporal's standard environment configuration (@temporalio/envconfig):
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and the config file,
 * so the same CLI and workers run against the dev server, a self-hosted cluster or Temporal Cloud.
 */
export function temporalSettings(): { connectionOptions: NativeConnectionOptions; namespace: string } {
  const config = loadClientConnectConfig({ profile: process.env.TEMPORAL_PROFILE });
  return {
    connectionOptions: { ...config.connectionOptions, address: config.connectionOptions.address ?? 'localhost:7233' },
    namespace: config.namespace ?? 'default',
  };
}

export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = temporalSettings();
  const connection = await Connection.connect(connectionOptions as never);
  return new Client({ connection, namespace });
}

/**
 * Registers Rankwright's search attributes when the namespace lacks them (idempotent). Temporal Cloud refuses the
 * operator API: there they are created once in the Cloud UI, and we only warn.
 */
export async function ensureSearchAttributes(client: Client): Promise<void> {
  const namespace = client.options.namespace;
  const types = { Keyword: 2, Double: 4 } as const; // temporal.api.enums.v1.IndexedValueType
  try {
    const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !(existing.customAttributes && name in existing.customAttributes));
    if (missing.length === 0) return;
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, types[type]])),
    });
  } catch (err) {
    process.emitWarning(
      `could not check/register search attributes (${(err as Error).message}); create them with: temporal operator search-attribute create`,
    );
  }
}
