import { ApplicationFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { describeIssues } from '../contracts/errors';

/**
 * Parses a workflow's one JSON argument (what the Web UI's start form sends) at its first line. Bad input fails
 * the workflow at once with a non-retryable error listing every bad field — retrying would never fix it.
 */
export function parseWorkflowInput<T extends z.ZodType>(schema: T, raw: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = describeIssues(result.error);
  throw ApplicationFailure.create({
    type: 'InvalidInput',
    nonRetryable: true,
    message: `invalid ${what}: ${problems.join('; ')}`,
    details: [problems],
  });
}
