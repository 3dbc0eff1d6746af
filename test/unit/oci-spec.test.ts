import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildSpec, DEFAULT_NOFILE, defaultMaskedPaths, READONLY_PATHS, RLIM_INFINITY, type HostInfo, type SpecOptions,
} from '../../src/oci/spec.js';
import { parseProcLimits, readHostInfo } from '../../src/oci/host.js';
import { ALL_CAPS, DEFAULT_CAPS, capsFromMask } from '../../src/oci/caps.js';
import { convertProfile, defaultSeccomp, DEFAULT_PROFILE } from '../../src/oci/seccomp.js';
import { isKind } from '../../src/common/errors.js';
import type { LinuxSeccomp, Spec } from '../../src/oci/types.js';

function opts(over: Partial<SpecOptions> = {}): SpecOptions {
  return {
    id: 'c1', rootfs: '/var/lib/tsula/c1/rootfs', readonlyRootfs: false, args: ['/bin/sh'], env: [], cwd: '',
    user: { uid: 0, gid: 0, additionalGids: [] }, terminal: false, hostname: 'c1', binds: [], network: 'none',
    annotations: {}, ulimits: [], noNewPrivileges: false, cgroupsPath: '/tsula/c1', ...over,
  };
}

// A host like the build machines: NOFILE hard 20000, no CAP_SYS_RESOURCE.
const HOST: HostInfo = {
  rlimits: new Map([
    ['RLIMIT_NOFILE', { soft: 20000, hard: 20000 }],
    ['RLIMIT_NPROC', { soft: 96365, hard: 96365 }],
    ['RLIMIT_CORE', { soft: 0, hard: RLIM_INFINITY }],
  ]),
  capBounding: new Set(ALL_CAPS.filter((c) => c !== 'CAP_SYS_RESOURCE')),
  kernel: '6.1.0-18-amd64',
};

const mount = (s: Spec, dest: string) => s.mounts.find((m) => m.destination === dest);
const rules = (sc: LinuxSeccomp | undefined, name: string) => (sc?.syscalls ?? []).filter((r) => r.names.includes(name));

test('defaults: namespaces, Docker caps, no oomScoreAdj, cgroups path', () => {
  const s = buildSpec(opts(), HOST);
  assert.equal(s.ociVersion, '1.0.2');
  assert.deepEqual(s.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'network']);
  assert.equal(s.linux.namespaces.find((n) => n.type === 'network')?.path, undefined);
  const caps = s.process.capabilities!;
  assert.deepEqual(caps.bounding, [...DEFAULT_CAPS]);
  assert.deepEqual(caps.effective, [...DEFAULT_CAPS]);
  assert.deepEqual(caps.permitted, [...DEFAULT_CAPS]);
  assert.equal(caps.inheritable, undefined);
  assert.equal(caps.ambient, undefined);
  assert.equal(DEFAULT_CAPS.length, 14);
  assert.ok(!('oomScoreAdj' in s.process));
  assert.equal(s.linux.cgroupsPath, '/tsula/c1');
  assert.equal(s.hostname, 'c1');
  assert.equal(s.process.cwd, '/');
  assert.deepEqual(s.root, { path: '/var/lib/tsula/c1/rootfs', readonly: false });
  assert.equal(s.annotations, undefined);
});

