#!/usr/bin/env node
// The `rankwright` command. Runs the TypeScript sources through tsx, so a checkout needs no build step.
require('tsx/cjs');
const { main } = require('../client/cli.ts');

// A reader that went away (`rankwright status X --json | head -c 100`) is not an error of ours: stop writing, quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

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
  const longRunning = ['worker', 'serve'].includes(process.argv[2] ?? '');
  if (!longRunning || code !== 0) exitWhenFlushed(code);
});
