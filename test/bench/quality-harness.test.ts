import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FAMILIES, PEERS, runProcess, type RunContext } from '../../bench/quality/contenders';
import { checkGoals, qualityMarkdown, type QualityReport, type RunResult } from '../../bench/quality/report';
import { ensureScenarioFiles } from '../../bench/quality/scenarios';
import type { QualityMetrics } from '../../bench/peers/measure';
import { ensureLightgbmPeerVenv } from '../support/trainer-venv';

// The quality bench's harness: goals, the table writer, the time cap, one end-to-end pass on a tiny wide
// scenario (textbook script + Rankwright lr through the real CLI; LightGBM without a venv is a reported failure), and
// one on the wide declared table at a quick size with every contender (LightGBM in the tests' own small venv).

const metrics = (ne: number, calibration = 1, auc = 0.75): QualityMetrics => ({
  ne,
  neStdErr: 0.002,
  auc,
  logloss: ne * 0.3,
  calibration,
  ctr: 0.1,
  rows: 1000,
});
const run = (id: string, kind: 'peer' | 'rankwright', m?: QualityMetrics, status: RunResult['status'] = 'ok'): RunResult => ({
  id,
  label: id,
  kind,
  status,
  wallSeconds: 1.5,
  metrics: m,
  note: status === 'capped' ? 'stopped at the 60 s cap, no result' : undefined,
});

function report(runs: RunResult[]): QualityReport {
  return {
    commit: 'abc123',
    dirtyFiles: 0,
    date: '2026-01-01T00:00:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 8, node: 'v20', platform: 'linux' },
    options: { scenarios: ['s'], families: ['lr', 'fm', 'dcn'], peers: ['ftrl-script', 'lightgbm'], capSeconds: 60 },
    scenarios: [
      {
        scenario: {
          name: 's',
          source: 'test',
          dir: '.bench/data/s',
          rows: { train: 1000, validation: 100, test: 1000 },
          validationFraction: 0.1,
          oracleNe: 0.7,
        },
        runs,
        goals: checkGoals(runs),
      },
    ],
  };
}

