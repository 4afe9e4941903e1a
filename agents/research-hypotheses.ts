import type { SearchSpace } from '../contracts/campaign';
import type { ExperimentSummary } from '../contracts/agents';
import type { FieldKnobs, ModelConfig, ModelFamily } from '../contracts/model';
import {
  isResidualSignal,
  MIN_IMPORTANCE_CLICKS,
  type BaselineResearch,
  type JointSignal,
  type ResearchHypothesis,
  type ResidualSignal,
} from '../contracts/research';
import { canonicalConfigKey } from '../contracts/canonical-config';
import { costModelFor, relativeCost, type CostModel } from './cost-model';
import { crossName, fmt, L2_START, modify, switchFamily } from './heuristic-designer/candidate';

/**
 * The research step's second half: findings (ranking/research.ts) become hypotheses, each with its evidence, an
 * expected gain and a cost, ranked by expected gain per unit of cost.
 *
 * Expected gains come from the measurements, not from a table of typical effects. A residual finding's strength is
 * the log loss (nats a row) its cells' offsets gain on rows they were not fitted on (ranking/residual-cells.ts), so
 * its relative NE gain is strength / (baseline log loss a row): its held-out gain, the most the data supports. A
 * change rarely captures all of it (a hashed cross shares rows, L2 shrinks new weights), so each kind of change is
 * credited a share of it: CAPTURE below, always ≤ 1, so an expected gain never exceeds its held-out bound
 * (`heldOutGain` on each hypothesis). Ideas resting on several findings are bounded by what those findings measured
 * together (a family switch by the significant interactions fitted jointly), never by a sum that counts a hub field's
 * effect once per pair. Fit remedies are read from the learning curve, measured on validation rows. Findings without
 * enough clicks are no evidence at all. They are estimates for ranking ideas against each other; the experiments
 * measure the truth.
 */

/**
 * Share of a measured residual signal a change is expected to capture (each ≤ 1: an expectation never exceeds its
 * held-out bound). `overfitting` is a share of the train/validation gap, which is mostly memorized rare values that
 * stronger L2 gives back only in small part.
 */
const CAPTURE = {
  cross: 0.5,
  triple: 0.4,
  transform: 0.7,
  buckets: 0.4,
  hashing: 0.6,
  fm: 0.45,
  dcn: 0.55,
  regularization: 0.25,
  overfitting: 0.05,
} as const;
/** Below this expected relative NE gain an idea is not worth an experiment (0.05%). */
const MIN_GAIN = 0.0005;
/** Signal must be this many noise floors above zero to count. */
const NOISE_MULTIPLE = 3;
const MAX_HYPOTHESES = 16;

interface Draft {
  title: string;
  technique: string;
  rationale: string;
  evidence: string;
  expectedGain: number;
  /** The held-out measurement's gain the expectation is a share of (relative NE reduction). */
  heldOutGain: number;
  model: ModelConfig;
}

/**
 * `costs` predicts each idea's training time (agents/cost-model.ts); without one, the baseline's own run is the only
 * measurement it is corrected by.
 */