test('defaults: mounts, masked and readonly paths, device rules, seccomp', () => {
  const s = buildSpec(opts(), HOST);
  assert.deepEqual(s.mounts.map((m) => m.destination),
    ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
  assert.equal(mount(s, '/proc')?.type, 'proc');
  assert.deepEqual(mount(s, '/dev')?.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
  assert.deepEqual(mount(s, '/dev/pts')?.options,
    ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  assert.ok(mount(s, '/sys')?.options?.includes('ro'));
  assert.equal(mount(s, '/sys/fs/cgroup')?.type, 'cgroup');
  assert.ok(mount(s, '/sys/fs/cgroup')?.options?.includes('ro'));
  assert.ok(mount(s, '/dev/shm')?.options?.includes('size=65536k'));
  assert.deepEqual(s.linux.maskedPaths!.slice(0, 12), [
    '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
    '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
  ]);
  assert.deepEqual(s.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  const dev = s.linux.resources!.devices!;
  assert.deepEqual(dev[0], { allow: false, access: 'rwm' });
  for (const [maj, min] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2]]) {
    assert.ok(dev.some((d) => d.allow && d.type === 'c' && d.major === maj && d.minor === min && d.access === 'rwm'), `${maj}:${min}`);
  }
  assert.ok(dev.some((d) => d.allow && d.major === 136 && d.minor === undefined)); // pts
  assert.equal(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(s.linux.seccomp?.defaultErrnoRet, 1);
  assert.deepEqual(s.linux.seccomp?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
});

test('seccomp: a kernel without the x32 ABI gets the default profile without SCMP_ARCH_X32; a given profile stays as written', () => {
  const noX32: HostInfo = { ...HOST, x32Abi: false };
  const d = buildSpec(opts(), noX32).linux.seccomp!;
  assert.deepEqual(d.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assert.deepEqual(d.syscalls, buildSpec(opts(), HOST).linux.seccomp!.syscalls);
  assert.deepEqual(buildSpec(opts(), { ...HOST, x32Abi: true }).linux.seccomp?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const given = buildSpec(opts({ seccomp: { profile: { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'] } } }), noX32);
  assert.deepEqual(given.linux.seccomp?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32']);
});

test('rlimits: default NOFILE is clamped to the host hard limit', () => {
  assert.deepEqual(buildSpec(opts(), HOST).process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
  const big: HostInfo = { rlimits: new Map([['RLIMIT_NOFILE', { soft: 1024, hard: RLIM_INFINITY }]]) };
  assert.deepEqual(buildSpec(opts(), big).process.rlimits,
    [{ type: 'RLIMIT_NOFILE', hard: DEFAULT_NOFILE, soft: DEFAULT_NOFILE }]);
});

test('rlimits: explicit ulimits map to RLIMIT_* and are checked against the host', () => {
  const s = buildSpec(opts({ ulimits: [{ name: 'nofile', soft: 512, hard: 1024 }, { name: 'core', soft: -1, hard: -1 },
    { name: 'nproc', soft: 100, hard: 200 }] }), HOST);
  assert.deepEqual(s.process.rlimits, [
    { type: 'RLIMIT_NOFILE', hard: 1024, soft: 512 },
    { type: 'RLIMIT_CORE', hard: RLIM_INFINITY, soft: RLIM_INFINITY },
    { type: 'RLIMIT_NPROC', hard: 200, soft: 100 },
  ]);
  // Every number must survive JSON → Go uint64 exactly.
  const json = JSON.stringify(s);
  for (const m of json.matchAll(/\d{16,}/g)) assert.ok(Number.isSafeInteger(Number(m[0])), m[0]);

  assert.throws(() => buildSpec(opts({ ulimits: [{ name: 'nofile', soft: 1024, hard: 1048576 }] }), HOST),
    (e: Error) => isKind(e, 'InvalidArgument') && e.message === 'ulimit nofile=1024:1048576: above the host hard limit 20000');
  assert.throws(() => buildSpec(opts({ ulimits: [{ name: 'nofile', soft: -1, hard: -1 }] }), HOST), /above the host hard limit/);
  assert.throws(() => buildSpec(opts({ ulimits: [{ name: 'nofile', soft: 10, hard: 5 }] }), HOST), /soft limit must be less/);
  assert.throws(() => buildSpec(opts({ ulimits: [{ name: 'bogus', soft: 1, hard: 1 }] }), HOST), /invalid ulimit type/);
});

test('readonly rootfs, /etc files, binds (ro, ordering, overriding defaults)', () => {
  const s = buildSpec(opts({
    readonlyRootfs: true,
    etcFiles: { hosts: '/run/tsula/c1/hosts', resolvConf: '/run/tsula/c1/resolv.conf', hostname: '/run/tsula/c1/hostname' },
    binds: [
      { source: '/srv/data/sub', destination: '/data/sub/', readonly: false },
      { source: '/srv/data', destination: '/data', readonly: true },
      { source: '/srv/shm', destination: '/dev/shm', readonly: false },
      { source: '/srv/myhosts', destination: '/etc/hosts', readonly: true },
    ],
  }), HOST);
  assert.equal(s.root.readonly, true);
  assert.deepEqual(mount(s, '/data'), { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rprivate', 'ro'] });
  assert.deepEqual(mount(s, '/data/sub')?.options, ['rbind', 'rprivate']);
  const dests = s.mounts.map((m) => m.destination);
  assert.ok(dests.indexOf('/data') < dests.indexOf('/data/sub'), 'parents first');
  assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
  assert.equal(mount(s, '/dev/shm')?.type, 'bind');
  assert.equal(mount(s, '/etc/hosts')?.source, '/srv/myhosts'); // the user's bind wins
  assert.deepEqual(mount(s, '/etc/resolv.conf')?.options, ['rbind', 'rprivate', 'ro']);
  assert.equal(mount(s, '/etc/hostname')?.source, '/run/tsula/c1/hostname');
  assert.deepEqual(buildSpec(opts({ etcFiles: { hosts: '/h' } }), HOST).mounts.at(-1)?.options, ['rbind', 'rprivate']);
  assert.throws(() => buildSpec(opts({ binds: [{ source: 'rel', destination: '/x', readonly: false }] }), HOST), /absolute/);
  assert.throws(() => buildSpec(opts({ binds: [{ source: '/x', destination: '/', readonly: false }] }), HOST), /can't be '\/'/);
});

test('bind propagation: rshared makes the container\'s / rshared, rslave rslave, none leaves runc\'s default', () => {
  const b = (propagation: 'rprivate' | 'rslave' | 'rshared') => ({ source: `/srv/${propagation}`, destination: `/${propagation}`, readonly: false, propagation });
  assert.equal(buildSpec(opts({ binds: [b('rprivate')] }), HOST).linux.rootfsPropagation, undefined);
  assert.equal(buildSpec(opts({ binds: [b('rprivate'), b('rslave')] }), HOST).linux.rootfsPropagation, 'rslave');
  const s = buildSpec(opts({ binds: [b('rslave'), b('rshared')] }), HOST);
  assert.equal(s.linux.rootfsPropagation, 'rshared');
  assert.deepEqual(mount(s, '/rshared')?.options, ['rbind', 'rshared']);
  // docker's non-recursive ones: shared makes / shared (dockerd's WithMounts), slave rslave
  const nr = (propagation: 'slave' | 'shared') => ({ source: `/srv/${propagation}`, destination: `/${propagation}`, readonly: false, propagation });
  assert.equal(buildSpec(opts({ binds: [nr('shared')] }), HOST).linux.rootfsPropagation, 'shared');
  assert.equal(buildSpec(opts({ binds: [nr('slave')] }), HOST).linux.rootfsPropagation, 'rslave');
});

test('network modes', () => {
  const ns = (n: SpecOptions['network']) => buildSpec(opts({ network: n }), HOST).linux.namespaces;
  assert.deepEqual(ns('none').at(-1), { type: 'network' });
  assert.ok(!ns('host').some((x) => x.type === 'network'));
  assert.deepEqual(ns({ netnsPath: '/run/tsula/netns/abc' }).at(-1), { type: 'network', path: '/run/tsula/netns/abc' });
});

test('privileged: all host caps, no seccomp, no masked paths, rw /sys, all devices', () => {
  const s = buildSpec(opts({ privileged: true }), HOST);
  const caps = s.process.capabilities!;
  assert.equal(caps.bounding?.length, ALL_CAPS.length - 1);
  assert.ok(!caps.bounding?.includes('CAP_SYS_RESOURCE'), 'only what the host can grant');
  assert.ok(caps.effective?.includes('CAP_SYS_ADMIN'));
  assert.equal(s.linux.seccomp, undefined);
  assert.equal(s.linux.maskedPaths, undefined);
  assert.equal(s.linux.readonlyPaths, undefined);
  assert.ok(!mount(s, '/sys')?.options?.includes('ro'));
  assert.deepEqual(s.linux.resources?.devices, [{ allow: true, access: 'rwm' }]);
});

test('cap-add / cap-drop, and seccomp follows the caps', () => {
  const s = buildSpec(opts({ capAdd: ['sys_admin', 'CAP_NET_ADMIN'], capDrop: ['MKNOD', 'net_raw'] }), HOST);
  const b = s.process.capabilities!.bounding!;
  assert.ok(b.includes('CAP_SYS_ADMIN') && b.includes('CAP_NET_ADMIN'));
  assert.ok(!b.includes('CAP_MKNOD') && !b.includes('CAP_NET_RAW'));
  assert.ok(rules(s.linux.seccomp, 'mount').length === 1, 'CAP_SYS_ADMIN unlocks mount');
  assert.deepEqual(buildSpec(opts({ capDrop: ['ALL'], capAdd: ['chown'] }), HOST).process.capabilities?.bounding, ['CAP_CHOWN']);
  const all = buildSpec(opts({ capAdd: ['ALL'], capDrop: ['sys_admin'] }), HOST).process.capabilities!.bounding!;
  assert.ok(!all.includes('CAP_SYS_ADMIN') && !all.includes('CAP_SYS_RESOURCE') && all.includes('CAP_SYS_PTRACE'));
  assert.throws(() => buildSpec(opts({ capAdd: ['SYS_RESOURCE'] }), HOST), (e: Error) => isKind(e, 'InvalidArgument'));
  assert.throws(() => buildSpec(opts({ capAdd: ['FLY'] }), HOST), /unknown capability/);
  assert.equal(buildSpec(opts({ seccomp: 'unconfined' }), HOST).linux.seccomp, undefined);
});

test('seccomp conversion: clone arg filter and clone3 ENOSYS without CAP_SYS_ADMIN', () => {
  const sc = defaultSeccomp({ caps: DEFAULT_CAPS, arch: 'amd64', kernel: '6.1.0' });
  const clone = rules(sc, 'clone');
  assert.equal(clone.length, 1);
  // Only forks without any CLONE_NEW* flag (mask 0x7E020000) pass, on arg 0 (not s390's arg 1).
  assert.deepEqual(clone[0]!.args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }]);
  assert.deepEqual(rules(sc, 'clone3').map((r) => [r.action, r.errnoRet]), [['SCMP_ACT_ERRNO', 38]]);
  for (const n of ['mount', 'unshare', 'setns', 'bpf', 'reboot', 'open_by_handle_at', 'kcmp', 'syslog']) {
    assert.equal(rules(sc, n).length, 0, n);
  }
  assert.equal(rules(sc, 'chroot').length, 1, 'CAP_SYS_CHROOT is a default cap');
  assert.equal(rules(sc, 'arch_prctl').length, 1);
  assert.equal(rules(sc, 'modify_ldt').length, 1);
  assert.equal(rules(sc, 'socket')[0]?.args?.[0]?.op, 'SCMP_CMP_NE'); // AF_VSOCK (40) refused
  assert.equal(rules(sc, 'personality').length, 5);
  assert.ok(!JSON.stringify(sc).includes('"includes"') && !JSON.stringify(sc).includes('"comment"'));

  const admin = defaultSeccomp({ caps: [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], arch: 'amd64', kernel: '6.1.0' });
  assert.equal(rules(admin, 'clone').length, 1);
  assert.equal(rules(admin, 'clone')[0]!.args, undefined, 'unconditional with CAP_SYS_ADMIN');
  assert.equal(rules(admin, 'clone3').find((r) => r.action === 'SCMP_ACT_ERRNO'), undefined);
});

test('seccomp conversion: ptrace by kernel version or CAP_SYS_PTRACE; arch-specific rules', () => {
  const at = (kernel: string, caps: readonly string[] = DEFAULT_CAPS, arch = 'amd64') =>
    convertProfile(DEFAULT_PROFILE, { caps, arch, kernel });
  assert.equal(rules(at('6.1.0'), 'ptrace').length, 1, 'allowed on >= 4.8');
  assert.equal(rules(at('4.4.0-generic'), 'ptrace').length, 0, 'not on 4.4 without the cap');
  assert.equal(rules(at('4.4.0', [...DEFAULT_CAPS, 'CAP_SYS_PTRACE']), 'ptrace').length, 1);
  assert.equal(rules(at('10.0'), 'ptrace').length, 1);
  const arm = at('6.1', DEFAULT_CAPS, 'arm64');
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.equal(rules(arm, 'arch_prctl').length, 0);
  assert.equal(rules(arm, 'set_tls').length, 1);
  const s390 = at('6.1', DEFAULT_CAPS, 's390x');
  assert.deepEqual(rules(s390, 'clone')[0]?.args?.[0]?.index, 1);
});

test('resources: the limits reach linux.resources after the device rules; oomScoreAdj only when asked', () => {
  const limits = { memory: { limit: 67108864, swap: 134217728 }, cpu: { quota: 50000, period: 100000, shares: 512 }, pids: { limit: 100 } };
  const s = buildSpec(opts({ limits, oomScoreAdj: 500 }), HOST);
  const r = s.linux.resources!;
  assert.deepEqual(r.memory, limits.memory);
  assert.deepEqual(r.cpu, limits.cpu);
  assert.deepEqual(r.pids, { limit: 100 });
  assert.ok(r.devices?.length);
  assert.equal(s.process.oomScoreAdj, 500);
  const none = buildSpec(opts({}), HOST);
  assert.deepEqual(Object.keys(none.linux.resources!), ['devices']);
  assert.equal(none.process.oomScoreAdj, undefined);
});

test('env: PATH/HOSTNAME/TERM defaults, user values replace by key', () => {
  const s = buildSpec(opts({ terminal: true, env: ['PATH=/bin', 'FOO=1', 'HOSTNAME=other'] }), HOST);
  assert.deepEqual(s.process.env, ['PATH=/bin', 'HOSTNAME=other', 'TERM=xterm', 'FOO=1']);
  assert.equal(s.process.terminal, true);
  assert.deepEqual(buildSpec(opts({ annotations: { a: 'b' } }), HOST).annotations, { a: 'b' });
});

test('parseProcLimits and the real host', async () => {
  const text = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max core file size        0                    unlimited            bytes
Max nice priority         0                    0
`;
  const m = parseProcLimits(text);
  assert.deepEqual(m.get('RLIMIT_NOFILE'), { soft: 20000, hard: 20000 });
  assert.deepEqual(m.get('RLIMIT_CORE'), { soft: 0, hard: RLIM_INFINITY });
  assert.deepEqual(m.get('RLIMIT_CPU'), { soft: RLIM_INFINITY, hard: RLIM_INFINITY });
  assert.deepEqual(m.get('RLIMIT_NICE'), { soft: 0, hard: 0 });
  const host = await readHostInfo();
  assert.equal(host.rlimits.size, 16);
  assert.ok(host.capBounding!.has('CAP_CHOWN'));
  assert.deepEqual([...capsFromMask('a80425fb')].sort(), [...DEFAULT_CAPS].sort());
  // moby 28's list: /proc/interrupts among them, then this host's thermal_throttle directories
  const masked = defaultMaskedPaths();
  assert.deepEqual(masked.slice(0, 12).length, 12);
  assert.ok(masked.includes('/proc/interrupts'));
  assert.ok(masked.slice(12).every((p) => /^\/sys\/devices\/system\/cpu\/cpu\d+\/thermal_throttle$/.test(p)));
  assert.deepEqual(buildSpec(opts({ maskedPaths: [] }), HOST).linux.maskedPaths, [], 'an empty list is none (systempaths=unconfined)');
  assert.deepEqual([...READONLY_PATHS].length, 5);
});

test('apparmor: a named profile reaches process.apparmorProfile; the defaults and unconfined name none', async () => {
  const { namedProfile, checkApparmorProfile, apparmorEnabled } = await import('../../src/oci/apparmor.js');
  assert.equal(buildSpec(opts({ apparmorProfile: 'deny-write' }), HOST).process.apparmorProfile, 'deny-write');
  assert.equal(buildSpec(opts(), HOST).process.apparmorProfile, undefined);
  assert.equal(namedProfile('localhost/deny-write'), 'deny-write');
  assert.equal(namedProfile('deny-write'), 'deny-write');
  for (const none of [undefined, '', 'unconfined', 'runtime/default', 'docker-default']) assert.equal(namedProfile(none), undefined);
  await checkApparmorProfile('runtime/default');
  await checkApparmorProfile('unconfined');
  // a named profile needs AppArmor and the profile loaded: CreateContainer fails, not the start
  if (!apparmorEnabled()) {
    await assert.rejects(checkApparmorProfile('localhost/nope'), (e: Error) => isKind(e, 'FailedPrecondition') && /apparmor is not enabled on this host/.test(e.message));
  } else {
    await assert.rejects(checkApparmorProfile('localhost/tsula-no-such-profile'), (e: Error) => isKind(e, 'InvalidArgument') && /apparmor profile not found tsula-no-such-profile/.test(e.message));
  }
});
