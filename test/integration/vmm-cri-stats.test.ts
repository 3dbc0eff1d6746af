// Stats of a VM pod through tsulad's CRI with the real crictl (one TCG boot, 10-20 s): the
// pod's CPU and memory are its qemu's (CPU time grows while a container in the guest burns
// it), its network the pod netns' eth0; a container inside the VM has its guest cgroup's CPU
// and memory (the agent's Task Stats, through the sandboxer) and its writable layer (on the
// host, shared into the guest). With vmm.toml's sandbox_cgroup_only, qemu and virtiofsd are
// in the pod's cgroup (kubelet's accounting), and the cgroup goes with the pod.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { crictl, crictlPath } from '../helpers/crictl.js';
import { createTestNet, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { processesNamed } from '../helpers/containerd.js';
import { removeCgroupEverywhere } from '../helpers/cleanup.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
requirePrerequisites('vmm-cri-stats', {
  root: true,
  files: {
    '/usr/bin/qemu-system-x86_64': 'qemu-system-x86', '/usr/lib/qemu/virtiofsd': 'qemu-system-common',
    [`${GUEST}/vmlinuz`]: `the guest (scripts/ensure-guest.sh ${GUEST})`, [`${GUEST}/initramfs.cpio.gz`]: `the guest (scripts/ensure-guest.sh ${GUEST})`,
    [`${GUEST}/rootfs.img`]: `the guest (scripts/ensure-guest.sh ${GUEST})`,
  },
});

let net: TestNet;
let d: TestDaemon;
/** The pod's cgroup_parent (kubelet's pod cgroup): made by the sandbox's join, removed here. */
const PARENT = `/tsula-statsvm-${process.pid}`;

before(async () => {
  crictlPath();
  net = await createTestNet('statsvm');
  const dir = await fs.mkdtemp('/tmp/tsv-');
  const toml = path.join(dir, 'vmm.toml');
  await fs.writeFile(toml, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 120\nsandbox_cgroup_only = true\n`);
  d = await TestDaemon.create({ dir, configJson: { 'cni-conf-dir': net.confDir }, env: { TSULA_VMM_CONFIG: toml } });
  await d.loadBusybox();
});
after(async () => {
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force'], { timeoutMs: 120_000 }).catch(() => {});
  // also kills the sandboxer tsulad started and any qemu under the test's dir
  await d?.destroy();
  await net?.destroy();
  await removeCgroupEverywhere(PARENT);
});

const cri = (args: string[]) => crictl(d.criSock, args, { timeoutMs: 300_000 });
const ok = async (args: string[]) => {
  const r = await cri(args);
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

type U64 = { value: string } | null | undefined;
const num = (v: U64) => Number(v?.value ?? 0);
interface PStats {
  attributes: { id: string };
  linux: {
    cpu?: { timestamp: string; usageCoreNanoSeconds: U64; usageNanoCores: U64 } | null;
    memory?: { workingSetBytes: U64; rssBytes: U64 } | null;
    network?: { defaultInterface?: { name: string; rxBytes: U64; txBytes: U64 } } | null;
    containers?: Array<{ attributes: { id: string }; cpu?: { usageCoreNanoSeconds: U64 } | null; memory?: { workingSetBytes: U64 } | null; writableLayer?: { usedBytes: U64 } }>;
  };
}
const statsp = async (id: string) => (JSON.parse(await ok(['statsp', '-o', 'json', '--id', id])) as { stats?: PStats[] }).stats?.[0];

/** The cgroup of `pid` in the memory controller (v1) or the unified tree (v2). */
async function memoryCgroup(pid: number): Promise<string> {
  const lines = (await fs.readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.find((l) => /^\d+:memory:/.test(l));
  return (v1 ?? lines.find((l) => l.startsWith('0::')) ?? '').replace(/^\d+:[^:]*:/, '');
}

test('a VM pod: CPU and memory of its qemu, eth0 counters of its netns, its VM in its cgroup (sandbox_cgroup_only); its container: its guest cgroup and writable layer', { timeout: 400_000 }, async () => {
  const f = (n: string) => path.join(d.dir, n);
  await fs.writeFile(f('pod.json'), JSON.stringify({ metadata: { name: 'vmpod', namespace: 'default', uid: 'uid-vm', attempt: 0 }, hostname: 'vmpod', log_directory: f('logs'), linux: { cgroup_parent: PARENT } }));
  await fs.writeFile(f('c.json'), JSON.stringify({
    metadata: { name: 'burn' }, image: { image: 'busybox' }, log_path: 'burn.log',
    command: ['sh', '-c', 'head -c 2000000 /dev/urandom > /data.bin; while :; do :; done'], linux: {},
  }));
  const pod = await ok(['runp', '--runtime', 'vmm', f('pod.json')]);
  const qemu = await processesNamed('qemu-system-x86_64', d.dir);
  assert.equal(qemu.length, 1, 'one qemu for the pod');
  // kata's sandbox_cgroup_only: the VM's processes in the sandbox's cgroup below the pod's
  assert.equal(await memoryCgroup(qemu[0]!), `${PARENT}/${pod}`);
  const fsd = await processesNamed('virtiofsd', d.dir);
  assert.ok(fsd.length >= 1);
  for (const p of fsd) assert.equal(await memoryCgroup(p), `${PARENT}/${pod}`);
  const c = await ok(['create', pod, f('c.json'), f('pod.json')]);
  await ok(['start', c]);

  const p1 = (await statsp(pod))!;
  await new Promise((r) => setTimeout(r, 2000));
  const p2 = (await statsp(pod))!;
  assert.equal(p2.attributes.id, pod);
  assert.ok(num(p2.linux.cpu?.usageCoreNanoSeconds) > num(p1.linux.cpu?.usageCoreNanoSeconds), 'qemu burns CPU for the guest');
  assert.ok(num(p2.linux.cpu?.usageNanoCores) > 200_000_000, `usageNanoCores ${num(p2.linux.cpu?.usageNanoCores)}`);
  // the guest's RAM that qemu has touched: far more than a host container's
  assert.ok(num(p2.linux.memory?.workingSetBytes) > 30_000_000, `workingSetBytes ${num(p2.linux.memory?.workingSetBytes)}`);
  assert.equal(p2.linux.network?.defaultInterface?.name, 'eth0');

  // the pod netns' eth0 carries the guest's traffic (tc mirred between it and the VM's tap):
  // a ping of the gateway from the container in the VM counts there
  const pinged = await ok(['exec', c, 'ping', '-c', '3', '-W', '5', net.gateway]);
  assert.match(pinged, /3 packets received/, pinged);
  const p3 = (await statsp(pod))!;
  const rx = (p: PStats) => num(p.linux.network?.defaultInterface?.rxBytes);
  const tx = (p: PStats) => num(p.linux.network?.defaultInterface?.txBytes);
  assert.ok(rx(p3) > rx(p2) && tx(p3) > tx(p2), `eth0 rx ${rx(p2)} → ${rx(p3)}, tx ${tx(p2)} → ${tx(p3)}`);

  // the container in the VM: its guest cgroup (CPU grows as it burns), its writable layer on the host
  const inside = p3.linux.containers?.find((x) => x.attributes.id === c);
  assert.ok(inside, 'the pod lists its container');
  const cpu0 = num(inside.cpu?.usageCoreNanoSeconds);
  assert.ok(cpu0 > 0, `guest CPU ${cpu0}`);
  assert.ok(num(inside.memory?.workingSetBytes) > 0, `guest working set ${num(inside.memory?.workingSetBytes)}`);
  const cs = (JSON.parse(await ok(['stats', '-o', 'json', '--id', c])) as { stats: Array<{ cpu: { usageCoreNanoSeconds: U64 } }> }).stats[0]!;
  assert.ok(num(cs.cpu.usageCoreNanoSeconds) > cpu0, `guest CPU ${cpu0} → ${num(cs.cpu.usageCoreNanoSeconds)}`);
  const layer = await waitFor(async () => {
    const s = (JSON.parse(await ok(['stats', '-o', 'json', '--id', c])) as { stats: Array<{ writableLayer: { usedBytes: U64 } }> }).stats[0];
    return num(s?.writableLayer.usedBytes) >= 2_000_000 ? s : null;
  }, 20_000, 'the writable layer to count /data.bin');
  assert.ok(layer);

  await ok(['rmp', '-f', pod]);
  await waitFor(async () => (await processesNamed('qemu-system-x86_64', d.dir)).length === 0, 30_000, 'qemu to go');
  const v2 = await fs.access('/sys/fs/cgroup/cgroup.controllers').then(() => true, () => false);
  const sandboxCg = v2 ? `/sys/fs/cgroup${PARENT}/${pod}` : `/sys/fs/cgroup/memory${PARENT}/${pod}`;
  await waitFor(async () => !(await fs.access(sandboxCg).then(() => true, () => false)), 10_000, `${sandboxCg} to go with the pod`);
});
