import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountSmallDisk, type SmallDisk } from '../support/small-disk';
import { REPO_ROOT } from '../support/temporal';

const GUARDS = require.resolve('../../workers/process-guards');

interface Exit {
  code: number | null;
  /** What the child wrote on fd 3, a pipe the test reads (its stdout and stderr may point at a full disk). */
  report: string;
  stderr: string;
}

/**
 * Runs a node script with stdout (and, unless `stderrToPipe`, stderr) on `outFd`, and fd 3 as a pipe for its report;
 * `onReport` sees the report as it grows, with the child's stdin to answer on.
 */
function runScript(
  script: string,
  outFd: number,
  opts: { stderrToPipe?: boolean; onReport?: (text: string, stdin: NodeJS.WritableStream) => void } = {},
): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      cwd: REPO_ROOT,
      env: process.env,
      stdio: ['pipe', outFd, opts.stderrToPipe ? 'pipe' : outFd, 'pipe'],
    });
    let report = '';
    let stderr = '';
    child.stdio[3]!.on('data', (d: Buffer) => {
      report += d.toString();
      opts.onReport?.(report, child.stdin!);
    });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, report, stderr }));
  });
}

/** A script's report line, written straight to fd 3 (never through the guarded streams). */
const REPORT = `const report = (line) => require('fs').writeSync(3, line + '\\n');`;

/**
 * Issue 23: a worker whose stdout went to a file on a full disk died of its own log write (ENOSPC, emitted as an
 * unheard 'error' on process.stdout). /dev/full fails every write with ENOSPC, as a full disk does.
 */
describe('workers: a full disk under stdout/stderr never ends the process', function () {
  this.timeout(60_000);

  it('(the bug, reproduced) an unguarded process dies of a stdout write on a full disk', async () => {
    const devFull = fs.openSync('/dev/full', 'w');
    try {
      const script = `${REPORT} process.stdout.write('a log line\\n'); setTimeout(() => report('survived'), 200);`;
      const exit = await runScript(script, devFull, { stderrToPipe: true });
      assert.notEqual(exit.code, 0);
      assert.doesNotMatch(exit.report, /survived/);
      assert.match(exit.stderr, /ENOSPC/);
    } finally {
      fs.closeSync(devFull);
    }
  });

  it('a guarded process drops the lines the disk refuses, on stdout and stderr, and keeps running', async () => {
    const devFull = fs.openSync('/dev/full', 'w');
    try {
      const script = `${REPORT}
        require(${JSON.stringify(GUARDS)}).guardOutputStreams();
        process.stdout.write('a log line\\n');
        console.log('console.log');
        process.stderr.write('an error line\\n');
        console.error(new Error('a logged error'));
        setTimeout(() => { process.stdout.write('later\\n'); report('survived'); }, 200);`;
      const exit = await runScript(script, devFull);
      assert.equal(exit.code, 0);
      assert.match(exit.report, /survived/);
    } finally {
      fs.closeSync(devFull);
    }
  });

  describe('on a real filesystem that fills and is freed', () => {
    let disk: SmallDisk;
    before(() => (disk = mountSmallDisk(2, 'rankwright-full-log')));
    after(() => disk.unmount());

    it('logging resumes once space is back, saying how many lines were lost', async () => {
      const log = path.join(disk.dir, 'worker.log');
      // One whole page, so that no refused line can be half-written into the rest of the log's last page.
      fs.writeFileSync(log, 'before\n'.padEnd(4095, '.') + '\n');
      disk.fill();
      const fd = fs.openSync(log, 'a');
      // Three lines of 8 KB (more than the log's last page can take) while the disk is full; then it waits on stdin
      // for the test to free the disk, and writes one more.
      const script = `${REPORT}
        require(${JSON.stringify(GUARDS)}).guardOutputStreams();
        for (let i = 0; i < 3; i++) process.stdout.write('x'.repeat(8192) + '\\n');
        report('ready');
        process.stdin.once('data', () => { process.stdout.write('after the disk was freed\\n'); report('done'); process.exit(0); });`;
      const exit = await runScript(script, fd, {
        stderrToPipe: true,
        onReport: (text, stdin) => {
          if (text !== 'ready\n') return;
          disk.empty();
          stdin.write('go\n');
        },
      });
      fs.closeSync(fd);
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.report, /ready\ndone/);
      const text = fs.readFileSync(log, 'utf8');
      assert.equal(text.length, 4096 + 'after the disk was freed\nrankwright: 3 earlier log writes were dropped: the disk was full\n'.length);
      assert.match(text, /^before\n\.+\nafter the disk was freed\nrankwright: 3 earlier log writes were dropped: the disk was full\n$/);
    });
  });

  it('the rankwright command prints to a full disk and exits with its own code, not a crash', async () => {
    const devFull = fs.openSync('/dev/full', 'w');
    try {
      const exit = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'rankwright.js'), '--help'], {
          cwd: REPO_ROOT,
          stdio: ['ignore', devFull, 'pipe'],
        });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.equal(exit.code, 0, exit.stderr);
      assert.doesNotMatch(exit.stderr, /ENOSPC|Unhandled 'error' event/);
    } finally {
      fs.closeSync(devFull);
    }
  });
});
