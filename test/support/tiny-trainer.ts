/**
 * A tiny external trainer for tests that must not wait for Python: smoothed per-value click rates of every categorical
 * column, combined naive-Bayes style (shrunk by half). Reads Rankwright's exported TSVs (a header line, then rows)
 * and returns one probability per validation and test row, and a "model file" (its tables as JSON).
 */

export interface TinyTrainerOutput {
  model: string;
  validationPredictions: string;
  testPredictions: string;
}

interface Column {
  name: string;
  role: string;
}

const SMOOTHING = 20;

export function fitTinyTrainer(columns: Column[], train: string, validation: string, test: string): TinyTrainerOutput {
  const rows = (text: string) =>
    text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split('\t'));
  const header = train.slice(0, train.indexOf('\n')).split('\t');
  const label = header.indexOf('label');
  const categorical = columns.filter((c) => c.role === 'categorical').map((c) => header.indexOf(c.name));
  const counts = categorical.map(() => new Map<string, [number, number]>());
  let clicks = 0;
  let n = 0;
  for (const row of rows(train)) {
    const y = Number(row[label]);
    clicks += y;
    n++;
    categorical.forEach((col, i) => {
      const c = counts[i].get(row[col]) ?? [0, 0];
      c[0] += y;
      c[1]++;
      counts[i].set(row[col], c);
    });
  }
  const base = (clicks + 1) / (n + 2);
  const logit = (p: number) => Math.log(p / (1 - p));
  const predict = (text: string) =>
    rows(text)
      .map((row) => {
        let z = logit(base);
        categorical.forEach((col, i) => {
          const [c, m] = counts[i].get(row[col]) ?? [0, 0];
          z += 0.5 * (logit((c + SMOOTHING * base) / (m + SMOOTHING)) - logit(base));
        });
        return String(1 / (1 + Math.exp(-z)));
      })
      .join('\n') + '\n';
  return {
    model: JSON.stringify({ base, fields: counts.map((m) => m.size) }),
    validationPredictions: predict(validation),
    testPredictions: predict(test),
  };
}
