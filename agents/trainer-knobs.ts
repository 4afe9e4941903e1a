import type { KnobRange, KnobValue, TrainerSearchSpace } from '../contracts/trainer';
import { proposalRandom } from '../ranking/rng';

/**
 * The designer for an external trainer's knobs (deterministic: the same history and seed give the same wave). It
 * knows nothing of the trainer but the search space the campaign declared, and judges every run by its validation
 * NE, computed by Rankwright from the trainer's predictions (never the test set, which stays the final word):
 *  - validation: one knob at a time, a step down and a step up from the baseline, in the order the space lists them;
 *  - combination: every knob's winning move together, then the best few subsets of winners;
 *  - exploitation: small moves of one or two knobs around the best run so far, shrinking as the budget goes.
 * A knob set already run is never proposed again.
 */
export interface KnobTrial {
  params: Record<string, KnobValue>;
  /** Validation NE of the run (undefined when it failed). */
  validationNe?: number;
}

export interface KnobProposal {
  params: Record<string, KnobValue>;
  title: string;
  rationale: string;
  expectedEffect: string;
}

export interface KnobDesignRequest {
  phase: 'validation' | 'combination' | 'exploitation';
  count: number;
  baseline: KnobTrial;
  history: KnobTrial[];
  space: TrainerSearchSpace;
  seed: number;
}

export function designKnobTrials(req: KnobDesignRequest): KnobProposal[] {
  const tried = new Set([req.baseline, ...req.history].map((t) => paramsKey(t.params)));
  const out: KnobProposal[] = [];
  const add = (p: KnobProposal) => {
    const key = paramsKey(p.params);
    if (tried.has(key) || out.length >= req.count) return;
    tried.add(key);
    out.push(p);
  };
  const candidates =
    req.phase === 'validation' ? oneKnobMoves(req) : req.phase === 'combination' ? combinations(req) : localMoves(req, req.count * 4);
  for (const c of candidates) add(c);
  // A phase that ran out of its own ideas fills in with local moves (new knob sets), so the budget is still used.
  if (out.length < req.count) for (const c of localMoves(req, req.count * 8)) add(c);
  return out;
}

/** A knob's current value: the baseline's, else the middle of its range. */
function valueOf(params: Record<string, KnobValue>, name: string, range: KnobRange): KnobValue {
  if (params[name] !== undefined) return params[name];
  if (range.type === 'choice') return range.values[0];
  return toRange(range, range.log ? Math.sqrt(range.min * range.max) : (range.min + range.max) / 2);
}

/** One step from `v` toward an end of the range: halfway in log space (log ranges) or linear space. */
function step(range: Exclude<KnobRange, { type: 'choice' }>, v: number, toward: number, fraction: number): number {
  const x = range.log ? Math.exp(Math.log(v) + (Math.log(toward) - Math.log(v)) * fraction) : v + (toward - v) * fraction;
  return toRange(range, x);
}

function toRange(range: Exclude<KnobRange, { type: 'choice' }>, x: number): number {
  const clamped = Math.min(range.max, Math.max(range.min, x));
  return range.type === 'int' ? Math.round(clamped) : Number(clamped.toPrecision(4));
}

function oneKnobMoves(req: KnobDesignRequest): KnobProposal[] {
  const base = req.baseline.params;
  const out: KnobProposal[] = [];
  for (const [name, range] of Object.entries(req.space)) {
    const current = valueOf(base, name, range);
    const values: KnobValue[] =
      range.type === 'choice'
        ? range.values.filter((v) => v !== current)
        : [step(range, Number(current), range.min, 0.5), step(range, Number(current), range.max, 0.5)].filter((v) => v !== current);
    for (const v of values)
      out.push({
        params: { ...base, [name]: v },
        title: `${name} ${String(current)} → ${String(v)}`,
        rationale: `One knob at a time from the baseline: does ${name} matter, and in which direction?`,
        expectedEffect: `validation NE change attributable to ${name} alone`,
      });
  }
  return out;
}

