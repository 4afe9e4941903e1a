#!/usr/bin/env node
// The `rankwright` command. Runs the TypeScript sources through tsx, so a checkout needs no build step.
require('tsx/cjs');
const { main } = require('../client/cli.ts');
main(process.argv).then((code) => {
  const longRunning = ['worker', 'serve'].includes(process.argv[2] ?? '');
  if (!longRunning || code !== 0) process.exit(code);
});
