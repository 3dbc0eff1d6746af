// The pure parts of docker cp, diff, commit, stats, version and info: container paths
// resolved inside a root (symlinks never lead out), Go's FileMode bits, the overlay and vfs
// change walks on fixture trees (a real whiteout device), a packed tree read back, commit's
// --change lines, docker's stats JSON and the CLI's CPU/memory arithmetic, info's warnings.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerAbsPath, goFileMode, resolveInRoot } from '../../src/engine/containers/rootfs.js';
import { overlayChanges, treeChanges } from '../../src/storage/changes.js';
import { packItems, walkTree } from '../../src/storage/tarpack.js';
import { readTar, type TarEntry } from '../../src/storage/tarstream.js';
import { applyChanges, mergeConfig, type CommitConfig } from '../../src/engine/containers/commit.js';
import { toDockerStats, emptyStats } from '../../src/engine/api/stats.js';
import { parseIo } from '../../src/cgroups/usage.js';
import { parseSystemCpu } from '../../src/engine/stats/proc.js';
import { featuresOf, parseToolVersion } from '../../src/engine/api/host-info.js';
import { dockerTimestamp } from '../../src/engine/api/format.js';
import type { Container } from '../../src/engine/containers/model.js';
import type { SysInfo } from '../../src/oci/sysinfo.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsula-files-unit-'));
after(() => fs.rm(tmp, { recursive: true, force: true }));

test('container paths: cleaned from "/", never above it, "x/" and "x/." kept', () => {
  assert.equal(containerAbsPath('etc/passwd'), '/etc/passwd');
  assert.equal(containerAbsPath('/../../etc/../etc/hosts'), '/etc/hosts');
  assert.equal(containerAbsPath('/etc/'), '/etc/');
  assert.equal(containerAbsPath('/etc/.'), '/etc/.');
  assert.equal(containerAbsPath('..'), '/');
  // moby's TestCopyFromContainer: "/" is the root itself, ".", "/.", "./" and "/./" its contents
  assert.equal(containerAbsPath('/'), '/');
  for (const p of ['.', '/.', './', '/./']) assert.equal(containerAbsPath(p), '/.', p);
  assert.equal(containerAbsPath('/bar/root/./'), '/bar/root/.');
  assert.equal(containerAbsPath('bar/quux/'), '/bar/quux/');
  assert.throws(() => containerAbsPath('/a\0b'), /NUL/);
});

test('resolveInRoot: absolute and relative links, "..", loops; never outside the root', async () => {
  const root = path.join(tmp, 'root');
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.mkdir(path.join(root, 'usr/bin'), { recursive: true });
  await fs.writeFile(path.join(root, 'etc/passwd'), 'x');
  await fs.symlink('/etc/../../../etc', path.join(root, 'evil'));
  await fs.symlink('../../../../..', path.join(root, 'usr/up'));
  await fs.symlink('usr/bin', path.join(root, 'bin'));
  await fs.symlink('loop2', path.join(root, 'loop1'));
  await fs.symlink('loop1', path.join(root, 'loop2'));
  assert.equal(await resolveInRoot(root, '/evil/passwd'), path.join(root, 'etc/passwd'));
  assert.equal(await resolveInRoot(root, '/usr/up/etc'), path.join(root, 'etc'));
  assert.equal(await resolveInRoot(root, '/bin/sh'), path.join(root, 'usr/bin/sh'));
  assert.equal(await resolveInRoot(root, '/evil', false), path.join(root, 'evil'), 'the last link is not followed');
  assert.equal(await resolveInRoot(root, '/missing/../x'), path.join(root, 'x'));
  await assert.rejects(resolveInRoot(root, '/loop1/x'), /too many levels of symbolic links/);
});

test('Go FileMode bits: directory, symlink, setuid, permissions', async () => {
  const st = await fs.lstat(tmp);
  assert.equal(goFileMode(st), 2 ** 31 + (st.mode & 0o777));
  const l = path.join(tmp, 'lnk');
  await fs.symlink('x', l);
  assert.equal(goFileMode(await fs.lstat(l)), 2 ** 27 + 0o777);
  const f = path.join(tmp, 'suid');
  await fs.writeFile(f, '');
  await fs.chmod(f, 0o4755);
  assert.equal(goFileMode(await fs.lstat(f)), 2 ** 23 + 0o755);
});

