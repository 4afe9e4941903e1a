import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrainingFailure, scoreFile } from '../../ranking';

export interface ScoreOptions {
  /** Model artifact ref (sha256:…). */
  model: string;
  input: string;
  out: string;
}

/**
 * `rankwright score --model REF --input F --out F`: one probability per input row. Exit 0 ok, 1 failed, 2 bad
 * arguments (one line on stderr naming the option).
 */
export async function runScore(opts: ScoreOptions): Promise<number> {
  const usage = (line: string) => {
    process.stderr.write(`error: ${line}\n`);
    return 2;
  };
  if (!isFile(opts.input)) return usage(`--input ${JSON.stringify(opts.input)}: no such file`);
  const outDir = path.dirname(path.resolve(opts.out));
  if (!isDirectory(outDir)) return usage(`--out ${JSON.stringify(opts.out)}: directory ${outDir} does not exist`);
  if (isDirectory(opts.out)) return usage(`--out ${JSON.stringify(opts.out)}: is a directory, expected a file path`);
  try {
    const { rows } = await scoreFile(opts.model, opts.input, opts.out);
    process.stderr.write(`scored ${rows} rows → ${opts.out}\n`);
    return 0;
  } catch (e) {
    if (e instanceof TrainingFailure) {
      process.stderr.write(`scoring failed (${e.failureClass}): ${e.message.replace(/\s*\n\s*/g, '; ')}\n`);
      return 1;
    }
    const msg = ((e as Error).message ?? String(e)).replace(/\s*\n\s*/g, '; ');
    if (/invalid artifact ref|not found/.test(msg)) return usage(`--model: ${msg}`);
    if (/^input\b.*(must not contain|expected a file path)/.test(msg)) return usage(`--input: ${msg}`);
    if (/^output\b.*(must not contain|expected a file path)/.test(msg)) return usage(`--out: ${msg}`);
    throw e;
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
