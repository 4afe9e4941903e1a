import * as path from 'node:path';

/** Root of everything Rankwright writes (artifacts, insights DB, event logs, reports). */
export function rankwrightHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.RANKWRIGHT_HOME && env.RANKWRIGHT_HOME.trim() ? env.RANKWRIGHT_HOME : './.rankwright');
}
