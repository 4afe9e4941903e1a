import { temporal } from '@temporalio/proto';

const History = temporal.api.history.v1.History;

/**
 * Histories are kept as protobuf-JSON objects (readable, diffable). We convert with @temporalio/proto's own
 * protobufjs classes: the SDK's historyFromJSON goes through a second protobufjs major in this release and
 * cannot read them ("type must be a Type").
 */
export function historyToFixture(history: temporal.api.history.v1.IHistory): string {
  return JSON.stringify(History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String }));
}

export function historyFromFixture(text: string): temporal.api.history.v1.History {
  return History.fromObject(JSON.parse(text));
}
