import * as fs from 'node:fs';
import { z } from 'zod';
import { DataConfig, ModelConfig, type CalibrationReport, type TrainingProgress } from '../../contracts';
import { InvalidInputError, parseOrExplain } from '../../contracts/errors';
import { checkFieldsAgainstData, engineModel, engineSegmentField } from '../../contracts/field-names';
import { BadRowFailure, TrainingFailure, trainExperiment } from '../../ranking';
import { describeEarlyStopping } from '../../ranking/learning-curve';
import { describeBadRows } from '../../store/event-summary';
import { oneLine } from '../format';

/** The experiment file `rankwright train --config F` reads: an ExperimentInput without ids. */
export const TrainConfigFile = z
  .object({ data: DataConfig, model: ModelConfig, segmentField: z.string().optional() })
  .strict()
  // As in ExperimentInput: a declared schema's column names are checked against it and turned into the engine's slots.
  .superRefine((input, ctx) => checkFieldsAgainstData(ctx, input.data, [{ path: ['model'], model: input.model }], input.segmentField))
  .overwrite((input) => ({
    ...input,
    model: engineModel(input.model, input.data),
    ...(input.segmentField === undefined ? {} : { segmentField: engineSegmentField(input.segmentField, input.data) }),
  }));

export interface TrainOptions {
  config: string;
  json: boolean;
  /** Any malformed data row is fatal (as `"strict": true` in the data config). */
  strict?: boolean;
}

/**
 * `rankwright train --config F [--json] [--strict]`: trains one experiment locally, without Temporal. Exit codes:
 * 0 ok, 1 training failed (classified), 2 invalid config or (strict) a malformed data row. With --json prints exactly
 * {"artifact":REF,"metrics":{...},"badRows":{"count","files","examples"}}; the text output says how many malformed
 * rows were skipped, with the first examples (file:line: what was wrong).
 */
export async function runTrain(opts: TrainOptions): Promise<number> {
  let input: z.infer<typeof TrainConfigFile>;
  try {
    const text = await fs.promises.readFile(opts.config, 'utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      process.stderr.write(`invalid experiment config ${opts.config}: not JSON (${(e as Error).message})\n`);
      return 2;
    }
    input = parseOrExplain(TrainConfigFile, raw, `experiment config ${opts.config}`);
    // --strict applies to files; planted data has no rows to be malformed.
    if (opts.strict && 'format' in input.data) input = { ...input, data: { ...input.data, strict: true } };
  } catch (e) {
    if (e instanceof InvalidInputError) {
      process.stderr.write(`${oneLine(e.message)}\n`);
      return 2;
    }
    process.stderr.write(`cannot read experiment config ${opts.config}: ${(e as Error).message}\n`);
    return 2;
  }

  const showBar = !opts.json && !!process.stderr.isTTY;
  const bar = showBar ? await progressBar() : null;
  try {
    const result = await trainExperiment({
      data: input.data,
      model: input.model,
      segmentField: input.segmentField,
      onProgress: (p: TrainingProgress) => bar?.update(p),
    });
    bar?.stop();
    if (opts.json) {
      const { artifact, metrics, validationMetrics, badRows, validation, earlyStopping, learningCurve, calibration } = result;
      process.stdout.write(
        JSON.stringify({
          artifact,
          metrics,
          badRows,
          validation,
          earlyStopping,
          learningCurve,
          calibration,
          // The served model on validation (cross-fitted calibration): what a campaign would decide on.
          ...(validationMetrics ? { validationMetrics } : {}),
        }) + '\n',
      );
    } else {
      const m = result.metrics;
      const lines = [
        `model     ${input.model.family}  →  ${result.artifact}`,
        `test NE   ${m.ne.toFixed(5)} ± ${result.neStdErr.toFixed(5)}   (validation NE ${result.validationMetrics ? `${result.validationMetrics.ne.toFixed(5)} ± ${result.validationMetrics.neStdErr.toFixed(5)}, calibration cross-fitted; ` : ''}best while training ${result.validationNe.toFixed(5)})`,
        `AUC       ${m.auc.toFixed(5)}   log loss ${m.logloss.toFixed(5)}   calibration ${m.calibration.toFixed(3)}   CTR ${m.ctr.toFixed(4)}`,
      ];
      if (m.oracleNe !== undefined) lines.push(`oracle NE ${m.oracleNe.toFixed(5)}   regret ${m.regret!.toFixed(5)}`);
      lines.push(`trained   ${result.trainSeconds.toFixed(2)} s, ${m.examples} test rows, model ${(result.modelBytes / 1024).toFixed(0)} KiB`);
      lines.push(`training  ${describeEarlyStopping(result.earlyStopping, result.validation)}`);
      if (result.calibration) lines.push(`calibrated ${describeCalibration(result.calibration)}`);
      if (result.badRows.count > 0) lines.push(describeBadRows(result.badRows));
      process.stdout.write(lines.join('\n') + '\n');
    }
    return 0;
  } catch (e) {
    bar?.stop();
    if (e instanceof BadRowFailure) {
      // Strict data: the one bad row is the whole story (file:line: what was wrong), on one line, as invalid input.
      if (opts.json) process.stdout.write(JSON.stringify({ failure: e.toReport() }) + '\n');
      process.stderr.write(`bad row: ${e.message}\n`);
      return 2;
    }
    if (e instanceof TrainingFailure) {
      if (opts.json) process.stdout.write(JSON.stringify({ failure: e.toReport() }) + '\n');
      process.stderr.write(`training failed (${e.failureClass}): ${e.message}\n`);
      return 1;
    }
    if (e instanceof InvalidInputError) {
      process.stderr.write(`${oneLine(e.message)}\n`);
      return 2;
    }
    throw e;
  }
}

async function progressBar() {
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    { format: 'training |{bar}| epoch {epoch} step {step} · loss {loss} · val NE {ne}', stream: process.stderr, hideCursor: true },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(p: TrainingProgress) {
      if (!started) {
        bar.start(100, 0, { epoch: p.epoch, step: p.step, loss: '-', ne: '-' });
        started = true;
      }
      // Steps per run aren't known here, so the bar shows progress through the current epoch's events.
      bar.update(Math.min(99, (p.step % 100) + 1), {
        epoch: p.epoch,
        step: p.step,
        loss: p.runningLogloss.toFixed(4),
        ne: p.validationNe !== undefined ? p.validationNe.toFixed(4) : '-',
      });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** One line: the method and what it did to validation calibration and NE (in-sample for the calibrator). */
function describeCalibration(c: CalibrationReport): string {
  const { before, after } = c.validation;
  const how = c.requested === 'auto' ? `${c.method} (auto: ${c.reason})` : c.method;
  const sampling = c.negativeSamplingRate < 1 ? `; negatives downsampled at ${c.negativeSamplingRate}, corrected` : '';
  return `${how}; validation calibration ${before.calibration.toFixed(3)} → ${after.calibration.toFixed(3)}, NE ${before.ne.toFixed(5)} → ${after.ne.toFixed(5)}${sampling}`;
}
