// What the test suite may leave behind, as a snapshot: processes of the components tests
// start (tsulad, the sandboxer, conmon, runc, qemu, virtiofsd, containerd and its shims, the
// registry) and whatever a test's daemons spawned (pods' PID namespace holders, ...), mounts,
// network namespaces and interfaces, iptables chains, container cgroups and shim dirs (the state a shim or the
// sandboxer keeps per task: containerd's io.containerd.runtime.v2.task/<ns>/<id> of test
// containerds, the sandboxer's tasks/<id>, tsulad's runtime/<name>/<id>, and what
// containerd-shim-runc-v2 and ctr leave under /run/containerd: shim sockets, runc state, FIFOs).
// Tests keep every daemon's files in a temp dir, so a process or mount that names one is a
// test's; the rest is compared with a snapshot taken before the suite (scripts/test.sh does both).
//   node dist/test/leaks/snapshot.js > before.json
import { promises as fs, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Proc { pid: number; start: string; argv: string[] }
export interface Snapshot { processes: Proc[]; mounts: string[]; netns: string[]; cgroups: string[]; shimDirs: string[]; links: string[]; chains?: string[] }

const WATCHED = new Set(['tsulad', 'tsula', 'tsula-sandboxer', 'conmon', 'runc', 'qemu-system-x86_64', 'virtiofsd', 'containerd',
  'containerd-shim', 'containerd-shim-runc-v2', 'containerd-shim-tsula-v2', 'docker-registry', 'registry', 'ctr', 'crictl']);
/**
 * Started, directly or not, by a test's tsulad, sandboxer or containerd: tests give those a
 * sandboxer state dir under tmp, which every process they spawn inherits (namespace holders
 * name their pod's or sandbox's dir instead). Containers' processes get their spec's
 * environment, not this.
 */
function testsOwn(environ: string, tmp: string): boolean {
  return environ.split('\0').some((e) => ['TSULA_SANDBOXER_STATE', 'TSULA_POD_HOLDER', 'TSULA_SANDBOX'].some((k) => e.startsWith(`${k}=${tmp}/`)));
}
const NODE_PROGRAMS = /(tsulad|tsula-sandboxer|tsula|containerd-shim-tsula-v2)(\.mjs)?$/;

function procStart(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

/** Is this a process of one of the components the tests start? */
function watched(argv: string[], comm: string): boolean {
  if (WATCHED.has(comm) || WATCHED.has(path.basename(argv[0] ?? ''))) return true;
  return path.basename(argv[0] ?? '') === 'node' && argv.slice(1).some((a) => NODE_PROGRAMS.test(a));
}

async function processes(tmp: string): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const p of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (!argv.length || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (testsOwn(readFileSync(`/proc/${p}/environ`, 'utf8'), tmp)) { out.push({ pid: Number(p), start: procStart(stat), argv }); continue; }
      if (!watched(argv, comm)) continue;
      const cwd = await fs.readlink(`/proc/${p}/cwd`).catch(() => '');
      if (!argv.join(' ').includes(`${tmp}/`) && !cwd.startsWith(`${tmp}/`)) continue;
      out.push({ pid: Number(p), start: procStart(stat), argv });
    } catch { /* gone */ }
  }
  return out;
}

function mounts(tmp: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => unescape(l.split(' ')[4]!))
    .filter((m) => m.startsWith(`${tmp}/`) || m.startsWith('/run/netns/'));
}

/** systemd's own units (a service a timer starts meanwhile is no leak of ours, nor ours to kill). */
const SYSTEMD_UNIT = /\.(slice|scope|service|mount|socket)$/;

/**
 * The parent cgroup of tsulad's containers (and of containerd's `tsula` namespace): made at a
 * first container, never removed, as dockerd leaves /docker. Its children are checked.
 */
const ENGINE_PARENT = 'tsula';

async function cgroups(): Promise<string[]> {
  const out: string[] = [];
  for (const ctrl of ['memory', 'pids', 'unified']) {
    const root = `/sys/fs/cgroup/${ctrl}`;
    for (const a of await fs.readdir(root, { withFileTypes: true }).catch(() => [])) {
      if (!a.isDirectory() || SYSTEMD_UNIT.test(a.name)) continue;
      if (a.name !== ENGINE_PARENT) out.push(`${ctrl}/${a.name}`);
      for (const b of await fs.readdir(path.join(root, a.name), { withFileTypes: true }).catch(() => [])) {
        if (b.isDirectory()) out.push(`${ctrl}/${a.name}/${b.name}`);
      }
    }
  }
  return out;
}

