// Pure logic of CRI pod options as containerd 1.7 reads them: Kubernetes quantities
// (apimachinery's ParseQuantity + Value()), the bandwidth annotations (kubelet's
// ExtractPodBandwidthResources, containerd's toCNIBandWidth), runc's sysctl rules, and
// ExecSync's 16 MiB cap per stream.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantityValue } from '../../src/common/quantity.js';
import { podBandwidth } from '../../src/engine/pods/bandwidth.js';
import { checkSysctls } from '../../src/engine/pods/sysctls.js';
import { cappedBuffer } from '../../src/cri/container-rpcs.js';

describe('Kubernetes quantities', () => {
  it('reads decimal and binary suffixes and exponents, exactly', () => {
    const cases: Array<[string, bigint]> = [
      ['0', 0n], ['1', 1n], ['+7', 7n], ['10M', 10_000_000n], ['1Mi', 1_048_576n], ['1k', 1000n], ['1Ki', 1024n],
      ['1.5G', 1_500_000_000n], ['1P', 10n ** 15n], ['1Pi', 2n ** 50n], ['1E', 10n ** 18n], ['2e3', 2000n], ['2E3', 2000n],
      ['1e-3', 1n], ['0.5Ki', 512n], ['.5k', 500n], ['5.', 5n], ['100m', 1n], ['1500m', 2n], ['1n', 1n], ['1u', 1n],
    ];
    for (const [s, v] of cases) assert.equal(quantityValue(s), v, s);
  });
  it('rounds up, away from zero, as Quantity.Value() does', () => {
    assert.equal(quantityValue('0.1'), 1n);
    assert.equal(quantityValue('1.001k'), 1001n);
    assert.equal(quantityValue('1.0001k'), 1001n);
    assert.equal(quantityValue('-1.5'), -2n);
    assert.equal(quantityValue('-100m'), -1n);
  });
  it('refuses what ParseQuantity refuses, in its words', () => {
    for (const s of ['', 'abc', '1 k', ' 1', '1kb', '1Mb', 'M']) assert.throws(() => quantityValue(s), /quantities must match the regular expression|unable to parse quantity's suffix/, s);
    for (const s of ['1.2.3', '.', '+.']) assert.throws(() => quantityValue(s), /unable to parse numeric part of quantity/, s);
    for (const s of ['1Z', '1kk', '1iK', '1e', '1ki']) assert.throws(() => quantityValue(s), /unable to parse quantity's suffix|quantities must match/, s);
  });
});

describe('pod bandwidth annotations', () => {
  const MAX = 4294967295;
  it('none: no capability', () => {
    assert.equal(podBandwidth({}), undefined);
    assert.equal(podBandwidth({ other: '1M' }), undefined);
  });
  it('rates in bits/s, bursts math.MaxUint32, each only when annotated', () => {
    assert.deepEqual(podBandwidth({ 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '1Mi' }),
      { ingressRate: 10_000_000, ingressBurst: MAX, egressRate: 1_048_576, egressBurst: MAX });
    assert.deepEqual(podBandwidth({ 'kubernetes.io/egress-bandwidth': '1k' }), { egressRate: 1000, egressBurst: MAX });
    assert.deepEqual(podBandwidth({ 'kubernetes.io/ingress-bandwidth': '1P' }), { ingressRate: 1e15, ingressBurst: MAX });
  });
  it('refuses kubelet\'s unreasonable values (below 1k, above 1P) and bad quantities', () => {
    const small = /get cni namespace options: reading pod bandwidth annotations: resource is unreasonably small \(< 1kbit\)/;
    assert.throws(() => podBandwidth({ 'kubernetes.io/ingress-bandwidth': '999' }), small);
    assert.throws(() => podBandwidth({ 'kubernetes.io/egress-bandwidth': '0.9k' }), small);
    assert.throws(() => podBandwidth({ 'kubernetes.io/ingress-bandwidth': '-1M' }), small);
    assert.throws(() => podBandwidth({ 'kubernetes.io/egress-bandwidth': '1Pi' }), /resoruce is unreasonably large \(> 1Pbit\)/);
    assert.throws(() => podBandwidth({ 'kubernetes.io/ingress-bandwidth': '1000000000000001' }), /unreasonably large/);
    assert.throws(() => podBandwidth({ 'kubernetes.io/ingress-bandwidth': '10 Mbit' }), /reading pod bandwidth annotations: quantities must match/);
  });
});

describe('pod sysctls (runc\'s validator)', () => {
  const own = { ipc: true, net: true, uts: true };
  it('namespaced ones pass in the pod\'s own namespaces', () => {
    checkSysctls({ 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100', 'net.ipv4.ip_forward': '1', 'kernel.domainname': 'x' }, own);
  });
  it('the rest is refused, in runc 1.1\'s words', () => {
    assert.throws(() => checkSysctls({ 'kernel.panic': '1' }, own), /^InvalidArgument: sysctl "kernel.panic" is not in a separate kernel namespace$/);
    // a key is a path under /proc/sys: nothing that leaves it
    for (const bad of ['net.ipv4/../../../../etc/x', 'net..ipv4', 'net.ipv4.', 'net.a b']) {
      assert.throws(() => checkSysctls({ [bad]: '1' }, own), /is not a valid sysctl name/, bad);
    }
    checkSysctls({ 'net.ipv4.conf.eth0/100.rp_filter': '1' }, own);
    assert.throws(() => checkSysctls({ 'vm.max_map_count': '1' }, own), /sysctl "vm.max_map_count" is not in a separate kernel namespace/);
    assert.throws(() => checkSysctls({ 'kernel.hostname': 'x' }, own), /sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field/);
    assert.throws(() => checkSysctls({ 'net.ipv4.ip_forward': '1' }, { ...own, net: false }), /sysctl "net.ipv4.ip_forward" not allowed in host network namespace/);
    assert.throws(() => checkSysctls({ 'kernel.sem': '1' }, { ...own, ipc: false }), /sysctl "kernel.sem" is not allowed in the hosts ipc namespace/);
    assert.throws(() => checkSysctls({ 'kernel.domainname': 'x' }, { ...own, uts: false }), /is not in a separate kernel namespace/);
  });
});

describe('ExecSync output cap', () => {
  it('keeps the first bytes up to the cap, drops the rest', () => {
    const b = cappedBuffer(10);
    b.write(Buffer.from('hello'));
    b.write(Buffer.from('world!!'));
    b.write(Buffer.from('more'));
    assert.equal(b.bytes().toString(), 'helloworld');
  });
});
