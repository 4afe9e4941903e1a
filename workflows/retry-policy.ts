import type { FailureClass, ModelConfig } from '../contracts';

/**
 * What happens after a classified training failure. Deterministic and decided by the class alone (the triage
 * agent's diagnosis is recorded as advice, never executed): an LLM cannot turn a bad-data failure into a retry.
 *
 * - diverged       → retry with the learning rate cut to 30% and gradients clipped (tighter each time)
 * - resource       → retry with the hash table the engine says fits its memory budget (else 4x fewer buckets), half
 *                    the embedding size for fm/dcn, and a smaller batch
 *
 * This is the one runbook: the heuristic triage agent quotes these fixes (agents/heuristic-triage.ts), so what a
 * reviewer reads as the fix is what the retry does.
 * - bad-data       → stop: the data must be fixed by a human
 * - infrastructure → never reaches here: Temporal retries the activity with backoff
 * - under/over-fit → stop: the run finished, it's a result not a crash; the designer learns from it
 */
export type RetryDecision = { retry: true; config: ModelConfig; fix: string } | { retry: false; fix: string };

export function retryAfterFailure(failureClass: FailureClass, config: ModelConfig, message = ''): RetryDecision {
  switch (failureClass) {
    case 'diverged': {
      const learningRate = round(config.learningRate * 0.3);
      const gradientClip = config.gradientClip ? Math.max(0.5, config.gradientClip / 2) : 5;
      return {
        retry: true,
        config: { ...config, learningRate, gradientClip },
        fix: `retry with learningRate ${config.learningRate} → ${learningRate} and gradient clipping at ${gradientClip}`,
      };
    }
    case 'resource': {
      // The engine computes which size fits its memory budget ("hashBits 19 would fit"); use it when given.
      const fits = /hashBits (\d{1,2}) would fit/i.exec(message);
      const hashBits = fits ? Math.max(8, Math.min(config.hashBits - 1, Number(fits[1]))) : Math.max(8, config.hashBits - 2);
      const batchSize = Math.max(16, Math.floor(config.batchSize / 2));
      const embeddingDim = config.family === 'lr' ? undefined : Math.max(2, Math.floor(config.embeddingDim / 2));
      const smaller = { ...config, hashBits, batchSize, ...(embeddingDim === undefined ? {} : { embeddingDim }) } as ModelConfig;
      if (JSON.stringify(smaller) === JSON.stringify(config)) return { retry: false, fix: 'already at the smallest model; needs a bigger machine' };
      const changes = [`hashBits ${config.hashBits} → ${hashBits}${fits ? ' (the size the engine says fits its memory budget)' : ''}`];
      if (embeddingDim !== undefined && config.family !== 'lr' && embeddingDim !== config.embeddingDim)
        changes.push(`embeddingDim ${config.embeddingDim} → ${embeddingDim}`);
      if (batchSize !== config.batchSize) changes.push(`batchSize ${config.batchSize} → ${batchSize}`);
      return { retry: true, config: smaller, fix: `retry with ${changes.join(', ')}` };
    }
    case 'bad-data':
      return { retry: false, fix: 'stop: fix the input data (see the rows named in the error) and start again' };
    case 'infrastructure':
      return { retry: false, fix: 'Temporal retried the activity with backoff until its retry policy gave up; check the workers' };
    case 'underfit':
    case 'overfit':
      return { retry: false, fix: `recorded as ${failureClass}; the planner will try a different capacity or epoch count` };
  }
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}
