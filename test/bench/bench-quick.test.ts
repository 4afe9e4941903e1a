import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchGoal } from '../../bench/goals';
import { SUB_BENCHES } from '../../bench/run';
import { REPO_ROOT } from '../support/temporal';

/**
 * The smoke run of `npm run bench -- --quick`: every sub-bench runs on small data, writes its results stamped with
 * this commit, and reports its goals with measured numbers. Nothing here asserts a speed: goals are reported, met or
 * missed, by the bench itself.
 */
describe('npm run bench -- --quick (smoke)', function () {
  this.timeout(30 * 60_000);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-bench-quick-'));
  after(() => fs.rmSync(out, { recursive: true, force: true }));

  const resultsDir = path.join(REPO_ROOT, 'bench', 'results');
  const resultsSnapshot = () => fs.readdirSync(resultsDir).map((f) => `${f}:${fs.statSync(path.join(resultsDir, f)).mtimeMs}`);

  it('runs every sub-bench and reports every goal with its measurement', () => {
    const before = resultsSnapshot();
    const run = spawnSync('npm', ['run', 'bench', '--', '--quick'], {
      cwd: REPO_ROOT,
      env: { ...process.env, RANKWRIGHT_BENCH_OUT: out },
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    assert.equal(run.status, 0, `npm run bench -- --quick failed:\n${run.stderr.slice(-4000)}`);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as {
      quick: boolean;
      outcomes: { name: string; ok: boolean; goals: BenchGoal[] }[];
    };
    assert.equal(summary.quick, true);
    assert.deepEqual(
      summary.outcomes.map((o) => [o.name, o.ok]),
      SUB_BENCHES.map((n) => [n, true]),
    );
    const summaryMd = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
    for (const name of SUB_BENCHES) {
      const result = JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8')) as { stamp: { commit: string }; goals?: BenchGoal[] };
      assert.equal(result.stamp.commit, head, `${name}.json is stamped with this commit`);
      assert.ok(fs.readFileSync(path.join(out, `${name}.md`), 'utf8').length > 100, `${name}.md has a report`);
      for (const g of result.goals ?? []) {
        assert.ok(Number.isFinite(g.measured), `${name}: goal "${g.name}" has a measured number`);
        assert.ok(g.met || (g.why && g.why.length > 0), `${name}: missed goal "${g.name}" says why`);
        assert.ok(summaryMd.includes(g.name), `summary.md lists "${g.name}"`);
      }
    }
    const goals = summary.outcomes.flatMap((o) => o.goals);
    for (const wanted of [/DCN training/i, /matmul/i, /scoring/i, /textbook FTRL/i, /FM/, /RSS/i, /Temporal's share/i, /both cores/i])
      assert.ok(
        goals.some((g) => wanted.test(g.name)),
        `a goal matching ${wanted} is reported (have: ${goals.map((g) => g.name).join('; ')})`,
      );
    assert.deepEqual(resultsSnapshot(), before, 'the full results in bench/results were not touched by the smoke run');
  });
});
