import type { DesignRequest, ExperimentSummary } from '../../contracts/agents';
import type { ModelConfig } from '../../contracts/model';
import type { InteractionSignal } from '../design-context';
import { L2_START, crossName, describeRun, fmt, modify, switchFamily, type Candidate } from './candidate';

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
    expectedGain: h.expectedGain,
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

/**
 * Triage of a *finished* run: its learning curve says whether it over- or under-fits, and the next wave gets the
 * remedy — stronger L2 for an over-fitting run; more epochs (and for fm/dcn a larger embedding) for one whose
 * validation NE was still falling when training ended.
 */
export function fitRemedyCandidates(req: DesignRequest, run: ExperimentSummary, weight: number): Candidate[] {
  const fit = run.fit;
  if (!fit || (fit.verdict !== 'overfitting' && fit.verdict !== 'underfitting')) return [];
  const why = `${run.experimentId} ${fit.verdict === 'overfitting' ? 'over-fits' : 'under-fits'}: ${fit.explanation}`;
  const out: Candidate[] = [];
  if (fit.verdict === 'overfitting') {
    const l2 = (run.config.l2 || L2_START[run.config.family]) * 4;
    out.push({
      config: modify(run.config, { l2 }, req.searchSpace),
      technique: 'regularization-l2',
      title: `${run.experimentId} with L2 ${fmt(run.config.l2)} → ${fmt(l2)} (it over-fits)`,
      rationale: `${why}; stronger L2 narrows the gap.`,
      parents: [run.experimentId],
      prior: (1 + Math.min(1, (fit.relativeGap ?? 0) / 0.1)) * weight,
    });
  } else {
    const epochs = Math.min(req.searchSpace.epochs[1], run.config.epochs * 2);
    if (epochs > run.config.epochs)
      out.push({
        config: modify(run.config, { epochs }, req.searchSpace),
        technique: 'more-epochs',
        title: `${run.experimentId} with ${epochs} epochs (it under-fits)`,
        rationale: `${why}; early stopping keeps the best weights if the extra epochs stop helping.`,
        parents: [run.experimentId],
        prior: (1 + Math.min(1, (fit.lastImprovement ?? 0) / 0.01)) * weight,
      });
    if (run.config.family !== 'lr')
      out.push({
        config: modify(run.config, { embeddingDim: run.config.embeddingDim * 2 }, req.searchSpace),
        technique: 'embedding-dim',
        title: `${run.experimentId} with embeddingDim ${run.config.embeddingDim} → ${run.config.embeddingDim * 2} (it under-fits)`,
        rationale: `${why}; more capacity per value.`,
        parents: [run.experimentId],
        prior: 0.8 * weight,
      });
  }
  return out;
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
