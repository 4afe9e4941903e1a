import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { auc, calibration, clickThroughRate, logLoss, normalizedEntropy, normalizedEntropyStdErr } from '../../ranking/metrics';

/**
 * The one way the quality bench measures a model: from a predictions file (one probability per line, in test-file
 * order — what `rankwright score`, the textbook FTRL script, the LightGBM and the VW peers all write) and the test file's
 * labels. Every row of the table goes through this function, so no peer is measured by its own code.
 */
export interface QualityMetrics {
  ne: number;
  /** Standard error of NE (per-example log-loss variance). */
  neStdErr: number;
  auc: number;
  logloss: number;
  /** Predicted clicks / observed clicks (ideal 1). */
  calibration: number;
  ctr: number;
  rows: number;
}

/** Metrics of in-memory scores against labels (ranking/metrics.ts: the product's own definitions). */
export function measureScores(scores: ArrayLike<number>, labels: ArrayLike<number>): QualityMetrics {
  if (scores.length !== labels.length) throw new Error(`${scores.length} predictions for ${labels.length} labelled rows`);
  return {
    ne: normalizedEntropy(scores, labels),
    neStdErr: normalizedEntropyStdErr(scores, labels),
    auc: auc(scores, labels),
    logloss: logLoss(scores, labels),
    calibration: calibration(scores, labels),
    ctr: clickThroughRate(labels),
    rows: labels.length,
  };
}

/**
 * Measures a predictions file against the test file's labels: the first column of a Criteo TSV, or, for a declared
 * CSV (`csvLabelColumn`), the named column of a file with a header (unquoted cells: the bench's own tables).
 */
export async function measurePredictions(predictionsFile: string, testFile: string, opts: { csvLabelColumn?: string } = {}): Promise<QualityMetrics> {
  let at = 0; // the label's cell index
  const labels = await readColumn(
    testFile,
    (line, no) => {
      const tab = line.indexOf('\t');
      const label = opts.csvLabelColumn ? line.split(',', at + 1)[at] : tab < 0 ? line : line.slice(0, tab);
      if (label !== '0' && label !== '1') throw new Error(`${testFile}:${no}: label ${JSON.stringify(label)} is not 0 or 1`);
      return label === '1' ? 1 : 0;
    },
    opts.csvLabelColumn
      ? (header) => {
          at = header.split(',').indexOf(opts.csvLabelColumn!);
          if (at < 0) throw new Error(`${testFile}: no column ${JSON.stringify(opts.csvLabelColumn)} in its header`);
        }
      : undefined,
  );
  const scores = await readColumn(predictionsFile, (line, no) => {
    const p = Number(line.trim());
    if (!(p >= 0 && p <= 1)) throw new Error(`${predictionsFile}:${no}: ${JSON.stringify(line)} is not a probability`);
    return p;
  });
  if (scores.length !== labels.length) throw new Error(`${predictionsFile} has ${scores.length} predictions, ${testFile} has ${labels.length} rows`);
  return measureScores(scores, labels);
}

/** One number per non-empty line of `file`; `header`, when given, receives the first line instead of `parse`. */
async function readColumn(file: string, parse: (line: string, lineNo: number) => number, header?: (line: string) => void): Promise<Float64Array> {
  let values = new Float64Array(1 << 16);
  let count = 0;
  let lineNo = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
    lineNo++;
    if (lineNo === 1 && header) {
      header(line);
      continue;
    }
    if (!line) continue;
    if (count === values.length) {
      const grown = new Float64Array(values.length * 2);
      grown.set(values);
      values = grown;
    }
    values[count++] = parse(line, lineNo);
  }
  return values.subarray(0, count);
}
