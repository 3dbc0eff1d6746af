import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refuseHostBlockDevices } from '../../src/sandboxer/kinds/vmm/runtime.js';
import type { Spec } from '../../src/oci/types.js';

const spec = (devices: NonNullable<Spec['linux']>['devices']): Spec => ({ ociVersion: '1.0.2', root: { path: 'rootfs' }, linux: { devices } } as Spec);

test('a VM container is refused a host block device (the guest has its own of those numbers); character devices and none pass', () => {
  assert.throws(() => refuseHostBlockDevices(spec([{ path: '/dev/test-block-1', type: 'b', major: 7, minor: 0 }]), 'pod1'),
    (e: Error & { name?: string }) => e.name === 'FailedPrecondition' && /\/dev\/test-block-1 \(block 7:0\).*VM sandbox pod1.*run it with runc/.test(e.message));
  refuseHostBlockDevices(spec([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }]), 'pod1');
  refuseHostBlockDevices(spec(undefined), 'pod1');
});
