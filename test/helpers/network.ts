// Shared set-up of the network tests: a private network per test file (its own bridge name,
// /24 subnet, network name, conf dir, IPAM dataDir, result cache and netns dir, all under a
// temp dir) on Debian's real CNI plugins, and probes for what a pod leaves on the host.
// Nothing here touches /etc/cni, /var/lib/cni or a bridge it did not create.
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs, mkdtempSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CniClient, NetnsManager, PodNetwork, defaultConfListText, loadNetworkConfig, type CniResult,
} from '../../src/network/index.js';
import { removeNetworkRules } from './cleanup.js';

export const PLUGINS = '/usr/lib/cni';

export interface TestNet {
  tmp: string;
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  confDir: string;
  dataDir: string;
  cacheDir: string;
  netnsDir: string;
  binDirs: string[];
  /** A fresh client + PodNetwork on the same dirs: what a restarted daemon would build. */
  open(o?: { binDirs?: string[]; timeoutMs?: number; confDir?: string; orphanWaitMs?: number }): { cni: CniClient; netns: NetnsManager; pods: PodNetwork };
  /** Release everything on these dirs and delete the bridge and the temp dir. */
  destroy(): Promise<void>;
}

/** A /24 in 10.200-249.x.0 that no route or address on this host uses yet (nor `also`). */
export function freeSubnet(also: string[] = []): [string, string] {
  const used = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'addr'], { encoding: 'utf8' });
  for (let i = 0; i < 100; i++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(`${prefix}.`) && !also.some((a) => a.startsWith(`${prefix}.`))) return [`${prefix}.0/24`, `${prefix}.1`];
  }
  throw new Error('no free 10.x subnet for the test network');
}

/**
 * daemon.json keys that give a tsulad's docker networks the test network's bridge and subnet
 * (the default `bridge` network) and `pools` more free /24s for user networks: nothing of
 * the machine's own networks is used.
 */
export function dockerNetConfig(n: TestNet, pools = 3): Record<string, unknown> {
  const taken = [n.subnet];
  for (let i = 0; i < pools; i++) taken.push(freeSubnet(taken)[0]);
  return {
    bridge: n.bridge, bip: `${n.gateway}/24`,
    'default-address-pools': taken.slice(1).map((base) => ({ base, size: 24 })),
  };
}

export async function createTestNet(label: string): Promise<TestNet> {
  if (!existsSync(path.join(PLUGINS, 'bridge'))) throw new Error(`the CNI plugins are missing from ${PLUGINS}: scripts/deps.sh installs containernetworking-plugins`);
  const tag = randomBytes(3).toString('hex');
  const tmp = mkdtempSync(path.join(os.tmpdir(), `tsula-net-${label}-`));
  const [subnet, gateway] = freeSubnet();
  const n = {
    tmp, subnet, gateway,
    name: `tsulatest-${label}-${tag}`,
    bridge: `tst${tag}`, // ≤ 15 chars, unique per run
    confDir: path.join(tmp, 'net.d'),
    dataDir: path.join(tmp, 'ipam'),
    cacheDir: path.join(tmp, 'cache'),
    netnsDir: path.join(tmp, 'netns'),
    binDirs: [PLUGINS],
  };
  await fs.mkdir(n.confDir);
  await fs.writeFile(path.join(n.confDir, '10-test.conflist'),
    defaultConfListText({ name: n.name, bridge: n.bridge, subnet, gateway, dataDir: n.dataDir }));
  const open = (o: { binDirs?: string[]; timeoutMs?: number; confDir?: string; orphanWaitMs?: number } = {}) => {
    const cni = new CniClient({ binDirs: o.binDirs ?? n.binDirs, cacheDir: n.cacheDir, timeoutMs: o.timeoutMs ?? 30_000 });
    const netns = new NetnsManager({ dir: n.netnsDir });
    const confDir = o.confDir ?? n.confDir;
    return { cni, netns, pods: new PodNetwork({ cni, netns, config: () => loadNetworkConfig(confDir), ...(o.orphanWaitMs !== undefined ? { orphanWaitMs: o.orphanWaitMs } : {}) }) };
  };
  const destroy = async () => {
    const errors: string[] = [];
    try {
      const r = await open().pods.recover([]);
      errors.push(...r.failed.map((f) => `${f.id}: ${f.error}`));
    } catch (e) { errors.push(String(e)); }
    // whatever a broken test left pinned
    for (const p of await new NetnsManager({ dir: n.netnsDir }).list().catch(() => [])) {
      spawnSync('umount', ['-l', p.path]);
    }
    spawnSync('ip', ['link', 'del', n.bridge], { stdio: 'ignore' });
    await removeNetworkRules(n.bridge); // a tsulad's default network on this bridge
    await fs.rm(tmp, { recursive: true, force: true });
    if (errors.length) throw new Error(`network test clean-up: ${errors.join('; ')}`);
  };
  return { ...n, open, destroy };
}

