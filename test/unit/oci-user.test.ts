import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveUser, secureJoin } from '../../src/oci/user.js';
import { isKind } from '../../src/common/errors.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
+::::::
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh
alice:x:2000:2000:duplicate, first one wins:/:/bin/sh
`;
const GROUP = `root:x:0:
wheel:x:10:root,alice
users:x:100:bob
alice:x:1000:
audio:x:29:alice, bob
`;

async function withRootfs(fn: (rootfs: string, tmp: string) => Promise<void>, files: Record<string, string> = {}): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-oci-user-'));
  const rootfs = path.join(tmp, 'rootfs');
  await fs.mkdir(path.join(rootfs, 'etc'), { recursive: true });
  for (const [f, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(rootfs, f)), { recursive: true });
    await fs.writeFile(path.join(rootfs, f), text);
  }
  try { await fn(rootfs, tmp); } finally { await fs.rm(tmp, { recursive: true, force: true }); }
}

const std = { 'etc/passwd': PASSWD, 'etc/group': GROUP };

test('empty user is root, with root\'s supplementary groups', () => withRootfs(async (r) => {
  assert.deepEqual(await resolveUser(r, ''), { uid: 0, gid: 0, additionalGids: [10] });
  assert.deepEqual(await resolveUser(r, undefined), { uid: 0, gid: 0, additionalGids: [10] });
}, std));

test('by name: passwd uid/gid and /etc/group memberships; first entry wins', () => withRootfs(async (r) => {
  assert.deepEqual(await resolveUser(r, 'alice'), { uid: 1000, gid: 1000, additionalGids: [10, 29] });
  assert.deepEqual(await resolveUser(r, 'bob'), { uid: 1001, gid: 100, additionalGids: [100, 29] });
}, std));

test('by uid: known and unknown', () => withRootfs(async (r) => {
  assert.deepEqual(await resolveUser(r, '1000'), { uid: 1000, gid: 1000, additionalGids: [10, 29] });
  assert.deepEqual(await resolveUser(r, '4242'), { uid: 4242, gid: 0, additionalGids: [] });
}, std));

test('name:group and uid:gid forms: explicit group, no supplementary groups', () => withRootfs(async (r) => {
  assert.deepEqual(await resolveUser(r, 'alice:users'), { uid: 1000, gid: 100, additionalGids: [] });
  assert.deepEqual(await resolveUser(r, '1001:10'), { uid: 1001, gid: 10, additionalGids: [] });
  assert.deepEqual(await resolveUser(r, '5000:6000'), { uid: 5000, gid: 6000, additionalGids: [] });
  assert.deepEqual(await resolveUser(r, 'daemon:777'), { uid: 1, gid: 777, additionalGids: [] });
}, std));

test('unknown user or group names are InvalidArgument with runc\'s wording', () => withRootfs(async (r) => {
  await assert.rejects(resolveUser(r, 'mallory'), (e: Error) =>
    isKind(e, 'InvalidArgument') && e.message === 'unable to find user mallory: no matching entries in passwd file');
  await assert.rejects(resolveUser(r, 'alice:nogroup'), (e: Error) =>
    isKind(e, 'InvalidArgument') && /unable to find group nogroup/.test(e.message));
  await assert.rejects(resolveUser(r, '99999999999'), (e: Error) => isKind(e, 'InvalidArgument'));
}, std));

test('--group-add names and gids are appended', () => withRootfs(async (r) => {
  assert.deepEqual(await resolveUser(r, 'bob', ['wheel', '555']), { uid: 1001, gid: 100, additionalGids: [100, 29, 10, 555] });
  await assert.rejects(resolveUser(r, 'bob', ['nope']), (e: Error) => isKind(e, 'InvalidArgument'));
}, std));

test('missing /etc/passwd: numeric ids only', () => withRootfs(async (r) => {
  assert.deepEqual(await resolveUser(r, ''), { uid: 0, gid: 0, additionalGids: [] });
  assert.deepEqual(await resolveUser(r, '123:456'), { uid: 123, gid: 456, additionalGids: [] });
  await assert.rejects(resolveUser(r, 'root'), /unable to find user root: no matching entries in passwd file/);
}));

test('a symlinked /etc/passwd pointing at a host path is resolved inside the rootfs', () => withRootfs(async (r, tmp) => {
  // A "host" file the image tries to make us read: absolute and ../-relative escapes.
  const hostFile = path.join(tmp, 'host-shadow');
  await fs.writeFile(hostFile, 'evil:x:0:0::/:/bin/sh\n');
  await fs.symlink(hostFile, path.join(r, 'etc/passwd'));
  await assert.rejects(resolveUser(r, 'evil'), /unable to find user evil/);
  await fs.rm(path.join(r, 'etc/passwd'));
  await fs.symlink('../../../../../../../../' + hostFile, path.join(r, 'etc/passwd'));
  await assert.rejects(resolveUser(r, 'evil'), /unable to find user evil/);
  // The same absolute path, existing INSIDE the rootfs, is what gets read.
  await fs.mkdir(path.join(r, path.dirname(hostFile)), { recursive: true });
  await fs.writeFile(path.join(r, hostFile), 'inside:x:7:8::/:/bin/sh\n');
  assert.deepEqual(await resolveUser(r, 'inside'), { uid: 7, gid: 8, additionalGids: [] });
}));

test('a symlinked /etc directory is resolved inside the rootfs too', () => withRootfs(async (r, tmp) => {
  const hostEtc = path.join(tmp, 'hostetc');
  await fs.mkdir(hostEtc);
  await fs.writeFile(path.join(hostEtc, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
  await fs.rm(path.join(r, 'etc'), { recursive: true });
  await fs.symlink(hostEtc, path.join(r, 'etc'));
  await assert.rejects(resolveUser(r, 'evil'), /unable to find user evil/);
}));

test('a legitimate in-rootfs symlink is followed', () => withRootfs(async (r) => {
  await fs.symlink('../usr/lib/passwd', path.join(r, 'etc/passwd'));
  assert.deepEqual(await resolveUser(r, 'alice'), { uid: 1000, gid: 1000, additionalGids: [10, 29] });
}, { 'usr/lib/passwd': PASSWD, 'etc/group': GROUP }));

test('a FIFO or symlink loop as /etc/passwd neither hangs nor escapes', () => withRootfs(async (r) => {
  execFileSync('mkfifo', [path.join(r, 'etc/passwd')]);
  assert.deepEqual(await resolveUser(r, '5'), { uid: 5, gid: 0, additionalGids: [] });
  await fs.rm(path.join(r, 'etc/passwd'));
  await fs.symlink('passwd', path.join(r, 'etc/passwd'));
  await assert.rejects(resolveUser(r, 'x'), (e: Error) => isKind(e, 'InvalidArgument'));
}));

test('secureJoin clamps .. at the rootfs', async () => {
  assert.equal(await secureJoin('/nonexistent-root', '../../etc/passwd'), '/nonexistent-root/etc/passwd');
  assert.equal(await secureJoin('/nonexistent-root', '/a/./b/../c'), '/nonexistent-root/a/c');
});

test('a numeric user or group outside 0-2147483647 (a negative one too) is libcontainer\'s ErrRange, never a name', () => withRootfs(async (r) => {
  for (const u of ['2147483648', '-1', '0:2147483648', '0:-1']) {
    await assert.rejects(resolveUser(r, u), { message: 'uids and gids must be in range 0-2147483647' }, u);
  }
  assert.deepEqual(await resolveUser(r, '2147483647'), { uid: 2147483647, gid: 0, additionalGids: [] });
}));