export function researchHypotheses(
  findings: BaselineResearch,
  baseline: ExperimentSummary,
  space: SearchSpace,
  costs: CostModel = costModelFor({ baseline, history: [] }),
): ResearchHypothesis[] {
  const base = baseline.config;
  const perRow = Math.max(1e-9, findings.logLossPerRow);
  const gainOf = (s: ResidualSignal) => s.heldOutGain ?? Math.max(0, s.strength) / perRow;
  // Held out, enough clicks, standard errors above 0 as the research step judged (how many findings of its kind it
  // measured), and clear of the median pair (a dataset-wide noise check).
  const significant = (s: ResidualSignal) => isResidualSignal(s) && s.strength > NOISE_MULTIPLE * findings.noiseFloor;
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const heldOut = (s: ResidualSignal) =>
    `held-out gain ${pct(gainOf(s))} NE ± ${pct((s.stdErr ?? 0) / perRow)}${s.clicks !== undefined ? ` on ${s.clicks} clicks` : ''}`;
  const drafts: Draft[] = [];
  const transformOf = (field: string) => base.fields?.[field]?.transform ?? base.denseTransform;
  const withFields = (changes: Record<string, FieldKnobs>) => {
    const fields: Record<string, FieldKnobs> = { ...(base.fields ?? {}) };
    for (const [name, knobs] of Object.entries(changes)) fields[name] = { ...(fields[name] ?? {}), ...knobs };
    return modify(base, { fields }, space);
  };
  const main = new Map(findings.mainEffects.map((m) => [m.fields[0], m]));

  // Dense fields whose effect an order-keeping transform cannot fit: bucket them (all together, and the strongest alone).
  const ordered = new Set(['none', 'log', 'standardize']);
  const toBucket = findings.denseShapes
    .filter((d) => ordered.has(transformOf(d.field)))
    .map((d) => {
      // Buckets gain what the baseline's residuals vary by bucket, held out: the field's missed main effect (its
      // cells are these buckets). A shape alone (non-monotone) is no gain over a baseline that may fit it anyway.
      const missed = main.get(d.field);
      const bound = missed && significant(missed) ? gainOf(missed) : 0;
      return { d, gain: bound * CAPTURE.transform, bound, missed };
    })
    .filter((x) => x.gain >= MIN_GAIN)
    .sort((a, b) => b.gain - a.gain);
  if (toBucket.length) {
    const names = toBucket.map((x) => x.d.field);
    const gain = toBucket.reduce((s, x) => s + x.gain, 0);
    const bound = toBucket.reduce((s, x) => s + x.bound, 0);
    drafts.push({
      title: `Quantile buckets for ${names.length > 4 ? `${names.length} dense fields` : names.join(', ')}`,
      technique: 'dense-transform',
      rationale: `These dense fields' effects are not what a ${[...new Set(names.map(transformOf))].join('/')} transform can fit; 16 equal-frequency buckets fitted on train give each range its own weight.`,
      evidence: toBucket
        .slice(0, 4)
        .map((x) => `${x.d.field} ${x.d.shape}${x.missed ? `, missed main effect ${heldOut(x.missed)}` : ''}`)
        .join('; '),
      expectedGain: gain,
      heldOutGain: bound,
      model: withFields(Object.fromEntries(names.map((n) => [n, { transform: 'quantile' as const }]))),
    });
    if (toBucket.length > 1)
      drafts.push({
        title: `Quantile buckets for ${toBucket[0].d.field}`,
        technique: 'dense-transform',
        rationale: `The dense field with the largest missed effect, alone, so its share of the gain is attributable.`,
        evidence: `${toBucket[0].d.field} is ${toBucket[0].d.shape}, missed main effect ${heldOut(toBucket[0].missed!)}; CTR by bucket ${toBucket[0].d.ctrByBucket
          .slice(0, 8)
          .map((c) => fmt(c))
          .join(', ')}…`,
        expectedGain: toBucket[0].gain,
        heldOutGain: toBucket[0].bound,
        model: withFields({ [toBucket[0].d.field]: { transform: 'quantile' } }),
      });
  }

  // Bucketed dense fields whose residuals still follow their value: finer buckets.
  for (const d of findings.denseShapes) {
    const missed = main.get(d.field);
    if (transformOf(d.field) !== 'quantile' || !missed || !significant(missed)) continue;
    const gain = gainOf(missed) * CAPTURE.buckets;
    if (gain < MIN_GAIN) continue;
    const buckets = Math.min(256, 4 * (base.fields?.[d.field]?.buckets ?? 16));
    drafts.push({
      title: `${buckets} quantile buckets for ${d.field}`,
      technique: 'dense-transform',
      rationale: `The baseline's residuals still vary with ${d.field}'s value inside its buckets; finer buckets follow its shape more closely.`,
      evidence: `missed main effect of ${d.field} inside its buckets: ${heldOut(missed)}`,
      expectedGain: gain,
      heldOutGain: gainOf(missed),
      model: withFields({ [d.field]: { transform: 'quantile', buckets } }),
    });
  }

  // Categorical fields the model under-uses: collisions blur them (own tables), else regularization holds them back.
  const collidingShare = new Map(findings.hashing.slots.map((s) => [s.feature, s.collidingRowShare ?? s.expectedCollisionRate]));
  const underused = findings.mainEffects.filter((m) => /^C\d+$/.test(m.fields[0]) && significant(m));
  const blurred = underused.filter((m) => (collidingShare.get(m.fields[0]) ?? 0) > 0.05);
  if (blurred.length && base.hashSpace !== 'per-field') {
    drafts.push({
      title: `Per-field hash tables (${blurred.length} field${blurred.length > 1 ? 's' : ''} lose signal to collisions)`,
      technique: 'hash-size',
      rationale: `Each field gets its own table sized from its distinct values, so frequent values stop sharing weights with other fields' values.`,
      evidence: blurred
        .slice(0, 4)
        .map((m) => `${m.fields[0]}: ${pct(collidingShare.get(m.fields[0]) ?? 0)} of rows collide, missed main effect ${heldOut(m)}`)
        .join('; '),
      expectedGain: blurred.reduce((s, m) => s + gainOf(m), 0) * CAPTURE.hashing,
      heldOutGain: blurred.reduce((s, m) => s + gainOf(m), 0),
      model: modify(base, { hashSpace: 'per-field' }, space),
    });
  }
  const held = underused.filter((m) => !blurred.includes(m));
  if (held.length && findings.fit.verdict !== 'overfitting') {
    drafts.push(
      regularizationDraft(
        base,
        space,
        0.25,
        held.reduce((s, m) => s + gainOf(m), 0),
        CAPTURE.regularization,
        {
          why: `the baseline leaves main effects of ${held.length} categorical field${held.length > 1 ? 's' : ''} in its residuals without collisions to blame`,
          evidence: held
            .slice(0, 4)
            .map((m) => `${m.fields[0]} ${heldOut(m)}`)
            .join('; '),
        },
      ),
    );
  }

  // Fields that hurt: shuffling them lowers validation NE by more than two standard errors.
  const importanceEstimable = (findings.importanceClicks ?? MIN_IMPORTANCE_CLICKS) >= MIN_IMPORTANCE_CLICKS;
  const harmful = importanceEstimable ? findings.importance.filter((f) => f.neIncrease + 2 * f.stdErr < 0) : [];
  if (harmful.length) {
    // Permutation importance is measured on validation rows the baseline never fitted: held out already. But these
    // are the fields that looked most harmful out of all of them, so each is credited the near end of its 2-SE
    // interval, not its point estimate (the best-looking of many noisy estimates overstates its own gain).
    const gain = harmful.reduce((s, f) => s + Math.max(0, -(f.neIncrease + 2 * f.stdErr)), 0) / Math.max(0.1, baseline.ne ?? 1);
    drafts.push({
      title: `Drop ${harmful.map((f) => f.field).join(', ')}`,
      technique: 'drop-field',
      rationale: 'Shuffling these fields made validation NE better: the model fits noise in them.',
      evidence: harmful.map((f) => `${f.field} importance ${fmt(f.neIncrease)} ± ${fmt(f.stdErr)}`).join('; '),
      expectedGain: gain,
      heldOutGain: gain,
      model: withFields(Object.fromEntries(harmful.map((f) => [f.field, { drop: true }]))),
    });
  }

  // Interactions: explicit crosses of the strongest pairs and triples the baseline misses.
  const crossed = new Set(base.crosses.map((c) => [...c].sort().join('×')));
  const newCross = (s: ResidualSignal) => !crossed.has([...s.fields].sort().join('×'));
  const pairs = findings.pairs.filter((s) => significant(s) && newCross(s));
  for (const [rank, s] of pairs.slice(0, 6).entries()) {
    drafts.push({
      title: `Cross ${crossName(s.fields)} on ${base.family}`,
      technique: 'feature-cross',
      rationale: `An explicit cross lets ${base.family} learn the interaction of ${crossName(s.fields)} that its residuals show.`,
      evidence: `residual interaction net of both fields' main effects: ${heldOut(s)} (#${rank + 1} of ${findings.pairs.length} pairs kept)`,
      expectedGain: gainOf(s) * CAPTURE.cross,
      heldOutGain: gainOf(s),
      model: modify(base, { crosses: [...base.crosses, s.fields] }, space),
    });
  }
  const triples = findings.triples.filter((s) => significant(s) && newCross(s));
  for (const s of triples.slice(0, 3)) {
    drafts.push({
      title: `Three-way cross ${crossName(s.fields)} on ${base.family}`,
      technique: 'feature-cross',
      rationale: `The residuals show signal in ${crossName(s.fields)} that none of its three pairs carries; only a three-field cross (or a deep model) can learn it.`,
      evidence: `three-way residual signal beyond its fields and pairs: ${heldOut(s)}`,
      expectedGain: gainOf(s) * CAPTURE.triple,
      heldOutGain: gainOf(s),
      model: modify(base, { crosses: [...base.crosses, s.fields] }, space),
    });
  }

  // Capacity: families that learn every interaction at once, credited with the interaction signal they could take:
  // at most what the significant interactions measured when fitted together held out (the sum of single findings
  // counts a hub field's effect once per pair it is in).
  const significantPairs = findings.pairs.filter(significant);
  const significantTriples = findings.triples.filter(significant);
  const pairBound = jointBound(findings.jointPairs, overlapping(significantPairs.map(gainOf)));
  const allBound = jointBound(findings.jointInteractions, overlapping([...significantPairs, ...significantTriples].map(gainOf)));
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const families: Array<[ModelFamily, number, number, string]> = [
    ['fm', pairBound, CAPTURE.fm, `${count(significantPairs.length, 'pair')} above noise`],
    [
      'dcn',
      Math.max(pairBound, allBound),
      CAPTURE.dcn,
      `${count(significantPairs.length, 'pair')} and ${count(significantTriples.length, 'triple')} above noise`,
    ],
  ];
  for (const [family, bound, capture, evidence] of families) {
    if (family === base.family || !space.families.includes(family) || (family === 'fm' && base.family === 'dcn')) continue;
    drafts.push({
      title: `Switch ${base.family} → ${family} (same features)`,
      technique: `family-${family}`,
      rationale: `${family === 'fm' ? 'A factorization machine learns every pairwise interaction' : 'A DCN learns pairwise and higher-order interactions'} without hand-picked crosses.`,
      evidence: `residual interaction signal: ${evidence}, together worth ${pct(bound)} NE held out`,
      expectedGain: bound * capture,
      heldOutGain: bound,
      model: switchFamily(base, family, space),
    });
  }

  // Fit: the learning curve's verdict gets its remedy.
  const fit = findings.fit;
  if (fit.verdict === 'overfitting' && fit.relativeGap !== undefined) {
    drafts.push(
      // Closing the whole train/validation gap is the most stronger regularization can gain.
      regularizationDraft(base, space, 4, Math.max(0, fit.relativeGap), CAPTURE.overfitting, {
        why: `the baseline over-fits: ${fit.explanation}`,
        evidence: fit.explanation,
      }),
    );
  }
  if (fit.verdict === 'underfitting' && fit.lastImprovement !== undefined) {
    const epochs = Math.min(space.epochs[1], base.epochs * 2);
    if (epochs > base.epochs)
      drafts.push({
        title: `Train ${epochs} epochs instead of ${base.epochs}`,
        technique: 'more-epochs',
        rationale: 'Validation NE was still falling when training ended; early stopping keeps the best weights if more epochs stop helping.',
        evidence: fit.explanation,
        // Measured on validation rows: the last interval's improvement, at most repeated once more.
        expectedGain: Math.max(0, fit.lastImprovement),
        heldOutGain: Math.max(0, fit.lastImprovement),
        model: modify(base, { epochs }, space),
      });
  }

  return rank(drafts, base, baseline, costs);
}

