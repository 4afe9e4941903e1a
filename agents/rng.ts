/**
 * Seeded randomness for the sub-agents. Designers must give the same answer for the same request (activities may be
 * retried, benchmarks compare runs), so nothing here touches Math.random.
 */

/** FNV-1a over a string: a stable 32-bit hash used to derive seeds and tie-breakers from names. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: tiny, fast, good enough for search proposals (not for cryptography). */
export function seededRandom(seed: number): () => number {
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
