// The name registrar and generator: docker-shaped names, atomic reservation, release rules,
// and the store's use of it (load, rename, rm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NameRegistrar, generateName, type Rand } from '../../src/engine/containers/names.js';
import { ADJECTIVES, SURNAMES } from '../../src/engine/containers/name-words.js';
import { ContainerStore } from '../../src/engine/containers/store.js';
import { isKind } from '../../src/common/errors.js';
import { initialState, type Container } from '../../src/engine/containers/model.js';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const DOCKER_NAME = /^[a-z]+_[a-z]+\d?$/;

/** A Rand that replays `values` (each taken modulo n), then repeats the last one. */
function scripted(values: number[]): Rand {
  let i = 0;
  return (n) => (values[Math.min(i++, values.length - 1)] ?? 0) % n;
}

test('word lists: docker-sized, lower-case, no duplicates', () => {
  assert.equal(ADJECTIVES.length, 108);
  assert.equal(SURNAMES.length, 236);
  for (const list of [ADJECTIVES, SURNAMES]) {
    assert.equal(new Set(list).size, list.length);
    for (const w of list) assert.match(w, /^[a-z]+$/);
  }
});

test('generateName: left_right, a digit on retries, never boring_wozniak', () => {
  assert.equal(generateName(0, scripted([0, 0])), `${ADJECTIVES[0]}_${SURNAMES[0]}`);
  assert.equal(generateName(1, scripted([1, 2, 7])), `${ADJECTIVES[1]}_${SURNAMES[2]}7`);
  const boring = ADJECTIVES.indexOf('boring');
  const wozniak = SURNAMES.indexOf('wozniak');
  assert.equal(generateName(0, scripted([boring, wozniak, boring, 0])), `boring_${SURNAMES[0]}`);
  for (let i = 0; i < 2000; i++) {
    const n = generateName(i % 3);
    assert.match(n, DOCKER_NAME);
    assert.notEqual(n.replace(/\d$/, ''), 'boring_wozniak');
  }
});

test('reserve: idempotent per id; a clash is docker\'s 409 message naming the owner', () => {
  const r = new NameRegistrar();
  assert.equal(r.reserve('web', ID_A), 'web');
  assert.equal(r.reserve('web', ID_A), 'web');
  assert.throws(() => r.reserve('web', ID_B), (e: Error) => {
    assert.ok(isKind(e, 'AlreadyExists'));
    assert.equal(e.message, `Conflict. The container name "/web" is already in use by container "${ID_A}". You have to remove (or rename) that container to be able to reuse that name.`);
    return true;
  });
  assert.equal(r.owner('web'), ID_A);
});

test('release frees only the holder\'s name; releaseAll frees every name of an id', () => {
  const r = new NameRegistrar();
  r.reserve('x', ID_A);
  r.release('x', ID_B); // a stale release by someone else changes nothing
  assert.equal(r.owner('x'), ID_A);
  r.release('x', ID_A);
  assert.equal(r.owner('x'), undefined);
  r.reserve('y', ID_A);
  r.reserve('z', ID_A);
  r.reserve('w', ID_B);
  r.releaseAll(ID_A);
  assert.deepEqual([r.owner('y'), r.owner('z'), r.owner('w')], [undefined, undefined, ID_B]);
  assert.deepEqual(r.namesOf(ID_A), []);
  assert.equal(r.size, 1);
});

test('reserveGenerated never hands out a reserved name: retries with a digit, then the short id', () => {
  // words 3 and 5 on every draw, digits 4, 0, 1, ...: the first try clashes, the retry adds a digit
  const fixed = (): Rand => {
    let digit = 4;
    return (n) => (n === ADJECTIVES.length ? 3 : n === SURNAMES.length ? 5 : digit++ % 10);
  };
  const base = `${ADJECTIVES[3]}_${SURNAMES[5]}`;
  const r = new NameRegistrar(fixed());
  r.reserve(base, ID_A); // a user chose it with --name
  assert.equal(r.reserveGenerated(ID_B), `${base}4`);
  // with the base and every digit taken, six tries fail and the short id is used
  const full = new NameRegistrar(fixed());
  full.reserve(base, ID_A);
  for (let d = 0; d < 10; d++) full.reserve(`${base}${d}`, ID_A);
  assert.equal(full.reserveGenerated(ID_B), ID_B.slice(0, 12));
  assert.equal(full.owner(ID_B.slice(0, 12)), ID_B);
});

test('1000 generated names in a row are distinct and docker-shaped', () => {
  const r = new NameRegistrar();
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = i.toString(16).padStart(64, '0');
    const n = r.reserveGenerated(id);
    assert.match(n, DOCKER_NAME);
    assert.ok(!seen.has(n), `duplicate ${n}`);
    seen.add(n);
  }
});

function record(id: string, name: string): Container {
  return { id, name, createdAt: new Date().toISOString(), state: initialState() } as unknown as Container;
}

test('store: load reserves names (a second claimant gets its short id), rename and rm go through the registrar', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-names-'));
  try {
    for (const [id, name] of [[ID_A, 'same'], [ID_B, 'same']]) {
      await fs.mkdir(path.join(dir, id));
      await fs.writeFile(path.join(dir, id, 'container.json'), JSON.stringify(record(id, name)));
    }
    const store = new ContainerStore(dir);
    const renamed: string[] = [];
    await store.load(() => assert.fail('no record is broken'), (_id, from, to) => renamed.push(`${from}->${to}`));
    assert.equal(renamed.length, 1);
    const loser = store.names.owner('same') === ID_A ? ID_B : ID_A;
    assert.deepEqual(renamed, [`same->${loser.slice(0, 12)}`]);
    assert.equal(store.get(loser.slice(0, 12)).id, loser);

    const winner = store.get('same');
    await assert.rejects(store.rename(store.get(loser), 'same'), /already in use/);
    await store.rename(winner, 'other');
    assert.equal(store.names.owner('same'), undefined);
    assert.equal(store.get('other').id, winner.id);

    await store.delete(winner);
    assert.equal(store.names.owner('other'), undefined);
    assert.throws(() => store.get('other'), /No such container/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('store: a name reserved by a create in progress is taken but names no container yet', () => {
  const store = new ContainerStore('/nonexistent');
  store.names.reserve('pending', ID_A);
  assert.throws(() => store.get('pending'), /No such container/);
  assert.throws(() => store.names.reserve('pending', ID_B), /already in use/);
});
