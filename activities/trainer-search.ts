import type { DesignResponse, ExperimentResult, ModelConfig, TrainerSearchSpace } from '../contracts';
import { designKnobTrials, type KnobTrial } from '../agents/trainer-knobs';

export interface TrainerDesignRequest {
  phase: 'validation' | 'combination' | 'exploitation';
  count: number;
  /** The campaign's model config (unused by an external trainer; carried so results keep one shape). */
  model: ModelConfig;
  baseline: ExperimentResult;
  history: ExperimentResult[];
  space: TrainerSearchSpace;
  seed: number;
}

/**
 * Designs a wave of runs of an external trainer: knob sets within the campaign's declared search space
 * (agents/trainer-knobs.ts). An activity like the other designers, so the design logic can improve without
 * touching recorded workflow histories.
 */
export async function designTrainerExperiments(req: TrainerDesignRequest): Promise<DesignResponse> {
  const trialOf = (e: ExperimentResult): KnobTrial => ({
    params: e.externalJob?.params ?? {},
    validationNe: e.status === 'succeeded' ? e.validationNe : undefined,
  });
  const proposals = designKnobTrials({
    phase: req.phase,
    count: req.count,
    baseline: trialOf(req.baseline),
    history: req.history.map(trialOf),
    space: req.space,
    seed: req.seed,
  });
  return {
    source: 'heuristic',
    proposals: proposals.map((p) => ({
      model: req.model,
      trainerParams: p.params,
      hypothesis: { title: p.title.slice(0, 200), technique: 'trainer-knobs', rationale: p.rationale, expectedEffect: p.expectedEffect, parents: [] },
    })),
  };
}
