import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runGenerate } from '../../client/commands/generate';
import { runCli } from '../support/processes';
import { InvalidInputError } from '../../contracts/errors';
import { WideScenarioOptions } from '../../contracts/wide-planted';
import { readCriteoFile } from '../../ranking/data/criteo-reader';
import {
  ensureWideScenario,
  generateWideScenario,
  plantWideTruth,
  readWideMeta,
  type WideGenerateResult,
  type WideMeta,
} from '../../ranking/data/wide-planted';
import { BENCH_WIDE_SCENARIOS, WIDE_SCENARIOS, namedWideScenario, resolveWideScenario } from '../../ranking/data/wide-scenarios';
import { auc, logLoss, normalizedEntropy } from '../../ranking/metrics';

const REPO = path.resolve(__dirname, '../..');

function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rw-wide-${tag}-`));
}

function readLines(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'), `${file} ends with a newline`);
  return text.slice(0, -1).split('\n');
}

/** Runs `body` with stdout / stderr captured (the command's output), restoring them whatever happens. */
async function captured(body: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const code = await body();
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

describe('wide planted generator (rankwright generate)', function () {
  this.timeout(120_000);
  let small: WideGenerateResult;
  let smallDir: string;

  before(async () => {
    smallDir = tempDir('small');
    small = await generateWideScenario(namedWideScenario('wide-small'), smallDir);
  });

  it('writes Criteo TSV (40 columns, integer counts, 8-hex-digit values) that the real reader loads with zero bad rows', async () => {
    const meta = small.meta;
    for (const split of ['train', 'validation', 'test'] as const) {
      const summary = meta.splits[split]!;
      const file = path.join(smallDir, summary.file);
      const lines = readLines(file);
      assert.equal(lines.length, summary.rows);
      let clicks = 0;
      const missing = new Array<number>(40).fill(0);
      for (const line of lines) {
        const cols = line.split('\t');
        assert.equal(cols.length, 40, `${split}: 40 tab-separated columns`);
        assert.ok(cols[0] === '0' || cols[0] === '1');
        clicks += Number(cols[0]);
        for (let c = 1; c <= 13; c++) assert.ok(cols[c] === '' || /^\d+$/.test(cols[c]), `I${c} is a non-negative count or empty, got ${cols[c]}`);
        for (let c = 14; c < 40; c++) assert.ok(cols[c] === '' || /^[0-9a-f]{8}$/.test(cols[c]), `C${c - 13}: 8 hex digits or empty`);
        cols.forEach((v, c) => (missing[c] += v === '' ? 1 : 0));
      }
      assert.equal(clicks, summary.clicks);
      // Missing values occur, but no field is always empty.
      assert.ok(missing.slice(1).some((m) => m > 0));
      assert.ok(missing.slice(1).every((m) => m < summary.rows));
      const { block, badRows } = await readCriteoFile(file, { maxBadRowFraction: 0, strict: true });
      assert.equal(badRows.count, 0);
      assert.equal(block.rows, summary.rows);
    }
    // Heavy tails: some counts are in the thousands, many are 0.
    const counts = readLines(path.join(smallDir, 'train.tsv')).flatMap((l) =>
      l
        .split('\t')
        .slice(1, 14)
        .filter((v) => v !== '')
        .map(Number),
    );
    const maxCount = counts.reduce((m, x) => Math.max(m, x), 0);
    assert.ok(maxCount > 1000, `max count ${maxCount}`);
    assert.ok(counts.filter((x) => x === 0).length / counts.length > 0.05);
    // Per-field cardinality reaches the thousands (Zipf over up to 1e5 values).
    const distinct = Array.from({ length: 26 }, () => new Set<string>());
    for (const l of readLines(path.join(smallDir, 'train.tsv')))
      l.split('\t')
        .slice(14)
        .forEach((v, f) => v && distinct[f].add(v));
    const sizes = distinct.map((s) => s.size);
    assert.ok(Math.max(...sizes) > 3000 && Math.min(...sizes) < 200, `distinct values per field: ${sizes.join(' ')}`);
  });

  it('meta.json: the oracle NE and log loss equal what test.truth.tsv and the labels give', () => {
    const meta = JSON.parse(fs.readFileSync(path.join(smallDir, 'meta.json'), 'utf8')) as WideMeta;
    assert.equal(meta.scenario, 'wide-small');
    assert.deepEqual(meta.options, namedWideScenario('wide-small'));
    for (const split of ['test', 'validation'] as const) {
      const s = meta.splits[split]!;
      const truth = readLines(path.join(smallDir, s.truthFile!)).map(Number);
      const labels = readLines(path.join(smallDir, s.file)).map((l) => (l[0] === '1' ? 1 : 0));
      assert.equal(truth.length, labels.length);
      assert.ok(truth.every((p) => p > 0 && p < 1));
      assert.equal(s.oracle.ne, normalizedEntropy(truth, labels));
      assert.equal(s.oracle.logloss, logLoss(truth, labels));
      assert.ok(Math.abs(s.oracle.auc! - auc(truth, labels)) < 1e-4, `binned AUC ${s.oracle.auc} vs exact ${auc(truth, labels)}`);
      if (split === 'test') {
        assert.equal(meta.oracle.ne, normalizedEntropy(truth, labels));
        assert.equal(meta.oracle.logloss, logLoss(truth, labels));
      }
    }
    // The bias is fitted to the base CTR; the observed CTR is within sampling error of it.
    assert.ok(Math.abs(meta.splits.test.oracle.meanProbability - meta.options.baseCtr) < 0.01);
    assert.ok(Math.abs(meta.baseCtr.train - meta.options.baseCtr) < 0.015, `train CTR ${meta.baseCtr.train}`);
    assert.ok(meta.oracle.ne > 0.3 && meta.oracle.ne < 0.95, `oracle NE ${meta.oracle.ne} shows learnable signal`);
    assert.deepEqual(meta.data, { format: 'criteo-tsv', train: 'train.tsv', test: 'test.tsv', validation: 'validation.tsv' });
  });

  it('every truth kind moves the labels: the truth without it scores a worse test NE by several paired standard errors', () => {
    const meta = small.meta;
    const kinds = ['categoricalMain', 'denseMain', 'crosses', 'denseCategorical', 'threeWay', 'denseShapes', 'labelNoise'];
    for (const kind of kinds) {
      const a = meta.ablations.find((x) => x.remove === kind);
      assert.ok(a, `an ablation of ${kind}`);
      assert.ok(
        a.neGap > 4 * a.neGapStdErr && a.neGap > 0.003,
        `${kind}: NE without it ${a.ne.toFixed(4)} vs oracle ${meta.oracle.ne.toFixed(4)} (± ${a.neGapStdErr.toFixed(4)})`,
      );
    }
    // The three-way cross in particular: the oracle beats the truth without it.
    const threeWay = meta.ablations.find((x) => x.remove === 'threeWay')!;
    assert.ok(meta.oracle.ne < threeWay.ne);
    assert.equal(meta.structure.threeWay.length, 1);
    // A scenario without a kind plants none of it.
    const plain = plantWideTruth({ ...WIDE_SCENARIOS['wide-tiny'], threeWay: 0, crosses: 0, denseShapes: 0 });
    assert.deepEqual(plain.kindsPresent, ['categoricalMain', 'denseMain', 'denseCategorical']);
  });

  it('is deterministic: same seed → same bytes, another seed → other data, fewer train rows → a prefix of the same stream', async () => {
    const tiny = namedWideScenario('wide-tiny');
    const [a, b, c, d] = [tempDir('a'), tempDir('b'), tempDir('c'), tempDir('d')];
    await generateWideScenario(tiny, a);
    await generateWideScenario(tiny, b);
    await generateWideScenario({ ...tiny, seed: tiny.seed + 1 }, c);
    await generateWideScenario({ ...tiny, trainRows: 500 }, d);
    for (const f of ['train.tsv', 'test.tsv', 'test.truth.tsv', 'meta.json'])
      assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f} is byte-identical`);
    assert.ok(!fs.existsSync(path.join(a, 'validation.tsv')), 'no validation file when validationRows is 0');
    assert.notEqual(fs.readFileSync(path.join(a, 'train.tsv'), 'utf8'), fs.readFileSync(path.join(c, 'train.tsv'), 'utf8'));
    const full = fs.readFileSync(path.join(a, 'train.tsv'), 'utf8');
    const prefix = fs.readFileSync(path.join(d, 'train.tsv'), 'utf8');
    assert.ok(full.startsWith(prefix) && prefix.split('\n').length === 501);
    // Each split is its own stream: changing train rows leaves test alone.
    assert.ok(fs.readFileSync(path.join(a, 'test.tsv')).equals(fs.readFileSync(path.join(d, 'test.tsv'))));
    // No temporary files left behind.
    assert.deepEqual(fs.readdirSync(a).sort(), ['meta.json', 'test.truth.tsv', 'test.tsv', 'train.tsv']);
    // Benchmarks reuse a complete directory with the same options, and regenerate one that differs.
    assert.equal((await ensureWideScenario(tiny, a)).reused, true);
    assert.equal((await ensureWideScenario({ ...tiny, seed: 99 }, d)).reused, false);
    assert.equal((await readWideMeta(d))!.options.seed, 99);
  });

  it('streams: memory stays flat while 300k rows are written (child process, 64 MB heap cap)', () => {
    const out = tempDir('memory');
    const script = `
      const { generateWideScenario } = require(${JSON.stringify(path.join(REPO, 'ranking/data/wide-planted.ts'))});
      const samples = [];
      generateWideScenario({ seed: 5, trainRows: 300000, validationRows: 0, testRows: 1000 }, ${JSON.stringify(out)}, {
        onProgress: (p) => {
          if (p.split !== 'train' || (p.rows % 32768 !== 0 && p.rows !== p.total)) return;
          global.gc();
          const m = process.memoryUsage();
          samples.push({ rows: p.rows, heap: m.heapUsed, external: m.external });
        },
      }).then(() => process.stdout.write(JSON.stringify(samples)), (e) => { console.error(e); process.exit(1); });`;
    const stdout = execFileSync(process.execPath, ['--max-old-space-size=64', '--expose-gc', '-r', 'tsx/cjs', '-e', script], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 110_000,
    });
    const samples = JSON.parse(stdout) as { rows: number; heap: number; external: number }[];
    assert.ok(samples.length >= 9 && samples[samples.length - 1].rows === 300_000);
    const first = samples[0];
    const last = samples[samples.length - 1];
    const growth = (x: { heap: number; external: number }) => x.heap + x.external - first.heap - first.external;
    const MiB = 1 << 20;
    assert.ok(
      Math.max(...samples.map(growth)) < 4 * MiB,
      `live memory grew by ${(growth(last) / MiB).toFixed(1)} MiB from row ${first.rows} to ${last.rows}`,
    );
    assert.equal(fs.statSync(path.join(out, 'train.tsv')).size, JSON.parse(fs.readFileSync(path.join(out, 'meta.json'), 'utf8')).splits.train.bytes);
  });

  it('refuses a bad scenario with an error naming the field', async () => {
    const bad = (spec: string, pattern: RegExp) => {
      assert.throws(
        () => resolveWideScenario(spec),
        (e: unknown) => e instanceof InvalidInputError && pattern.test(e.message),
      );
    };
    bad('{"crosses":[{"fields":["C1","C99"]}]}', /crosses\.0\.fields\.1: expected a categorical field C1\.\.C26, got "C99"/);
    bad('{"threeWay":[{"fields":["C1","C2","C1"]}]}', /threeWay\.0\.fields: a three-way cross needs three different fields/);
    bad('{"categorical":{"cardinality":[5000,10]}}', /categorical\.cardinality: expected \[low, high\]/);
    bad('{"categorical":{"fields":{"C3":{"cardinality":1000000}}}}', /categorical\.fields\.C3\.cardinality/);
    bad('{"dense":{"fields":{"I14":{}}}}', /dense\.fields\.I14: unknown field/);
    bad('{"baseCtr":0.02,"labelNoise":0.05}', /labelNoise: must be below baseCtr/);
    bad('{"trainRows":"many"}', /trainRows: .*expected number/);
    bad('{"seeds":3}', /seeds: unknown field/);
    bad('{"extends":"wide-nope"}', /extends: expected one of wide-crosses/);
    bad('{not json', /not valid JSON/);
    bad('wide-nope', /not a named scenario \(wide-crosses/);
    const file = path.join(tempDir('json'), 'scenario.json');
    fs.writeFileSync(file, JSON.stringify({ extends: 'wide-tiny', denseShapes: [{ field: 'I2', bumps: [{ centre: 2, height: 9 }] }] }));
    bad(file, /denseShapes\.0\.bumps\.0\.height/);

    const run = await captured(() => runGenerate({ scenario: '{"crosses":[{"fields":["C1","C1"]}]}', out: tempDir('refused') }));
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^error: invalid scenario JSON: crosses\.0\.fields: a cross needs two different fields\n$/);
  });

  it('a JSON scenario can extend a named one; --rows scales the splits', () => {
    const o = resolveWideScenario('{"extends":"wide-three-way","seed":9,"categorical":{"fields":{"C1":{"cardinality":7}}}}', { rows: 50_000 });
    assert.equal(o.seed, 9);
    assert.equal(o.name, 'wide-three-way-custom');
    assert.deepEqual(Object.keys(o.categorical.fields).sort(), ['C1', 'C17', 'C3', 'C9']);
    assert.deepEqual([o.trainRows, o.validationRows, o.testRows], [50_000, 5_000, 10_000]);
    assert.deepEqual(o.threeWay, namedWideScenario('wide-three-way').threeWay);
  });

  it('names at least four wide scenarios (≥ 500k train rows) with different seeds and truth structures, plus small ones', () => {
    assert.ok(BENCH_WIDE_SCENARIOS.length >= 4);
    const wide = BENCH_WIDE_SCENARIOS.map((name) => namedWideScenario(name));
    for (const o of wide) {
      assert.ok(o.trainRows >= 500_000 && o.testRows >= 100_000, o.name);
      assert.ok(o.baseCtr >= 0.03 && o.baseCtr <= 0.25, o.name);
    }
    assert.equal(new Set(wide.map((o) => o.seed)).size, wide.length);
    const structure = (o: WideScenarioOptions) =>
      JSON.stringify([o.crosses, o.denseCategorical, o.threeWay, o.denseShapes, o.categorical.cardinality, o.labelNoise, o.baseCtr]);
    assert.equal(new Set(wide.map(structure)).size, wide.length);
    assert.ok(namedWideScenario('wide-small').trainRows <= 20_000);
  });

  it('the command: --json prints files, rows and the oracle; --list lists the named scenarios', async () => {
    const out = tempDir('cmd');
    const run = await captured(() => runGenerate({ scenario: 'wide-tiny', out, json: true, rows: 1000 }));
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'meta.json'), 'utf8')) as WideMeta;
    assert.equal(summary.oracle.ne, meta.oracle.ne);
    assert.deepEqual(summary.rows, { train: 1000, validation: 0, test: 1000 });
    assert.equal(summary.files.train, path.join(out, 'train.tsv'));
    assert.deepEqual(summary.data, { format: 'criteo-tsv', train: path.join(out, 'train.tsv'), test: path.join(out, 'test.tsv') });
    assert.match(run.stderr, /generating train/);

    const list = await captured(() => runGenerate({ list: true, json: true }));
    assert.equal(list.code, 0);
    const names = (JSON.parse(list.stdout) as { name: string }[]).map((x) => x.name);
    assert.deepEqual(names, Object.keys(WIDE_SCENARIOS));

    const missing = await captured(() => runGenerate({ scenario: 'wide-tiny' }));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--out <dir> is required/);
  });

  it('npx rankwright generate (a child process, as a user runs it) writes the files and pipes whole JSON', async () => {
    const out = tempDir('cli');
    const run = await runCli(['generate', '--scenario', 'wide-tiny', '--rows', '1500', '--out', out, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { rows: { train: number }; files: { train: string } };
    assert.equal(summary.rows.train, 1500);
    assert.equal(fs.readFileSync(summary.files.train, 'utf8').trimEnd().split('\n').length, 1500);
    const bad = await runCli(['generate', '--scenario', 'nope', '--out', out]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr.trim().split('\n').at(-1)!, /^error: invalid scenario "nope": not a named scenario/);
  });
});
