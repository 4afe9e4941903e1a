import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildCli } from '../../client/cli';
import { RankwrightClient } from '../../client/rankwright-client';
import { rankwrightHome } from '../../store/home';
import { openStoreUrl } from '../../store/object-store';
import { createWorkers } from '../../workers/main';
import { useMinioStore } from '../support/minio';
import { runCli } from '../support/processes';
import { REPO_ROOT, useTemporal, type TemporalForTests } from '../support/temporal';
import { eventually } from '../support/workers';

const BIN = path.join(REPO_ROOT, 'bin', 'rankwright.js');

/**
 * A consumer on the other end of a real OS pipe (`rankwright … --json | reader`), slow on purpose: it starts reading
 * only after 300 ms and pauses between chunks, so the pipe's buffer (64 KiB) fills and the CLI must wait for it to
 * drain. A CLI that exits before stdout has drained loses everything still buffered — the reader sees it cut off.
 */
const SLOW_READER = `
const fs = require('fs');
const chunks = [];
setTimeout(() => {
  process.stdin.on('data', (c) => { chunks.push(c); process.stdin.pause(); setTimeout(() => process.stdin.resume(), 20); });
  process.stdin.on('end', () => fs.writeFileSync(process.env.PIPE_OUT, Buffer.concat(chunks)));
}, 300);
`;

let pipeCount = 0;

/** Runs the real CLI with its stdout piped into SLOW_READER (another process); the CLI's exit code and stderr, and what the reader got. */
function throughPipe(args: string[]): Promise<{ code: number; text: string; bytes: number; stderr: string }> {
  const out = path.join(rankwrightHome(), `pipe-${process.pid}-${++pipeCount}.out`);
  const script = `"$NODE" "$BIN" "$@" | "$NODE" -e "$READER"; exit "\${PIPESTATUS[0]}"`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'rankwright', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE: process.execPath, BIN, READER: SLOW_READER, PIPE_OUT: out },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const buffer = fs.existsSync(out) ? fs.readFileSync(out) : Buffer.alloc(0);
      resolve({ code: code ?? -1, text: buffer.toString('utf8'), bytes: buffer.length, stderr });
    });
  });
}

/** The same command with stdout redirected to a file (file writes are synchronous: the complete output). */
function toFile(args: string[]): Promise<{ code: number; text: string }> {
  const out = path.join(rankwrightHome(), `file-${process.pid}-${++pipeCount}.out`);
  const fd = fs.openSync(out, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: process.env, stdio: ['ignore', fd, 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => {
      fs.closeSync(fd);
      resolve({ code: code ?? -1, text: fs.readFileSync(out, 'utf8') });
    });
  });
}

function parseWhole(result: { code: number; text: string; bytes: number; stderr: string }, what: string): any {
  assert.equal(result.code, 0, `${what}: exit ${result.code}: ${result.stderr}`);
  assert.ok(result.text.endsWith('\n'), `${what}: output ends mid-line after ${result.bytes} bytes`);
  try {
    return JSON.parse(result.text);
  } catch (err) {
    assert.fail(`${what}: ${result.bytes} bytes through the pipe do not parse (${(err as Error).message})`);
  }
}

/**
 * Every `--json` command of the CLI through a real pipe, on a campaign large enough that its status is several
 * times the pipe's 64 KiB buffer: 40 experiments (random search on a small planted dataset, one epoch each).
 */