/**
 * The combined gain of signals that overlap: pairs sharing a field explain part of the same residual (a hub field's
 * missed effect shows in every pair it is in), so the k-th strongest counts 0.6^k of its own gain.
 */
function overlapping(gains: number[]): number {
  return [...gains].sort((a, b) => b - a).reduce((sum, g, k) => sum + g * Math.pow(0.6, k), 0);
}

/** A regularization change is credited at most 2% NE, whatever its bound: L2 moves a little at a time. */
const MAX_REGULARIZATION_GAIN = 0.02;

function regularizationDraft(
  base: ModelConfig,
  space: SearchSpace,
  factor: number,
  heldOutGain: number,
  capture: number,
  text: { why: string; evidence: string },
): Draft {
  const l2 = (base.l2 || L2_START[base.family]) * factor;
  return {
    title: `L2 ${fmt(base.l2)} → ${fmt(l2)}`,
    technique: 'regularization-l2',
    rationale: `${factor > 1 ? 'Stronger' : 'Weaker'} regularization because ${text.why}.`,
    evidence: text.evidence,
    expectedGain: Math.min(MAX_REGULARIZATION_GAIN, heldOutGain * capture),
    heldOutGain,
    model: modify(base, { l2 }, space),
  };
}

/**
 * The most a set of findings is worth: what they measured fitted together, held out, when the research measured that;
 * otherwise (a record made before the joint statistic) their overlapping sum.
 */
