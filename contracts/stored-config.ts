/**
 * A model config as it was stored (in a model artifact, a checkpoint, the insights database) before some keys existed,
 * read with what it meant when it was written: a DCN without `crossRank` has full-rank cross layers, whatever the
 * default rank of a config written today. Parse the result with ModelConfig as usual.
 */
export function storedModelConfig(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const config = raw as Record<string, unknown>;
  if (config.family === 'dcn' && config.crossRank === undefined) return { ...config, crossRank: 'full' };
  return raw;
}