describe('--json output arrives whole through a pipe (a 40-experiment campaign)', function () {
  this.timeout(900_000);
  let temporal: TemporalForTests;
  let client: RankwrightClient;
  let workers: Worker[] = [];
  let running: Promise<unknown> | undefined;
  const stamp = Date.now().toString(36);
  const big = `pipes-big-${stamp}`;
  const small = `pipes-small-${stamp}`;
  const toAbort = `pipes-abort-${stamp}`;
  const planted = { seed: 11, trainRows: 1500, validationRows: 400, testRows: 800, categoricalFields: 6, crosses: 2, crossStrength: 2 };
  const searchSpace = { families: ['lr', 'fm'], epochs: [1, 1], hashBits: [10, 12], embeddingDim: [2, 4] };
  /** Every candidate is bigger than 1 byte: the best one breaks the guardrail, so the campaign halts for an override. */
  const bigConfig = {
    data: { planted },
    budget: { experiments: 40, parallel: 4 },
    strategy: 'random',
    agents: 'heuristic',
    approvers: ['ana'],
    operators: ['ops'],
    guardrails: { maxModelBytes: 1 },
    // A weak baseline (few hash buckets, no crosses) that random candidates beat.
    baseline: { family: 'lr', hashBits: 8, epochs: 1 },
    searchSpace,
  };
  const smallConfig = {
    data: { planted },
    budget: { experiments: 2, parallel: 2 },
    strategy: 'random',
    agents: 'heuristic',
    approvers: ['ana'],
    searchSpace,
    // 400 validation rows clear no floor (the campaign would halt for review); this test is about pipes, so it
    // reaches an approval with the floor off.
    floor: { enabled: false },
  };
  const started: Record<string, any> = {};
  const covered = new Set<string>();

  const reviewState = (id: string, states: string[]) =>
    eventually(
      async () => {
        const s = await client.status(id);
        return states.includes(s.reviewState) ? s : undefined;
      },
      600_000,
      `${id} to reach ${states.join(' or ')}`,
    );

  before(async () => {
    temporal = await useTemporal();
    client = new RankwrightClient(temporal.client);
    workers = await createWorkers({ connection: temporal.connection, namespace: temporal.namespace, workflowBundle: temporal.bundle });
    running = Promise.all(workers.map((w) => w.run()));
    // Started through the CLI (its output is JSON too), each through a pipe.
    for (const [id, config] of [
      [big, bigConfig],
      [small, smallConfig],
      [toAbort, { ...smallConfig, approvers: ['ana'], operators: ['ops'] }],
    ] as const) {
      const file = path.join(rankwrightHome(), `${id}.json`);
      fs.writeFileSync(file, JSON.stringify(config));
      started[id] = parseWhole(await throughPipe(['campaign', 'start', '--config', file, '--id', id]), `campaign start ${id}`);
    }
  });

  after(async () => {
    workers.forEach((w) => w.shutdown());
    await running;
  });

  it('campaign start prints {"workflowId","runId"}', () => {
    for (const id of [big, small, toAbort]) assert.deepEqual(Object.keys(started[id]), ['workflowId', 'runId']);
    assert.equal(started[big].workflowId, big);
  });

  it('pause --json and resume --json (an operator, while it runs)', async () => {
    const paused = parseWhole(await throughPipe(['pause', big, '--by', 'ops', '--reason', 'pipe test', '--json']), 'pause');
    assert.equal(paused.kind, 'pause');
    assert.equal(paused.by, 'ops');
    const resumed = parseWhole(await throughPipe(['resume', big, '--by', 'ops', '--json']), 'resume');
    assert.equal(resumed.kind, 'resume');
    covered.add('pause').add('resume');
  });

  it('abort --json', async () => {
    const aborted = parseWhole(await throughPipe(['abort', toAbort, '--by', 'ops', '--reason', 'not needed', '--json']), 'abort');
    assert.deepEqual([aborted.kind, aborted.by, aborted.note], ['abort', 'ops', 'not needed']);
    covered.add('abort');
  });

  it('status --json: well over 64 KiB, whole, and byte for byte what a file gets', async () => {
    const halted = await reviewState(big, ['needs-review', 'awaiting-review']);
    assert.equal(
      halted.reviewState,
      'needs-review',
      `the best candidate breaks maxModelBytes, so the campaign halts (got ${halted.reviewState}: ${halted.recommendation?.rationale})`,
    );
    const piped = await throughPipe(['status', big, '--json']);
    const status = parseWhole(piped, 'status');
    assert.ok(piped.bytes > 65_536, `status JSON is ${piped.bytes} bytes: not enough to fill the pipe`);
    assert.ok(status.experiments.length >= 40, `${status.experiments.length} experiments`);
    assert.equal(status.reviewState, 'needs-review');
    for (const e of status.experiments) assert.equal(e.id, e.experimentId);
    // What the campaign stores in the home, measured by the CLI beside the status it queried.
    const refs = new Set([...status.experiments, ...(status.probes ?? [])].map((e: { artifact?: string }) => e.artifact).filter(Boolean));
    assert.equal(status.storage.artifacts.count, refs.size, JSON.stringify(status.storage));
    assert.ok(status.storage.artifacts.bytes > 0 && status.storage.bytes >= status.storage.artifacts.bytes);
    const file = await toFile(['status', big, '--json']);
    assert.equal(file.code, 0);
    assert.equal(piped.text, file.text);
    covered.add('status');
  });

  it('events --json: every JSONL line whole', async () => {
    const piped = await throughPipe(['events', big, '--json']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.text.endsWith('\n'), `cut off after ${piped.bytes} bytes`);
    const events = piped.text
      .trimEnd()
      .split('\n')
      .map((line, i) => {
        try {
          return JSON.parse(line);
        } catch {
          return assert.fail(`line ${i + 1} of ${piped.bytes} bytes does not parse: ${line.slice(0, 80)}…`);
        }
      });
    assert.ok(events.filter((e) => e.type === 'experiment.finished' || e.type === 'experiment.failed').length >= 40);
    assert.equal(piped.text, (await toFile(['events', big, '--json'])).text);
    covered.add('events');
  });

  it('insights --json', async () => {
    const piped = await throughPipe(['insights', '--campaign', big, '--limit', '100', '--json']);
    const rows = parseWhole(piped, 'insights');
    assert.ok(rows.length >= 40, `${rows.length} rows`);
    assert.equal(piped.text, (await toFile(['insights', '--campaign', big, '--limit', '100', '--json'])).text);
    covered.add('insights');
  });

  it('list --json', async () => {
    const rows = parseWhole(await throughPipe(['list', '--json', '--limit', '100']), 'list');
    for (const id of [big, small, toAbort])
      assert.ok(
        rows.some((r: { workflowId: string }) => r.workflowId === id),
        `${id} listed`,
      );
    covered.add('list');
  });

  it('report --json', async () => {
    const report = parseWhole(await throughPipe(['report', big, '--json']), 'report');
    assert.ok(fs.existsSync(report.path), report.path);
    covered.add('report');
  });

  it('override --json, then reject --json', async () => {
    const override = parseWhole(await throughPipe(['override', big, '--by', 'ana', '--reason', 'size limit is a placeholder', '--json']), 'override');
    assert.deepEqual([override.kind, override.by], ['override', 'ana']);
    await reviewState(big, ['awaiting-review']);
    const reject = parseWhole(await throughPipe(['reject', big, '--by', 'ana', '--reason', 'pipe test', '--json']), 'reject');
    assert.deepEqual([reject.kind, reject.by], ['reject', 'ana']);
    covered.add('override').add('reject');
  });

  it('approve --json', async () => {
    await reviewState(small, ['awaiting-review']);
    const approve = parseWhole(await throughPipe(['approve', small, '--by', 'ana', '--note', 'ok', '--json']), 'approve');
    assert.deepEqual([approve.kind, approve.by, approve.note], ['approve', 'ana', 'ok']);
    covered.add('approve');
  });

  it('train --json (no Temporal)', async () => {
    const file = path.join(rankwrightHome(), `train-${stamp}.json`);
    fs.writeFileSync(file, JSON.stringify({ data: { planted }, model: { family: 'lr', hashBits: 10, epochs: 1 } }));
    const result = parseWhole(await throughPipe(['train', '--config', file, '--json']), 'train');
    assert.match(result.artifact, /^sha256:[0-9a-f]{64}$/);
    assert.ok(result.metrics.ne > 0);
    covered.add('train');
  });

  it('generate --json and generate --list --json (no Temporal)', async () => {
    const out = path.join(rankwrightHome(), `generated-${stamp}`);
    const summary = parseWhole(await throughPipe(['generate', '--scenario', 'wide-tiny', '--rows', '500', '--out', out, '--json']), 'generate');
    assert.equal(typeof summary, 'object');
    assert.ok(fs.existsSync(path.join(out, 'meta.json')), `${out}/meta.json`);
    const list = parseWhole(await throughPipe(['generate', '--list', '--json']), 'generate --list');
    assert.ok(list.some((s: { name: string }) => s.name === 'wide-tiny'));
    covered.add('generate');
  });

  it('gc --dry-run --json', async () => {
    const plan = parseWhole(await throughPipe(['gc', '--dry-run', '--json']), 'gc');
    assert.equal(plan.dryRun, true);
    assert.ok(
      plan.campaigns.some((c: { campaignId: string; kept: boolean }) => c.campaignId === big),
      'the campaigns are in the plan',
    );
    assert.ok(plan.items.some((i: { kind: string }) => i.kind === 'artifact'));
    covered.add('gc');
  });

  it('store migrate --json (no Temporal; the dev MinIO)', async () => {
    const { restore } = useMinioStore();
    // --to names the bucket and a prefix of this test's own; the endpoint and credentials stay in the environment.
    const to = `${process.env.RANKWRIGHT_STORE}pipes-${stamp}`;
    delete process.env.RANKWRIGHT_STORE;
    try {
      const result = parseWhole(await throughPipe(['store', 'migrate', '--to', to, '--json']), 'store migrate');
      assert.equal(result.from, rankwrightHome());
      assert.deepEqual(
        result.steps.map((s: { step: string }) => s.step),
        ['artifacts', 'row caches'],
      );
      assert.ok(result.steps[0].copied.count > 0, 'the campaigns above stored models in this home');
      assert.deepEqual(result.steps[0].failed, []);
    } finally {
      const store = openStoreUrl(to);
      for await (const o of store.list('')) await store.delete(o.key);
      store.close();
      restore();
    }
    covered.add('store migrate');
  });

  it('a bad --query is a usage error (one line, exit 2)', async () => {
    const { code, stdout, stderr } = await runCli(['list', '--json', '--query', 'NoSuchAttribute = 1']);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, '');
    assert.equal(stderr.trimEnd().split('\n').length, 1, stderr);
    assert.match(stderr, /^error: Temporal refused the request as invalid: .*invalid query.*NoSuchAttribute/);
  });

  it('covered every command that takes --json', () => {
    const withJson: string[] = [];
    const walk = (cmd: ReturnType<typeof buildCli>, prefix: string) => {
      for (const sub of cmd.commands) {
        const name = `${prefix}${sub.name()}`;
        if (sub.options.some((o) => o.long === '--json')) withJson.push(name);
        walk(sub, `${name} `);
      }
    };
    walk(buildCli(), '');
    assert.ok(withJson.length >= 10, `found ${withJson}`);
    assert.deepEqual(
      withJson.filter((c) => !covered.has(c)),
      [],
      'a --json command without a pipe test above',
    );
  });
});
