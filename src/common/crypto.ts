// Randomness and hashing without OpenSSL on the daemons' everyday paths. node:crypto's module
// and OpenSSL's start-up cost a node process ~2.4 MB of RSS for its lifetime (its bindings,
// the library's pages) and the guest's agent ~tens of ms under TCG. What a container's or a
// pod's life needs is small: random ids, names and tokens (the kernel's CSPRNG, read from
// /dev/urandom: what OpenSSL's generator seeds from), and SHA-256 of short keys for names of
// files and sockets (@noble/hashes, audited, pure JS). node:crypto still does the bulk work
// (layer and blob digests, where OpenSSL's native SHA-256 is ~10x faster), loaded on first use.
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as NodeCrypto from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';

// a builtin resolves from anywhere: no import.meta (the agent's bundle is CommonJS)
const load = createRequire('/');
let mod: typeof NodeCrypto | undefined;
const crypto = (): typeof NodeCrypto => (mod ??= load('node:crypto') as typeof NodeCrypto);

/** `size` bytes from the kernel's CSPRNG (node:crypto's generator where /dev/urandom can't be opened). */
export function randomBytes(size: number): Buffer {
  let fd: number;
  try { fd = openSync('/dev/urandom', 'r'); } catch { return crypto().randomBytes(size); }
  try {
    const b = Buffer.allocUnsafe(size);
    for (let off = 0; off < size;) {
      const n = readSync(fd, b, off, size - off, null);
      if (n <= 0) throw new Error(`/dev/urandom: short read (${off} of ${size} bytes)`);
      off += n;
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

/** A uniform integer in [0, max) (max ≤ 2^32), without modulo bias. */
export function randomInt(max: number): number {
  if (!Number.isSafeInteger(max) || max <= 0 || max > 2 ** 32) throw new RangeError(`randomInt: max must be an integer in [1, 2^32], got ${max}`);
  const limit = 2 ** 32 - (2 ** 32 % max); // the largest multiple of max: values at or above it are redrawn
  for (;;) {
    const v = randomBytes(4).readUInt32BE(0);
    if (v < limit) return v % max;
  }
}

/** An RFC 9562 version 4 UUID. */
export function randomUUID(): string {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** SHA-256 of a short text (UTF-8) or bytes, as hex: names and keys, not blobs (use createHash for those). */
export function sha256Hex(data: string | Uint8Array): string {
  return Buffer.from(sha256(typeof data === 'string' ? Buffer.from(data, 'utf8') : data)).toString('hex');
}

/** node:crypto's streaming hash, for data of any size (layers, blobs, build contexts). */
export function createHash(algorithm: string): NodeCrypto.Hash { return crypto().createHash(algorithm); }
export type Hash = NodeCrypto.Hash;
