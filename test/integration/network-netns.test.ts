// Pinned network namespaces: created with lo up and no process left, found again by
// listing, removed idempotently (a bare file a crash left behind, too).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NetnsManager, isMounted } from '../../src/network/index.js';
import { isKind } from '../../src/common/errors.js';
import { inNetns } from '../helpers/network.js';

let tmp: string;
let mgr: NetnsManager;

before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tsula-netns-'));
  mgr = new NetnsManager({ dir: path.join(tmp, 'netns') });
});

after(async () => {
  for (const n of await mgr.list().catch(() => [])) await mgr.remove(n.id).catch(() => {});
  await fs.rm(tmp, { recursive: true, force: true });
});

test('create pins a new netns with lo up and nothing else; no process holds it', async () => {
  const p = await mgr.create('pod-a');
  assert.equal(p, path.join(tmp, 'netns', 'pod-a'));
  assert.ok(await isMounted(p));
  const links = JSON.parse(inNetns(p, ['ip', '-j', 'link']).out) as { ifname: string; flags: string[] }[];
  assert.deepEqual(links.map((l) => l.ifname), ['lo']);
  assert.ok(links[0]!.flags.includes('UP'));
  assert.equal(inNetns(p, ['busybox', 'ping', '-c1', '-W2', '127.0.0.1']).code, 0);
  // a different namespace from ours
  const mine = inNetns('/proc/self/ns/net', ['readlink', '/proc/self/ns/net']).out.trim();
  const its = inNetns(p, ['readlink', '/proc/self/ns/net']).out.trim();
  assert.match(its, /^net:\[\d+\]$/);
  assert.notEqual(its, mine);
  // nothing left running in it
  const holders = [];
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    if ((await fs.readlink(`/proc/${pid}/ns/net`).catch(() => '')) === its) holders.push(pid);
  }
  assert.deepEqual(holders, []);
  await assert.rejects(mgr.create('pod-a'), (e: Error) => isKind(e, 'AlreadyExists'));
  await mgr.remove('pod-a');
});

test('list finds pinned ones and bare files a crash left; remove is idempotent', async () => {
  await mgr.create('pod-b');
  writeFileSync(path.join(tmp, 'netns', 'pod-bare'), ''); // touched, never mounted
  assert.deepEqual(await mgr.list(), [
    { id: 'pod-b', path: path.join(tmp, 'netns', 'pod-b'), mounted: true },
    { id: 'pod-bare', path: path.join(tmp, 'netns', 'pod-bare'), mounted: false },
  ]);
  assert.equal(await mgr.exists('pod-b'), true);
  assert.equal(await mgr.exists('pod-bare'), false);
  // a bare file is reused by create
  const bare = await mgr.create('pod-bare');
  assert.ok(await isMounted(bare));
  for (const id of ['pod-b', 'pod-bare']) {
    await mgr.remove(id);
    await mgr.remove(id);
    assert.equal(existsSync(path.join(tmp, 'netns', id)), false);
  }
  await mgr.remove('never-was');
  assert.deepEqual(await mgr.list(), []);
  assert.deepEqual(await new NetnsManager({ dir: path.join(tmp, 'nodir') }).list(), []);
});

test('ids that would be paths are refused', async () => {
  for (const id of ['../x', 'a/b', '', '.hidden', 'x'.repeat(200)]) {
    await assert.rejects(mgr.create(id), (e: Error) => isKind(e, 'InvalidArgument'), id);
  }
});
