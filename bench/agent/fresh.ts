import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { ensureWideScenario } from '../../ranking/data/wide-planted';
import { isWideScenarioName, resolveWideScenario } from '../../ranking/data/wide-scenarios';
import { scoreFile } from '../../ranking/scoring';
import { measurePredictions, type QualityMetrics } from '../peers/measure';
import type { ScenarioFiles } from '../quality/report';

/**
 * Rows no campaign ever saw, from the same planted truth: the scenario generated again with twice the test rows. A
 * planted test split is a prefix-stable stream (ranking/data/wide-planted.ts), so the longer file's first rows are
 * the run's test rows (checked, line for line) and the rest continue the stream: fresh rows of the same period. The
 * recommendation scored on them should match its reported test NE within noise, now that test confirms once instead
 * of deciding. Not for drifting scenarios: there each split spans its whole period whatever its rows, so a longer
 * test file is another sample of the same draws, not a continuation.
 */

export interface FreshRows {
  file: string;
  rows: number;
}

/** Writes (or reuses) `fresh.tsv` beside the longer generation: the test stream's rows after the run's test rows. */
export async function ensureFreshRows(
  name: string,
  files: ScenarioFiles,
  opts: { rows?: number; log?: (line: string) => void } = {},
): Promise<FreshRows | { unavailable: string } | undefined> {
  // Not applicable (undefined): a scenario that isn't planted, or one whose rows drift.
  if (!isWideScenarioName(name)) return undefined;
  const options = resolveWideScenario(name, { rows: opts.rows });
  if (options.drift) return undefined;
  const dir = `${files.dir}-fresh`;
  const longer = { ...options, testRows: 2 * options.testRows };
  const { meta, reused } = await ensureWideScenario(longer, dir);
  opts.log?.(`${name}: rows no campaign saw in ${dir} (${reused ? 'reused' : 'generated'})`);
  const longTest = path.join(dir, meta.data.test);
  const file = path.join(dir, 'fresh.tsv');
  const n = files.rows.test;
  if (fs.existsSync(file) && fs.statSync(file).mtimeMs >= fs.statSync(longTest).mtimeMs) return { file, rows: await countLines(file) };
  // The longer file's first n rows must be the run's test rows: else its tail is not a continuation.
  const originalLines = readline.createInterface({ input: fs.createReadStream(files.test), crlfDelay: Infinity });
  const original = originalLines[Symbol.asyncIterator]();
  const tmp = `${file}.tmp`;
  const out = fs.createWriteStream(tmp);
  let i = 0;
  let rows = 0;
  let differs: string | undefined;
  try {
    for await (const line of readline.createInterface({ input: fs.createReadStream(longTest), crlfDelay: Infinity })) {
      if (i++ < n) {
        const same = await original.next();
        if (same.done || same.value !== line) {
          differs = `the longer test file differs from the run's at row ${i}: not a continuation`;
          break;
        }
        continue;
      }
      if (!out.write(line + '\n')) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      rows++;
    }
  } finally {
    originalLines.close();
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  if (differs || rows === 0) {
    fs.rmSync(tmp, { force: true });
    return { unavailable: differs ?? 'no rows after the test rows' };
  }
  fs.renameSync(tmp, file);
  return { file, rows };
}

/** A model artifact's metrics on a labelled file (scored as `rankwright score` scores, measured as every peer is). */
export async function scoreArtifactOn(artifact: string, file: string, workDir: string): Promise<QualityMetrics> {
  const predictions = path.join(workDir, `scored-${path.basename(file)}.predictions.txt`);
  try {
    await scoreFile(artifact, file, predictions);
    return await measurePredictions(predictions, file);
  } finally {
    fs.rmSync(predictions, { force: true });
  }
}

/** A constant predictor's metrics on a labelled file (every row scored `p`). */
export async function scoreConstant(p: number, file: string, workDir: string): Promise<QualityMetrics> {
  const rows = await countLines(file);
  const predictions = path.join(workDir, `constant-${path.basename(file)}.predictions.txt`);
  fs.writeFileSync(predictions, `${p}\n`.repeat(rows));
  try {
    return await measurePredictions(predictions, file);
  } finally {
    fs.rmSync(predictions, { force: true });
  }
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) if (line) n++;
  return n;
}
