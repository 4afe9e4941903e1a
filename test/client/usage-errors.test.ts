import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommanderError } from 'commander';
import { EXIT, describeFailure, buildCli } from '../../client/cli';
import { rankwrightHome } from '../../store/home';
import { runCli } from '../support/processes';

/**
 * Usage and invalid-input errors, through the real CLI in a child process: exit code 2, exactly one line on stderr
 * that says what was wrong and names the option, field or setting, nothing on stdout, and never a stack trace.
 * None of these needs Temporal: bad input is refused before any connection is made.
 */
describe('CLI usage errors: one line, exit code 2, no stack', function () {
  this.timeout(60_000);
  let dir: string;
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const STACK_FRAME = /^\s+at\s/m;
  // Nothing listens here: a command that got past validation would fail with exit 5, not 2.
  const env = { TEMPORAL_ADDRESS: '127.0.0.1:9', RANKWRIGHT_DEBUG: '' };

  before(() => {
    dir = fs.mkdtempSync(path.join(rankwrightHome(), 'usage-'));
  });

  async function expectUsageError(args: string[], mentions: RegExp, extraEnv: NodeJS.ProcessEnv = {}) {
    const { code, stdout, stderr } = await runCli(args, { ...env, ...extraEnv });
    const what = `rankwright ${args.join(' ')} → exit ${code}, stderr:\n${stderr}`;
    assert.equal(code, EXIT.invalid, what);
    assert.equal(stdout, '', what);
    assert.ok(stderr.endsWith('\n'), what);
    const lines = stderr.slice(0, -1).split('\n');
    assert.equal(lines.length, 1, `exactly one line: ${what}`);
    assert.doesNotMatch(stderr, STACK_FRAME, what);
    assert.match(lines[0], mentions, what);
    return lines[0];
  }

  describe('serve', () => {
    it('a short bearer token names the setting, not the token', async () => {
      const line = await expectUsageError(['serve'], /RANKWRIGHT_HTTP_TOKENS: bearer token #2 is shorter than 16 characters/, {
        RANKWRIGHT_HTTP_TOKENS: 'a-long-enough-secret-0123456789,short-secret',
      });
      assert.ok(!line.includes('short-secret'), 'the token itself is never printed');
    });
    it('no token at all', () => expectUsageError(['serve'], /RANKWRIGHT_HTTP_TOKENS: .*at least one bearer token/, { RANKWRIGHT_HTTP_TOKENS: '' }));
    it('a bad --port', () =>
      expectUsageError(['serve', '--port', 'http'], /--port <port>.*'http' is invalid/, {
        RANKWRIGHT_HTTP_TOKENS: 'a-long-enough-secret-0123456789',
      }));
    it('a bad RANKWRIGHT_HTTP_PORT', () =>
      expectUsageError(['serve'], /RANKWRIGHT_HTTP_PORT: expected a port number 0-65535, got "99999"/, {
        RANKWRIGHT_HTTP_TOKENS: 'a-long-enough-secret-0123456789',
        RANKWRIGHT_HTTP_PORT: '99999',
      }));
    it('a bad RANKWRIGHT_HTTP_LOG_LEVEL', () =>
      expectUsageError(['serve'], /RANKWRIGHT_HTTP_LOG_LEVEL: expected one of .*got "loud"/, {
        RANKWRIGHT_HTTP_TOKENS: 'a-long-enough-secret-0123456789',
        RANKWRIGHT_HTTP_LOG_LEVEL: 'loud',
      }));
  });

  describe('config files', () => {
    it('campaign start: a missing file', () =>
      expectUsageError(['campaign', 'start', '--config', path.join(dir, 'nope.json')], /campaign config .*nope\.json: cannot read \(ENOENT\)/));
    it('campaign start: not JSON', () =>
      expectUsageError(['campaign', 'start', '--config', file('bad.json', '{"data": ')], /campaign config .*bad\.json: not valid JSON/));
    it('campaign start: every bad field on the one line, before any connection to Temporal', async () => {
      const line = await expectUsageError(
        ['campaign', 'start', '--config', file('fields.json', JSON.stringify({ data: { planted: {} }, budget: { experiments: 0 }, colour: 'red' }))],
        /invalid campaign config .*fields\.json: /,
      );
      for (const field of ['budget.experiments', 'approvers', 'colour: unknown field']) assert.ok(line.includes(field), `${field} in ${line}`);
    });
    it('train: a missing file', () => expectUsageError(['train', '--config', path.join(dir, 'nope.json')], /experiment config .*nope\.json/));
    it('train: not JSON', () =>
      expectUsageError(['train', '--config', file('bad-train.json', 'model: lr')], /experiment config .*bad-train\.json: not JSON/));
    it('train: bad fields', () =>
      expectUsageError(
        ['train', '--config', file('train-fields.json', JSON.stringify({ data: { planted: {} }, model: { family: 'gbdt' } }))],
        /invalid experiment config .*train-fields\.json: model\.family/,
      ));
  });

  describe('arguments and options', () => {
    it('an unknown option', () => expectUsageError(['status', 'c1', '--jsno'], /unknown option '--jsno'.*rankwright status --help/));
    it('an unknown command', () => expectUsageError(['stauts', 'c1'], /unknown command 'stauts'/));
    it('no command', () => expectUsageError([], /missing command; one of: campaign, status, list/));
    it('a group without its subcommand', () => expectUsageError(['campaign'], /missing command after 'campaign'; one of: start/));
    it('a missing argument', () => expectUsageError(['status'], /missing required argument 'workflowId'/));
    it('too many arguments', () => expectUsageError(['status', 'a', 'b'], /too many arguments for 'status'/));
    it('a missing required option', () => expectUsageError(['reject', 'c1', '--by', 'ana'], /required option '--reason <text>' not specified/));
    it('a bad --limit', () => expectUsageError(['list', '--limit', 'ten'], /--limit <n>.*'ten' is invalid. Expected a positive integer/));
    it('a bad --limit (insights)', () => expectUsageError(['insights', '--limit', '0'], /--limit <n>.*'0' is invalid/));
    it('a bad choice', () =>
      expectUsageError(['worker', '--queue', 'gpu'], /--queue <queue>.*'gpu' is invalid. Allowed choices are agent, training, all/));
    it('score: a bad --model ref', () =>
      expectUsageError(
        ['score', '--model', 'latest', '--input', file('in.tsv', '0\t1\n'), '--out', path.join(dir, 'out.txt')],
        /--model: invalid artifact ref "latest"/,
      ));
    it('score: a missing --input', () =>
      expectUsageError(
        ['score', '--model', `sha256:${'0'.repeat(64)}`, '--input', path.join(dir, 'none.tsv'), '--out', path.join(dir, 'o.txt')],
        /--input ".*none\.tsv": no such file/,
      ));
    it('score: --out in a missing directory', () =>
      expectUsageError(
        ['score', '--model', `sha256:${'0'.repeat(64)}`, '--input', file('in2.tsv', '0\t1\n'), '--out', path.join(dir, 'no', 'o.txt')],
        /--out ".*o\.txt": directory .* does not exist/,
      ));
    it('approve: an empty --by, before any connection', () => expectUsageError(['approve', 'c1', '--by', ''], /invalid approval: by: /));
    it('reject: an empty --reason', () =>
      expectUsageError(['reject', 'c1', '--by', 'ana', '--reason', ''], /invalid rejection: reason: a rejection needs a reason/));
    it('events: an id that is not one', () => expectUsageError(['events', '../etc'], /invalid campaign id "\.\.\/etc"/));
    it('bad Temporal connection settings', () =>
      expectUsageError(['status', 'c1'], /invalid Temporal connection settings.*Profile 'no-such-profile' not found/, {
        TEMPORAL_PROFILE: 'no-such-profile',
      }));
  });

  it('--help is not an error: help on stdout, exit 0', async () => {
    const { code, stdout, stderr } = await runCli(['status', '--help'], env);
    assert.equal(code, 0);
    assert.match(stdout, /Usage: rankwright status/);
    assert.equal(stderr, '');
  });

  describe('unexpected failures', () => {
    const boom = () => {
      const err = new Error('disk on fire\nsecond line of the message');
      err.stack = `Error: disk on fire\n    at somewhere (/x.ts:1:1)\n    at elsewhere (/y.ts:2:2)`;
      return err;
    };
    const saved = process.env.RANKWRIGHT_DEBUG;
    afterEach(() => {
      if (saved === undefined) delete process.env.RANKWRIGHT_DEBUG;
      else process.env.RANKWRIGHT_DEBUG = saved;
    });

    it('one line and exit 1, with a pointer to RANKWRIGHT_DEBUG; the stack only when it is set', () => {
      delete process.env.RANKWRIGHT_DEBUG;
      const plain = describeFailure(boom(), buildCli(), ['status', 'x']);
      assert.equal(plain.code, EXIT.failure);
      assert.equal(plain.line, 'error: disk on fire; second line of the message (set RANKWRIGHT_DEBUG=1 for details)');
      process.env.RANKWRIGHT_DEBUG = '1';
      const debug = describeFailure(boom(), buildCli(), ['status', 'x']);
      assert.equal(debug.code, EXIT.failure);
      assert.match(debug.line!, /^error: Error: disk on fire\n {4}at somewhere/);
    });

    it('maps Temporal errors to their exit codes, each as one line', () => {
      const grpc = (code: number, details: string) =>
        Object.assign(new Error(`${code} ${details}`), { cause: Object.assign(new Error(details), { code }) });
      const cli = buildCli();
      assert.deepEqual(describeFailure(grpc(3, 'invalid query\nnear "="'), cli, ['list']), {
        code: EXIT.invalid,
        line: 'error: Temporal refused the request as invalid: 3 invalid query; near "="',
      });
      assert.equal(describeFailure(grpc(5, 'workflow not found for ID: x'), cli, ['status']).code, EXIT.notFound);
      assert.equal(describeFailure(grpc(14, 'connection refused'), cli, ['status']).code, EXIT.unreachable);
      assert.equal(describeFailure(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), cli, ['--help']).code, EXIT.ok);
    });
  });
});
