import { z } from 'zod';
import type { SearchSpace } from '../contracts/campaign';
import { fieldOfName } from '../contracts/data';
import {
  CROSS_RANK_MAX,
  type CrossRank,
  FieldSettings,
  FieldTransform,
  HashSpace,
  MODEL_FAMILIES,
  ModelConfig,
  type ModelFamily,
} from '../contracts/model';
import { canonicalCrosses } from '../contracts/canonical-config';

/**
 * A model config as an adviser may write it: the family is named, every number is just a number. The contract's
 * ModelConfig would reject "learningRate: 50" outright; for advice we prefer to keep the idea and clamp the number
 * into the campaign's search space, so proposals are parsed with this loose shape and then clamped.
 */
export const ModelConfigDraft = z.object({
  family: z.enum(MODEL_FAMILIES),
  learningRate: z.number().optional(),
  hashBits: z.number().optional(),
  epochs: z.number().optional(),
  embeddingDim: z.number().optional(),
  crosses: z.array(z.array(z.string())).optional(),
  denseTransform: z.string().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
  hashSpace: z.string().optional(),
  l2: z.number().optional(),
  l1: z.number().optional(),
  ftrlBeta: z.number().optional(),
  lrDecay: z.number().optional(),
  gradientClip: z.number().optional(),
  batchSize: z.number().optional(),
  crossLayers: z.number().optional(),
  crossRank: z.union([z.literal('full'), z.number()]).optional(),
  mlp: z.array(z.number()).optional(),
  seed: z.number().optional(),
  checkpointEvery: z.number().optional(),
});
export type ModelConfigDraft = z.infer<typeof ModelConfigDraft>;

/** Cheapest first: when a family is not allowed we move to the closest allowed one in this order. */
const FAMILY_ORDER: readonly ModelFamily[] = ['lr', 'fm', 'dcn'];

/** Hard limits of the contract per family (the search space may be wider than what the engine accepts). */
const EMBEDDING_DIM_MAX: Record<'fm' | 'dcn', number> = { fm: 128, dcn: 64 };

/** The engine's defaults, used when an adviser's value is missing or meaningless for the family it ends up in. */
export const DEFAULT_LEARNING_RATE: Record<ModelFamily, number> = { lr: 0.1, fm: 0.05, dcn: 0.003 };

/** A slot name (I1.., C1..; which ones the data has is checked where the config meets its data). */
const isSlot = (name: string): boolean => fieldOfName(name) !== undefined;

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}

function clampInt(value: number | undefined, lo: number, hi: number): number | undefined {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  return clamp(Math.round(value), Math.ceil(lo), Math.floor(hi));
}

function clampNumber(value: number | undefined, lo: number, hi: number): number | undefined {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  return clamp(value, lo, hi);
}

/** The allowed family closest (in cost/capacity order) to the requested one; ties go to the cheaper family. */
export function nearestAllowedFamily(family: string, allowed: readonly ModelFamily[]): ModelFamily {
  if ((allowed as readonly string[]).includes(family)) return family as ModelFamily;
  const wanted = FAMILY_ORDER.indexOf(family as ModelFamily);
  if (wanted < 0) return allowed[0];
  return [...allowed].sort(
    (a, b) =>
      Math.abs(FAMILY_ORDER.indexOf(a) - wanted) - Math.abs(FAMILY_ORDER.indexOf(b) - wanted) || FAMILY_ORDER.indexOf(a) - FAMILY_ORDER.indexOf(b),
  )[0];
}

/** Learning-rate range of a family inside both the search space and the contract (0, 10]. */
export function learningRateRange(space: SearchSpace, family: ModelFamily): [number, number] {
  const [lo, hi] = space.learningRate[family];
  const top = Math.min(hi, 10);
  return [Math.min(Math.max(lo, 1e-8), top), top];
}

export function embeddingDimRange(space: SearchSpace, family: 'fm' | 'dcn'): [number, number] {
  const hi = Math.min(space.embeddingDim[1], EMBEDDING_DIM_MAX[family]);
  return [Math.min(Math.max(1, space.embeddingDim[0]), hi), hi];
}

/**
 * Put any proposed config (LLM, heuristic or random) inside the campaign's search space and the contract: family
 * among the allowed ones, learning rate inside the family's range, hashBits / embeddingDim / epochs inside their
 * ranges, crosses only between two different real fields and at most `maxCrosses`, other knobs inside the contract's
 * bounds, keys of other families dropped. Pure; the result always parses as ModelConfig.
 */