describe('quality bench: goals, table, harness', function () {
  it('passes the four goals when they hold', function () {
    const goals = checkGoals([
      run('ftrl-script', 'peer', metrics(0.8)),
      run('lightgbm', 'peer', metrics(0.78)),
      run('lr', 'rankwright', metrics(0.79, 1.01)),
      run('fm', 'rankwright', metrics(0.784, 0.98)),
      run('dcn', 'rankwright', metrics(0.786, 1.02)),
    ]);
    assert.deepEqual(
      goals.map((g) => [g.id, g.status]),
      [
        ['lr-vs-textbook', 'pass'],
        ['interactions-vs-lr', 'pass'],
        ['best-vs-lightgbm', 'pass'],
        ['calibration', 'pass'],
      ],
    );
    assert.match(goals[2].detail, /best fm 0\.7840 vs LightGBM 0\.7800 \(\+0\.0040\)/);
  });

  it('a gap to LightGBM with a family missing is not checked, not a miss (the missing one may be the best)', function () {
    const runs = [
      run('ftrl-script', 'peer', metrics(0.8)),
      run('lightgbm', 'peer', metrics(0.77)),
      run('lr', 'rankwright', metrics(0.8, 1.0)),
      run('fm', 'rankwright', metrics(0.79, 1.0)),
    ];
    const goals = checkGoals(runs);
    const best = goals.find((g) => g.id === 'best-vs-lightgbm')!;
    assert.equal(best.status, 'unchecked');
    assert.match(best.detail, /best fm 0\.7900 vs LightGBM 0\.7700 \(\+0\.0200\); not in the comparison: dcn not run$/);
    assert.equal(goals.find((g) => g.id === 'interactions-vs-lr')!.status, 'unchecked');
    // Within the gap, the families that ran already pass it.
    runs[3] = run('fm', 'rankwright', metrics(0.772, 1.0));
    assert.equal(checkGoals(runs).find((g) => g.id === 'best-vs-lightgbm')!.status, 'pass');
  });

  it('--regoal re-checks the goals of stored results with the current code and says so, running nothing', function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-regoal-'));
    try {
      const runs = [run('ftrl-script', 'peer', metrics(0.8)), run('lightgbm', 'peer', metrics(0.77)), run('lr', 'rankwright', metrics(0.79, 1.0))];
      const stale = report(runs);
      stale.scenarios[0].goals = stale.scenarios[0].goals.map((g) => ({ ...g, status: 'pass', detail: 'stale' }));
      fs.writeFileSync(path.join(dir, 'quality.json'), JSON.stringify(stale));
      const out = spawnSync('npx', ['tsx', 'bench/quality.ts', '--regoal', '--results', dir], { encoding: 'utf8', timeout: 50_000 });
      assert.equal(out.status, 0, out.stderr);
      const after = JSON.parse(fs.readFileSync(path.join(dir, 'quality.json'), 'utf8')) as QualityReport;
      assert.deepEqual(after.scenarios[0].goals, checkGoals(runs));
      assert.deepEqual(after.scenarios[0].runs, JSON.parse(JSON.stringify(runs)));
      assert.equal(after.commit, 'abc123');
      const md = fs.readFileSync(path.join(dir, 'quality.md'), 'utf8');
      assert.match(md, /Commit `abc123`; 2026-01-01T00:00:00\.000Z\. Goals re-checked \(runs unchanged\) by commit `[0-9a-f]{40}`/);
      assert.doesNotMatch(md, /stale/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports misses as misses, and marks them in the table', function () {
    const runs = [
      run('ftrl-script', 'peer', metrics(0.8)),
      run('lightgbm', 'peer', metrics(0.77)),
      run('textbook-ftrl', 'rankwright', metrics(0.805, 0.9)),
      run('lr', 'rankwright', metrics(0.801, 0.95)),
      run('fm', 'rankwright', metrics(0.79, 1.0)),
      run('dcn', 'rankwright', metrics(0.8, 1.0)),
    ];
    const goals = checkGoals(runs);
    assert.deepEqual(
      goals.map((g) => g.status),
      ['miss', 'pass', 'miss', 'miss'],
    );
    assert.match(goals[1].detail, /fm 0\.7900 \(−0\.0110\), dcn 0\.8000 \(−0\.0010\) vs lr 0\.8010$/);
    assert.match(goals[3].detail, /out of range: lr$/); // textbook-ftrl is not a default family: not in the goal
    const md = qualityMarkdown(report(runs));
    assert.match(md, /\| lr \| 0\.8010 ± 0\.0020 \| 0\.7500 \| 0\.950 ✘ MISS \| 0\.7000 \| 0\.1010 \| 1\.5 \|/);
    assert.match(md, /\| fm \| 0\.7900 ± 0\.0020 \| 0\.7500 \| 1\.000 ✔ \|/);
    assert.match(md, /\| textbook-ftrl \| 0\.8050 ± 0\.0020 \| 0\.7500 \| 0\.900 \|/); // no goal mark on non-goal rows
    assert.match(md, /- ✘ MISS default `lr` no worse than the textbook FTRL/);
    assert.match(md, /- ✘ MISS best Rankwright family within 0\.005 NE of LightGBM, or better: best fm 0\.7900 vs LightGBM 0\.7700 \(\+0\.0200\)\n/);
    assert.match(md, /3 goal miss\(es\): s: lr-vs-textbook; s: best-vs-lightgbm; s: calibration\./);
    assert.match(md, /Commit `abc123`; 2026-01-01/);
  });

  it('a capped or failed contender is shown as such and leaves its goal unchecked, not passed', function () {
    const runs = [
      run('ftrl-script', 'peer', metrics(0.8)),
      run('lightgbm', 'peer', undefined, 'failed'),
      run('lr', 'rankwright', undefined, 'capped'),
      run('dcn', 'rankwright', metrics(0.79, 1.0)),
    ];
    const goals = checkGoals(runs);
    assert.deepEqual(
      goals.map((g) => g.status),
      ['unchecked', 'unchecked', 'unchecked', 'unchecked'],
    );
    assert.match(goals[3].detail, /dcn 1\.000; unchecked: lr capped, fm not run$/);
    const md = qualityMarkdown(report(runs));
    assert.match(md, /\| lr \| CAPPED \| \| \| \| 0\.7000 \| \| 1\.5 \(cap\) \| stopped at the 60 s cap, no result \|/);
    assert.match(md, /\| lightgbm \| FAILED \|/);
    assert.match(md, /- — not checked default `lr` no worse/);
    assert.match(md, /No goal missed\.\n4 goal\(s\) not checked/);
  });

  it('an interaction family worse than lr is a miss, even when the other one is better', function () {
    const goals = checkGoals([
      run('lr', 'rankwright', metrics(0.79)),
      run('fm', 'rankwright', metrics(0.793)),
      run('dcn', 'rankwright', metrics(0.78)),
    ]);
    const g = goals.find((x) => x.id === 'interactions-vs-lr')!;
    assert.equal(g.status, 'miss');
    assert.equal(g.detail, 'fm 0.7930 (+0.0030), dcn 0.7800 (−0.0100) vs lr 0.7900');
  });

  it('stops a process at the cap (by its pid) and says so', async function () {
    const logFile = path.join(os.tmpdir(), `rw-cap-${process.pid}.log`);
    const r = await runProcess(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { deadline: performance.now() + 300, logFile });
    assert.equal(r.capped, true);
    assert.ok(r.seconds < 10, `stopped after ${r.seconds} s`);
    assert.match(fs.readFileSync(logFile, 'utf8'), /capped after/);
    fs.rmSync(logFile, { force: true });
  });

  it('end to end on wide-tiny: textbook script and Rankwright lr measured the same way; no venv = LightGBM failed, goal unchecked', async function () {
    this.timeout(180_000);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-quality-e2e-'));
    try {
      const files = await ensureScenarioFiles('wide-tiny', { dataDir: tmp });
      assert.equal(files.validation, undefined); // wide-tiny has no validation file: both validate on train's tail
      assert.ok(files.oracleNe! > 0 && files.oracleNe! < 1);
      const workDir = path.join(tmp, 'run');
      fs.mkdirSync(workDir);
      const ctx: RunContext = { files, workDir, capSeconds: 150, pythonError: 'not in tests', rankwrightHome: path.join(tmp, 'home'), log: () => {} };
      const contenders = [...PEERS, FAMILIES.find((f) => f.id === 'lr')!];
      const runs: RunResult[] = [];
      for (const c of contenders) runs.push(await c.run(ctx));
      const [script, lightgbm, lr] = runs;
      assert.equal(script.status, 'ok', script.note);
      assert.equal(lr.status, 'ok', lr.note);
      assert.equal(lightgbm.status, 'failed');
      assert.match(lightgbm.note!, /no bench venv: not in tests/);
      for (const r of [script, lr]) {
        assert.equal(r.metrics!.rows, files.rows.test);
        assert.ok(r.metrics!.ne > files.oracleNe! - 0.05, `${r.id} NE ${r.metrics!.ne} vs oracle ${files.oracleNe}`);
      }
      // The product's own test metrics (printed by `rankwright train --json`) agree with the shared measure.
      assert.ok(Math.abs((lr.detail!.trainReportedNe as number) - lr.metrics!.ne) < 1e-4, JSON.stringify(lr.detail));
      const goals = checkGoals(runs);
      assert.notEqual(goals[0].status, 'unchecked');
      assert.equal(goals.find((g) => g.id === 'best-vs-lightgbm')!.status, 'unchecked');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('end to end on wide-declared (quick size): every contender reads the declared CSV by its schema and is measured; the report names the scenario', async function () {
    this.timeout(15 * 60_000);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-quality-declared-'));
    try {
      const files = await ensureScenarioFiles('wide-declared', { rows: 20_000, dataDir: tmp });
      assert.equal(Object.keys(files.declared!.schema.columns).length, 104);
      assert.ok(files.validation && files.oracleNe! > 0 && files.oracleNe! < 1);
      const workDir = path.join(tmp, 'run');
      fs.mkdirSync(workDir);
      const python = ensureLightgbmPeerVenv().python;
      const ctx: RunContext = { files, workDir, capSeconds: 600, python, rankwrightHome: path.join(tmp, 'home'), log: () => {} };
      const runs: RunResult[] = [];
      for (const c of [...PEERS, ...FAMILIES]) runs.push(await c.run(ctx));
      assert.deepEqual(
        runs.map((r) => [r.id, r.status, r.note?.slice(0, 300)]).filter(([, status]) => status !== 'ok'),
        [],
      );
      for (const r of runs) {
        assert.equal(r.metrics!.rows, files.rows.test, r.id);
        // Every contender ranks by the planted truth from 20,000 rows (a constant has AUC 0.5), and none beats the
        // truth by more than test noise.
        assert.ok(
          r.metrics!.auc > 0.55 && r.metrics!.ne > files.oracleNe! - 0.05,
          `${r.id} AUC ${r.metrics!.auc}, NE ${r.metrics!.ne} vs oracle ${files.oracleNe}`,
        );
        // Rankwright scored the test CSV by column name (`rankwright score`) to the NE it measured while training.
        if (r.kind === 'rankwright')
          assert.ok(Math.abs((r.detail!.trainReportedNe as number) - r.metrics!.ne) < 1e-4, `${r.id}: ${JSON.stringify(r.detail)}`);
      }
      // LightGBM read the lists as a multi-hot of their most frequent values, beside 70 categoricals and 30 dense.
      assert.ok((runs.find((r) => r.id === 'lightgbm')!.detail!.features as number) > 100);

      const stamped = report(runs);
      stamped.scenarios[0].scenario = { ...stamped.scenarios[0].scenario, name: files.name, source: files.source, description: files.description };
      const md = qualityMarkdown(stamped);
      assert.match(md, /## wide-declared\n\n104 columns with a header/);
      assert.match(md, /Source: wide declared generator \(bench\/quality\/wide-declared\.ts\)/);
      assert.match(md, /\| Rankwright dcn \(defaults\) \| 0\.\d{4} ± /);
      assert.match(md, /\| LightGBM \(native categoricals, early stopping\) \| 0\.\d{4} ± /);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
