// A VM pod's network on the host side (kata's tcfilter model): the ip/tc batches built for a
// pod interface, the guest config derived from it, undoing plumbing that is partly or wholly
// gone, the QEMU devices for a NIC, the vmm.toml key, and what a sandbox reads from a spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestNetwork, plumbingBatches, unplumbingBatches, VmNetworks, TAP_NAME, type NetnsRunner } from '../../src/sandboxer/kinds/vmm/network.js';
import { QemuHypervisor, StratovirtHypervisor, defaultHypervisorConfig, parseVmmConfig, type VmSpec } from '../../src/hypervisor/index.js';
import { limitAnnotations, netSysctlsOf, podFromSpec, podAnnotations } from '../../src/sandboxer/podspec.js';
import { VM_OVERHEAD_MIB, vmSizedFor } from '../../src/sandboxer/kinds/vmm/request.js';
import { VmmSandboxKind } from '../../src/sandboxer/kinds/vmm/index.js';
import type { LinkInfo } from '../../src/network/index.js';

const eth0: LinkInfo = {
  name: 'eth0', mac: '0A:58:0A:C8:01:05', mtu: 1450, up: true,
  addresses: [
    { family: 4, address: '10.200.1.5/24', scope: 'global' },
    { family: 6, address: 'fd00:1::5/64', scope: 'global' },
    { family: 6, address: 'fe80::858:aff:fec8:105/64', scope: 'link' },
  ],
  routes: [
    { family: 4, dst: 'default', gateway: '10.200.1.1', dev: 'eth0' },
    { family: 4, dst: '10.200.1.0/24', dev: 'eth0', protocol: 'kernel' },
    { family: 4, dst: '192.168.7.0/24', gateway: '10.200.1.254', dev: 'eth0', protocol: 'static' },
    { family: 4, dst: '10.99.0.0/16', dev: 'eth1' },
    { family: 6, dst: 'fd00:1::/64', dev: 'eth0', protocol: 'kernel' },
    { family: 6, dst: 'fe80::/64', dev: 'eth0' },
    { family: 6, dst: 'default', gateway: 'fd00:1::1', dev: 'eth0' },
  ],
};

test('the tcfilter plan: the tap with the pod MTU, then ingress redirects both ways; undone by qdisc and link deletes', () => {
  assert.deepEqual(plumbingBatches('eth0', TAP_NAME, 1450), {
    ip: ['tuntap add dev tap0_kata mode tap', 'link set dev tap0_kata mtu 1450', 'link set dev tap0_kata up'],
    tc: [
      'qdisc add dev eth0 ingress',
      'filter add dev eth0 parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev tap0_kata',
      'qdisc add dev tap0_kata ingress',
      'filter add dev tap0_kata parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev eth0',
    ],
  });
  assert.deepEqual(unplumbingBatches('eth0', TAP_NAME), { tc: ['qdisc del dev eth0 ingress'], ip: ['link del dev tap0_kata'] });
});

test('the guest gets the MAC, MTU, global addresses and the routes through the pod interface the kernel does not make', () => {
  assert.deepEqual(guestNetwork(eth0), {
    interfaces: [{ name: 'eth0', mac: '0a:58:0a:c8:01:05', mtu: 1450, addresses: ['10.200.1.5/24', 'fd00:1::5/64'] }],
    routes: [
      { family: 4, dst: 'default', gateway: '10.200.1.1', dev: 'eth0' },
      { family: 4, dst: '192.168.7.0/24', gateway: '10.200.1.254', dev: 'eth0' },
      { family: 6, dst: 'default', gateway: 'fd00:1::1', dev: 'eth0' },
    ],
  });
});