test('overlay changes: A/C/D from the upper dir, whiteouts, runtime paths skipped, dirs only with something below', async () => {
  const lower = path.join(tmp, 'lower');
  const upper = path.join(tmp, 'upper');
  for (const d of ['bin', 'etc', 'tmp', 'opt/x']) await fs.mkdir(path.join(lower, d), { recursive: true });
  await fs.writeFile(path.join(lower, 'bin/ls'), 'ls');
  await fs.writeFile(path.join(lower, 'etc/passwd'), 'root');
  for (const d of ['bin', 'etc', 'tmp/new', 'proc']) await fs.mkdir(path.join(upper, d), { recursive: true });
  execFileSync('mknod', [path.join(upper, 'bin/ls'), 'c', '0', '0']);
  await fs.writeFile(path.join(upper, 'etc/hosts'), ''); // runc's mountpoint
  await fs.writeFile(path.join(upper, 'tmp/new/f'), 'hello');
  const skip = (p: string) => ['/proc', '/etc/hosts'].some((r) => p === r || p.startsWith(`${r}/`));
  const wc = await overlayChanges(upper, [lower], skip);
  assert.deepEqual(wc.changes, [
    { Path: '/bin', Kind: 0 }, { Path: '/bin/ls', Kind: 2 },
    { Path: '/tmp', Kind: 0 }, { Path: '/tmp/new', Kind: 1 }, { Path: '/tmp/new/f', Kind: 1 },
  ]);
  assert.equal(wc.source, upper);
});

test('vfs changes: the snapshot against the image tree', async () => {
  const base = path.join(tmp, 'vbase');
  const snap = path.join(tmp, 'vsnap');
  for (const r of [base, snap]) {
    await fs.mkdir(path.join(r, 'etc'), { recursive: true });
    await fs.writeFile(path.join(r, 'etc/passwd'), 'root');
    await fs.utimes(path.join(r, 'etc/passwd'), 1000, 1000);
  }
  await fs.writeFile(path.join(base, 'gone'), 'x');
  await fs.writeFile(path.join(snap, 'etc/passwd'), 'root2');
  await fs.writeFile(path.join(snap, 'added'), 'x');
  const wc = await treeChanges(snap, base);
  assert.deepEqual(wc.changes, [{ Path: '/added', Kind: 1 }, { Path: '/etc', Kind: 0 }, { Path: '/etc/passwd', Kind: 0 }, { Path: '/gone', Kind: 2 }]);
});

test('a packed tree reads back: names, types, contents, hard links, whiteouts', async () => {
  const src = path.join(tmp, 'pack');
  await fs.mkdir(path.join(src, 'd'), { recursive: true });
  await fs.writeFile(path.join(src, 'd/f'), 'data');
  await fs.link(path.join(src, 'd/f'), path.join(src, 'd/g'));
  await fs.symlink('/etc/passwd', path.join(src, 'l'));
  await fs.writeFile(path.join(src, 'big'), Buffer.alloc(700_000, 7));
  const seen: Array<[string, TarEntry['type'], string]> = [];
  async function* items() { yield* walkTree(src, 'pack'); yield { name: 'pack/.wh.gone', whiteout: true }; }
  await readTar(packItems(items()), async (e, body) => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    const data = Buffer.concat(chunks);
    seen.push([e.name, e.type, e.type === 'file' ? (data.length > 100 ? `${data.length}` : data.toString()) : e.linkname]);
  });
  assert.deepEqual(seen, [
    ['pack/', 'dir', ''], ['pack/big', 'file', '700000'], ['pack/d/', 'dir', ''], ['pack/d/f', 'file', 'data'],
    ['pack/d/g', 'link', 'pack/d/f'], ['pack/l', 'symlink', '/etc/passwd'], ['pack/.wh.gone', 'file', ''],
  ]);
});

test('a block that is not a tar header is called so, whatever its checksum field holds', async () => {
  // random bytes whose checksum field parses (empty, octal or small base-256) but does not match
  const block = (field: number[]) => {
    const b = Buffer.alloc(512, 0x41);
    b.fill(0, 148, 156);
    Buffer.from(field).copy(b, 148);
    return b;
  };
  for (const field of [[0], [0x30, 0x37, 0], [0x80, 0, 0, 0, 0, 0, 0, 1], [0x80, 0xff]]) {
    await assert.rejects(readTar((async function* () { yield block(field); })(), async () => {}), /layer tar header: .*\(not a tar, or a corrupt one\)/);
  }
});

