import { TrainingFailure, scoreFile } from '../../ranking';

export interface ScoreOptions {
  /** Model artifact ref (sha256:…). */
  model: string;
  input: string;
  out: string;
}

/** `rankwright score --model REF --input F --out F`: one probability per input row. Exit 0 ok, 1 failed, 2 bad arguments. */
export async function runScore(opts: ScoreOptions): Promise<number> {
  try {
    const { rows } = await scoreFile(opts.model, opts.input, opts.out);
    process.stderr.write(`scored ${rows} rows → ${opts.out}\n`);
    return 0;
  } catch (e) {
    if (e instanceof TrainingFailure) {
      process.stderr.write(`scoring failed (${e.failureClass}): ${e.message}\n`);
      return 1;
    }
    const msg = (e as Error).message ?? String(e);
    if (/invalid artifact ref|not found|must not contain|expected a file path/.test(msg)) {
      process.stderr.write(`${msg}\n`);
      return 2;
    }
    throw e;
  }
}
