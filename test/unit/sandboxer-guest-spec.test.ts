// The OCI spec as the guest's runc must see it (vmm kind): pure rewriting, no VM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestSpec } from '../../src/sandboxer/kinds/vmm/shared.js';
import type { Spec } from '../../src/oci/types.js';

test("the network namespace and host paths go, a pod's /proc/<pid>/ns path stays for the agent, a cgroup namespace comes, the guest's cgroup path, no hooks", () => {
  const spec = {
    ociVersion: '1.0.2', process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } }, root: { path: '/host/rootfs' }, mounts: [],
    hooks: { prestart: [{ path: '/usr/bin/host-hook' }] },
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/pod' }, { type: 'ipc', path: '/proc/42/ns/ipc' },
        { type: 'uts', path: '/run/tsula/pods/p/ns/uts' }, { type: 'mount', path: '/proc/42/ns/mnt' }],
      cgroupsPath: 'system.slice:tsula:abc', resources: { memory: { limit: 64 << 20 } },
    },
  } as unknown as Spec;
  const g = guestSpec(spec, 'k1');
  assert.deepEqual(g.linux.namespaces, [{ type: 'pid' }, { type: 'ipc', path: '/proc/42/ns/ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }]);
  assert.equal(g.linux.cgroupsPath, '/tsula/k1');
  assert.deepEqual(g.linux.resources, { memory: { limit: 64 << 20 } });
  assert.equal((g as { hooks?: unknown }).hooks, undefined);
  // an existing cgroup namespace is not doubled
  const again = guestSpec({ ...spec, linux: { namespaces: [{ type: 'cgroup' }] } } as unknown as Spec, 'k2');
  assert.deepEqual(again.linux.namespaces, [{ type: 'cgroup' }]);
});