/** Each knob's best single move that beat the baseline on validation NE, best first. */
function winningMoves(req: KnobDesignRequest): { name: string; value: KnobValue; gain: number }[] {
  const base = req.baseline.params;
  const baseNe = req.baseline.validationNe;
  if (baseNe === undefined) return [];
  const best = new Map<string, { value: KnobValue; gain: number }>();
  for (const t of req.history) {
    if (t.validationNe === undefined) continue;
    const changed = Object.keys(req.space).filter((k) => t.params[k] !== undefined && t.params[k] !== base[k]);
    if (changed.length !== 1) continue;
    const gain = baseNe - t.validationNe;
    const prev = best.get(changed[0]);
    if (gain > 0 && (!prev || gain > prev.gain)) best.set(changed[0], { value: t.params[changed[0]], gain });
  }
  return [...best.entries()].map(([name, m]) => ({ name, ...m })).sort((a, b) => b.gain - a.gain || a.name.localeCompare(b.name));
}

function combinations(req: KnobDesignRequest): KnobProposal[] {
  const wins = winningMoves(req);
  const out: KnobProposal[] = [];
  const combine = (moves: typeof wins, why: string) =>
    out.push({
      params: { ...req.baseline.params, ...Object.fromEntries(moves.map((m) => [m.name, m.value])) },
      title: moves.map((m) => `${m.name}=${String(m.value)}`).join(', '),
      rationale: why,
      expectedEffect: `up to ${(100 * moves.reduce((s, m) => s + m.gain, 0)).toFixed(2)} points of validation NE if the gains add up`,
    });
  if (wins.length >= 2) combine(wins, `Every knob move that beat the baseline, together (${wins.length} winners).`);
  for (let k = wins.length - 1; k >= 2; k--) combine(wins.slice(0, k), `The ${k} strongest winning moves together.`);
  for (let i = 0; i < wins.length; i++)
    for (let j = i + 1; j < wins.length; j++)
      combine([wins[i], wins[j]], `Two winning moves together: do ${wins[i].name} and ${wins[j].name} add up?`);
  return out;
}

function localMoves(req: KnobDesignRequest, count: number): KnobProposal[] {
  const runs = [req.baseline, ...req.history].filter((t) => t.validationNe !== undefined);
  const best = runs.reduce((a, b) => (b.validationNe! < a.validationNe! ? b : a), runs[0] ?? req.baseline);
  const names = Object.keys(req.space);
  const out: KnobProposal[] = [];
  if (!names.length) return out;
  // Seeded by the campaign seed and how much has run, so a replayed or resumed campaign designs the same wave.
  const rand = proposalRandom((req.seed * 7919 + req.history.length * 104_729) >>> 0);
  const shrink = Math.max(0.1, 0.5 / (1 + req.history.length / 8));
  for (let i = 0; i < count; i++) {
    const params = { ...best.params };
    const moved: string[] = [];
    const knobs = rand() < 0.5 || names.length === 1 ? 1 : 2;
    for (let k = 0; k < knobs; k++) {
      const name = names[Math.floor(rand() * names.length)];
      const range = req.space[name];
      const current = valueOf(params, name, range);
      if (range.type === 'choice') params[name] = range.values[Math.floor(rand() * range.values.length)];
      else params[name] = step(range, Number(current), rand() < 0.5 ? range.min : range.max, shrink * (0.5 + rand() / 2));
      if (params[name] !== current) moved.push(`${name} ${String(current)} → ${String(params[name])}`);
    }
    if (!moved.length) continue;
    out.push({
      params,
      title: moved.join(', '),
      rationale: `A small move around the best run so far (validation NE ${best.validationNe?.toFixed(4) ?? 'unknown'}).`,
      expectedEffect: 'a small validation NE gain, if the best run is not yet at a local optimum',
    });
  }
  return out;
}

/** Order-independent key of a knob set (the same knobs in another order are the same run). */
export function paramsKey(params: Record<string, KnobValue>): string {
  return JSON.stringify(
    Object.keys(params)
      .sort()
      .map((k) => [k, params[k]]),
  );
}
