// The local volume driver's options: dockerd's checks at create, the split of `o` into mount
// flags and data, the mount call dockerd would make (or not), and its error's words; the
// mounter's holders with a fake mount(8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  addressToResolve, errnoText, mountCall, mountFailure, needsMount, splitMountOptions, validateVolumeOptions, withAddress,
} from '../../src/engine/volumes/options.js';
import { VolumeMounter } from '../../src/engine/volumes/mounter.js';
import { Logger } from '../../src/common/log.js';

const refused = (opts: Record<string, string>, msg: string) =>
  assert.throws(() => validateVolumeOptions('v2', opts), (e: Error) => e.name === 'InvalidArgument' && e.message === `create v2: ${msg}`);

test('validation at create: dockerd 20.10\'s words and order', () => {
  validateVolumeOptions('v2', {});
  validateVolumeOptions('v2', { type: 'tmpfs', device: 'tmpfs', o: 'size=10m,uid=1000' });
  validateVolumeOptions('v2', { type: 'none', device: '/srv', o: 'bind' });
  validateVolumeOptions('v2', { size: '0' }); // no quota asked: accepted
  refused({ foo: 'x' }, 'invalid option: "foo"');
  refused({ type: 'tmpfs', device: 'tmpfs', bar: '1' }, 'invalid option: "bar"');
  refused({ type: 'tmpfs' }, 'missing required option: "device"');
  refused({ device: '/srv' }, 'missing required option: "type"');
  refused({ o: 'bind' }, 'missing required option: "device"');
  refused({ o: 'bind', device: '/srv' }, 'missing required option: "type"');
  refused({ o: 'bind', type: 'none' }, 'missing required option: "device"');
  refused({ size: '10m' }, 'quota size requested but no quota support');
  refused({ size: 'ten' }, "invalid size: 'ten'");
  assert.doesNotThrow(() => validateVolumeOptions('v2', { size: '10m' }, true));
});

test('needsMount: a device or a type', () => {
  assert.equal(needsMount({}), false);
  assert.equal(needsMount({ size: '0' }), false);
  assert.equal(needsMount({ type: 'tmpfs', device: 'tmpfs' }), true);
});

test('o splits into moby/sys/mount flags and data', () => {
  assert.deepEqual(splitMountOptions('bind'), { flags: 0x1000, data: '' });
  assert.deepEqual(splitMountOptions('size=10m,uid=1000'), { flags: 0, data: 'size=10m,uid=1000' });
  assert.deepEqual(splitMountOptions('rbind,ro,nosuid'), { flags: 0x1000 | 0x4000 | 0x1 | 0x2, data: '' });
  assert.deepEqual(splitMountOptions('ro,rw,addr=1.2.3.4'), { flags: 0, data: 'addr=1.2.3.4' });
  assert.deepEqual(splitMountOptions('defaults'), { flags: 0, data: 'defaults' }); // flag 0: data, as moby
});

test('mountCall: what mount(2) gets, or nothing for a remount request without data', () => {
  assert.deepEqual(mountCall({ type: 'none', device: '/srv', o: 'bind,rprivate' }), { device: '/srv', type: 'none', flags: 0x1000 | 0x4000, data: '' });
  assert.deepEqual(mountCall({ type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }), { device: 'tmpfs', type: 'tmpfs', flags: 0, data: 'size=1m' });
  assert.equal(mountCall({ type: 'tmpfs', device: 'none' }), null);
  assert.notEqual(mountCall({ type: 'tmpfs', device: 'none', o: 'size=1m' }), null);
});

test('nfs/cifs addr= is resolved unless an IPv4 literal', () => {
  assert.equal(addressToResolve({ type: 'nfs', device: ':/x', o: 'addr=nas.local,rw' }), 'nas.local');
  assert.equal(addressToResolve({ type: 'nfs', device: ':/x', o: 'addr=10.0.0.1' }), null);
  assert.equal(addressToResolve({ type: 'tmpfs', device: 'tmpfs', o: 'addr=x' }), null);
  assert.deepEqual(withAddress({ type: 'nfs', o: 'addr=nas,rw' }, 'nas', '10.0.0.2'), { type: 'nfs', o: 'addr=10.0.0.2,rw' });
});

test('a failed mount in dockerd\'s words, a cifs password masked', () => {
  const t = '/g/volumes/b/_data';
  assert.equal(mountFailure({ device: '/nope', flags: 0x1000, data: '' }, t, errnoText('mount: /g: special device /nope does not exist.')),
    `failed to mount local volume: mount /nope:${t}, flags: 0x1000: no such file or directory`);
  assert.equal(mountFailure({ device: 'tmpfs', flags: 0, data: 'size=x' }, t, errnoText('mount: /g: wrong fs type, bad option, bad superblock on tmpfs')),
    `failed to mount local volume: mount tmpfs:${t}, data: size=x: invalid argument`);
  assert.equal(errnoText("mount: /g: unknown filesystem type 'foo'."), 'no such device');
  assert.equal(errnoText('mount: /g: something new.\n  dmesg(1) may have more'), '/g: something new.');
  assert.match(mountFailure({ device: '//srv/s', flags: 0, data: 'user=u,password=secret' }, t, 'permission denied', 'user=u,password=secret'), /password=\*{8}: permission denied$/);
});

test('the mounter: the first holder mounts, the last unmounts; a failed mount holds nothing', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'volmount-'));
  try {
    const calls: string[][] = [];
    let fail = false;
    const m = new VolumeMounter({
      volume: (n) => ({ options: n === 'plain' ? {} as Record<string, string> : { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }, mountpoint: path.join(dir, n, '_data') }),
      log: new Logger('error'),
      run: async (args) => { calls.push(args); return fail ? { code: 32, stdout: '', stderr: 'mount: x: permission denied.' } : { code: 0, stdout: '', stderr: '' }; },
    });
    await m.acquire('plain', 'a'); // no options: nothing to mount
    assert.equal(calls.length, 0);
    await Promise.all([m.acquire('t', 'a'), m.acquire('t', 'b')]);
    assert.equal(calls.length, 1, 'one mount for two holders');
    assert.deepEqual(calls[0], ['-i', '-n', '-t', 'tmpfs', '-o', 'size=1m', '--', 'tmpfs', path.join(dir, 't', '_data')]);
    assert.equal(m.active('t'), 2);
    await m.release('t', 'nobody'); // never held: nothing changes
    assert.equal(m.active('t'), 2);
    await m.release('t', 'a');
    assert.equal(m.active('t'), 1);
    await assert.rejects(m.unmountForRemoval('t'), /remove t: volume has active mounts/);
    await m.release('t', 'b'); // the last: unmounts (nothing is really mounted here: a no-op)
    assert.equal(m.active('t'), 0);
    fail = true;
    await assert.rejects(m.acquire('u', 'a'), /failed to mount local volume: mount tmpfs:.*, data: size=1m: permission denied/);
    assert.equal(m.active('u'), 0);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
