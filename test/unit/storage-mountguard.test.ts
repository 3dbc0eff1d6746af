// MountGuard: holders (docker cp, export of a stopped container) against the exit's unmount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MountGuard } from '../../src/storage/mountguard.js';
import type { SnapshotDriver } from '../../src/storage/types.js';

/** A driver whose unmount takes a while; it records what happened, in order. */
function slowDriver(log: string[]): SnapshotDriver {
  let mounted = true;
  return {
    mount: async (k: string) => { log.push(mounted ? `mount ${k}: already` : `mount ${k}`); mounted = true; return `/m/${k}`; },
    unmount: async (k: string) => { log.push(`unmount ${k}: start`); await new Promise((r) => setTimeout(r, 30)); mounted = false; log.push(`unmount ${k}: done`); },
  } as unknown as SnapshotDriver;
}

test('a hold that comes while the exit\'s unmount runs waits for it and mounts again, instead of reading a mount about to go', async () => {
  const log: string[] = [];
  const g = new MountGuard(slowDriver(log));
  const exit = g.unmount('c1');
  await new Promise((r) => setTimeout(r, 5)); // the umount is under way
  await g.hold('c1');
  assert.deepEqual(log, ['unmount c1: start', 'unmount c1: done', 'mount c1']);
  await exit;
  // the holder's release unmounts the stopped container's rootfs again
  await g.release('c1', true);
  assert.equal(log.at(-1), 'unmount c1: done');
});

test('an unmount while held waits for the last holder', async () => {
  const log: string[] = [];
  const g = new MountGuard(slowDriver(log));
  await g.hold('c2');
  await g.unmount('c2');
  assert.deepEqual(log, ['mount c2: already']);
  await g.release('c2', false);
  assert.deepEqual(log, ['mount c2: already', 'unmount c2: start', 'unmount c2: done']);
});
