/**
 * The ML engine's facade: what activities, the CLI and benchmarks call. No Temporal here.
 */
export { trainExperiment, evaluate, DEFAULT_MAX_MEMORY_BYTES } from './experiment';
export type { TrainExperimentRequest, TrainExperimentResult } from './experiment';
export { scoreFile } from './scoring';
export { measureFieldPairSignal } from './pair-signal';
export { describeData } from './data/describe';
export type { DataDescription } from './data/describe';
export { loadDataset, dataFingerprint, clearDatasetCache } from './data/load-data';
export { plantedScenario } from './data/planted';
export type { PlantedScenario } from './data/planted';
export { writeCriteoTsv } from './data/criteo-writer';
export { generateWideScenario, ensureWideScenario, readWideMeta, plantWideTruth, WideRowStream } from './data/wide-planted';
export type { WideMeta, WideAblation, WideGenerateResult, WideProgress, WideTruth } from './data/wide-planted';
export { WIDE_SCENARIOS, BENCH_WIDE_SCENARIOS, namedWideScenario, resolveWideScenario } from './data/wide-scenarios';
export { readCriteoFile, readCriteoChunks } from './data/criteo-reader';
export { gpuBackend, availableBackends } from './kernels';
export { BadRowFailure, DiskFullFailure, diskFullFailureOf, resourceFailureOf, TrainingFailure } from './failure';
export { loadModelArtifact } from './model-artifact';
export {
  normalizedEntropy,
  normalizedEntropyStdErr,
  auc,
  logLoss,
  exampleLogLoss,
  calibration,
  backgroundEntropy,
  clickThroughRate,
  segmentNormalizedEntropy,
  relativeNeChange,
  regret,
  gainCaptured,
} from './metrics';