test('commit changes: CMD/ENTRYPOINT forms, ENV and LABEL pairs, EXPOSE, refusals; a client config merged', () => {
  const cfg: CommitConfig = { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], Labels: { x: 'y' } };
  applyChanges(cfg, ['CMD ["cat", "/x"]', 'ENTRYPOINT echo hi', 'ENV A=2 B="two words"', 'env C 3 4', 'LABEL k=v "q r"=s', 'EXPOSE 80 53/udp', 'WORKDIR /w', 'USER nobody']);
  assert.deepEqual(cfg.Cmd, ['cat', '/x']);
  assert.deepEqual(cfg.Entrypoint, ['/bin/sh', '-c', 'echo hi']);
  assert.deepEqual(cfg.Env, ['PATH=/bin', 'A=2', 'B=two words', 'C=3 4']);
  assert.deepEqual(cfg.Labels, { x: 'y', k: 'v', 'q r': 's' });
  assert.deepEqual(cfg.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.equal(cfg.WorkingDir, '/w');
  assert.equal(cfg.User, 'nobody');
  // the builder's rule: an ENTRYPOINT clears the container's CMD unless a CMD change came first
  const ep: CommitConfig = { Cmd: ['sleep', '1d'] };
  applyChanges(ep, ['ENTRYPOINT ["/bin/echo","E"]']);
  assert.deepEqual([ep.Entrypoint, ep.Cmd], [['/bin/echo', 'E'], null]);
  const after: CommitConfig = { Cmd: ['sleep', '1d'] };
  applyChanges(after, ['ENTRYPOINT ["/bin/echo"]', 'CMD ["x"]']);
  assert.deepEqual(after.Cmd, ['x']);
  const untouched: CommitConfig = { Cmd: ['sleep', '1d'] };
  applyChanges(untouched, ['ENV A=1']);
  assert.deepEqual(untouched.Cmd, ['sleep', '1d']);
  assert.throws(() => applyChanges(cfg, ['RUN rm -rf /']), /run is not a valid change command/);
  // HEALTHCHECK is one of dockerd's commit commands, parsed as the builder parses it
  const hc: CommitConfig = {};
  applyChanges(hc, ['HEALTHCHECK --interval=5s --start-interval=1s --retries=2 CMD true']);
  assert.deepEqual(hc.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, StartInterval: 1e9, Retries: 2 });
  applyChanges(hc, ['HEALTHCHECK NONE']);
  assert.deepEqual(hc.Healthcheck, { Test: ['NONE'] });
  assert.throws(() => applyChanges(hc, ['HEALTHCHECK --bogus=1 CMD true']), /Unknown flag: bogus/);
  assert.throws(() => applyChanges(cfg, ['CMD ["unterminated"']), /not a JSON array/);
  // variables expanded as a Dockerfile's (moby's TestCommitInheritsEnv): the config's env, quotes as the builder reads them
  const ex: CommitConfig = { Env: ['PATH=/bin', 'U=app'], WorkingDir: '/srv' };
  applyChanges(ex, ['ENV PATH=/usr/bin:$PATH', 'ENV LIT=\'$PATH\'', 'USER ${U}', 'WORKDIR data', 'LABEL who=$U']);
  assert.deepEqual(ex.Env, ['PATH=/usr/bin:/bin', 'U=app', 'LIT=$PATH']);
  assert.deepEqual([ex.User, ex.WorkingDir, ex.Labels], ['app', '/srv/data', { who: 'app' }]);
  const m = mergeConfig({ Env: ['A=1'], Cmd: ['sh'], User: 'u' }, { Env: ['A=2', 'B=3'], Cmd: null, User: '' });
  assert.deepEqual(m, { Env: ['A=2', 'B=3'], Cmd: ['sh'], User: 'u' });
});

/** The docker CLI's own arithmetic (cli/command/container/stats_helpers.go). */
function cliFigures(s: ReturnType<typeof toDockerStats>) {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * (s.cpu_stats.online_cpus ?? 0) * 100 : 0;
  const st = s.memory_stats.stats ?? {};
  const used = (s.memory_stats.usage ?? 0) - (st.total_inactive_file ?? st.inactive_file ?? 0);
  return { cpu, used, memPct: (used / (s.memory_stats.limit ?? 1)) * 100 };
}

