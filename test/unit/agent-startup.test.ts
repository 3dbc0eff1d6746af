// How the agent starts: /init tells it how (TSULA_AGENT_SNAPSHOT, reported in Ping), and
// the kernel command line and the image which OCI runtime runs the guest's containers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentStartup } from '../../src/agent/protocol.js';
import { guestOciRuntime } from '../../src/agent/paths.js';

test('the agent snapshot status from /init', () => {
  assert.deepEqual(parseAgentStartup('used 0123456789abcdef'), { snapshot: 'used', key: '0123456789abcdef' });
  assert.deepEqual(parseAgentStartup('missing 0123456789abcdef'), { snapshot: 'missing', key: '0123456789abcdef' });
  assert.deepEqual(parseAgentStartup('refused 0123456789abcdef exit=14'), { snapshot: 'refused', key: '0123456789abcdef', detail: 'exit=14' });
  assert.deepEqual(parseAgentStartup('off'), { snapshot: 'off', key: '' });
  // an agent run by hand, or by an older /init
  assert.deepEqual(parseAgentStartup(undefined), { snapshot: 'unknown', key: '' });
  assert.deepEqual(parseAgentStartup('weird x'), { snapshot: 'unknown', key: 'x' });
});

test('the guest runs containers with crun when its image has it, runc when asked or without crun', () => {
  const both = () => true;
  const runcOnly = (p: string) => p === '/usr/sbin/runc';
  assert.deepEqual(guestOciRuntime('console=hvc0 quiet', both), { name: 'crun', path: '/usr/bin/crun' });
  assert.deepEqual(guestOciRuntime('quiet tsula.oci_runtime=runc panic=-1', both), { name: 'runc', path: '/usr/sbin/runc' });
  assert.deepEqual(guestOciRuntime('tsula.oci_runtime=crun', runcOnly), { name: 'runc', path: '/usr/sbin/runc' });
  assert.deepEqual(guestOciRuntime('xtsula.oci_runtime=runc', both).name, 'crun');
});