function jointBound(joint: JointSignal | undefined, overlappingSum: number): number {
  if (!joint) return overlappingSum;
  return joint.estimable ? Math.min(overlappingSum, joint.heldOutGain) : 0;
}

/**
 * Distinct configs only, best expected gain per unit of cost first: the gain is the held-out-bounded expectation, the
 * cost the predicted training time relative to the baseline's (measured where runs measured it).
 */
function rank(drafts: Draft[], base: ModelConfig, baseline: ExperimentSummary, costs: CostModel): ResearchHypothesis[] {
  const seen = new Set([canonicalConfigKey(base)]);
  const out: ResearchHypothesis[] = [];
  for (const d of drafts) {
    const key = canonicalConfigKey(d.model);
    // Never more than the held-out measurement supports (rounded down, so the printed numbers keep the order too).
    const heldOutGain = roundDown(Math.max(0, d.heldOutGain));
    const expectedGain = Math.min(roundDown(d.expectedGain), heldOutGain);
    if (seen.has(key) || !(expectedGain >= MIN_GAIN)) continue;
    seen.add(key);
    const cost = relativeCost(costs, d.model, base);
    out.push({
      hypothesis: {
        title: d.title.slice(0, 200),
        technique: d.technique,
        rationale: `${d.rationale} Evidence: ${d.evidence}`.slice(0, 600),
        expectedEffect: `NE −${(100 * expectedGain).toFixed(2)}% expected (held-out bound −${(100 * heldOutGain).toFixed(2)}%) from the research step's measurements`,
        parents: [baseline.experimentId],
        expectedGain,
      },
      model: d.model,
      evidence: d.evidence.slice(0, 400),
      expectedGain,
      heldOutGain,
      cost: Number(cost.toPrecision(3)),
    });
  }
  return out.sort((a, b) => b.expectedGain / b.cost - a.expectedGain / a.cost || b.expectedGain - a.expectedGain).slice(0, MAX_HYPOTHESES);
}

/** Three significant digits, rounded toward 0. */
function roundDown(x: number): number {
  if (!(x > 0)) return 0;
  const scale = Math.pow(10, 2 - Math.floor(Math.log10(x)));
  return Math.floor(x * scale) / scale;
}
