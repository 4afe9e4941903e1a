import type { PreprocessingSpec } from '../../ranking/export';
import { combineHashes, murmur3String } from '../../ranking/hash';

/** A token rule of the preprocessing spec: how one feature's raw cell becomes a 32-bit token. */
export interface SpecRule {
  featureNumber: number;
  /** Declared tables: the column the cell is in, and for a list which kept value (0-based) and its separator. */
  column?: string;
  value?: number;
  separator?: string;
  rule: string;
  seed: number;
  missingToken: number;
  boundaries?: number[];
}

/** A numeric dense slot of the spec. */
export interface SpecDenseSlot {
  featureNumber: number;
  column?: string;
  transform: string;
  mean?: number;
  std?: number;
}

/**
 * A serving-side encoder written from the preprocessing spec alone (murmur3 and fmix32 as the spec names them), the
 * way a serving team would: `cell` says where a rule's raw value is ('' when missing), `denseCell` a dense slot's.
 */
export function encodeFromSpec(
  spec: PreprocessingSpec,
  cell: (rule: SpecRule) => string,
  denseCell: (slot: SpecDenseSlot) => string,
): { cat: number[]; dense: number[] } {
  const f32 = Math.fround;
  const token = (r: SpecRule): number => {
    const raw = cell(r);
    if (raw === '') return r.missingToken;
    if (r.rule === 'categorical') return murmur3String(raw, r.seed) || 1;
    const x = f32(Number(raw));
    const bucket = r.rule === 'quantileBucket' ? r.boundaries!.filter((b) => b <= x).length : x < 0 ? -1 : Math.floor(2 * Math.log1p(x));
    return murmur3String(`\u0000${r.rule === 'quantileBucket' ? 'q' : 'b'}${bucket}`, r.seed);
  };
  const slots = spec.categoricalSlots as {
    kind: string;
    token: SpecRule;
    components?: SpecRule[];
    pairSalt?: number;
    tripleSalt?: number;
    table: { offset: number; mask: number };
  }[];
  const cat = slots.map((s) => {
    let t: number;
    if (s.kind === 'cross') {
      const [a, b, c] = s.components!.map(token);
      t = combineHashes(a, b, s.pairSalt!);
      if (c !== undefined) t = combineHashes(t, c, s.tripleSalt!);
    } else t = token(s.token);
    return s.table.offset + ((t & s.table.mask) >>> 0);
  });
  const dense = (spec.denseSlots as SpecDenseSlot[]).map((d) => {
    const raw = denseCell(d).trim();
    if (raw === '') return 0;
    const x = f32(Number(raw));
    return f32(d.transform === 'log' ? (x >= 0 ? Math.log1p(x) : -Math.log1p(-x)) : d.transform === 'standardize' ? (x - d.mean!) / d.std! : x);
  });
  return { cat, dense };
}
