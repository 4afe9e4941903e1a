import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { listArtifacts } from '../artifact-inventory';
import type { ObjectStore } from './object-store';

/**
 * Moving a home into a shared store (`rankwright store migrate --to s3://…`): a list of steps, each copying one kind
 * of thing and saying what it did. Artifacts are the step here; the event logs and insights move to the fleet's
 * database in steps of their own, added to MIGRATION_STEPS. Every step is idempotent: a second run copies nothing.
 */

export interface MigrationContext {
  home: string;
  to: ObjectStore;
  /** Called once per item handled, for progress lines. */
  progress?: (line: string) => void;
}

export interface Totals {
  count: number;
  bytes: number;
}

export interface StepResult {
  step: string;
  /** Where it went, for messages. */
  to: string;
  copied: Totals;
  /** Already there with the same size (content-addressed: the same key is the same content). */
  skipped: Totals;
  /** Items that could not be copied, each with why (a damaged local copy is never uploaded). */
  failed: { item: string; error: string }[];
}

export interface MigrationStep {
  name: string;
  run(ctx: MigrationContext): Promise<StepResult>;
}

/** How many artifacts move at once: uploads are network-bound, and a few in flight hide each one's latency. */
const PARALLEL = 4;

/**
 * Copies every artifact of the home into the store under the same key (`artifacts/<2 hex>/<64 hex>`). An artifact the
 * store already holds at its size is skipped; every other one is hashed first (a local copy that no longer matches
 * its ref is reported, not uploaded) and checked by size after the upload.
 */
export async function migrateArtifacts(ctx: MigrationContext): Promise<StepResult> {
  const result: StepResult = {
    step: 'artifacts',
    to: ctx.to.description,
    copied: { count: 0, bytes: 0 },
    skipped: { count: 0, bytes: 0 },
    failed: [],
  };
  const { artifacts } = await listArtifacts(path.join(ctx.home, 'artifacts'));
  const queue = [...artifacts];
  const worker = async () => {
    for (let a = queue.shift(); a; a = queue.shift()) {
      const hex = a.ref.slice('sha256:'.length);
      const key = `artifacts/${hex.slice(0, 2)}/${hex}`;
      try {
        const there = await ctx.to.head(key);
        if (there && there.bytes === a.bytes) {
          add(result.skipped, a.bytes);
          continue;
        }
        const actual = await sha256OfFile(a.path);
        if (actual !== hex) throw new Error(`the home's copy is damaged (its bytes hash to sha256:${actual}); not copied`);
        await ctx.to.putFile(key, a.path);
        const stored = await ctx.to.head(key);
        if (stored?.bytes !== a.bytes)
          throw new Error(`the store holds ${stored ? `${stored.bytes} bytes` : 'nothing'} after the upload of ${a.bytes}`);
        add(result.copied, a.bytes);
        ctx.progress?.(`copied ${a.ref} (${a.bytes} bytes)`);
      } catch (err) {
        result.failed.push({ item: a.ref, error: (err as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return result;
}

/** The steps `rankwright store migrate` runs, in order. */
export const MIGRATION_STEPS: MigrationStep[] = [{ name: 'artifacts', run: migrateArtifacts }];

function add(t: Totals, bytes: number): void {
  t.count++;
  t.bytes += bytes;
}

async function sha256OfFile(file: string): Promise<string> {
  const digest = createHash('sha256');
  await pipeline(fs.createReadStream(file), digest);
  return digest.digest('hex');
}
