/**
 * Every activity a Rankwright worker can run. Workflows import only the *types* from here.
 * Task queues: training (trainModel, describeData, measureInteractions, researchBaseline) and agent (the rest).
 */
export { trainModel } from './training';
export type { TrainModelInput, TrainSummary } from './training';
export { describeData, measureInteractions } from './data';
export type { DataFacts } from './data';
export { researchBaseline } from './research';
export { checkAgentEndpoint, designExperiments, interpretFailure, evaluateResults } from './agents';
export type { AgentMode } from './agents';
export { recordExperiment, recordEvents, writeReport } from './records';
export { checkApproveHook, runApproveHook } from './approve-hook';
export type { ApprovedModel, HookOutcome } from './approve-hook';
export { cancelTrainingJob, checkTrainer, collectTrainingJob, pollTrainingJob, submitTrainingJob } from './external-trainer';
export type { JobPoll, TrainingJobHandle } from './external-trainer';
export { designTrainerExperiments } from './trainer-search';