test('docker stats JSON: precpu from the previous sample, the host memory as the limit of an unlimited container, io and pids', () => {
  const c = { id: 'a'.repeat(64), name: 'web', config: { network: 'none' }, state: { pid: 1 } } as unknown as Container;
  const usage = (cpuNs: bigint, limit?: bigint) => ({
    cpuNs, pids: { current: 3n, limit: 100n },
    memory: { usage: 10_000_000n, workingSet: 8_000_000n, rss: 1n, pageFaults: 0n, majorPageFaults: 0n, ...(limit ? { limit } : {}) },
    detail: { cpuUserNs: 1n, cpuSystemNs: 2n, memoryStat: { total_inactive_file: 2_000_000n }, io: [{ major: 8, minor: 0, op: 'Read' as const, value: 4096n }] },
  });
  const sys = (cpuNs: bigint) => ({ cpuNs, cpus: 2, memTotal: 1_000_000_000 });
  const first = toDockerStats(c, usage(1_000_000_000n, 50_000_000n), sys(100_000_000_000n), '2026-01-01T00:00:00.000Z', null);
  assert.equal(first.preread, '0001-01-01T00:00:00Z');
  assert.equal(first.precpu_stats.cpu_usage.total_usage, 0);
  // one busy core out of two for a second: 1e9 ns of the container's, 2e9 ns of the host's
  const second = toDockerStats(c, usage(2_000_000_000n, 50_000_000n), sys(102_000_000_000n), '2026-01-01T00:00:01.000Z', first);
  const f = cliFigures(second);
  assert.equal(Math.round(f.cpu), 100);
  assert.equal(f.used, 8_000_000);
  assert.equal(second.memory_stats.limit, 50_000_000);
  assert.equal(Math.round(f.memPct), 16);
  assert.deepEqual(second.pids_stats, { current: 3, limit: 100 });
  assert.deepEqual(second.blkio_stats.io_service_bytes_recursive, [{ major: 8, minor: 0, op: 'Read', value: 4096 }]);
  assert.equal(toDockerStats(c, usage(1n), sys(1n), 'x', null).memory_stats.limit, 1_000_000_000, 'no limit: the host memory');
  assert.equal(second.name, '/web');
  assert.deepEqual(emptyStats(c).memory_stats, {});
});

test('cgroup io and /proc/stat parsers', () => {
  assert.deepEqual(parseIo('8:0 Read 10\n8:0 Write 20\n8:0 Sync 1\nTotal 30\n', 1), [
    { major: 8, minor: 0, op: 'Read', value: 10n }, { major: 8, minor: 0, op: 'Write', value: 20n },
  ]);
  assert.deepEqual(parseIo('259:0 rbytes=5 wbytes=6 rios=1 wios=2\n', 2), [
    { major: 259, minor: 0, op: 'Read', value: 5n }, { major: 259, minor: 0, op: 'Write', value: 6n },
  ]);
  assert.equal(parseSystemCpu('cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 0 0\n'), 36n * 10_000_000n);
});

test('info: dockerd\'s warnings for what the host lacks, none for what it has; tool versions', () => {
  const all: SysInfo = {
    cgroupVersion: 1, memoryLimit: true, swapLimit: true, memoryReservation: true, memorySwappiness: true, kernelMemory: true,
    kernelMemoryTCP: true, oomKillDisable: true, cpuShares: true, cpuCfs: true, cpuRealtime: true, cpuset: true, pidsLimit: true,
    blkioWeight: true, blkioWeightDevice: true, blkioThrottle: true, numCpu: 2, cpus: '0-1', mems: '0', rtParent: null, oomScoreAdj: 0,
  };
  const net = { ipForward: true, nfIptables: true, nfIp6tables: true };
  const ok = featuresOf(all, net);
  assert.deepEqual(ok.warnings, []);
  assert.equal(ok.features.CpuCfsQuota, true);
  const some = featuresOf({ ...all, swapLimit: false, blkioWeight: false }, { ...net, ipForward: false });
  assert.deepEqual(some.warnings, ['WARNING: No swap limit support', 'WARNING: No blkio weight support', 'WARNING: IPv4 forwarding is disabled']);
  assert.deepEqual(parseToolVersion('runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1\nspec: 1.0.2-dev\n'), { version: '1.1.5+ds1', commit: '1.1.5+ds1-1' });
  assert.deepEqual(parseToolVersion('conmon version 2.1.6\ncommit: unknown\n'), { version: '2.1.6', commit: '' });
});

test('logs -t times: UTC with nine fraction digits and Z, as Go prints them', () => {
  assert.equal(dockerTimestamp('2026-12-02T06:27:21.196123+00:00'), '2026-12-02T06:27:21.196123000Z');
  assert.equal(dockerTimestamp('2026-12-02T08:27:21.5+02:00'), '2026-12-02T06:27:21.500000000Z');
  assert.equal(dockerTimestamp('2026-12-02T06:27:21Z'), '2026-12-02T06:27:21.000000000Z');
  assert.equal(dockerTimestamp('garbage'), 'garbage');
});
