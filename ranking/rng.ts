/**
 * All seeded randomness in Rankwright; nothing here (or anywhere outside workflow code) touches Math.random, so a
 * rerun, a retried activity or a resumed training run draws the same numbers. There are two generators, on purpose:
 *
 * - `SeededRandom` (xoshiro128**): the training stream — initialisation, shuffles, negative sampling, planted data.
 *   Its whole state is four 32-bit words, so a checkpoint can store it and a resumed run continues the same stream.
 * - `proposalRandom` (mulberry32) and `tieBreaker` (FNV-1a): the hypothesis designers'. A design call starts a fresh
 *   generator from the request's seed and never needs checkpointing, so a closure is enough. These streams are frozen:
 *   the designers must give the same proposals for the same request (activities are retried, test/agents and
 *   bench/agent.ts compare exact proposals), and moving them onto `SeededRandom` would change every proposal.
 */

/**
 * The training stream: a seeded, serialisable PRNG (xoshiro128**). Its whole state is four 32-bit words, so a
 * checkpoint can store it and a resumed run draws exactly the numbers the uninterrupted run would have drawn.
 */
export class SeededRandom {
  private s = new Uint32Array(4);
  private spareGaussian: number | null = null;

  constructor(seed: number) {
    // splitmix32 expands the seed so nearby seeds give unrelated streams.
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller, caching the second draw). */
  gaussian(): number {
    if (this.spareGaussian !== null) {
      const g = this.spareGaussian;
      this.spareGaussian = null;
      return g;
    }
    let u = 0;
    while (u <= 1e-300) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareGaussian = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle(a: Int32Array | Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  getState(): number[] {
    return [...this.s, this.spareGaussian === null ? NaN : this.spareGaussian];
  }

  setState(state: number[]): void {
    for (let i = 0; i < 4; i++) this.s[i] = state[i] >>> 0;
    this.spareGaussian = Number.isNaN(state[4]) || state[4] === undefined || state[4] === null ? null : state[4];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------------------------
// The designers' randomness (formerly agents/rng.ts). Do not change these algorithms: proposals depend on them.

/** FNV-1a over a string: a stable 32-bit hash of a name. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The random designer's draws: mulberry32, a tiny closure over one 32-bit word — fast, good enough for search
 * proposals (not for cryptography), and not checkpointable (a design call never needs to resume).
 */
export function proposalRandom(seed: number): () => number {
  let state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic tie-breaker in [0, 1) for an item under a seed: equal scores order the same way every run. */
export function tieBreaker(seed: number, key: string): number {
  return hashString(`${seed}|${key}`) / 4294967296;
}
