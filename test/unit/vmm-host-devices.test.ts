import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostBlockDevicesOut } from '../../src/sandboxer/kinds/vmm/runtime.js';
import type { Spec } from '../../src/oci/types.js';

const spec = (devices: NonNullable<Spec['linux']>['devices']): Spec => ({ ociVersion: '1.0.2', root: { path: 'rootfs' }, linux: { devices } } as Spec);

test('a VM container is refused a host block device (the guest has its own of those numbers), a privileged one goes without them; character devices and none pass', () => {
  assert.throws(() => hostBlockDevicesOut(spec([{ path: '/dev/test-block-1', type: 'b', major: 7, minor: 0 }]), 'pod1'),
    (e: Error & { name?: string }) => e.name === 'FailedPrecondition' && /\/dev\/test-block-1 \(block 7:0\).*VM sandbox pod1.*run it with runc/.test(e.message));
  hostBlockDevicesOut(spec([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }]), 'pod1');
  hostBlockDevicesOut(spec(undefined), 'pod1');
  // privileged (containerd's CRI gives it the host's /dev): its block devices left out, not refused
  const priv = { ...spec([{ path: '/dev/sda', type: 'b', major: 8, minor: 0 }, { path: '/dev/null', type: 'c', major: 1, minor: 3 }]), process: { capabilities: { bounding: ['CAP_SYS_ADMIN'] } } } as Spec;
  assert.deepEqual(hostBlockDevicesOut(priv, 'pod1').linux?.devices?.map((d) => d.path), ['/dev/null']);
});
