// The container store on a full disk (a tiny tmpfs): persist keeps the change in memory and
// writes it once there is space; removal marks need no space; no temp file is left behind.
// Also the no-space error helpers and TSULA_FAULT parsing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ContainerStore } from '../../src/engine/containers/store.js';
import { initialState, type Container } from '../../src/engine/containers/model.js';
import { httpStatus, grpcCode, isNoSpace, noSpaceLeft, internal } from '../../src/common/errors.js';
import { writeFileAtomic } from '../../src/common/fsutil.js';
import { faultsFromEnv } from '../../src/common/faults.js';

const execFileP = promisify(execFile);
const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
let dir: string;
let root: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-store-nospace-'));
  await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
  root = path.join(dir, 'containers');
});

after(async () => {
  await execFileP('umount', ['-l', dir]).catch(() => {});
  await fs.rm(dir, { recursive: true, force: true });
});

function record(id: string, name: string): Container {
  return { id, name, createdAt: new Date().toISOString(), state: initialState() } as unknown as Container;
}

async function fill(): Promise<void> {
  await fs.writeFile(path.join(dir, 'ballast'), Buffer.alloc(512 * 1024)).catch((e) => { if (!isNoSpace(e)) throw e; });
}

const onDisk = async (id: string) => JSON.parse(await fs.readFile(path.join(root, id, 'container.json'), 'utf8')) as Container;

test('persist on a full disk: kept in memory and pending, written by the retry once space is freed', async () => {
  const persisted: string[] = [];
  const store = new ContainerStore(root, undefined, { retryMs: 50 });
  store.onPersisted = (id) => persisted.push(id);
  const a = record(ID_A, 'a');
  await store.save(a);
  await fill();
  Object.assign(a.state, { status: 'exited', exitCode: 3 });
  assert.equal(await store.persist(a), false);
  assert.equal(store.isPending(ID_A), true);
  assert.equal(store.get('a').state.exitCode, 3, 'readers see the change');
  assert.equal((await onDisk(ID_A)).state.status, 'created');
  assert.deepEqual((await fs.readdir(path.join(root, ID_A))).filter((n) => n.endsWith('.tmp')), [], 'no partial temp file');
  await assert.rejects(store.save(a), (e) => isNoSpace(e), 'save itself still throws');

  // removal needs no space: the mark is a rename, the tombstone is listed and deleted
  const b = record(ID_B, 'b');
  await fs.rm(path.join(dir, 'ballast'));
  await store.save(b);
  await fill();
  await store.markRemoving(b);
  assert.deepEqual((await store.tombstones()).map((t) => [t.id, t.rec?.name]), [[ID_B, 'b']]);
  assert.equal(await store.persist(b), true, 'a record being removed is never written back');
  await store.delete(b);
  assert.deepEqual(await store.tombstones(), []);
  assert.deepEqual((await fs.readdir(root)).sort(), [ID_A]);

  await fs.rm(path.join(dir, 'ballast'));
  for (let i = 0; i < 100 && store.isPending(ID_A); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(store.isPending(ID_A), false);
  assert.deepEqual(persisted, [ID_A]);
  assert.deepEqual([(await onDisk(ID_A)).state.status, (await onDisk(ID_A)).state.exitCode], ['exited', 3]);
  store.close();
});

test('writeFileAtomic: a write cut short by ENOSPC leaves no temp file', async () => {
  const sub = path.join(dir, 'atomic');
  await fs.mkdir(sub);
  await assert.rejects(writeFileAtomic(path.join(sub, 'big'), Buffer.alloc(1024 * 1024)), (e) => isNoSpace(e));
  assert.deepEqual(await fs.readdir(sub), []);
});

test('no-space errors: found through causes, named with the disk and the fix, 500 / RESOURCE_EXHAUSTED', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.equal(isNoSpace(enospc), true);
  assert.equal(isNoSpace(Object.assign(new Error('quota'), { code: 'EDQUOT' })), true);
  assert.equal(isNoSpace(internal('wrapped', enospc)), true);
  assert.equal(isNoSpace(Object.assign(new Error('denied'), { code: 'EACCES' })), false);
  const e = noSpaceLeft('/var/lib/tsula', 'creating container web', enospc);
  assert.equal(e.message, 'no space left on device on /var/lib/tsula while creating container web: free some space (tsula rm, tsula rmi, tsula image prune)');
  assert.equal(httpStatus(e), 500);
  assert.equal(grpcCode(e), 8);
  assert.match(noSpaceLeft('/g', 'x', Object.assign(new Error('q'), { code: 'EDQUOT' })).message, /^disk quota exceeded on \/g/);
});

test('TSULA_FAULT: the named point (its n-th hit with @n) kills, others never', () => {
  let kills = 0;
  const f = faultsFromEnv('exit:after-save@2', () => { kills++; });
  f.hit('exit:before-save');
  f.hit('exit:after-save');
  assert.equal(kills, 0);
  f.hit('exit:after-save');
  assert.equal(kills, 1);
  faultsFromEnv(undefined, () => { kills++; }).hit('rm:after-mark');
  faultsFromEnv('not a point', () => { kills++; }).hit('rm:after-mark');
  assert.equal(kills, 1);
});
