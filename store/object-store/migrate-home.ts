import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { shareHomeRowCache } from '../../ranking/data/shared-row-cache';
import { listArtifacts } from '../artifact-inventory';
import type { ObjectStore } from './object-store';

/**
 * Moving a home into a shared store (`rankwright store migrate --to s3://…`): a list of steps, each copying one kind
 * of thing and saying what it did. Artifacts and row caches are the steps here; the event logs and insights move to
 * the fleet's database in a step of their own (store/migrate-database.ts). Every step is idempotent: a second run
 * copies nothing.
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
  /**
   * Items deliberately not copied, each with why, that are no failure: a row cache whose data file is gone or changed
   * (the home can rebuild it; no other home could use it). Absent from steps that leave nothing.
   */
  leftInHome?: { item: string; reason: string }[];
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

/** A row cache's file in the home: `row-cache/<32 hex>.rows` (a cache being written ends in `.tmp`). */
const ROW_CACHE_FILE = /^[0-9a-f]{32}\.rows$/;

/**
 * Shares the home's row caches (built before the store was set, so never uploaded) as a worker shares one it parsed:
 * another home then fetches the rows instead of parsing the file. One at a time: each hashes its whole data file, and
 * disks serve one stream best. A cache whose data file is gone or changed is left in the home, counted (see
 * shareHomeRowCache).
 */
export async function migrateRowCaches(ctx: MigrationContext): Promise<StepResult> {
  const result: StepResult = {
    step: 'row caches',
    to: ctx.to.description,
    copied: { count: 0, bytes: 0 },
    skipped: { count: 0, bytes: 0 },
    failed: [],
    leftInHome: [],
  };
  const dir = path.join(ctx.home, 'row-cache');
  const names = (await fs.promises.readdir(dir).catch(() => [] as string[])).filter((n) => ROW_CACHE_FILE.test(n)).sort();
  for (const name of names) {
    const item = path.join('row-cache', name);
    try {
      const done = await shareHomeRowCache(ctx.to, path.join(dir, name));
      if (done.outcome === 'left') result.leftInHome!.push({ item, reason: done.reason });
      else if (done.outcome === 'already-there') add(result.skipped, done.bytes);
      else {
        add(result.copied, done.bytes);
        ctx.progress?.(`copied ${item} (${done.bytes} bytes)`);
      }
    } catch (err) {
      // Collected (rankwright gc) since the listing: nothing to share.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(path.join(dir, name))) continue;
      result.failed.push({ item, error: (err as Error).message });
    }
  }
  return result;
}

/** The steps `rankwright store migrate` runs, in order. */
export const MIGRATION_STEPS: MigrationStep[] = [
  { name: 'artifacts', run: migrateArtifacts },
  { name: 'row caches', run: migrateRowCaches },
];

function add(t: Totals, bytes: number): void {
  t.count++;
  t.bytes += bytes;
}

async function sha256OfFile(file: string): Promise<string> {
  const digest = createHash('sha256');
  await pipeline(fs.createReadStream(file), digest);
  return digest.digest('hex');
}
