import { ModelConfig, type ModelConfigInput } from './model';

/**
 * Keys that do not change what a model learns: the seed only moves noise (re-running a config with another seed is
 * not a new hypothesis) and checkpointEvery only changes how often progress is saved.
 */
const IGNORED_KEYS = new Set(['seed', 'checkpointEvery']);

/**
 * Keys added to the config after keys were first stored (the insights DB keeps them): left out while they hold what a
 * config without them meant, so every config written before the key existed keeps the key it was stored under (a DCN
 * without crossRank is full rank, whatever the default rank).
 */
const OMITTED_AT_DEFAULT: Record<string, unknown> = { calibration: 'auto', negativeSamplingRate: 1, crossRank: 'full' };

function roundSignificant(value: number): number {
  return Number.isFinite(value) && value !== 0 ? Number(value.toPrecision(6)) : value;
}

/**
 * Crosses are unordered (pairs or triples) and an unordered set: [C2,C1] is the same feature as [C1,C2], and
 * [C3,C1,C2] the same as [C1,C2,C3]; a triple is never the same as a pair.
 */
export function canonicalCrosses<C extends readonly string[]>(crosses: ReadonlyArray<C>): C[] {
  const seen = new Map<string, C>();
  for (const cross of crosses) {
    const sorted = cross.map(String).sort();
    seen.set(sorted.join('x'), sorted as unknown as C);
  }
  return [...seen.entries()].sort(([x], [y]) => x.localeCompare(y)).map(([, cross]) => cross);
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
    .filter((k) => !IGNORED_KEYS.has(k) && full[k] !== undefined && !(k in OMITTED_AT_DEFAULT && full[k] === OMITTED_AT_DEFAULT[k]))
    .sort()
    .map((k) => {
      const v = full[k];
      if (k === 'crosses' && Array.isArray(v)) return [k, canonicalCrosses(v as string[][])];
      if (typeof v === 'number') return [k, roundSignificant(v)];
      if (Array.isArray(v)) return [k, v.map((x) => (typeof x === 'number' ? roundSignificant(x) : x))];
      return [k, v];
    });
  return JSON.stringify(entries);
}

export function sameModel(a: ModelConfig | ModelConfigInput, b: ModelConfig | ModelConfigInput): boolean {
  return canonicalConfigKey(a) === canonicalConfigKey(b);
}
