import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Logger, LogLevel, LogMetadata } from '@temporalio/common';
import { trainModel, type TrainSummary } from '../../activities/training';
import { DataConfig, ModelConfig } from '../../contracts';

/**
 * Side tasks never take a worker down: a progress event the event log cannot take is dropped with a warning,
 * and the training it reports on completes.
 */
describe('reliability: progress events are best-effort', function () {
  this.timeout(120_000);
  const savedHome = process.env.RANKWRIGHT_HOME;
  let home: string;
  beforeEach(() => {
    // A home whose events folder is a file: every append fails; artifacts can still be written.
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-unwritable-log-'));
    fs.writeFileSync(path.join(home, 'events'), 'not a folder');
    process.env.RANKWRIGHT_HOME = home;
  });
  afterEach(() => {
    process.env.RANKWRIGHT_HOME = savedHome;
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('training completes when the event log cannot be written, and no rejection goes unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const warnings: { message: string; meta?: LogMetadata }[] = [];
    const logger: Logger = {
      log: (level: LogLevel, message: string, meta?: LogMetadata) => {
        if (level === 'WARN') warnings.push({ message, meta });
      },
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: (message: string, meta?: LogMetadata) => warnings.push({ message, meta }),
      error: () => {},
    };
    try {
      const env = new MockActivityEnvironment(undefined, { logger });
      const summary: TrainSummary = await env.run<Parameters<typeof trainModel>, TrainSummary, typeof trainModel>(trainModel, {
        experimentId: 'unwritable-log-exp',
        campaignId: 'unwritable-log',
        attempt: 1,
        data: DataConfig.parse({ planted: { trainRows: 2_000, validationRows: 300, testRows: 500 } }),
        model: ModelConfig.parse({ family: 'lr', epochs: 1 }),
        segmentField: 'C1',
      });
      assert.ok(summary.artifact, 'the run produced its model');
      assert.ok(Number.isFinite(summary.metrics.ne));
      // The first progress event is appended at once; give its rejection every chance to surface.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(unhandled, []);
      assert.ok(warnings.length >= 1, 'the dropped progress event was logged');
      assert.match(warnings[0].message, /dropped a progress event/);
      assert.equal(warnings[0].meta?.experimentId, 'unwritable-log-exp');
      assert.match(String(warnings[0].meta?.error), /EEXIST|ENOTDIR|events/);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a worker process logs a stray rejection with its stack and keeps running', async () => {
    // What `rankwright worker` installs; the script exits 0 only if the process survived the rejection.
    const script = `
      require(${JSON.stringify(require.resolve('../../workers/process-guards'))}).installProcessGuards();
      Promise.reject(new Error('side task failed'));
      setTimeout(() => { console.log('still serving'); }, 100);`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      env: process.env,
    });
    assert.match(stdout, /still serving/);
    assert.match(stderr, /unhandled promise rejection .*keeps serving[\s\S]*Error: side task failed\n\s+at /);
  });
});