/** Entries of the paths a pattern names; `*` is one path component. */
async function glob(pattern: string): Promise<string[]> {
  let found = ['/'];
  for (const part of pattern.split('/').filter(Boolean)) {
    const next: string[] = [];
    for (const base of found) {
      if (part !== '*') { next.push(path.join(base, part)); continue; }
      for (const e of await fs.readdir(base, { withFileTypes: true }).catch(() => [])) {
        if (!e.name.startsWith('.')) next.push(path.join(base, e.name));
      }
    }
    found = next;
  }
  const out: string[] = [];
  for (const f of found) if (await fs.lstat(f).then(() => true, () => false)) out.push(f);
  return out;
}

/** Where shims and the sandboxer keep per-task state, in test dirs and in containerd's defaults. */
export const SHIM_DIR_PATTERNS = (tmp: string) => [...new Set([tmp, '/tmp'])].flatMap((t) => [
  `${t}/*/state/io.containerd.runtime.v2.task/*/*`, // a test containerd's shims (bundle, address, log)
  `${t}/*/sb/tasks/*`, `${t}/*/*/sb/tasks/*`,        // a test sandboxer's task records
  `${t}/*/state/runtime/*/*`,                        // a test tsulad's runtimes (shim v2, sandboxers, vmm)
]).concat(['/run/containerd/s/*', '/run/containerd/fifo/*', '/run/containerd/runc/*/*', '/run/containerd/io.containerd.runtime.v2.task/*/*']);

/** Chains shared by every attachment or network (CNI's, tsulad's TSULA-USER): made once, never removed. */
const SHARED_CHAINS = /^(CNI-ADMIN|CNI-FORWARD|CNI-HOSTPORT-(DNAT|MASQ|SETMARK)|TSULA-USER)$/;

/**
 * iptables chains of the host's namespace a test's network may make, as `<table> <chain>`: a
 * tsulad network's (TSULA-ISO-, TSULA-FWD-, TSULA-NAT-<bridge>) and a CNI attachment's (CNI-<hash>,
 * CNI-DN-<hash>: the bridge plugin's masquerade, portmap's DNAT).
 */
export function iptablesChains(): string[] {
  const out: string[] = [];
  // ip6tables' too: a network with IPv6 has its chains there as well (`ip6 <table> <chain>`)
  for (const [save, table] of ['iptables-save', 'ip6tables-save'].flatMap((x) => ['filter', 'nat', 'mangle'].map((t) => [x, t] as const))) {
    // iptables-nft-save has been seen to crash once while another process changed the ruleset:
    // a table read is tried again rather than taken as empty (a baseline missing chains would
    // report the machine's own as leaked)
    let text: string | null = null;
    for (let i = 0; i < 3 && text === null; i++) {
      try { text = execFileSync(save, ['-t', table], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }); } catch { /* again */ }
    }
    if (text === null) continue;
    const family = save === 'ip6tables-save' ? 'ip6 ' : '';
    for (const m of text.matchAll(/^:((?:TSULA|CNI)-\S+) /gm)) if (!SHARED_CHAINS.test(m[1]!)) out.push(`${family}${table} ${m[1]}`);
  }
  return out.sort();
}

async function shimDirs(tmp: string): Promise<string[]> {
  return (await Promise.all(SHIM_DIR_PATTERNS(tmp).map(glob))).flat().sort();
}

export async function snapshot(tmp = os.tmpdir()): Promise<Snapshot> {
  return {
    processes: await processes(tmp),
    mounts: mounts(tmp),
    netns: await fs.readdir('/run/netns').catch(() => []),
    cgroups: await cgroups(),
    shimDirs: await shimDirs(tmp),
    // network interfaces of the host's namespace: a test's bridge, a pod's veth, a VM's tap
    links: await fs.readdir('/sys/class/net').catch(() => []),
    chains: iptablesChains(),
  };
}

if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  process.stdout.write(JSON.stringify(await snapshot()));
}
