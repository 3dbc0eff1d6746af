// The one registry of container names (moby's pkg/registrar): name → container id. Every
// name goes through it: names a user gives (create --name, rename), names the engine
// generates, names of records loaded at start-up; rm releases them. Each method runs to
// completion without awaiting, so a check and its reservation can never be split by another
// request: two concurrent creates can't both take a name, generated or given.
import { randomInt } from '../../common/crypto.js';
import { alreadyExists, type TsulaError } from '../../common/errors.js';
import { ADJECTIVES, SURNAMES } from './name-words.js';

/** A uniform integer in [0, n): injectable so tests can drive the generator. */
export type Rand = (n: number) => number;

const defaultRand: Rand = (n) => randomInt(n);

/** Generated attempts before falling back to the short id, as docker does. */
const GENERATED_TRIES = 6;

/**
 * A docker-shaped random name, `adjective_surname`; from the second attempt on a random
 * digit is appended (`focused_turing3`), which makes a clash on retry ten times rarer.
 */
export function generateName(attempt: number, rand: Rand = defaultRand): string {
  for (;;) {
    const name = `${ADJECTIVES[rand(ADJECTIVES.length)]}_${SURNAMES[rand(SURNAMES.length)]}`;
    if (name === 'boring_wozniak') continue; // docker's one exclusion: Steve Wozniak is not boring
    return attempt > 0 ? `${name}${rand(10)}` : name;
  }
}

/** Docker's exact conflict message: clients match on it. */
export function nameConflict(name: string, owner: string): TsulaError {
  return alreadyExists(`Conflict. The container name "/${name}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`);
}

export class NameRegistrar {
  private owners = new Map<string, string>();
  /** id → its names: release-all on rm, even of a name a failed rename left behind. */
  private byId = new Map<string, Set<string>>();

  constructor(private readonly rand: Rand = defaultRand) {}

  /** Reserve `name` (without the leading "/") for `id`; idempotent for the same id. */
  reserve(name: string, id: string): string {
    const owner = this.owners.get(name);
    if (owner !== undefined && owner !== id) throw nameConflict(name, owner);
    this.owners.set(name, id);
    let set = this.byId.get(id);
    if (!set) this.byId.set(id, (set = new Set()));
    set.add(name);
    return name;
  }

  /** Generate and reserve a free name for `id` (docker's generateNewName). */
  reserveGenerated(id: string): string {
    for (let attempt = 0; attempt < GENERATED_TRIES; attempt++) {
      const name = generateName(attempt, this.rand);
      if (!this.owners.has(name)) return this.reserve(name, id);
    }
    // a nearly full space: the short id is free unless a user chose exactly it as a name
    return this.reserve(id.slice(0, 12), id);
  }

  /** Release `name` if `id` holds it (a stale release never frees someone else's name). */
  release(name: string, id: string): void {
    if (this.owners.get(name) !== id) return;
    this.owners.delete(name);
    const set = this.byId.get(id);
    set?.delete(name);
    if (set && set.size === 0) this.byId.delete(id);
  }

  /** Release every name `id` holds (rm). */
  releaseAll(id: string): void {
    for (const name of this.byId.get(id) ?? []) this.owners.delete(name);
    this.byId.delete(id);
  }

  owner(name: string): string | undefined {
    return this.owners.get(name);
  }

  namesOf(id: string): string[] {
    return [...(this.byId.get(id) ?? [])];
  }

  get size(): number {
    return this.owners.size;
  }
}