test('unplumb: runs tc then ip with -force; what is gone already (device, qdisc, the netns) is no error', async () => {
  const calls: string[] = [];
  let answer = (_tool: string) => ({ code: 0, stderr: '' });
  const run: NetnsRunner = async (ns, tool, lines, force) => { calls.push(`${ns} ${tool}${force ? ' -force' : ''}: ${lines.join('; ')}`); return answer(tool); };
  const n = new VmNetworks(run);
  const nic = { netnsPath: '/run/x/netns/p1', hostIf: 'eth0', tap: TAP_NAME, mac: '0a:58:0a:c8:01:05' };
  await n.unplumb(nic);
  assert.deepEqual(calls, ['/run/x/netns/p1 tc -force: qdisc del dev eth0 ingress', '/run/x/netns/p1 ip -force: link del dev tap0_kata']);
  answer = (tool) => ({ code: 1, stderr: tool === 'tc' ? 'Error: Cannot find specified qdisc on specified device.\nCommand failed -:1' : 'Cannot find device "tap0_kata"\nCommand failed -:1' });
  await n.unplumb(nic);
  answer = (tool) => ({ code: tool === 'tc' ? 2 : 0, stderr: tool === 'tc' ? 'Error: Invalid handle.\nCommand failed -:1' : '' });
  await n.unplumb(nic);
  answer = () => ({ code: 1, stderr: "nsenter: reassociate to namespace 'ns/net' failed: Invalid argument" });
  await n.unplumb(nic);
  answer = () => ({ code: 1, stderr: 'nsenter: cannot open /run/x/netns/p1: No such file or directory' });
  await n.unplumb(nic);
  answer = (tool) => ({ code: tool === 'ip' ? 2 : 0, stderr: tool === 'ip' ? 'RTNETLINK answers: Operation not permitted' : '' });
  await assert.rejects(n.unplumb(nic), /ip: RTNETLINK answers: Operation not permitted/);
});

test('qemu: a NIC is a tap netdev opened by name (no scripts, no vhost) and a virtio-net device with the pod MAC', () => {
  const spec: VmSpec = {
    id: 'p', accel: 'tcg', netns: '/run/x/netns/p', nics: [{ tap: 'tap0_kata', mac: '0a:58:0a:c8:01:05' }],
    paths: { agentSocket: '/r/a', debugSocket: '/r/d', qmpSocket: '/r/q', consoleLog: '/r/c', pidFile: '/r/p' },
  };
  const values = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
  const q35 = new QemuHypervisor(defaultHypervisorConfig('qemu')).argv(spec);
  assert.deepEqual(values(q35, '-netdev'), ['tap,id=net0,ifname=tap0_kata,script=no,downscript=no,vhost=off']);
  assert.ok(values(q35, '-device').includes('virtio-net-pci,netdev=net0,mac=0a:58:0a:c8:01:05'));
  const micro = new QemuHypervisor({ ...defaultHypervisorConfig('qemu'), machineType: 'microvm' }).argv(spec);
  assert.ok(values(micro, '-device').includes('virtio-net-device,netdev=net0,mac=0a:58:0a:c8:01:05'));
  // the netns is where the VMM runs (vm.ts), not an argument of QEMU's
  assert.ok(!q35.some((a) => a.includes('/run/x/netns')));
  assert.throws(() => new StratovirtHypervisor(defaultHypervisorConfig('stratovirt')).argv(spec), /internetworking_model = "none"/);
});

test('vmm.toml internetworking_model: tcfilter by default, none, anything else named', () => {
  assert.equal(parseVmmConfig('').hypervisors.qemu!.internetworkingModel, 'tcfilter');
  assert.equal(parseVmmConfig('[hypervisor.qemu]\ninternetworking_model = "none"\n').hypervisors.qemu!.internetworkingModel, 'none');
  assert.throws(() => parseVmmConfig('[hypervisor.qemu]\ninternetworking_model = "macvtap"\n'), /hypervisor\.qemu\.internetworking_model: "macvtap" is not built in tsula.*"tcfilter".*"none"/);
});

