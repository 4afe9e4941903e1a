/**
 * Feature hashing. MurmurHash3 (x86, 32-bit) over a field's raw value: fast, well mixed, non-cryptographic.
 * We hash once when a row is read and keep the 32-bit hash; a model's `hashBits` only masks it, so one loaded
 * dataset serves experiments with different hash sizes without re-reading the file.
 */

/** murmur3_32 of a string's UTF-16 code units (Criteo values are ASCII hex, so this equals hashing the bytes). */
export function murmur3String(value: string, seed: number): number {
  let h = seed | 0;
  const len = value.length;
  let i = 0;
  for (; i + 3 < len; i += 4) {
    let k =
      (value.charCodeAt(i) & 0xffff) |
      ((value.charCodeAt(i + 1) & 0xffff) << 8) |
      ((value.charCodeAt(i + 2) & 0xffff) << 16) |
      ((value.charCodeAt(i + 3) & 0xffff) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (len - i) {
    case 3:
      k ^= (value.charCodeAt(i + 2) & 0xffff) << 16;
    // falls through
    case 2:
      k ^= (value.charCodeAt(i + 1) & 0xffff) << 8;
    // falls through
    case 1:
      k ^= value.charCodeAt(i) & 0xffff;
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= len;
  return finalMix(h);
}

/**
 * murmur3String's twin over bytes `start..end` of a buffer: the same 4-byte blocks and tail, so it equals
 * murmur3String of the string whose code units are those bytes (their latin1 reading). For bytes below 0x80 that is
 * the string the UTF-8 reader would have decoded; callers hash other bytes through the string path instead.
 */
export function murmur3Bytes(bytes: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed | 0;
  const len = end - start;
  let i = start;
  for (; i + 3 < end; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (end - i) {
    case 3:
      k ^= bytes[i + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[i + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[i];
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= len;
  return finalMix(h);
}

/** murmur3's finaliser: a bijective avalanche of 32 bits. */
export function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combines two hashes (order matters) under a salt, e.g. the two values of an explicit cross. */
export function combineHashes(a: number, b: number, salt: number): number {
  return finalMix((Math.imul(a ^ salt, 0x9e3779b1) + finalMix(b + Math.imul(salt, 0x85ebca6b))) | 0);
}

/** Hash of categorical value `value` in field number `fieldIndex` (a feature number: 0..38 for Criteo's 39 features). */
export function hashFieldValue(fieldIndex: number, value: string): number {
  return murmur3String(value, fieldSeed(fieldIndex));
}

/** The murmur3 seed of field number `fieldIndex`: hashFieldValue(f, v) = murmur3String(v, fieldSeed(f)). */
export function fieldSeed(fieldIndex: number): number {
  return 0x5bd1e995 ^ Math.imul(fieldIndex + 1, 0x27d4eb2d);
}
