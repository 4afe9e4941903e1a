#!/usr/bin/env node
// The `rankwright` command. Runs the TypeScript sources through tsx, so a checkout needs no build step.
require('tsx/cjs');
const { main } = require('../client/cli.ts');
const { guardOutputStreams } = require('../workers/process-guards.ts');

// A failed write to stdout/stderr never ends the process: a line that meets a full disk is dropped (a worker or the
// HTTP service keeps serving). A reader that went away (`rankwright status X --json | head -c 100`) is not an error of
// ours: a short command stops writing, quietly; a long-running one keeps serving.
const longRunning = ['worker', 'serve'].includes(process.argv[2] ?? '');
guardOutputStreams({ onBrokenPipe: longRunning ? undefined : () => process.exit(process.exitCode ?? 0) });

/**
 * Exits only once stdout and stderr are flushed. On POSIX, writes to a pipe are asynchronous: process.exit() right
 * after a large write would cut `rankwright status ID --json | jq` off at the pipe's buffer (64 KiB). Ending with
 * process.exit() (rather than waiting for the event loop to empty) keeps the CLI prompt even if a library left a
 * handle open.
 */
function exitWhenFlushed(code) {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    // The callback of an empty write runs after every earlier write has been handed to the OS.
    if (stream.writableLength === 0 && !stream.writableNeedDrain) done();
    else stream.write('', done);
  }
}

main(process.argv).then((code) => {
  if (!longRunning || code !== 0) exitWhenFlushed(code);
});
