import type { DesignRequest, ExperimentSummary } from '../../contracts/agents';
import type { ModelConfig } from '../../contracts/model';
import type { InteractionSignal } from '../design-context';
import { crossName, describeRun, fmt, modify, switchFamily, type Candidate } from './candidate';

/**
 * Single-change ideas that more than one phase proposes: an explicit cross for a residual interaction, a family that
 * learns interactions, another dense transform, a clipped retry of a diverged run. Each phase calls them around its
 * own center (the baseline in validation, the best run later) with its own weight, so the same idea is worth more
 * where the phase is about it.
 */

/**
 * The research step's hypotheses (agents/research-hypotheses.ts). They rest on measurements of this baseline on this
 * data, so they start above the generic ideas (prior 1 to 2, by expected gain relative to the best of them); the
 * generic ideas still fill the slots the research found nothing for.
 */
export function researchCandidates(req: DesignRequest, weight: number): Candidate[] {
  const top = Math.max(1e-9, ...req.research.map((h) => h.expectedGain));
  return req.research.map((h) => ({
    config: h.model,
    technique: h.hypothesis.technique,
    title: h.hypothesis.title,
    rationale: h.hypothesis.rationale,
    expectedEffect: h.hypothesis.expectedEffect,
    parents: h.hypothesis.parents,
    prior: weight * (1 + h.expectedGain / top),
  }));
}

export function crossCandidates(
  req: DesignRequest,
  center: ExperimentSummary,
  signal: InteractionSignal,
  weight: number,
  limit: number,
): Candidate[] {
  const measured = req.fieldPairSignal.length;
  return signal.strongPairs.slice(0, limit).map((pair, rank) => {
    const overNoise = signal.noiseFloor > 0 ? `, ${fmt(pair.strength / signal.noiseFloor)}x the median pair` : '';
    return {
      config: modify(center.config, { crosses: [...center.config.crosses, pair.fields] }, req.searchSpace),
      technique: 'feature-cross',
      title: `Cross ${crossName(pair.fields)} on ${center.config.family}`,
      rationale: `Residual interaction of ${crossName(pair.fields)} is ${fmt(pair.strength)} (#${rank + 1} of ${measured} measured pairs${overNoise}) on ${describeRun(center)}; an explicit cross lets the model learn it.`,
      parents: [center.experimentId],
      prior: weight * (signal.maxStrength > 0 ? pair.strength / signal.maxStrength : 0.5),
    };
  });
}

export function familyCandidates(req: DesignRequest, center: ExperimentSummary, signal: InteractionSignal, weight: number): Candidate[] {
  const out: Candidate[] = [];
  const pairs = signal.strongPairs.length;
  const evidence = signal.many
    ? `${pairs} field pairs interact in the residuals; learning all pairs beats hand-picking crosses`
    : signal.matters
      ? `${pairs} field pair${pairs > 1 ? 's' : ''} interact in the residuals; a family that learns interactions may capture more than single crosses`
      : 'no strong pairwise residual signal, so this is a capacity check';
  for (const family of ['fm', 'dcn'] as const) {
    if (!req.searchSpace.families.includes(family) || center.config.family === family) continue;
    if (family === 'fm' && center.config.family === 'dcn') continue; // fm is not richer than dcn
    const prior = family === 'fm' ? (signal.many ? 1.2 : signal.matters ? 0.8 : 0.25) : signal.many ? 1.4 : signal.matters ? 0.75 : 0.3;
    out.push({
      config: switchFamily(center.config, family, req.searchSpace),
      technique: `family-${family}`,
      title: `Switch ${center.config.family} → ${family} (same features)`,
      rationale: `${evidence} (${describeRun(center)}).`,
      parents: [center.experimentId],
      prior: prior * weight,
    });
  }
  return out;
}

export function denseTransformCandidates(req: DesignRequest, center: ExperimentSummary, weight: number): Candidate[] {
  const options: Array<[ModelConfig['denseTransform'], number, string]> = [
    ['bucketize', 0.7, 'piecewise-constant buckets let a linear model fit non-linear effects of the integer features'],
    ['log', 0.2, 'log compresses heavy-tailed counts so a few large values do not dominate'],
    ['standardize', 0.12, 'standardized inputs condition the optimizer better'],
  ];
  return options
    .filter(([t]) => t !== center.config.denseTransform)
    .map(([t, prior, why]) => ({
      config: modify(center.config, { denseTransform: t }, req.searchSpace),
      technique: 'dense-transform',
      title: `Dense features ${center.config.denseTransform} → ${t}`,
      rationale: `${why[0].toUpperCase()}${why.slice(1)}.`,
      parents: [center.experimentId],
      prior: prior * weight,
    }));
}

/** Re-run diverged hypotheses with gradient clipping and a third of the step: the idea was never actually tested. */
export function clippedRetryCandidates(req: DesignRequest, weight: number): Candidate[] {
  return req.history
    .filter((r) => r.failureClass === 'diverged')
    .map((r) => ({
      config: modify(r.config, { learningRate: r.config.learningRate / 3, gradientClip: Math.min(r.config.gradientClip ?? 5, 5) }, req.searchSpace),
      technique: 'gradient-clipping',
      title: `Retry ${r.experimentId} with gradient clipping at 5 and learningRate / 3`,
      rationale: `${r.experimentId} diverged, so its hypothesis${r.hypothesis ? ` "${r.hypothesis.title.slice(0, 80)}"` : ''} was never measured; clip gradients and lower the step.`,
      parents: [r.experimentId],
      prior: 0.5 * weight,
    }));
}
