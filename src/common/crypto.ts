// node:crypto, loaded on first use: its module and bindings cost the daemons ~2 MB of RSS
// at idle, and an idle daemon (nothing created, pulled or hashed yet) needs none of it.
import { createRequire } from 'node:module';
import type * as NodeCrypto from 'node:crypto';

// a builtin resolves from anywhere: no import.meta (the agent's bundle is CommonJS)
const load = createRequire('/');
let mod: typeof NodeCrypto | undefined;
const crypto = (): typeof NodeCrypto => (mod ??= load('node:crypto') as typeof NodeCrypto);

export function randomBytes(size: number): Buffer { return crypto().randomBytes(size); }
export function randomInt(max: number): number { return crypto().randomInt(max); }
export function randomUUID(): string { return crypto().randomUUID(); }
export function createHash(algorithm: string): NodeCrypto.Hash { return crypto().createHash(algorithm); }
export type Hash = NodeCrypto.Hash;
