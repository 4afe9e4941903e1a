import { z } from 'zod';

/**
 * Turns a zod error into one line per bad field: "budget.experiments: expected number >= 1, got -1".
 * For a union (e.g. data = criteo-tsv | planted) zod reports every branch; we report the branch the input
 * was closest to (fewest issues, unknown keys weighing most), because "Invalid input" alone names no field.
 */
export function describeIssues(error: z.ZodError, prefix: (string | number)[] = []): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) lines.push(...describeIssue(issue as z.core.$ZodIssue, prefix));
  return lines;
}

function describeIssue(issue: z.core.$ZodIssue, prefix: (string | number)[]): string[] {
  const path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // Unknown keys weigh most: they mean the input was written for the other branch.
    const weight = (issues: z.core.$ZodIssue[]) => issues.reduce((w, i) => w + (i.code === 'unrecognized_keys' ? 10 : 1), 0);
    const closest = [...issue.errors].sort((a, b) => weight(a) - weight(b))[0];
    return closest.flatMap((sub) => describeIssue(sub, path));
  }
  const where = path.length ? path.join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${[...path, k].join('.')}: unknown field`);
  return [`${where}: ${issue.message}`];
}

/** Parses `input` with `schema`, throwing one Error that lists every bad field. */
export function parseOrExplain<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new InvalidInputError(what, describeIssues(result.error));
}

export class InvalidInputError extends Error {
  constructor(
    readonly what: string,
    readonly problems: string[],
  ) {
    super(`invalid ${what}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidInputError';
  }
}
