import type { FailureClass, ModelConfig } from '../contracts';

/**
 * What happens after a classified training failure. Deterministic and decided by the class alone (the triage
 * agent's diagnosis is recorded as advice, never executed): an LLM cannot turn a bad-data failure into a retry.
 *
 * - diverged       → retry with the learning rate cut to 30% and gradients clipped (tighter each time)
 * - resource       → retry with 4x fewer hash buckets and a smaller batch
 * - bad-data       → stop: the data must be fixed by a human
 * - infrastructure → never reaches here: Temporal retries the activity with backoff
 * - under/over-fit → stop: the run finished, it's a result not a crash; the designer learns from it
 */
export type RetryDecision = { retry: true; config: ModelConfig; fix: string } | { retry: false; fix: string };

export function retryAfterFailure(failureClass: FailureClass, config: ModelConfig): RetryDecision {
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
      const hashBits = Math.max(8, config.hashBits - 2);
      const batchSize = Math.max(16, Math.floor(config.batchSize / 2));
      if (hashBits === config.hashBits && batchSize === config.batchSize)
        return { retry: false, fix: 'already at the smallest model; needs a bigger machine' };
      return {
        retry: true,
        config: { ...config, hashBits, batchSize },
        fix: `retry with hashBits ${config.hashBits} → ${hashBits} and batchSize ${config.batchSize} → ${batchSize}`,
      };
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
