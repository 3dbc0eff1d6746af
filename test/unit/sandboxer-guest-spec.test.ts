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

test("the pod's net.* sysctls leave a container's guest spec (the guest's netns got them at the pod's set-up); its IPC ones stay", () => {
  const spec = {
    ociVersion: '1.0.2', process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } }, root: { path: '/r' }, mounts: [],
    linux: { namespaces: [{ type: 'network', path: '/var/run/netns/pod' }, { type: 'ipc' }], sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' } },
  } as unknown as Spec;
  assert.deepEqual(guestSpec(structuredClone(spec), 'k1').linux.sysctl, { 'kernel.shm_rmid_forced': '1' });
  const onlyNet = { ...spec, linux: { ...spec.linux, sysctl: { 'net.core.somaxconn': '1024' } } } as unknown as Spec;
  assert.equal(guestSpec(onlyNet, 'k2').linux.sysctl, undefined);
});
