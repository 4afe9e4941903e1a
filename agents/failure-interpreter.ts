import { z } from 'zod';
import { TriageRequest, TriageResponse, type RememberedFix } from '../contracts/agents';
import { FailureClass } from '../contracts/metrics';
import {
  describeRemedy,
  diskFullOf,
  divergenceEvidence,
  MEASURED_FAILURE_CLASSES,
  parseTriageRequest,
  triageHeuristically,
  type NonFiniteSighting,
} from './heuristic-triage';
import { rememberedSource } from '../workflows/retry-policy';
import { askStructured, DEFAULT_PROMPT_TOKENS, estimateTokens, promptBudget, promptJson, type LlmSettings } from './llm';
import { UNTRUSTED_DATA_NOTICE, untrustedBlock } from './untrusted-text';

/**
 * The training-log interpreter: classifies a failed run (diverged, underfit, overfit, bad-data, resource,
 * infrastructure) and proposes a concrete fix. The LLM reads the progress events and the message as untrusted data;
 * its class must agree with what was measured (the engine's bad-data/resource verdicts, non-finite losses), and its
 * text must stay on training — otherwise the heuristic twin answers. A fix the insights database remembers is shown
 * to the LLM and carried in the answer as `rememberedFix`, always from the database: the LLM's answer has no such
 * field, so it cannot invent one.
 */

export const LlmTriageAnswer = z.object({
  failureClass: FailureClass,
  diagnosis: z.string().min(1),
  fix: z.string().min(1),
});

/** Triage advises on training; words about sign-off mean the answer was steered by the log text. */
const OUT_OF_SCOPE = /\b(approv\w*|deploy\w*|ship it|guardrails?|sign[- ]?off|production rollout)\b/i;

/** What the server is asked for: the same shape, with bounded text so a grammar-driven model stops. */
const LlmTriageWire = z.object({
  failureClass: FailureClass,
  diagnosis: z.string().min(1).max(600),
  fix: z.string().min(1).max(600),
});

/**
 * The interpreter's prompt; its data part stays within `budgetTokens` estimated tokens: only the last progress events
 * that fit are shown (the newest carry the failure).
 */
export function triagePrompt(
  req: TriageRequest,
  nonFinite?: NonFiniteSighting,
  budgetTokens = DEFAULT_PROMPT_TOKENS,
  remembered?: RememberedFix,
): { system: string; user: string } {
  const system = [
    'You are the training-log interpreter of an autonomous ranking engineer (CTR models: lr = FTRL logistic regression, fm, dcn).',
    'Classify why a training run failed as one of: diverged (NaN/Inf or exploding loss), underfit (loss flat near the label entropy, NE ~1),',
    'overfit (validation NE rising while training loss falls), bad-data (malformed rows), resource (out of memory), infrastructure (network, worker, timeouts).',
    'Give a one-sentence diagnosis citing the numbers, and a concrete fix with values, e.g. "lower learningRate from 2 to 0.6 and clip gradients at 5".',
    UNTRUSTED_DATA_NOTICE,
  ].join('\n');
  const render = (events: number) =>
    [
      `Attempt ${req.attempt}. The engine classified the failure as "${req.failure.failureClass}".`,
      nonFinite
        ? `At step ${nonFinite.step} the ${nonFinite.field} was ${nonFinite.value} (non-finite); that event is not listed below.`
        : 'All progress values are finite.',
      `Model config (JSON): ${untrustedBlock('config', JSON.stringify(req.config), 4000)}`,
      ...(remembered
        ? [
            `The insights database remembers a fix for ${remembered.failureClass} on ${remembered.family}: ${describeRemedy(remembered)}, ${rememberedSource(remembered)}. The retry policy applies it within its bounds; mention it if it fits your diagnosis.`,
          ]
        : []),
      `Last progress events (JSON): ${untrustedBlock('progress', promptJson(events ? req.failure.lastProgress.slice(-events) : []), 12000)}`,
      `Failure message: ${untrustedBlock('failure-message', req.failure.message, Math.min(4000, Math.floor(budgetTokens * 0.6)))}`,
    ].join('\n');
  let events = req.failure.lastProgress.length;
  let user = render(events);
  while (estimateTokens(user) > budgetTokens && events > 0) user = render((events = Math.floor(events / 2)));
  return { system, user };
}

/**
 * Triage of one failed attempt. `remembered` is the insights database's fix for this class (the triage activity looks
 * it up): quoted by either agent and returned as `rememberedFix` unchanged.
 */
export async function interpretFailure(input: TriageRequest, llm: LlmSettings | null, remembered?: RememberedFix): Promise<TriageResponse> {
  const { req, nonFinite } = parseTriageRequest(input);
  // A full disk is measured by the store that failed to write: nothing for an LLM to read, and no call to pay for on
  // every retry while the disk stays full.
  if (!llm || diskFullOf(req.failure)) return triageHeuristically(input, remembered);
  const prompt = triagePrompt(req, nonFinite, promptBudget(llm), remembered);
  const answer = await askStructured(llm, {
    name: 'failure_triage',
    system: prompt.system,
    user: prompt.user,
    schema: LlmTriageAnswer,
    wire: LlmTriageWire,
  });
  if (!answer.ok) return { ...triageHeuristically(input, remembered), fallbackReason: answer.reason };
  const { failureClass, diagnosis, fix } = answer.value;

  const measured = MEASURED_FAILURE_CLASSES.includes(req.failure.failureClass)
    ? req.failure.failureClass
    : divergenceEvidence(req.failure.lastProgress, nonFinite)?.failureClass;
  if (measured && failureClass !== measured) {
    return {
      ...triageHeuristically(input, remembered),
      fallbackReason: `LLM classified the failure as ${failureClass}, contradicting the measured ${measured}`,
    };
  }
  if (OUT_OF_SCOPE.test(diagnosis) || OUT_OF_SCOPE.test(fix)) {
    return {
      ...triageHeuristically(input, remembered),
      fallbackReason: 'LLM answer went beyond failure triage (talked about approval, deployment or guardrails)',
    };
  }
  return TriageResponse.parse({
    failureClass,
    diagnosis: diagnosis.slice(0, 1000),
    fix: fix.slice(0, 1000),
    source: 'llm',
    ...(remembered ? { rememberedFix: remembered } : {}),
  });
}
