import { ModelConfig, type ModelConfigInput } from './model';

/**
 * Keys that do not change what a model learns: the seed only moves noise (re-running a config with another seed is
 * not a new hypothesis) and checkpointEvery only changes how often progress is saved.
 */
const IGNORED_KEYS = new Set(['seed', 'checkpointEvery']);

function roundSignificant(value: number): number {
  return Number.isFinite(value) && value !== 0 ? Number(value.toPrecision(6)) : value;
}

/** Crosses are unordered pairs and an unordered set: [C2,C1] is the same feature as [C1,C2]. */
export function canonicalCrosses(crosses: ReadonlyArray<readonly [string, string] | readonly string[]>): [string, string][] {
  const seen = new Map<string, [string, string]>();
  for (const pair of crosses) {
    const [a, b] = [String(pair[0]), String(pair[1])].sort();
    seen.set(`${a}x${b}`, [a, b]);
  }
  return [...seen.values()].sort((x, y) => (x[0] + 'x' + x[1]).localeCompare(y[0] + 'x' + y[1]));
}

/**
 * A string that is equal for two configs exactly when they train the same model: defaults filled in, crosses
 * normalised, seed and checkpointing ignored, numbers rounded to 6 significant digits (0.1 and 0.1000000001 are the
 * same learning rate). Used to never re-propose an experiment that already ran.
 */
export function canonicalConfigKey(config: ModelConfig | ModelConfigInput): string {
  const parsed = ModelConfig.safeParse(config);
  const full: Record<string, unknown> = parsed.success ? { ...parsed.data } : { ...(config as Record<string, unknown>) };
  const entries = Object.keys(full)
    .filter((k) => !IGNORED_KEYS.has(k) && full[k] !== undefined)
    .sort()
    .map((k) => {
      const v = full[k];
      if (k === 'crosses' && Array.isArray(v)) return [k, canonicalCrosses(v as [string, string][])];
      if (typeof v === 'number') return [k, roundSignificant(v)];
      if (Array.isArray(v)) return [k, v.map((x) => (typeof x === 'number' ? roundSignificant(x) : x))];
      return [k, v];
    });
  return JSON.stringify(entries);
}

export function sameModel(a: ModelConfig | ModelConfigInput, b: ModelConfig | ModelConfigInput): boolean {
  return canonicalConfigKey(a) === canonicalConfigKey(b);
}