test('a spec tells the pod: netns path, hostname, and no network namespace = the host network', () => {
  assert.deepEqual(podFromSpec({ hostname: 'web', linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/cni-1' }] } }),
    { hostname: 'web', netnsPath: '/var/run/netns/cni-1', hostNetwork: false, memoryLimit: 0, cpus: 0, netSysctls: {}, cgroupsPath: '' });
  assert.deepEqual(podFromSpec({ linux: { namespaces: [{ type: 'network' }] } }), { hostname: '', netnsPath: '', hostNetwork: false, memoryLimit: 0, cpus: 0, netSysctls: {}, cgroupsPath: '' });
  assert.deepEqual(podFromSpec({ linux: { namespaces: [{ type: 'pid' }] } }), { hostname: '', netnsPath: '', hostNetwork: true, memoryLimit: 0, cpus: 0, netSysctls: {}, cgroupsPath: '' });
  // the sandbox's cgroup: a cgroupfs path only (a systemd slice:prefix:name is not one)
  const cg = (cgroupsPath: string) => podAnnotations(podFromSpec({ linux: { namespaces: [{ type: 'network' }], cgroupsPath } }));
  assert.deepEqual(cg('/kubepods/besteffort/pod1/sb1'), { 'io.tsula.cgroups-path': '/kubepods/besteffort/pod1/sb1' });
  assert.deepEqual(cg('kubepods-besteffort-pod1.slice:cri-containerd:sb1'), {});
});

test("the pod's net.* sysctls reach a VM sandbox in one annotation (the others stay with the containers); a bad one is refused before any boot", () => {
  const pod = podFromSpec({ linux: { namespaces: [{ type: 'network' }], sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1', 'net.ipv4.ping_group_range': '0 2147483647' } } });
  assert.deepEqual(pod.netSysctls, { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' });
  const ann = podAnnotations(pod);
  assert.deepEqual(netSysctlsOf(ann), pod.netSysctls);
  assert.deepEqual(podAnnotations(podFromSpec({ linux: { namespaces: [], sysctl: { 'kernel.msgmax': '1' } } })), {});
  assert.deepEqual(netSysctlsOf({}), {});
  assert.throws(() => netSysctlsOf({ 'io.tsula.net-sysctls': '["x"]' }), /io\.tsula\.net-sysctls: .* is not a JSON object/);
  const k = new VmmSandboxKind({ stateDir: '/nonexistent' });
  const req = { id: 'p1', netnsPath: '', hostNetwork: false };
  k.validate({ ...req, annotations: ann });
  assert.throws(() => k.validate({ ...req, annotations: { 'io.tsula.net-sysctls': JSON.stringify({ 'net.ipv4.conf.../x': '1' }) } }), /sandbox p1: sysctl "net\.ipv4\.conf\.\.\.\/x" is not a valid sysctl name/);
  assert.throws(() => k.validate({ ...req, annotations: { 'io.tsula.net-sysctls': JSON.stringify({ 'kernel.shmmax': '1' }) } }), /sandbox p1: sysctl "kernel\.shmmax": only net\.\* sysctls/);
});

test('the vmm kind refuses hostNetwork and a hostname that may not reach a kernel command line', () => {
  const k = new VmmSandboxKind({ stateDir: '/nonexistent' });
  const req = { id: 'p1', netnsPath: '', hostNetwork: false, annotations: {} };
  k.validate(req);
  k.validate({ ...req, annotations: { 'io.tsula.hostname': 'web-0.example' } });
  k.validate({ ...req, annotations: { 'io.tsula.hostname': 'my_host' } });
  assert.throws(() => k.validate({ ...req, hostNetwork: true }), /hostNetwork is not supported for VM pods/);
  for (const bad of ['a b', 'x tsula.debug=1', '-lead', 'x'.repeat(65), 'ünï']) {
    assert.throws(() => k.validate({ ...req, annotations: { 'io.tsula.hostname': bad } }), /is not a valid hostname/, bad);
  }
});

test('a VM for one container fits its limits: above the configured size, its memory plus the guest\'s overhead and its CPUs (at most the host\'s)', () => {
  const cfg = defaultHypervisorConfig('qemu');
  const spec = (memory?: number, quota?: number) => ({ linux: { resources: { ...(memory ? { memory: { limit: memory } } : {}), ...(quota ? { cpu: { quota, period: 100000 } } : {}) } } });
  const sized = (memory?: number, quota?: number, host = 2) => vmSizedFor(cfg, limitAnnotations(podFromSpec(spec(memory, quota) as never)), host);
  assert.equal(sized(), cfg, 'no limits: the configured VM (a template fits it)');
  assert.equal(sized(32 << 20, 50000), cfg, 'within the configured VM');
  const big = sized(1 << 30, 200000);
  assert.deepEqual([big.defaultMemory, big.defaultVcpus], [1024 + VM_OVERHEAD_MIB, 2]);
  assert.equal(sized(undefined, 800000, 2).defaultVcpus, 2, 'no more vCPUs than the host has');
  assert.equal(cfg.defaultMemory, 512, 'the config itself is left as it is');
});
