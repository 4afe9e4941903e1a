import type { CampaignResearch, DesignRequest, ExperimentResult, ModelConfig, NewCampaignEvent, ProposedExperiment } from '../../contracts';
import { ModelConfig as ModelConfigSchema } from '../../contracts';
import type { TrainModelInput, TrainSummary } from '../../activities';
import { ApplicationFailure } from '@temporalio/activity';
import { checkAgentEndpoint } from '../../activities/agents';

/**
 * Scripted activities for planner tests: NE is a known function of the config, so a test can say exactly which
 * experiment should win. They stand in for training and sub-agents only; Temporal, the workflows, the message
 * handlers and the worker are all real.
 */
export function scriptedNe(model: ModelConfig): number {
  const family = { lr: 0.8, fm: 0.76, dcn: 0.75 }[model.family];
  const crosses = Math.min(model.crosses.length, 2) * 0.01;
  const lrPenalty = Math.abs(Math.log10(model.learningRate / 0.1)) * 0.005;
  return Number((family - crosses + lrPenalty).toFixed(6));
}

export interface ScriptOptions {
  /** Configs whose training diverges (by learning rate above this). */
  divergeAbove?: number;
  /** Calibration reported for a family (to break a guardrail on purpose). */
  calibration?: Partial<Record<ModelConfig['family'], number>>;
  /** The data fingerprint training reports, on success and in a failure report (default fp-scripted). */
  dataFingerprint?: string;
}

export function scriptedActivities(options: ScriptOptions = {}) {
  const trained: TrainModelInput[] = [];
  const events: NewCampaignEvent[] = [];
  const recorded: ExperimentResult[] = [];
  const designRequests: DesignRequest[] = [];
  const researched: string[] = [];
  let designCalls = 0;
  const fingerprint = options.dataFingerprint ?? 'fp-scripted';
  const activities = {
    async trainModel(input: TrainModelInput): Promise<TrainSummary> {
      trained.push(input);
      if (options.divergeAbove !== undefined && input.model.learningRate > options.divergeAbove) {
        throw ApplicationFailure.create({
          type: 'TrainingFailure',
          nonRetryable: true,
          message: `loss became NaN at step 12 (learningRate ${input.model.learningRate})`,
          details: [{ failureClass: 'diverged', message: 'loss became NaN at step 12', lastProgress: [], dataFingerprint: fingerprint }],
        });
      }
      const ne = scriptedNe(input.model);
      // The same numbers on test and on validation (what campaigns decide on), in this script.
      const measured = { ne, auc: 1 - ne / 2, logloss: ne * 0.33, calibration: options.calibration?.[input.model.family] ?? 1.0, ctr: 0.1 };
      return {
        artifact: `sha256:${'0'.repeat(63)}${trained.length % 10}`,
        metrics: { ...measured, examples: 1000, oracleNe: 0.7 },
        validationNe: ne,
        validationMetrics: { ...measured, examples: 500, clicks: 50, neStdErr: 0.001 },
        neStdErr: 0.001,
        dataFingerprint: fingerprint,
        badRows: { count: 0, files: [], examples: [] },
        trainSeconds: 1,
        modelBytes: 1000,
        validation: { source: 'planted', rows: 500 },
        earlyStopping: {
          patience: input.model.patience,
          evaluateEvery: 10,
          evaluations: 1,
          stoppedEarly: false,
          epochsRun: input.model.epochs,
          bestStep: 10,
          bestEpoch: 1,
          bestValidationNe: ne,
        },
        learningCurve: [{ step: 10, epoch: 1, examples: 1000, trainNe: ne - 0.01, validationNe: ne }],
      };
    },
    async describeData(data: { planted?: { trainRows?: number } }) {
      return {
        fingerprint: 'fp-scripted',
        kind: 'planted' as const,
        oracleNe: 0.7,
        // The planted config's rows (what a probe's row fraction is taken of); small by default, so no probes.
        trainRows: data.planted?.trainRows ?? 1000,
        testRows: 500,
        activeCategoricalFields: ['C1', 'C2', 'C3'],
      };
    },
    /** One research hypothesis (a cross of C1×C2 on the baseline), and findings that say the baseline under-fits. */
    async researchBaseline(_data: unknown, baseline: ExperimentResult): Promise<CampaignResearch> {
      researched.push(baseline.experimentId);
      const model = ModelConfigSchema.parse({ ...baseline.config, crosses: [['C1', 'C2']] });
      return {
        seconds: 0.1,
        hypotheses: [
          {
            hypothesis: {
              title: 'Cross C1×C2 on lr',
              technique: 'feature-cross',
              rationale: 'scripted research',
              expectedEffect: 'NE −1.00% expected',
              parents: [baseline.experimentId],
            },
            model,
            evidence: 'residual interaction 0.2',
            expectedGain: 0.01,
            cost: 1.05,
          },
        ],
        findings: {
          artifact: baseline.artifact ?? 'none',
          family: baseline.config.family,
          importanceRows: 500,
          residualRows: 1000,
          logLossPerRow: 0.4,
          noiseFloor: 0.001,
          importance: [{ field: 'C1', kind: 'categorical', neIncrease: 0.02, stdErr: 0.002 }],
          mainEffects: [],
          pairs: [{ fields: ['C1', 'C2'], strength: 0.2 }],
          triples: [],
          denseShapes: [],
          hashing: { hashSpace: 'shared', hashBits: 18, expectedCollisionRate: 0.01, slots: [] },
          fit: { verdict: 'underfitting', evaluations: 1, explanation: 'scripted' },
        },
      };
    },
    /** The real check: it reads this process's OPENAI_* settings. */
    checkAgentEndpoint,
    async measureInteractions() {
      return [{ fields: ['C1', 'C2'] as [string, string], strength: 0.2 }];
    },
    async designExperiments(request: Omit<DesignRequest, 'insights'>) {
      designRequests.push({ ...request, insights: [] });
      const proposals: ProposedExperiment[] = [];
      const families: ModelConfig['family'][] = ['fm', 'dcn', 'lr'];
      for (let i = 0; i < request.count; i++) {
        designCalls++;
        const family = families[designCalls % 3];
        const model = ModelConfigSchema.parse({ family, crosses: designCalls % 2 ? [['C1', 'C2']] : [] });
        proposals.push({
          model,
          hypothesis: {
            title: `try ${family} #${designCalls}`,
            technique: `family-${family}`,
            rationale: 'scripted',
            expectedEffect: 'lower NE',
            parents: [],
          },
        });
      }
      return { proposals, source: 'heuristic' as const };
    },
    async interpretFailure() {
      return { failureClass: 'diverged' as const, diagnosis: 'loss went to NaN', fix: 'lower the learning rate', source: 'heuristic' as const };
    },
    async evaluateResults(request: { candidates: { experimentId: string; ne?: number; guardrailViolations: string[] }[] }) {
      const eligible = request.candidates.filter((c) => c.guardrailViolations.length === 0).sort((a, b) => a.ne! - b.ne!);
      return {
        ranking: [],
        recommended: eligible[0]?.experimentId ?? null,
        rationale: 'lowest NE within the guardrails',
        source: 'heuristic' as const,
      };
    },
    async recordExperiment(result: ExperimentResult) {
      recorded.push(result);
    },
    async recordEvents(_campaignId: string, batch: NewCampaignEvent[]) {
      events.push(...batch);
    },
    async writeReport(status: { campaignId: string }) {
      return { path: `/tmp/${status.campaignId}.html` };
    },
  };
  return { activities, trained, events, recorded, designRequests, researched };
}
