import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXPORT_FORMATS, ExportWriteError, exportModel } from '../../ranking/export';

export interface ExportOptions {
  /** Model artifact ref (sha256:…). */
  model: string;
  format: string;
  out: string;
}

/**
 * `rankwright export --model REF --format onnx --out model.onnx`: the model as an ONNX graph, and beside it
 * (model.preprocessing.json) how raw rows become the graph's inputs. Exit 0 ok, 1 failed, 2 bad arguments, 3 no such
 * artifact (one line on stderr naming the option).
 */
export async function runExport(opts: ExportOptions): Promise<number> {
  const fail = (code: number, line: string) => {
    process.stderr.write(`${line}\n`);
    return code;
  };
  const usage = (line: string) => fail(2, `error: ${line}`);
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) {
    return usage(`--format ${JSON.stringify(opts.format)}: unsupported export format; supported: ${EXPORT_FORMATS.join(', ')}`);
  }
  const outDir = path.dirname(path.resolve(opts.out));
  if (!isDirectory(outDir)) {
    return usage(
      `--out ${JSON.stringify(opts.out)}: ${fs.existsSync(outDir) ? `${outDir} is not a directory` : `directory ${outDir} does not exist`}`,
    );
  }
  if (isDirectory(opts.out)) return usage(`--out ${JSON.stringify(opts.out)}: is a directory, expected a file path`);
  try {
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch {
    return usage(`--out ${JSON.stringify(opts.out)}: directory ${outDir} is not writable`);
  }
  try {
    const r = await exportModel(opts.model, opts.out, opts.format);
    process.stderr.write(
      `exported ${r.family} model ${opts.model} → ${r.onnxPath} (${r.onnxBytes} bytes), preprocessing spec → ${r.preprocessingPath}\n`,
    );
    return 0;
  } catch (e) {
    const msg = ((e as Error).message ?? String(e)).replace(/\s*\n\s*/g, '; ');
    if (/invalid artifact ref/.test(msg)) return usage(`--model: ${msg}`);
    if (/^artifact .* not found/.test(msg)) return fail(3, `not found: --model: ${msg}`);
    if (/^artifact .* is a /.test(msg)) return usage(`--model: ${msg}`);
    if (/^output\b.*(must not contain|expected a file path)/.test(msg)) return usage(`--out: ${msg}`);
    if (e instanceof ExportWriteError) return usage(`--out ${JSON.stringify(opts.out)}: ${msg}`);
    throw e;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