export function clampToSearchSpace(config: ModelConfigDraft | ModelConfig, space: SearchSpace): ModelConfig {
  const draft = config as ModelConfigDraft;
  const family = nearestAllowedFamily(String(draft.family), space.families);
  // A learning rate means different things per family (FTRL alpha vs Adam step): when the family had to change,
  // the adviser's number is not transferable, so the target family's default is used instead.
  const familyChanged = family !== draft.family;
  const [lrLo, lrHi] = learningRateRange(space, family);
  const proposedLr =
    !familyChanged && draft.learningRate !== undefined && Number.isFinite(draft.learningRate) && draft.learningRate > 0
      ? draft.learningRate
      : DEFAULT_LEARNING_RATE[family];

  const denseTransform = FieldTransform.safeParse(draft.denseTransform).success ? (draft.denseTransform as FieldTransform) : undefined;
  // The family's contract defaults: what an omitted key will mean once the config is parsed.
  const defaults = ModelConfig.parse({ family });
  const fields = clampFields(draft.fields, denseTransform ?? defaults.denseTransform);
  const crosses: string[][] = [];
  for (const cross of draft.crosses ?? []) {
    if (!Array.isArray(cross) || (cross.length !== 2 && cross.length !== 3)) continue;
    const names = cross.map(String);
    if (new Set(names).size !== names.length || !names.every((f) => isSlot(f) && !fields?.[f]?.drop)) continue;
    crosses.push(names);
  }
  // Dedupe unordered crosses but keep the adviser's priority order, then cap.
  const kept = new Set(canonicalCrosses(crosses).map((cross) => cross.join('x')));
  const ordered: string[][] = [];
  for (const cross of crosses) {
    if (kept.delete([...cross].sort().join('x'))) ordered.push(cross);
  }

  const out: Record<string, unknown> = {
    family,
    learningRate: clamp(proposedLr, lrLo, lrHi),
    hashBits: clampInt(draft.hashBits, Math.max(8, space.hashBits[0]), Math.min(24, space.hashBits[1])),
    epochs: clampInt(draft.epochs, Math.max(1, space.epochs[0]), Math.min(50, space.epochs[1])),
    crosses: ordered.slice(0, Math.min(space.maxCrosses, 32)),
    denseTransform,
    fields,
    hashSpace: HashSpace.safeParse(draft.hashSpace).success ? draft.hashSpace : undefined,
    l2: clampNumber(draft.l2, 0, 10),
    lrDecay: draft.lrDecay !== undefined && Number.isFinite(draft.lrDecay) && draft.lrDecay > 0 ? Math.min(1, draft.lrDecay) : undefined,
    gradientClip:
      draft.gradientClip !== undefined && Number.isFinite(draft.gradientClip) && draft.gradientClip > 0
        ? Math.min(1000, draft.gradientClip)
        : undefined,
    batchSize: clampInt(draft.batchSize, 1, 8192),
    seed: clampInt(draft.seed, 0, Number.MAX_SAFE_INTEGER),
    checkpointEvery: clampInt(draft.checkpointEvery, 1, Number.MAX_SAFE_INTEGER),
  };
  // When the draft omits a value the family's contract default may still lie outside the space, so defaults are
  // clamped too.
  if (out.hashBits === undefined) out.hashBits = clampInt(defaults.hashBits, Math.max(8, space.hashBits[0]), Math.min(24, space.hashBits[1]));
  if (out.epochs === undefined) out.epochs = clampInt(defaults.epochs, Math.max(1, space.epochs[0]), Math.min(50, space.epochs[1]));
  if (family === 'lr') {
    out.l1 = clampNumber(draft.l1, 0, 10);
    out.ftrlBeta = clampNumber(draft.ftrlBeta, 0, 10);
  } else {
    const [dimLo, dimHi] = embeddingDimRange(space, family);
    out.embeddingDim = clampInt(draft.embeddingDim ?? 8, dimLo, dimHi);
  }
  if (family === 'dcn') {
    out.crossLayers = clampInt(draft.crossLayers, 0, 6);
    out.crossRank = clampCrossRank(draft.crossRank);
    if (draft.mlp)
      out.mlp = draft.mlp
        .filter((w) => Number.isFinite(w))
        .slice(0, 6)
        .map((w) => clamp(Math.round(w), 1, 1024));
  }
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return ModelConfig.parse(out);
}

/** A cross-layer rank inside the contract: `full` as is, a number rounded into 1..CROSS_RANK_MAX, anything else dropped. */
function clampCrossRank(rank: CrossRank | undefined): CrossRank | undefined {
  return rank === 'full' ? rank : clampInt(rank, 1, CROSS_RANK_MAX);
}

/**
 * The adviser's per-field knobs (on slots) that the contract accepts, field by field (a bad entry is dropped, not the rest);
 * `buckets` only where the field's transform is quantile. Undefined when nothing is left.
 */
function clampFields(fields: Record<string, unknown> | undefined, denseTransform: FieldTransform): FieldSettings | undefined {
  const out: FieldSettings = {};
  for (const [name, knobs] of Object.entries(fields ?? {})) {
    // Slots only: a declared schema's column names were turned into slots before clamping (contracts/field-names.ts).
    if (!isSlot(name)) continue;
    const one = FieldSettings.safeParse({ [name]: knobs });
    if (!one.success) continue;
    const field = { ...one.data[name] };
    if (field.buckets !== undefined && (field.transform ?? denseTransform) !== 'quantile') delete field.buckets;
    out[name] = field;
  }
  return Object.keys(out).length ? out : undefined;
}

/** Whether a config already lies inside the space (clamping would not change it). */
export function isInsideSearchSpace(config: ModelConfig, space: SearchSpace): boolean {
  return JSON.stringify(clampToSearchSpace(config, space)) === JSON.stringify(ModelConfig.parse(config));
}