/** What a pod's attachment put on the host, to check that DEL took it all away. */
export interface Footprint { veth: string; ip: string; lease: string; chains: string[]; id: string }

export function footprint(net: TestNet, id: string, result: CniResult): Footprint {
  const veth = result.interfaces.find((i) => !i.sandbox && i.name !== net.bridge)?.name ?? '';
  const ip = result.ips[0]!.address.split('/')[0]!;
  const chains = [...new Set(iptablesLines(id).flatMap((l) => [...l.matchAll(/-j (CNI-(?!HOSTPORT-)[A-Za-z0-9-]+)/g)].map((m) => m[1]!)))];
  return { veth, ip, lease: path.join(net.dataDir, net.name, ip), chains, id };
}

/** iptables-save lines (all tables) that mention the container id. */
export function iptablesLines(id: string): string[] {
  return execFileSync('iptables-save', { encoding: 'utf8' }).split('\n').filter((l) => l.includes(id));
}

/** What of a footprint is still on the host: [] when DEL released everything. */
export function leftovers(f: Footprint): string[] {
  const out: string[] = [];
  if (f.veth && spawnSync('ip', ['link', 'show', f.veth], { stdio: 'ignore' }).status === 0) out.push(`veth ${f.veth}`);
  if (existsSync(f.lease)) out.push(`lease ${f.lease}`);
  const saved = execFileSync('iptables-save', { encoding: 'utf8' });
  for (const c of f.chains) if (saved.includes(c)) out.push(`iptables chain ${c}`);
  for (const l of iptablesLines(f.id)) out.push(`iptables: ${l}`);
  return out;
}

/** Links enslaved to the test bridge (the host ends of the pods' veths). */
export function bridgePorts(bridge: string): string[] {
  const r = spawnSync('ip', ['-j', 'link', 'show', 'master', bridge], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

/** Leases host-local holds in the test network's dataDir (not its bookkeeping files). */
export async function leases(net: TestNet): Promise<string[]> {
  const files = await fs.readdir(path.join(net.dataDir, net.name)).catch(() => [] as string[]);
  return files.filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes('.'));
}

/** Run a command in a pinned netns. */
export function inNetns(netnsPath: string, argv: string[], timeoutMs = 10_000): { code: number; out: string } {
  const r = spawnSync('nsenter', [`--net=${netnsPath}`, ...argv], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

export function ping(netnsPath: string, ip: string): boolean {
  return inNetns(netnsPath, ['busybox', 'ping', '-c1', '-W2', ip]).code === 0;
}

/** libcni's result cache, where containerd's CRI (not tsulad, which has its own) keeps attachments. */
export const LIBCNI_CACHE = '/var/lib/cni/results';

/**
 * What containerd's CRI may leave of a test network when a test fails before its pods are
 * removed (its own DEL removes all of it): libcni's cached results of those pods (the
 * network's and containerd's loopback attachment), and the bridge plugin's iptables rules,
 * whose comments name the network, with the chains they jump to.
 */
export async function purgeForeignAttachments(net: TestNet, podIds: string[]): Promise<void> {
  for (const f of await fs.readdir(LIBCNI_CACHE).catch(() => [] as string[])) {
    if (podIds.some((id) => f === `${net.name}-${id}-eth0` || f === `cni-loopback-${id}-lo`)) await fs.rm(path.join(LIBCNI_CACHE, f), { force: true });
  }
  for (const table of ['nat', 'filter', 'mangle']) {
    const lines = spawnSync('iptables-save', ['-t', table], { encoding: 'utf8' }).stdout?.split('\n') ?? [];
    const ours = lines.filter((l) => l.startsWith('-A ') && (l.includes(`"${net.name}"`) || l.includes(`\\"${net.name}\\"`)));
    const chains = new Set<string>();
    for (const l of ours) {
      const j = / -j (CNI-[A-Za-z0-9-]+)/.exec(l);
      if (j && !j[1]!.startsWith('CNI-HOSTPORT')) chains.add(j[1]!);
      spawnSync('sh', ['-c', `iptables -w -t ${table} ${l.replace(/^-A /, '-D ')}`], { stdio: 'ignore' });
    }
    for (const c of chains) {
      spawnSync('iptables', ['-w', '-t', table, '-F', c], { stdio: 'ignore' });
      spawnSync('iptables', ['-w', '-t', table, '-X', c], { stdio: 'ignore' });
    }
  }
}

/** A TCP port free on all of the host's addresses now (0.0.0.0 covers 127.0.0.1). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '0.0.0.0', () => r()));
  const { port } = s.address() as import('node:net').AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
